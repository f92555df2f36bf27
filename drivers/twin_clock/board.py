"""The clock board (Arduino Uno running twin_clock): its commands and what they mean.

`SerialClockBoard` implements `lab.hal.ClockBoard` for the protocol in
firmware/PROTOCOL.md (version 2) over a `drivers.twin_clock.transport.LineLink`: the
port, line framing, sequence tags, time-outs and reopening are the transport's; the
handshake, the commands, the counting of pulses and the recovery after a dropped port
are here. By default the transport is a `SerialTransport` on ``port`` (pyserial); any
`Transport` can be passed instead (``transport=``, e.g. a `MemoryTransport` over the
emulated board's protocol, to test this logic without a pty).

Every command carries a sequence tag ``#<seq> ``; a reply without the awaited tag is
discarded, so line noise or a late reply to an earlier command never answers the wrong
question. A banner in mid-session means the board reset (its pulse count restarted, a
burst may be lost): that is an error, never papered over. A port that drops is reopened
once; ``STAT?`` then tells whether the in-flight command went out, so no acknowledged
pulse is lost and none counted twice.

**Old firmware.** A protocol-1 board talks at 115200 baud, not at the 1 Mbaud of
version 2: when no banner comes at the configured rate (and that rate is not 115200),
the board is probed once with ``VER?`` at 115200 baud, and if it answers, the driver
stops with one line naming its version and rate and this driver's (PROTOCOL.md,
"Versioning").

Every failure is a one-line `BenchError` naming the board and its port.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Any

from drivers.twin_clock.transport import LineLink, SerialTransport, Transport
from lab.errors import one_line
from lab.hal import BenchError, Unsafe
from lab.hal import clock_protocol as proto

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


class SerialClockBoard:
    """The twin_clock board on ``port`` (a device path or any pyserial URL).

    ``baud``: the port's rate (default the protocol's, 1 Mbaud). ``pulse_width_us`` and
    ``pulse_period_us`` shape every pulse; ``ready_timeout`` (s) bounds the wait for the
    banner after opening (the Uno resets on open); ``reply_timeout`` (s) bounds every
    reply, plus the burst's duration for ``PULSE``; ``watchdog_ms`` > 0 arms the board's
    watchdog (the driver keeps long bursts alive). ``transport``: the bytes' way to the
    board (default a `SerialTransport` on ``port`` at ``baud``).
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
        transport: Transport | None = None,
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
        self.baud = int(baud)
        self.width_us, self.period_us = int(pulse_width_us), int(pulse_period_us)
        self.ready_timeout, self.reply_timeout = float(ready_timeout), float(reply_timeout)
        self.watchdog_ms = int(watchdog_ms)
        self.name = name
        self.who = f"{name} on {port}"
        self.firmware = ""  # from the banner
        self.identity = ""  # the *IDN? payload
        self.confirmed = 0  # pulses acknowledged since open
        self._base = 0  # the board's pulse count when we opened it
        self._lock = threading.RLock()
        self._closed = False
        if transport is None:
            transport = SerialTransport(port, self.baud, write_timeout=self.reply_timeout)
        self._link = LineLink(transport, self.who)
        # pre-encoded: a pulse(1) is one format, one write, one compare
        self._pulse_tail = f" {self.width_us} {self.period_us}\n".encode()
        self._one = _PULSE + b"1" + self._pulse_tail
        with self._lock:
            self._link.open()
            self._handshake(banner_required=True)

    # -- the HAL ------------------------------------------------------------------------------
    def identify(self) -> str:
        """The board's ``*IDN?`` reply, e.g. ``twinlab,twin_clock,<serial>,<firmware>,<build>``."""
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
        """``STAT?`` as a dict: pulses, err, wdt (int); state (str)."""
        with self._lock:
            return self._parse_status(self._ask(_STAT, proto.STAT))

    def safe_state(self) -> list[Unsafe]:
        """Clock line low, any burst stopped (``SAFE``). Never raises: returns
        ``[Unsafe(None, reason)]`` when the board did not confirm it (not reachable, port
        not open, another answer), else an empty list (`lab.hal` contract)."""
        with self._lock:
            if not self._link.is_open:
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
            self._link.close("closed")

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
        """Send ``body`` (which starts with a space) tagged; the reply after the tag. A long
        burst with the watchdog armed is kept alive with ``STAT?``; a banner is a reset."""
        keepalive = (self.watchdog_ms * 1e-3 / 4, _STAT) if self.watchdog_ms else None
        return self._link.request(
            body, timeout, what, on_other=self._other_line, keepalive=keepalive
        )

    def _other_line(self, line: bytes) -> None:
        """A line without the awaited tag: a READY banner means the board reset."""
        if _BANNER.search(line):
            raise BenchError(
                f"{self.who}: board reset (READY banner mid-session); pulses since open: "
                f"{self.confirmed} confirmed"
            )

    # -- handshake, recovery ------------------------------------------------------------------
    def _wait_banner(self, timeout: float) -> bool:
        """Wait for ``READY twin_clock <fw> proto <v>``; False if none within ``timeout`` s.
        Lines before it (bootloader noise) are skipped. Refuses a protocol it does not speak."""
        deadline = time.monotonic() + timeout
        while (line := self._link.readline(deadline)) is not None:
            m = _BANNER.search(line)
            if m:
                self.firmware = m.group(1).decode("latin-1")
                self._check_version(int(m.group(2)), "its banner")
                return True
            log.debug("%s: skipped %r before the banner", self.who, line)
        return False

    def _check_version(self, version: int, source: str, baud: int | None = None) -> None:
        if version != PROTOCOL:
            self._link.close(f"protocol version {version}")
            at = f" at {baud} baud" if baud is not None else ""
            ours = f" at {self.baud} baud" if baud is not None else ""
            raise BenchError(
                f"{self.who}: the board speaks protocol version {version} ({source}){at}, "
                f"this driver speaks version {PROTOCOL}{ours}; update the "
                + ("driver" if version > PROTOCOL else "firmware (make -C firmware upload)")
            )

    def _probe_old_rate(self) -> str:
        """No banner at our rate: ask ``VER?`` at protocol 1's 115200 baud. Raises the
        version error if a board answers there; else the rate back and a note for the
        no-banner message."""
        old = proto.BAUD_V1
        if self.baud == old:
            return ""
        try:
            self._link.set_baud(old)
            self._link.write(b"\n" + _VER[1:])
            deadline = time.monotonic() + min(self.reply_timeout, self.ready_timeout)
            while (line := self._link.readline(deadline)) is not None:
                m = _VERSION.search(line) or _BANNER.search(line)
                if m:
                    version = int(m.group(m.lastindex or 1))
                    self._check_version(version, proto.VER, baud=old)
                    return ""  # our version at the old rate: the bench file names the rate
            self._link.set_baud(self.baud)
        except OSError as exc:
            return f"; probing at {old} baud failed ({one_line(exc)})"
        return f"; nothing answered at {old} baud (protocol version 1) either"

    def _handshake(self, banner_required: bool, settle: float = 0.0) -> tuple[bool, dict[str, Any]]:
        """Banner, ``VER?``, ``*IDN?``, ``WDT``, ``STAT?``; (banner seen?, status).

        After a reconnect (``banner_required`` False) ``STAT?`` comes first, and while the
        board is still in a burst it is polled for up to ``settle`` s (VER? would be busy)."""
        try:
            got = self._wait_banner(self.ready_timeout)
            if banner_required and not got:
                note = self._probe_old_rate()
                raise BenchError(
                    f"{self.who}: no ready banner within {self.ready_timeout} s at "
                    f"{self.baud} baud (is it a twin_clock board? is another program holding "
                    f"the port?){note}"
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
            self._link.close(one_line(exc))
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
        if self._closed:
            self._link.close(cause)
            raise BenchError(f"{self.who}: the port is closed") from None
        log.warning("%s: port failed during %s (%s); reconnecting", self.who, what, cause)
        self._link.reopen(cause, self.ready_timeout)
        try:
            self._link.write(b"\n")  # end any half-sent line
            reset, status = self._handshake(banner_required=False, settle=timeout)
            expected = self._base + self.confirmed
            pulses = status["pulses"]
            if reset and not self.confirmed and not n:  # nothing to lose: start afresh
                self._base = pulses
                expected = pulses
            if pulses < expected or (reset and (self.confirmed or n)):
                self._link.close("the board reset")
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
                self._link.close("pulse count mismatch after a reconnect")
                raise BenchError(
                    f"{self.who}: port dropped ({cause}); after reconnecting the board counts "
                    f"{pulses - self._base} pulses since open, {self.confirmed} were confirmed"
                    + (f" and PULSE {n} was in flight" if n else "")
                )
        except OSError as again:
            msg = f"port disappeared ({cause}); reconnect failed ({one_line(again)})"
            self._link.close(msg)
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
            self._link.close(msg)
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
