"""The SCPI DAQ driver against expected transcripts.

Every test replays an exact command/response transcript and checks every pair was
consumed: in memory (`tests.drivers.transcript.MemoryTranscript`, a `ProtocolAdapter`),
and, for the tests parametrized on ``wire``, also over a loopback socket through the
real PyVISA stack (`TranscriptServer`: pyvisa-py, the integration tests).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from drivers.scpi.adapter import TIMEOUT
from drivers.scpi.daq import ScpiBias, ScpiDAQ, ScpiProbe
from drivers.scpi.dialects import DIALECTS, KEYSIGHT_DAQ970A, TWINLAB_EMULATOR
from drivers.scpi.instrument import ScpiError
from lab.hal import DAQ, BenchError, BiasSource, LimitError, ResistanceProbe
from tests.drivers.transcript import MemoryTranscript, Pairs, TranscriptServer

Transcript = MemoryTranscript | TranscriptServer

IDN = "twinlab,EmulatedDAQ,0,1.0"
OK = '0,"No error"'
OPEN = [("*CLS", None), ("*IDN?", IDN)]
KEYSIGHT_IDN = "Keysight Technologies,DAQ970A,MY58001234,A.03.01-01.00-03.01-00.02-01-00"
KEYSIGHT_OPEN = [("*CLS", None), ("*IDN?", KEYSIGHT_IDN)]


@pytest.fixture
def make() -> Iterator:
    """``make(pairs, wire="memory"|"socket", timeout_ms=500)``: a transcript, closed after
    the test."""
    made: list[Transcript] = []

    def factory(pairs: Pairs, wire: str = "memory", timeout_ms: int = 500) -> Transcript:
        cls = MemoryTranscript if wire == "memory" else TranscriptServer
        made.append(cls(pairs, timeout_ms=timeout_ms))
        return made[-1]

    yield factory
    for t in made:
        t.close()


def open_daq(transcript: Transcript, **kw) -> ScpiDAQ:
    """The DAQ on ``transcript`` (its timeout applies)."""
    return ScpiDAQ(transcript.target, timeout_ms=transcript.timeout_ms, **kw)


WIRES = pytest.mark.parametrize("wire", ["memory", "socket"])


def free_port() -> int:
    """A port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_implements_the_hal_protocols(make) -> None:
    server = make(OPEN)
    daq = open_daq(server)
    assert isinstance(daq, DAQ)
    assert isinstance(ScpiBias(daq), BiasSource)
    probe = ScpiProbe(daq)
    assert isinstance(probe, ResistanceProbe) and probe.estimated is False
    daq.close()
    server.assert_done()


def test_identify_matches(make) -> None:
    server = make([*OPEN, ("*IDN?", IDN)])
    daq = open_daq(server)
    assert daq.identify() == IDN
    daq.close()
    server.assert_done()


def test_identify_mismatch_is_refused_on_open(make) -> None:
    server = make([("*CLS", None), ("*IDN?", KEYSIGHT_IDN)])
    with pytest.raises(BenchError, match="not a 'twinlab-emulator' instrument") as info:
        open_daq(server, name="bench DAQ")
    assert "bench DAQ" in str(info.value) and KEYSIGHT_IDN in str(info.value)
    assert "\n" not in str(info.value)
    server.assert_done()


@WIRES
def test_write_is_one_checked_message_with_exact_numbers(make, wire) -> None:
    v = 0.1 + 0.2  # 0.30000000000000004: needs all 17 digits to round-trip
    server = make(
        [*OPEN, ("SOUR:VOLT 1.0,0.30000000000000004,-1e-05,(@1,9,1005);:SYST:ERR?", OK)],
        wire,
    )
    daq = open_daq(server, limits={"1": (-1.0, 6.0)})
    daq.write(("1", "9", "1005"), np.array([1.0, v, -1e-5]))
    server.assert_done()


