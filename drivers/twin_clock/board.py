"""The clock board (Arduino Uno running twin_clock) over a serial port, with pyserial.

`SerialClockBoard` implements `lab.hal.ClockBoard` for the protocol in
firmware/PROTOCOL.md (version 1). Every command carries a sequence tag ``#<seq> ``;
a reply without the awaited tag is discarded, so line noise or a late reply to an
earlier command never answers the wrong question. A banner in mid-session means the
board reset (its pulse count restarted, a burst may be lost): that is an error, never
papered over. A port that drops is reopened once; ``STAT?`` then tells whether the
in-flight command went out, so no acknowledged pulse is lost and none counted twice.

Every failure is a one-line `BenchError` naming the board and its port.
"""

from __future__ import annotations

import logging
import os
import re
import select
import threading
import time
from typing import Any

import serial

from lab.errors import one_line
from lab.hal import BenchError, Unsafe
from lab.hal import clock_protocol as proto
from lab.logs import io_enabled, io_log

log = logging.getLogger(__name__)

PROTOCOL = proto.PROTOCOL_VERSION  # the version this driver speaks
N_MAX = proto.N_MAX  # pulses per PULSE command; longer requests are split
_BANNER = re.compile(proto.BANNER_PATTERN)
# the command lines and reply prefixes, encoded once (the protocol's words, lab.hal.clock_protocol)
_OK, _OK_SP = proto.OK.encode(), proto.OK.encode() + b" "
_IDN, _VER, _STAT = (f" {w}\n".encode() for w in (proto.IDN, proto.VER, proto.STAT))
_SAFE = f" {proto.SAFE}\n".encode()
_PULSE = f" {proto.PULSE} ".encode()
_ABORTED = re.compile(
    rb"%s [%d%d] \S+ (\d+)" % (proto.ERR.encode(), proto.ERR_WATCHDOG, proto.ERR_ABORTED)
)
_VERSION = re.compile(rb"%s (\d+)" % _OK)
_IDN_OK = f"{proto.OK} {proto.IDN_PREFIX},"
_QUANTUM = 0.02  # s: pyserial read timeout; deadlines are checked this often when idle
_RECONNECT_POLL = 0.1  # s between attempts to reopen a port that disappeared


