"""The serial clock-board driver: scripted transcripts on a pty, then the emulated board.

(a) A replayer on a real pty plays the board's side of a script: it checks every line
the driver sends against the expected command (behind the driver's ``#<seq> `` tag)
and answers with the scripted lines; every pair must be consumed, nothing else sent.
(b) The driver against `SerialBoard` (the protocol state machine behind a pty) with
faults injected: noise, reset, dropped port, silence.
"""

from __future__ import annotations

import os
import re
import select
import statistics
import termios
import threading
import time
import tty

import numpy as np
import pytest

from lab.emulator import EmulatorConfig
from lab.emulator import clock_protocol as protocol
from lab.emulator.wire.serial_board import SerialBoard
from lab.hal import BenchError, ClockBoard
from tests.boards import learning_board

pytest.importorskip("serial")
from drivers.twin_clock.board import SerialClockBoard

FAST = {"ready_timeout": 1.0, "reply_timeout": 0.5}


# -- (a) transcripts ---------------------------------------------------------------------------
class Replayer:
    """The board's side of a script on a pty. ``script``: (regex the command after the tag
    must match, reply lines); ``{tag}`` in a reply is the command's tag. The banner goes
    out once the driver has opened the port (None: no banner). Untagged lines are the
    driver's probe for old firmware: they go to ``probes`` (empty ones are dropped), and
    with ``old_rate`` set the board answers an untagged ``VER?`` with ``OK 1`` only while
    the port is at that rate (the pty's termios speed; garbage at any other rate)."""

    def __init__(
        self,
        script: list[tuple[str, list[str]]],
        banner: str | None = "READY twin_clock 1.2.3 proto 2",
        old_rate: int | None = None,
    ) -> None:
        self.script = list(script)
        self.old_rate = getattr(termios, f"B{old_rate}") if old_rate else None
        self.probes: list[tuple[str, bool]] = []  # (untagged line, at the old rate?)
        self.banner = banner
        self.errors: list[str] = []
        self.received: list[str] = []
        self.consumed = 0
        master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        self.master = master
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _lines(self):
        buf = b""
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.02)[0]:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the driver closed the port
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.decode("latin-1")

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        while any(ev & select.POLLHUP for _, ev in poller.poll(0)):  # until the driver opens
            if self._stop.wait(0.005):
                return
        time.sleep(0.02)  # the "bootloader"
        if self.banner is not None:
            os.write(self.master, f"{self.banner}\r\n".encode())
        for line in self._lines():
            self.received.append(line)
            if not line.startswith("#"):  # the old-firmware probe
                if line:
                    at_old = termios.tcgetattr(self.master)[5] == self.old_rate
                    self.probes.append((line, at_old))
                    if line == "VER?" and self.old_rate is not None:
                        os.write(self.master, b"OK 1\r\n" if at_old else b"\xf0\x80\x00")
                continue
            if self.consumed >= len(self.script):
                self.errors.append(f"unexpected {line!r} after the script")
                continue
            expect, replies = self.script[self.consumed]
            self.consumed += 1
            m = re.fullmatch(r"(#\d+ )(.*)", line)
            if not m:
                self.errors.append(f"{line!r} carries no sequence tag")
                continue
            if not re.fullmatch(expect, m.group(2)):
                self.errors.append(f"got {m.group(2)!r}, expected {expect!r}")
            for reply in replies:
                os.write(self.master, reply.format(tag=m.group(1)).encode("latin-1") + b"\r\n")

    def finish(self) -> None:
        """Stop; fail if a pair was not consumed or anything unexpected came."""
        time.sleep(0.05)
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        assert not self.errors, self.errors
        assert self.consumed == len(self.script), (
            f"consumed {self.consumed} of {len(self.script)}; received {self.received}"
        )


