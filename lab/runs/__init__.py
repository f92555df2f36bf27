"""Run files: one idea per module.

- `lab.runs.schema`: the step columns (names, dtypes, units, row shapes), used by the
  writer, the reader, the live batches, the window's history and the CSV export;
- `lab.runs.layout`: the file's groups, attributes, chunking and schema version;
- `lab.runs.storage`: disk and memory bounds (estimates, headroom, close reserve);
- `lab.runs.writer`: `RunWriter`; `lab.runs.reader`: `RunReader` and its `Column` view;
- `lab.runs.errors`: `RunFileError`, `RunSpaceError`, `RunStorageError`;
- `lab.runs.summary`: the run summary (`FINAL_WINDOW` and its arithmetic).

The names below load their module (and h5py, for the writer and reader) on first use
(module ``__getattr__``), so that importing `lab.runs.summary` (pure numpy) from the
training loop loads no h5py."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lab.runs.summary import FINAL_WINDOW

if TYPE_CHECKING:
    from lab.runs.errors import RunFileError, RunSpaceError, RunStorageError
    from lab.runs.layout import SCHEMA_VERSION
    from lab.runs.reader import Column, RunReader
    from lab.runs.storage import (
        CLOSE_RESERVE,
        FLUSH_SLACK,
        estimate_bytes,
        estimate_memory,
        ignore_sigxfsz,
    )
    from lab.runs.writer import RunWriter

# public name -> the module that defines it
_HOME = {
    "CLOSE_RESERVE": "storage", "FLUSH_SLACK": "storage", "estimate_bytes": "storage",
    "estimate_memory": "storage", "ignore_sigxfsz": "storage",
    "SCHEMA_VERSION": "layout",
    "RunFileError": "errors", "RunSpaceError": "errors", "RunStorageError": "errors",
    "Column": "reader", "RunReader": "reader",
    "RunWriter": "writer",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"lab.runs.{home}"), name)


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
