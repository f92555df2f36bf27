"""Child processes that die with their parent: the one place twinlab starts processes.

A lab controller must not leave helpers behind when it is killed (SIGKILL, OOM killer,
a crashed terminal): an orphaned simulator or worker pool keeps a pty, a port, CPU
cores and memory until someone finds it. Every process the project starts goes
through this module, in one of two ways.

**External programs** (twin_sim, ngspice, make): `popen` and `run`, drop-ins for
`subprocess.Popen` and `subprocess.run`. On Linux the child calls
``prctl(PR_SET_PDEATHSIG, death_signal)`` between fork and exec (through ctypes, in
``preexec_fn``) and, if the parent had already gone before that call, sends itself the
signal at once. The kernel delivers the signal when the **thread** that forked the child
ends, not the process, so the fork never happens on the caller's thread (which may be a
short-lived worker): it happens on one long-lived daemon thread of this module (the
launcher), which ends only with the process. The signal survives exec but not fork:
grandchildren (the compilers under ``make``) are not covered; ``make`` gets SIGTERM
and removes its half-built targets, a compiler finishes its one file.

**Python children** (multiprocessing, ``spawn``: the sweep's pool workers, the live
window's training process): the child calls `die_with_parent` first. A daemon thread
waits on the parent's sentinel (`multiprocessing.parent_process`: a pipe whose write end
only the parent holds; it reads end-of-file the moment the parent is gone, whatever the
platform, whichever thread started the child) and then runs ``on_death``, by default
``os.kill(own pid, signum)``. On Linux, `die_with_parent` also sets the parent-death
signal (``pdeathsig=True``), which works even while the child's interpreter is busy;
the parent must then start the child from a thread that lives as long as the child (a
`ProcessPoolExecutor` forks its workers on the submitting thread or its manager thread,
both of which outlive the pool). A child that must stop cleanly (the training process:
safe state, run file closed) passes its own ``on_death`` and ``pdeathsig=False``.

Elsewhere (macOS, Windows) there is no parent-death signal: Python children still have
the sentinel thread; external programs are started normally and end when they next
write to a pipe nobody reads (twin_sim, ngspice) or finish (make).

Only the standard library (os, signal, ctypes, subprocess, threading, multiprocessing).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = [
    "PDEATHSIG_SUPPORTED",
    "die_with_parent",
    "freeze_imported",
    "parent_death_signal",
    "popen",
    "run",
    "start_resource_tracker",
]

T = TypeVar("T")

_PR_SET_PDEATHSIG, _PR_GET_PDEATHSIG = 1, 2


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]  # fmt: skip
    prctl.restype = ctypes.c_int
    return prctl


#: libc's prctl, resolved once in the parent (a forked child only calls it)
_prctl = _load_prctl()
#: True where the kernel offers a parent-death signal (Linux)
PDEATHSIG_SUPPORTED = _prctl is not None


def parent_death_signal() -> int:
    """The calling process's parent-death signal (0: none or unsupported)."""
    if _prctl is None:
        return 0
    sig = ctypes.c_int(0)
    if _prctl(_PR_GET_PDEATHSIG, ctypes.cast(ctypes.byref(sig), ctypes.c_void_p).value,
              0, 0, 0) != 0:  # fmt: skip
        return 0
    return sig.value


def _set_pdeathsig(signum: int, parent: int) -> None:
    """In a child: die by ``signum`` when ``parent`` (pid) goes, or now if it is gone."""
    if _prctl is None:
        return
    _prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl: nobody will signal us
        os.kill(os.getpid(), signum)