IDN = "twinlab,twin_clock,SN42,1.2.3,abc123"
STAT0 = "{tag}OK pulses=0 err=0 state=IDLE wdt=0"
OPEN = [
    (r"VER\?", ["{tag}OK 2"]),
    (r"\*IDN\?", ["{tag}OK " + IDN]),
    (r"STAT\?", [STAT0]),
]


def replay(script, **kwargs) -> tuple[Replayer, SerialClockBoard]:
    rep = Replayer(script, **{k: kwargs.pop(k) for k in ("banner",) if k in kwargs})
    return rep, SerialClockBoard(rep.path, **{**FAST, **kwargs})


def test_transcript_open_pulse_status_safe() -> None:
    rep, clock = replay(
        [
            *OPEN,
            ("PULSE 1 10 100", ["{tag}OK 1"]),
            ("PULSE 5 10 100", ["{tag}OK 5"]),
            ("PULSE 1 10 100", ["{tag}OK 1"]),
            (r"STAT\?", ["{tag}OK pulses=7 err=0 state=IDLE wdt=0"]),
            (r"\*IDN\?", ["{tag}OK " + IDN]),
            ("SAFE", ["{tag}OK"]),
        ]
    )
    assert isinstance(clock, ClockBoard)
    assert clock.identity == IDN and clock.firmware == "1.2.3"
    clock.pulse()
    clock.pulse(5)
    clock.pulse(1)
    assert clock.confirmed == 7
    assert clock.status() == {
        "pulses": 7,
        "err": 0,
        "state": "IDLE",
        "wdt": 0,
    }
    assert clock.identify() == IDN
    clock.safe_state()
    clock.close()
    clock.close()
    rep.finish()
    tags = [int(line.split()[0][1:]) for line in rep.received]
    assert tags == list(range(tags[0], tags[0] + len(tags)))  # one fresh tag per command


def test_transcript_pulse_shape_and_watchdog() -> None:
    rep, clock = replay(
        [
            *OPEN[:2],
            ("WDT 500", ["{tag}OK 500"]),
            (r"STAT\?", ["{tag}OK pulses=0 err=0 state=IDLE wdt=500"]),
            ("PULSE 3 20 500", ["{tag}OK 3"]),
        ],
        pulse_width_us=20,
        pulse_period_us=500,
        watchdog_ms=500,
    )
    clock.pulse(3)
    clock.close()
    rep.finish()


def test_transcript_resync_after_noise_and_stale_replies() -> None:
    rep, clock = replay(
        [
            *OPEN,
            ("PULSE 1 10 100", ["\x00\xffnoise", "#999 OK 1", "ERR 3 line too long", "{tag}OK 1"]),
            ("PULSE 1 10 100", ["xx{tag}OK 1"]),  # noise glued to the front of the reply
            ("PULSE 2 10 100", ["{tag}OK 2"]),
        ]
    )
    clock.pulse(1)
    clock.pulse(1)
    clock.pulse(2)
    assert clock.confirmed == 4
    clock.close()
    rep.finish()


@pytest.mark.parametrize(
    "reply, message",
    [
        ("{tag}ERR 4 busy", "PULSE 1 10 100 failed: ERR 4 busy"),
        ("{tag}ERR 2 bad argument", "PULSE 1 10 100 failed: ERR 2 bad argument"),
        ("{tag}OK 2", "PULSE 1 10 100 failed: OK 2"),
    ],
)
def test_transcript_error_reply_names_command_and_error(reply: str, message: str) -> None:
    rep, clock = replay([*OPEN, ("PULSE 1 10 100", [reply])])
    with pytest.raises(BenchError, match=re.escape(message)) as err:
        clock.pulse()
    assert str(err.value).startswith(f"clock board on {rep.path}: ")
    assert clock.confirmed == 0
    clock.close()
    rep.finish()


def test_transcript_aborted_burst_counts_what_went_out() -> None:
    rep, clock = replay([*OPEN, ("PULSE 10 10 100", ["{tag}ERR 6 aborted 3"])])
    with pytest.raises(BenchError, match="PULSE 10 10 100 failed: ERR 6 aborted 3"):
        clock.pulse(10)
    assert clock.confirmed == 3
    clock.close()
    rep.finish()


