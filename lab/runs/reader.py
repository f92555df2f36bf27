"""Reading run files: :class:`RunReader` (lazy, read-only; follows a live run in SWMR mode)
and its column view :class:`Column` (one row dataset, truncated to the rows every dataset
of its group has)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from lab.acquire.records import StepRecord
from lab.errors import one_line
from lab.runs.errors import RunFileError
from lab.runs.layout import JSON_ATTRS, LIBVER, SCHEMA_VERSION, codes_of, warnings_of
from lab.runs.schema import NDIM, STEP_COLUMNS
from lab.runs.summary import FINAL_WINDOW, summary_errors

__all__ = ["Column", "RunReader"]

# Types of the root attributes the reader interprets: a damaged file is refused in one line.
_ATTR_KINDS: dict[str, str] = {
    "twinlab_schema": "int", "steps": "int", "seed": "int?",
    "complete": "bool", "positions_estimated": "bool",
    "twinlab_version": "str", "start_time": "str", "end_time": "str", "task": "str",
    "message": "str", "default": "str", "codes": "str", "codes_note": "str", "currents_note": "str",
    "warnings": "str", "resyncs": "int",
    "initial_error": "float", "final_error": "float", "scaled_error": "float",
    "final_test_error": "float", "final_accuracy": "float", "p": "float", "eta": "float",
}
# Step/test datasets: expected number of dimensions (row axis first).
_STEP_NDIM = NDIM
_TEST_NDIM = {"step": 1, "time": 1, "error": 1, "accuracy": 1, "v_free": 3}


def _attr_value(path: Path, key: str, value: Any) -> Any:
    """``value`` of root attribute ``key`` as a Python value, its type checked."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise RunFileError(f"{path}: damaged run file (attribute {key} is not text)")\
                from None
    elif isinstance(value, np.generic):
        value = value.item()
    kind = _ATTR_KINDS.get(key)
    if key in JSON_ATTRS:
        if not isinstance(value, str):
            raise RunFileError(f"{path}: damaged run file (attribute {key} is "
                               f"{type(value).__name__}, expected JSON text)")
        try:
            value = json.loads(value)
        except ValueError:
            raise RunFileError(f"{path}: attribute {key} is not valid JSON") from None
        if not isinstance(value, dict):
            raise RunFileError(f"{path}: damaged run file (attribute {key} is a JSON "
                               f"{type(value).__name__}, expected an object)")
        return value
    if kind is None:
        return value
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "int?": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
    }[kind]
    if not ok:
        want = {"int": "an integer", "int?": "a number", "bool": "a boolean",
                "str": "text", "float": "a number"}[kind]
        raise RunFileError(f"{path}: damaged run file (attribute {key} is "
                           f"{value!r:.40}, expected {want})")
    return value


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
        try:
            return self.dataset[(first, *rest)]
        except OSError as exc:  # a damaged or truncated data block
            raise RunFileError(f"{self._reader.path}: damaged run file (cannot read "
                               f"{self.dataset.name}: {one_line(exc)})") from None

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
                f"{self.path}: not a readable HDF5 file: {one_line(exc)}") from None
        self._info: dict[str, Any] | None = None
        try:
            self._validate()
            self._groups: dict[str, dict[str, h5py.Dataset]] = {
                name: {k: v for k, v in self._f["entry"][name].items()
                       if isinstance(v, h5py.Dataset)}
                for name in ("steps", "test")
            }
            self._check_datasets()
            self._counts = {g: self._count(g) for g in self._groups}
            _ = self.info  # every attribute the reader interprets, type-checked now
        except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
            self._f.close()
            raise RunFileError(f"{self.path}: damaged run file: {one_line(exc)}") from None
        except BaseException:
            self._f.close()
            raise

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
        schema = _attr_value(self.path, "twinlab_schema", attrs["twinlab_schema"])
        if schema > SCHEMA_VERSION:
            raise RunFileError(f"{self.path}: run file schema {schema} is newer than the "
                               f"supported {SCHEMA_VERSION}; upgrade twinlab")
        for group in ("entry/steps", "entry/test"):
            if not isinstance(self._f.get(group), h5py.Group):
                raise RunFileError(f"{self.path}: damaged run file (no /{group} group)")
        if "error" not in self._f["entry/steps"]:
            raise RunFileError(f"{self.path}: damaged run file (no /entry/steps/error)")
        task = self._f.get("entry/task")
        if task is not None and not isinstance(task, h5py.Group):
            raise RunFileError(f"{self.path}: damaged run file (/entry/task is not a group)")

    def _check_datasets(self) -> None:
        """Every row dataset the reader knows: rows first, its number of axes, numbers."""
        for group, ndims in (("steps", _STEP_NDIM), ("test", _TEST_NDIM)):
            for name, ds in self._groups[group].items():
                want = ndims.get(name)
                bad = ds.ndim == 0 or (want is not None and ds.ndim != want)
                if bad or ds.dtype.kind not in "biuf":
                    raise RunFileError(
                        f"{self.path}: damaged run file (/entry/{group}/{name} has shape "
                        f"{ds.shape} and type {ds.dtype}, expected {want or 'at least 1'} "
                        "axes of numbers)")

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
            try:
                self._info = {key: _attr_value(self.path, key, value)
                              for key, value in self._f.attrs.items()}
            except OSError as exc:
                raise RunFileError(f"{self.path}: damaged run file (attributes cannot be "
                                   f"read: {one_line(exc)})") from None
        return self._info

    @property
    def task(self) -> dict[str, Any]:
        """The run's task description as given to the writer (``Task.to_dict``), with its
        big arrays (/entry/task, schema 2) as numpy arrays: ``Task.from_dict(reader.task)``
        rebuilds the task."""
        out = dict(self.info.get("task_json", {}))
        group = self._f.get("entry/task")
        if isinstance(group, h5py.Group):
            try:
                for key, ds in group.items():
                    if isinstance(ds, h5py.Dataset):
                        out[key] = ds[()]
            except OSError as exc:
                raise RunFileError(f"{self.path}: damaged run file (task data cannot be "
                                   f"read: {one_line(exc)})") from None
        return out

    @property
    def settings(self) -> dict[str, Any]:
        """The run's settings (decoded ``settings_json``)."""
        return self.info.get("settings_json", {})

    @property
    def codes(self) -> str:
        """Where the run's digipot codes come from: "exact", "estimated" or "unknown"
        (`lab.runs.layout.codes_of`; inferred for files older than schema 3)."""
        return codes_of(self.info, self._groups["steps"])

    @property
    def codes_note(self) -> str:
        """Why the codes are unknown, when the file says ("" otherwise)."""
        return str(self.info.get("codes_note", ""))

    @property
    def warnings(self) -> list[str]:
        """What the run found wrong as it went on, one line each ([] none, or a file
        older than the ``warnings`` attribute; `lab.runs.layout.warnings_of`)."""
        return warnings_of(self.info)

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
        names = [n for n in STEP_COLUMNS if n in self._groups["steps"]]
        cols = [self._column("steps", n) for n in names]
        for b0 in range(begin, end, chunk):
            b1 = min(b0 + chunk, end)
            block = {n: c[b0:b1] for n, c in zip(names, cols, strict=True)}
            for n in ("step", "time", "example", "error"):
                block[n] = block[n].tolist()
            for j in range(b1 - b0):
                yield StepRecord(**{n: block[n][j] for n in names})

    def _n_train(self) -> int:
        """Number of training examples of the run's task (1 when the file does not say),
        read from the shape of ``train_inputs`` without loading it."""
        group = self._f.get("entry/task")
        try:
            ds = group.get("train_inputs") if isinstance(group, h5py.Group) else None
            if isinstance(ds, h5py.Dataset) and ds.shape:
                return int(ds.shape[0])
        except OSError as exc:
            raise RunFileError(f"{self.path}: damaged run file (task data cannot be "
                               f"read: {one_line(exc)})") from None
        inline = self.info.get("task_json", {}).get("train_inputs")
        return len(inline) if isinstance(inline, list) and inline else 1

    def summary(self) -> dict[str, Any]:
        """One-row description of the run (reads only attributes and a few error rows).

        ``initial_error``/``final_error``/``scaled_error`` come from the writer's ``stop``
        when present; otherwise (a killed run) they are computed from the rows present by
        `lab.runs.summary.summary_errors`, the trainer's own rule (training errors for a
        single-example task, first/last test error for a multi-example task tested twice).
        ``steps`` is always the number of rows in the file. ``codes`` says where the
        digipot codes come from (exact / estimated / unknown), with ``codes_note`` (why
        unknown) when the file gives one, ``currents_note`` when the bench's current
        limits could not be checked, and ``warnings`` (lines) when the run gave any.
        """
        info = self.info
        settings = info.get("settings_json") or {}
        n, n_tests = self.n_steps, self.n_tests

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
            "codes": self.codes,
            "final_test_error": info.get("final_test_error", math.nan),
            "final_accuracy": info.get("final_accuracy", math.nan),
        }
        if self.codes_note:
            out["codes_note"] = self.codes_note
        if info.get("currents_note"):
            out["currents_note"] = str(info["currents_note"])
        if self.warnings:
            out["warnings"] = self.warnings
        if "resyncs" in info:
            out["resyncs"] = int(info["resyncs"])
        if "final_error" in info:
            out["initial_error"] = info["initial_error"]
            out["final_error"] = info["final_error"]
            out["scaled_error"] = info["scaled_error"]
        else:
            last = np.zeros(0)
            first = math.nan
            if n:
                err = self._column("steps", "error")
                first = float(err[0])
                last = np.asarray(err[n - min(FINAL_WINDOW, n):n], dtype=float)
            first_test = last_test = math.nan
            if n_tests:
                test_err = self._column("test", "error")
                first_test, last_test = float(test_err[0]), float(test_err[n_tests - 1])
            errors = summary_errors(n_train=self._n_train(), first_error=first,
                                    last_errors=last, n_tests=n_tests,
                                    first_test_error=first_test, last_test_error=last_test)
            out["initial_error"], out["final_error"], out["scaled_error"] = errors
        if "final_test_error" not in info and self.n_tests:
            out["final_test_error"] = float(self._column("test", "error")[-1])
            out["final_accuracy"] = float(self._column("test", "accuracy")[-1])
        return out

    def __repr__(self) -> str:
        return f"<RunReader {self.path} steps={self.n_steps} complete={self.complete}>"
