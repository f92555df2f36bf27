"""Run files: the HDF5 writer and reader, their column schema and the run summary.

The writer's names load h5py on first use (module ``__getattr__``), so that importing
`lab.runs.summary` (the run summary's one definition, pure numpy) from the training loop
loads no h5py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lab.runs.summary import FINAL_WINDOW

if TYPE_CHECKING:
    from lab.runs.writer import (
        CLOSE_RESERVE,
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

_WRITER = frozenset({
    "CLOSE_RESERVE", "FLUSH_SLACK", "SCHEMA_VERSION", "Column", "RunFileError", "RunReader",
    "RunSpaceError", "RunStorageError", "RunWriter", "estimate_bytes", "estimate_memory",
    "ignore_sigxfsz",
})


def __getattr__(name: str) -> Any:
    if name in _WRITER:
        from lab.runs import writer

        return getattr(writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