@WIRES
def test_instrument_error_raises_naming_instrument_command_and_error(make, wire) -> None:
    err = '-222,"Data out of range; channel 5: 9.5 V"'
    server = make(
        [
            *OPEN,
            ("SOUR:VOLT 9.5,(@5);:SYST:ERR?", err),
            ("SYST:ERR?", '-221,"Settings conflict"'),  # the rest of the queue is read out
            ("SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@5);:SYST:ERR?", OK),  # and the next command is clean
        ],
        wire,
    )
    daq = open_daq(server, name="bench DAQ")
    with pytest.raises(ScpiError) as info:
        daq.write(["5"], np.array([9.5]))
    msg = str(info.value)
    assert msg.startswith(f"bench DAQ ({server.resource}): SOUR:VOLT 9.5,(@5) -> instrument error")
    assert err in msg and "-221" in msg and "\n" not in msg
    assert isinstance(info.value, BenchError)
    daq.release(["5"])
    server.assert_done()


@WIRES
def test_read_multi_channel_is_one_query(make, wire) -> None:
    server = make(
        [
            *OPEN,
            (
                "MEAS:VOLT:DC? (@2005,2009,3005);:SYST:ERR?",
                f"0.5,-1.25e-05,3.0000000000000004;{OK}",
            ),
        ],
        wire,
    )
    daq = open_daq(server)
    out = daq.read(("2005", "2009", "3005"))
    assert out.dtype == np.float64
    assert out.tolist() == [0.5, -1.25e-05, 3.0000000000000004]  # bit-exact
    server.assert_done()


def test_failed_measurement_raises_instead_of_timing_out(make) -> None:
    """A failed query has no answer of its own; the error check answers for it."""
    server = make(
        [
            *OPEN,
            (
                "MEAS:VOLT:DC? (@5);:SYST:ERR?",
                '-221,"Settings conflict; channel 5 is not an input"',
            ),
            ("SYST:ERR?", OK),
        ],
    )
    daq = open_daq(server)
    with pytest.raises(ScpiError, match="-221"):
        daq.read(("5",))
    server.assert_done()


def test_short_reply_is_an_error(make) -> None:
    server = make([*OPEN, ("MEAS:VOLT:DC? (@2001,2002);:SYST:ERR?", f"0.5;{OK}")])
    daq = open_daq(server)
    with pytest.raises(BenchError, match="1 values for 2 channels"):
        daq.read(("2001", "2002"))
    server.assert_done()


def test_release_and_enable(make) -> None:
    server = make(
        [
            *OPEN,
            ("OUTP:STAT OFF,(@1005,1009);:SYST:ERR?", OK),
            ("OUTP:STAT ON,(@1005);:SYST:ERR?", OK),
        ],
    )
    daq = open_daq(server)
    daq.release(("1005", "1009"))
    daq.enable(("1005",))
    server.assert_done()


@WIRES
def test_safe_state_is_per_channel_off_and_read_back(make, wire) -> None:
    """Each channel in turn: safe value, output off, read back; then EMUL:SAFE."""
    server = make(
        [
            *OPEN,
            ("SOUR:VOLT 0.0,(@1);:SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@1);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@1);:SYST:ERR?", f"0.0;{OK}"),
            ("SOUR:VOLT 0.5,(@1001);:SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@1001);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@1001);:SYST:ERR?", f"0.5003;{OK}"),  # within the 1 mV tolerance
            ("EMUL:SAFE;:SYST:ERR?", OK),
        ],
        wire,
    )
    daq = open_daq(
        server,
        limits={"1": (-1.0, 6.0), "1001": (-1.0, 6.0)},
        safe={"1": 0.0, "1001": 0.5},
    )
    assert daq.safe_state() == []
    server.assert_done()


def test_one_refused_channel_does_not_stop_the_others(make) -> None:
    """The instrument refuses channel 5's safe value: channels 1 and 9 are still made safe
    and verified, channel 5 is still switched off, and only channel 5 is reported."""
    refusal = '-222,"Data out of range; channel 5"'
    server = make(
        [
            *OPEN,
            ("SOUR:VOLT 0.0,(@1);:SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@1);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@1);:SYST:ERR?", f"0.0;{OK}"),
            ("SOUR:VOLT 0.0,(@5);:SYST:ERR?", refusal),
            ("SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@5);:SYST:ERR?", OK),
            ("SOUR:VOLT 0.0,(@9);:SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@9);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@9);:SYST:ERR?", f"0.0;{OK}"),
            ("EMUL:SAFE;:SYST:ERR?", OK),
        ],
    )
    daq = open_daq(server, safe={"1": 0.0, "5": 0.0, "9": 0.0})
    unsafe = daq.safe_state()
    assert [u.channel for u in unsafe] == ["5"]
    assert "safe value 0.0 V refused" in unsafe[0].reason and refusal in unsafe[0].reason
    assert "\n" not in unsafe[0].reason
    server.assert_done()


