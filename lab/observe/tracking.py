"""Per-pulse tracking of every digipot code from node voltages.

Model of one pulse (PHYSICS.md, "What a real bench can observe"): each edge's code moves
by x_e in {-1, 0, +1}: 0 when its oscillator did not enable it (probability 1 - p) or
the step would leave [0, 127]; otherwise the rule's direction d_e = +1 if
|dV_C| + sigma_e > |dV_F| else -1, from the drops just before the pulse, with sigma_e
unknown in [0, 0.05] V.

Per pulse (`Tracker.begin` with the pre-pulse node voltages of both twins, then
`Tracker.end` with a read of every sensed node of both twins after it):

- Direction prior. gap_e = |dV_F,e| - |dV_C,e| from the pre-pulse voltages; P(d_e = +1)
  = P(sigma_e > gap_e) with sigma_e uniform on the edge's learned interval [lo_e, hi_e]
  (initially [0, 0.05] V) and the gap blurred by its measurement noise, kept within
  ``direction_floor`` of 0 and 1. Every confident decision narrows the interval: a +1
  step at gap g says sigma > g, a -1 step sigma <= g.
- Likelihood. The post-pulse read gives one Kirchhoff row per sensed floating node
  (`lab.observe.model.Topology`); with the codes c + x the rows' residuals r(x) =
  A k(c + x) are linear in the per-edge choices (k(c +- 1) - k(c) per twin), weighted
  by their read noise. Both twins share the codes, so their rows stack.
- MAP. The move of every edge minimises |r(x)|^2 - 2 sum log P(x_e) (P from p and the
  direction prior); a compiled, exact branch and bound over every combination of the
  allowed moves (`search`: a partial assignment is dropped when its prior cost and the
  part of its residual the remaining edges' columns cannot cancel already exceed the
  best by ``CAP``) that also returns each edge's min-marginal cost, so each edge's
  posterior odds of being wrong (exact up to ``CAP``). Every edge some row sees is
  searched; an edge no row sees is independent and its prior decides it. Most of the
  3^16 combinations are dropped near the root: a wrong move of a well-seen edge costs
  hundreds of chi^2. A pulse where many edges are in doubt at once (drops near zero, a
  noisy read) could still take tens of millions of nodes: ``budget`` stops the search
  there with the best combination found so far (the first one is the prior's mode),
  and the decision is a guess: no disambiguation, and the tracker calls itself lost,
  so the probe resyncs.
- Disambiguation trigger (``Decision.odds_cost``): the least odds over the edges an
  extra read could inform (`Tracker._informable`); an edge no pattern that changes one
  node's drive puts in a row (on a bench with fewer sense channels) keeps its prior odds
  for its variance (``Decision.posterior_odds``) but cannot capture the trigger.
- Repair. An earlier pulse's miss (a weakly seen move the prior p talked the search
  out of) leaves the code one off and a residual that that edge's +-1 column removes:
  when the best such one-edge correction lowers the residual's chi^2 by more than
  ``repair``, the code is corrected (not reported as a move), before the miss grows
  into a loss and a resync. Only at low p (``repair_max_p``): there the prior is what
  talks the search out of moves; at p >= 0.5 it made things worse (TrackerSettings).
- Uncertainty. Each edge's code variance grows by its posterior probability of a wrong
  move; a resync resets it to the tomography's. ``lost`` is set when the residual's
  chi^2 per row stays above ``lost_chi2`` for ``lost_steps`` pulses in a row, or when
  the search hit its budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from lab.core.learning import SIGMA_MAX
from lab.observe.model import TOP, DigipotModel, Topology


@dataclass(frozen=True)
class TrackerSettings:
    """``noise``: rms read noise, V; ``gap_noise``: rms error of a pre-pulse gap, V;
    ``confident``: min-marginal cost difference (-2 log odds) above which a decision
    teaches sigma; ``lost_chi2``/``lost_steps``: when the tracker calls itself lost;
    ``repair``: the drop of the pulse's residual (chi^2 units) above which one edge's
    code is corrected by +-1 beyond the pulse's moves (a missed earlier move; 0 = never),
    only when p <= ``repair_max_p`` (measured: at p = 0.1 it cut task ii's resyncs
    from 22 to 5 per 500 steps; at p = 0.5 a residual is more often several edges' moves
    confused, and repairs took board 1 of task ii from 99.3 % to 88 % within +-1);
    ``direction_floor``: least prior probability of either direction of an enabled move:
    the learned sigma interval or a predicted gap can be wrong, and a move the prior
    calls impossible is then explained by several wrong ones (regression at p = 0.1,
    board 1, 500 steps: 96.7 % within +-1 with none, 99.99 % with 1e-3);
    ``budget``: the most nodes (partial assignments) one pulse's search evaluates before
    it settles for the best found so far and calls the tracker lost (0 = no bound).
    Measured on ``bench/bench_estimator.py --only track --resync-every 100`` (ii and
    regression at p = 0.5, regression and iv at p = 0.1 and 1, boards 0 and 1 x 1000
    steps, and regression at p = 0.5 on board 2 x 2000 steps; every search of every
    decide counted): median 6e3-1.4e4 nodes, 99.9th percentile 0.7-6.5e6, the most
    1.76e7 (regression at p = 0.5, board 2), never the budget. A node costs 0.2-2.6 us
    of CPU (more rows, more cost): the bound is tens of seconds on one pulse, once."""

    noise: float = 0.5e-3
    gap_noise: float = 1.5e-3
    sigma_max: float = SIGMA_MAX
    confident: float = 8.0
    lost_chi2: float = 6.0
    lost_steps: int = 3
    repair: float = 16.0
    repair_max_p: float = 0.2
    direction_floor: float = 1e-3
    budget: int = 40_000_000


#: Min-marginal costs are exact up to this far (chi^2 units) above the best; beyond it
#: they are reported as ``best + CAP`` and the edge counts as certain (posterior odds
#: below e^-20: the variance growth, ``confident`` and the disambiguation's trigger,
#: all below CAP, see no difference). Every edge some row sees is searched, so the
#: trigger (the least odds) and the alternative (that edge's min-marginal assignment)
#: come from the same exact marginals.
CAP = 40.0


class Search(NamedTuple):
    """What `search` found: ``best`` cost, ``choice`` (V,) int, min-marginals ``marg``
    (V, 3), the combination reaching each ``marg_choice`` (V, 3, V), ``nodes`` the
    partial assignments evaluated, ``truncated`` whether the node budget stopped it."""

    best: float
    choice: np.ndarray
    marg: np.ndarray
    marg_choice: np.ndarray
    nodes: int
    truncated: bool


def search(
    r0: np.ndarray,
    cols: np.ndarray,
    prior: np.ndarray,
    n_opt: np.ndarray,
    cap: float = CAP,
    budget: int = 0,
) -> Search:
    """MAP over mixed-radix choices with min-marginals: ``r0`` (m,) base residual,
    ``cols`` (V, 3, m) each variable's option columns, ``prior`` (V, 3) option costs
    (options beyond ``n_opt`` (V,) are ignored; option 0 should be each variable's
    likeliest). Minimises |r0 + sum_j cols[j, o_j]|^2 + sum_j prior[j, o_j] over every
    combination. ``marg`` is exact where it is below best + ``cap`` and clipped to it
    elsewhere (also for options beyond n_opt), where marg_choice is then undefined.

    Branch and bound, exact: a partial assignment of variables 0..d-1 is pruned when
    its cost so far, the least prior cost of the rest and the part of its residual
    that no combination of the remaining columns can cancel (the residual's component
    orthogonal to their span) reach best + ``cap``.

    Work bound: ``budget`` > 0 stops the search once that many partial assignments
    have been evaluated and a complete one found (so at most max(budget, V) nodes; the
    first complete one is option 0 of every variable, the prior's mode). Then
    ``truncated`` is set, ``choice`` is the best found so far and ``marg``/``marg_choice``
    are what was found (each a real combination's cost, no longer the minimum)."""
    nv, m = cols.shape[0], r0.shape[0]
    n_opt = np.asarray(n_opt, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=float)
    basis = np.zeros((m, m))
    n_span = np.zeros(nv + 1, dtype=np.int64)
    _spans(cols, n_opt, basis, n_span)
    big = np.where(np.arange(3)[None, :] < n_opt[:, None], prior, np.inf)
    rest = np.zeros(nv + 1)
    rest[:nv] = np.cumsum(big.min(axis=1)[::-1])[::-1]
    choice = np.zeros(nv, dtype=np.int64)
    marg = np.empty((nv, 3))
    marg_choice = np.zeros((nv, 3, nv), dtype=np.int64)
    stats = np.zeros(2, dtype=np.int64)
    best = _search(
        np.ascontiguousarray(r0, dtype=float), cols, np.ascontiguousarray(prior, dtype=float),
        n_opt, basis, n_span, rest, float(cap), int(budget),
        choice, marg, marg_choice, stats,
    )  # fmt: skip
    np.minimum(marg, best + cap, out=marg)
    return Search(best, choice, marg, marg_choice, int(stats[0]), bool(stats[1]))


@nb.njit(cache=True, nogil=True)
def _add(basis, k, w, tol):
    """Orthogonalise ``w`` (m,) against rows 0..k-1 of ``basis`` (twice: Kahan-Parlett)
    and append it when its norm^2 keeps more than ``tol`` of the start; returns new k."""
    m = w.shape[0]
    norm0 = 0.0
    for i in range(m):
        norm0 += w[i] * w[i]
    if norm0 == 0.0 or k == m:
        return k
    for _ in range(2):
        for q in range(k):
            x = 0.0
            for i in range(m):
                x += basis[q, i] * w[i]
            for i in range(m):
                w[i] -= x * basis[q, i]
    norm = 0.0
    for i in range(m):
        norm += w[i] * w[i]
    if norm <= tol * norm0:
        return k
    norm = np.sqrt(norm)
    for i in range(m):
        basis[k, i] = w[i] / norm
    return k + 1


@nb.njit(cache=True, nogil=True)
def _spans(cols, n_opt, basis, n_span):
    """Nested spans by Gram-Schmidt from the last variable back: fills ``basis`` (m, m)
    orthonormal rows, the first ``n_span[d]`` spanning the options of variables d..V-1
    (``n_span`` (V + 1,)), the rest completing the space."""
    nv, m = cols.shape[0], cols.shape[2]
    k = 0
    n_span[nv] = 0
    for d in range(nv - 1, -1, -1):
        for o in range(n_opt[d]):
            k = _add(basis, k, cols[d, o].copy(), 1e-20)
        n_span[d] = k
    for e in range(m):  # complete the basis with the unit vectors
        w = np.zeros(m)
        w[e] = 1.0
        k = _add(basis, k, w, 1e-8)


@nb.njit(cache=True, nogil=True)
def _search(
    r0, cols, prior, n_opt, basis, n_span, rest, cap, budget, choice, marg, marg_choice, stats
):
    """The depth-first branch and bound of `search`: ``basis`` (m, m) orthonormal rows,
    rows n_span[d].. spanning the complement of the span of cols[d:],
    ``rest`` (V + 1,) the least prior cost of variables d.. , ``budget`` the node budget
    (0 = none). Fills ``choice``, ``marg`` (unclipped), ``marg_choice``, ``stats`` (2,)
    (nodes evaluated, 1 if the budget stopped it); returns the best cost."""
    nv, m = cols.shape[0], r0.shape[0]
    partial = np.empty((nv + 1, m))
    pcost = np.empty(nv + 1)
    partial[0] = r0
    pcost[0] = 0.0
    idx = np.zeros(nv, dtype=np.int64)
    marg[:] = np.inf
    best = np.inf
    d = 0  # the variable whose option idx[d] is tried next
    nodes = 0
    while True:
        if budget > 0 and nodes >= budget and best < np.inf:
            stats[1] = 1
            break
        if d == nv:  # a leaf: every variable chosen
            cost = pcost[nv]
            for i in range(m):
                cost += partial[nv, i] * partial[nv, i]
            if cost < best:
                best = cost
                choice[:] = idx
            for j in range(nv):
                if cost < marg[j, idx[j]]:
                    marg[j, idx[j]] = cost
                    marg_choice[j, idx[j]] = idx
            d -= 1
        else:
            o = idx[d]
            nodes += 1
            for i in range(m):
                partial[d + 1, i] = partial[d, i] + cols[d, o, i]
            pcost[d + 1] = pcost[d] + prior[d, o]
            bound = pcost[d + 1] + rest[d + 1]
            for q in range(n_span[d + 1], m):
                x = 0.0
                for i in range(m):
                    x += basis[q, i] * partial[d + 1, i]
                bound += x * x
            if bound < best + cap:
                d += 1  # descend: the next variable starts at its first option
                continue
        # next option at depth d, backtracking past exhausted variables
        while d >= 0 and idx[d] + 1 >= n_opt[d]:
            idx[d] = 0
            d -= 1
        if d < 0:
            break
        idx[d] += 1
    stats[0] = nodes
    return best


def _p_up(gap: np.ndarray, lo: np.ndarray, hi: np.ndarray, blur: float) -> np.ndarray:
    """P(sigma > gap + noise), sigma ~ U[lo, hi], noise ~ N(0, blur^2): (E,)."""
    from scipy.special import ndtr

    def big_phi(u: np.ndarray) -> np.ndarray:  # integral of the normal cdf
        return u * ndtr(u) + np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)

    width = np.maximum(hi - lo, 1e-6)
    u_hi, u_lo = (hi - gap) / blur, (lo - gap) / blur
    return np.clip(blur * (big_phi(u_hi) - big_phi(u_lo)) / width, 0.0, 1.0)


class Tracker:
    """Codes of every edge (shared by the twins) followed pulse by pulse.

    ``codes`` (E,) int16, ``variance`` (E,) code steps^2, ``sigma_lo``/``sigma_hi`` (E,)
    V the learned comparator-offset interval; after `end`: ``last_change`` (E,) int8 the
    estimated move, ``last_direction`` (E,) int8, ``chi2`` per row, ``lost``.
    """

    def __init__(
        self,
        topology: Topology,
        model: DigipotModel,
        codes: np.ndarray,
        p: float,
        settings: TrackerSettings = TrackerSettings(),
        variance: np.ndarray | None = None,
    ) -> None:
        self.topo, self.model, self.settings = topology, model, settings
        e = topology.network.n_edges
        self.codes = np.asarray(codes, dtype=np.int16).copy()
        self.variance = np.zeros(e) if variance is None else np.asarray(variance, float).copy()
        self.p = float(p)
        self.sigma_lo = np.zeros(e)
        self.sigma_hi = np.full(e, settings.sigma_max)
        self.last_change = np.zeros(e, dtype=np.int8)
        self.last_direction = np.zeros(e, dtype=np.int8)
        self.chi2 = 0.0
        self.lost = False
        self._high = 0
        self._gap: np.ndarray | None = None
        self._p_up: np.ndarray | None = None
        self.pulses = 0
        self.repairs = 0
        self.truncations = 0  # decisions whose search hit ``settings.budget``
        self.nodes_max = 0  # the most nodes one committed decision's search evaluated
        #: (2, N) bool nodes a disambiguation pattern may drive (None: any node)
        self.driveable: np.ndarray | None = None

    def resync(self, codes: np.ndarray, variance: np.ndarray) -> None:
        """Adopt codes (E,) and their variance from a tomography."""
        self.codes = np.asarray(codes, dtype=np.int16).copy()
        self.variance = np.asarray(variance, dtype=float).copy()
        self.lost, self._high = False, 0

    def begin(self, volts: np.ndarray) -> None:
        """The pre-pulse node voltages (2, N) of the free and clamped twins, V."""
        drops = self.topo.network.drops(volts)  # (2, E)
        self._gap = np.abs(drops[0]) - np.abs(drops[1])
        floor = self.settings.direction_floor
        p_up = _p_up(self._gap, self.sigma_lo, self.sigma_hi, self.settings.gap_noise)
        self._p_up = np.clip(p_up, floor, 1.0 - floor)

    def end(
        self, volts: np.ndarray, floating: np.ndarray, sensed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decide the pulse from one read after it and commit (`decide` + `commit`)."""
        return self.commit(self.decide([Read(volts, floating, sensed)]))

    def decide(self, reads: list[Read]) -> Decision:
        """The MAP moves of the pulse begun by `begin`, from reads after it (each with
        driven nodes at their requested volts). Changes nothing."""
        if self._p_up is None:
            raise RuntimeError("Tracker.decide without Tracker.begin")
        s, topo, model = self.settings, self.topo, self.model
        e = len(self.codes)
        c = self.codes.astype(float)
        k0 = model.conductance(c)
        k_up = model.conductance(np.minimum(c + 1, TOP)) - k0
        k_dn = model.conductance(np.maximum(c - 1, 0)) - k0
        blocks_r, blocks_up, blocks_dn = [], [], []
        informable = self._informable(reads)
        for read in reads:
            for t in range(2):
                nodes = topo.equation_nodes(read.floating[t], read.sensed[t])
                if not len(nodes):
                    continue
                rows = topo.rows(read.volts[t], nodes)
                noisy = read.floating[t] & read.sensed[t]
                sd = np.sqrt(topo.row_variance(k0[t], nodes, noisy, s.noise))
                rows = rows / sd[:, None]
                blocks_r.append(rows @ k0[t])
                blocks_up.append(rows * k_up[t][None, :])
                blocks_dn.append(rows * k_dn[t][None, :])
        p_up = self._p_up
        if not blocks_r:  # nothing observable: the prior decides
            r0 = np.zeros(0)
            up = dn = np.zeros((e, 0))
        else:
            r0 = np.concatenate(blocks_r)
            up, dn = np.concatenate(blocks_up).T, np.concatenate(blocks_dn).T  # (E, m)
        p = min(max(self.p, 1e-4), 1.0 - 1e-4)
        prob = np.zeros((e, 3))  # options 0, +1, -1
        prob[:, 0] = 1.0 - p
        at_top, at_bottom = self.codes >= TOP, self.codes <= 0
        prob[:, 1] = np.where(at_top, 0.0, p * p_up)
        prob[:, 2] = np.where(at_bottom, 0.0, p * (1.0 - p_up))
        prob[:, 0] += np.where(at_top, p * p_up, 0.0) + np.where(at_bottom, p * (1 - p_up), 0.0)
        allowed = prob > 1e-9
        cost = np.where(allowed, -2.0 * np.log(np.maximum(prob, 1e-300)), np.inf)
        moves = np.array([0, 1, -1], dtype=np.int8)
        m = len(r0)
        cols = np.zeros((e, 3, m))
        cols[:, 1, :] = up
        cols[:, 2, :] = dn
        order = np.argsort(-prob, axis=1, kind="stable")  # options by prior probability
        n_opt = allowed.sum(axis=1)
        # an edge no row sees (all its columns zero) is independent of the others: its
        # prior decides it and its prior odds are its exact min-marginal; every other
        # edge with a choice is searched jointly (exact up to CAP), so the odds of every
        # edge, the trigger of a disambiguation and its alternative are one set of
        # exact marginals
        seen = np.abs(cols).max(axis=2).max(axis=1) > 0.0 if m else np.zeros(e, dtype=bool)
        searched = (n_opt > 1) & seen
        fixed = ~searched
        base = r0.copy()
        best_opt = order[:, 0].copy()
        for j in np.flatnonzero(fixed & seen):
            base += cols[j, best_opt[j]]
        var_idx = np.flatnonzero(searched)
        change = moves[best_opt].copy()
        odds_cost = np.full(e, np.inf)  # min-marginal cost of the best other option
        for j in np.flatnonzero(fixed & (n_opt > 1)):
            second = np.sort(cost[j][allowed[j]])[1]
            odds_cost[j] = second - cost[j, best_opt[j]]
        if len(var_idx):
            nv = len(var_idx)
            sub_cols = np.zeros((nv, 3, m))
            sub_prior = np.zeros((nv, 3))
            sub_n = n_opt[var_idx].astype(np.int64)
            for i, j in enumerate(var_idx.tolist()):
                for q in range(int(sub_n[i])):
                    o = order[j, q]
                    sub_cols[i, q] = cols[j, o]
                    sub_prior[i, q] = cost[j, o]
            found = search(base, sub_cols, sub_prior, sub_n, budget=s.budget)
            best, choice, marg, marg_choice, nodes, truncated = found
            second_q = np.zeros(nv, dtype=np.int64)
            for i, j in enumerate(var_idx.tolist()):
                change[j] = moves[order[j, choice[i]]]
                others = [(marg[i, q], q) for q in range(int(sub_n[i])) if q != choice[i]]
                m_cost, second_q[i] = min(others)
                # at the clip (best + CAP) certain; best + CAP - best may round below CAP
                odds_cost[j] = CAP if m_cost >= best + CAP else m_cost - best
            resid = best - float(np.sum(cost[var_idx, order[var_idx, choice]]))
            final = base + sum((sub_cols[i, choice[i]] for i in range(nv)), np.zeros(m))
        else:
            resid = float(base @ base)
            final = base
            nodes, truncated = 0, False
        # the disambiguation's trigger and alternative: only edges a read can inform (an
        # edge no read can see under any pattern keeps its prior odds in posterior_odds)
        posterior_odds = odds_cost
        odds_cost = np.where(informable, odds_cost, np.maximum(odds_cost, CAP))
        if truncated:
            # a guess: every searched edge in doubt (no sigma learned from it), no
            # disambiguation (more reads, more search): the commit calls itself lost
            posterior_odds = np.where(searched, 0.0, posterior_odds)
            odds_cost = np.maximum(odds_cost, CAP)
        worst = int(np.argmin(odds_cost))
        alternative = change.copy()
        if odds_cost[worst] < CAP:  # the least certain edge's best other explanation
            if searched[worst]:
                i = int(np.searchsorted(var_idx, worst))
                alt = marg_choice[i, second_q[i]]  # exact: its marg is below best + CAP
                for i2, j in enumerate(var_idx.tolist()):
                    alternative[j] = moves[order[j, alt[i2]]]
            else:  # independent of the rest: only its own move changes
                alternative[worst] = moves[order[worst, 1]]
        repair = np.zeros(e, dtype=np.int8)
        if s.repair and m and self.p <= s.repair_max_p and not truncated:
            # one edge off by a code since an earlier pulse (a move the prior talked the
            # search out of) leaves a residual that its +-1 column removes
            gain = np.stack(
                [
                    resid - np.sum((final[None, :] + up) ** 2, axis=1),
                    resid - np.sum((final[None, :] + dn) ** 2, axis=1),
                ]
            )  # (2, E) chi^2 drops
            new_codes = self.codes + change
            gain[0, new_codes >= TOP] = -np.inf
            gain[1, new_codes <= 0] = -np.inf
            which, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
            if gain[which, j] > s.repair:
                repair[j] = 1 if which == 0 else -1
                resid -= float(gain[which, j])
        return Decision(
            change, odds_cost, alternative, resid / max(m, 1), p_up, repair,
            posterior_odds, nodes, truncated,
        )  # fmt: skip

    def _informable(self, reads: list[Read]) -> np.ndarray:
        """Edges (E,) bool a disambiguation read could put in a Kirchhoff row: those at a
        sensed node n (of one of the reads, per twin) that is an equation node under
        the read's boundary conditions changed at one node (the probe's patterns): n
        floating with every neighbour known (sensed or driven; a seen edge, or one at
        zero drop that other conditions move), n floating with one unknown neighbour (to
        be driven, if ``driveable``) or n driven with every neighbour known (to be
        released). Another edge (say at nodes a bench with fewer sense channels leaves
        unsensed) no such read informs: the trigger skips it and its prior decides it."""
        topo = self.topo
        nbr = topo.neighbours
        out = np.zeros(topo.network.n_edges, dtype=bool)
        for read in reads:
            for t in range(2):
                sensed, floating = read.sensed[t], read.floating[t]
                unknown = ~sensed & floating
                n_unknown = (nbr & unknown[None, :]).sum(axis=1)
                drivable = unknown if self.driveable is None else unknown & self.driveable[t]
                ok = sensed & (n_unknown == 0)  # floating: an equation; driven: release it
                one = sensed & floating & (n_unknown == 1)  # drive that neighbour
                ok |= one & (nbr & drivable[None, :]).any(axis=1)
                out |= np.abs(topo.incident[ok]).any(axis=0)
        return out

    def commit(self, d: Decision) -> tuple[np.ndarray, np.ndarray]:
        """Apply a decision: codes, variances, sigma intervals, lost. Returns (change
        (E,) int8, direction (E,) int8)."""
        s = self.settings
        e = len(self.codes)
        self._p_up = None
        self.chi2 = d.chi2
        self._high = self._high + 1 if self.chi2 > s.lost_chi2 else 0
        self.lost = self._high >= s.lost_steps
        # a search stopped by its node budget decided on what it had found: uncertain,
        # so lost (the probe resyncs)
        self.lost = self.lost or d.truncated
        self.truncations += int(d.truncated)
        self.nodes_max = max(self.nodes_max, d.nodes)
        odds = d.posterior_odds
        self.variance += 1.0 / (1.0 + np.exp(np.minimum(odds, 700.0) / 2.0))
        gap = self._gap if self._gap is not None else np.zeros(e)
        sure = odds > s.confident
        margin = 2.0 * s.gap_noise
        up_sure, dn_sure = sure & (d.change > 0), sure & (d.change < 0)
        self.sigma_lo[up_sure] = np.maximum(self.sigma_lo[up_sure], gap[up_sure] - margin)
        self.sigma_hi[dn_sure] = np.minimum(self.sigma_hi[dn_sure], gap[dn_sure] + margin)
        bad = self.sigma_lo > self.sigma_hi  # contradicted: widen again
        self.sigma_lo[bad], self.sigma_hi[bad] = 0.0, s.sigma_max
        self.sigma_lo = np.clip(self.sigma_lo, 0.0, s.sigma_max)
        self.codes = np.clip(self.codes + d.change + d.repair, 0, TOP).astype(np.int16)
        self.repairs += int(np.count_nonzero(d.repair))
        self.last_change = d.change.astype(np.int8)
        self.last_direction = np.where(
            d.change != 0, d.change, np.where(d.p_up >= 0.5, 1, -1)
        ).astype(np.int8)
        self.pulses += 1
        return self.last_change, self.last_direction


@dataclass
class Read:
    """One read of both twins: ``volts`` (2, N) V (driven nodes at their requested
    volts), ``floating`` and ``sensed`` (2, N) bool."""

    volts: np.ndarray
    floating: np.ndarray
    sensed: np.ndarray


@dataclass
class Decision:
    """A pulse's MAP: ``change`` (E,) int8 moves, ``posterior_odds`` (E,) -2 log
    posterior odds of each edge's best other move (exact below ``CAP``, at most ``CAP``;
    inf for an edge with one allowed move; an edge no row sees: its prior odds),
    ``odds_cost`` (E,) the same for the edges a read could inform (`Tracker._informable`)
    and at least ``CAP`` for the others (the disambiguation's trigger: no pattern can
    inform those), ``alternative`` (E,) the best assignment with the least certain
    edge (``odds_cost.argmin()``) changed: it differs from ``change`` there whenever
    ``odds_cost.min() < CAP``, and equals ``change`` otherwise; ``chi2`` per row,
    ``p_up`` (E,) P(d = +1), ``repair`` (E,) int8 a correction of an earlier pulse's
    miss (not a move); ``nodes`` the search's partial assignments, ``truncated`` whether
    ``TrackerSettings.budget`` stopped it (then ``change`` is the best combination found
    so far, no worse than the prior's mode, ``posterior_odds`` is 0 for every searched
    edge, ``odds_cost`` at least ``CAP`` everywhere so no disambiguation follows, and
    `Tracker.commit` calls the tracker lost: the probe resyncs)."""

    change: np.ndarray
    odds_cost: np.ndarray
    alternative: np.ndarray
    chi2: float
    p_up: np.ndarray
    repair: np.ndarray | None = None
    posterior_odds: np.ndarray | None = None
    nodes: int = 0
    truncated: bool = False

    def __post_init__(self) -> None:
        if self.repair is None:
            self.repair = np.zeros_like(self.change)
        if self.posterior_odds is None:
            self.posterior_odds = self.odds_cost
