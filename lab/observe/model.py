"""The digipot model and the Kirchhoff equations the estimator fits.

Digipot model (the one definition `lab.core.digipot.Digipot`; the AD5220 by default):
R = R_W + f(code) * P with P = R_AB the part's scale, f(code) = code / positions for a
linear part, so that P / positions is its step resistance g. Node voltages do
not change if every conductance of a twin is scaled alike, so each twin's resistances
are only known in a unit of their own; `DigipotModel.step` holds each part's g in its
twin's unit (fixed once by `lab.observe.tomography.calibrate`), and every later
tomography is brought to that unit by one factor per twin (see the tomography module).

Kirchhoff rows: with node voltages V (N,) known (sensed, or driven at a requested
value), every floating node n whose neighbours are all known gives one equation,
homogeneous and linear in the conductances k (E,):
sum over edges e at n of k_e (V_n - V_other(e)) = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.core.digipot import AD5220, Digipot
from lab.core.network import Network

#: Nominal wiper resistance, Ohm: the middle of the AD5220's 40 Ohm typical / 100 Ohm
#: maximum (the estimator's code error from it is at most 30 Ohm = 0.04 code step).
R_WIPER = 70.0
#: The lowest wiper resistance the current checks assume, Ohm: half the nominal, below the
#: emulator's 40-100 Ohm and the AD5220's typical 40 Ohm (its datasheet is not in the repo).
WIPER_FLOOR = R_WIPER / 2
#: The lowest R_AB of a lot the current checks assume, as a fraction of the model's: the
#: AD5220's +-30 % lot tolerance (the emulator's default) less its 2 % part mismatch.
LOT_LOW = 0.68
#: How many of its sd an estimated code is lowered by in the current checks.
LIMIT_SD = 2.0
#: Nominal step resistance of the 100 kOhm part, Ohm per code.
NOMINAL_STEP = 100e3 / AD5220.positions
TOP = AD5220.top


@dataclass
class DigipotModel:
    """Per-part step resistances ``step`` (2, E) (R_AB / positions), each twin in its own
    unit (Ohm of a nominal lot), the wiper ``r_wiper`` (Ohm) assumed for every part, and
    the parts' resolution and spacing ``digipot``."""

    step: np.ndarray
    r_wiper: float = R_WIPER
    digipot: Digipot = AD5220

    @classmethod
    def nominal(cls, n_edges: int, digipot: Digipot = AD5220) -> DigipotModel:
        """Every part at the nominal 100 kOhm (before any calibration)."""
        return cls(np.full((2, n_edges), 100e3 / digipot.positions), digipot=digipot)

    def resistance(self, codes: np.ndarray) -> np.ndarray:
        """R (2, E) in each twin's unit for codes (E,) (or (2, E))."""
        return self.digipot.resistance(codes, self.step * self.digipot.positions, self.r_wiper)

    def lowest(self, codes: np.ndarray, sd: np.ndarray | None = None) -> np.ndarray:
        """The lowest R (2, E), Ohm, the parts may have at codes (E,): each code lowered
        by 2 of its ``sd`` (E,) code steps (floored at 0), the lot at `LOT_LOW` of the
        model's scale (the lot's common scale is invisible to node voltages) and the wiper
        at `WIPER_FLOOR`. What the current checks (`lab.hal.currents`) take."""
        c = np.asarray(codes, dtype=float)
        if sd is not None:
            c = np.maximum(c - LIMIT_SD * np.asarray(sd, dtype=float), 0.0)
        return self.digipot.resistance(c, LOT_LOW * self.step * self.digipot.positions,
                                       WIPER_FLOOR)

    def conductance(self, codes: np.ndarray) -> np.ndarray:
        """k = 1 / R (2, E) for codes (E,) (or (2, E))."""
        return 1.0 / self.resistance(codes)

    def codes_of(self, resistance: np.ndarray) -> np.ndarray:
        """Continuous codes (2, E) of resistances (2, E) in each twin's unit."""
        return self.digipot.code(resistance, self.step * self.digipot.positions, self.r_wiper)


