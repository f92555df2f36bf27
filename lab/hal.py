"""Hardware-abstraction layer: the protocols the trainer talks to, and `Bench`.

A bench is a DAQ (analog outputs that drive nodes, analog inputs that sense
them), a bias source (the global voltage that sets the update probability p),
a clock board (the global learning clock) and optionally a resistance probe
(true digipot codes on the emulator, estimates on hardware). The channel map
says which DAQ channel drives or senses which node of which twin, with limits.

`Bench` is the only place the trainer touches instruments: it checks every
voltage against the channel's configured limits *before* anything is written
and knows how to put every output in its safe state.
"""

from __future__ import annotations

import logging
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

    def safe_state(self) -> None:
        """Every output to its safe value and disabled."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BiasSource(Protocol):
    """The global bias voltage compared against each edge's local oscillator."""

    def set_volts(self, volts: float) -> None: ...

    def safe_state(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ClockBoard(Protocol):
    """The global learning clock: every enabled edge steps once per pulse."""

    def identify(self) -> str: ...

    def pulse(self, n: int = 1) -> None:
        """Send ``n`` clock pulses and return once they have been delivered."""
        ...

    def safe_state(self) -> None:
        """Clock line low, bursts stopped."""
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


def check_channel_map(network: Network, channels: Sequence[Channel]) -> None:
    """ValueError, one line, for a channel mapped twice, a node that does not exist, a safe
    value outside its limits, or one node of one twin with two channels of one kind."""
    names: set[str] = set()
    wired: set[tuple[str, str, int]] = set()
    for ch in channels:
        if ch.name in names:
            raise ValueError(f"channel map: channel {ch.name!r} is mapped twice")
        if ch.twin not in TWINS or ch.kind not in ("drive", "sense"):
            raise ValueError(
                f"channel map: channel {ch.name!r} has twin {ch.twin!r} and kind {ch.kind!r}; "
                "expected twin 'free' or 'clamped' and kind 'drive' or 'sense'"
            )
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
        key = (ch.kind, ch.twin, ch.node)
        if key in wired:
            raise ValueError(
                f"channel map: node {ch.node} of the {ch.twin} twin has two {ch.kind} channels"
            )
        wired.add(key)
        names.add(ch.name)


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

    def __post_init__(self) -> None:
        check_channel_map(self.network, self.channels)
        self._by_node = {(ch.kind, ch.twin, ch.node): ch for ch in self.channels}

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
        self.daq.write(route.channels, volts)

    def release(self, twin: Twin, nodes: tuple[int, ...]) -> None:
        """Stop driving ``nodes`` of ``twin`` (they float)."""
        self.daq.release(self._route("drive", twin, nodes).channels)

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
        self.bias.set_volts(volts)
        return volts

    def pulse(self, n: int = 1) -> None:
        """Send ``n`` global clock pulses."""
        self.clock.pulse(n)

    # -- safety ----------------------------------------------------------------------------
    def safe_state(self) -> list[str]:
        """Every instrument to its safe state. Never raises: tries all, returns the failures."""
        failures = []
        for name, inst in (
            ("clock board", self.clock),
            ("DAQ", self.daq),
            ("bias source", self.bias),
        ):
            try:
                inst.safe_state()
            except Exception as exc:  # keep going: the other outputs must still be made safe
                log.error("safe state of %s failed: %s", name, exc)
                failures.append(f"{name}: {exc}")
        return failures

    def close(self) -> None:
        """Safe state, then close every instrument."""
        self.safe_state()
        for inst in (self.clock, self.daq, self.bias):
            try:
                inst.close()
            except Exception as exc:
                log.error("closing %s failed: %s", type(inst).__name__, exc)
