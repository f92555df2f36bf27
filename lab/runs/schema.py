"""The one column schema of a run's steps: names, dtypes, units and per-row shapes.

A :class:`StepRecord` becomes one row of columns in three places: the run file
(`lab.runs.writer`, one dataset per column of /entry/steps), the live batches the training
process sends the window (`lab.acquire.live.batch_columns`) and the window's step history
(`gui.model.History`, and the CSV export built from it). All three take their columns
from here; `columns` turns a list of records into the arrays. In the training process
each step's columns are built once: the writer builds them for the file and the live
batches are sliced from them (`RunWriter.shared_columns`, `Batcher(source=...)`).

Columns, in the order the writer creates (and appends) the datasets (``step`` last: a
live reader takes the minimum length over datasets and ``step``'s fill value is -1)::

    example   ()           int32    training example index
    time      ()           float64  s since start
    inputs    (n_inputs,)  float64  V applied
    v_free    (n_outputs,) float64  V
    v_clamped (n_outputs,) float64  V
    v_desired (n_outputs,) float64  V
    error     ()           float64  V^2
    positions (n_edges,)   int16    digipot codes after the step
    update_mask (n_edges,) bool     only if has_updates
    direction (n_edges,)   int8     only if has_updates, in {-1, 0, +1}
    positions_sd (n_edges,) float32 code steps; only if has_uncertainty (estimated codes):
                                    the standard deviation of each estimated code
    step      ()           int64

Pure numpy (no h5py): the live process and the GUI import it without the HDF5 stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from lab.acquire.records import RunInfo, StepRecord

__all__ = [
    "LIVE_COLUMNS",
    "NDIM",
    "OPTIONAL_COLUMNS",
    "STEP_COLUMNS",
    "UNCERTAINTY_COLUMNS",
    "ColumnSpec",
    "StepSchema",
    "column_units",
    "columns",
]

#: Every step column, in the writer's dataset order (see the module doc).
STEP_COLUMNS = ("example", "time", "inputs", "v_free", "v_clamped", "v_desired", "error",
                "positions", "update_mask", "direction", "positions_sd", "step")

#: Columns present only when the bench observes its updates (``RunInfo.has_updates``).
OPTIONAL_COLUMNS = ("update_mask", "direction")

#: Columns present only when the codes are estimated with an uncertainty
#: (``RunInfo.has_uncertainty``).
UNCERTAINTY_COLUMNS = ("positions_sd",)

#: The columns a live batch carries and the GUI history keeps (``update_mask`` and
#: ``direction`` only when the run has updates, ``positions_sd`` only when it has
#: uncertainties).
LIVE_COLUMNS = ("step", "error", "positions", "v_free", "v_clamped", "v_desired", "inputs",
                "update_mask", "direction", "positions_sd")

# name -> (dtype, row axis or None for a scalar, units, long_name)
_DEFS: dict[str, tuple[type, str | None, str | None, str | None]] = {
    "example": (np.int32, None, None, None),
    "time": (np.float64, None, "s", None),
    "inputs": (np.float64, "n_inputs", "V", None),
    "v_free": (np.float64, "n_outputs", "V", None),
    "v_clamped": (np.float64, "n_outputs", "V", None),
    "v_desired": (np.float64, "n_outputs", "V", None),
    "error": (np.float64, None, "V^2", "training error (V^2)"),
    "positions": (np.int16, "n_edges", None, "digipot code"),
    "update_mask": (np.bool_, "n_edges", None, None),
    "direction": (np.int8, "n_edges", None, None),
    "positions_sd": (np.float32, "n_edges", "code steps",
                     "standard deviation of the estimated digipot code"),
    "step": (np.int64, None, None, "step"),
}


def column_units(name: str) -> str | None:
    """The units of step column ``name`` (KeyError for an unknown name)."""
    return _DEFS[name][2]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One step column: ``name`` (the StepRecord field and the dataset name), ``dtype``,
    ``shape`` of one row (``()`` for a scalar), ``axis`` the RunInfo size that row runs
    along (``"n_inputs"``, ``"n_outputs"``, ``"n_edges"``, or None), ``units``, ``long_name``."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    axis: str | None
    units: str | None
    long_name: str | None

    @property
    def ndim(self) -> int:
        """Axes of the column array (rows first): 1 for a scalar column, 2 otherwise."""
        return 1 + len(self.shape)


@dataclass(frozen=True, slots=True)
class StepSchema:
    """The step columns of one run (sizes in counts; see the module doc)."""

    n_inputs: int
    n_outputs: int
    n_edges: int
    has_updates: bool
    has_uncertainty: bool = False

    @classmethod
    def of(cls, info: RunInfo) -> StepSchema:
        """The schema of the run ``info`` describes."""
        return cls(int(info.n_inputs), int(info.n_outputs), int(info.n_edges),
                   bool(info.has_updates), bool(getattr(info, "has_uncertainty", False)))

    @property
    def names(self) -> tuple[str, ...]:
        """Column names of this run, in the writer's dataset order."""
        return tuple(n for n in STEP_COLUMNS
                     if (self.has_updates or n not in OPTIONAL_COLUMNS)
                     and (self.has_uncertainty or n not in UNCERTAINTY_COLUMNS))

    def spec(self, name: str) -> ColumnSpec:
        """The column ``name`` (KeyError for an unknown name)."""
        dtype, axis, units, long_name = _DEFS[name]
        shape = () if axis is None else (int(getattr(self, axis)),)
        return ColumnSpec(name, np.dtype(dtype), shape, axis, units, long_name)

    def specs(self, names: Iterable[str] | None = None) -> tuple[ColumnSpec, ...]:
        """The columns ``names`` (default: every column of this run) that this run has,
        in the order given."""
        have = self.names
        return tuple(self.spec(n) for n in (have if names is None else names) if n in have)

    @property
    def live(self) -> tuple[ColumnSpec, ...]:
        """The columns of a live batch (`LIVE_COLUMNS` this run has)."""
        return self.specs(LIVE_COLUMNS)

    @property
    def row_bytes(self) -> int:
        """Bytes of one row over every column of this run."""
        return sum(c.dtype.itemsize * int(np.prod(c.shape)) for c in self.specs())

    def check(self, record: StepRecord, names: Iterable[str] | None = None) -> None:
        """Raise ValueError (naming the field) unless every field ``names`` (default: all
        columns) of ``record`` has its column's row shape (a missing field included)."""
        for c in self.specs(names):
            value = getattr(record, c.name)
            if value is None or np.shape(value) != c.shape:
                raise ValueError(f"StepRecord.{c.name} has shape "
                                 f"{None if value is None else np.shape(value)}, "
                                 f"expected {c.shape}")

    def empty(self, n: int, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Zeroed columns of ``n`` rows: name -> (n, *shape) array of the column's dtype."""
        return {c.name: np.zeros((n, *c.shape), c.dtype) for c in self.specs(names)}


#: Every column's array dimensions (rows first), whatever a run's sizes: for readers.
NDIM = {name: 1 if axis is None else 2 for name, (_, axis, _, _) in _DEFS.items()}


def columns(rows: Sequence[StepRecord], schema: StepSchema,
            names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Columns ``names`` (default: all of ``schema``'s) of the records ``rows``, in order:
    name -> (n, *shape) array of the column's dtype (values cast as ``ndarray.astype``).

    The first record's fields are checked against the schema's row shapes (cheap); a later
    record whose field has another size makes the stacking raise ValueError."""
    n = len(rows)
    out: dict[str, np.ndarray] = {}
    specs = schema.specs(names)
    if n:
        schema.check(rows[0], [c.name for c in specs])
    for c in specs:
        name = c.name
        values = map(attrgetter(name), rows)
        if not c.shape:
            out[name] = np.fromiter(values, c.dtype, n)
        elif n == 0:
            out[name] = np.zeros((0, *c.shape), c.dtype)
        else:
            out[name] = _stacked(list(values)).astype(c.dtype, copy=False).reshape(n, *c.shape)
    return out


def _stacked(values: list) -> np.ndarray:
    """The row arrays ``values`` end to end (1-D): their bytes joined when all are
    C-contiguous arrays of one dtype (~2x cheaper than ``np.concatenate`` of small
    arrays), else ``np.concatenate`` (which casts mixed dtypes). Rows of another size make
    the caller's reshape raise ValueError either way."""
    try:
        dtypes = set(map(_DTYPE, values))
        joined = bytearray().join(values) if len(dtypes) == 1 else None
    except (AttributeError, TypeError, BufferError, ValueError):
        joined = None  # not all arrays, or one not contiguous
    if joined is None:
        return np.concatenate(values)
    return np.frombuffer(joined, dtypes.pop())  # writeable: a bytearray


_DTYPE = attrgetter("dtype")
