"""The clock board's serial protocol (firmware/PROTOCOL.md, version 2) as a state machine.

`ClockProtocol` is the firmware's line parser and command handler with no I/O: bytes
from the host go in through `feed`, reply lines (without their ``\\r\\n``) come out.
The emulated serial board (`lab.emulator.wire.serial_board`) puts it behind a pty, the
transcripts in ``firmware/tests`` run against it, and the C++ firmware (issue 4) ports
it line for line. Its constants (words, codes, ranges) are `lab.hal.clock_protocol`'s.
Choices the contract leaves open are settled here and listed in
``firmware/tests/README.md``:

- An empty line (after dropping ``\\r``) gets no reply. ``\\r`` is dropped anywhere.
- A malformed sequence tag (``#`` not followed by 0..65535 and one space) gets an
  untagged ``ERR 2 bad argument``; an overlong line gets an untagged ``ERR 3``.
- Numbers are plain ASCII digits (no sign, leading zeros allowed); replies echo the
  tag as a plain number (``#007`` -> ``#7``).
- Check order: unknown word (ERR 1), then busy (ERR 4), then arguments (ERR 2).
- ``err`` in ``STAT?`` is the code of the last ``ERR`` reply of any kind, 0 after reset.
- Power-on state is IDLE; SAFE (command or watchdog) lasts until the next PULSE.
- An omitted period is 100 us even when ``width_us`` is given, so ``PULSE 1 99``
  (period < width + 2) is ``ERR 2``.

A burst is instantaneous by default: all ``n`` edges go out while the ``PULSE`` line is
handled and the reply is ``OK <n>``. With ``pace=True`` the edges go out from a
background thread, ``period_us`` apart, so that busy, ``STAT?`` during a burst,
``SAFE`` aborts and the watchdog can be exercised; the final reply then comes
asynchronously (see `poll` and ``on_output``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.hal.clock_protocol import (  # the protocol's constants: one definition
    ALLOWED_IN_BURST,
    BANNER_FORMAT,
    COMMANDS,
    DEFAULT_PERIOD_US,
    DEFAULT_WIDTH_US,
    ERR,
    ERR_ABORTED,
    ERR_ARG,
    ERR_BUSY,
    ERR_LONG,
    ERR_TEXT,
    ERR_UNKNOWN,
    ERR_WATCHDOG,
    IDN,
    IDN_PREFIX,
    MAX_LINE,
    N_MAX,
    N_MIN,
    OK,
    PERIOD_GAP_US,
    PERIOD_MAX_US,
    PULSE,
    STAT,
    STATE_BURST,
    STATE_IDLE,
    STATE_SAFE,
    TAG_MAX,
    VER,
    WDT,
    WDT_MAX_MS,
    WIDTH_MAX_US,
    WIDTH_MIN_US,
)
from lab.hal.clock_protocol import PROTOCOL_VERSION as PROTO_VERSION
from lab.hal.clock_protocol import SAFE as SAFE_CMD

_DIGITS = frozenset("0123456789")

IDLE, BURST, SAFE = STATE_IDLE, STATE_BURST, STATE_SAFE


def _number(text: str) -> int | None:
    """The value of a run of ASCII digits, or None (empty, sign, anything else)."""
    if not text or not _DIGITS.issuperset(text):
        return None
    return int(text)


@dataclass(eq=False)
class _Burst:
    """One paced burst: ``n`` edges ``period`` s apart starting at ``t0`` (now() seconds)."""

    tag: str
    n: int
    width: float  # s
    period: float  # s
    t0: float
    k: int = 0  # edges out so far
    wake: threading.Event = field(default_factory=threading.Event)


class ClockProtocol:
    """Command parser and state machine of the clock board (no I/O).

    ``on_pulse()`` is called once per clock edge, in order. ``now()`` gives monotonic
    seconds (watchdog and pacing). ``on_output()`` (paced mode) is called, without any
    lock held, after a line was queued outside `feed` (end of a paced burst, watchdog);
    fetch it with `poll`. ``fw_version``, ``build`` and ``serial`` must hold no spaces
    or commas.
    """

    def __init__(
        self,
        on_pulse: Callable[[], None] | None = None,
        now: Callable[[], float] = time.monotonic,
        *,
        pace: bool = False,
        on_output: Callable[[], None] | None = None,
        fw_version: str = "1.0.0-emu",
        build: str = "emulator",
        serial: str = "EMU0001",
    ) -> None:
        self.on_pulse = on_pulse or (lambda: None)
        self.now = now
        self.pace = pace
        self.on_output = on_output
        self.fw_version, self.build, self.serial = fw_version, build, serial
        self._mutex = threading.RLock()
        self._out: list[str] = []
        self._burst: _Burst | None = None
        self.reset()

    # -- power-on ---------------------------------------------------------------------------
    def banner(self) -> str:
        """The line the board prints once after reset."""
        return BANNER_FORMAT.format(fw=self.fw_version, proto=PROTO_VERSION)

    def reset(self) -> None:
        """Back to power-on: burst dropped silently, counters 0, watchdog off, input cleared."""
        with self._mutex:
            self._stop_burst()
            self.pulses = 0
            self.err = 0
            self.wdt_ms = 0
            self.state = IDLE
            self._buf = ""
            self._overflow = False
            self._out.clear()
            self._last_rx = self.now()

    def close(self) -> None:
        """Stop a running paced burst (no reply is produced)."""
        with self._mutex:
            self._stop_burst()

    # -- input ------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[str]:
        """Take bytes from the host; return the lines queued since the last call (replies
        to the complete lines in ``data``, after any asynchronous line queued before)."""
        with self._mutex:
            if data:
                self._last_rx = self.now()  # any byte feeds the watchdog
            text = data.decode("latin-1").replace("\r", "")
            *complete, rest = text.split("\n")
            for part in complete:
                line = self._buf + part
                if self._overflow or len(line) > MAX_LINE:
                    self._error("", ERR_LONG)
                elif line:
                    self._line(line)
                self._buf, self._overflow = "", False
            self._buf += rest
            if len(self._buf) > MAX_LINE:  # keep at most what the firmware's buffer holds
                self._buf, self._overflow = self._buf[:MAX_LINE], True
            return self.poll()

    def poll(self) -> list[str]:
        """Lines queued so far (in order), removed from the queue."""
        with self._mutex:
            out, self._out = self._out, []
            return out

    # -- commands ---------------------------------------------------------------------------
    def _reply(self, tag: str, text: str) -> None:
        self._out.append(tag + text)

    def _error(self, tag: str, code: int, detail: str = "") -> None:
        self.err = code
        text = ERR_TEXT[code]
        self._reply(tag, f"{ERR} {code} {text} {detail}" if detail else f"{ERR} {code} {text}")

    def _line(self, line: str) -> None:
        """Handle one complete, non-empty line of at most MAX_LINE characters."""
        tag = ""
        if line.startswith("#"):
            space = line.find(" ")
            seq = _number(line[1:space]) if space > 0 else None
            if seq is None or seq > TAG_MAX:
                self._error("", ERR_ARG)
                return
            tag, line = f"#{seq} ", line[space + 1 :]
        word, *args = line.split(" ")
        if word not in COMMANDS:
            self._error(tag, ERR_UNKNOWN)
            return
        if self.state == BURST and word not in ALLOWED_IN_BURST:
            self._error(tag, ERR_BUSY)
            return
        values = [_number(a) for a in args]
        if any(v is None for v in values):
            self._error(tag, ERR_ARG)
            return
        nums: list[int] = values  # type: ignore[assignment]
        if word == PULSE:
            self._pulse(tag, nums)
        elif nums:  # every other command takes at most one argument (WDT exactly one)
            if word == WDT and len(nums) == 1 and nums[0] <= WDT_MAX_MS:
                self.wdt_ms = nums[0]
                self._reply(tag, f"{OK} {self.wdt_ms}")
            else:
                self._error(tag, ERR_ARG)
        elif word == IDN:
            self._reply(tag, f"{OK} {IDN_PREFIX},{self.serial},{self.fw_version},{self.build}")
        elif word == VER:
            self._reply(tag, f"{OK} {PROTO_VERSION}")
        elif word == STAT:
            self._reply(
                tag,
                f"{OK} pulses={self.pulses} err={self.err} state={self.state} wdt={self.wdt_ms}",
            )
        elif word == SAFE_CMD:
            burst = self._burst
            self._stop_burst()
            self.state = SAFE
            self._reply(tag, OK)
            if burst is not None:
                self._error(burst.tag, ERR_ABORTED, str(burst.k))
        else:  # WDT without its argument
            self._error(tag, ERR_ARG)

    def _pulse(self, tag: str, nums: list[int]) -> None:
        if not 1 <= len(nums) <= 3:
            self._error(tag, ERR_ARG)
            return
        n = nums[0]
        width = nums[1] if len(nums) > 1 else DEFAULT_WIDTH_US
        period = nums[2] if len(nums) > 2 else DEFAULT_PERIOD_US
        in_range = N_MIN <= n <= N_MAX and WIDTH_MIN_US <= width <= WIDTH_MAX_US
        if not (in_range and width + PERIOD_GAP_US <= period <= PERIOD_MAX_US):
            self._error(tag, ERR_ARG)
            return
        if not self.pace:
            self.state = BURST
            on_pulse = self.on_pulse
            for _ in range(n):
                on_pulse()
                self.pulses += 1
            self.state = IDLE
            self._reply(tag, f"{OK} {n}")
            return
        burst = _Burst(tag, n, width * 1e-6, period * 1e-6, self.now())
        self._burst, self.state = burst, BURST
        threading.Thread(target=self._run_burst, args=(burst,), daemon=True).start()

    # -- paced bursts -----------------------------------------------------------------------
    def _stop_burst(self) -> None:
        """Forget the running burst; its thread exits without a reply."""
        if self._burst is not None:
            self._burst.wake.set()
            self._burst = None

    def _run_burst(self, burst: _Burst) -> None:
        """Edges on schedule; the watchdog; the final reply. Runs in its own thread."""
        while True:
            with self._mutex:
                if self._burst is not burst:
                    return
                t = self.now()
                wdt = self.wdt_ms * 1e-3
                done = False
                if wdt and t - self._last_rx >= wdt:
                    self._burst, self.state = None, SAFE
                    self._error(burst.tag, ERR_WATCHDOG, str(burst.k))
                    done = True
                elif burst.k < burst.n:
                    due = burst.t0 + burst.k * burst.period
                    if t >= due:
                        self.on_pulse()
                        burst.k += 1
                        self.pulses += 1
                        continue
                else:
                    due = burst.t0 + (burst.n - 1) * burst.period + burst.width
                    if t >= due:
                        self._burst, self.state = None, IDLE
                        self._reply(burst.tag, f"{OK} {burst.n}")
                        done = True
                if not done and wdt:
                    due = min(due, self._last_rx + wdt)
            if done:
                if self.on_output is not None:
                    self.on_output()
                return
            burst.wake.wait(max(0.0, due - t))


__all__ = ["PROTO_VERSION", "ClockProtocol"]