def test_transcript_banner_mid_session_is_a_reset() -> None:
    rep, clock = replay(
        [
            *OPEN,
            ("PULSE 1 10 100", ["{tag}OK 1"]),
            ("PULSE 1 10 100", ["READY twin_clock 1.2.3 proto 2"]),
        ]
    )
    clock.pulse()
    with pytest.raises(
        BenchError,
        match=re.escape("board reset (READY banner mid-session); pulses since open: 1 confirmed"),
    ):
        clock.pulse()
    clock.close()
    rep.finish()


def test_transcript_no_reply_times_out() -> None:
    rep, clock = replay([*OPEN, ("PULSE 1 10 100", [])])
    t0 = time.monotonic()
    with pytest.raises(BenchError, match=r"no reply to PULSE within 0\.5 s"):
        clock.pulse()
    assert 0.45 < time.monotonic() - t0 < 1.0
    clock.close()
    rep.finish()


def test_transcript_refuses_another_protocol_in_the_banner() -> None:
    rep = Replayer([], banner="READY twin_clock 3.0.0 proto 3")
    with pytest.raises(BenchError, match=r"protocol version 3 .*this driver speaks version 2"):
        SerialClockBoard(rep.path, **FAST)
    rep.finish()


def test_transcript_refuses_another_protocol_in_ver() -> None:
    rep = Replayer([(r"VER\?", ["{tag}OK 3"])])
    with pytest.raises(BenchError, match=r"protocol version 3 \(VER\?\).*version 2"):
        SerialClockBoard(rep.path, **FAST)
    rep.finish()


def test_transcript_refuses_a_board_that_is_not_a_twin_clock() -> None:
    rep = Replayer([(r"VER\?", ["{tag}OK 2"]), (r"\*IDN\?", ["{tag}OK acme,widget,1,2"])])
    with pytest.raises(BenchError, match="not a twin_clock board"):
        SerialClockBoard(rep.path, **FAST)
    rep.finish()


def test_transcript_skips_bootloader_noise_before_the_banner() -> None:
    rep = Replayer(OPEN, banner="\x00\xf0garbage\r\nREADY twin_clock 1.2.3 proto 2")
    SerialClockBoard(rep.path, **FAST).close()
    rep.finish()


def test_no_banner() -> None:
    rep = Replayer([], banner=None)
    t0 = time.monotonic()
    with pytest.raises(BenchError) as err:
        SerialClockBoard(rep.path, ready_timeout=0.3)
    assert str(err.value) == (
        f"clock board on {rep.path}: no ready banner within 0.3 s at 1000000 baud "
        "(is it a twin_clock board? is another program holding the port?); "
        "nothing answered at 115200 baud (protocol version 1) either"
    )
    assert time.monotonic() - t0 < 1.0
    rep.finish()
    assert rep.probes == [("VER?", False)]  # probed once at 115200 baud (not the pty's rate)


def test_old_firmware_at_115200_is_named_with_both_versions_and_rates() -> None:
    """A protocol-1 board: its banner went out at 115200 baud (garbage at 1 Mbaud); the
    driver probes VER? at 115200, gets OK 1 and stops with one line naming both versions
    and rates; nothing else is sent."""
    rep = Replayer([], banner="\xf0\x80\xf8", old_rate=115200)
    with pytest.raises(BenchError) as err:
        SerialClockBoard(rep.path, ready_timeout=0.3)
    assert str(err.value) == (
        f"clock board on {rep.path}: the board speaks protocol version 1 "
        "(VER?) at 115200 baud, this driver speaks version 2 at 1000000 baud; "
        "update the firmware (make -C firmware upload)"
    )
    rep.finish()
    assert rep.probes == [("VER?", True)]


