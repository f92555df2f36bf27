"""Hardware-abstraction layer: the protocols the trainer talks to, and `Bench`.

A bench is a DAQ (analog outputs that drive nodes, analog inputs that sense
them), a bias source (the global voltage that sets the update probability p),
a clock board (the global learning clock) and optionally a resistance probe
(true digipot codes on the emulator, estimates on hardware). The channel map
says which DAQ channel drives or senses which node of which twin, with limits.

`Bench` is the only place the trainer touches instruments: it checks every
voltage against the channel's configured limits *before* anything is written
and knows how to put every output in its safe state.

Safe state contract (one definition): every instrument's ``safe_state()`` returns a
list of `Unsafe`, one per output (or the whole instrument, ``channel=None``) that it
could not make safe *and verify* where it can read back; an empty list means safe.
It does not raise for instrument faults (`Bench.safe_state` also catches anything
that escapes). `Bench.safe_state` turns them into one line each, naming the channel,
its node and twin, and the reason.

Channel names (one definition): `check_channel_name` is the character set every DAQ
channel name must match, `channel_key` the spelling-independent identity used to
refuse two names for one physical channel ("08" and "8"). Drivers canonicalise
further per instrument model (defence in depth).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from lab.calibration import Calibration
from lab.network import Network

log = logging.getLogger(__name__)

Twin = Literal["free", "clamped"]
TWINS: tuple[Twin, Twin] = ("free", "clamped")


class BenchError(RuntimeError):
    """An instrument or bench failure; the message names the instrument and what happened."""


class LimitError(ValueError):
    """A requested voltage lies outside a channel's configured limits (nothing was written)."""


@dataclass(frozen=True, slots=True)
class Unsafe:
    """One output that could not be made safe and verified: ``channel`` is the
    instrument's channel name, or None when the whole instrument is meant (a link that
    is down, a clock board that did not confirm); ``reason`` is one line."""

    channel: str | None
    reason: str


#: What a DAQ channel name may be: 1 to 32 letters, digits, '.', '_' or '-', starting
#: with a letter or digit. Everything that means something in a SCPI message is out:
#: ';' (command separator), ',' (list separator), '(' ')' '@' (channel list), quotes,
#: '#' (block data), '*' (common commands), whitespace and control characters; and ':'
#: too, because in a SCPI channel list "101:105" is a range, so one name would address
#: several channels (and alias the others).
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_DIGITS = re.compile(r"\d+")


