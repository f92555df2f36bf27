"""HDF5 run files: a cheap, crash-safe writer (an :class:`Observer`) and a lazy reader.

Layout (NeXus-friendly, so a generic NeXus/HDF5 viewer plots error against step)::

    /                       attrs: default="entry", twinlab_schema, twinlab_version,
                            start_time, end_time ("" until stop), complete, task (name),
                            settings_json, bench_json, task_json, network_json, extra_json,
                            positions_estimated, every scalar setting (p, eta, steps, seed, ...)
                            and, after stop: steps (rows written), initial_error, final_error,
                            scaled_error, message, final_test_error, final_accuracy
    /entry                  NXentry, default="steps"
    /entry/steps            NXdata, signal="error", axes=["step"]; one row per training step
        step      (n,)                int64
        time      (n,)                float64  s since start
        example   (n,)                int32    training example index
        inputs    (n, n_inputs)       float64  V
        v_free    (n, n_outputs)      float64  V
        v_clamped (n, n_outputs)      float64  V
        v_desired (n, n_outputs)      float64  V
        error     (n,)                float64  V^2
        positions (n, n_edges)        int16    digipot codes after the step (attr estimated)
        update_mask (n, n_edges)      bool     only if RunInfo.has_updates
        direction (n, n_edges)        int8     only if RunInfo.has_updates, in {-1, 0, +1}
    /entry/test             NXdata, signal="error", axes=["step"]; one row per test evaluation
        step (m,) int64, time (m,) float64 s, error (m,) float64 V^2,
        accuracy (m,) float64, v_free (m, n_test, n_outputs) float64 V

Every row dataset is chunked with an unlimited first axis. The writer runs in SWMR mode
and flushes whole blocks of rows, so a live reader (``RunReader(path, swmr=True)``) can
follow the run and a run killed mid-way keeps every flushed row. Datasets are extended one
by one, so the number of rows is the *minimum* length over a group's datasets.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from time import monotonic
from typing import Any

import h5py
import numpy as np

from lab.records import Observer, RunInfo, RunSummary, StepRecord, TestRecord

log = logging.getLogger(__name__)

__all__ = [
    "FINAL_WINDOW",
    "SCHEMA_VERSION",
    "Column",
    "RunFileError",
    "RunReader",
    "RunWriter",
]

SCHEMA_VERSION = 1
"""Version of the file layout written here; readers refuse newer files."""

FINAL_WINDOW = 50
"""Rows averaged for ``final_error`` when a file lacks the trainer's value (killed run)."""

# SWMR needs the HDF5 1.10 file format; a 1.10 lower bound keeps files readable by viewers
# built on HDF5 1.10-1.14 (for this layout the bytes equal those of libver="latest").
LIBVER = ("v110", "latest")

COMPRESSION: str | None = None
"""Default filter for row datasets (``None``, ``"lzf"`` or ``"gzip"``); see bench/bench_hdf5.py."""

TEST_CHUNK_ROWS = 256

_JSON_ATTRS = ("settings_json", "bench_json", "task_json", "network_json", "extra_json")
_START_ATTRS = frozenset(
    {"default", "twinlab_schema", "twinlab_version", "start_time", "end_time", "complete",
     "task", "positions_estimated", *_JSON_ATTRS}
)
_STOP_ATTRS = frozenset(
    {"end_time", "complete", "initial_error", "final_error", "scaled_error", "message",
     "final_test_error", "final_accuracy"}
)
# Scalar settings are copied to root attrs unless they would shadow these ("steps" is
# deliberately allowed: requested steps at start, rows written after stop).
_RESERVED = _START_ATTRS | _STOP_ATTRS

_STEP_FIELDS = ("step", "time", "example", "inputs", "v_free", "v_clamped", "v_desired",
                "error", "positions", "update_mask", "direction")


class RunFileError(Exception):
    """A run file cannot be created, opened or understood; the message names the file."""