def test_bench_rate_115200_is_not_probed_again() -> None:
    """A bench file that names 115200 baud: no banner there is just no banner."""
    rep = Replayer([], banner=None, old_rate=115200)
    with pytest.raises(BenchError, match=r"no ready banner within 0\.3 s at 115200 baud \("):
        SerialClockBoard(rep.path, baud=115200, ready_timeout=0.3)
    rep.finish()
    assert rep.probes == []


def test_nonexistent_port() -> None:
    with pytest.raises(BenchError) as err:
        SerialClockBoard("/dev/ttyNOPE42", **FAST)
    text = str(err.value)
    assert text.startswith("clock board on /dev/ttyNOPE42: cannot open the port: ")
    assert "No such file or directory" in text and "\n" not in text


def test_bad_settings_are_refused_before_opening() -> None:
    with pytest.raises(ValueError, match="pulse_period_us"):
        SerialClockBoard("/dev/ttyNOPE42", pulse_width_us=50, pulse_period_us=51)
    with pytest.raises(ValueError, match="pulse_width_us"):
        SerialClockBoard("/dev/ttyNOPE42", pulse_width_us=1)


# -- (b) against the emulated board on a pty --------------------------------------------------


@pytest.fixture
def emulated():
    """(SerialBoard serving a learning board, its board)."""
    board = learning_board(11)
    sb = SerialBoard(board, reset_delay=0.02).start()
    yield sb, board
    sb.close()


def test_thousand_single_pulses_all_confirmed(emulated) -> None:
    sb, board = emulated
    twin = learning_board(11)
    with SerialClockBoard(sb.path, **FAST) as clock:
        assert clock.identify().startswith("twinlab,twin_clock,")
        for _ in range(1000):
            clock.pulse(1)
        assert board.pulses == 1000 == clock.confirmed
        assert clock.status()["pulses"] == 1000
        clock.pulse(37)
        assert board.pulses == 1037 == clock.confirmed
    for _ in range(1037):
        twin.clock_edge()
    np.testing.assert_array_equal(board.codes, twin.codes)  # bit-identical to in process


def test_noise_mid_session_is_skipped(emulated) -> None:
    sb, board = emulated
    with SerialClockBoard(sb.path, **FAST) as clock:
        clock.pulse()
        sb.inject(b"\x00\xff\xfegarbage\r\n#1 OK 1\r\nhalf a line without end ")
        clock.pulse()
        sb.inject(os.urandom(500).replace(b"\n", b"") + b"\r\n")
        clock.pulse(3)
        assert board.pulses == 5 == clock.confirmed


def test_reset_mid_run(emulated) -> None:
    sb, board = emulated
    with SerialClockBoard(sb.path, **FAST) as clock:
        for _ in range(10):
            clock.pulse()
        sb.simulate_reset()
        with pytest.raises(
            BenchError,
            match=re.escape(
                f"clock board on {sb.path}: board reset (READY banner mid-session); "
                "pulses since open: 10 confirmed"
            ),
        ):
            clock.pulse()
        assert board.pulses == 10  # the command sent during the "bootloader" was lost


def pulse_until_failure(clock: SerialClockBoard, fault) -> tuple[int, BenchError]:
    """pulse(1) until it raises, with ``fault()`` run from another thread meanwhile;
    (pulses confirmed by returning, the error)."""
    done = 0
    timer = threading.Timer(0.05, fault)
    timer.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                clock.pulse()
            except BenchError as exc:
                return done, exc
            done += 1
        raise AssertionError("the fault never surfaced")
    finally:
        timer.join()


