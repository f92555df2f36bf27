"""The emulated DAQ over the wire: a SCPI server on TCP (dialect "twinlab-emulator").

`ScpiServer` lets the real PyVISA driver (`drivers.scpi.daq`) rehearse against an
`EmulatedBoard`. It makes exactly the board calls `lab.emulator.backend` makes for
the same HAL calls (one ``board.drive``/``board.release``/``board.measure`` per twin
per command, nodes in the listed order, twins in order of first appearance), and
prints every number with ``repr(float)``, so a run over the wire is bit-identical to
the in-process run with the same seed.

Channels (node n, 1-based): drive free ``n``, drive clamped ``1000+n``, sense free
``2000+n``, sense clamped ``3000+n``, bias ``9000``. Lines end with ``\\n``; commands
in one line are separated by ``;`` (a leading ``:`` means root; every command here is
a root command) and the answers of its queries come back joined by ``;`` on one line.
Errors go to the instrument's error queue (``SYST:ERR?``), never over the wire as a
crash; a line whose queries all failed gets no answer (as on a real instrument).

Bounds (a client cannot make the server allocate much): a line longer than `MAX_LINE`
bytes is dropped with error -223 (its bytes are discarded up to the next ``\n``, so a
line that never ends costs nothing), and a channel list naming more channels than the
board has (`max_channels`: 4 per node and the bias) is refused with -223 before it is
expanded, so ``(@1:10001,1:10001,...)`` is counted, not built.

Commands: ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``SYST:ERR?``,
``SOUR:VOLT <v>[,<v>...],(@<chlist>)``, ``SOUR:VOLT? (@<chlist>)``,
``OUTP:STAT ON|OFF,(@<chlist>)``, ``MEAS:VOLT:DC? (@<chlist>)`` and the emulator's own
``EMUL:POS?`` (digipot codes), ``EMUL:UPD?`` (``pulses;mask;direction`` of the last
pulse, ``0;;`` before any) and ``EMUL:SAFE`` (outputs off, bias to its safe value).
``EMUL:POS?`` and ``EMUL:UPD?`` exist only with ``readback`` (the resistance probe a real
bench lacks; without it they are undefined headers, -113).

Channel faults (`lab.emulator.faults`) are the wiring between the DAQ and the board:
a swapped channel reaches the other channel's node, a dead one reaches none (its
outputs drive nothing, its reads are noise around 0 V, its set values read back as set).

Stdlib only (socket, threading): `lab` never imports PyVISA.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lab.emulator.board import CLAMPED, FREE, EmulatedBoard
from lab.emulator.components import NormalStream
from lab.emulator.faults import DEAD_NOISE, Fault
from lab.emulator.wire.lineserver import Hangup, LineServer

log = logging.getLogger(__name__)

IDN = "twinlab,EmulatedDAQ,0,1.0"
BIAS_CHANNEL = 9000
#: First channel number of each (kind, twin); node n is OFFSET + n.
OFFSETS = {("drive", FREE): 0, ("drive", CLAMPED): 1000,
           ("sense", FREE): 2000, ("sense", CLAMPED): 3000}  # fmt: skip
NO_ERROR = '0,"No error"'
QUEUE_SIZE = 32
#: Longest program message accepted, bytes (with the 16 nodes of twin16 the longest the
#: driver sends, a SOUR:VOLT of 16 repr() values and the error query, is under 600 B;
#: 8 kB leaves room for larger networks). A longer line is dropped with error -223.
MAX_LINE = 8192

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WITH_VALUES = re.compile(r"\s*(?P<args>[^()]*?)\s*,\s*\(@(?P<chs>[^()]*)\)\s*")
_ONLY_CHANNELS = re.compile(r"\s*\(@(?P<chs>[^()]*)\)\s*")


class _ScpiError(Exception):
    """An error for the instrument's queue: SCPI ``code`` and text."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


