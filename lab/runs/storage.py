"""Disk and memory bounds of a run file: estimates before a run, the headroom kept during it.

Before a run starts, :meth:`RunWriter.start` refuses (with
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

Pure Python and numpy (no h5py). The errors are `lab.runs.errors.RunSpaceError` (before a
run) and `lab.runs.errors.RunStorageError` (during it).
"""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lab.errors import one_line
from lab.runs.errors import RunSpaceError
from lab.runs.layout import CHUNK_ROWS, chunking_of_tests, task_datasets, to_json
from lab.runs.schema import StepSchema

if TYPE_CHECKING:
    from lab.acquire.records import RunInfo

try:
    import resource
except ImportError:  # not on POSIX: no file-size limit to watch
    resource = None  # type: ignore[assignment]

__all__ = [
    "CLOSE_RESERVE",
    "FLUSH_SLACK",
    "block_bytes",
    "check_fits",
    "estimate_bytes",
    "estimate_memory",
    "free_bytes",
    "fsize_limit",
    "headroom_bytes",
    "hold_reserve",
    "ignore_sigxfsz",
    "is_storage_error",
    "mb",
    "room_left",
    "step_row_bytes",
    "storage_reason",
]

CLOSE_RESERVE = 64 << 10
"""Bytes kept free to close a run file (measured: 4.2 kB; see the module docstring)."""

FLUSH_SLACK = 64 << 10
"""Bytes a flush may add besides whole chunks (index, headers; measured <= 2 kB)."""

_LAYOUT_BYTES = 64 << 10  # an empty run file: 16 kB measured, plus attribute text
_CHUNK_META = 512  # index bytes per allocated chunk (measured ~210)
_RECORD_BYTES = 1024  # a buffered StepRecord and its array objects besides their data


def mb(n: float) -> str:
    """A size in bytes for a message: MB, or GB from 10 GB up."""
    return f"{n / 1e9:.1f} GB" if abs(n) >= 1e10 else f"{n / 1e6:.2f} MB"


def is_storage_error(exc: BaseException) -> bool:
    """True for ENOSPC/EFBIG/EDQUOT, raised by the OS or wrapped in an HDF5 error text."""
    codes = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    if isinstance(exc, OSError) and exc.errno in codes:
        return True
    text = str(exc)
    return any(f"errno = {c}," in text for c in codes) or any(
        os.strerror(c) in text for c in codes)


def storage_reason(exc: BaseException) -> str:
    """The OS reason of a storage error, short (HDF5 texts are many lines long)."""
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return exc.strerror
    for code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        if f"errno = {code}," in str(exc) or os.strerror(code) in str(exc):
            return os.strerror(code)
    return one_line(exc)


def existing_dir(path: Path) -> Path:
    """``path``'s nearest existing ancestor directory (where statvfs can look)."""
    d = path.parent.absolute()
    while not d.is_dir() and d != d.parent:
        d = d.parent
    return d


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on ``directory``'s filesystem."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def fsize_limit() -> int | None:
    """The process's file-size limit (RLIMIT_FSIZE, soft) in bytes, or None if unlimited."""
    if resource is None:
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def mem_available() -> int | None:
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


def step_row_bytes(info: RunInfo) -> int:
    """Bytes of one step row over all step datasets."""
    return StepSchema.of(info).row_bytes


