"""HDF5 run files: a cheap, crash-safe writer (an :class:`Observer`) and a lazy reader.

Layout (NeXus-friendly, so a generic NeXus/HDF5 viewer plots error against step)::

    /                       attrs: default="entry", twinlab_schema, twinlab_version,
                            start_time, end_time ("" until stop), complete, task (name),
                            settings_json, bench_json, task_json, network_json, extra_json,
                            positions_estimated, every scalar setting (p, eta, steps, seed, ...)
                            and, after stop: steps (rows written), initial_error, final_error,
                            scaled_error, message, final_test_error, final_accuracy
    /entry                  NXentry, default="steps"
    /entry/steps            NXdata, signal="error", axes=["step"]; one row per training step:
                            one dataset per column of `lab.runs.schema` (names, dtypes,
                            units, row shapes from RunInfo; update_mask and direction only
                            if RunInfo.has_updates; positions has attr estimated)
    /entry/test             NXdata, signal="error", axes=["step"]; one row per test evaluation
        step (m,) int64, time (m,) float64 s, error (m,) float64 V^2,
        accuracy (m,) float64, v_free (m, n_test, n_outputs) float64 V

    /entry/task             the task's arrays of more than TASK_INLINE numbers (training
                            and test inputs, targets, labels), each written once as a gzip-
                            compressed dataset named after its task field; ``task_json``
                            holds the other fields (schema 2; schema 1 kept them all in JSON)

Every row dataset is chunked with an unlimited first axis. The writer runs in SWMR mode
and flushes whole blocks of rows, so a live reader (``RunReader(path, swmr=True)``) can
follow the run and a run killed mid-way keeps every flushed row. Datasets are extended one
by one, so the number of rows is the *minimum* length over a group's datasets.

Disk and memory bounds. Before a run starts, :meth:`RunWriter.start` refuses (with
:class:`RunSpaceError`, one line, no file left) a run whose file (:func:`estimate_bytes`:
the layout, the task data, every chunk of steps and test rows the run will allocate) plus
the headroom below does not fit in the free space of the file's filesystem or under the
process's file-size limit (``ulimit -f``, RLIMIT_FSIZE), or whose write buffers
(:func:`estimate_memory`) do not fit in the memory available. During the run the writer
keeps a *headroom*: after every flush it checks (``statvfs``, ``getrlimit``) that there
is room for the next flush, i.e. one more chunk of every step and test dataset (HDF5
allocates whole chunks: 4096 rows x 124 B = 0.51 MB for allostery ii) plus FLUSH_SLACK
(64 kB; the chunk index and headers grew by at most 2 kB per flush, measured), and for
closing the file, CLOSE_RESERVE (64 kB; closing the SWMR file and writing the end-of-run
attributes added 4.2 kB with a 300-character message, measured). If not, ``step`` (or
``test``) raises :class:`RunStorageError` with every step so far in the file, and ``stop``
closes it, marked incomplete, with the end time and the message. The CLOSE_RESERVE bytes
are held as an anonymous file (O_TMPFILE) on the same filesystem and released just before
closing, so even when another program takes the last free byte, the file can be closed.
HDF5 must never meet ENOSPC/EFBIG on its own: after a failed write its caches are
inconsistent and the process crashes (SIGSEGV) when the library closes the file at exit
unless space is freed first. If it still happens (the disk filled between two checks),
the writer releases the reserve and raises RunStorageError; the flush is completed at
close. RLIMIT_FSIZE is exceeded only by a limit lowered during the run; the writer ignores
SIGXFSZ (see :func:`ignore_sigxfsz`) so such a write fails with EFBIG instead of killing
the process.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from time import monotonic
from typing import Any

import h5py
import numpy as np

from lab.acquire.records import Observer, RunInfo, RunSummary, StepRecord, TestRecord
from lab.errors import one_line
from lab.runs.schema import NDIM, STEP_COLUMNS, StepSchema, columns
from lab.runs.summary import FINAL_WINDOW, summary_errors

try:
    import resource
except ImportError:  # not on POSIX: no file-size limit to watch
    resource = None  # type: ignore[assignment]

log = logging.getLogger("lab.runs")  # the room's logger: users filter on "lab.runs"

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

SCHEMA_VERSION = 2
"""Version of the file layout written here; readers refuse newer files and read 1 and 2
(2 moved the task's arrays from ``task_json`` to compressed datasets in /entry/task)."""

# SWMR needs the HDF5 1.10 file format; a 1.10 lower bound keeps files readable by viewers
# built on HDF5 1.10-1.14 (for this layout the bytes equal those of libver="latest").
LIBVER = ("v110", "latest")

COMPRESSION: str | None = None
"""Default filter for row datasets (``None``, ``"lzf"`` or ``"gzip"``); see bench/bench_hdf5.py."""

CHUNK_ROWS = 4096
"""Default rows per chunk (and per write block) of the step datasets."""

TEST_CHUNK_ROWS = 256
"""Most rows per chunk of the test datasets (fewer when a row is big: CHUNK_BYTES)."""

CHUNK_BYTES = 1 << 20
"""Most bytes per chunk of a test ``v_free`` dataset (a row is n_test x n_outputs doubles)."""

TASK_INLINE = 256
"""Task fields that are numeric arrays of more numbers than this go to /entry/task."""

CLOSE_RESERVE = 64 << 10
"""Bytes kept free to close a run file (measured: 4.2 kB; see the module docstring)."""

FLUSH_SLACK = 64 << 10
"""Bytes a flush may add besides whole chunks (index, headers; measured <= 2 kB)."""

_LAYOUT_BYTES = 64 << 10  # an empty run file: 16 kB measured, plus attribute text
_CHUNK_META = 512  # index bytes per allocated chunk (measured ~210)
_RECORD_BYTES = 1024  # a buffered StepRecord and its array objects besides their data

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

class RunFileError(Exception):
    """A run file cannot be created, opened or understood; the message names the file."""


class RunSpaceError(RunFileError):
    """Before a run: its file would not fit on the disk or under the file-size limit, or its
    buffers not in memory. Nothing was written; the message names the file and the sizes."""


class RunStorageError(RuntimeError):
    """During a run: the disk (or the file-size limit) is too full to go on. Raised by
    :meth:`RunWriter.step`/``test`` so the run stops; every step the message counts is in
    the file, which ``stop`` closes marked incomplete. The message names the file and the
    free space."""


def _mb(n: float) -> str:
    """A size in bytes for a message: MB, or GB from 10 GB up."""
    return f"{n / 1e9:.1f} GB" if abs(n) >= 1e10 else f"{n / 1e6:.2f} MB"


def _is_storage_error(exc: BaseException) -> bool:
    """True for ENOSPC/EFBIG/EDQUOT, raised by the OS or wrapped in an HDF5 error text."""
    codes = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    if isinstance(exc, OSError) and exc.errno in codes:
        return True
    text = str(exc)
    return any(f"errno = {c}," in text for c in codes) or any(
        os.strerror(c) in text for c in codes)


def _storage_reason(exc: BaseException) -> str:
    """The OS reason of a storage error, short (HDF5 texts are many lines long)."""
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return exc.strerror
    for code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        if f"errno = {code}," in str(exc) or os.strerror(code) in str(exc):
            return os.strerror(code)
    return one_line(exc)


def _existing_dir(path: Path) -> Path:
    """``path``'s nearest existing ancestor directory (where statvfs can look)."""
    d = path.parent.absolute()
    while not d.is_dir() and d != d.parent:
        d = d.parent
    return d


def _free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on ``directory``'s filesystem."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def _fsize_limit() -> int | None:
    """The process's file-size limit (RLIMIT_FSIZE, soft) in bytes, or None if unlimited."""
    if resource is None:
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _mem_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def ignore_sigxfsz() -> None:
    """Ignore SIGXFSZ (from the main thread, if it has its default action), so a write past
    RLIMIT_FSIZE fails with EFBIG, which the writer reports, instead of killing the process.
    :meth:`RunWriter.start` calls it; call it yourself if a writer runs in another thread."""
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(sig) == signal.SIG_DFL:
        signal.signal(sig, signal.SIG_IGN)


def _task_arrays(task: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The task fields stored as datasets: numeric arrays of more than TASK_INLINE numbers."""
    out: dict[str, np.ndarray] = {}
    for key, value in task.items():
        if not isinstance(value, list | tuple | np.ndarray) or len(value) == 0:
            continue
        try:
            a = np.asarray(value)
        except ValueError:  # ragged
            continue
        if a.size > TASK_INLINE and a.dtype.kind in "biuf":
            out[str(key)] = a
    return out


def _step_row_bytes(info: RunInfo) -> int:
    """Bytes of one step row over all step datasets."""
    return StepSchema.of(info).row_bytes


def _test_layout(info: RunInfo, chunk_rows: int) -> tuple[int, tuple[int, int, int]]:
    """(rows per chunk of the test datasets, chunk shape of the test ``v_free``)."""
    nt, no = int(info.n_test), int(info.n_outputs)
    row = 8 * max(nt, 1) * max(no, 1)
    rows = max(1, min(chunk_rows, TEST_CHUNK_ROWS, CHUNK_BYTES // row))
    inner = max(1, min(max(nt, 1), CHUNK_BYTES // (8 * max(no, 1))))
    return rows, (rows, inner, max(no, 1))


def _block_bytes(info: RunInfo, chunk_rows: int) -> int:
    """Most bytes one flush allocates: one chunk of every step and test dataset + slack."""
    trows, vchunk = _test_layout(info, chunk_rows)
    n_v = -(-max(int(info.n_test), 1) // vchunk[1])  # v_free chunks per row block
    test = 4 * 8 * trows + n_v * 8 * vchunk[0] * vchunk[1] * vchunk[2]
    return chunk_rows * _step_row_bytes(info) + test + FLUSH_SLACK


def headroom_bytes(info: RunInfo, chunk_rows: int = CHUNK_ROWS) -> int:
    """Bytes the writer keeps free during a run: the next flush plus CLOSE_RESERVE."""
    return _block_bytes(info, chunk_rows) + CLOSE_RESERVE


def _planned_steps(info: RunInfo) -> int | None:
    """The steps the run's settings ask for (None if they do not say)."""
    steps = info.settings.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        return None
    return int(steps)


def _test_rows(info: RunInfo, steps: int) -> int:
    """Test evaluations of a run of ``steps`` steps: before every ``test_every``-th step
    and one at the end (0 without a test set or with ``test_every`` 0)."""
    every = info.settings.get("test_every") or 0
    if not info.n_test or isinstance(every, bool) or not isinstance(every, int | np.integer):
        return 0
    return -(-int(steps) // int(every)) + 1 if every > 0 else 0


def estimate_bytes(info: RunInfo, steps: int | None = None,
                   chunk_rows: int = CHUNK_ROWS) -> int:
    """Upper estimate of the size in bytes of the finished run file of ``info`` with
    ``steps`` steps (default: ``info.settings["steps"]``) and its test rows: the layout and
    attributes, the task data (uncompressed), every chunk the rows allocate (whole chunks
    of ``chunk_rows`` rows), the chunk index, and CLOSE_RESERVE."""
    if steps is None:
        steps = _planned_steps(info) or 0
    tests = _test_rows(info, steps)
    attrs = sum(len(_dumps(x)) for x in (info.settings, info.bench, info.network, info.extra))
    task = _task_arrays(info.task)
    small = {k: v for k, v in info.task.items() if k not in task}
    data = sum(a.nbytes for a in task.values()) + len(_dumps(small)) + attrs
    step_chunks = -(-int(steps) // chunk_rows)
    trows, vchunk = _test_layout(info, chunk_rows)
    test_chunks = -(-int(tests) // trows)
    n_v = -(-max(int(info.n_test), 1) // vchunk[1])
    test_chunk_bytes = 4 * 8 * trows + n_v * 8 * vchunk[0] * vchunk[1] * vchunk[2]
    n_step_ds = len(StepSchema.of(info).names)
    meta = _CHUNK_META * (n_step_ds * step_chunks + (4 + n_v) * test_chunks)
    return (_LAYOUT_BYTES + data + step_chunks * chunk_rows * _step_row_bytes(info)
            + test_chunks * test_chunk_bytes + meta + CLOSE_RESERVE)


def estimate_memory(info: RunInfo, chunk_rows: int = CHUNK_ROWS) -> int:
    """Most bytes the writer buffers in memory: ``chunk_rows`` step records (with their
    arrays) and one block of test rows. It does not depend on the number of steps."""
    ne, no = int(info.n_edges), int(info.n_outputs)
    record = _RECORD_BYTES + _step_row_bytes(info) + 8 * 2 * no + 2 * ne
    trows, _ = _test_layout(info, chunk_rows)
    return chunk_rows * record + (trows + 1) * 8 * (max(int(info.n_test), 1) * max(no, 1) + 4)



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
                 compression: str | None = None,
                 chunks: tuple[int, ...] | None = None) -> h5py.Dataset:
    """An empty (0, *tail) dataset, unlimited along axis 0, chunked ``chunks`` (default
    (rows, *tail))."""
    ds = group.create_dataset(
        name,
        shape=(0, *tail),
        maxshape=(None, *(d if d > 0 else None for d in tail)),
        chunks=chunks or (rows, *(max(d, 1) for d in tail)),
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

    ``step`` only keeps the record for the next write block of ``chunk_rows`` rows; the
    block goes to the file (and the file is flushed for SWMR readers) when full or when
    ``flush_interval`` seconds (monotonic) have passed since the last flush, checked on each
    ``step``/``test`` call. Rows still buffered when the process dies are lost.

    Disk: see the module docstring. ``start`` raises :class:`RunSpaceError` when the run
    cannot fit; ``step``/``test`` raise :class:`RunStorageError` when the disk or the
    file-size limit leaves no more than the headroom (:func:`headroom_bytes`).
    """

    critical = True  # the run's record: a run that cannot be written must not go on

    def __init__(self, path: str | Path, *, chunk_rows: int = CHUNK_ROWS,
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
        self._test_rows = TEST_CHUNK_ROWS
        self._t_flush = 0.0
        self._has_updates = False
        self._reserve: Any = None  # anonymous file holding CLOSE_RESERVE bytes
        self._block = 0          # most bytes one flush allocates (_block_bytes)
        self._full: str = ""     # why the writer stopped taking rows (RunStorageError text)
        self._lost = 0           # buffered steps that could not be written

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
        """Check the run fits (disk, file-size limit, memory), create the file with its
        whole layout, then switch to SWMR mode. Raises RunFileError (RunSpaceError when
        the run does not fit) with no file left behind."""
        if self._f is not None or self._stopped:
            raise RuntimeError(f"RunWriter for {self.path} was already started")
        path = self.path
        ignore_sigxfsz()
        self._check_fits(info)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: never overwrite, race-free, and a clean OS reason when not writable.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise RunFileError(f"{path}: run file already exists (refusing to overwrite)")\
                from None
        except OSError as exc:
            raise RunFileError(f"{path}: cannot create run file: {one_line(exc)}") from None
        try:
            self._reserve = self._hold_reserve()
            f = h5py.File(path, "w", libver=LIBVER, locking=False)
        except OSError as exc:
            self._release_reserve()
            path.unlink(missing_ok=True)
            raise RunFileError(f"{path}: cannot create run file: {one_line(exc)}") from None
        try:
            self._layout(f, info)
            f.swmr_mode = True
        except BaseException as exc:
            self._release_reserve()  # room for HDF5 to close after a failed write
            try:
                f.close()
            except (OSError, RuntimeError):
                pass  # the file is removed next; the original error is what counts
            path.unlink(missing_ok=True)
            if isinstance(exc, OSError | RuntimeError) and _is_storage_error(exc):
                raise RunSpaceError(
                    f"{path}: no room to create the run file: {one_line(exc)}") from None
            raise
        self._f = f
        self._block = _block_bytes(info, self.chunk_rows)
        self._step_chunk_bytes = self.chunk_rows * _step_row_bytes(info)
        self._test_chunk_bytes = self._block - self._step_chunk_bytes - FLUSH_SLACK
        self._t_flush = monotonic()
        log.info("run file %s created", path)

    def _check_fits(self, info: RunInfo) -> None:
        """Refuse a run whose file (plus headroom) or buffers do not fit."""
        path, where = self.path, _existing_dir(self.path)
        steps = _planned_steps(info) or 0
        need = estimate_bytes(info, steps, self.chunk_rows)
        keep = _block_bytes(info, self.chunk_rows)
        try:
            free = _free_bytes(where)
        except OSError:
            free = None  # no statvfs here: the running checks will tell
        advice = "use fewer --steps (or --test-every less often) or another --out"
        if free is not None and need + keep > free:
            raise RunSpaceError(
                f"{path}: a run of {steps} steps needs about {_mb(need + keep)} "
                f"({_mb(need)} of file, {_mb(keep)} headroom) but {where} has {_mb(free)} "
                f"free; {advice}")
        limit = _fsize_limit()
        if limit is not None and need + keep > limit:
            raise RunSpaceError(
                f"{path}: a run of {steps} steps needs a file of about {_mb(need + keep)} "
                f"but the file-size limit (ulimit -f) is {_mb(limit)}; {advice}")
        memory, avail = estimate_memory(info, self.chunk_rows), _mem_available()
        if avail is not None and memory > avail:
            raise RunSpaceError(
                f"{path}: the run's write buffers need about {_mb(memory)} of memory but "
                f"only {_mb(avail)} is available")

    def _hold_reserve(self) -> Any:
        """An anonymous file of CLOSE_RESERVE bytes next to the run file (freed at close)."""
        reserve = tempfile.TemporaryFile(dir=self.path.parent, prefix=".twinlab-reserve-")
        try:
            try:
                os.posix_fallocate(reserve.fileno(), 0, CLOSE_RESERVE)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                reserve.write(b"\0" * CLOSE_RESERVE)
                reserve.flush()
        except BaseException:
            reserve.close()
            raise
        return reserve

    def _release_reserve(self) -> None:
        if self._reserve is not None:
            reserve, self._reserve = self._reserve, None
            try:
                reserve.close()
            except OSError:
                pass

    def _layout(self, f: h5py.File, info: RunInfo) -> None:
        """Create every attribute, group and dataset (SWMR forbids creating them later)."""
        task_arrays = _task_arrays(info.task)
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
        a["task_json"] = _dumps({k: v for k, v in info.task.items() if k not in task_arrays})
        a["network_json"] = _dumps(info.network)
        a["extra_json"] = _dumps(info.extra)
        a["positions_estimated"] = bool(info.positions_estimated)
        for key, value in info.settings.items():
            if _is_scalar(value) and key not in _RESERVED:
                a[key] = value

        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "steps"
        tg = entry.create_group("task")
        tg.attrs["NX_class"] = "NXcollection"
        for key, value in task_arrays.items():
            tg.create_dataset(key, data=value, compression="gzip", compression_opts=4,
                              shuffle=True, chunks=True)

        rows = self.chunk_rows
        no = int(info.n_outputs)
        self._schema = schema = StepSchema.of(info)
        self._has_updates = schema.has_updates
        g = entry.create_group("steps")
        _nxdata(g)
        # Hot path: ``step`` only keeps a reference to the record (the trainer never mutates
        # an emitted record); each flush builds one array per column from the kept records
        # (`lab.runs.schema.columns`), in the schema's order (``step`` last: see _flush).
        self._columns: list[tuple[h5py.Dataset, str]] = []
        for c in schema.specs():
            ds = _row_dataset(g, c.name, c.dtype, c.shape, rows, c.units,
                              fillvalue=-1 if c.name == "step" else None,
                              compression=self.compression)
            self._columns.append((ds, c.name))
        self._rows: list[StepRecord] = []
        g["positions"].attrs["estimated"] = bool(info.positions_estimated)
        for ds, name in sorted(self._columns, key=lambda col: col[1] != "positions"):
            long_name = schema.spec(name).long_name  # positions first: the layout's order
            if long_name is not None:
                ds.attrs["long_name"] = long_name

        t = entry.create_group("test")
        _nxdata(t)
        # Test rows are chunked in blocks of at most CHUNK_BYTES (a row of a big test set
        # is big: 256 rows x 1e6 examples x 2 outputs made one 4 GB chunk).
        trows, vchunk = _test_layout(info, rows)
        self._test_rows = trows
        nt = int(info.n_test)
        self._test_shape = (nt, no)
        self._test_ds = {
            "time": _row_dataset(t, "time", np.float64, (), trows, "s"),
            "error": _row_dataset(t, "error", np.float64, (), trows, "V^2"),
            "accuracy": _row_dataset(t, "accuracy", np.float64, (), trows, None),
            "v_free": _row_dataset(t, "v_free", np.float64, (nt, no), trows, "V",
                                   chunks=vchunk),
            "step": _row_dataset(t, "step", np.int64, (), trows, None, fillvalue=-1),
        }

    def _check(self, record: StepRecord) -> None:
        """Validate shapes of the first record of each buffer block (cheap, amortised)."""
        try:
            self._schema.check(record)
        except ValueError as exc:
            raise ValueError(f"{self.path}: {exc}") from None

    def step(self, record: StepRecord) -> None:
        """Keep one step for the next flush (~0.3 us); flush if a block is full or due.
        Raises RunStorageError when the disk is too full to go on (see the class)."""
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
        if (len(self._tests) >= self._test_rows
                or monotonic() - self._t_flush >= self.flush_interval):
            self._flush()

    def flush(self) -> None:
        """Write all buffered rows to the file now (no-op before start or after stop)."""
        if self._f is not None:
            self._flush()

    def _growth(self) -> int:
        """Most bytes the pending flush adds to the file (whole new chunks + slack)."""
        def new_chunks(done: int, more: int, per: int) -> int:
            return -(-(done + more) // per) - -(-done // per) if more else 0

        steps = new_chunks(self._written, len(self._rows), self.chunk_rows)
        tests = new_chunks(self._tests_written, len(self._tests), self._test_rows)
        return (steps * self._step_chunk_bytes + tests * self._test_chunk_bytes
                + FLUSH_SLACK)

    def _room(self) -> tuple[int, str]:
        """(Bytes the file may still grow by, besides the close reserve; what limits it)."""
        room, where = 1 << 62, "no limit"
        try:
            free = _free_bytes(self.path.parent)
            room, where = free, f"{_mb(free)} free on {self.path.parent}"
        except OSError:
            pass
        limit = _fsize_limit()
        if limit is not None:
            try:
                size = self.path.stat().st_size
            except OSError:
                size = 0
            if limit - size - CLOSE_RESERVE < room:
                room = limit - size - CLOSE_RESERVE
                where = (f"{_mb(max(limit - size, 0))} left under the file-size limit "
                         f"(ulimit -f) of {_mb(limit)}")
        return room, where

    def _give_up(self, why: str) -> None:
        """Take no more rows: remember why and raise RunStorageError (``stop`` closes)."""
        self._full = f"{self.path}: {why}"
        raise RunStorageError(self._full)

    def _flush(self, watch: bool = True) -> None:
        """Write the buffered rows and flush; then (``watch``) make sure the next flush and
        the close will fit, else raise RunStorageError."""
        if self._full:
            raise RunStorageError(self._full)
        if self._rows or self._tests:
            growth = self._growth()
            room, where = self._room()
            if growth > room:
                # The disk filled up behind our back (or the file-size limit was lowered):
                # writing now would leave HDF5 unable to close the file. Keep the file as
                # it is, with every earlier block, and drop this one.
                self._lost = len(self._rows)
                self._give_up(
                    f"no room for the next block of rows ({_mb(growth)}): {where}; run stopped "
                    f"with {self._written} steps in the file ({self._lost} steps not written)")
        try:
            self._write()
            self._f.flush()
        except (OSError, RuntimeError) as exc:
            if not _is_storage_error(exc):
                raise
            self._release_reserve()  # HDF5 needs room to complete the flush when closing
            self._give_up(f"write failed: {_storage_reason(exc)}; run stopped after "
                          f"{self._written} steps")
        self._t_flush = monotonic()
        if watch:
            room, where = self._room()
            if room < self._block:
                self._give_up(
                    f"disk nearly full: {where}; run stopped with all {self._written} steps "
                    f"in the file (the writer keeps {_mb(self._block + CLOSE_RESERVE)} to "
                    "write a block and close the file)")

    def _write(self) -> None:
        rows = self._rows
        if rows:
            # Readers take the min length over datasets; ``step`` (fill -1) goes last.
            w0 = self._written
            cols = columns(rows, self._schema)
            for ds, name in self._columns:
                _append(ds, w0, cols[name])
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

    def stop(self, summary: RunSummary) -> None:
        """Flush, close, and record how the run ended. Idempotent; safe after errors.

        The SWMR file is closed and reopened plainly (``r+``) because SWMR mode cannot
        add attributes. ``complete`` is True only if ``summary.complete`` and all rows
        were written. After a RunStorageError nothing more is written but the end of run.
        """
        if self._stopped:
            return
        self._stopped = True
        f = self._f
        if f is None:
            return
        error: BaseException | None = None
        try:
            if not self._full:
                self._flush(watch=False)
        except Exception as exc:  # still close and mark the run incomplete, then report
            error = exc
        finally:
            self._f = None
            self._release_reserve()  # its bytes are the room to close the file
            try:
                f.close()
            except Exception as exc:
                error = error or exc
        message = str(summary.message)
        for extra in (self._full, str(error) if error is not None else ""):
            if extra and extra not in message:
                message = f"{message}; {extra}" if message else extra
        try:
            with h5py.File(self.path, "r+", locking=False) as g:
                a = g.attrs
                a["end_time"] = str(summary.end_time)
                a["complete"] = bool(summary.complete) and error is None and not self._full
                a["steps"] = int(self._written)
                a["initial_error"] = float(summary.initial_error)
                a["final_error"] = float(summary.final_error)
                a["scaled_error"] = float(summary.scaled_error)
                a["message"] = message
                a["final_test_error"] = float(summary.final_test_error)
                a["final_accuracy"] = float(summary.final_accuracy)
        except (OSError, RuntimeError) as exc:
            raise RunFileError(
                f"{self.path}: cannot record end of run: {one_line(exc)}") from exc
        if error is not None:
            raise RunFileError(
                f"{self.path}: rows lost while closing: {one_line(error)}") from error
        log.info("run file %s closed: %d steps, %s", self.path, self._written,
                 "complete" if summary.complete else "incomplete")


# Types of the root attributes the reader interprets: a damaged file is refused in one line.
_ATTR_KINDS: dict[str, str] = {
    "twinlab_schema": "int", "steps": "int", "seed": "int?",
    "complete": "bool", "positions_estimated": "bool",
    "twinlab_version": "str", "start_time": "str", "end_time": "str", "task": "str",
    "message": "str", "default": "str",
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
    if key in _JSON_ATTRS:
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
        ``steps`` is always the number of rows in the file.
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
            "final_test_error": info.get("final_test_error", math.nan),
            "final_accuracy": info.get("final_accuracy", math.nan),
        }
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