def test_read_back_mismatch_is_reported(make) -> None:
    server = make(
        [
            *OPEN,
            ("SOUR:VOLT 0.0,(@3);:SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@3);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@3);:SYST:ERR?", f"2.5;{OK}"),  # a stuck DAC
            ("SOUR:VOLT 0.0,(@4);:SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@4);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@4);:SYST:ERR?", f"0.0011;{OK}"),  # just outside 1 mV
            ("SOUR:VOLT 0.0,(@6);:SYST:ERR?", OK),
            ("OUTP:STAT OFF,(@6);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@6);:SYST:ERR?", f"-0.0009;{OK}"),  # just inside
            ("EMUL:SAFE;:SYST:ERR?", OK),
        ],
    )
    daq = open_daq(server, safe={"3": 0.0, "4": 0.0, "6": 0.0})
    unsafe = daq.safe_state()
    assert [u.channel for u in unsafe] == ["3", "4"]
    assert unsafe[0].reason == "reads back 2.5 V, not its safe value 0.0 V (tolerance 0.001 V)"
    server.assert_done()


@WIRES
def test_safe_state_stops_at_a_broken_link(make, wire) -> None:
    """A timeout on the first channel: the others are reported, not tried one timeout each."""
    server = make([*OPEN, ("SOUR:VOLT 0.0,(@1);:SYST:ERR?", TIMEOUT)], wire, timeout_ms=200)
    daq = open_daq(server, safe={"1": 0.0, "2": 0.0, "3": 0.0})
    unsafe = daq.safe_state()
    assert [u.channel for u in unsafe] == ["1", "2", "3", None]
    assert "timed out after 200 ms" in unsafe[0].reason
    assert all(u.reason.startswith("not attempted: the link failed") for u in unsafe[1:3])
    assert unsafe[3].reason.startswith("EMUL:SAFE not sent")
    server.assert_done()
    assert server.reopens == 0  # nothing more was sent, not even a reconnection


def test_daq970a_safe_state_is_the_safe_voltages_set_and_read_back(make) -> None:
    """No output switch on the DAQ970A: per channel SOUR:VOLT, then SOUR:VOLT? to verify;
    "0105" is sent as the model spells it, "105"."""
    ok = '+0,"No error"'
    server = make(
        [
            *KEYSIGHT_OPEN,
            ("SOUR:VOLT 0.0,(@104);:SYST:ERR?", ok),
            ("SOUR:VOLT? (@104);:SYST:ERR?", f"+0.00000000E+00;{ok}"),
            ("SOUR:VOLT 1.5,(@105);:SYST:ERR?", ok),
            ("SOUR:VOLT? (@105);:SYST:ERR?", f"+1.50000000E+00;{ok}"),
        ],
    )
    daq = open_daq(server, dialect="keysight-daq970a", safe={"104": 0.0, "0105": 1.5})
    assert daq.safe_state() == []
    server.assert_done()


def test_channel_names_are_canonical_and_safe(make) -> None:
    """"08" is sent as "8"; a name with SCPI punctuation, or two spellings of one channel,
    is refused before anything is sent."""
    server = make([*OPEN, ("SOUR:VOLT 1.0,2.0,(@8,1008);:SYST:ERR?", OK)])
    daq = open_daq(server, limits={"08": (-1.0, 6.0)})
    assert daq.limits == {"8": (-1.0, 6.0)}
    with pytest.raises(LimitError, match="channel '8' is outside its limits"):
        daq.write(("8",), [6.5])  # "08"'s limits are channel 8's
    for bad in ("1008;*RST", "1:16", "1,2", "(@1)", "1 2", "'1'", "1\n"):
        with pytest.raises(ValueError, match="not a usable DAQ channel name"):
            daq.write((bad,), [0.0])
    with pytest.raises(ValueError, match="channels '8' and '08' are one twinlab-emulator"):
        daq.write(("8", "08"), [1.0, 2.0])
    with pytest.raises(ValueError, match="is not a channel of this model"):
        daq.write(("0",), [0.0])
    daq.write(("008", "01008"), [1.0, 2.0])
    with pytest.raises(ValueError, match="'8' and '08' are one twinlab-emulator channel"):
        ScpiDAQ(server.target, limits={"8": (0.0, 1.0), "08": (0.0, 2.0)})
    with pytest.raises(ValueError, match="'1008;\\*RST' is not a usable"):
        ScpiDAQ(server.target, safe={"1008;*RST": 0.0})
    server.assert_done()


