"""The emulated clock board on a real pty, talked to with pyserial as a host would."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from lab.emulator.wire.serial_board import SerialBoard
from tests.boards import learning_board

serial = pytest.importorskip("serial")


@pytest.fixture
def served():
    """(SerialBoard serving a learning board, its board)."""
    board = learning_board()
    sb = SerialBoard(board, reset_delay=0.02).start()
    yield sb, board
    sb.close()


def open_port(sb: SerialBoard, timeout: float = 1.0):
    """pyserial on the board's pty, after its banner."""
    ser = serial.Serial(sb.path, 1_000_000, timeout=timeout)
    banner = ser.readline()
    assert banner.startswith(b"READY twin_clock ") and banner.endswith(b" proto 2\r\n"), banner
    return ser


def ask(ser, line: str) -> str:
    """Send one command line; its reply line without \\r\\n."""
    ser.write(line.encode() + b"\n")
    reply = ser.readline()
    assert reply.endswith(b"\r\n"), f"{line!r}: reply {reply!r}"
    return reply[:-2].decode()


def test_banner_identity_and_raw_mode(served) -> None:
    sb, _ = served
    with open_port(sb) as ser:
        assert ask(ser, "VER?") == "OK 2"
        assert ask(ser, "*IDN?").startswith("OK twinlab,twin_clock,")
        ser.write(b"#9 VER?\r\n")
        # no echo of what we sent, no \n -> \r\r\n translation: exactly the reply
        assert ser.read(9) == b"#9 OK 2\r\n"
        ser.timeout = 0.1
        assert ser.read(100) == b""


def test_pulses_are_clock_edges_like_in_process(served) -> None:
    sb, board = served
    twin = learning_board()  # identically seeded, pulsed in process
    start = board.codes.copy()
    with open_port(sb) as ser:
        for n in (1, 1, 5, 1, 12):
            assert ask(ser, f"PULSE {n}") == f"OK {n}"
            for _ in range(n):
                twin.clock_edge()
            np.testing.assert_array_equal(board.codes, twin.codes)
            np.testing.assert_array_equal(board.last_mask, twin.last_mask)
        assert board.pulses == twin.pulses == 20
        assert (board.codes != start).any()  # the comparison was not between idle boards
        stat = ask(ser, "STAT?")
        assert stat == "OK pulses=20 err=0 state=IDLE wdt=0"


def test_errors_and_their_code_in_stat(served) -> None:
    sb, board = served
    with open_port(sb) as ser:
        assert ask(ser, "FOO") == "ERR 1 unknown command"
        assert ask(ser, "PULSE 0") == "ERR 2 bad argument"
        assert ask(ser, "X" * 64) == "ERR 3 line too long"
        assert " err=3 " in ask(ser, "STAT?")
        assert board.pulses == 0


