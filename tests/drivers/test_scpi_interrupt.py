"""An exchange cut short by Ctrl-C (or SIGTERM/SIGHUP, which raise the same way) must not
leave its late reply to answer the next query: the safe state that follows the
interrupt has to read its own replies."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

pytest.importorskip("pyvisa")

from drivers.scpi.adapter import ProtocolAdapter
from drivers.scpi.dialects import TWINLAB_EMULATOR
from drivers.scpi.instrument import ScpiInstrument
from lab.emulator.wire.lineserver import LineServer


def echo(line: str) -> str:
    """``echo:<line>``, after 0.5 s for lines starting SLOW."""
    if line.startswith("SLOW"):
        time.sleep(0.5)
    return f"echo:{line}"


def test_query_interrupted_mid_exchange_does_not_answer_the_next_one() -> None:
    server = LineServer(echo, name="echo").start()
    inst = ScpiInstrument(server.resource, TWINLAB_EMULATOR, timeout_ms=3000)
    try:
        timer = threading.Timer(0.1, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            inst.query("SLOW?")
        timer.join()
        time.sleep(0.6)  # the late reply to SLOW? has arrived by now
        assert inst.query("FAST?") == "echo:FAST?"
    finally:
        inst.close()
        server.close()


def test_interrupted_query_in_memory_resyncs_before_the_next_one() -> None:
    """The same rule without a socket: the protocol adapter fails the test if the next
    query went out on the session the interrupted one left behind."""
    adapter = ProtocolAdapter([("SLOW?", KeyboardInterrupt()), ("FAST?", "echo:FAST?")])
    inst = ScpiInstrument(adapter, TWINLAB_EMULATOR)
    with pytest.raises(KeyboardInterrupt):
        inst.query("SLOW?")
    assert inst.query("FAST?") == "echo:FAST?"
    assert adapter.resyncs == 1
    adapter.assert_done()