def test_limit_error_before_anything_is_sent(make) -> None:
    server = make([])
    daq = open_daq(server, limits={"1": (-1.0, 6.0)}, verify=False)
    with pytest.raises(LimitError, match=r"6\.5 V on channel '1' is outside its limits \[-1, 6\]"):
        daq.write(("1", "2"), np.array([6.5, 0.0]))
    with pytest.raises(LimitError, match="channel '2'"):  # the first channel is fine here
        daq.write(("1", "2"), np.array([0.0, float("nan")]))
    with pytest.raises(LimitError, match="twinlab-emulator output range"):
        daq.write(("7",), np.array([10.5]))  # no configured limits: the model's range applies
    daq.close()
    server.assert_done()
    assert server.received == []


def test_limits_wider_than_the_output_range_are_refused_before_connecting() -> None:
    nowhere = f"TCPIP::127.0.0.1::{free_port()}::SOCKET"
    with pytest.raises(ValueError, match="channel '3' limits \\[-11, 5\\] V are wider"):
        ScpiDAQ(nowhere, limits={"3": (-11.0, 5.0)})
    with pytest.raises(ValueError, match="channel '3' safe value 7 V"):
        ScpiDAQ(nowhere, limits={"3": (-1.0, 6.0)}, safe={"3": 7.0})
    with pytest.raises(ValueError, match="unknown SCPI dialect 'nope'"):
        ScpiDAQ(nowhere, dialect="nope")


def test_bias_limits(make) -> None:
    server = make(
        [
            *OPEN,
            ("SOUR:VOLT 2.5,(@9000);:SYST:ERR?", OK),
            ("SOUR:VOLT 5.0,(@9000);:SYST:ERR?", OK),  # safe state: no OUTP:STAT OFF
            ("SOUR:VOLT? (@9000);:SYST:ERR?", f"5.0;{OK}"),
            ("SOUR:VOLT 5.0,(@9000);:SYST:ERR?", OK),
            ("SOUR:VOLT? (@9000);:SYST:ERR?", f"2.5;{OK}"),
        ],
    )
    daq = open_daq(server)
    bias = ScpiBias(daq, "09000", limits=(0.0, 5.0), safe=5.0)
    assert bias.channel == "9000"
    with pytest.raises(LimitError, match=r"bias 5\.5 V on channel '9000'"):
        bias.set_volts(5.5)
    with pytest.raises(LimitError):
        bias.set_volts(-0.1)
    bias.set_volts(2.5)
    assert bias.safe_state() == []
    (unsafe,) = bias.safe_state()
    assert unsafe.channel == "9000" and unsafe.reason.startswith("reads back 2.5 V")
    bias.close()
    with pytest.raises(ValueError, match="not within the twinlab-emulator output range"):
        ScpiBias(daq, "9000", limits=(0.0, 11.0), safe=5.0)
    with pytest.raises(ValueError, match="safe value 6 V"):
        ScpiBias(daq, "9000", limits=(0.0, 5.0), safe=6.0)
    server.assert_done()


