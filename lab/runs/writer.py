"""The run writer: a cheap, crash-safe :class:`Observer` that records a run into a new
HDF5 file, in the layout of `lab.runs.layout` with the step columns of `lab.runs.schema`,
within the disk and memory bounds of `lab.runs.storage` (checked before the run, kept
during it; see there)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from time import monotonic
from typing import Any

import h5py
import numpy as np

from lab.acquire.records import Observer, RunInfo, RunSummary, StepRecord, TestRecord
from lab.errors import one_line
from lab.paths import RUN_FILE_NEVER, output_problem
from lab.runs.errors import RunFileError, RunSpaceError, RunStorageError
from lab.runs.layout import (
    CHUNK_ROWS,
    COMPRESSION,
    ESTIMATED_MASK,
    JSON_ATTRS,
    LIBVER,
    MESSAGE_MAX,
    SCHEMA_VERSION,
    TEST_CHUNK_ROWS,
    chunking_of_tests,
    task_datasets,
    to_json,
    warnings_attr,
)
from lab.runs.schema import StepSchema, columns
from lab.runs.storage import (
    CLOSE_RESERVE,
    FLUSH_SLACK,
    block_bytes,
    check_fits,
    hold_reserve,
    ignore_sigxfsz,
    is_storage_error,
    mb,
    room_left,
    step_row_bytes,
    storage_reason,
)

log = logging.getLogger("lab.runs")  # the room's logger: users filter on "lab.runs"

__all__ = ["RunWriter"]

_START_ATTRS = frozenset(
    {"default", "twinlab_schema", "twinlab_version", "start_time", "end_time", "complete",
     "task", "positions_estimated", "codes", "codes_note", "currents_note", *JSON_ATTRS}
)
_STOP_ATTRS = frozenset(
    {"end_time", "complete", "initial_error", "final_error", "scaled_error", "message",
     "final_test_error", "final_accuracy", "warnings"}
)
# Scalar settings are copied to root attrs unless they would shadow these ("steps" is
# deliberately allowed: requested steps at start, rows written after stop).
_RESERVED = _START_ATTRS | _STOP_ATTRS


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


class _Piece:
    """Step columns built from consecutive records ``first`` .. ``last`` (``n`` rows):
    name -> read-only (n, *shape) array, every column of the run's schema."""

    __slots__ = ("cols", "first", "last", "n")

    def __init__(self, rows: Sequence[StepRecord], schema: StepSchema) -> None:
        cols = columns(rows, schema)
        for a in cols.values():
            a.flags.writeable = False  # shared: whoever reads it must not change the file
        self.cols, self.first, self.last, self.n = cols, rows[0], rows[-1], len(rows)