def test_drop_mid_run_port_disappears(tmp_path) -> None:
    """The port goes and stays gone: one line naming it, the reconnect failed. The board
    is served at a link (as /dev/serial/by-id/... is), which `drop` removes: a bare
    /dev/pts/N is reused by the next pty any process opens, and the reconnect once reached
    another process's emulated board (the driver said so: "the board reset on reconnect
    (it counts 0 pulses)")."""
    board = learning_board(11)
    with SerialBoard(board, reset_delay=0.02, link=tmp_path / "ttyACM0") as sb:
        clock = SerialClockBoard(sb.path, ready_timeout=0.3, reply_timeout=0.5)
        done, err = pulse_until_failure(clock, sb.drop)
        text = str(err)
        assert text.startswith(f"clock board on {sb.path}: port disappeared (")
        assert "reconnect failed" in text and "\n" not in text
        assert clock.confirmed == done > 0
        assert board.pulses in (done, done + 1)  # the lost one may or may not have gone out
        clock.safe_state()  # must not raise with the port gone
        with pytest.raises(BenchError, match="not connected"):
            clock.pulse()
        clock.close()
        clock.close()


def test_drop_mid_run_reappears_reset(tmp_path) -> None:
    board = learning_board(11)
    link = tmp_path / "ttyACM0"
    with SerialBoard(board, reset_delay=0.02, link=link) as sb:
        clock = SerialClockBoard(sb.path, **FAST)
        done, err = pulse_until_failure(clock, lambda: sb.drop(reappear_after=0.1))
        assert "port dropped" in str(err) and "the board reset" in str(err)
        assert f"pulses since open: {done} confirmed" in str(err)
        clock.close()


def test_drop_mid_run_reappears_without_reset_nothing_lost_or_doubled(tmp_path) -> None:
    """A port that comes back without resetting the board (DTR reset off): the driver
    reconnects, asks STAT? whether the lost PULSE went out, and carries on."""
    board = learning_board(11)
    link = tmp_path / "ttyUSB0"
    with SerialBoard(board, reset_delay=0.02, link=link) as sb:
        clock = SerialClockBoard(link, ready_timeout=0.3, reply_timeout=0.5)
        sb.reset_on_open = False  # from now on, reopening does not reset the board
        calls = 0
        for round_ in range(3):
            timer = threading.Timer(0.03, lambda: sb.drop(reappear_after=0.05))
            timer.start()
            t_end = time.monotonic() + 0.6
            while time.monotonic() < t_end:
                clock.pulse()
                calls += 1
            timer.join()
            assert board.pulses == calls == clock.confirmed, round_
        clock.close()


def test_drop_between_commands_resends_once(tmp_path) -> None:
    """The port dropped while idle: the next PULSE cannot be written; after reconnecting
    STAT? shows it never arrived, so it is sent again, once."""
    board = learning_board(11)
    link = tmp_path / "ttyUSB1"
    with SerialBoard(board, reset_delay=0.02, link=link) as sb:
        with SerialClockBoard(link, ready_timeout=0.3, reply_timeout=0.5) as clock:
            sb.reset_on_open = False
            clock.pulse(2)
            sb.drop(reappear_after=0.05)
            clock.pulse(3)
            assert board.pulses == 5 == clock.confirmed
            assert clock.status()["pulses"] == 5


def test_drop_during_a_long_burst_waits_for_it_to_end(tmp_path) -> None:
    """The port drops in the middle of a 1 s burst on a board that is not reset: after
    reconnecting the driver sees the burst still running, waits for it, and counts it."""
    board = learning_board(11)
    link = tmp_path / "ttyUSB2"
    with SerialBoard(board, pace=True, reset_delay=0.02, link=link) as sb:
        with SerialClockBoard(
            link, pulse_period_us=10_000, ready_timeout=0.2, reply_timeout=0.5
        ) as clock:
            sb.reset_on_open = False
            timer = threading.Timer(0.2, lambda: sb.drop(reappear_after=0.05))
            timer.start()
            t0 = time.monotonic()
            clock.pulse(100)
            timer.join()
            assert time.monotonic() - t0 >= 0.95
            assert board.pulses == 100 == clock.confirmed
            assert clock.status()["state"] == "IDLE"


