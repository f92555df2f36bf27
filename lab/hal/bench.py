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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lab.errors import ConfigError
from lab.hal.calibration import Calibration
from lab.hal.channels import (
    Channel,
    Limits,
    Twin,
    channel_key,
    check_all,
    check_channel_map,
    output_what,
)
from lab.hal.currents import CurrentLimits
from lab.hal.protocols import (
    DAQ,
    BiasSource,
    ClockBoard,
    ResistanceProbe,
    Unsafe,
)

if TYPE_CHECKING:
    from lab.core.network import Network

log = logging.getLogger(__name__)

@dataclass(slots=True)
class _Route:
    """Precomputed lookup for one (twin, nodes) request: channel names and limits."""

    channels: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    limits: tuple[Limits, ...]  # the same limits, checked per step (`check_all`)
    whats: tuple[str, ...]  # each output named for a LimitError


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
    #: What the board's comparators compare (`lab.core.rules.RULES`): wired on the board,
    #: so a run's `TrainSettings.rule` must equal it (the trainer refuses otherwise).
    rule: str = "voltage"
    #: The most current, A, through any edge and out of each drive channel (the bench
    #: file's ``[currents]`` table; `lab.hal.currents`). Checked by the procedures that
    #: know the codes (`check_currents`), not by `drive` (it knows no resistances).
    currents: CurrentLimits = field(default_factory=CurrentLimits)
    _routes: dict[tuple[str, Twin, tuple[int, ...]], _Route] = field(
        default_factory=dict, init=False, repr=False
    )

    dirty: bool = field(default=True, init=False)
    #: What the bench has driven since the last safe state: {(twin, node): volts} of every
    #: output driven and not released (`drive_state`). Calls that bypass the bench are not seen.
    _driven: dict[tuple[str, int], float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_channel_map(self.network, self.channels)
        self.bias_limits = Limits.parse(self.bias_limits, "bias")
        self._by_node = {(ch.kind, ch.twin, ch.node): ch for ch in self.channels}
        self._by_key = {channel_key(ch.name): ch for ch in self.channels}
        self._drive_names: dict[str, dict[int, str]] = {}  # per twin: {node: channel name}
        #: per twin: (the `currents` they are for, `CurrentLimits.node_limits`)
        self._node_limits: dict[str, tuple[CurrentLimits, tuple[np.ndarray, np.ndarray]]] = {}

    # -- routing ---------------------------------------------------------------------------
    def _route(self, kind: str, twin: Twin, nodes: tuple[int, ...]) -> _Route:
        key = (kind, twin, nodes)
        route = self._routes.get(key)
        if route is None:
            chans = []
            for node in nodes:
                ch = self._by_node.get((kind, twin, node))
                if ch is None:
                    raise ConfigError(
                        f"channel map: node {node} of the {twin} twin has no {kind} channel"
                    )
                chans.append(ch)
            route = _Route(
                channels=tuple(c.name for c in chans),
                low=np.array([c.limits[0] for c in chans]),
                high=np.array([c.limits[1] for c in chans]),
                limits=tuple(Limits(*c.limits) for c in chans),
                whats=tuple(output_what(c) for c in chans),
            )
            self._routes[key] = route
        return route

    def limits(self, twin: Twin, nodes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) limits, V, of the drive channels of ``nodes`` (n,) of ``twin``."""
        route = self._route("drive", twin, nodes)
        return route.low, route.high

    def check_volts(
        self, twin: Twin, nodes: tuple[int, ...], volts: np.ndarray, *, who: str = "",
        label: str = "its limits",
    ) -> None:
        """Refuse (LimitError, `Limits.check`'s one message) the first value of ``volts``
        (m, n) or (n,), V, outside the limits of the drive channels of ``nodes`` (n,) of
        ``twin`` (NaN refused); drives nothing. For whole tables checked before a run
        (`Bench.drive` checks each step itself)."""
        route = self._route("drive", twin, nodes)
        values = np.atleast_2d(np.asarray(volts, dtype=float))
        outside = ~((values >= route.low) & (values <= route.high))
        if outside.any():
            row, col = np.argwhere(outside)[0]
            route.limits[col].check(float(values[row, col]), route.whats[col], who=who,
                                    label=label)

    def check_currents(
        self,
        twin: Twin,
        drive: dict[int, float],
        resistance: np.ndarray,
        *,
        what: str,
        codes: np.ndarray | None = None,
        code_sd: np.ndarray | None = None,
    ) -> None:
        """LimitError (`CurrentLimits.check`'s one message, naming the edge or channel,
        the current, the limit and the bench file field) if drive state ``drive`` {node
        label: V} of ``twin`` at edge resistances ``resistance`` (E,) Ohm would exceed
        `currents`. Writes nothing."""
        self.currents.check(self.network, resistance, drive, twin=twin, what=what,
                            channel_names=self._drive_channel_names(twin), codes=codes,
                            code_sd=code_sd)

    def _drive_channel_names(self, twin: Twin) -> dict[int, str]:
        """{node label: drive channel name} of ``twin``."""
        names = self._drive_names.get(twin)
        if names is None:
            names = self._drive_names[twin] = {
                ch.node: ch.name for ch in self.channels if ch.kind == "drive" and ch.twin == twin}
        return names

    def safe_spread(self, twin: Twin, conductance: np.ndarray) -> float:
        """The largest spread, V, of any drive state of ``twin`` (on any of its drive
        channels) that `CurrentLimits.safe_spread` proves within `currents` at edge
        conductances ``conductance`` (E,) S without a solve; a state within it needs no
        `check_currents`."""
        currents = self.currents
        cached = self._node_limits.get(twin)
        if cached is None or cached[0] is not currents:  # built once per limits object
            names = self._drive_channel_names(twin)
            cached = self._node_limits[twin] = (currents, currents.node_limits(names, names))
        return currents.safe_spread(self.network, conductance, cached[1])

    def drive(self, twin: Twin, nodes: tuple[int, ...], volts: np.ndarray) -> None:
        """Hold ``nodes`` (n,) of ``twin`` at ``volts`` (n,) V; refuses (LimitError) before
        writing anything if any value lies outside its channel's limits."""
        route = self._routes.get(("drive", twin, nodes)) or self._route("drive", twin, nodes)
        volts = np.asarray(volts, dtype=float)
        check_all(volts.tolist(), route.limits, route.whats)  # also refuses NaN
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

    # -- several twins in one DAQ transaction ------------------------------------------------
    # The DAQ takes any list of its channels in one message, so both twins' outputs (or
    # inputs) go in one transaction: what the tomography and the tracker's reads use.
    def drive_twins(self, requests: Sequence[tuple[Twin, tuple[int, ...], np.ndarray]]) -> None:
        """`drive` for several ``(twin, nodes (n,), volts (n,) V)`` in one DAQ write;
        refuses (LimitError) before writing anything if any value is outside its limits."""
        channels: list[str] = []
        values: list[float] = []
        for twin, nodes, volts in requests:
            route = self._routes.get(("drive", twin, nodes)) or self._route("drive", twin, nodes)
            got = np.asarray(volts, dtype=float).tolist()
            check_all(got, route.limits, route.whats)  # also refuses NaN
            channels.extend(route.channels)
            values.extend(got)
        if not channels:
            return
        self.dirty = True
        self.daq.write(tuple(channels), np.array(values))
        for twin, nodes, volts in requests:
            for node, v in zip(nodes, np.asarray(volts, dtype=float).tolist(), strict=True):
                self._driven[twin, int(node)] = v

    def release_twins(self, requests: Sequence[tuple[Twin, tuple[int, ...]]]) -> None:
        """`release` for several ``(twin, nodes)`` in one DAQ call."""
        channels = tuple(
            name for twin, nodes in requests for name in self._route("drive", twin, nodes).channels
        )
        if not channels:
            return
        self.dirty = True
        self.daq.release(channels)
        for twin, nodes in requests:
            for node in nodes:
                self._driven.pop((twin, int(node)), None)

    def sense_twins(self, requests: Sequence[tuple[Twin, tuple[int, ...]]]) -> list[np.ndarray]:
        """`sense` for several ``(twin, nodes (n,))`` in one DAQ read; returns one (n,)
        array of V per request."""
        routes = [
            self._routes.get(("sense", twin, nodes)) or self._route("sense", twin, nodes)
            for twin, nodes in requests
        ]
        channels = tuple(name for r in routes for name in r.channels)
        if not channels:
            return [np.zeros(0) for _ in requests]
        volts = np.asarray(self.daq.read(channels), dtype=float)
        out, at = [], 0
        for r in routes:
            out.append(volts[at:at + len(r.channels)])
            at += len(r.channels)
        return out

    # -- learning controls -----------------------------------------------------------------
    def set_probability(self, p: float) -> float:
        """Set the bias so that edges update with probability ``p``; returns the bias in V."""
        if not 0.0 < p <= 1.0:
            raise ConfigError(f"p = {p} is outside (0, 1]")
        volts = float(self.calibration.volts_for(p))
        self.bias_limits.check(
            volts, f"the bias source (p = {p})", label="the bias limits", quantity="bias"
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

    def _describe_group(self, instrument: str, channels: list[str], reason: str) -> str:
        """One line for several channels of ``instrument`` with the same ``reason``: their
        names, then their wiring by kind and twin (nodes as ranges), then the reason; one
        channel reads as `_describe`."""
        if len(channels) == 1:
            return self._describe(instrument, Unsafe(channels[0], reason))
        names = ", ".join(repr(c) for c in channels)
        wired = [self._by_key.get(channel_key(c)) for c in channels]
        if any(ch is None for ch in wired):
            return f"{instrument} channels {names}: {reason}"
        nodes: dict[tuple[str, str], list[int]] = {}
        for ch in wired:
            nodes.setdefault((ch.kind, ch.twin), []).append(ch.node)
        wiring = "; ".join(
            f"{kind}, {twin} twin node{'s' if len(ns) > 1 else ''} {_ranges(ns)}"
            for (kind, twin), ns in nodes.items()
        )
        return f"channels {names} ({wiring}): {reason}"

    def safe_state(self) -> list[str]:
        """Every instrument to its safe state: clock stopped, bias to p = 0, then every DAQ
        output to its safe value and off, each verified where the instrument can read back.

        Never raises. Returns the channels (or instruments) that could NOT be made safe and
        verified, one line per instrument and reason: the channels that share a reason
        (e.g. every output after the link went down) are named together on one line, with
        their nodes and twins; channels with different reasons stay on separate lines; an
        empty list means everything is safe. Every channel's own line is logged at debug
        level (``-vv``), the lines returned are not: the caller reports them.
        """
        groups: dict[tuple[str, str | None, str], list[str]] = {}
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
                log.debug("not safe: %s", self._describe(name, u))
                # a whole instrument is its own group; channels group by their reason
                key = (name, None if u.channel is None else "", u.reason)
                channels = groups.setdefault(key, [])
                if u.channel is not None and u.channel not in channels:
                    channels.append(u.channel)
        lines: list[str] = []
        for (name, whole, reason), channels in groups.items():
            line = (
                f"{name}: {reason}" if whole is None
                else self._describe_group(name, channels, reason)
            )
            if line not in lines:
                lines.append(line)
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


def _ranges(nodes: list[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` as ``"1-3, 5, 7-8"`` (in the order given, runs of +1)."""
    parts: list[str] = []
    start = prev = nodes[0]
    for n in [*nodes[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)