def _joined(pieces: Sequence[_Piece], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The columns ``names`` of consecutive ``pieces``, in order (no copy for one piece)."""
    if len(pieces) == 1:
        return {name: pieces[0].cols[name] for name in names}
    return {name: np.concatenate([p.cols[name] for p in pieces]) for name in names}


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

    Disk: see `lab.runs.storage`. ``start`` raises :class:`RunSpaceError` when the run
    cannot fit; ``step``/``test`` raise :class:`RunStorageError` when the disk or the
    file-size limit leaves no more than the headroom (:func:`headroom_bytes`).
    """

    critical = True  # the run's record: a run that cannot be written must not go on

    def __init__(self, path: str | Path, *, chunk_rows: int = CHUNK_ROWS,
                 flush_interval: float = 1.0, compression: str | None = COMPRESSION,
                 discard_empty: bool = False) -> None:
        """``discard_empty``: a run that ends incomplete with no step and no test row in
        its file (it failed, or was stopped, before its first step: a power-up check)
        leaves no file (`discarded`), so that it does not block the next attempt."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.path = Path(path)
        self.chunk_rows = int(chunk_rows)
        self.flush_interval = float(flush_interval)
        self.compression = compression
        self._f: h5py.File | None = None
        self._stopped = False
        self._written = 0       # step rows in the file
        self._rows: list[StepRecord] = []  # steps kept for the next flush, not yet built
        self._pieces: list[_Piece] = []  # steps kept for the next flush, built (shared_columns)
        self._built = 0          # rows in _pieces
        self._tail: _Piece | None = None  # the last piece written, while shared_columns is used
        self._sharing = False    # shared_columns was called: keep _tail
        self._tests: list[tuple[int, float, float, float, np.ndarray]] = []
        self._tests_written = 0
        self._test_rows = TEST_CHUNK_ROWS
        self._t_flush = 0.0
        self._has_updates = False
        self._reserve: Any = None  # anonymous file holding CLOSE_RESERVE bytes
        self._block = 0          # most bytes one flush allocates (block_bytes)
        self._full: str = ""     # why the writer stopped taking rows (RunStorageError text)
        self._lost = 0           # buffered steps that could not be written
        self.discard_empty = bool(discard_empty)
        #: After `stop`: the file was removed (``discard_empty``: nothing was recorded).
        self.discarded = False

    @property
    def flushed_steps(self) -> int:
        """Number of step rows already written to the file (visible to SWMR readers)."""
        return self._written

    @property
    def buffered_steps(self) -> int:
        """Number of step rows waiting in memory for the next flush."""
        return self._built + len(self._rows)

    def shared_columns(self, rows: Sequence[StepRecord]) -> dict[str, np.ndarray] | None:
        """Every step column (`lab.runs.schema`) of ``rows``, built once for this writer
        and its caller, or None when this writer does not hold them all (the caller then
        builds its own with `lab.runs.schema.columns`).

        ``rows``: consecutive records the caller got, the last one the last this writer got
        (a second observer after the writer, the live `Batcher`, asking for its batch
        since its previous call). The records this writer holds and has not built yet
        become one piece of its next write block (one `columns` call for both); the
        arrays returned are that piece's (read-only: they go to the file as they are) or,
        when ``rows`` began in the block written last, a copy joining the two. Nothing
        here writes or flushes: the file, its blocks and its flush times are those of a
        writer nobody asks (memory: a built row is smaller than its record; one written
        piece is kept until the next call). Raises ValueError (and keeps the records) when
        a record does not fit the schema, as the next write would.
        """
        n = len(rows)
        if not n or self._f is None or self._stopped:
            return None
        self._sharing = True
        if self._rows:
            piece = _Piece(self._rows, self._schema)  # may raise: nothing changed yet
            self._pieces.append(piece)
            self._built += piece.n
            self._rows = []
        have = [*([self._tail] if self._tail is not None else []), *self._pieces]
        self._tail = None  # asked once: the caller has moved past it
        if not have or have[-1].last is not rows[-1]:
            return None
        count = 0
        for k in range(len(have) - 1, -1, -1):
            count += have[k].n
            if count >= n:
                if count > n or have[k].first is not rows[0]:
                    return None  # rows starts inside a piece, or is not ours
                return _joined(have[k:], self._schema.names)
        return None

    # -- Observer -----------------------------------------------------------------------

    def start(self, info: RunInfo) -> None:
        """Check the run fits (disk, file-size limit, memory), create the file with its
        whole layout, then switch to SWMR mode. Raises RunFileError (RunSpaceError when
        the run does not fit) with no file left behind."""
        if self._f is not None or self._stopped:
            raise RuntimeError(f"RunWriter for {self.path} was already started")
        path = self.path
        ignore_sigxfsz()
        problem = output_problem(path, create_dirs=True)  # not "exists" for these
        if problem is not None:
            raise RunFileError(f"{path}: cannot create run file: {problem}")
        check_fits(path, info, self.chunk_rows)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: never overwrite, race-free, and a clean OS reason when not writable.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            raise RunFileError(f"{path}: exists; {RUN_FILE_NEVER}") from None
        except OSError as exc:
            raise RunFileError(f"{path}: cannot create run file: {one_line(exc)}") from None
        try:
            self._reserve = hold_reserve(self.path.parent)
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
            if isinstance(exc, OSError | RuntimeError) and is_storage_error(exc):
                raise RunSpaceError(
                    f"{path}: no room to create the run file: {one_line(exc)}") from None
            raise
        self._f = f
        self._block = block_bytes(info, self.chunk_rows)
        self._step_chunk_bytes = self.chunk_rows * step_row_bytes(info)
        self._test_chunk_bytes = self._block - self._step_chunk_bytes - FLUSH_SLACK
        self._t_flush = monotonic()
        log.info("run file %s created", path)
    def _release_reserve(self) -> None:
        if self._reserve is not None:
            reserve, self._reserve = self._reserve, None
            try:
                reserve.close()
            except OSError:
                pass

    def _layout(self, f: h5py.File, info: RunInfo) -> None:
        """Create every attribute, group and dataset (SWMR forbids creating them later)."""
        task_arrays = task_datasets(info.task)
        a = f.attrs
        a["default"] = "entry"
        a["twinlab_schema"] = SCHEMA_VERSION
        a["twinlab_version"] = str(info.twinlab_version)
        a["start_time"] = str(info.start_time)
        a["end_time"] = ""
        a["complete"] = False
        a["task"] = str(info.task.get("name", ""))
        a["settings_json"] = to_json(info.settings)
        a["bench_json"] = to_json(info.bench)
        a["task_json"] = to_json({k: v for k, v in info.task.items() if k not in task_arrays})
        a["network_json"] = to_json(info.network)
        a["extra_json"] = to_json(info.extra)
        a["positions_estimated"] = bool(info.positions_estimated)
        a["codes"] = str(info.codes)
        a["codes_note"] = str(info.codes_note)
        a["currents_note"] = str(info.currents_note)
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
        self._pieces, self._built, self._tail = [], 0, None
        g["positions"].attrs["estimated"] = bool(info.positions_estimated)
        g["positions"].attrs["codes"] = str(info.codes)
        if info.codes == "estimated" and "update_mask" in g:
            g["update_mask"].attrs["estimated"] = True
            g["update_mask"].attrs["meaning"] = ESTIMATED_MASK
        for ds, name in sorted(self._columns, key=lambda col: col[1] != "positions"):
            long_name = schema.spec(name).long_name  # positions first: the layout's order
            if long_name is not None:
                ds.attrs["long_name"] = long_name

        t = entry.create_group("test")
        _nxdata(t)
        # Test rows are chunked in blocks of at most CHUNK_BYTES (a row of a big test set
        # is big: 256 rows x 1e6 examples x 2 outputs made one 4 GB chunk).
        trows, vchunk = chunking_of_tests(info, rows)
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
        if (len(rows) + self._built >= self.chunk_rows
                or monotonic() - self._t_flush >= self.flush_interval):
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

        steps = new_chunks(self._written, self.buffered_steps, self.chunk_rows)
        tests = new_chunks(self._tests_written, len(self._tests), self._test_rows)
        return (steps * self._step_chunk_bytes + tests * self._test_chunk_bytes
                + FLUSH_SLACK)
    def _give_up(self, why: str) -> None:
        """Take no more rows: remember why and raise RunStorageError (``stop`` closes)."""
        self._full = f"{self.path}: {why}"
        raise RunStorageError(self._full)

    def _flush(self, watch: bool = True) -> None:
        """Write the buffered rows and flush; then (``watch``) make sure the next flush and
        the close will fit, else raise RunStorageError."""
        if self._full:
            raise RunStorageError(self._full)
        if self.buffered_steps or self._tests:
            growth = self._growth()
            room, where = room_left(self.path)
            if growth > room:
                # The disk filled up behind our back (or the file-size limit was lowered):
                # writing now would leave HDF5 unable to close the file. Keep the file as
                # it is, with every earlier block, and drop this one.
                self._lost = self.buffered_steps
                self._give_up(
                    f"no room for the next block of rows ({mb(growth)}): {where}; run stopped "
                    f"with {self._written} steps in the file ({self._lost} steps not written)")
        try:
            self._write()
            self._f.flush()
        except (OSError, RuntimeError) as exc:
            if not is_storage_error(exc):
                raise
            self._release_reserve()  # HDF5 needs room to complete the flush when closing
            self._give_up(f"write failed: {storage_reason(exc)}; run stopped after "
                          f"{self._written} steps")
        self._t_flush = monotonic()
        if watch:
            room, where = room_left(self.path)
            if room < self._block:
                self._give_up(
                    f"disk nearly full: {where}; run stopped with all {self._written} steps "
                    f"in the file (the writer keeps {mb(self._block + CLOSE_RESERVE)} to "
                    "write a block and close the file)")

    def _write(self) -> None:
        if self._rows:
            piece = _Piece(self._rows, self._schema)
            self._pieces.append(piece)
            self._built += piece.n
            self._rows = []
        pieces = self._pieces
        if pieces:
            # Readers take the min length over datasets; ``step`` (fill -1) goes last.
            w0, n = self._written, self._built
            cols = _joined(pieces, self._schema.names)
            for ds, name in self._columns:
                _append(ds, w0, cols[name])
            self._written = w0 + n
            self._tail = pieces[-1] if self._sharing else None
            self._pieces, self._built = [], 0
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
            self._tail = None
            self._release_reserve()  # its bytes are the room to close the file
            try:
                f.close()
            except Exception as exc:
                error = error or exc
        if (self.discard_empty and not summary.complete and error is None
                and summary.steps == 0 and not self._full
                and self._written == 0 and self._tests_written == 0):
            self.path.unlink(missing_ok=True)
            self.discarded = True
            log.info("run file %s removed: the run ended before its first step (%s)",
                     self.path, summary.message)
            return
        message = str(summary.message)
        for extra in (self._full, str(error) if error is not None else ""):
            if extra and extra not in message:
                message = f"{message}; {extra}" if message else extra
        message = bounded_message(message)
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
                a["warnings"] = warnings_attr(summary.warnings)
                if summary.resyncs is not None:
                    a["resyncs"] = int(summary.resyncs)
        except (OSError, RuntimeError) as exc:
            raise RunFileError(
                f"{self.path}: cannot record end of run: {one_line(exc)}") from exc
        if error is not None:
            raise RunFileError(
                f"{self.path}: rows lost while closing: {one_line(error)}") from error
        log.info("run file %s closed: %d steps, %s", self.path, self._written,
                 "complete" if summary.complete else "incomplete")


def bounded_message(message: str, limit: int = MESSAGE_MAX) -> str:
    """``message`` as stored in a run file: itself up to ``limit`` characters, else its
    start, cut at a word, with ``" ... (N more characters; all of it in the debug log,
    -vv)"``, at most ``limit`` characters in all; the whole is logged at debug level."""
    if len(message) <= limit:
        return message
    log.debug("run message in full: %s", message)

    def note(more: int) -> str:
        return f" ... ({more} more characters; all of it in the debug log, -vv)"

    head = message[: max(0, limit - len(note(len(message))))]
    cut = head.rfind(" ")
    if cut > len(head) // 2:
        head = head[:cut]
    return head + note(len(message) - len(head))