def test_no_banner_from_a_silent_board(emulated) -> None:
    sb, _ = emulated
    sb.mute(True)
    silent = r"no ready banner within 0\.3 s at 1000000 baud \(is it a twin_clock"
    with pytest.raises(BenchError, match=silent):
        SerialClockBoard(sb.path, ready_timeout=0.3)


@pytest.mark.parametrize("version", [1, 3])
def test_wrong_protocol_version(emulated, monkeypatch, version: int) -> None:
    sb, _ = emulated
    monkeypatch.setattr(protocol, "PROTO_VERSION", version)
    with pytest.raises(
        BenchError,
        match=(f"speaks protocol version {version} \\(its banner\\), this driver speaks version 2"),
    ):
        SerialClockBoard(sb.path, **FAST)


def test_mute_mid_run_is_no_reply(emulated) -> None:
    sb, board = emulated
    with SerialClockBoard(sb.path, ready_timeout=1.0, reply_timeout=0.3) as clock:
        clock.pulse()
        sb.mute(True)
        t0 = time.monotonic()
        with pytest.raises(BenchError, match=r"no reply to PULSE within 0\.3 s"):
            clock.pulse()
        assert 0.28 < time.monotonic() - t0 < 0.8
        sb.mute(False)
        clock.pulse()  # the board answers again; the next tag is not confused by old ones
        assert board.pulses == 2


def test_watchdog_is_kept_alive_through_a_long_burst() -> None:
    board = learning_board(11)
    with SerialBoard(board, pace=True, reset_delay=0.02) as sb:
        with SerialClockBoard(sb.path, watchdog_ms=100, pulse_period_us=10_000, **FAST) as clock:
            assert clock.status()["wdt"] == 100
            t0 = time.monotonic()
            clock.pulse(40)  # 0.4 s of edges: four watchdog periods
            assert time.monotonic() - t0 > 0.35
            assert board.pulses == 40 == clock.confirmed
        # the same burst from a host that stays silent is stopped by the watchdog
        time.sleep(0.05)  # closed long enough for the board to see the next open
        with SerialClockBoard(sb.path, pulse_period_us=10_000, **FAST) as quiet:
            assert quiet._command(b" WDT 100\n", 1.0, "WDT") == b"OK 100"
            with pytest.raises(BenchError, match=r"PULSE 40 10 10000 failed: ERR 5 watchdog \d+"):
                quiet.pulse(40)
            assert 0 < quiet.confirmed < 40
            assert quiet.status()["state"] == "SAFE"


def test_status_from_another_thread_while_pulsing(emulated) -> None:
    sb, board = emulated
    with SerialClockBoard(sb.path, **FAST) as clock:
        errors: list[BaseException] = []

        def poll() -> None:
            try:
                for _ in range(50):
                    assert clock.status()["state"] in ("IDLE", "SAFE")
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=poll)
        t.start()
        for _ in range(300):
            clock.pulse()
        t.join()
        assert not errors
        assert board.pulses == 300 == clock.confirmed


def test_pulse_round_trip(emulated, capsys) -> None:
    sb, board = emulated
    with SerialClockBoard(sb.path, **FAST) as clock:
        for _ in range(100):
            clock.pulse()
        times = []
        for _ in range(2000):
            t0 = time.perf_counter_ns()
            clock.pulse(1)
            times.append(time.perf_counter_ns() - t0)
    median = statistics.median(times) / 1000
    with capsys.disabled():
        print(f"\npulse(1) round trip over a pty: median {median:.0f} us over 2000 calls")
    assert board.pulses == 2100
    assert median < 5000