def _one_line(exc: BaseException) -> str:
    """The OS / HDF5 reason of ``exc`` as one line."""
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc.args[0], str):
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _json_default(obj: Any) -> Any:
    """JSON fallback: numpy values and arrays, paths, sets; anything else as ``str``."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    return str(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=False)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str | np.bool_ | np.number)


def _row_dataset(group: h5py.Group, name: str, dtype: Any, tail: tuple[int, ...],
                 rows: int, units: str | None, fillvalue: Any = None,
                 compression: str | None = None) -> h5py.Dataset:
    """An empty (0, *tail) dataset, unlimited along axis 0, chunked (rows, *tail)."""
    ds = group.create_dataset(
        name,
        shape=(0, *tail),
        maxshape=(None, *(d if d > 0 else None for d in tail)),
        chunks=(rows, *(max(d, 1) for d in tail)),
        dtype=dtype,
        compression=compression,
        fillvalue=fillvalue,
    )
    if units is not None:
        ds.attrs["units"] = units
    return ds


def _append(ds: h5py.Dataset, start: int, rows: np.ndarray) -> None:
    """Extend ``ds`` to ``start + len(rows)`` rows and write ``rows`` there.

    Low-level h5py calls: ~3x cheaper than ``ds.resize(); ds[a:b] = rows`` (Python overhead).
    """
    shape = rows.shape
    ds.id.set_extent((start + shape[0], *shape[1:]))
    space = ds.id.get_space()
    space.select_hyperslab((start,) + (0,) * (len(shape) - 1), shape)
    ds.id.write(h5py.h5s.create_simple(shape), space, np.ascontiguousarray(rows, ds.dtype))


def _nxdata(group: h5py.Group) -> None:
    group.attrs["NX_class"] = "NXdata"
    group.attrs["signal"] = "error"
    group.attrs["axes"] = ["step"]
    group.attrs["step_indices"] = 0


class RunWriter(Observer):
    """Records a run into a new HDF5 file.

    ``step`` only copies the record into preallocated buffers of ``chunk_rows`` rows; the
    buffers go to the file (and the file is flushed for SWMR readers) when full or when
    ``flush_interval`` seconds (monotonic) have passed since the last flush, checked on each
    ``step``/``test`` call. Rows still buffered when the process dies are lost.
    """

    def __init__(self, path: str | Path, *, chunk_rows: int = 4096,
                 flush_interval: float = 1.0, compression: str | None = COMPRESSION) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.path = Path(path)
        self.chunk_rows = int(chunk_rows)
        self.flush_interval = float(flush_interval)
        self.compression = compression
        self._f: h5py.File | None = None
        self._stopped = False
        self._written = 0       # step rows in the file
        self._rows: list[StepRecord] = []  # steps kept for the next flush
        self._tests: list[tuple[int, float, float, float, np.ndarray]] = []
        self._tests_written = 0
        self._t_flush = 0.0
        self._has_updates = False

    @property
    def flushed_steps(self) -> int:
        """Number of step rows already written to the file (visible to SWMR readers)."""
        return self._written

    @property
    def buffered_steps(self) -> int:
        """Number of step rows waiting in memory for the next flush."""
        return len(self._rows)

    # -- Observer -----------------------------------------------------------------------

    def start(self, info: RunInfo) -> None:
        """Create the file with its whole layout, then switch to SWMR mode."""
        if self._f is not None or self._stopped:
            raise RuntimeError(f"RunWriter for {self.path} was already started")
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: never overwrite, race-free, and a clean OS reason when not writable.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise RunFileError(f"{path}: run file already exists (refusing to overwrite)")\
                from None
        except OSError as exc:
            raise RunFileError(f"{path}: cannot create run file: {_one_line(exc)}") from None
        try:
            f = h5py.File(path, "w", libver=LIBVER, locking=False)
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise RunFileError(f"{path}: cannot create run file: {_one_line(exc)}") from None
        try:
            self._layout(f, info)
            f.swmr_mode = True
        except BaseException:
            f.close()
            path.unlink(missing_ok=True)
            raise
        self._f = f
        self._t_flush = monotonic()
        log.info("run file %s created", path)

    def _layout(self, f: h5py.File, info: RunInfo) -> None:
        """Create every attribute, group and dataset (SWMR forbids creating them later)."""
        a = f.attrs
        a["default"] = "entry"
        a["twinlab_schema"] = SCHEMA_VERSION
        a["twinlab_version"] = str(info.twinlab_version)
        a["start_time"] = str(info.start_time)
        a["end_time"] = ""
        a["complete"] = False
        a["task"] = str(info.task.get("name", ""))
        a["settings_json"] = _dumps(info.settings)
        a["bench_json"] = _dumps(info.bench)
        a["task_json"] = _dumps(info.task)
        a["network_json"] = _dumps(info.network)
        a["extra_json"] = _dumps(info.extra)
        a["positions_estimated"] = bool(info.positions_estimated)
        for key, value in info.settings.items():
            if _is_scalar(value) and key not in _RESERVED:
                a[key] = value

        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "steps"

        rows = self.chunk_rows
        ni, no, ne = int(info.n_inputs), int(info.n_outputs), int(info.n_edges)
        self._shapes = {"inputs": (ni,), "v_free": (no,), "v_clamped": (no,),
                        "v_desired": (no,), "positions": (ne,)}
        g = entry.create_group("steps")
        _nxdata(g)
        spec: list[tuple[str, Any, tuple[int, ...], str | None]] = [
            ("example", np.int32, (), None),
            ("time", np.float64, (), "s"),
            ("inputs", np.float64, (ni,), "V"),
            ("v_free", np.float64, (no,), "V"),
            ("v_clamped", np.float64, (no,), "V"),
            ("v_desired", np.float64, (no,), "V"),
            ("error", np.float64, (), "V^2"),
            ("positions", np.int16, (ne,), None),
        ]
        self._has_updates = bool(info.has_updates)
        if self._has_updates:
            self._shapes |= {"update_mask": (ne,), "direction": (ne,)}
            spec += [("update_mask", np.bool_, (ne,), None), ("direction", np.int8, (ne,), None)]
        spec.append(("step", np.int64, (), None))  # written last: see _flush
        # Hot path: ``step`` only keeps a reference to the record (the trainer never mutates
        # an emitted record); each flush builds one array per column from the kept records.
        self._columns: list[tuple[h5py.Dataset, str, Any]] = []
        for name, dtype, tail, units in spec:
            ds = _row_dataset(g, name, dtype, tail, rows, units,
                              fillvalue=-1 if name == "step" else None,
                              compression=self.compression)
            self._columns.append((ds, name, dtype))
        self._rows: list[StepRecord] = []
        g["positions"].attrs["estimated"] = bool(info.positions_estimated)
        g["positions"].attrs["long_name"] = "digipot code"
        g["error"].attrs["long_name"] = "training error (V^2)"
        g["step"].attrs["long_name"] = "step"

        t = entry.create_group("test")
        _nxdata(t)
        trows = min(rows, TEST_CHUNK_ROWS)
        nt = int(info.n_test)
        self._test_shape = (nt, no)
        self._test_ds = {
            "time": _row_dataset(t, "time", np.float64, (), trows, "s"),
            "error": _row_dataset(t, "error", np.float64, (), trows, "V^2"),
            "accuracy": _row_dataset(t, "accuracy", np.float64, (), trows, None),
            "v_free": _row_dataset(t, "v_free", np.float64, (nt, no), trows, "V"),
            "step": _row_dataset(t, "step", np.int64, (), trows, None, fillvalue=-1),
        }

    def _check(self, record: StepRecord) -> None:
        """Validate shapes of the first record of each buffer block (cheap, amortised)."""
        for name, shape in self._shapes.items():
            value = getattr(record, name)
            if value is None or np.shape(value) != shape:
                raise ValueError(
                    f"{self.path}: StepRecord.{name} has shape "
                    f"{None if value is None else np.shape(value)}, expected {shape}")

    def step(self, record: StepRecord) -> None:
        """Keep one step for the next flush (~0.3 us); flush if a block is full or due."""
        rows = self._rows
        if not rows:
            self._check(record)
        rows.append(record)
        if len(rows) >= self.chunk_rows or monotonic() - self._t_flush >= self.flush_interval:
            self._flush()

    def test(self, record: TestRecord) -> None:
        """Buffer one test evaluation; it is written with the next flush."""
        v = np.array(record.v_free, dtype=np.float64)
        if v.shape != self._test_shape:
            raise ValueError(f"{self.path}: TestRecord.v_free has shape {v.shape}, "
                             f"expected {self._test_shape}")
        self._tests.append((int(record.step), float(record.time), float(record.error),
                            float(record.accuracy), v))
        if (len(self._tests) >= TEST_CHUNK_ROWS
                or monotonic() - self._t_flush >= self.flush_interval):
            self._flush()

    def flush(self) -> None:
        """Write all buffered rows to the file now (no-op before start or after stop)."""
        if self._f is not None:
            self._flush()

    def _flush(self) -> None:
        rows = self._rows
        if rows:
            # Readers take the min length over datasets; ``step`` (fill -1) goes last.
            w0 = self._written
            for ds, name, dtype in self._columns:
                _append(ds, w0, np.array([getattr(r, name) for r in rows], dtype=dtype))
            self._written = w0 + len(rows)
            self._rows = []
        if self._tests:
            rows = self._tests
            t0 = self._tests_written
            cols = {"time": np.array([r[1] for r in rows]),
                    "error": np.array([r[2] for r in rows]),
                    "accuracy": np.array([r[3] for r in rows]),
                    "v_free": np.stack([r[4] for r in rows]),
                    "step": np.array([r[0] for r in rows], dtype=np.int64)}
            for name, ds in self._test_ds.items():
                _append(ds, t0, cols[name])
            self._tests_written = t0 + len(rows)
            self._tests = []
        self._f.flush()
        self._t_flush = monotonic()

    def stop(self, summary: RunSummary) -> None:
        """Flush, close, and record how the run ended. Idempotent; safe after errors.

        The SWMR file is closed and reopened plainly (``r+``) because SWMR mode cannot
        add attributes. ``complete`` is True only if ``summary.complete`` and all rows
        were written.
        """
        if self._stopped:
            return
        self._stopped = True
        f = self._f
        if f is None:
            return
        error: BaseException | None = None
        try:
            self._flush()
        except Exception as exc:  # still close and mark the run incomplete, then report
            error = exc
        finally:
            self._f = None
            try:
                f.close()
            except Exception as exc:
                error = error or exc
        try:
            with h5py.File(self.path, "r+", locking=False) as g:
                a = g.attrs
                a["end_time"] = str(summary.end_time)
                a["complete"] = bool(summary.complete) and error is None
                a["steps"] = int(self._written)
                a["initial_error"] = float(summary.initial_error)
                a["final_error"] = float(summary.final_error)
                a["scaled_error"] = float(summary.scaled_error)
                a["message"] = str(summary.message)
                a["final_test_error"] = float(summary.final_test_error)
                a["final_accuracy"] = float(summary.final_accuracy)
        except OSError as exc:
            raise RunFileError(
                f"{self.path}: cannot record end of run: {_one_line(exc)}") from exc
        if error is not None:
            raise RunFileError(
                f"{self.path}: rows lost while closing: {_one_line(error)}") from error
        log.info("run file %s closed: %d steps, %s", self.path, self._written,
                 "complete" if summary.complete else "incomplete")


class Column:
    """Lazy view of one row dataset, truncated to the reader's current row count.

    Index it like an array (``col[-100:]``, ``col[5]``, ``col[:, 3]``); only the selected
    rows are read. ``col.dataset`` is the underlying :class:`h5py.Dataset`.
    """

    def __init__(self, dataset: h5py.Dataset, reader: RunReader, group: str) -> None:
        self.dataset = dataset
        self._reader = reader
        self._group = group

    def __len__(self) -> int:
        return self._reader._rows(self._group)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.dataset.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.dataset.dtype

    @property
    def ndim(self) -> int:
        return self.dataset.ndim

    @property
    def attrs(self) -> h5py.AttributeManager:
        return self.dataset.attrs

    def __getitem__(self, key: Any) -> Any:
        n = len(self)
        if not isinstance(key, tuple):
            key = (key,)
        if not key:
            key = (slice(None),)
        first, rest = key[0], key[1:]
        if first is Ellipsis:
            first, rest = slice(None), (Ellipsis, *rest)
        if isinstance(first, slice):
            start, stop, stride = first.indices(n)
            if stride < 0:
                raise IndexError("negative steps are not supported")
            first = slice(start, max(start, stop), stride)
        elif isinstance(first, int | np.integer):
            index = int(first)
            if not -n <= index < n:
                raise IndexError(f"row {index} out of range for {n} rows")
            first = index % n
        else:
            idx = np.asarray(first)
            if idx.dtype == np.bool_:
                if idx.shape[0] != n:
                    raise IndexError(f"boolean index has {idx.shape[0]} rows, expected {n}")
                first = np.flatnonzero(idx)
            else:
                first = np.where(idx < 0, idx + n, idx)
                if first.size and (first.min() < 0 or first.max() >= n):
                    raise IndexError(f"row index out of range for {n} rows")
        return self.dataset[(first, *rest)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self[:]
        return data if dtype is None else data.astype(dtype)

    def __repr__(self) -> str:
        return f"<Column {self.dataset.name} shape={self.shape} dtype={self.dtype}>"


class _Columns(Mapping[str, Column]):
    """Name -> :class:`Column` for one group of a run file."""

    def __init__(self, reader: RunReader, group: str) -> None:
        self._reader = reader
        self._group = group

    def __getitem__(self, name: str) -> Column:
        return self._reader._column(self._group, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._reader._groups[self._group])

    def __len__(self) -> int:
        return len(self._reader._groups[self._group])


class RunReader:
    """Read-only, lazy access to a run file (context manager).

    With ``swmr=True`` the file is opened in SWMR read mode to follow a live run: call
    :meth:`refresh` to see rows flushed since. A file left by a killed writer (still
    flagged as being written) is opened in SWMR read mode automatically.

    Row counts are the minimum length over a group's datasets.
    """

    def __init__(self, path: str | Path, swmr: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise RunFileError(f"{self.path}: no such run file")
        if self.path.is_dir():
            raise RunFileError(f"{self.path}: is a directory, not a run file")
        self.swmr = bool(swmr)
        try:
            self._f = self._open(self.swmr)
        except OSError as exc:
            raise RunFileError(
                f"{self.path}: not a readable HDF5 file: {_one_line(exc)}") from None
        try:
            self._validate()
            self._groups: dict[str, dict[str, h5py.Dataset]] = {
                name: {k: v for k, v in self._f["entry"][name].items()
                       if isinstance(v, h5py.Dataset)}
                for name in ("steps", "test")
            }
            self._counts = {g: self._count(g) for g in self._groups}
        except (OSError, KeyError, ValueError, TypeError) as exc:
            self._f.close()
            raise RunFileError(f"{self.path}: damaged run file: {_one_line(exc)}") from None
        except BaseException:
            self._f.close()
            raise
        self._info: dict[str, Any] | None = None

    def _open(self, swmr: bool) -> h5py.File:
        if swmr:
            return h5py.File(self.path, "r", libver=LIBVER, swmr=True, locking=False)
        try:
            return h5py.File(self.path, "r", locking=False)
        except OSError as exc:
            # A writer that died in SWMR mode leaves the "open for writing" flag set;
            # a SWMR reader may still open the (consistent) file.
            if "already open" not in str(exc):
                raise
        self.swmr = True
        return h5py.File(self.path, "r", libver=LIBVER, swmr=True, locking=False)

    def _validate(self) -> None:
        attrs = self._f.attrs
        if "twinlab_schema" not in attrs:
            raise RunFileError(f"{self.path}: HDF5 file is not a twinlab run file "
                               "(no twinlab_schema attribute)")
        schema = int(attrs["twinlab_schema"])
        if schema > SCHEMA_VERSION:
            raise RunFileError(f"{self.path}: run file schema {schema} is newer than the "
                               f"supported {SCHEMA_VERSION}; upgrade twinlab")
        for group in ("entry/steps", "entry/test"):
            if not isinstance(self._f.get(group), h5py.Group):
                raise RunFileError(f"{self.path}: damaged run file (no /{group} group)")
        if "error" not in self._f["entry/steps"]:
            raise RunFileError(f"{self.path}: damaged run file (no /entry/steps/error)")

    def _count(self, group: str) -> int:
        datasets = self._groups[group].values()
        return min((ds.shape[0] for ds in datasets), default=0)

    def _rows(self, group: str) -> int:
        return self._counts[group]

    def _column(self, group: str, name: str) -> Column:
        try:
            ds = self._groups[group][name]
        except KeyError:
            raise KeyError(f"{self.path}: no dataset {name!r} in /entry/{group}; "
                           f"have {sorted(self._groups[group])}") from None
        return Column(ds, self, group)

    # -- context manager ----------------------------------------------------------------

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._f.id.valid:
            self._f.close()

    # -- live following ------------------------------------------------------------------

    def refresh(self) -> int:
        """Re-read dataset extents (SWMR mode) and return the new number of steps."""
        for group in self._groups.values():
            for ds in group.values():
                ds.refresh()
        self._counts = {g: self._count(g) for g in self._groups}
        return self._counts["steps"]

    # -- metadata --------------------------------------------------------------------------

    @property
    def n_steps(self) -> int:
        """Number of complete step rows (as of opening or the last :meth:`refresh`)."""
        return self._counts["steps"]

    @property
    def n_tests(self) -> int:
        """Number of complete test rows."""
        return self._counts["test"]

    @property
    def info(self) -> dict[str, Any]:
        """Root attributes as Python values; ``*_json`` attributes decoded to dicts."""
        if self._info is None:
            info: dict[str, Any] = {}
            for key, value in self._f.attrs.items():
                if isinstance(value, bytes):
                    value = value.decode()
                elif isinstance(value, np.generic):
                    value = value.item()
                if key in _JSON_ATTRS and isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        raise RunFileError(
                            f"{self.path}: attribute {key} is not valid JSON") from None
                info[key] = value
            self._info = info
        return self._info

    @property
    def settings(self) -> dict[str, Any]:
        """The run's settings (decoded ``settings_json``)."""
        return self.info.get("settings_json", {})

    @property
    def complete(self) -> bool:
        """True only if the writer's ``stop`` recorded a complete run."""
        return bool(self.info.get("complete", False))

    # -- data -------------------------------------------------------------------------------

    @property
    def steps(self) -> Mapping[str, Column]:
        """Lazy per-step columns: ``reader.steps["error"][-100:]``."""
        return _Columns(self, "steps")

    @property
    def tests(self) -> Mapping[str, Column]:
        """Lazy per-test-evaluation columns."""
        return _Columns(self, "test")

    def dataset(self, name: str) -> Column:
        """Lazy column ``name`` of /entry/steps, truncated to :attr:`n_steps` rows."""
        return self._column("steps", name)

    def array(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` of step dataset ``name`` as a numpy array."""
        return self._column("steps", name)[start:stop]

    def test_array(self, name: str) -> np.ndarray:
        """All rows of test dataset ``name`` as a numpy array."""
        return self._column("test", name)[:]

    def replay(self, start: int = 0, stop: int | None = None,
               chunk: int = 4096) -> Iterator[StepRecord]:
        """Yield the stored steps as :class:`StepRecord` (arrays are read ``chunk`` rows at a
        time; record arrays are views into those blocks)."""
        begin, end, _ = slice(start, stop).indices(self.n_steps)
        names = [n for n in _STEP_FIELDS if n in self._groups["steps"]]
        cols = [self._column("steps", n) for n in names]
        for b0 in range(begin, end, chunk):
            b1 = min(b0 + chunk, end)
            block = {n: c[b0:b1] for n, c in zip(names, cols, strict=True)}
            for n in ("step", "time", "example", "error"):
                block[n] = block[n].tolist()
            for j in range(b1 - b0):
                yield StepRecord(**{n: block[n][j] for n in names})

    def summary(self) -> dict[str, Any]:
        """One-row description of the run (reads only attributes and a few error rows).

        ``initial_error``/``final_error``/``scaled_error`` come from the writer's ``stop``
        when present; otherwise (a killed run) they are computed from the rows present:
        ``initial_error = error[0]``, ``final_error`` = mean of the last
        ``min(FINAL_WINDOW, n)`` errors, ``scaled_error = final_error / initial_error``.
        ``steps`` is always the number of rows in the file.
        """
        info = self.info
        settings = info.get("settings_json") or {}
        n = self.n_steps

        def pick(key: str) -> Any:
            return info.get(key, settings.get(key))

        out: dict[str, Any] = {
            "file": str(self.path),
            "task": info.get("task"),
            "steps": n,
            "steps_requested": settings.get("steps"),
            "p": pick("p"),
            "eta": pick("eta"),
            "seed": pick("seed"),
            "complete": self.complete,
            "start_time": info.get("start_time") or None,
            "end_time": info.get("end_time") or None,
            "message": info.get("message", ""),
            "final_test_error": info.get("final_test_error", math.nan),
            "final_accuracy": info.get("final_accuracy", math.nan),
        }
        if "final_error" in info:
            out["initial_error"] = info["initial_error"]
            out["final_error"] = info["final_error"]
            out["scaled_error"] = info["scaled_error"]
        else:
            initial, final = math.nan, math.nan
            if n:
                err = self._column("steps", "error")
                initial = float(err[0])
                final = float(np.mean(err[n - min(FINAL_WINDOW, n):n]))
            out["initial_error"] = initial
            out["final_error"] = final
            out["scaled_error"] = final / initial if initial else math.nan
        if "final_test_error" not in info and self.n_tests:
            out["final_test_error"] = float(self._column("test", "error")[-1])
            out["final_accuracy"] = float(self._column("test", "accuracy")[-1])
        return out

    def __repr__(self) -> str:
        return f"<RunReader {self.path} steps={self.n_steps} complete={self.complete}>"
