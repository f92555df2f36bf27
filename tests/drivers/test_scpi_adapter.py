"""The adapter seam under the SCPI instrument: the in-memory protocol adapter checks every
message exactly, the stale-session rule resyncs after a cut-short exchange, and the
counting wrapper counts without changing what goes over the wire."""

from __future__ import annotations

import pytest

from drivers.scpi.adapter import TIMEOUT, CountingAdapter, ProtocolAdapter
from drivers.scpi.daq import ScpiDAQ
from drivers.scpi.dialects import TWINLAB_EMULATOR
from drivers.scpi.instrument import ScpiInstrument
from lab.hal import BenchError

OK = '0,"No error"'


def daq_on(pairs: list, **kw) -> tuple[ScpiDAQ, ProtocolAdapter]:
    adapter = ProtocolAdapter(pairs, timeout_ms=kw.pop("timeout_ms", 500))
    return ScpiDAQ(adapter, verify=False, **kw), adapter


def test_a_different_message_fails_at_once_naming_both() -> None:
    daq, adapter = daq_on([("SOUR:VOLT 1.0,(@1);:SYST:ERR?", OK)])
    with pytest.raises(AssertionError, match=r"expected 'SOUR:VOLT 1\.0,\(@1\);:SYST:ERR\?'"):
        daq.write(("1",), [2.0])
    assert adapter.sent == ["SOUR:VOLT 2.0,(@1);:SYST:ERR?"]


def test_an_extra_message_and_a_missing_one_fail() -> None:
    daq, adapter = daq_on([("OUTP:STAT OFF,(@1);:SYST:ERR?", OK), ("*CLS", None)])
    daq.release(("1",))
    with pytest.raises(AssertionError, match="1 expected messages never came, first"):
        adapter.assert_done()
    daq.inst.write("*CLS")
    adapter.assert_done()
    with pytest.raises(AssertionError, match="unexpected extra message '\\*CLS'"):
        daq.inst.write("*CLS")


def test_a_write_where_a_query_is_expected_fails() -> None:
    inst = ScpiInstrument(ProtocolAdapter([("*IDN?", "x"), ("*RST", None)]), TWINLAB_EMULATOR)
    with pytest.raises(AssertionError, match="written but has a reply"):
        inst.write("*IDN?")
    inst = ScpiInstrument(ProtocolAdapter([("*RST", None)]), TWINLAB_EMULATOR)
    with pytest.raises(AssertionError, match="queried but the protocol has no reply"):
        inst.query("*RST")
    with pytest.raises(ValueError, match="not both None"):
        ProtocolAdapter([(None, None)])


def test_the_instruments_name_is_in_the_adapters_errors() -> None:
    daq, _ = daq_on([("MEAS:VOLT:DC? (@2001);:SYST:ERR?", TIMEOUT)], name="bench DAQ")
    with pytest.raises(BenchError) as info:
        daq.read(("2001",))
    assert str(info.value) == (
        "bench DAQ (PROTOCOL::INSTR): timed out after 500 ms waiting for reply to "
        "'MEAS:VOLT:DC? (@2001);:SYST:ERR?'"
    )


def test_a_cut_short_exchange_is_resynced_before_the_next_message() -> None:
    """Ctrl-C mid-query: the late reply is still on the wire, so the next message must
    come on a resynchronised session (the protocol adapter fails the test otherwise)."""
    adapter = ProtocolAdapter([("SLOW?", KeyboardInterrupt()), ("FAST?", "fast")])
    inst = ScpiInstrument(adapter, TWINLAB_EMULATOR)
    with pytest.raises(KeyboardInterrupt):
        inst.query("SLOW?")
    assert adapter.stale and adapter.resyncs == 0
    assert inst.query("FAST?") == "fast"
    assert adapter.resyncs == 1 and not adapter.stale
    adapter.assert_done()


def test_the_protocol_adapter_catches_a_message_without_resync() -> None:
    """The check the test above relies on: bypassing the rule is caught."""
    adapter = ProtocolAdapter([("SLOW?", TIMEOUT), ("FAST?", "fast")])
    with pytest.raises(BenchError, match="timed out"):
        adapter.query("SLOW?")
    with pytest.raises(AssertionError, match="without a resync: the late reply would answer"):
        adapter._query("FAST?")  # the transport directly, skipping the stale-session rule


def test_closed_adapter_refuses_messages() -> None:
    adapter = ProtocolAdapter([])
    inst = ScpiInstrument(adapter, TWINLAB_EMULATOR, name="DAQ")
    inst.close()
    inst.close()
    with pytest.raises(BenchError, match=r"^DAQ \(PROTOCOL::INSTR\): closed$"):
        inst.query("*IDN?")


def test_counting_adapter_counts_and_keeps_the_inner_rule() -> None:
    inner = ProtocolAdapter(
        [
            ("SOUR:VOLT 1.0,(@1);:SYST:ERR?", OK),
            ("*CLS", None),
            ("MEAS:VOLT:DC? (@2001);:SYST:ERR?", TIMEOUT),
            ("MEAS:VOLT:DC? (@2001);:SYST:ERR?", f"0.5;{OK}"),
        ]
    )
    daq = ScpiDAQ(inner, verify=False, name="bench DAQ")
    counted = CountingAdapter(daq.inst.adapter)
    daq.inst.adapter = counted
    daq.write(("1",), [1.0])
    daq.inst.write("*CLS")
    with pytest.raises(BenchError, match=r"bench DAQ .* timed out"):
        daq.read(("2001",))
    assert daq.read(("2001",)).tolist() == [0.5]
    assert (counted.messages, counted.queries) == (4, 3)
    assert counted.seconds > 0.0
    assert inner.resyncs == 1
    inner.assert_done()
    daq.close()
    assert inner.closed
