"""The clock board's logic over an in-memory transport (drivers/twin_clock/transport.py).

`SerialClockBoard` over `MemoryTransport` wrapping the emulated board's protocol
(`lab.emulator.clock_protocol.ClockProtocol`, the same state machine the firmware ports):
the handshake, counting, recovery after a dropped port and the reset checks, without a
pty. The pty and simavr tests (test_clock_board.py, tests/firmware) cover the serial
transport.
"""

from __future__ import annotations

import pytest

from drivers.twin_clock.board import SerialClockBoard
from drivers.twin_clock.transport import LineLink, MemoryTransport
from lab.emulator.clock_protocol import ClockProtocol
from lab.hal import BenchError


class Counted:
    """A ClockProtocol whose edges are counted (``edges``), as a twin network would."""

    def __init__(self) -> None:
        self.edges = 0
        self.device = ClockProtocol(on_pulse=self._edge)

    def _edge(self) -> None:
        self.edges += 1


def _board(
    reset_on_open: bool = True, **options: int
) -> tuple[SerialClockBoard, MemoryTransport, Counted]:
    counted = Counted()
    transport = MemoryTransport(counted.device, reset_on_open=reset_on_open)
    board = SerialClockBoard(
        "mem://clock", transport=transport, ready_timeout=0.2, reply_timeout=0.2, **options
    )
    return board, transport, counted


def test_handshake_pulses_status_and_safe_in_memory() -> None:
    board, transport, counted = _board()
    assert board.firmware == "1.0.0-emu"
    assert board.identity == "twinlab,twin_clock,EMU0001,1.0.0-emu,emulator"
    board.pulse(1)
    board.pulse(5)
    assert counted.edges == 6 == board.confirmed
    assert board.status() == {"pulses": 6, "err": 0, "state": "IDLE", "wdt": 0}
    assert board.safe_state() == []
    assert board.status()["state"] == "SAFE"
    sent = bytes(transport.written).split(b"\n")
    assert all(line.startswith(b"#") for line in sent if line)  # every command tagged
    board.close()
    assert board.safe_state()[0].reason.endswith("SAFE not sent: the port is not open")


def test_lost_write_is_sent_again_once() -> None:
    """The port drops as the PULSE is written (it never reaches the board): after the
    reopen STAT? shows the count unchanged, so the PULSE goes out again, once."""
    board, transport, counted = _board(reset_on_open=False)
    board.pulse(2)
    transport.fail_writes = 1
    board.pulse(3)
    assert counted.edges == 5 == board.confirmed
    assert transport.opens == 2


def test_lost_reply_is_counted_not_resent() -> None:
    """The PULSE reached the board but the port dropped before its reply: STAT? after the
    reopen shows the pulses went out; they are counted once and not sent again."""
    board, transport, counted = _board(reset_on_open=False)
    board.pulse(2)
    transport.fail_reads = 1
    board.pulse(3)
    assert counted.edges == 5 == board.confirmed
    assert board.status()["pulses"] == 5


def test_board_reset_by_the_reopen_is_an_error_naming_the_count() -> None:
    board, transport, _ = _board(reset_on_open=True)
    board.pulse(4)
    transport.fail_reads = 1
    with pytest.raises(BenchError, match=r"the board reset on reconnect .* 4 confirmed, PULSE 1"):
        board.pulse(1)


def test_port_that_stays_gone_is_one_line() -> None:
    board, transport, _ = _board(reset_on_open=False)
    transport.fail_writes = 1
    transport.fail_opens = 1000
    with pytest.raises(BenchError) as err:
        board.pulse(1)
    assert str(err.value).startswith("clock board on mem://clock: port disappeared (write failed")
    assert "reconnect failed (no such device (memory transport))" in str(err.value)
    assert "\n" not in str(err.value)


def test_banner_mid_session_is_a_reset() -> None:
    board, transport, counted = _board()
    board.pulse(3)
    transport.inject(counted.device.banner().encode() + b"\r\n")
    with pytest.raises(BenchError, match=r"board reset \(READY banner mid-session\).*3 confirmed"):
        board.pulse(1)


def test_link_discards_noise_and_other_tags_and_wraps_the_tag() -> None:
    """LineLink alone: lines without the awaited tag are discarded, noise glued to the
    front of the reply is dropped, and the tag wraps from 65535 to 0."""
    device = ClockProtocol()
    transport = MemoryTransport(device)
    link = LineLink(transport, "clock board on mem://x")
    link.open()
    assert link.readline(deadline=float("inf")) == device.banner().encode()
    link._seq = 65534
    transport.inject(b"\x00\xffnoise\r\n#7 OK 9\r\nxx")
    assert link.request(b" VER?\n", 0.2, "VER?") == b"OK 2"  # tag 65535, glued to "xx"
    assert link.request(b" VER?\n", 0.2, "VER?") == b"OK 2"
    assert bytes(transport.written).endswith(b"#65535 VER?\n#0 VER?\n")
    # "#<seq>" alone is a malformed tag: the board answers untagged, which is discarded
    with pytest.raises(BenchError, match=r"no reply to VER\? within 0\.05 s"):
        link.request(b"\n", 0.05, "VER?")
