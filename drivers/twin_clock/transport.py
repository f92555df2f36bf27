"""The clock board's link: the port, line framing, sequence tags, time-outs, reconnect.

Two layers, neither of which knows what a command means (that is `board.py`):

- a **transport** moves bytes: `SerialTransport` (pyserial, any device path or pyserial
  URL, with a direct file-descriptor fast path on local devices) or `MemoryTransport`
  (an in-process device such as `lab.emulator.clock_protocol.ClockProtocol`, for tests
  of the board logic without a pty). The contract is `Transport`.
- `LineLink` frames lines on a transport: it tags every command ``#<seq> ``, waits for
  the reply carrying that tag until a deadline (discarding other lines, or handing them
  to the caller), logs the I/O, and reopens a transport that failed.

Failures: a transport raises `OSError` (``serial.SerialException`` is one) when the
link drops, and `WriteTimeout` when the port is there but takes nothing; `LineLink`
turns time-outs into one-line `BenchError` naming the board and its port.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable
from typing import Any, Protocol

from lab.errors import one_line
from lab.hal import BenchError
from lab.logs import io_enabled, io_log

log = logging.getLogger(__name__)

QUANTUM = 0.02  # s: pyserial read timeout; deadlines are checked this often when idle
RECONNECT_POLL = 0.1  # s between attempts to reopen a port that disappeared
TAG_MOD = 0x10000  # sequence tags run 0..TAG_MAX (lab.hal.clock_protocol.TAG_MAX = 65535)


class WriteTimeout(Exception):
    """The port is open but did not take the bytes within its write time-out (args[0], s)."""


class Transport(Protocol):
    """Bytes to and from the board. ``open`` may be called again after ``close``."""

    def open(self) -> None:
        """Open the link (an Uno resets on open); OSError or ValueError if it cannot."""

    def close(self) -> None:
        """Close the link; idempotent, never raises."""

    def write(self, data: bytes) -> None:
        """Send all of ``data``; OSError if the link failed, WriteTimeout if it is stuck."""

    def read(self, timeout: float) -> bytes:
        """What arrived within ``timeout`` s (b"" if nothing); OSError if the link failed."""

    def set_baud(self, baud: int) -> None:
        """Change the rate of an open link (no reset); a no-op where rates do not exist."""


class SerialTransport:
    """A serial port through pyserial: ``port`` a device path or a pyserial URL
    (loop://, socket://, rfc2217://), ``baud`` its rate, ``write_timeout`` s."""

    def __init__(self, port: str | os.PathLike[str], baud: int, write_timeout: float) -> None:
        self.port, self.baud, self.write_timeout = os.fspath(port), int(baud), write_timeout
        self._ser: Any = None
        self._fd: int | None = None

    def open(self) -> None:
        import serial  # pyserial: drivers/ only

        self._ser = serial.serial_for_url(
            self.port,
            baudrate=self.baud,
            timeout=QUANTUM,
            write_timeout=self.write_timeout,
            exclusive=True,
        )
        try:  # a local device: read its descriptor directly (URL handlers have none)
            self._fd = self._ser.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None

    def close(self) -> None:
        self._fd = None
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except OSError as exc:
                log.debug("%s: close failed: %s", self.port, exc)

    def write(self, data: bytes) -> None:
        """One os.write on a local device, pyserial for the rest of it."""
        import serial

        if self._fd is not None:
            try:
                data = data[os.write(self._fd, data) :]
            except BlockingIOError:
                pass
            except OSError as exc:
                raise serial.SerialException(f"write failed: {exc}") from None
            if not data:
                return
        if self._ser is None:
            raise serial.SerialException("the port is not open")
        try:
            self._ser.write(data)
        except serial.SerialTimeoutException:
            raise WriteTimeout(self.write_timeout) from None

    def read(self, timeout: float) -> bytes:
        """Straight from the descriptor on a local device (pyserial's read costs ~50 us a
        call more); through pyserial otherwise. Errors as pyserial raises them."""
        import serial

        fd = self._fd
        if fd is not None:
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
        ser = self._ser
        if ser is None:
            raise serial.SerialException("the port is not open")
        waiting = ser.in_waiting
        return ser.read(waiting) if waiting else ser.read(1)  # read(1) waits <= QUANTUM

    def set_baud(self, baud: int) -> None:
        self.baud = int(baud)
        if self._ser is not None:
            self._ser.baudrate = self.baud


class MemoryTransport:
    """An in-process board: ``device.feed(bytes) -> [reply lines]``, ``device.banner()``,
    ``device.reset()`` and, optionally, ``device.poll() -> [lines]`` (the interface of
    `lab.emulator.clock_protocol.ClockProtocol`). Opening resets the device and queues its
    banner, as an Uno's DTR does. ``fail_writes``/``fail_reads``/``fail_opens`` make the
    next writes (not delivered), reads (what had arrived is lost) or opens raise OSError
    (a dropped port); ``reset_on_open`` False models a board that keeps running across a
    reopen. ``written`` records every byte the host sent; ``inject`` puts bytes on the
    line to the host (noise, a banner)."""

    def __init__(self, device: Any, *, reset_on_open: bool = True) -> None:
        self.device = device
        self.reset_on_open = reset_on_open
        self.is_open = False
        self.fail_writes = 0
        self.fail_reads = 0
        self.fail_opens = 0
        self.opens = 0
        self.written = bytearray()
        self._rx = bytearray()

    def open(self) -> None:
        if self.fail_opens:
            self.fail_opens -= 1
            raise OSError("no such device (memory transport)")
        self.is_open = True
        self.opens += 1
        self._rx.clear()
        if self.reset_on_open or self.opens == 1:
            self.device.reset()
            self._rx += self.device.banner().encode() + b"\r\n"

    def close(self) -> None:
        self.is_open = False

    def write(self, data: bytes) -> None:
        if not self.is_open:
            raise OSError("write failed: the port is not open (memory transport)")
        if self.fail_writes:
            self.fail_writes -= 1
            raise OSError("write failed: device disconnected (memory transport)")
        self.written += data
        for line in self.device.feed(data):
            self._rx += line.encode() + b"\r\n"

    def read(self, timeout: float) -> bytes:
        if not self.is_open:
            raise OSError("read failed: the port is not open (memory transport)")
        if self.fail_reads:
            self.fail_reads -= 1
            self._rx.clear()
            raise OSError("read failed: device disconnected (memory transport)")
        poll = getattr(self.device, "poll", None)
        if poll is not None:
            for line in poll():
                self._rx += line.encode() + b"\r\n"
        if not self._rx:  # nothing will come unless time passes (a paced device)
            time.sleep(min(timeout, 0.001))
            return b""
        data = bytes(self._rx)
        self._rx.clear()
        return data

    def set_baud(self, baud: int) -> None:
        pass

    def inject(self, data: bytes) -> None:
        """``data`` arrives at the host before anything the device says next."""
        self._rx += data


class LineLink:
    """Tagged command lines over a `Transport`, for the board called ``who``.

    ``readline`` frames replies (``\\r\\n`` or ``\\n``); ``request`` sends ``#<seq>`` +
    a body (which starts with a space and ends with ``\\n``) and returns the payload of
    the reply with that tag. ``down`` says why the link is not open.
    """

    def __init__(self, transport: Transport, who: str) -> None:
        self.transport = transport
        self.who = who
        self.is_open = False
        self.down = ""
        self._seq = 0
        self._rx = bytearray()
        self._io = io_enabled()  # decided once: no per-line cost without the I/O log

    # -- opening and closing ------------------------------------------------------------------
    def open(self) -> None:
        """Open the transport; BenchError (one line) if it cannot."""
        try:
            self.transport.open()
        except (OSError, ValueError) as exc:
            self.down = one_line(exc)
            raise BenchError(f"{self.who}: cannot open the port: {one_line(exc)}") from None
        self._opened()

    def close(self, why: str = "") -> None:
        """Close the transport; ``why`` is kept in ``down``."""
        self.down = why
        self.is_open = False
        self.transport.close()

    def reopen(self, cause: str, timeout: float) -> None:
        """Reopen a failed transport, polling for ``timeout`` s (a USB port needs a moment
        to come back, if it does); BenchError naming ``cause`` if it stays gone."""
        self.close(cause)
        deadline = time.monotonic() + timeout
        while True:
            time.sleep(RECONNECT_POLL)
            try:
                self.transport.open()
                break
            except (OSError, ValueError) as again:
                if time.monotonic() >= deadline:
                    msg = f"port disappeared ({cause}); reconnect failed ({one_line(again)})"
                    self.down = msg
                    raise BenchError(f"{self.who}: {msg}") from None
        self._opened()

    def set_baud(self, baud: int) -> None:
        """Change the rate of the open link; what arrived at the old rate is dropped."""
        self.transport.set_baud(baud)
        self._rx.clear()

    def _opened(self) -> None:
        self.is_open = True
        self.down = ""
        self._rx.clear()

    # -- bytes and lines ----------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send ``data`` as it is; OSError if the link failed."""
        if self._io:
            io_log.debug("%s -> %r", self.who, data.decode("latin-1"))
        self.transport.write(data)

    def readline(self, deadline: float) -> bytes | None:
        """The next line (without ``\\r\\n``), or None at ``deadline`` (monotonic s)."""
        rx = self._rx
        while (i := rx.find(b"\n")) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            rx += self.transport.read(left)
        line = bytes(rx[:i])
        del rx[: i + 1]
        if self._io:
            io_log.debug("%s <- %r", self.who, line.decode("latin-1"))
        return line[:-1] if line.endswith(b"\r") else line

    def send(self, body: bytes, what: str) -> bytes:
        """Write ``#<seq>`` + ``body`` with a fresh tag; the tag prefix ``b"#<seq> "``."""
        if not self.is_open:
            raise BenchError(f"{self.who}: not connected ({self.down or 'closed'})")
        self._seq = seq = (self._seq + 1) % TAG_MOD
        try:
            self.write(b"#%d" % seq + body)
        except WriteTimeout as exc:  # the port is there but takes nothing
            within = f" within {exc.args[0]:.3g} s" if exc.args else ""
            raise BenchError(f"{self.who}: could not send {what}{within}") from None
        return b"#%d " % seq

    def request(
        self,
        body: bytes,
        timeout: float,
        what: str,
        *,
        on_other: Callable[[bytes], None] | None = None,
        keepalive: tuple[float, bytes] | None = None,
    ) -> bytes:
        """Send ``body`` tagged; the payload of the reply carrying the tag (after it).

        Lines without the tag go to ``on_other`` (which may raise), else are discarded;
        noise glued to the front of the tagged reply is dropped. ``keepalive`` =
        (period s, body): while waiting, send that body (tagged, its reply discarded)
        every period. BenchError after ``timeout`` s without the reply."""
        tag = self.send(body, what)
        deadline = time.monotonic() + timeout
        period, alive = keepalive if keepalive else (0.0, b"")
        next_alive = time.monotonic() + period
        while True:
            line = self.readline(min(deadline, next_alive) if period else deadline)
            if line is None:
                now = time.monotonic()
                if now >= deadline:
                    raise BenchError(f"{self.who}: no reply to {what} within {timeout:.3g} s")
                if period and now >= next_alive:
                    self.send(alive, what)
                    next_alive = now + period
                continue
            if line.startswith(tag):
                return line[len(tag) :]
            if on_other is not None:
                on_other(line)
            at = line.find(tag)
            if at > 0:  # noise glued to the front of the reply
                return line[at + len(tag) :]
            log.debug("%s: discarded %r while waiting for %r", self.who, line, tag)


__all__ = ["LineLink", "MemoryTransport", "SerialTransport", "Transport", "WriteTimeout"]