class SerialClockBoard:
    """The twin_clock board on ``port`` (a device path or any pyserial URL).

    ``pulse_width_us`` and ``pulse_period_us`` shape every pulse; ``ready_timeout`` (s)
    bounds the wait for the banner after opening (the Uno resets on open);
    ``reply_timeout`` (s) bounds every reply, plus the burst's duration for ``PULSE``;
    ``watchdog_ms`` > 0 arms the board's watchdog (the driver keeps long bursts alive).
    """

    def __init__(
        self,
        port: str | os.PathLike[str],
        *,
        baud: int = proto.BAUD,
        pulse_width_us: int = proto.DEFAULT_WIDTH_US,
        pulse_period_us: int = proto.DEFAULT_PERIOD_US,
        ready_timeout: float = 3.0,
        reply_timeout: float = 1.0,
        watchdog_ms: int = 0,
        name: str = "clock board",
    ) -> None:
        if not proto.WIDTH_MIN_US <= pulse_width_us <= proto.WIDTH_MAX_US:
            raise ValueError(
                f"pulse_width_us = {pulse_width_us} is outside "
                f"{proto.WIDTH_MIN_US}..{proto.WIDTH_MAX_US}"
            )
        shortest = pulse_width_us + proto.PERIOD_GAP_US
        if not shortest <= pulse_period_us <= proto.PERIOD_MAX_US:
            raise ValueError(
                f"pulse_period_us = {pulse_period_us} is outside "
                f"{shortest}..{proto.PERIOD_MAX_US} (width + {proto.PERIOD_GAP_US} us at least)"
            )
        if not 0 <= watchdog_ms <= proto.WDT_MAX_MS:
            raise ValueError(f"watchdog_ms = {watchdog_ms} is outside 0..{proto.WDT_MAX_MS}")
        self.port = port = os.fspath(port)
        self.baud = baud
        self.width_us, self.period_us = int(pulse_width_us), int(pulse_period_us)
        self.ready_timeout, self.reply_timeout = float(ready_timeout), float(reply_timeout)
        self.watchdog_ms = int(watchdog_ms)
        self.name = name
        self.who = f"{name} on {port}"
        self.firmware = ""  # from the banner
        self.identity = ""  # the *IDN? payload
        self.confirmed = 0  # pulses acknowledged since open
        self._base = 0  # the board's pulse count when we opened it
        self._seq = 0
        self._rx = bytearray()
        self._ser: serial.SerialBase | None = None
        self._fd = None
        self._lock = threading.RLock()
        self._closed = False
        self._io = io_enabled()  # decided once: no per-line cost without the I/O log
        self._down = ""  # why the port is not open, after a failure
        # pre-encoded: a pulse(1) is one format, one write, one compare
        self._pulse_tail = f" {self.width_us} {self.period_us}\n".encode()
        self._one = _PULSE + b"1" + self._pulse_tail
        with self._lock:
            self._connect(self._open_port())
            self._handshake(banner_required=True)

    # -- the HAL ------------------------------------------------------------------------------
    def identify(self) -> str:
        """The board's ``*IDN?`` reply, e.g. ``twinlab,twin_clock,<serial>,<firmware>``."""
        with self._lock:
            self.identity = self._ask(_IDN, proto.IDN).decode("latin-1")
            return self.identity

    def pulse(self, n: int = 1) -> None:
        """Send ``n`` clock pulses; return once the board confirmed all of them."""
        if n < 1:
            raise ValueError(f"pulse count n = {n} must be at least 1")
        with self._lock:
            while n > 0:
                k = min(n, N_MAX)
                self._burst(k)
                n -= k

    def status(self) -> dict[str, Any]:
        """``STAT?`` as a dict: pulses, err, wdt (int); fw, build, state (str)."""
        with self._lock:
            return self._parse_status(self._ask(_STAT, proto.STAT))

    def safe_state(self) -> list[Unsafe]:
        """Clock line low, any burst stopped (``SAFE``). Never raises: returns
        ``[Unsafe(None, reason)]`` when the board did not confirm it (not reachable, port
        not open, another answer), else an empty list (`lab.hal` contract)."""
        with self._lock:
            if self._ser is None:
                return [Unsafe(None, f"{self.who}: SAFE not sent: the port is not open")]
            try:
                reply = self._command(_SAFE, self.reply_timeout, proto.SAFE)
            except BenchError as exc:
                return [Unsafe(None, f"SAFE failed: {exc}")]
            except OSError as exc:
                return [Unsafe(None, f"{self.who}: SAFE failed: {one_line(exc)}")]
            if reply != _OK:
                return [Unsafe(None, f"{self.who}: SAFE answered {reply.decode('latin-1')!r}")]
            return []

    def close(self) -> None:
        """Close the port; idempotent."""
        with self._lock:
            self._closed = True
            self._close_port("closed")

    def __enter__(self) -> SerialClockBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands -----------------------------------------------------------------------------
    def _burst(self, n: int) -> None:
        """One PULSE command of ``n`` <= N_MAX pulses, with one reconnect on a dropped port."""
        body = self._one if n == 1 else _PULSE + b"%d" % n + self._pulse_tail
        timeout = self.reply_timeout + n * self.period_us * 1e-6
        try:
            reply = self._command(body, timeout, proto.PULSE)
        except OSError as exc:  # serial.SerialException is an OSError
            reply = self._recover(exc, body, timeout, proto.PULSE, n)
            if reply is None:  # the pulses went out before the port dropped
                return
        if reply == _OK_SP + b"%d" % n:
            self.confirmed += n
            return
        m = _ABORTED.fullmatch(reply)
        if m:  # aborted (watchdog or SAFE): the board reports what went out
            self.confirmed += int(m.group(1))
        raise BenchError(
            f"{self.who}: PULSE {n} {self.width_us} {self.period_us} failed: "
            f"{reply.decode('latin-1')}"
        )

    def _ask(self, body: bytes, what: str) -> bytes:
        """A query: its ``OK`` payload (without ``OK ``); BenchError on ERR."""
        try:
            reply = self._command(body, self.reply_timeout, what)
        except OSError as exc:
            reply = self._recover(exc, body, self.reply_timeout, what, 0)
        assert reply is not None
        if reply == _OK or reply.startswith(_OK_SP):
            return reply[3:]
        raise BenchError(f"{self.who}: {what} failed: {reply.decode('latin-1')}")

    def _command(self, body: bytes, timeout: float, what: str) -> bytes:
        """Send ``#<seq>`` + ``body`` (which starts with a space); the reply after the tag."""
        if self._ser is None:
            raise BenchError(f"{self.who}: not connected ({self._down or 'closed'})")
        self._seq = seq = (self._seq + 1) & 0xFFFF
        tag = b"#%d " % seq
        try:
            self._write(b"#%d" % seq + body)
        except serial.SerialTimeoutException:  # the port is there but takes nothing
            raise BenchError(
                f"{self.who}: could not send {what} within {self.reply_timeout:.3g} s"
            ) from None
        return self._await(tag, time.monotonic() + timeout, timeout, what)

    def _write(self, data: bytes) -> None:
        """Send ``data``: one os.write on a local device, pyserial for the rest of it."""
        if self._io:
            io_log.debug("%s -> %r", self.who, data.decode("latin-1"))
        if self._fd is not None:
            try:
                data = data[os.write(self._fd, data) :]
            except BlockingIOError:
                pass
            except OSError as exc:
                raise serial.SerialException(f"write failed: {exc}") from None
            if not data:
                return
        assert self._ser is not None
        self._ser.write(data)

    def _await(self, tag: bytes, deadline: float, timeout: float, what: str) -> bytes:
        """The payload of the next line carrying ``tag``; other lines are discarded."""
        keepalive = self.watchdog_ms * 1e-3 / 4 if self.watchdog_ms else 0.0
        next_alive = time.monotonic() + keepalive
        while True:
            line = self._readline(min(deadline, next_alive) if keepalive else deadline)
            if line is None:
                now = time.monotonic()
                if now >= deadline:
                    raise BenchError(f"{self.who}: no reply to {what} within {timeout:.3g} s")
                if keepalive and now >= next_alive:  # a long burst: feed the watchdog
                    self._seq = (self._seq + 1) & 0xFFFF
                    self._write(b"#%d" % self._seq + _STAT)
                    next_alive = now + keepalive
                continue
            if line.startswith(tag):
                return line[len(tag) :]
            if _BANNER.search(line):
                raise BenchError(
                    f"{self.who}: board reset (READY banner mid-session); pulses since open: "
                    f"{self.confirmed} confirmed"
                )
            at = line.find(tag)
            if at > 0:  # noise glued to the front of the reply
                return line[at + len(tag) :]
            log.debug("%s: discarded %r while waiting for %r", self.who, line, tag)

    def _readline(self, deadline: float) -> bytes | None:
        """The next line (without ``\\r\\n``), or None at ``deadline``."""
        rx = self._rx
        while (i := rx.find(b"\n")) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self._fd is not None:
                rx += self._read_fd(self._fd, left)
            else:
                ser = self._ser
                assert ser is not None
                waiting = ser.in_waiting
                rx += ser.read(waiting) if waiting else ser.read(1)  # read(1) waits <= _QUANTUM
        line = bytes(rx[:i])
        del rx[: i + 1]
        if self._io:
            io_log.debug("%s <- %r", self.who, line.decode("latin-1"))
        return line[:-1] if line.endswith(b"\r") else line

    @staticmethod
    def _read_fd(fd: int, timeout: float) -> bytes:
        """What the device has within ``timeout`` s (b"" if nothing), straight from its file
        descriptor: pyserial's read costs ~50 us a call more. Errors as pyserial raises them."""
        try:
            if not select.select([fd], [], [], timeout)[0]:
                return b""
            data = os.read(fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise serial.SerialException(f"read failed: {exc}") from None
        if not data:  # readable but empty: the device is gone (as pyserial reports it)
            raise serial.SerialException(
                "device reports readiness to read but returned no data "
                "(device disconnected or multiple access on port?)"
            )
        return data

    # -- opening, handshake, recovery ------------------------------------------------------------
    def _open_port(self) -> serial.SerialBase:
        try:
            return self._serial()
        except (OSError, ValueError) as exc:
            raise BenchError(f"{self.who}: cannot open the port: {one_line(exc)}") from None

    def _serial(self) -> serial.SerialBase:
        """Open the port (pyserial URL handlers included: loop://, socket://, rfc2217://)."""
        return serial.serial_for_url(
            self.port,
            baudrate=self.baud,
            timeout=_QUANTUM,
            write_timeout=self.reply_timeout,
            exclusive=True,
        )

    def _connect(self, ser: serial.SerialBase) -> None:
        self._ser = ser
        self._rx.clear()
        try:  # a local device: read its descriptor directly (URL handlers have none)
            self._fd: int | None = ser.fileno()  # type: ignore[attr-defined]
        except (AttributeError, OSError, ValueError):
            self._fd = None

    def _close_port(self, why: str = "") -> None:
        self._down = why
        self._fd = None
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except OSError as exc:
                log.debug("%s: close failed: %s", self.who, exc)

    def _wait_banner(self, timeout: float) -> bool:
        """Wait for ``READY twin_clock <fw> proto <v>``; False if none within ``timeout`` s.
        Lines before it (bootloader noise) are skipped. Refuses a protocol it does not speak."""
        deadline = time.monotonic() + timeout
        while (line := self._readline(deadline)) is not None:
            m = _BANNER.search(line)
            if m:
                self.firmware = m.group(1).decode("latin-1")
                self._check_version(int(m.group(2)), "its banner")
                return True
            log.debug("%s: skipped %r before the banner", self.who, line)
        return False

    def _check_version(self, version: int, source: str) -> None:
        if version != PROTOCOL:
            self._close_port(f"protocol version {version}")
            raise BenchError(
                f"{self.who}: the board speaks protocol version {version} ({source}), "
                f"this driver speaks version {PROTOCOL}; update the "
                + ("driver" if version > PROTOCOL else "firmware")
            )

    def _handshake(self, banner_required: bool, settle: float = 0.0) -> tuple[bool, dict[str, Any]]:
        """Banner, ``VER?``, ``*IDN?``, ``WDT``, ``STAT?``; (banner seen?, status).

        After a reconnect (``banner_required`` False) ``STAT?`` comes first, and while the
        board is still in a burst it is polled for up to ``settle`` s (VER? would be busy)."""
        try:
            got = self._wait_banner(self.ready_timeout)
            if banner_required and not got:
                raise BenchError(
                    f"{self.who}: no ready banner within {self.ready_timeout} s "
                    "(is it a twin_clock board? is another program holding the port?)"
                )
            if not banner_required:
                status = self._stat()
                deadline = time.monotonic() + settle
                while status["state"] == proto.STATE_BURST and time.monotonic() < deadline:
                    time.sleep(0.01)  # the lost PULSE is still going out
                    status = self._stat()
            ver = self._command(_VER, self.reply_timeout, proto.VER)
            m = _VERSION.fullmatch(ver)
            if not m:
                raise BenchError(f"{self.who}: VER? answered {ver.decode('latin-1')!r}")
            self._check_version(int(m.group(1)), "VER?")
            idn = self._command(_IDN, self.reply_timeout, proto.IDN).decode("latin-1")
            if not idn.startswith(_IDN_OK):
                raise BenchError(f"{self.who}: not a twin_clock board: *IDN? answered {idn!r}")
            self.identity = idn[len(proto.OK) + 1 :]
            if self.watchdog_ms:
                wdt_line = b" %s %d\n" % (proto.WDT.encode(), self.watchdog_ms)
                wdt = self._command(wdt_line, self.reply_timeout, proto.WDT)
                if wdt != _OK_SP + b"%d" % self.watchdog_ms:
                    raise BenchError(f"{self.who}: WDT failed: {wdt.decode('latin-1')}")
            if banner_required:
                status = self._stat()
        except BaseException as exc:
            self._close_port(one_line(exc))
            raise
        if banner_required:
            self._base, self.confirmed = status["pulses"], 0
        return got, status

    def _recover(
        self, exc: OSError, body: bytes, timeout: float, what: str, n: int
    ) -> bytes | None:
        """The port failed during ``what``: reopen it once and find out what the board did.

        Returns the reply to a re-sent command, or None when ``STAT?`` shows that the ``n``
        pulses of the lost PULSE went out. Raises BenchError if the port stays gone, if
        the board reset (its count restarted) or if the count does not add up."""
        cause = one_line(exc)
        self._close_port(cause)
        if self._closed:
            raise BenchError(f"{self.who}: the port is closed") from None
        log.warning("%s: port failed during %s (%s); reconnecting", self.who, what, cause)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            time.sleep(_RECONNECT_POLL)  # a USB port needs a moment to come back, if it does
            try:
                self._connect(self._serial())
                break
            except (OSError, ValueError) as again:
                if time.monotonic() >= deadline:
                    msg = f"port disappeared ({cause}); reconnect failed ({one_line(again)})"
                    self._down = msg
                    raise BenchError(f"{self.who}: {msg}") from None
        try:
            self._write(b"\n")  # end any half-sent line
            reset, status = self._handshake(banner_required=False, settle=timeout)
            expected = self._base + self.confirmed
            pulses = status["pulses"]
            if reset and not self.confirmed and not n:  # nothing to lose: start afresh
                self._base = pulses
                expected = pulses
            if pulses < expected or (reset and (self.confirmed or n)):
                self._close_port("the board reset")
                raise BenchError(
                    f"{self.who}: port dropped ({cause}) and the board reset on reconnect "
                    f"(it counts {pulses} pulses); pulses since open: {self.confirmed} "
                    "confirmed" + (f", PULSE {n} unconfirmed" if n else "")
                )
            if n and pulses == expected + n:
                self.confirmed += n
                log.warning("%s: reconnected; the lost PULSE %d had gone out", self.who, n)
                return None
            if pulses != expected:
                self._close_port("pulse count mismatch after a reconnect")
                raise BenchError(
                    f"{self.who}: port dropped ({cause}); after reconnecting the board counts "
                    f"{pulses - self._base} pulses since open, {self.confirmed} were confirmed"
                    + (f" and PULSE {n} was in flight" if n else "")
                )
        except OSError as again:
            msg = f"port disappeared ({cause}); reconnect failed ({one_line(again)})"
            self._close_port(msg)
            raise BenchError(f"{self.who}: {msg}") from None
        except BenchError as err:
            if "no reply" in str(err) or "no ready banner" in str(err):
                detail = str(err).removeprefix(f"{self.who}: ")
                raise BenchError(
                    f"{self.who}: port disappeared ({cause}); reconnect failed ({detail})"
                ) from None
            raise
        log.warning("%s: reconnected; re-sending %s", self.who, what)
        try:
            return self._command(body, timeout, what)
        except OSError as again:
            msg = f"port dropped again after a reconnect ({one_line(again)})"
            self._close_port(msg)
            raise BenchError(f"{self.who}: {msg}") from None

    def _stat(self) -> dict[str, Any]:
        """``STAT?`` without reconnecting (used while connecting)."""
        stat = self._command(_STAT, self.reply_timeout, proto.STAT)
        if not stat.startswith(_OK_SP):
            raise BenchError(f"{self.who}: STAT? failed: {stat.decode('latin-1')}")
        return self._parse_status(stat[3:])

    def _parse_status(self, payload: bytes) -> dict[str, Any]:
        """``pulses=<p> err=<e> ...`` -> dict with int values where they are numbers."""
        out: dict[str, Any] = {}
        for field in payload.decode("latin-1").split():
            key, sep, value = field.partition("=")
            if not sep:
                raise BenchError(f"{self.who}: cannot read STAT? reply {payload!r}")
            out[key] = int(value) if value.isdigit() else value
        for key in ("pulses", "err", "state"):
            if key not in out:
                raise BenchError(f"{self.who}: STAT? reply {payload!r} has no {key}")
        return out



__all__ = ["SerialClockBoard"]