@dataclass(frozen=True, slots=True)
class _Group:
    """Channels of one twin within one channel list: 0-based nodes, positions in the list."""

    twin: int
    nodes: np.ndarray
    where: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """A parsed channel list: channel numbers, what each is, and per-twin groups."""

    channels: tuple[int, ...]
    kinds: tuple[str, ...]  # "drive", "sense" or "bias" per channel
    twins: tuple[int, ...]  # twin per channel (-1 for the bias)
    nodes: tuple[int, ...]  # 0-based node per channel (-1 for the bias or a dead channel)
    groups: tuple[_Group, ...]  # twins in order of first appearance, excluding the bias
    bias: tuple[int, ...]  # positions of the bias channel in the list
    dead: tuple[int, ...] = ()  # positions of dead channels (wired to no node)


class ScpiServer:
    """SCPI front end of an `EmulatedBoard` on TCP ``host:port`` (0 = any free port).

    Every board access happens under ``lock`` (shared with other front ends of the same
    board). `start` serves in background threads; `close` stops and joins them.
    Fault injection for tests: `stall` delays the next answer, `inject_error` queues
    an instrument error, `refuse` makes one output refuse every value, `stick` makes one
    output's read-back report a fixed value; ``record`` keeps every line in `received`.
    """

    def __init__(
        self,
        board: EmulatedBoard,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lock: threading.Lock | None = None,
        record: bool = False,
        readback: bool = True,
        faults: tuple[Fault, ...] = (),
    ) -> None:
        """``readback``: answer ``EMUL:POS?``/``EMUL:UPD?``; ``faults``: the channel faults
        of these (`Fault.channels` are channel numbers as text; edge faults are ignored)."""
        self.board = board
        self.lock = lock if lock is not None else threading.Lock()
        #: the TCP front end: every line a client sends goes to `_answer`
        self.wire = LineServer(
            self._answer, host=host, port=port, max_line=MAX_LINE,
            on_overflow=self._line_too_long, name="scpi-server",
        )  # fmt: skip
        self.host = host
        self.port: int = self.wire.port
        self.n_nodes = board.network.n_nodes
        #: Most channels one channel list may name: every channel of the board once.
        self.max_channels = len(OFFSETS) * self.n_nodes + 1
        self.safe_bias = board.config.osc_high + 0.5  # no oscillator reaches it: p = 0
        self._errors: deque[str] = deque()
        self._requested: dict[int, float] = {}  # last requested output volts (before the DAC)
        self._bias_set = float(board.bias)  # last set bias (after the DAC), V
        self._plans: dict[str, _Plan] = {}
        self._stall = 0.0
        self._refused: set[int] = set()
        self._stuck: dict[int, float] = {}
        #: Every line executed, oldest first, when ``record`` (tests); else None.
        self.received: deque[str] | None = deque(maxlen=10_000) if record else None
        self._commands: dict[str, Callable[[str], str | None]] = {
            "*IDN?": self._idn,
            "*RST": self._rst,
            "*CLS": self._cls,
            "*OPC?": self._opc,
            "SYST:ERR?": self._syst_err,
            "SOUR:VOLT": self._sour_volt,
            "SOUR:VOLT?": self._sour_volt_query,
            "OUTP:STAT": self._outp_stat,
            "MEAS:VOLT:DC?": self._meas,
            "EMUL:SAFE": self._emul_safe,
        }
        if readback:
            self._commands["EMUL:POS?"] = self._emul_pos
            self._commands["EMUL:UPD?"] = self._emul_upd
        #: channel -> (twin, 0-based node, or -1: wired to nothing), where not as numbered
        self._wired: dict[int, tuple[int, int]] = {}
        for fault in faults:
            if fault.kind == "swap-channels":
                a, b = (int(c) for c in fault.channels)
                (_, ta, na), (_, tb, nb) = self._numbered(a), self._numbered(b)
                self._wired[a], self._wired[b] = (tb, nb), (ta, na)
            elif fault.kind == "dead-channel":
                ch = int(fault.channels[0])
                self._wired[ch] = (self._numbered(ch)[1], -1)
        self._dead_noise = NormalStream(np.random.default_rng([board.config.seed, 3]))

    # -- life cycle ------------------------------------------------------------------------
    @property
    def resource(self) -> str:
        """The VISA resource string of this server."""
        return self.wire.resource

    def start(self) -> ScpiServer:
        """Accept connections in a background thread; returns self."""
        self.wire.start()
        return self

    def close(self) -> None:
        """Stop accepting, disconnect every client and join every thread (idempotent)."""
        self.wire.close()

    def __enter__(self) -> ScpiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fault injection -------------------------------------------------------------------
    def stall(self, seconds: float) -> None:
        """Delay the next answer by ``seconds`` (to provoke a client timeout)."""
        self._stall = float(seconds)

    def inject_error(self, code: int, text: str) -> None:
        """Queue an instrument error as if a command had failed."""
        with self.lock:
            self._push(code, text)

    def refuse(self, channel: int) -> None:
        """From now on ``SOUR:VOLT`` listing output ``channel`` fails with -221 (a faulty
        output the instrument disabled)."""
        with self.lock:
            self._refused.add(int(channel))

    def stick(self, channel: int, volts: float) -> None:
        """From now on ``SOUR:VOLT?`` reports ``volts`` V for ``channel`` whatever was set
        (a stuck output stage)."""
        with self.lock:
            self._stuck[int(channel)] = float(volts)

    # -- transport -------------------------------------------------------------------------
    def _answer(self, line: str) -> str | None:
        """Execute one line from a client; its answer, after a pending `stall`."""
        answer = self.execute(line)
        if answer is not None:
            stall, self._stall = self._stall, 0.0
            if stall > 0 and self.wire.stopping.wait(stall):
                raise Hangup
        return answer

    def _line_too_long(self) -> None:
        with self.lock:
            self._push(-223, f"Too much data; line longer than {MAX_LINE} bytes")

    # -- parsing ---------------------------------------------------------------------------
    def execute(self, line: str) -> str | None:
        """Execute one program message; the answers of its queries joined by ';' or None."""
        answers: list[str] = []
        with self.lock:
            if self.received is not None:
                self.received.append(line)
            for part in line.strip().split(";"):
                cmd = part.strip()
                if cmd.startswith(":"):
                    cmd = cmd[1:]
                if not cmd:
                    continue
                header, _, args = cmd.partition(" ")
                handler = self._commands.get(header.upper())
                try:
                    if handler is None:
                        raise _ScpiError(-113, f"Undefined header; {header[:40]}")
                    answer = handler(args)
                except _ScpiError as err:
                    self._push(err.code, err.text)
                    continue
                except Exception as exc:  # a bug here must not take the instrument down
                    log.exception("SCPI server: %r failed", cmd)
                    self._push(-300, f"Device-specific error; {type(exc).__name__}: {exc}")
                    continue
                if answer is not None:
                    answers.append(answer)
        return ";".join(answers) if answers else None

    def _push(self, code: int, text: str) -> None:
        """Queue an error (oldest first); a full queue ends with -350 Queue overflow."""
        text = text.replace('"', "'").encode("ascii", "backslashreplace").decode("ascii")
        if len(self._errors) >= QUEUE_SIZE:
            self._errors[-1] = '-350,"Queue overflow"'
            return
        self._errors.append(f'{code},"{text}"')

    def _plan(self, chs: str) -> _Plan:
        """The parsed channel list ``chs`` (the text between ``(@`` and ``)``), cached."""
        plan = self._plans.get(chs)
        if plan is not None:
            return plan
        numbers: list[int] = []
        most = self.max_channels
        for token in chs.split(","):
            token = token.strip()
            first, sep, last = token.partition(":")
            try:
                a = int(first)
                b = int(last) if sep else a
            except ValueError:
                raise _ScpiError(-104, f"Data type error; channel list ({chs[:40]})") from None
            if b < a:
                raise _ScpiError(-104, f"Data type error; channel range {token[:40]}")
            if len(numbers) + (b - a + 1) > most:  # counted before anything is built
                raise _ScpiError(
                    -223, f"Too much data; channel list of more than {most} channels"
                )
            numbers.extend(range(a, b + 1))
        kinds, twins, nodes = [], [], []
        by_twin: dict[int, tuple[list[int], list[int]]] = {}
        bias: list[int] = []
        dead: list[int] = []
        for i, ch in enumerate(numbers):
            if ch == BIAS_CHANNEL:
                kinds.append("bias")
                twins.append(-1)
                nodes.append(-1)
                bias.append(i)
                continue
            kind, twin, node = self._channel(ch)
            kinds.append(kind)
            twins.append(twin)
            nodes.append(node)
            if node < 0:
                dead.append(i)
                continue
            by_twin.setdefault(twin, ([], []))[0].append(node)
            by_twin[twin][1].append(i)
        groups = tuple(_Group(t, np.array(n), tuple(w)) for t, (n, w) in by_twin.items())
        plan = _Plan(tuple(numbers), tuple(kinds), tuple(twins), tuple(nodes), groups,
                     tuple(bias), tuple(dead))  # fmt: skip
        if len(self._plans) > 1024:
            self._plans.clear()
        self._plans[chs] = plan
        return plan

    def _channel(self, ch: int) -> tuple[str, int, int]:
        """(kind, twin, 0-based node or -1) of channel number ``ch`` as it is wired."""
        kind, twin, node = self._numbered(ch)
        wired = self._wired.get(ch)
        return (kind, *wired) if wired is not None else (kind, twin, node)

    def _numbered(self, ch: int) -> tuple[str, int, int]:
        """(kind, twin, 0-based node) of channel number ``ch`` by its number."""
        for (kind, twin), offset in OFFSETS.items():
            if offset < ch <= offset + self.n_nodes:
                return kind, twin, ch - offset - 1
        raise _ScpiError(-224, f"Illegal parameter value; no channel {ch}")

    @staticmethod
    def _split(args: str, with_values: bool) -> tuple[str, str]:
        """(values text, channel list text) of ``args``."""
        if with_values:
            m = _WITH_VALUES.fullmatch(args)
            if m is None:
                raise _ScpiError(-109, "Missing parameter; expected <value>,(@<channels>)")
            return m["args"], m["chs"]
        m = _ONLY_CHANNELS.fullmatch(args)
        if m is None:
            raise _ScpiError(-109, "Missing parameter; expected (@<channels>)")
        return "", m["chs"]

    @staticmethod
    def _no_args(args: str) -> None:
        if args.strip():
            raise _ScpiError(-108, "Parameter not allowed")

    def _outputs(self, plan: _Plan) -> None:
        for ch, kind in zip(plan.channels, plan.kinds, strict=True):
            if kind == "sense":
                raise _ScpiError(-221, f"Settings conflict; channel {ch} is an input")

    # -- commands --------------------------------------------------------------------------
    def _idn(self, args: str) -> str:
        self._no_args(args)
        return IDN

    def _opc(self, args: str) -> str:
        self._no_args(args)
        return "1"

    def _cls(self, args: str) -> None:
        self._no_args(args)
        self._errors.clear()

    def _rst(self, args: str) -> None:
        """Every output to 0 V and off (the bias line rests at its safe level); queue cleared."""
        self._no_args(args)
        self.board.reset_outputs()
        self._requested.clear()
        self._bias_set = 0.0
        self.board.bias = self.safe_bias
        self._errors.clear()

    def _syst_err(self, args: str) -> str:
        self._no_args(args)
        return self._errors.popleft() if self._errors else NO_ERROR

    def _sour_volt(self, args: str) -> None:
        """Set and enable outputs; nothing is applied if any value is refused."""
        text, chs = self._split(args, with_values=True)
        plan = self._plan(chs)
        self._outputs(plan)
        for ch in plan.channels:
            if ch in self._refused:
                raise _ScpiError(-221, f"Settings conflict; channel {ch} output is disabled")
        tokens = [t.strip() for t in text.split(",")]
        for t in tokens:
            if _NUMBER.fullmatch(t) is None:
                raise _ScpiError(-104, f"Data type error; {t[:40]!r} is not a number")
        values = [float(t) for t in tokens]
        n = len(plan.channels)
        if len(values) == 1 and n > 1:
            values = values * n
        elif len(values) != n:
            code, what = (-109, "Missing parameter") if len(values) < n else (
                -108, "Parameter not allowed")  # fmt: skip
            raise _ScpiError(code, f"{what}; {len(values)} values for {n} channels")
        dac = self.board.dac
        lo, hi = dac.low, dac.high
        for ch, v in zip(plan.channels, values, strict=True):
            if not lo <= v <= hi:
                raise _ScpiError(-222, f"Data out of range; channel {ch}: {v!r} V")
        groups = plan.groups
        if len(groups) == 1 and not plan.bias and not plan.dead:  # the hot path
            self.board.drive(groups[0].twin, groups[0].nodes, values)
        else:
            for g in groups:
                self.board.drive(g.twin, g.nodes, [values[i] for i in g.where])
            for i in plan.bias:  # as EmulatedBias.set_volts
                self._bias_set = self.board.bias = dac.convert([values[i]])[0]
        requested = self._requested
        for ch, v in zip(plan.channels, values, strict=True):
            requested[ch] = v

    def _sour_volt_query(self, args: str) -> str:
        """The set values (what the DAC produced), V."""
        _, chs = self._split(args, with_values=False)
        plan = self._plan(chs)
        self._outputs(plan)
        applied, stuck = self.board.applied, self._stuck
        out = [
            self._bias_set if kind == "bias" else float(applied[twin, node])
            for kind, twin, node in zip(plan.kinds, plan.twins, plan.nodes, strict=True)
        ]
        for i in plan.dead:  # the instrument still reports what it was told
            out[i] = self.board.dac.convert([self._requested.get(plan.channels[i], 0.0)])[0]
        if stuck:
            out = [stuck.get(ch, v) for ch, v in zip(plan.channels, out, strict=True)]
        return ",".join(map(repr, out))

    def _outp_stat(self, args: str) -> None:
        """OFF releases the listed outputs (the bias goes to its safe level); ON drives
        them again at their last requested value."""
        state, chs = self._split(args, with_values=True)
        state = state.strip().upper()
        if state not in ("ON", "OFF", "1", "0"):
            raise _ScpiError(-104, f"Data type error; {state[:40]!r} is not ON or OFF")
        plan = self._plan(chs)
        self._outputs(plan)
        on = state in ("ON", "1")
        for g in plan.groups:
            if on:
                chans = [plan.channels[i] for i in g.where]
                self.board.drive(g.twin, g.nodes, [self._requested.get(c, 0.0) for c in chans])
            else:
                self.board.release(g.twin, g.nodes)
        if plan.bias:
            self.board.bias = self._bias_set if on else self.safe_bias

    def _meas(self, args: str) -> str:
        """ADC readings of sense channels, V: one board.measure per twin, as EmulatedDAQ.read."""
        _, chs = self._split(args, with_values=False)
        plan = self._plan(chs)
        for ch, kind in zip(plan.channels, plan.kinds, strict=True):
            if kind != "sense":
                raise _ScpiError(-221, f"Settings conflict; channel {ch} is not an input")
        groups = plan.groups
        if len(groups) == 1 and not plan.dead:
            values = self.board.measure(groups[0].twin, groups[0].nodes)
        else:
            values = [0.0] * len(plan.channels)
            for g in groups:
                for i, v in zip(g.where, self.board.measure(g.twin, g.nodes), strict=True):
                    values[i] = v
            if plan.dead:
                noise = self._dead_noise.take_list(len(plan.dead))
                read = self.board.adc.convert([DEAD_NOISE * e for e in noise])
                for i, v in zip(plan.dead, read, strict=True):
                    values[i] = v
        return ",".join([repr(float(v)) for v in values])

    def _emul_pos(self, args: str) -> str:
        self._no_args(args)
        return ",".join(map(str, self.board.codes.tolist()))

    def _emul_upd(self, args: str) -> str:
        self._no_args(args)
        board = self.board
        if board.pulses == 0:
            return "0;;"
        mask = ",".join("1" if m else "0" for m in board.last_mask.tolist())
        direction = ",".join(map(str, board.last_direction.tolist()))
        return f"{board.pulses};{mask};{direction}"

    def _emul_safe(self, args: str) -> None:
        """As the in-process safe state: outputs 0 V and released, bias at its safe value."""
        self._no_args(args)
        self.board.reset_outputs()
        self._requested.clear()
        self._bias_set = self.board.bias = self.safe_bias


__all__ = ["BIAS_CHANNEL", "IDN", "OFFSETS", "ScpiServer"]
