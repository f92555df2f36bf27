"""The emulated clock board on a pseudo-terminal, so the real serial driver can rehearse.

`SerialBoard` opens a pty, serves the clock-board protocol (`ClockProtocol`,
firmware/PROTOCOL.md) on its master side, and every clock edge it emits is one
``board.clock_edge()`` call under ``lock``, in order, exactly as the in-process
`EmulatedClock` would make it: a training run over the wire is bit-identical to one
in process. ``path`` is the device a serial port library opens.

Like an Arduino Uno it resets when a host opens the port (DTR): input is ignored for
``reset_delay`` s (the bootloader) and then the banner is printed. A pty reports no
open or close events, only a hang-up state while no host has it open, so a host that
closes the port and reopens it within a few milliseconds may not be seen reopening
(no reset, no banner): leave the port closed for ~50 ms. For tests it can misbehave
on request: `simulate_reset`, `drop`, `mute`, `inject`.

Only os, termios/tty, select and threading: lab/ does not depend on pyserial.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from lab.emulator.board import EmulatedBoard
from lab.emulator.clock_protocol import ClockProtocol

log = logging.getLogger(__name__)

_HUP_POLL = 0.01  # s between checks for a host opening the port while none has it open
_WRITE_BUDGET = 0.5  # s a reply may wait for room in the pty before it is dropped


class SerialBoard:
    """The clock board of an `EmulatedBoard`, served on a pty.

    ``pace``: bursts take real time (edges ``period_us`` apart) instead of happening at
    once. ``reset_on_open``: a host opening the port resets the board, as DTR resets an
    Uno. ``link``: a symlink kept pointing at the current pty, so that the port keeps
    its name when it reappears after `drop`; ``path`` is then the link.
    """

    def __init__(
        self,
        board: EmulatedBoard,
        *,
        lock: threading.Lock | None = None,
        pace: bool = False,
        reset_delay: float = 0.05,
        reset_on_open: bool = True,
        link: str | os.PathLike[str] | None = None,
    ) -> None:
        self.board = board
        self.lock = lock or threading.Lock()
        self.reset_delay = reset_delay
        self.reset_on_open = reset_on_open
        self.link = Path(link) if link is not None else None
        self.protocol = ClockProtocol(self._pulse, pace=pace, on_output=self._flush)
        self._master: int | None = None
        self._generation = 0  # counts ptys opened (a new one may reuse the fd number)
        self._tty = ""
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._state = threading.Lock()  # guards the flags and deadlines below
        self._wlock = threading.Lock()  # one writer at a time on the master; reply order
        self._stopping = False
        self._requests: list[Callable[[], None]] = []
        self._banner_due: float | None = None
        self._reappear_at: float | None = None
        self._listening = False  # False while "in the bootloader": input is lost
        self._host_open = False
        self._muted = False

    # -- life cycle -------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The device (or the ``link`` to it) that a host opens as a serial port."""
        return str(self.link) if self.link is not None else self._tty

    @property
    def pulses(self) -> int:
        """Pulses since the board's last reset (what ``STAT?`` reports)."""
        return self.protocol.pulses

    def start(self) -> SerialBoard:
        """Open the pty and serve it from a thread; the banner follows after ``reset_delay``."""
        if self._thread is not None:
            raise RuntimeError("SerialBoard already started")
        self._wake = os.pipe()
        for fd in self._wake:
            os.set_blocking(fd, False)  # a full pipe already means "wake up"
        self._open_pty()
        self._schedule_banner()
        self._thread = threading.Thread(target=self._serve, name="serial-board", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, close the pty; idempotent."""
        with self._state:
            self._stopping = True
        self._poke()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self.protocol.close()
        self._close_master()
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None

    def __enter__(self) -> SerialBoard:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fault injection --------------------------------------------------------------------
    def simulate_reset(self) -> None:
        """The board resets: protocol back to power-on (count 0, any burst lost), input
        ignored for ``reset_delay`` s, then the banner again. The twin network keeps its codes."""
        self.protocol.reset()
        self._schedule_banner()

    def drop(self, reappear_after: float | None = None) -> None:
        """The port disappears (the pty is closed; a host's read fails). With
        ``reappear_after`` s a new pty appears, at the same ``path`` if ``link`` is set;
        the board itself keeps its state (a reset follows only if the host's open resets)."""
        done = threading.Event()

        def do_drop() -> None:
            self._close_master()
            with self._state:
                self._host_open = False
                if reappear_after is not None:
                    self._reappear_at = time.monotonic() + reappear_after
            done.set()

        if self._thread is None or not self._thread.is_alive():
            do_drop()
            return
        with self._state:
            self._requests.append(do_drop)
        self._poke()
        done.wait(5.0)

    def mute(self, on: bool = True) -> None:
        """Stop answering (input is swallowed, nothing is written) or resume."""
        self._muted = on

    def inject(self, data: bytes) -> None:
        """Write raw ``data`` to the host, as line noise would."""
        with self._wlock:
            self._write_locked(data)

    # -- the board side ---------------------------------------------------------------------
    def _pulse(self) -> None:
        with self.lock:
            self.board.clock_edge()

    def _flush(self) -> None:
        """Write the lines the protocol queued outside `feed` (paced bursts, watchdog)."""
        with self._wlock:
            lines = self.protocol.poll()
            if lines and not self._muted:
                self._write_locked("".join(f"{line}\r\n" for line in lines).encode("latin-1"))

    def _schedule_banner(self) -> None:
        with self._state:
            self._listening = False
            self._banner_due = time.monotonic() + self.reset_delay
        self._poke()

    def _poke(self) -> None:
        """Wake the serving thread."""
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no \n -> \r\n
        self._tty = os.ttyname(slave)
        os.close(slave)  # the master now sees POLLHUP until a host opens the slave
        os.set_blocking(master, False)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._tty)
            tmp.replace(self.link)
        with self._wlock:
            self._master = master
            self._generation += 1
        with self._state:
            self._host_open = False

    def _close_master(self) -> None:
        with self._wlock:
            if self._master is not None:
                os.close(self._master)
                self._master = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def _write_locked(self, data: bytes) -> None:
        """Write ``data`` to the host (caller holds ``_wlock``); dropped if nobody can take it."""
        deadline = time.monotonic() + _WRITE_BUDGET
        while data and self._master is not None:
            try:
                n = os.write(self._master, data)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [self._master], [], left)[1]:
                    log.warning("serial board: host is not reading; %d bytes dropped", len(data))
                    return
                continue
            except OSError as exc:  # EIO: no host has the port open
                log.debug("serial board: write failed (%s); %d bytes dropped", exc, len(data))
                return
            data = data[n:]

    def _serve(self) -> None:
        """The board's main loop: requests, host open/close, banner, input."""
        assert self._wake is not None
        wake_r = self._wake[0]
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        watched: int | None = None  # the master, while a host has the port open
        generation = self._generation
        while True:
            if self._requests or self._stopping or self._reappear_at is not None:
                if not self._housekeeping():
                    return
            master = self._master
            if watched is not None and (watched != master or generation != self._generation):
                poller.unregister(watched)  # dropped or replaced
                watched = None
            timeout: float | None = None
            if master is not None and watched is None:
                if _poll_one(master) & select.POLLHUP:  # still nobody: look again soon
                    timeout = _HUP_POLL
                else:  # a host opened the port
                    poller.register(master, select.POLLIN)
                    watched, generation = master, self._generation
                    self._host_open = True
                    if self.reset_on_open:
                        self.simulate_reset()
            if self._banner_due is not None:
                left = self._banner_due - time.monotonic()
                if left <= 0:
                    self._print_banner()
                else:
                    timeout = left if timeout is None else min(timeout, left)
            if self._reappear_at is not None:
                left = max(0.0, self._reappear_at - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            events = poller.poll(None if timeout is None else max(1, math.ceil(timeout * 1000)))
            for fd, ev in events:
                if fd == wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                elif fd == watched and not (ev & select.POLLIN and self._receive(fd)):
                    poller.unregister(fd)  # the host closed the port
                    watched = None
                    self._host_open = False

    def _housekeeping(self) -> bool:
        """Run requests from other threads, reopen a dropped port when due; False: stop."""
        with self._state:
            if self._stopping:
                return False
            requests, self._requests = self._requests, []
            reappear = self._reappear_at is not None and time.monotonic() >= self._reappear_at
            if reappear:
                self._reappear_at = None
        for request in requests:
            request()
        if reappear:
            self._open_pty()
        return True

    def _print_banner(self) -> None:
        """End of the bootloader: listen, and print the banner (into the void if no host
        has the port open, as a real board does)."""
        with self._state:
            self._banner_due = None
            self._listening = True
        with self._wlock:
            if not self._muted and self._host_open:
                self._write_locked(f"{self.protocol.banner()}\r\n".encode())

    def _receive(self, master: int) -> bool:
        """Read what the host sent and answer it; False if the host has closed the port."""
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the host closed the port
                log.warning("serial board: read failed: %s", exc)
            return False
        if not data:
            return False
        if self._muted or not self._listening:
            return True
        with self._wlock:
            try:
                lines = self.protocol.feed(data)
            except Exception:  # a bug in the board model must not kill the port
                log.exception("serial board: handling %r failed", data)
                return True
            if lines:
                self._write_locked("".join(f"{line}\r\n" for line in lines).encode("latin-1"))
        return True


def _poll_one(fd: int) -> int:
    """The poll events pending on ``fd`` right now."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    events = poller.poll(0)
    return events[0][1] if events else 0


__all__ = ["SerialBoard"]
