"""The real clock-board firmware (twin_clock under simavr) as the emulated bench's clock.

`FirmwareBoard` runs firmware/build/sim/twin_sim on firmware/build/avr/twin_clock.elf
(built with ``make -C firmware`` if needed) and turns every **rising** edge of the
simulated clock pin into one ``board.clock_edge()`` under ``lock``: the twin network
is updated by what the firmware actually does on its pin, pulse for pulse.

The host does not get the harness's pty. `FirmwareBoard` holds that pty open itself
and offers the host a pty of its own (``path``, raw, like `SerialBoard`); one relay
thread passes bytes between the two and reads the harness's edge log (``EDGE <cycle>
<0|1>`` lines on its stdout). **Ordering:** before it forwards any firmware->host
bytes, the relay drains every EDGE line already in the pipe and applies the rising
ones. The harness writes a service slot's UART bytes to its pty and then flushes the
slot's EDGE lines (twin_sim.c ``service_pty``), so everything flushed before a reply
byte was written is in the pipe by the time that byte is read here. The firmware
sends ``OK <n>`` only after the last pulse has fallen, so the line's ``\\n`` leaves
the simulated UART in the slot of that fall or a later one (at 1 Mbaud five byte
times, 55 us, are about one 50 us slot: the same slot is possible), and a slot's edges are
flushed before its bytes: when the host has the whole ``OK`` line, the board already
has every edge of the burst. (Edges also get applied as soon as they reach
the pipe, replies or not.)

**Reset on open.** twin_sim resets the MCU when a program opens *its* pty, and this
class holds that pty open for good; so when a host opens ``path`` (noticed as
`SerialBoard` does: the master stops reporting POLLHUP), the relay closes the
harness's pty, waits ``_REOPEN_GAP`` s for the harness to notice, and opens it again:
the harness holds the MCU in reset for ``--boot-ms`` (100 ms), then the banner comes,
as with an Uno's DTR. While no host has ``path`` open, what the firmware sends is
dropped (as on a real board). As with `SerialBoard`, a host that closes and reopens
within a few milliseconds may not be seen reopening.

Both the harness and ``make`` are started through `lab.procs`: they get a parent-death
signal (Linux), so killing the emulator's process, even with SIGKILL, ends them too.

Only os, termios/tty, select, subprocess and threading (lab/ does not need pyserial).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import threading
import time
import tty
from pathlib import Path

from lab import procs
from lab.emulator.board import EmulatedBoard
from lab.hal import BenchError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[3]
FIRMWARE_DIR = ROOT / "firmware"
DEFAULT_BUILD = FIRMWARE_DIR / "build"
ELF_NAME = Path("avr") / "twin_clock.elf"
HARNESS_NAME = Path("sim") / "twin_sim"

_HUP_POLL = 0.01  # s between checks for a host opening the port while none has it open
_REOPEN_GAP = 0.02  # s the harness's pty stays closed so that the harness sees a re-open
_WRITE_BUDGET = 0.5  # s a write may wait for room in a pty before it is dropped
_START_TIMEOUT = 10.0  # s for the harness's PTY line


class FirmwareError(BenchError):
    """The firmware or its simavr harness cannot be built or run."""


def missing_tools() -> list[str]:
    """What building the AVR firmware and the simavr harness needs and this machine lacks."""
    missing = [t for t in ("make", "cc", "avr-gcc", "avr-g++", "avr-size") if not shutil.which(t)]
    core = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino")
    if not core.is_dir():
        missing.append(f"the Arduino core ({core}; arduino-core-avr)")
    if not Path("/usr/include/simavr/sim_avr.h").exists():
        missing.append("libsimavr's headers (libsimavr-dev)")
    return missing


def build_firmware(build: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """``make -C firmware avr sim`` into ``build`` (default firmware/build); (elf, harness).

    Incremental: quick when nothing changed. FirmwareError with the log's tail on failure."""
    out = Path(build) if build is not None else DEFAULT_BUILD
    missing = missing_tools()
    if missing:
        raise FirmwareError(
            f"cannot build the clock-board firmware: missing {', '.join(missing)} "
            "(see firmware/apt-packages.txt)"
        )
    run = procs.run(  # SIGTERM if we die: make removes its half-built targets
        ["make", "-C", str(FIRMWARE_DIR), f"BUILD={out.resolve()}", "-j2", "avr", "sim"],
        capture_output=True, text=True, timeout=600, death_signal=signal.SIGTERM,
    )  # fmt: skip
    if run.returncode != 0:
        tail = (run.stdout + run.stderr)[-2000:]
        raise FirmwareError(f"building the clock-board firmware failed:\n{tail}")
    return out / ELF_NAME, out / HARNESS_NAME