# -- the launcher thread: forks happen on a thread that lives as long as the process --------
class _Launcher:
    """One daemon thread that runs jobs (forks) for any caller and hands back the result."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = -1
        self._guard = threading.Lock()

    def _ensure(self) -> None:
        with self._guard:
            if self._thread is None or self._pid != os.getpid():  # (re)start after a fork
                self._jobs = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._serve, name="twinlab-launcher",
                                                daemon=True)  # fmt: skip
                self._thread.start()
                self._pid = os.getpid()

    def _serve(self) -> None:
        jobs = self._jobs
        while True:
            jobs.get()()

    def call(self, fn: Callable[[], T], undo: Callable[[T], None] | None = None) -> T:
        """``fn()`` on the launcher thread; its result or exception. If the caller is
        interrupted (Ctrl-C) while waiting, it still waits for ``fn`` to finish, passes
        the result to ``undo`` (e.g. kill the child just started), and re-raises."""
        if threading.current_thread() is self._thread:
            return fn()
        self._ensure()
        done = threading.Event()
        box: dict[str, Any] = {}

        def job() -> None:
            try:
                box["result"] = fn()
            except BaseException as exc:  # handed to the caller
                box["error"] = exc
            finally:
                done.set()

        self._jobs.put(job)
        interrupted: BaseException | None = None
        while True:
            try:
                done.wait()
                break
            except BaseException as exc:  # a signal's exception: finish the fork first
                interrupted = interrupted or exc
        if "error" in box:
            raise box["error"]
        if interrupted is not None:
            if undo is not None:
                undo(box["result"])
            raise interrupted
        return box["result"]


_LAUNCHER = _Launcher()


def _kill_and_reap(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(5.0)


def popen(
    args: Sequence[str | os.PathLike[str]] | str,
    *,
    death_signal: int = signal.SIGKILL,
    **kwargs: Any,
) -> subprocess.Popen[Any]:
    """`subprocess.Popen` whose child gets ``death_signal`` when this process ends (Linux;
    see the module doc). ``preexec_fn`` is taken by this function."""
    if "preexec_fn" in kwargs:
        raise TypeError("lab.procs.popen sets preexec_fn itself")
    if _prctl is not None:
        kwargs["preexec_fn"] = _preexec(int(death_signal), os.getpid())
    return _LAUNCHER.call(lambda: subprocess.Popen(args, **kwargs), undo=_kill_and_reap)


def _preexec(signum: int, parent: int) -> Callable[[], None]:
    def set_in_child() -> None:  # runs between fork and exec: nothing but two syscalls
        _set_pdeathsig(signum, parent)

    return set_in_child


def run(
    args: Sequence[str | os.PathLike[str]] | str,
    *,
    input: Any = None,  # subprocess.run's name
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    death_signal: int = signal.SIGKILL,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run` through `popen` (same arguments, plus ``death_signal``). On a
    timeout or an interruption (Ctrl-C, a signal's exception) the child is killed and
    reaped before the exception propagates."""
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with popen(args, death_signal=death_signal, **kwargs) as proc:
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except BaseException:
            _kill_and_reap(proc)
            raise
        code = proc.poll()
    assert code is not None
    if check and code:
        raise subprocess.CalledProcessError(code, proc.args, stdout, stderr)
    return subprocess.CompletedProcess(proc.args, code, stdout, stderr)


# -- the child's side ------------------------------------------------------------------------
def _own_signal(signum: int) -> Callable[[], None]:
    def die() -> None:
        os.kill(os.getpid(), signum)
        time.sleep(1.0)  # a caught signal (SIGTERM handler) gets its chance; then for sure
        os._exit(128 + signum)

    return die


def die_with_parent(
    on_death: Callable[[], None] | None = None,
    *,
    signum: int = signal.SIGKILL,
    pdeathsig: bool = True,
    poll: float = 0.5,
) -> threading.Thread:
    """In a child process: act when the parent is gone. Call it first in the child.

    ``on_death`` (default: send ourselves ``signum``) runs once, on a daemon thread, as
    soon as the parent's sentinel reads end-of-file (a multiprocessing child), or, for
    any other child, when ``os.getppid()`` changes (checked every ``poll`` s).
    ``pdeathsig``: on Linux also have the kernel send ``signum`` (see the module doc for
    which thread the parent must start us from). Returns the watcher thread."""
    parent = mp.parent_process()
    ppid = parent.pid if parent is not None and parent.pid is not None else os.getppid()
    if pdeathsig:
        _set_pdeathsig(signum, ppid)
    action = on_death if on_death is not None else _own_signal(signum)

    def watch() -> None:
        if parent is not None and getattr(parent, "sentinel", None) is not None:
            from multiprocessing.connection import wait

            while not wait([parent.sentinel]):  # blocks until the parent's end closes
                pass
        else:
            while os.getppid() == ppid:
                time.sleep(poll)
        action()

    thread = threading.Thread(target=watch, name="twinlab-parent-watch", daemon=True)
    thread.start()
    return thread


def freeze_imported() -> None:
    """Collect once, then `gc.freeze` every object alive now: for an entry point (a
    command, the live training process, the window) once its imports are done, never for
    library code (a process-wide setting).

    A training loop allocates small objects at a high rate; without this the cyclic
    collector keeps walking the ~1e5 long-lived objects numpy, numba, h5py (and Qt,
    pyqtgraph) made at import: ~12 us per training step, and full passes that stall a
    window frame by ~80 ms. Frozen objects are left out of its walks; objects made later
    are collected as usual."""
    gc.collect()
    gc.freeze()


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now (once), with SIGHUP ignored: it
    ignores SIGINT and SIGTERM itself, but the SIGHUP a closed terminal sends the whole
    process group killed it, and its relaunch printed tracebacks and could leave the live
    run's semaphores behind. Only from the main thread (signal dispositions are set
    there); elsewhere multiprocessing starts it as usual."""
    from multiprocessing import resource_tracker

    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
    finally:
        signal.signal(signal.SIGHUP, previous)
