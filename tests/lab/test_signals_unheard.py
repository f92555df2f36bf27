"""A stop signal whose `Interrupted` is dropped (raised inside a C callback, as numba's
JIT makes Python code run) still stops the work: the next `stop_signals` block raises."""

from __future__ import annotations

import ctypes
import os
import signal

import pytest

from lab.signals import Interrupted, stop_signals

CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int)


def _signal_inside_a_callback(signum: int) -> None:
    """Send ``signum`` to this process from inside a ctypes callback and spin there until
    Python has run its handler; the handler's exception dies with the callback."""
    ran = []

    def body() -> int:
        os.kill(os.getpid(), signum)
        for _ in range(100_000):  # the handler runs at one of these bytecodes
            ran.append(1)
        return 0

    ctypes.cast(CALLBACK(body), CALLBACK)()  # a C caller: exceptions do not pass it


#: Python reports the dropped exception through sys.unraisablehook (pytest: a warning)
DROPPED = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@DROPPED
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_dropped_in_a_c_callback_stops_the_next_block(signum):
    with stop_signals() as received:  # the CLI's start-up block (`lab.cli.main`)
        _signal_inside_a_callback(signum)  # its Interrupted dies in the callback
        assert received == [signum]  # the work went on past the signal: dropped
        with pytest.raises(Interrupted) as caught, stop_signals(lambda s: None):
            pytest.fail("the command's own block must not start its work")
    assert caught.value.signum == signum


@DROPPED
def test_a_later_block_is_not_stopped_by_an_earlier_command_s_signal():
    with stop_signals():
        _signal_inside_a_callback(signal.SIGINT)
    with stop_signals(), stop_signals(lambda s: None) as received:  # the next command
        assert received == []
