"""A network state as a SPICE deck.

A state is a network, one resistance per edge (Ohm) and the fixed nodes' voltages
(``{label: volts}``, 1-based labels). :func:`spice_deck` writes it as a SPICE deck that
any SPICE (ngspice, Xyce, LTspice) runs as an operating point:

- twinlab node ``k`` is SPICE node ``n<k>``; SPICE node ``0`` (the reference) is touched
  only by the sources, so it never collides with a network node;
- edge ``(a, b)`` is resistor ``R_<a>_<b>`` (``R_<a>_<b>_<i>`` for a parallel edge,
  ``i`` its 1-based edge index), in twinlab's edge order;
- fixed node ``k`` is DC source ``V_<k>`` from ``n<k>`` to ``0``.

:class:`CircuitState` is such a state with its deck title and provenance notes; the states
``twinlab netlist`` exports are made in `lab.export.sources`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lab import __version__
from lab.core.network import Network
from lab.errors import one_line


def node_name(label: int) -> str:
    """SPICE name of twinlab node ``label`` (1-based): ``n<label>``."""
    return f"n{int(label)}"


def resistor_names(network: Network) -> list[str]:
    """SPICE names of the edges, in edge order: ``R_<a>_<b>`` (1-based labels);
    a repeated (parallel) edge gets its 1-based edge index appended."""
    pairs = [(a + 1, b + 1) for a, b in network.edges.tolist()]
    seen: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        key = (min(a, b), max(a, b))
        seen[key] = seen.get(key, 0) + 1
    return [
        f"R_{a}_{b}" if seen[(min(a, b), max(a, b))] == 1 else f"R_{a}_{b}_{i + 1}"
        for i, (a, b) in enumerate(pairs)
    ]


def _check_resistance(network: Network, resistance: np.ndarray | Sequence[float]) -> np.ndarray:
    """Resistances (E,) Ohm as floats; ValueError naming the first bad edge."""
    r = np.asarray(resistance, dtype=float)
    if r.shape != (network.n_edges,):
        raise ValueError(
            f"resistances must have shape ({network.n_edges},), one per edge of network "
            f"{network.name!r}, got shape {r.shape}"
        )
    bad = ~(np.isfinite(r) & (r > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        a, b = (network.edges[i] + 1).tolist()
        raise ValueError(
            f"edge {a}-{b} ({resistor_names(network)[i]}, index {i}) has resistance "
            f"{r[i]:g} Ohm; resistances must be finite and > 0 Ohm"
        )
    return r


def _check_fixed(network: Network, fixed: Mapping[int, float]) -> dict[int, float]:
    """``{label: volts}`` with int labels that exist and finite volts, in the given order."""
    out: dict[int, float] = {}
    for label, volts in fixed.items():
        if isinstance(label, bool) or not isinstance(label, int | np.integer):
            raise ValueError(f"node label {label!r} is not an integer (labels are 1-based)")
        network.index_of([int(label)])  # ValueError naming the node and the range
        v = float(volts)
        if not math.isfinite(v):
            raise ValueError(f"node {int(label)}: fixed voltage {v} V is not finite")
        out[int(label)] = v
    # no fixed node / a floating island: the same DisconnectedError the solver raises
    network.solver(list(out))
    return out


def _num(x: float) -> str:
    """A float as SPICE reads it back exactly (shortest round-trip repr, no unit suffix)."""
    return repr(float(x))


def spice_deck(
    network: Network,
    resistance: np.ndarray | Sequence[float],
    fixed: Mapping[int, float],
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    version: str = __version__,
) -> str:
    """The state as a SPICE deck (text ending in ``.end`` and a newline).

    ``resistance`` (E,) Ohm, finite and > 0, in edge order; ``fixed`` ``{label: volts}``
    (1-based labels, V). ``title`` is the deck's first line (SPICE's title line); ``notes``
    become further ``*`` comment lines of the header. Values are written with full double
    precision. Raises ValueError naming a bad edge or node, DisconnectedError if some
    floating node has no path to a fixed node (its voltage would be undefined).
    """
    r = _check_resistance(network, resistance)
    volts = _check_fixed(network, fixed)
    names = resistor_names(network)
    title = title or f"twinlab netlist: network {network.name}"
    lines = [
        f"* {one_line(title)}",
        f"* written by twinlab {version}; network {network.name} "
        f"({network.n_nodes} nodes, {network.n_edges} edges)",
        *(f"* {one_line(n)}" for n in notes),
        "* node n<k> is twinlab node k (1-based); SPICE node 0 is the reference, "
        "touched only by the sources",
        "* resistor R_<a>_<b> is the edge between nodes a and b (twinlab's edge order), Ohm",
        "* source V_<k> holds fixed node k at its voltage, V",
        "",
    ]
    for name, (a, b), rv in zip(names, network.edges.tolist(), r.tolist(), strict=True):
        lines.append(f"{name} {node_name(a + 1)} {node_name(b + 1)} {_num(rv)}")
    lines.append("")
    for label, v in volts.items():
        lines.append(f"V_{label} {node_name(label)} 0 DC {_num(v)}")
    lines += ["", ".op", ".end", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class CircuitState:
    """A network state to export: ``resistance`` (E,) Ohm, ``fixed`` ``{label: V}``,
    a deck title and header notes (provenance)."""

    network: Network
    resistance: np.ndarray
    fixed: dict[int, float]
    title: str
    notes: tuple[str, ...] = field(default=())

    def deck(self) -> str:
        """The SPICE deck (see :func:`spice_deck`)."""
        return spice_deck(
            self.network, self.resistance, self.fixed, title=self.title, notes=self.notes
        )

    def solve(self) -> np.ndarray:
        """Node voltages (N,) V from twinlab's solver, for comparison."""
        return self.network.solve(1.0 / self.resistance, self.fixed)
