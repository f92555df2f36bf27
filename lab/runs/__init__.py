"""Run files: the HDF5 writer and reader, their column schema and the run summary."""

from lab.runs.writer import (
    CLOSE_RESERVE,
    FINAL_WINDOW,
    FLUSH_SLACK,
    SCHEMA_VERSION,
    Column,
    RunFileError,
    RunReader,
    RunSpaceError,
    RunStorageError,
    RunWriter,
    estimate_bytes,
    estimate_memory,
    ignore_sigxfsz,
)

__all__ = [
    "CLOSE_RESERVE",
    "FINAL_WINDOW",
    "FLUSH_SLACK",
    "SCHEMA_VERSION",
    "Column",
    "RunFileError",
    "RunReader",
    "RunSpaceError",
    "RunStorageError",
    "RunWriter",
    "estimate_bytes",
    "estimate_memory",
    "ignore_sigxfsz",
]