def check_channel_name(name: object, what: str = "channel") -> str:
    """``name`` if it is a usable DAQ channel name (see `CHANNEL_NAME`); ValueError in
    one line naming ``what``, the name and the characters that are not allowed."""
    if not isinstance(name, str):
        raise ValueError(f"{what} {name!r}: a channel name must be a string")
    if CHANNEL_NAME.fullmatch(name) is None:
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
        if bad:
            found = "characters " + " ".join(repr(c) for c in bad)
        elif not name:
            found = "an empty name"
        elif len(name) > 32:
            found = f"{len(name)} characters"
        else:
            found = f"{name[0]!r} first"
        raise ValueError(
            f"{what} {name!r} is not a usable DAQ channel name ({found}); a channel name "
            "is 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def channel_key(name: str) -> str:
    """The spelling-independent identity of a channel name: case folded and the leading
    zeros of every run of digits dropped, so "08" and "8" (or "ao.free.08" and
    "AO.free.8") are one channel. Two names with one key must not both be mapped."""
    return _DIGITS.sub(lambda m: m[0].lstrip("0") or "0", name.casefold())


@runtime_checkable
class DAQ(Protocol):
    """Analog outputs and inputs, addressed by channel name. Volts throughout."""

    def identify(self) -> str:
        """Instrument identity string (e.g. the reply to ``*IDN?``)."""
        ...

    def write(self, channels: Sequence[str], volts: np.ndarray) -> None:
        """Drive output ``channels`` (n,) at ``volts`` (n,). Callers have checked limits."""
        ...

    def release(self, channels: Sequence[str]) -> None:
        """Stop driving ``channels`` (output disabled / high impedance)."""
        ...

    def read(self, channels: Sequence[str]) -> np.ndarray:
        """Sense input ``channels``; returns (n,) volts."""
        ...

    def safe_state(self) -> list[Unsafe]:
        """Every output to its safe value, channel by channel (one refusal does not stop
        the others), switched off where the instrument can and read back where it can.
        Returns what could not be made safe and verified (empty: all safe)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BiasSource(Protocol):
    """The global bias voltage compared against each edge's local oscillator."""

    def set_volts(self, volts: float) -> None: ...

    def safe_state(self) -> list[Unsafe]:
        """Bias to its safe value (p = 0), read back where the instrument can; returns
        what could not be made safe and verified (empty: safe)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ClockBoard(Protocol):
    """The global learning clock: every enabled edge steps once per pulse."""

    def identify(self) -> str: ...

    def pulse(self, n: int = 1) -> None:
        """Send ``n`` clock pulses and return once they have been delivered."""
        ...

    def safe_state(self) -> list[Unsafe]:
        """Clock line low, bursts stopped; ``[Unsafe(None, reason)]`` if that could not
        be done or confirmed, else empty."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ResistanceProbe(Protocol):
    """Reports digipot codes. ``estimated`` is False only where they are known exactly."""

    estimated: bool

    def positions(self) -> np.ndarray:
        """Current digipot codes, (n_edges,) int in [0, 127]."""
        ...

    def last_update(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(update_mask (E,) bool, direction (E,) int8) of the last pulse, if observable."""
        ...


@dataclass(frozen=True, slots=True)
class Channel:
    """One DAQ channel wired to one node of one twin.

    ``kind`` is "drive" (analog output) or "sense" (analog input). ``limits`` (V) bound
    every voltage the controller may write; ``safe`` (V) is where the output rests.
    """

    name: str
    twin: Twin
    node: int
    kind: Literal["drive", "sense"]
    limits: tuple[float, float] = (-10.0, 10.0)
    safe: float = 0.0


def _wiring(ch: Channel) -> str:
    return f"{ch.kind}, {ch.twin} twin node {ch.node}"


def check_channel_map(
    network: Network, channels: Sequence[Channel], *, bias: str | None = None
) -> None:
    """ValueError, one line, for a channel name that is not usable (`check_channel_name`),
    one channel mapped twice under one or two spellings (`channel_key`; naming both, the
    ``bias`` channel included), a node that does not exist, a safe value outside its
    limits, or one node of one twin with two channels of one kind."""
    named: dict[str, tuple[str, str]] = {}  # channel_key -> (spelling, what it is)
    if bias is not None:
        check_channel_name(bias, "bias channel")
        named[channel_key(bias)] = (bias, "the bias")
    wired: set[tuple[str, str, int]] = set()
    for ch in channels:
        check_channel_name(ch.name, "channel map: channel")
        if ch.twin not in TWINS or ch.kind not in ("drive", "sense"):
            raise ValueError(
                f"channel map: channel {ch.name!r} has twin {ch.twin!r} and kind {ch.kind!r}; "
                "expected twin 'free' or 'clamped' and kind 'drive' or 'sense'"
            )
        key = channel_key(ch.name)
        if key in named:
            spelling, what = named[key]
            same = "one name" if spelling == ch.name else "two spellings of one name"
            raise ValueError(
                f"channel map: channel {ch.name!r} ({_wiring(ch)}) and channel {spelling!r} "
                f"({what}) are one DAQ channel, mapped twice ({same})"
            )
        named[key] = (ch.name, _wiring(ch))
        if not 1 <= ch.node <= network.n_nodes:
            raise ValueError(
                f"channel map: channel {ch.name!r} names node {ch.node}, "
                f"but network {network.name!r} has nodes 1..{network.n_nodes}"
            )
        lo, hi = ch.limits
        if not lo < hi:
            raise ValueError(
                f"channel map: channel {ch.name!r} limits {ch.limits} are not (low, high)"
            )
        if not lo <= ch.safe <= hi:
            raise ValueError(
                f"channel map: channel {ch.name!r} safe value {ch.safe} V "
                f"is outside its limits [{lo}, {hi}] V"
            )
        wiring = (ch.kind, ch.twin, ch.node)
        if wiring in wired:
            raise ValueError(
                f"channel map: node {ch.node} of the {ch.twin} twin has two {ch.kind} channels"
            )
        wired.add(wiring)


@dataclass(slots=True)
class _Route:
    """Precomputed lookup for one (twin, nodes) request: channel names and limit arrays."""

    channels: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    bounds: tuple[tuple[float, float], ...]  # the same limits as Python floats, for speed


@dataclass
class Bench:
    """The set of instruments with their channel map; what the trainer drives.

    ``config`` is the JSON-able bench description stored in every run file.
    ``dirty`` is True until a safe state succeeds, and again after any call that may
    change an output (drive, release, set_probability, pulse); calls that bypass the
    bench (``bench.daq.write``) are not seen, so follow them with `safe_state`.
    """

    network: Network
    daq: DAQ
    bias: BiasSource
    clock: ClockBoard
    channels: Sequence[Channel]
    calibration: Calibration
    probe: ResistanceProbe | None = None
    bias_limits: tuple[float, float] = (-10.0, 10.0)
    config: dict[str, Any] = field(default_factory=dict)
    _routes: dict[tuple[str, Twin, tuple[int, ...]], _Route] = field(
        default_factory=dict, init=False, repr=False
    )

    dirty: bool = field(default=True, init=False)
    #: What the bench has driven since the last safe state: {(twin, node): volts} of every
    #: output driven and not released (`drive_state`). Calls that bypass the bench are not seen.
    _driven: dict[tuple[str, int], float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_channel_map(self.network, self.channels)
        self._by_node = {(ch.kind, ch.twin, ch.node): ch for ch in self.channels}
        self._by_key = {channel_key(ch.name): ch for ch in self.channels}

    # -- routing ---------------------------------------------------------------------------
    def _route(self, kind: str, twin: Twin, nodes: tuple[int, ...]) -> _Route:
        key = (kind, twin, nodes)
        route = self._routes.get(key)
        if route is None:
            chans = []
            for node in nodes:
                ch = self._by_node.get((kind, twin, node))
                if ch is None:
                    raise ValueError(
                        f"channel map: node {node} of the {twin} twin has no {kind} channel"
                    )
                chans.append(ch)
            route = _Route(
                channels=tuple(c.name for c in chans),
                low=np.array([c.limits[0] for c in chans]),
                high=np.array([c.limits[1] for c in chans]),
                bounds=tuple((float(c.limits[0]), float(c.limits[1])) for c in chans),
            )
            self._routes[key] = route
        return route

    def check_nodes(
        self, kind: Literal["drive", "sense"], twin: Twin, nodes: Sequence[int]
    ) -> None:
        """Raise ValueError naming the first node of ``twin`` without a ``kind`` channel."""
        self._route(kind, twin, tuple(int(n) for n in nodes))

    def limits(self, twin: Twin, nodes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) limits, V, of the drive channels of ``nodes`` (n,) of ``twin``."""
        route = self._route("drive", twin, nodes)
        return route.low, route.high

    def drive(self, twin: Twin, nodes: tuple[int, ...], volts: np.ndarray) -> None:
        """Hold ``nodes`` (n,) of ``twin`` at ``volts`` (n,) V; refuses (LimitError) before
        writing anything if any value lies outside its channel's limits."""
        route = self._routes.get(("drive", twin, nodes)) or self._route("drive", twin, nodes)
        volts = np.asarray(volts, dtype=float)
        for i, (v, (lo, hi)) in enumerate(zip(volts.tolist(), route.bounds, strict=True)):
            if not lo <= v <= hi:  # also refuses NaN
                raise LimitError(
                    f"{v:.4g} V on node {nodes[i]} of the {twin} twin (channel "
                    f"{route.channels[i]!r}) is outside its limits [{lo:g}, {hi:g}] V"
                )
        self.dirty = True
        self.daq.write(route.channels, volts)
        driven = self._driven
        for node, v in zip(nodes, volts.tolist(), strict=True):
            driven[twin, int(node)] = v

    def release(self, twin: Twin, nodes: tuple[int, ...]) -> None:
        """Stop driving ``nodes`` of ``twin`` (they float)."""
        channels = self._route("drive", twin, nodes).channels
        self.dirty = True
        self.daq.release(channels)
        for node in nodes:
            self._driven.pop((twin, int(node)), None)

    def drive_state(self, twin: Twin) -> dict[int, float]:
        """Nodes of ``twin`` the bench drives now, {node label: volts requested}; empty
        after a safe state (every output at its safe value and off)."""
        return {n: v for (t, n), v in self._driven.items() if t == twin}

    def sense(self, twin: Twin, nodes: tuple[int, ...]) -> np.ndarray:
        """Read ``nodes`` (n,) of ``twin``; returns (n,) V."""
        route = self._routes.get(("sense", twin, nodes)) or self._route("sense", twin, nodes)
        return self.daq.read(route.channels)

    # -- learning controls -----------------------------------------------------------------
    def set_probability(self, p: float) -> float:
        """Set the bias so that edges update with probability ``p``; returns the bias in V."""
        if not 0.0 < p <= 1.0:
            raise ValueError(f"p = {p} is outside (0, 1]")
        volts = float(self.calibration.volts_for(p))
        lo, hi = self.bias_limits
        if not lo <= volts <= hi:
            raise LimitError(
                f"bias {volts:.4g} V for p = {p} is outside the bias limits [{lo:g}, {hi:g}] V"
            )
        self.dirty = True
        self.bias.set_volts(volts)
        return volts

    def pulse(self, n: int = 1) -> None:
        """Send ``n`` global clock pulses."""
        self.dirty = True
        self.clock.pulse(n)

    # -- safety ----------------------------------------------------------------------------
    def _describe(self, instrument: str, unsafe: Unsafe) -> str:
        """One line for one `Unsafe`: the channel with its wiring, or the instrument."""
        if unsafe.channel is None:
            return f"{instrument}: {unsafe.reason}"
        ch = self._by_key.get(channel_key(unsafe.channel))
        if ch is None:
            return f"{instrument} channel {unsafe.channel!r}: {unsafe.reason}"
        return (
            f"channel {ch.name!r} ({ch.kind}, {ch.twin} twin node {ch.node}): {unsafe.reason}"
        )

    def safe_state(self) -> list[str]:
        """Every instrument to its safe state: clock stopped, bias to p = 0, then every DAQ
        output to its safe value and off, each verified where the instrument can read back.

        Never raises. Returns one line per channel (or instrument) that could NOT be made
        safe and verified, each once, naming the channel, its node and twin and the
        reason; an empty list means everything is safe. The lines are logged at debug
        level only: the caller reports them.
        """
        lines: list[str] = []
        for name, inst in (
            ("clock board", self.clock),
            ("bias source", self.bias),
            ("DAQ", self.daq),
        ):
            try:
                unsafe = list(inst.safe_state() or ())
            except Exception as exc:  # keep going: the other outputs must still be made safe
                unsafe = [Unsafe(None, f"safe state failed: {exc}")]
            for u in unsafe:
                line = self._describe(name, u)
                if line not in lines:
                    lines.append(line)
        for line in lines:
            log.debug("not safe: %s", line)
        self._driven.clear()  # every output at its safe value and off (or reported)
        self.dirty = bool(lines)
        return lines

    def close(self) -> list[str]:
        """Safe state unless nothing was driven since the last successful one, then close
        every instrument. Returns the lines of that safe state (empty if it was skipped
        or everything is safe), as `safe_state`."""
        lines = self.safe_state() if self.dirty else []
        for inst in (self.clock, self.daq, self.bias):
            try:
                inst.close()
            except Exception as exc:
                log.error("closing %s failed: %s", type(inst).__name__, exc)
        return lines