# -- discovery ---------------------------------------------------------------------------------
def test_likely_arduino_by_usb_ids() -> None:
    from drivers.discovery import likely_arduino

    assert likely_arduino(0x2341, 0x0043)  # genuine Uno R3
    assert likely_arduino(0x2A03, 0x0043)
    assert likely_arduino(0x1A86, 0x7523)  # CH340 clone
    assert likely_arduino(0x0403, 0x6001)  # FTDI
    assert not likely_arduino(0x1A86, 0x1234)  # another WCH chip
    assert not likely_arduino(0x046D, 0xC52B)  # a mouse receiver
    assert not likely_arduino(None, None)  # a built-in or virtual port


def test_list_devices_real_call_has_the_fields() -> None:
    from drivers.discovery import format_devices, list_devices

    devices = list_devices()
    for d in devices:
        assert d["kind"] in ("serial", "visa", "error")
        if d["kind"] == "serial":
            assert {"port", "description", "vid", "pid", "likely_arduino"} <= d.keys()
    assert format_devices(devices).startswith("serial ports")


def test_list_devices_tolerates_failing_libraries(monkeypatch) -> None:
    import pyvisa
    from serial.tools import list_ports
    from serial.tools.list_ports_common import ListPortInfo

    from drivers.discovery import format_devices, list_devices

    uno = ListPortInfo("/dev/ttyACM0", skip_link_detection=True)
    uno.vid, uno.pid, uno.description = 0x2341, 0x0043, "Arduino Uno"
    monkeypatch.setattr(list_ports, "comports", lambda: [uno])

    def broken(*args, **kwargs):
        raise OSError("no VISA backend\nat all")

    monkeypatch.setattr(pyvisa, "ResourceManager", broken)
    devices = list_devices()
    assert devices == [
        {
            "kind": "serial",
            "port": "/dev/ttyACM0",
            "description": "Arduino Uno",
            "vid": 0x2341,
            "pid": 0x0043,
            "likely_arduino": True,
        },
        {"kind": "error", "source": "VISA resources (pyvisa)", "error": "no VISA backend at all"},
    ]
    text = format_devices(devices)
    assert "/dev/ttyACM0" in text and "2341:0043" in text and "likely an Arduino" in text
    assert "VISA resources: none found" in text
    assert "error: VISA resources (pyvisa): no VISA backend at all" in text

    monkeypatch.setattr(list_ports, "comports", broken)
    assert [d["kind"] for d in list_devices()] == ["error", "error"]


# -- a training run over the wire ----------------------------------------------------------------
def test_training_over_the_wire_is_bit_identical_to_in_process() -> None:
    """The same seeded run with the in-process clock and with the serial driver talking to
    the emulated board on a pty: every step's codes and errors are identical."""
    from lab.acquire.records import Observer, StepRecord
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.emulator import emulator_bench
    from lab.tasks import load_task

    class Keep(Observer):
        def __init__(self) -> None:
            self.rows: list[tuple[np.ndarray, float]] = []

        def step(self, record: StepRecord) -> None:
            self.rows.append((record.positions.copy(), float(record.error)))

    def run(over_the_wire: bool) -> list[tuple[np.ndarray, float]]:
        bench = emulator_bench(EmulatorConfig(seed=5))
        keep = Keep()
        settings = settings_from(task="ii", steps=150, p=0.5, test_every=0)
        if not over_the_wire:
            Trainer(bench, load_task("ii"), settings, [keep]).run()
            return keep.rows
        board = bench.probe.board  # type: ignore[union-attr]
        with SerialBoard(board, reset_delay=0.02) as sb:
            bench.clock = SerialClockBoard(sb.path, **FAST)
            try:
                Trainer(bench, load_task("ii"), settings, [keep]).run()
                assert bench.clock.confirmed == board.pulses == 150
            finally:
                bench.clock.close()
        return keep.rows

    local, wire = run(False), run(True)
    assert len(local) == len(wire) == 150
    assert any((a[0] != local[0][0]).any() for a in local)  # the codes did move
    for (codes_a, err_a), (codes_b, err_b) in zip(local, wire, strict=True):
        np.testing.assert_array_equal(codes_a, codes_b)
        assert err_a == err_b