@dataclass(frozen=True)
class Topology:
    """Edge incidence of a network as dense arrays, for building Kirchhoff rows fast.

    ``incident`` (N, E) int8: +1 where the node is an edge's first end, -1 its second.
    ``neighbours`` (N, N) bool: which nodes an edge joins.
    ``at_edge``/``at_other`` (N, D) int: each node's edges in ascending order and their
    other ends, padded (``at_ok`` (N, D) bool) to the largest degree D.
    """

    network: Network
    incident: np.ndarray
    neighbours: np.ndarray  # (N, N) bool
    at_edge: np.ndarray  # (N, D) int
    at_other: np.ndarray  # (N, D) int
    at_ok: np.ndarray  # (N, D) bool

    @classmethod
    def of(cls, network: Network) -> Topology:
        n, e = network.n_nodes, network.n_edges
        inc = np.zeros((n, e), dtype=np.int8)
        a, b = network.edges[:, 0], network.edges[:, 1]
        inc[a, np.arange(e)] = 1
        inc[b, np.arange(e)] = -1
        nb = np.zeros((n, n), dtype=bool)
        nb[a, b] = nb[b, a] = True
        at = [np.flatnonzero(inc[x]) for x in range(n)]
        deg = max((len(x) for x in at), default=0)
        at_edge = np.zeros((n, deg), dtype=np.intp)
        at_other = np.zeros((n, deg), dtype=np.intp)
        at_ok = np.zeros((n, deg), dtype=bool)
        for x, edges in enumerate(at):
            at_edge[x, : len(edges)] = edges
            at_other[x, : len(edges)] = np.where(a[edges] == x, b[edges], a[edges])
            at_ok[x, : len(edges)] = True
        return cls(network, inc, nb, at_edge, at_other, at_ok)

    def equation_nodes(self, floating: np.ndarray, sensed: np.ndarray) -> np.ndarray:
        """0-based nodes that give an equation: floating and sensed, every neighbour
        sensed or driven (known). ``floating``/``sensed`` (N,) bool."""
        known = sensed | ~floating
        ok = floating & sensed & ~(self.neighbours & ~known[None, :]).any(axis=1)
        return np.flatnonzero(ok)

    def parallel_pairs(self, shorts: np.ndarray) -> list[list[int]]:
        """[[edge (a, m), edge (b, m)], ...]: for each edge (a, b) of ``shorts`` (indices: a
        near-short, its ends at one voltage) the two edges to each common neighbour m,
        which node voltages see only as a parallel sum."""
        net, nb = self.network, self.neighbours
        at = {(int(x), int(y)): j for j, (x, y) in enumerate(net.edges)}
        at.update({(y, x): j for (x, y), j in list(at.items())})
        out = []
        for i in np.asarray(shorts, dtype=int).tolist():
            a, b = (int(x) for x in net.edges[i])
            out += [[at[(a, int(m))], at[(b, int(m))]] for m in np.flatnonzero(nb[a] & nb[b])]
        return out

    def rows(self, volts: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Kirchhoff rows (len(nodes), E): row . k = current out of each node, A/S."""
        drops = self.network.drops(volts)  # (E,) V_a - V_b
        return self.incident[nodes].astype(float) * drops[None, :]

    def row_variance(
        self, k: np.ndarray, nodes: np.ndarray, noisy: np.ndarray, noise: float
    ) -> np.ndarray:
        """Variance (len(nodes),) of each row . k from read noise ``noise`` V rms on the
        ``noisy`` (N,) bool nodes (the sensed floating ones; driven ones are requested)."""
        inc = np.abs(self.incident[nodes]).astype(float)  # (n, E)
        own = (inc @ k) ** 2  # the node's own error enters every term alike
        # each neighbour's error enters its edge's term: k_e^2 where that end is noisy
        # (summed per node in edge order, padded with exact zeros)
        at = self.at_edge[nodes]
        terms = np.where(self.at_ok[nodes], k[at] ** 2 * noisy[self.at_other[nodes]], 0.0)
        var = own + terms.sum(axis=1)
        return noise**2 * np.maximum(var, 1e-300)
