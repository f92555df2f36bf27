"""Termination signals: Ctrl-C (SIGINT), SIGTERM and SIGHUP end work the same way.

Closing the terminal (SIGHUP), an ssh drop, ``timeout`` or a batch scheduler (SIGTERM)
must leave a bench exactly as Ctrl-C does: stop between two steps, every output in its
safe state, the run file closed (incomplete, with an end time and a message naming the
signal), exit status 128 + the signal number.

`stop_signals` installs one handler for all three. With a ``graceful`` callback (the
training loop's `request_stop`, run in a thread of its own), the first signal only asks
the work to stop at its next step boundary and a second one raises `Interrupted` at
once (for a loop stuck inside an instrument call); without one, the first signal raises
`Interrupted`. `Interrupted` is a
`KeyboardInterrupt`, so every ``finally`` (safe state, file close) runs and code that
already handles Ctrl-C handles the other two signals unchanged.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

__all__ = [
    "STOP_SIGNALS",
    "Interrupted",
    "exit_status",
    "interrupt_name",
    "interrupted_by",
    "interrupted_status",
    "signal_name",
    "stop_signals",
]

#: The signals that mean "stop and leave everything safe".
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, etc.; Ctrl-C reads ``"Ctrl-C (SIGINT)"``."""
    name = signal.Signals(signum).name
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else name


def interrupted_by(signum: int) -> str:
    """``"interrupted by SIGTERM"``: the reason a run stopped by signal ``signum`` gives
    (`Trainer.request_stop`; its run file's message and the terminal's line start so)."""
    return f"interrupted by {signal_name(signum)}"


def exit_status(signum: int) -> int:
    """The shell's convention for a process ended by signal ``signum``: 128 + signum."""
    return 128 + int(signum)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGINT, SIGTERM or SIGHUP (see `stop_signals`)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = int(signum)

    @property
    def status(self) -> int:
        """Exit status for this signal (128 + signum)."""
        return exit_status(self.signum)


def interrupt_name(exc: KeyboardInterrupt) -> str:
    """What interrupted: ``"SIGTERM"`` etc. for `Interrupted`, Ctrl-C for a bare one."""
    return str(exc) if isinstance(exc, Interrupted) else signal_name(signal.SIGINT)


def interrupted_status(exc: KeyboardInterrupt) -> int:
    """Exit status of an interrupt: its signal's for `Interrupted`, 130 for a bare Ctrl-C."""
    return exc.status if isinstance(exc, Interrupted) else exit_status(signal.SIGINT)


#: The signals whose `Interrupted` a handler raised within the outermost `stop_signals`
#: block. Python runs a handler at the main thread's next bytecode, which may be inside a
#: C callback (numba's JIT calls back into Python while it compiles), and there the
#: exception is printed ("Exception ignored on calling ctypes callback function") and
#: dropped: the work would go on as if no signal had come. A nested block (a command's
#: own handlers, installed before it applies anything) therefore raises at its entry.
_raised: list[int] = []
_depth: list[bool] = []  # open `stop_signals` blocks of the main thread


@contextlib.contextmanager
def stop_signals(graceful: Callable[[int], None] | None = None) -> Iterator[list[int]]:
    """Within the block, SIGINT/SIGTERM/SIGHUP stop the work (see the module doc).

    Yields the list of signals received so far (first one first). The previous handlers
    come back on exit. Outside the main thread (where Python cannot install handlers)
    this does nothing: the main thread's handlers are in charge.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    outermost = not _depth
    if outermost:
        _raised.clear()
    elif _raised:  # an enclosing block's raise went unheard (see `_raised`): heed it now
        raise Interrupted(_raised[0])

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if graceful is not None and len(received) == 1:
            # in a thread of its own: the main thread may hold a lock that the callback
            # needs (an Event's, say) at the very moment the signal interrupted it
            threading.Thread(target=graceful, args=(signum,), name="twinlab-stop").start()
            return
        _raised.append(signum)
        raise Interrupted(signum)

    previous = {}
    _depth.append(True)
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, handler)
        yield received
    finally:
        _depth.pop()
        for sig, old in previous.items():
            signal.signal(sig, old)
        if outermost:
            _raised.clear()