def test_host_noise_then_identify(served) -> None:
    sb, _ = served
    rng = np.random.default_rng(1)
    with open_port(sb) as ser:
        noise = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes().replace(b"\n", b"")
        ser.write(noise + b"\n")  # one overlong line
        assert ser.readline() == b"ERR 3 line too long\r\n"
        ser.write(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
        ser.write(b"\n#77 *IDN?\n")
        lines = []
        while not (line := ser.readline()).startswith(b"#77 "):
            assert line, "no reply to *IDN? after noise"
            lines.append(line)
        assert line.startswith(b"#77 OK twinlab,twin_clock,")
        assert len(lines) <= 2000 // 2  # at most one reply per line of noise


def test_inject_reaches_the_host(served) -> None:
    sb, _ = served
    with open_port(sb) as ser:
        sb.inject(b"\x00\xffnoise\r\n")
        assert ser.readline() == b"\x00\xffnoise\r\n"
        assert ask(ser, "VER?") == "OK 2"


def test_reset_prints_the_banner_and_restarts_the_count(served) -> None:
    sb, board = served
    with open_port(sb) as ser:
        assert ask(ser, "PULSE 3") == "OK 3"
        codes = board.codes.copy()
        sb.simulate_reset()
        ser.write(b"VER?\n")  # sent during the "bootloader": lost
        assert ser.readline() == b"READY twin_clock 1.0.0-emu proto 2\r\n"
        stat = ask(ser, "STAT?")
        assert stat.startswith("OK pulses=0 err=0 ")
        assert board.pulses == 3  # the network's digipots do not reset with the Arduino
        np.testing.assert_array_equal(board.codes, codes)


def test_opening_the_port_resets_like_an_uno(served) -> None:
    sb, _ = served
    for _ in range(3):
        with open_port(sb) as ser:  # every open sees a fresh banner
            assert ask(ser, "STAT?").startswith("OK pulses=0 ")
            assert ask(ser, "PULSE 2") == "OK 2"
        time.sleep(0.05)  # the board notices the close


def test_no_reset_on_open_when_disabled() -> None:
    board = learning_board()
    with SerialBoard(board, reset_delay=0.01, reset_on_open=False) as sb:
        time.sleep(0.05)  # banner printed to nobody
        with serial.Serial(sb.path, timeout=0.3) as ser:
            assert ser.readline() == b""  # no banner: nothing reset
            assert ask(ser, "PULSE 2") == "OK 2"
        time.sleep(0.05)
        with serial.Serial(sb.path, timeout=0.3) as ser:
            assert ask(ser, "STAT?").startswith("OK pulses=2 ")


def test_drop_makes_the_port_disappear(served) -> None:
    sb, _ = served
    ser = open_port(sb)
    path = sb.path
    sb.drop()
    assert not os.path.exists(path)
    with pytest.raises(serial.SerialException):
        ser.write(b"VER?\n")
        ser.readline()
        ser.read(1)
    ser.close()
    with pytest.raises(serial.SerialException, match="could not open port"):
        serial.Serial(path)


def test_drop_and_reappear_at_the_same_link(tmp_path) -> None:
    board = learning_board()
    link = tmp_path / "ttyACM0"
    with SerialBoard(board, reset_delay=0.01, link=link) as sb:
        assert sb.path == str(link) and link.is_symlink()
        with open_port(sb) as ser:
            assert ask(ser, "PULSE 4") == "OK 4"
            sb.drop(reappear_after=0.1)
            assert not link.exists()
            with pytest.raises(serial.SerialException):
                ser.read(1)
        deadline = time.monotonic() + 2
        while not link.exists():
            assert time.monotonic() < deadline, "the port did not come back"
            time.sleep(0.01)
        with open_port(sb) as ser:  # reopening resets the board, as on an Uno
            assert ask(ser, "STAT?").startswith("OK pulses=0 ")
    assert not link.exists()


def test_mute_stops_answering(served) -> None:
    sb, board = served
    with open_port(sb) as ser:
        sb.mute(True)
        ser.timeout = 0.2
        ser.write(b"PULSE 1\n")
        assert ser.readline() == b""
        assert board.pulses == 0  # a hung board does nothing
        sb.mute(False)
        ser.timeout = 1.0
        assert ask(ser, "PULSE 1") == "OK 1"


def test_the_shared_lock_serialises_clock_edges() -> None:
    board = learning_board()
    lock = threading.Lock()
    with SerialBoard(board, lock=lock, reset_delay=0.01) as sb, open_port(sb) as ser:
        with lock:  # e.g. a reader of the board state in another thread
            ser.write(b"PULSE 1\n")
            ser.timeout = 0.2
            assert ser.readline() == b""
            assert board.pulses == 0
        ser.timeout = 1.0
        assert ser.readline() == b"OK 1\r\n"
        assert board.pulses == 1


def test_paced_burst_over_the_wire() -> None:
    board = learning_board()
    with SerialBoard(board, pace=True, reset_delay=0.01) as sb, open_port(sb) as ser:
        t0 = time.monotonic()
        ser.write(b"#1 PULSE 20 10 10000\n")  # 20 edges 10 ms apart
        time.sleep(0.05)
        stat = ask(ser, "#2 STAT?")
        assert "state=BURST" in stat and 0 < board.pulses < 20
        assert ask(ser, "#3 VER?") == "#3 ERR 4 busy"
        assert ser.readline() == b"#1 OK 20\r\n"
        assert time.monotonic() - t0 >= 0.19
        assert board.pulses == 20


def test_close_is_idempotent_and_removes_the_port() -> None:
    sb = SerialBoard(learning_board()).start()
    path = sb.path
    assert os.path.exists(path)
    sb.close()
    sb.close()
    assert not os.path.exists(path)