def block_bytes(info: RunInfo, chunk_rows: int) -> int:
    """Most bytes one flush allocates: one chunk of every step and test dataset + slack."""
    trows, vchunk = chunking_of_tests(info, chunk_rows)
    n_v = -(-max(int(info.n_test), 1) // vchunk[1])  # v_free chunks per row block
    test = 4 * 8 * trows + n_v * 8 * vchunk[0] * vchunk[1] * vchunk[2]
    return chunk_rows * step_row_bytes(info) + test + FLUSH_SLACK


def headroom_bytes(info: RunInfo, chunk_rows: int = CHUNK_ROWS) -> int:
    """Bytes the writer keeps free during a run: the next flush plus CLOSE_RESERVE."""
    return block_bytes(info, chunk_rows) + CLOSE_RESERVE


def planned_steps(info: RunInfo) -> int | None:
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
        steps = planned_steps(info) or 0
    tests = _test_rows(info, steps)
    attrs = sum(len(to_json(x)) for x in (info.settings, info.bench, info.network, info.extra))
    task = task_datasets(info.task)
    small = {k: v for k, v in info.task.items() if k not in task}
    data = sum(a.nbytes for a in task.values()) + len(to_json(small)) + attrs
    step_chunks = -(-int(steps) // chunk_rows)
    trows, vchunk = chunking_of_tests(info, chunk_rows)
    test_chunks = -(-int(tests) // trows)
    n_v = -(-max(int(info.n_test), 1) // vchunk[1])
    test_chunk_bytes = 4 * 8 * trows + n_v * 8 * vchunk[0] * vchunk[1] * vchunk[2]
    n_step_ds = len(StepSchema.of(info).names)
    meta = _CHUNK_META * (n_step_ds * step_chunks + (4 + n_v) * test_chunks)
    return (_LAYOUT_BYTES + data + step_chunks * chunk_rows * step_row_bytes(info)
            + test_chunks * test_chunk_bytes + meta + CLOSE_RESERVE)


def estimate_memory(info: RunInfo, chunk_rows: int = CHUNK_ROWS) -> int:
    """Most bytes the writer buffers in memory: ``chunk_rows`` step records (with their
    arrays) and one block of test rows. It does not depend on the number of steps."""
    ne, no = int(info.n_edges), int(info.n_outputs)
    record = _RECORD_BYTES + step_row_bytes(info) + 8 * 2 * no + 2 * ne
    trows, _ = chunking_of_tests(info, chunk_rows)
    return chunk_rows * record + (trows + 1) * 8 * (max(int(info.n_test), 1) * max(no, 1) + 4)


def check_fits(path: Path, info: RunInfo, chunk_rows: int) -> None:
    """Refuse (RunSpaceError) a run whose file ``path`` (plus headroom) or buffers do not fit."""
    where = existing_dir(path)
    steps = planned_steps(info) or 0
    need = estimate_bytes(info, steps, chunk_rows)
    keep = block_bytes(info, chunk_rows)
    try:
        free = free_bytes(where)
    except OSError:
        free = None  # no statvfs here: the running checks will tell
    advice = "use fewer --steps (or --test-every less often) or another --out"
    if free is not None and need + keep > free:
        raise RunSpaceError(
            f"{path}: a run of {steps} steps needs about {mb(need + keep)} "
            f"({mb(need)} of file, {mb(keep)} headroom) but {where} has {mb(free)} "
            f"free; {advice}")
    limit = fsize_limit()
    if limit is not None and need + keep > limit:
        raise RunSpaceError(
            f"{path}: a run of {steps} steps needs a file of about {mb(need + keep)} "
            f"but the file-size limit (ulimit -f) is {mb(limit)}; {advice}")
    memory, avail = estimate_memory(info, chunk_rows), mem_available()
    if avail is not None and memory > avail:
        raise RunSpaceError(
            f"{path}: the run's write buffers need about {mb(memory)} of memory but "
            f"only {mb(avail)} is available")


def hold_reserve(directory: Path) -> Any:
    """An anonymous file of CLOSE_RESERVE bytes in ``directory`` (the run file's; close it
    to free the bytes)."""
    reserve = tempfile.TemporaryFile(dir=directory, prefix=".twinlab-reserve-")
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


def room_left(path: Path) -> tuple[int, str]:
    """(Bytes the run file ``path`` may still grow by, besides the close reserve; what
    limits it)."""
    room, where = 1 << 62, "no limit"
    try:
        free = free_bytes(path.parent)
        room, where = free, f"{mb(free)} free on {path.parent}"
    except OSError:
        pass
    limit = fsize_limit()
    if limit is not None:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if limit - size - CLOSE_RESERVE < room:
            room = limit - size - CLOSE_RESERVE
            where = (f"{mb(max(limit - size, 0))} left under the file-size limit "
                     f"(ulimit -f) of {mb(limit)}")
    return room, where
