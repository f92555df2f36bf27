"""The current-limit contract (one definition): `CurrentLimits`, the bench file's
``[currents]`` table (`CurrentsSection`) and the prediction of every edge's and every
drive channel's current from a drive state (`predict_currents`).

Limits are currents, A: ``edge`` is the most current any edge's part may carry (a
digipot's terminal current; the AD5220's absolute maximum is about +-20 mA by its
datasheet, which is not in the repo), ``channel`` the most current any drive channel may
source or sink (a USB DAQ's analog output drives a few mA), with per-channel overrides
``channels`` {channel name: A}. Defaults: 5 mA each.

The prediction uses the one Kirchhoff solver (`lab.core.network.Network.solver`): the
drive state {node label: V} fixes those nodes, the rest float, and each edge e from a to
b carries I_e = (V_a - V_b) / R_e; a driven node's channel injects the sum of the
currents leaving it through its edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lab.errors import ConfigError
from lab.hal.protocols import LimitError

if TYPE_CHECKING:
    from lab.core.network import Network

#: The default limits, A (edge and every drive channel).
DEFAULT_EDGE = 5e-3
DEFAULT_CHANNEL = 5e-3
#: The bench file's table and fields, named in every refusal ("what to change").
FIELD_EDGE = "currents.edge"
FIELD_CHANNEL = "currents.channel"


def _amps(value: float) -> str:
    """``value`` A as mA text: ``48.2 mA``."""
    return f"{value * 1e3:.3g} mA"


class CurrentsSection(BaseModel):
    """A bench file's ``[currents]`` table (every kind): ``edge``, ``channel`` and
    ``channels``, A; absent: 5 mA each."""

    model_config = ConfigDict(extra="forbid")

    edge: float = Field(DEFAULT_EDGE, gt=0, le=1.0,
                        description="the most current, A, through any edge's part, in (0, 1]")
    channel: float = Field(DEFAULT_CHANNEL, gt=0, le=1.0,
                           description="the most current, A, out of any drive channel, in (0, 1]")
    channels: dict[str, float] = Field(
        default_factory=dict,
        description="per drive channel name: its own limit, A, in (0, 1]",
    )

    def limits(self, where: str, drive_channels: Sequence[str]) -> CurrentLimits:
        """The `CurrentLimits` of this table; ConfigError (one line naming ``where`` and
        the field) for a per-channel entry naming no drive channel or out of range."""
        names = set(drive_channels)
        for name, amps in self.channels.items():
            if name not in names:
                known = ", ".join(sorted(names)[:8])
                raise ConfigError(
                    f"{where}: field 'currents.channels', key {name!r}: not a drive channel "
                    f"of this bench (drive channels: {known}{', ...' if len(names) > 8 else ''})"
                )
            if not (math.isfinite(amps) and 0.0 < amps <= 1.0):
                raise ConfigError(
                    f"{where}: field 'currents.channels', key {name!r}: expected a current "
                    f"in (0, 1] A, got {amps!r}"
                )
        return CurrentLimits(self.edge, self.channel, dict(self.channels))


@dataclass(frozen=True)
class Currents:
    """Predicted currents of one drive state: ``edge`` (E,) A, signed from an edge's first
    node to its second; ``injected`` {node label: A} each driven node's channel sources
    into the network (negative: sinks)."""

    edge: np.ndarray
    injected: dict[int, float]


def predict_currents(
    network: Network, resistance: np.ndarray, drive: Mapping[int, float]
) -> Currents:
    """Currents of drive state ``drive`` {node label: V} on ``network`` with edge
    resistances ``resistance`` (E,) Ohm (> 0), by the one solver. An empty drive state
    carries no current."""
    r = np.asarray(resistance, dtype=float)
    if not drive:
        return Currents(np.zeros(network.n_edges), {})
    nodes = tuple(drive)
    solver = network.solver(nodes)  # cached per node order; fixed_idx in that order
    v_nodes = np.zeros(network.n_nodes)
    v_nodes[solver.fixed_idx] = list(drive.values())
    volts = solver.solve_nodes(1.0 / r, v_nodes)
    a, b = network.edges.T
    current = (volts[a] - volts[b]) / r
    n = network.n_nodes
    out = np.bincount(a, current, n) - np.bincount(b, current, n)
    return Currents(current, dict(zip(nodes, out[solver.fixed_idx].tolist(), strict=True)))



@dataclass(frozen=True)
class CurrentLimits:
    """The most current, A, through any edge's part (``edge``) and out of each drive
    channel (``channel``, or its own entry in ``channels`` {channel name: A}). Each in
    (0, 1] A (`ConfigError` otherwise)."""

    edge: float = DEFAULT_EDGE
    channel: float = DEFAULT_CHANNEL
    channels: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in (("edge", self.edge), ("channel", self.channel),
                            *((f"channels[{k!r}]", v) for k, v in self.channels.items())):
            if not (isinstance(value, int | float) and math.isfinite(value)
                    and 0.0 < value <= 1.0):
                raise ConfigError(
                    f"current limit {name} = {value!r} is not a current in (0, 1] A"
                )

    def channel_limit(self, name: str) -> float:
        """The limit of drive channel ``name``, A."""
        return float(self.channels.get(name, self.channel))

    def to_dict(self) -> dict[str, object]:
        """JSON-able: ``{"edge": A, "channel": A, "channels": {name: A}}``."""
        return {"edge": self.edge, "channel": self.channel, "channels": dict(self.channels)}

    def node_limits(
        self, nodes: Iterable[int], channel_names: Mapping[int, str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(node indices (n,) int, channel limits (n,) A) of driven ``nodes`` (labels),
        ``channel_names`` {node label: channel name}: what `safe_spread` takes (build it
        once per set of drive channels)."""
        names = channel_names or {}
        labels = list(nodes)
        limits = [self.channel_limit(names[n]) if n in names else self.channel for n in labels]
        return np.asarray(labels, dtype=np.intp) - 1, np.asarray(limits, dtype=float)

    def safe_spread(
        self, network: Network, conductance: np.ndarray,
        node_limits: tuple[np.ndarray, np.ndarray],
    ) -> float:
        """The largest spread max(V) - min(V), V, of a drive state on (a subset of) the
        nodes of ``node_limits`` (`node_limits`) that the maximum principle proves safe at
        edge conductances ``conductance`` (E,) S without a solve: every node's voltage lies
        between the driven ones, so an edge carries at most spread x k_e and a driven
        node's channel at most spread x the sum of its edges' conductances."""
        from lab.hal.current_bound import safe_spread_bound  # numba: loaded at first use

        idx, limits = node_limits
        a, b = network.edges.T
        return float(safe_spread_bound(np.asarray(conductance, dtype=float), a, b, idx, limits,
                                  float(self.edge)))

    def check(
        self,
        network: Network,
        resistance: np.ndarray,
        drive: Mapping[int, float],
        *,
        twin: str,
        what: str,
        channel_names: Mapping[int, str] | None = None,
        codes: np.ndarray | None = None,
        code_sd: np.ndarray | None = None,
    ) -> None:
        """LimitError if, in drive state ``drive`` {node label: V} at ``resistance`` (E,)
        Ohm on ``twin``, an edge or a drive channel (``channel_names`` {node label:
        channel name}) would exceed its limit. First a bound that needs no solve: every
        node's voltage lies between the driven ones (a resistor network has no interior
        extremum), so an edge carries at most spread / R_e and a driven node's channel at
        most spread x the sum of its edges' conductances; only when that bound does not
        prove the state safe are the currents predicted (`predict_currents`, one solve).
        The one message format:
        ``edge 1-6 of the free twin would carry 48.2 mA (estimated code 0 +- 0.4) at
        <what>, above the bench's edge current limit 5 mA (bench file field
        'currents.edge'); nothing was written`` (the code part only with ``codes``; "+-"
        only with ``code_sd``)."""
        r = np.asarray(resistance, dtype=float)
        names = channel_names or {}
        if drive:
            values = list(drive.values())
            if max(values) - min(values) <= self.safe_spread(
                network, 1.0 / r, self.node_limits(drive, names)
            ):
                return
        cur = predict_currents(network, r, drive)
        mag = np.abs(cur.edge)
        worst = int(np.argmax(mag)) if len(mag) else 0
        if len(mag) and not mag[worst] <= self.edge:  # NaN refused too
            a, b = network.edges[worst] + 1
            code = ""
            if codes is not None:
                c = codes[worst]
                if code_sd is not None:
                    code = f" (estimated code {float(c):.0f} +- {float(code_sd[worst]):.1f})"
                else:
                    code = f" (code {int(c)})"
            raise LimitError(
                f"edge {a}-{b} of the {twin} twin would carry {_amps(float(mag[worst]))}"
                f"{code} at {what}, above the bench's edge current limit "
                f"{_amps(self.edge)} (bench file field '{FIELD_EDGE}'); nothing was written"
            )
        for node, amps in cur.injected.items():
            name = names.get(node, "")
            limit = self.channel_limit(name) if name else self.channel
            if not abs(amps) <= limit:
                field_name = f"currents.channels.{name}" if name in self.channels else FIELD_CHANNEL
                chan = f" (channel {name!r})" if name else ""
                raise LimitError(
                    f"node {node} of the {twin} twin{chan} would source {_amps(abs(amps))} at "
                    f"{what}, above the bench's channel current limit {_amps(limit)} "
                    f"(bench file field '{field_name}'); nothing was written"
                )


__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_EDGE",
    "CurrentLimits",
    "Currents",
    "CurrentsSection",
    "predict_currents",
]