class FirmwareBoard:
    """The clock board of an `EmulatedBoard`: twin_clock under simavr, relayed on a pty.

    ``elf``/``harness``: the firmware ELF and the twin_sim binary (default: built into
    ``build``, itself firmware/build by default). ``boot_ms``: the simulated bootloader.
    ``fast``: let simavr run faster than real time (``--fast``).

    ``edges`` counts the rising edges applied to the board since `start`; ``pulses``
    those since the firmware's last reset (what its ``STAT?`` reports).
    """

    def __init__(
        self,
        board: EmulatedBoard,
        lock: threading.Lock | None = None,
        elf: str | os.PathLike[str] | None = None,
        harness: str | os.PathLike[str] | None = None,
        *,
        build: str | os.PathLike[str] | None = None,
        boot_ms: int = 100,
        fast: bool = False,
    ) -> None:
        self.board = board
        self.lock = lock or threading.Lock()
        self.elf = Path(elf) if elf is not None else None
        self.harness = Path(harness) if harness is not None else None
        self.build = build
        self.boot_ms = int(boot_ms)
        self.fast = fast
        self.edges = 0
        self.pulses = 0
        self.resets = 0  # RESET lines from the harness (one per host open, one at start)
        self.firmware_tty = ""  # the harness's pty (held by us, not for the host)
        self._tty = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_fd = -1  # the harness's stdout (edge log)
        self._log_buf = b""
        self._fw = -1  # our end of the harness's pty
        self._master = -1  # the host's pty, master side
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._err_thread: threading.Thread | None = None
        self._stderr = bytearray()
        self._stopping = False
        self._host_open = False
        self._dead = ""  # why the harness is gone, once it is

    # -- life cycle -------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The device a host opens as the clock board's serial port."""
        return self._tty

    def start(self) -> FirmwareBoard:
        """Build if needed, start the harness, open both ptys, relay from a thread."""
        if self._thread is not None:
            raise RuntimeError("FirmwareBoard already started")
        if self.elf is None or self.harness is None:
            elf, harness = build_firmware(self.build)
            self.elf = self.elf or elf
            self.harness = self.harness or harness
        for p in (self.elf, self.harness):
            if not p.exists():
                raise FirmwareError(f"clock-board firmware: {p} does not exist")
        try:
            self._start_harness()
            self._open_firmware_pty()
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line editing, no \n -> \r\n
            self._tty = os.ttyname(slave)
            os.close(slave)  # the master now sees POLLHUP until a host opens the slave
            os.set_blocking(master, False)
            self._master = master
            self._wake = os.pipe()
            for fd in self._wake:
                os.set_blocking(fd, False)
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._relay, name="firmware-board", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the relay, end the harness (SIGTERM), close everything; idempotent."""
        self._stopping = True
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10.0)
            except subprocess.TimeoutExpired:
                log.warning("firmware board: twin_sim ignored SIGTERM; killing it")
                proc.kill()
                proc.wait(5.0)
        if self._err_thread is not None:
            self._err_thread.join(5.0)
            self._err_thread = None
        for name in ("_fw", "_master", "_log_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)
        if proc is not None and proc.stdout is not None:
            with contextlib.suppress(OSError):
                proc.stdout.close()  # its fd was _log_fd: already closed; drop the object
        if self._wake is not None:
            for fd in self._wake:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake = None

    def __enter__(self) -> FirmwareBoard:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stderr(self) -> str:
        """What the harness said on stderr (libsimavr's loading chatter, ``END ...``)."""
        return self._stderr.decode("latin-1", "replace")

    # -- the harness ------------------------------------------------------------------------
    def _start_harness(self) -> None:
        assert self.elf is not None and self.harness is not None
        cmd = [str(self.harness), "--boot-ms", str(self.boot_ms)]
        if self.fast:
            cmd.append("--fast")
        cmd.append(str(self.elf))
        try:
            self._proc = proc = procs.popen(  # SIGKILL when we die, however we die
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=0, death_signal=signal.SIGKILL,
            )  # fmt: skip
        except OSError as exc:
            raise FirmwareError(f"cannot start {self.harness}: {exc}") from None
        assert proc.stdout is not None and proc.stderr is not None
        self._err_thread = threading.Thread(
            target=self._collect_stderr, args=(proc.stderr,), name="twin_sim-stderr", daemon=True
        )
        self._err_thread.start()
        self._log_fd = proc.stdout.fileno()
        os.set_blocking(self._log_fd, False)
        deadline = time.monotonic() + _START_TIMEOUT
        while b"\n" not in self._log_buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._log_fd], [], [], left)[0]:
                raise FirmwareError(f"{self.harness}: no PTY line within {_START_TIMEOUT} s")
            try:
                chunk = os.read(self._log_fd, 4096)
            except BlockingIOError:
                continue
            if not chunk:
                proc.wait(5.0)
                if self._err_thread is not None:
                    self._err_thread.join(2.0)
                raise FirmwareError(
                    f"{self.harness} exited ({proc.returncode}) before its PTY line: "
                    f"{self.stderr.strip()[-500:]}"
                )
            self._log_buf += chunk
        first, _, self._log_buf = self._log_buf.partition(b"\n")
        words = first.decode("latin-1").split()
        if len(words) != 2 or words[0] != "PTY":
            raise FirmwareError(f"{self.harness}: expected 'PTY <path>', got {first!r}")
        self.firmware_tty = words[1]

    def _collect_stderr(self, pipe) -> None:
        for line in iter(pipe.readline, b""):
            self._stderr += line
            if len(self._stderr) > 16384:
                del self._stderr[:-8192]
        pipe.close()

    def _open_firmware_pty(self) -> None:
        """Open the harness's pty: the harness then resets the MCU (boot_ms, banner)."""
        fd = os.open(self.firmware_tty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        self._fw = fd

    def _reset_firmware(self) -> None:
        """As an Uno's DTR on open: close the harness's pty, let it notice, reopen it."""
        if self._fw >= 0:
            os.close(self._fw)
            self._fw = -1
        time.sleep(_REOPEN_GAP)
        self._drain_edges()
        self._open_firmware_pty()

    def _drain_edges(self) -> bool:
        """Apply every EDGE line already in the harness's stdout; False at its EOF."""
        if self._log_fd < 0:
            return False
        alive = True
        while True:
            try:
                chunk = os.read(self._log_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                alive = False
                break
            self._log_buf += chunk
        if b"\n" in self._log_buf:
            *lines, self._log_buf = self._log_buf.split(b"\n")
            for line in lines:
                self._log_line(line)
        return alive

    def _log_line(self, line: bytes) -> None:
        words = line.split()
        if len(words) == 3 and words[0] == b"EDGE":
            if words[2] == b"1":
                with self.lock:
                    self.board.clock_edge()
                self.edges += 1
                self.pulses += 1
        elif words[:1] == [b"RESET"]:
            self.pulses = 0
            self.resets += 1
        elif line.strip():
            log.debug("firmware board: twin_sim said %r", line)

    # -- the relay --------------------------------------------------------------------------
    def _relay(self) -> None:
        assert self._wake is not None
        wake_r = self._wake[0]
        try:
            while not self._stopping:
                fds = [wake_r]
                if self._log_fd >= 0 and not self._dead:
                    fds.append(self._log_fd)
                if self._fw >= 0 and not self._dead:
                    fds.append(self._fw)
                timeout: float | None = None
                if self._host_open:
                    fds.append(self._master)
                elif _poll_one(self._master) & select.POLLHUP:
                    timeout = _HUP_POLL  # still nobody: look again soon
                else:  # a host opened the port: reset the firmware, like DTR
                    self._host_open = True
                    self._reset_firmware()
                    continue
                poller = select.poll()
                for fd in fds:
                    poller.register(fd, select.POLLIN)
                wait = None if timeout is None else max(1, math.ceil(timeout * 1000))
                for fd, ev in poller.poll(wait):
                    if fd == wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_r, 4096)
                    elif fd == self._log_fd:
                        if not self._drain_edges():
                            self._harness_died()
                    elif fd == self._fw:
                        self._from_firmware()
                    elif fd == self._master:
                        self._from_host(ev)
        except Exception:  # log it: a silent relay would look like a mute board
            log.exception("firmware board: relay failed")

    def _from_firmware(self) -> None:
        try:
            data = os.read(self._fw, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            log.warning("firmware board: reading twin_sim's pty failed: %s", exc)
            time.sleep(0.01)
            return
        # the crux: every edge the MCU made before these bytes, onto the board first
        if not self._drain_edges():
            self._harness_died()
        if self._host_open and data:
            _write_all(self._master, data, "host")

    def _from_host(self, ev: int) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the host closed the port
            if exc.errno != errno.EIO:
                log.warning("firmware board: reading the host's pty failed: %s", exc)
            self._host_open = False
            return
        if not data:
            self._host_open = False
            return
        if self._fw >= 0:
            _write_all(self._fw, data, "firmware")

    def _harness_died(self) -> None:
        if self._dead:
            return
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(1.0)
        self._dead = f"twin_sim ended (exit {code})"
        if self._stopping:
            return
        if code == 0:  # a signal (a terminal's Ctrl-C reaches it too): the board is off
            log.info("firmware board: %s", self._dead)
        else:
            log.error("firmware board: %s: %s", self._dead, self.stderr.strip()[-500:])


def _poll_one(fd: int) -> int:
    """The poll events pending on ``fd`` right now."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    events = poller.poll(0)
    return events[0][1] if events else 0


def _write_all(fd: int, data: bytes, who: str) -> None:
    """Write ``data`` to a non-blocking pty; dropped if it takes nothing for a while."""
    deadline = time.monotonic() + _WRITE_BUDGET
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                log.warning("firmware board: %s is not reading; %d bytes dropped", who, len(data))
                return
        except OSError as exc:  # EIO: nobody on the other side
            log.debug("firmware board: write to %s failed (%s); dropped", who, exc)
            return


__all__ = ["FirmwareBoard", "FirmwareError", "build_firmware", "missing_tools"]