def test_probe_parsing(make) -> None:
    server = make(
        [
            *OPEN,
            ("EMUL:UPD?;:SYST:ERR?", f"0;;;{OK}"),
            ("EMUL:POS?;:SYST:ERR?", f"64,64,64;{OK}"),
            ("EMUL:UPD?;:SYST:ERR?", f"3;1,0,1;1,0,-1;{OK}"),
            ("EMUL:POS?;:SYST:ERR?", f"65,64,0;{OK}"),
            ("EMUL:POS?;:SYST:ERR?", f"65,64;{OK}"),
        ],
    )
    daq = open_daq(server)
    probe = ScpiProbe(daq, n_edges=3)
    assert probe.last_update() is None
    np.testing.assert_array_equal(probe.positions(), [64, 64, 64])
    mask, direction = probe.last_update()
    assert mask.dtype == np.bool_ and direction.dtype == np.int8
    assert mask.tolist() == [True, False, True] and direction.tolist() == [1, 0, -1]
    pos = probe.positions()
    assert pos.dtype == np.int16 and pos.tolist() == [65, 64, 0]
    with pytest.raises(BenchError, match="2 codes, expected 3"):
        probe.positions()
    server.assert_done()


@WIRES
def test_timeout_names_the_command_and_the_driver_recovers(make, wire) -> None:
    server = make(
        [
            *OPEN,
            ("MEAS:VOLT:DC? (@2001);:SYST:ERR?", TIMEOUT),  # the instrument never answers
            ("MEAS:VOLT:DC? (@2001);:SYST:ERR?", f"0.25;{OK}"),  # on a new connection
        ],
        wire,
        timeout_ms=200,
    )
    daq = open_daq(server)
    with pytest.raises(BenchError, match=r"timed out after 200 ms waiting for reply to") as info:
        daq.read(("2001",))
    assert "MEAS:VOLT:DC? (@2001)" in str(info.value) and server.resource in str(info.value)
    assert daq.read(("2001",)).tolist() == [0.25]
    assert server.reopens == 1  # reopened: a late reply cannot answer the next query
    server.assert_done()


def test_no_instrument_at_a_closed_port() -> None:
    resource = f"TCPIP::127.0.0.1::{free_port()}::SOCKET"
    with pytest.raises(BenchError) as info:
        ScpiDAQ(resource, timeout_ms=500)
    msg = str(info.value)
    assert msg == f"DAQ: no instrument at {resource}: connection refused"


def test_unparseable_resource_name() -> None:
    with pytest.raises(BenchError, match="no instrument at TCPIP::not a resource") as info:
        ScpiDAQ("TCPIP::not a resource", timeout_ms=500)
    assert "\n" not in str(info.value)


def test_close_is_idempotent_and_final(make) -> None:
    server = make(OPEN)
    daq = open_daq(server)
    daq.close()
    daq.close()
    with pytest.raises(BenchError, match="closed"):
        daq.read(("2001",))
    server.assert_done()


@WIRES
def test_second_dialect_is_a_table_not_code(make, wire) -> None:
    """A Keysight DAQ970A: one value per SOUR:VOLT, '+0,' for no error, +-12 V outputs."""
    assert DIALECTS["keysight-daq970a"] is KEYSIGHT_DAQ970A
    ok = '+0,"No error"'
    server = make(
        [
            *KEYSIGHT_OPEN,
            ("SOUR:VOLT 11.5,(@104);:SOUR:VOLT -0.25,(@105);:SYST:ERR?", ok),
            ("MEAS:VOLT:DC? (@101,102);:SYST:ERR?", f"+1.50000000E+00,-2.50000000E-01;{ok}"),
            ("SOUR:VOLT 5.0,(@106);:SYST:ERR?", '-221,"Settings conflict"'),  # not a DAC
            ("SYST:ERR?", ok),
        ],
        wire,
    )
    daq = open_daq(server, dialect="keysight-daq970a", limits={"104": (-12.0, 12.0)})
    daq.write(("104", "105"), np.array([11.5, -0.25]))  # 11.5 V: beyond the emulator's range
    assert daq.read(("101", "102")).tolist() == [1.5, -0.25]
    with pytest.raises(LimitError, match="keysight-daq970a output range"):
        daq.write(("105",), np.array([12.5]))  # nothing sent
    with pytest.raises(ScpiError, match='-221,"Settings conflict"'):
        daq.write(("106",), np.array([5.0]))
    with pytest.raises(BenchError, match="keysight-daq970a dialect cannot release"):
        daq.release(("104",))
    with pytest.raises(BenchError, match="cannot report digipot positions"):
        ScpiProbe(daq)
    server.assert_done()
    assert TWINLAB_EMULATOR.matches(IDN) and not KEYSIGHT_DAQ970A.matches(IDN)
