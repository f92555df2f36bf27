"""Batched in-silico coupled learning: many independent networks trained at once.

`train_batch` trains B copies of one network on one task, each with its own update
probability p, mini-batch fraction b, seed and initial state (batch dimension first;
sweeps over tasks run one call per task, see `lab.insilico.studies` and
`lab.insilico.sweep`). It uses the solver of `lab.core.network` (the same sparse Cholesky
kernels as the emulator) and the rule ufuncs of `lab.core.learning` (`continuous_delta`,
`discrete_direction`, `step_code`), called from one compiled kernel, so there is one
physics, used two ways.

Per step and network the kernel factors the free state's L_ff once and gets the clamped
state from the same factor: clamping the outputs O at V_C injects currents lambda there,
V_clamped = V_free + G[:, O] lambda with G = L_ff^-1 and lambda = G_OO^-1 (V_C - V_F)_O,
exact up to rounding (|O| extra substitutions instead of a second factorisation).
Random choices (which edges update, which examples join a step) are drawn per network
with numpy from that network's own seed, so a network's trajectory does not depend on
which other networks share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numba as nb
import numpy as np

from lab.core.digipot import Digipot, Spacing
from lab.core.learning import (
    N_POSITIONS,
    SIGMA_MAX,
    MaskMode,
    batch_mask,
    continuous_delta,
    discrete_direction,
    power_direction,
    step_code,
    update_mask,
)
from lab.core.network import Network, factor, substitute_many
from lab.core.rules import RULES, RuleKind
from lab.tasks import Task

RuleName = Literal["continuous", "discrete"]


@dataclass(frozen=True)
class Rule:
    """The learning rule and its constants.

    continuous (eqs. 2 and 7): resistances in Ohm, ``gamma`` in Ohm^3 / V^2 per example
    and step, clipped to [r_min, r_max]; each step's update is the *sum* of eq. 2 over the
    step's included examples (eq. 7; `lab.core.learning.continuous_batch_update`), so a
    full batch of M examples moves M times as far as one example, and leaving examples
    out (b < 1) lowers the effective learning rate.
    discrete (eq. 10): digipot codes 0..n_positions-1 of R = r_wiper + f(code)
    * r_end_to_end (`lab.core.digipot.Digipot`: f(code) = code / n_positions for the
    ``"linear"`` ``spacing``, geometric for ``"log"``), comparator offsets
    sigma ~ U[0, sigma_max] V per edge and network;
    one training example per step, drawn at random (as on the board). ``compare``: what
    each edge compares (`lab.core.rules.RULES`), the voltage drops or the power dissipated
    (`lab.core.learning.power_direction`). The batch's twins are identical (one resistance
    per edge), so here "power" decides exactly as "voltage" does; the rules differ only
    with mismatched twins (the emulator's ``mismatch``).
    """

    name: RuleName = "continuous"
    eta: float = 0.5
    gamma: float = 0.05
    r_min: float = 1e-3
    r_max: float = 1e3
    n_positions: int = N_POSITIONS
    r_end_to_end: float = 100e3
    r_wiper: float = 40.0
    sigma_max: float = SIGMA_MAX
    spacing: Spacing = "linear"
    compare: RuleKind = "voltage"

    @property
    def digipot(self) -> Digipot:
        """The digipot of the discrete rule (its resolution and spacing)."""
        return Digipot(self.n_positions, self.spacing)

    def __post_init__(self) -> None:
        if self.name not in ("continuous", "discrete"):
            raise ValueError(f"rule: expected 'continuous' or 'discrete', got {self.name!r}")
        if not 0 < self.eta <= 1:
            raise ValueError(f"rule field 'eta': expected 0 < eta <= 1, got {self.eta}")
        if not 0 < self.r_min < self.r_max:
            raise ValueError("rule fields 'r_min', 'r_max': need 0 < r_min < r_max")
        if self.n_positions < 2:
            raise ValueError(f"rule field 'n_positions': expected >= 2, got {self.n_positions}")
        if self.compare not in RULES:
            raise ValueError(
                f"rule field 'compare': expected one of {', '.join(map(repr, RULES))}, "
                f"got {self.compare!r}"
            )
        if self.spacing not in ("linear", "log"):
            raise ValueError(
                f"rule field 'spacing': expected 'linear' or 'log', got {self.spacing!r}"
            )


@dataclass
class BatchResult:
    """What `train_batch` returns. B networks, T evaluations, E edges.

    ``eval_steps`` (T,): the step count at each evaluation (0 = before training).
    ``train_error``/``test_error`` (T, B): mean squared error of the free outputs over
    the train / test examples, V^2. ``resistance`` (B, E) Ohm and, for the discrete rule,
    ``codes`` (B, E) at the end. ``sigma`` (B, E) V: the comparator offsets used.
    """

    eval_steps: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    resistance: np.ndarray
    codes: np.ndarray | None = None
    sigma: np.ndarray | None = None
    edge_updates: int = 0
    info: dict = field(default_factory=dict)

    def scaled(self, which: str = "test") -> np.ndarray:
        """Error / error at step 0, (T, B)."""
        err = self.test_error if which == "test" else self.train_error
        return err / err[:1]


@dataclass(frozen=True)
class _Setup:
    """Arrays the kernels need for one task on one network (see `_setup`)."""

    pattern: tuple[np.ndarray, ...]
    out_rows: np.ndarray  # (O,) factor row of each output node
    out_nodes: np.ndarray  # (O,) node index of each output
    in_pos: np.ndarray  # (N,) input column of each input node, -1 elsewhere
    v_template: np.ndarray  # (N,) fixed volts of the ground/bias nodes, 0 elsewhere


def _setup(network: Network, task: Task) -> _Setup:
    fixed = (*task.input_nodes, *task.fixed_nodes)
    solver = network.solver(fixed)
    pat = solver.pattern
    out_nodes = network.index_of(task.output_nodes).astype(np.int64)
    row_of = np.full(network.n_nodes, -1, dtype=np.int64)
    row_of[pat.factor_out] = np.arange(len(pat.factor_out))
    in_pos = np.full(network.n_nodes, -1, dtype=np.int64)
    in_pos[network.index_of(task.input_nodes)] = np.arange(task.n_inputs)
    v_template = np.zeros(network.n_nodes)
    v_template[network.index_of(task.fixed_nodes)] = task.fixed_volts
    return _Setup(
        pattern=pat.kernel_args(),
        out_rows=row_of[out_nodes],
        out_nodes=out_nodes,
        in_pos=in_pos,
        v_template=v_template,
    )


# ----------------------------------------------------------------------------- kernels
#
# Networks of a batch share the factor's sparsity pattern, so `_train_lanes` runs LANES of
# them in lockstep: every array carries a trailing lane axis and every loop over the
# pattern has an innermost loop over lanes, which the compiler turns into SIMD. A single
# network's sparse factorisation is a chain of dependent scalar operations (latency-
# bound); eight in lockstep fill the vector units with independent work.

#: Networks trained in lockstep by one thread.
LANES = 8


#: How a step's edge mask is made: every edge, in-kernel Bernoulli(p), or given arrays.
EVERY_EDGE, BERNOULLI, GIVEN = 0, 1, 2


@nb.njit(cache=True, nogil=True)
def _mix64(x):
    """splitmix64's output function: a bijective avalanche of a uint64."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=True, nogil=True)
def _uniform(key, counter):
    """Counter-based uniform on [0, 1): a function of (network key, counter) only, so a
    network's random stream does not depend on batching, threads or chunk sizes."""
    z = _mix64(key + np.uint64(counter) * np.uint64(0x9E3779B97F4A7C15))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def network_keys(seeds: np.ndarray) -> np.ndarray:
    """Per-network keys (B,) uint64 of the in-kernel random streams, from int seeds (B,)."""
    offset = np.uint64(0x632BE59BD9B4E019)
    return np.array([_mix64(np.uint64(s) + offset) for s in np.asarray(seeds)], dtype=np.uint64)


@nb.njit(cache=True, nogil=True)
def _factor_lanes(k, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, vals, work, ok):
    """Assemble L_ff for conductances ``k`` (E, W) into ``vals`` (nnz, W) and factor every
    lane in place (left-looking, as `lab.core.network.factor`); ``ok`` (W,) False where a
    lane is not positive definite."""
    n_lanes = k.shape[1]
    vals[:, :] = 0.0
    for e in range(k.shape[0]):
        s0 = edge_slots[e, 0]
        s1 = edge_slots[e, 1]
        s2 = edge_slots[e, 2]
        for w in range(n_lanes):
            ke = k[e, w]
            if s0 >= 0:
                vals[s0, w] += ke
            if s1 >= 0:
                vals[s1, w] += ke
            if s2 >= 0:
                vals[s2, w] -= ke
    if n_lanes == 1:  # one network: the scalar kernel (no lane loops of length one)
        ok[0] = ok[0] and factor(colptr, rowidx, rowptr, rowcol, rowpos, vals[:, 0], work[:, 0])
        return
    for j in range(len(colptr) - 1):
        for p in range(colptr[j], colptr[j + 1]):
            i = rowidx[p]
            for w in range(n_lanes):
                work[i, w] = vals[p, w]
        for q in range(rowptr[j], rowptr[j + 1]):
            kk = rowcol[q]
            pk = rowpos[q]
            for p in range(pk, colptr[kk + 1]):
                i = rowidx[p]
                for w in range(n_lanes):
                    work[i, w] -= vals[p, w] * vals[pk, w]
        d0 = colptr[j]
        for w in range(n_lanes):
            d = work[j, w]
            if not d > 0.0:
                ok[w] = False
                d = 1.0
            vals[d0, w] = np.sqrt(d)
        for p in range(d0 + 1, colptr[j + 1]):
            i = rowidx[p]
            for w in range(n_lanes):
                vals[p, w] = work[i, w] / vals[d0, w]


@nb.njit(cache=True, nogil=True)
def _substitute_lanes(colptr, rowidx, vals, x, n_rhs):
    """Solve L L^T x = b in place for the first ``n_rhs`` columns of ``x`` (nf, M, W),
    each lane with its own factor in ``vals`` (nnz, W)."""
    n = len(colptr) - 1
    n_lanes = x.shape[2]
    if n_lanes == 1:  # one network: the scalar kernel
        substitute_many(colptr, rowidx, vals[:, 0], x[:, :, 0], n_rhs)
        return
    for j in range(n):
        d0 = colptr[j]
        for c in range(n_rhs):
            for w in range(n_lanes):
                x[j, c, w] /= vals[d0, w]
        for p in range(d0 + 1, colptr[j + 1]):
            i = rowidx[p]
            for c in range(n_rhs):
                for w in range(n_lanes):
                    x[i, c, w] -= vals[p, w] * x[j, c, w]
    for j in range(n - 1, -1, -1):
        d0 = colptr[j]
        for p in range(d0 + 1, colptr[j + 1]):
            i = rowidx[p]
            for c in range(n_rhs):
                for w in range(n_lanes):
                    x[j, c, w] -= vals[p, w] * x[i, c, w]
        for c in range(n_rhs):
            for w in range(n_lanes):
                x[j, c, w] /= vals[d0, w]


@nb.njit(cache=True, nogil=True)
def _spd_solve_small(a, b, out):
    """Solve a x = b for a tiny SPD matrix ``a`` (O, O) into ``out`` (O,); ``a`` is
    overwritten by its Cholesky factor (no allocation, unlike numpy's LAPACK calls)."""
    n = len(b)
    for j in range(n):
        d = a[j, j]
        for m in range(j):
            d -= a[j, m] * a[j, m]
        d = np.sqrt(d)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for m in range(j):
                s -= a[i, m] * a[j, m]
            a[i, j] = s / d
    for i in range(n):
        s = b[i]
        for m in range(i):
            s -= a[i, m] * out[m]
        out[i] = s / a[i, i]
    for i in range(n - 1, -1, -1):
        s = out[i]
        for m in range(i + 1, n):
            s -= a[m, i] * out[m]
        out[i] = s / a[i, i]


@nb.njit(cache=True, nogil=True)
def _fixed_volts(node, example, x, in_pos, v_template):
    """Voltage of fixed node ``node`` for training/test example ``example`` of ``x``."""
    q = in_pos[node]
    return x[example, q] if q >= 0 else v_template[node]


@nb.njit(cache=True, nogil=True)
def _lanes_error(xs, ys, k, vals, colptr, rowidx, rhs_row, rhs_node, in_pos, v_template,
                 out_rows, buf, errors):  # fmt: skip
    """Mean squared free-state error over examples ``xs`` (M, I) vs ``ys`` (M, O) into
    ``errors`` (W,), V^2; ``buf`` (nf, 1, W) scratch."""
    n_lanes = k.shape[1]
    n_out = len(out_rows)
    errors[:] = 0.0
    for m in range(xs.shape[0]):
        buf[:, :, :] = 0.0
        for e in range(k.shape[0]):
            row = rhs_row[e]
            if row >= 0:
                volts = _fixed_volts(rhs_node[e], m, xs, in_pos, v_template)
                for w in range(n_lanes):
                    buf[row, 0, w] += k[e, w] * volts
        _substitute_lanes(colptr, rowidx, vals, buf, 1)
        for o in range(n_out):
            for w in range(n_lanes):
                d = buf[out_rows[o], 0, w] - ys[m, o]
                errors[w] += d * d
    for w in range(n_lanes):
        errors[w] /= xs.shape[0] * n_out


@nb.njit(cache=True, nogil=True)
def _train_lanes(nets, n_steps_run, discrete, power, resistance, codes, k_table, sigma, top, gamma,
                 r_min, r_max, eta, edges, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots,
                 rhs_row, rhs_node, factor_out, out_rows, out_nodes, in_pos, v_template, x_train,
                 y_train, edge_mode, keys, p, t0, edge_mask, pick_one, example_mask, x_test,
                 y_test, evaluate, errors, ok):  # fmt: skip
    """Train the networks ``nets`` (W,) of the batch in lockstep for C steps (see
    `_train_chunk` for the arrays); a lane may repeat a network (padding): only the
    first occurrence is written back."""
    n_lanes = len(nets)
    n_edges = edges.shape[0]
    n_free = len(colptr) - 1
    n_out = len(out_nodes)
    n_nodes = len(v_template)
    n_steps = n_steps_run
    n_examples = x_train.shape[0]
    r = np.empty((n_edges, n_lanes))
    c = np.empty((n_edges, n_lanes), dtype=np.int64)
    sig = np.empty((n_edges, n_lanes))
    for w in range(n_lanes):
        for e in range(n_edges):
            r[e, w] = resistance[nets[w], e]
            c[e, w] = codes[nets[w], e]
            sig[e, w] = sigma[nets[w], e]
    k = np.empty((n_edges, n_lanes))
    vals = np.empty((len(rowidx), n_lanes))
    work = np.empty((n_free, n_lanes))
    xs = np.empty((n_free, n_out + n_examples, n_lanes))
    buf = np.empty((n_free, 1, n_lanes))
    g = np.zeros((n_out, n_nodes, n_lanes))  # G[:, o] over node space (0 at fixed nodes)
    v_free = np.empty((n_nodes, n_lanes))
    v_clamped = np.empty((n_nodes, n_lanes))
    update = np.empty((n_edges, n_lanes))
    example = np.zeros((n_examples, n_lanes), dtype=np.int64)
    weight = np.zeros((n_examples, n_lanes))
    n_used = np.zeros(n_lanes, dtype=np.int64)
    lane_ok = np.ones(n_lanes, dtype=np.bool_)
    g_oo = np.empty((n_out, n_out))
    delta = np.empty(n_out)
    lam = np.empty((n_out, n_lanes))
    lam_w = np.empty(n_out)
    err = np.empty(n_lanes)
    for t in range(n_steps):
        for e in range(n_edges):
            for w in range(n_lanes):
                k[e, w] = k_table[c[e, w]] if discrete else 1.0 / r[e, w]
        _factor_lanes(k, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, vals, work, lane_ok)
        if evaluate and t == 0:
            _lanes_error(x_train, y_train, k, vals, colptr, rowidx, rhs_row, rhs_node, in_pos,
                         v_template, out_rows, buf, err)  # fmt: skip
            for w in range(n_lanes):
                errors[0, nets[w]] = err[w]
            _lanes_error(x_test, y_test, k, vals, colptr, rowidx, rhs_row, rhs_node, in_pos,
                         v_template, out_rows, buf, err)  # fmt: skip
            for w in range(n_lanes):
                errors[1, nets[w]] = err[w]
        # which examples each lane uses this step: slot u of lane w is example[u, w]
        n_slots = 0
        counter = (t0 + t) * (n_edges + 1)  # this step's counters: edges, then the example
        for w in range(n_lanes):
            n_used[w] = 0
            if pick_one:
                u01 = _uniform(keys[nets[w]], counter + n_edges)
                example[0, w] = min(int(u01 * n_examples), n_examples - 1)
                weight[0, w] = 1.0
                n_used[w] = 1
            else:
                for m in range(n_examples):
                    if example_mask[nets[w], t, m]:
                        example[n_used[w], w] = m
                        weight[n_used[w], w] = 1.0
                        n_used[w] += 1
            for u in range(n_used[w], n_examples):
                example[u, w] = 0
                weight[u, w] = 0.0
            n_slots = max(n_slots, n_used[w])
        if n_slots == 0:
            continue
        # one pass over the factor for every right-hand side: a unit current at each
        # output (-> G[:, o] = L_ff^-1 e_o) and each slot's free state
        n_rhs = n_out + n_slots
        xs[:, :n_rhs, :] = 0.0
        for o in range(n_out):
            xs[out_rows[o], o, :] = 1.0
        for e in range(n_edges):
            row = rhs_row[e]
            if row < 0:
                continue
            node = rhs_node[e]
            for u in range(n_slots):
                for w in range(n_lanes):
                    volts = _fixed_volts(node, example[u, w], x_train, in_pos, v_template)
                    xs[row, n_out + u, w] += k[e, w] * volts
        _substitute_lanes(colptr, rowidx, vals, xs, n_rhs)
        for o in range(n_out):
            for f in range(n_free):
                for w in range(n_lanes):
                    g[o, factor_out[f], w] = xs[f, o, w]
        update[:, :] = 0.0
        for u in range(n_slots):
            for n in range(n_nodes):  # fixed nodes: inputs and template; others: solved
                for w in range(n_lanes):
                    v_free[n, w] = _fixed_volts(n, example[u, w], x_train, in_pos, v_template)
            for f in range(n_free):
                for w in range(n_lanes):
                    v_free[factor_out[f], w] = xs[f, n_out + u, w]
            for w in range(n_lanes):  # clamping currents: G_OO lambda = eta (V_D - V_F)_O
                for o in range(n_out):
                    delta[o] = eta * (y_train[example[u, w], o] - v_free[out_nodes[o], w])
                    for q in range(n_out):
                        g_oo[o, q] = g[q, out_nodes[o], w]
                _spd_solve_small(g_oo, delta, lam_w)
                for o in range(n_out):
                    lam[o, w] = lam_w[o]
            v_clamped[:, :] = v_free
            for o in range(n_out):
                for n in range(n_nodes):
                    for w in range(n_lanes):
                        v_clamped[n, w] += lam[o, w] * g[o, n, w]
            for e in range(n_edges):
                a = edges[e, 0]
                b = edges[e, 1]
                for w in range(n_lanes):
                    dv_free = v_free[a, w] - v_free[b, w]
                    dv_clamped = v_clamped[a, w] - v_clamped[b, w]
                    if discrete and power:  # identical twins: R_C = R_F = 1 / k
                        r_e = 1.0 / k[e, w]
                        step = power_direction(dv_clamped, dv_free, r_e, r_e, sig[e, w])
                    elif discrete:
                        step = discrete_direction(dv_clamped, dv_free, sig[e, w])
                    else:
                        step = continuous_delta(r[e, w], dv_clamped, dv_free, gamma)
                    update[e, w] += weight[u, w] * step
        for e in range(n_edges):
            for w in range(n_lanes):
                if n_used[w] == 0:
                    continue
                if edge_mode == BERNOULLI:
                    if not _uniform(keys[nets[w]], counter + e) < p[nets[w]]:
                        continue
                elif edge_mode == GIVEN and not edge_mask[nets[w], t, e]:
                    continue
                if discrete:
                    direction = np.int8(1) if update[e, w] > 0 else np.int8(-1)
                    c[e, w] = step_code(c[e, w], direction, True, top)
                else:
                    new = r[e, w] + update[e, w]  # eq. 7: the sum over the examples
                    r[e, w] = r_min if new < r_min else (r_max if new > r_max else new)
    for w in range(n_lanes):
        if w > 0 and nets[w] == nets[w - 1]:
            continue  # padding
        ok[nets[w]] = lane_ok[w]
        for e in range(n_edges):
            resistance[nets[w], e] = 1.0 / k_table[c[e, w]] if discrete else r[e, w]
            codes[nets[w], e] = c[e, w]


@nb.njit(cache=True, parallel=True)
def _train_chunk(discrete, power, resistance, codes, k_table, sigma, top, gamma, r_min, r_max, eta,
                 edges, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, rhs_row, rhs_node,
                 factor_out, out_rows, out_nodes, in_pos, v_template, x_train, y_train,
                 edge_mode, keys, p, t0, edge_mask, pick_one, example_mask, x_test, y_test,
                 evaluate, errors, lanes, n_steps):  # fmt: skip
    """Train B networks for C steps, ``lanes`` at a time per thread, groups in parallel.

    ``resistance`` (B, E) Ohm and ``codes`` (B, E) are updated in place (codes only for
    the discrete rule). ``sigma`` (B, E) V. Edge masks: ``edge_mode`` EVERY_EDGE, or
    BERNOULLI (edge e of network i updates at global step t0 + t if
    _uniform(keys[i], counter) < p[i]), or GIVEN by ``edge_mask`` (B, C, E) bool.
    Examples: with ``pick_one``, one drawn uniformly per step from the same stream, else
    ``example_mask`` (B, C, M) bool says which training examples join each step.
    ``in_pos`` (N,): the input column of each input node, else -1. If ``evaluate``,
    ``errors`` (2, B) receives the train and test error before the chunk's first step.
    Returns a (B,) bool: False where a network became singular.
    """
    n_net = resistance.shape[0]
    ok = np.ones(n_net, dtype=np.bool_)
    n_groups = (n_net + lanes - 1) // lanes
    for grp in nb.prange(n_groups):
        nets = np.empty(lanes, dtype=np.int64)
        for w in range(lanes):
            nets[w] = min(grp * lanes + w, n_net - 1)
        _train_lanes(nets, n_steps, discrete, power, resistance, codes, k_table, sigma, top,
                     gamma, r_min, r_max, eta, edges, colptr, rowidx, rowptr, rowcol, rowpos,
                     edge_slots, rhs_row, rhs_node, factor_out, out_rows, out_nodes, in_pos,
                     v_template, x_train, y_train, edge_mode, keys, p, t0, edge_mask, pick_one,
                     example_mask, x_test, y_test, evaluate, errors, ok)  # fmt: skip
    return ok


# ----------------------------------------------------------------------------- driver


def _per_network(value: float | np.ndarray, n: int, name: str, lo: float, hi: float) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
    bad = ~((arr > lo) & (arr <= hi))
    if bad.any():
        raise ValueError(f"field {name!r}: expected {lo} < {name} <= {hi}, got {arr[bad][0]}")
    return arr


def train_batch(
    network: Network,
    task: Task,
    *,
    steps: int,
    rule: Rule = Rule(),
    p: float | np.ndarray = 1.0,
    b: float | np.ndarray = 1.0,
    seeds: int | np.ndarray | None = None,
    n_networks: int | None = None,
    p_mode: MaskMode = "bernoulli",
    b_mode: MaskMode = "bernoulli",
    initial: np.ndarray | None = None,
    eval_every: int | None = None,
    chunk: int = 256,
) -> BatchResult:
    """Train B networks on ``task`` for ``steps`` steps, all at once.

    ``p`` and ``b`` are scalars or (B,) arrays; ``seeds`` (B,) ints (default 0..B-1) seed
    each network's own random choices (masks, examples, and sigma for the discrete rule).
    ``initial`` (B, E) or (E,): starting resistances in Ohm (continuous, default 1 Ohm) or
    codes (discrete, default mid-scale). Errors are evaluated every ``eval_every`` steps
    (default steps // 50) and after the last step. The discrete rule ignores ``b`` and
    trains on one randomly drawn example per step.
    """
    if steps < 1:
        raise ValueError(f"field 'steps': expected a positive integer, got {steps}")
    sizes = [np.size(v) for v in (p, b, seeds) if v is not None and np.ndim(v)]
    n = n_networks or (max(sizes) if sizes else 1)
    seeds_arr = np.arange(n) if seeds is None else np.broadcast_to(seeds, (n,)).astype(np.int64)
    p_arr = _per_network(p, n, "p", 0.0, 1.0)
    b_arr = _per_network(b, n, "b", 0.0, 1.0)
    eval_every = max(1, eval_every or steps // 50)
    setup = _setup(network, task)
    discrete = rule.name == "discrete"
    n_edges = network.n_edges
    rngs = [np.random.default_rng(int(s)) for s in seeds_arr]
    k_table = 1.0 / rule.digipot.table(rule.r_end_to_end, rule.r_wiper)
    if discrete:
        sigma = np.stack([g.uniform(0.0, rule.sigma_max, n_edges) for g in rngs])
        start = rule.n_positions // 2 if initial is None else initial
        codes = np.array(np.broadcast_to(start, (n, n_edges)), dtype=np.int64)
        if codes.min() < 0 or codes.max() >= rule.n_positions:
            raise ValueError(f"field 'initial': codes must lie in 0..{rule.n_positions - 1}")
        resistance = 1.0 / k_table[codes]
    else:
        sigma = np.zeros((n, n_edges))
        start = 1.0 if initial is None else initial
        resistance = np.array(np.broadcast_to(start, (n, n_edges)), dtype=float)
        if not (np.isfinite(resistance).all() and resistance.min() > 0):
            raise ValueError("field 'initial': resistances must be finite and > 0 Ohm")
        codes = np.zeros((n, n_edges), dtype=np.int64)
    if np.all(p_arr == 1.0):
        edge_mode = EVERY_EDGE
    else:
        edge_mode = BERNOULLI if p_mode == "bernoulli" else GIVEN
    keys = network_keys(seeds_arr)
    m_train = task.n_train
    lanes = min(LANES, n)
    eval_steps, errors = [], []
    t = 0
    args = (
        discrete, rule.compare == "power", resistance, codes, k_table, sigma,
        rule.n_positions - 1, rule.gamma,
        rule.r_min, rule.r_max, rule.eta, network.edges.astype(np.int64), *setup.pattern,
        setup.out_rows, setup.out_nodes, setup.in_pos, setup.v_template,
        task.train_inputs, task.train_desired,
    )  # fmt: skip
    no_edges = np.zeros((n, 0, n_edges), dtype=bool)
    while True:
        evaluate = t % eval_every == 0 or t == steps
        n_chunk = 1 if t == steps else min(chunk, eval_every - t % eval_every, steps - t)
        edge_mask = no_edges
        if edge_mode == GIVEN and t < steps:
            edge_mask = np.stack([
                update_mask(g, (n_chunk, n_edges), pi, p_mode)
                for g, pi in zip(rngs, p_arr, strict=True)
            ])
        pick_one = discrete and t < steps
        if t == steps:  # evaluation only: no example joins, nothing updates
            example_mask = np.zeros((n, 1, m_train), dtype=bool)
        elif discrete:
            example_mask = np.zeros((n, 0, m_train), dtype=bool)
        elif np.all(b_arr == 1.0):
            example_mask = np.ones((n, n_chunk, m_train), dtype=bool)
        else:
            example_mask = np.stack([
                batch_mask(g, (n_chunk, m_train), bi, b_mode)
                for g, bi in zip(rngs, b_arr, strict=True)
            ])
        err = np.full((2, n), np.nan)
        ok = _train_chunk(
            *args, edge_mode, keys, p_arr, t, edge_mask, pick_one, example_mask,
            task.test_inputs, task.test_desired, evaluate, err, lanes, n_chunk,
        )  # fmt: skip
        if not ok.all():
            raise np.linalg.LinAlgError(
                f"network {int(np.flatnonzero(~ok)[0])} of the batch became singular "
                f"at step {t} (a resistance reached 0 or infinity?)"
            )
        if evaluate:
            eval_steps.append(t)
            errors.append(err)
        if t == steps:
            break
        t += n_chunk
    errors_arr = np.array(errors)
    return BatchResult(
        eval_steps=np.array(eval_steps),
        train_error=errors_arr[:, 0],
        test_error=errors_arr[:, 1],
        resistance=resistance,
        codes=codes if discrete else None,
        sigma=sigma if discrete else None,
        edge_updates=steps * n * n_edges,
    )
