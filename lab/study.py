"""Batched in-silico coupled learning: many independent networks trained at once.

`train_batch` trains B copies of one network on one task, each with its own update
probability p, mini-batch fraction b, seed and initial state (batch dimension first;
sweeps over tasks run one call per task, see `lab.studies` and `lab.sweep`). It uses the
solver of `lab.network` (the same sparse Cholesky kernels as the emulator) and the rule
ufuncs of `lab.learning` (`continuous_delta`, `discrete_direction`, `_step_code`), called
from one compiled kernel, so there is one physics, used two ways.

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

from lab.learning import (
    N_POSITIONS,
    SIGMA_MAX,
    MaskMode,
    _step_code,
    batch_mask,
    code_resistance,
    continuous_delta,
    discrete_direction,
    update_mask,
)
from lab.network import Network, _factor, _substitute
from lab.tasks import Task

RuleName = Literal["continuous", "discrete"]


@dataclass(frozen=True)
class Rule:
    """The learning rule and its constants.

    continuous (eq. 2): resistances in Ohm, ``gamma`` in Ohm^3 / V^2 per step, clipped
    to [r_min, r_max]; each step's update is the mean over the step's examples.
    discrete (eq. 10): digipot codes 0..n_positions-1 of R = r_wiper + code / n_positions
    * r_end_to_end, comparator offsets sigma ~ U[0, sigma_max] V per edge and network;
    one training example per step, drawn at random (as on the board).
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

    def __post_init__(self) -> None:
        if self.name not in ("continuous", "discrete"):
            raise ValueError(f"rule: expected 'continuous' or 'discrete', got {self.name!r}")
        if not 0 < self.eta <= 1:
            raise ValueError(f"rule field 'eta': expected 0 < eta <= 1, got {self.eta}")
        if not 0 < self.r_min < self.r_max:
            raise ValueError("rule fields 'r_min', 'r_max': need 0 < r_min < r_max")
        if self.n_positions < 2:
            raise ValueError(f"rule field 'n_positions': expected >= 2, got {self.n_positions}")


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
    in_nodes: np.ndarray  # (I,) node index of each input
    v_template: np.ndarray  # (N,) fixed volts of the ground/bias nodes, 0 elsewhere


def _setup(network: Network, task: Task) -> _Setup:
    fixed = (*task.input_nodes, *task.fixed_nodes)
    solver = network.solver(fixed)
    pat = solver.pattern
    out_nodes = network.index_of(task.output_nodes).astype(np.int64)
    row_of = np.full(network.n_nodes, -1, dtype=np.int64)
    row_of[pat.factor_out] = np.arange(len(pat.factor_out))
    v_template = np.zeros(network.n_nodes)
    v_template[network.index_of(task.fixed_nodes)] = task.fixed_volts
    return _Setup(
        pattern=pat.kernel_args(),
        out_rows=row_of[out_nodes],
        out_nodes=out_nodes,
        in_nodes=network.index_of(task.input_nodes).astype(np.int64),
        v_template=v_template,
    )


# ----------------------------------------------------------------------------- kernels


@nb.njit(cache=True, nogil=True)
def _free_state(x, in_nodes, v_template, colptr, rowidx, edge_slots, rhs_row, rhs_node,
                factor_out, k, vals, v_nodes, rhs, out):  # fmt: skip
    """Free state's node voltages ``out`` (N,) for inputs ``x`` (I,) with the factor in
    ``vals``; ``v_nodes``/``rhs`` are scratch (N,)/(nf,)."""
    v_nodes[:] = v_template
    for i in range(len(in_nodes)):
        v_nodes[in_nodes[i]] = x[i]
    rhs[:] = 0.0
    for e in range(len(k)):
        r = rhs_row[e]
        if r >= 0:
            rhs[r] += k[e] * v_nodes[rhs_node[e]]
    _substitute(colptr, rowidx, vals, rhs)
    out[:] = v_nodes
    for i in range(len(rhs)):
        out[factor_out[i]] = rhs[i]


@nb.njit(cache=True, nogil=True)
def _assemble_factor(k, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, vals, work):
    """L_ff's values into ``vals`` and factor them in place; False if not SPD."""
    vals[:] = 0.0
    for e in range(len(k)):
        ke = k[e]
        s = edge_slots[e, 0]
        if s >= 0:
            vals[s] += ke
        s = edge_slots[e, 1]
        if s >= 0:
            vals[s] += ke
        s = edge_slots[e, 2]
        if s >= 0:
            vals[s] -= ke
    return _factor(colptr, rowidx, rowptr, rowcol, rowpos, vals, work)


@nb.njit(cache=True, nogil=True)
def _mean_error(xs, ys, out_nodes, in_nodes, v_template, colptr, rowidx, edge_slots, rhs_row,
                rhs_node, factor_out, k, vals, v_nodes, rhs, v_free):  # fmt: skip
    """Mean over examples of the mean squared output error of the free state, V^2."""
    total = 0.0
    for m in range(xs.shape[0]):
        _free_state(xs[m], in_nodes, v_template, colptr, rowidx, edge_slots, rhs_row, rhs_node,
                    factor_out, k, vals, v_nodes, rhs, v_free)  # fmt: skip
        for o in range(len(out_nodes)):
            d = v_free[out_nodes[o]] - ys[m, o]
            total += d * d
    return total / (xs.shape[0] * len(out_nodes))


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
def _train_one(discrete, r, c, k_table, sigma, top, gamma, r_min, r_max, eta, edges, colptr,
               rowidx, rowptr, rowcol, rowpos, edge_slots, rhs_row, rhs_node, factor_out,
               out_rows, out_nodes, in_nodes, v_template, x_train, y_train, edge_mask,
               every_edge, example_mask, x_test, y_test, evaluate, errors):  # fmt: skip
    """One network's share of `_train_chunk`: ``r``/``c`` (E,) in place, ``edge_mask``
    (C, E), ``example_mask`` (C, M), ``errors`` (2,). False if the network is singular."""
    n_steps = example_mask.shape[0]
    n_edges = len(r)
    n_free = len(colptr) - 1
    n_out = len(out_nodes)
    n_nodes = len(v_template)
    k = np.empty(n_edges)
    vals = np.empty(len(rowidx))
    work = np.empty(n_free)
    rhs = np.empty(n_free)
    v_nodes = np.empty(n_nodes)
    v_free = np.empty(n_nodes)
    g = np.zeros((n_out, n_nodes))  # G[:, o] spread over node space (0 at fixed nodes)
    dg = np.empty((n_out, n_edges))  # its drop across every edge
    g_oo = np.empty((n_out, n_out))
    delta = np.empty(n_out)
    lam = np.empty(n_out)
    update = np.empty(n_edges)
    for t in range(n_steps):
        for e in range(n_edges):
            k[e] = k_table[c[e]] if discrete else 1.0 / r[e]
        if not _assemble_factor(k, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, vals,
                                work):  # fmt: skip
            return False
        if evaluate and t == 0:
            errors[0] = _mean_error(x_train, y_train, out_nodes, in_nodes, v_template, colptr,
                                    rowidx, edge_slots, rhs_row, rhs_node, factor_out, k, vals,
                                    v_nodes, rhs, v_free)  # fmt: skip
            errors[1] = _mean_error(x_test, y_test, out_nodes, in_nodes, v_template, colptr,
                                    rowidx, edge_slots, rhs_row, rhs_node, factor_out, k, vals,
                                    v_nodes, rhs, v_free)  # fmt: skip
        n_used = 0
        for m in range(example_mask.shape[1]):
            n_used += example_mask[t, m]
        if n_used == 0:
            continue
        # G[:, o] = L_ff^-1 e_o: the response to a unit current injected at output o
        for o in range(n_out):
            rhs[:] = 0.0
            rhs[out_rows[o]] = 1.0
            _substitute(colptr, rowidx, vals, rhs)
            for f in range(n_free):
                g[o, factor_out[f]] = rhs[f]
            for e in range(n_edges):
                dg[o, e] = g[o, edges[e, 0]] - g[o, edges[e, 1]]
        update[:] = 0.0
        for m in range(example_mask.shape[1]):
            if not example_mask[t, m]:
                continue
            _free_state(x_train[m], in_nodes, v_template, colptr, rowidx, edge_slots, rhs_row,
                        rhs_node, factor_out, k, vals, v_nodes, rhs, v_free)  # fmt: skip
            for o in range(n_out):  # V_C - V_F = eta (V_D - V_F) at the outputs
                delta[o] = eta * (y_train[m, o] - v_free[out_nodes[o]])
                for q in range(n_out):
                    g_oo[o, q] = g[q, out_nodes[o]]
            _spd_solve_small(g_oo, delta, lam)
            for e in range(n_edges):
                dv_free = v_free[edges[e, 0]] - v_free[edges[e, 1]]
                dv_clamped = dv_free
                for o in range(n_out):
                    dv_clamped += lam[o] * dg[o, e]
                if discrete:
                    update[e] += discrete_direction(dv_clamped, dv_free, sigma[e])
                else:
                    update[e] += continuous_delta(r[e], dv_clamped, dv_free, gamma)
        for e in range(n_edges):
            if not (every_edge or edge_mask[t, e]):
                continue
            if discrete:
                c[e] = _step_code(c[e], np.int8(1) if update[e] > 0 else np.int8(-1), True, top)
            else:
                new = r[e] + update[e] / n_used
                r[e] = r_min if new < r_min else (r_max if new > r_max else new)
    if discrete:
        for e in range(n_edges):
            r[e] = 1.0 / k_table[c[e]]
    return True


@nb.njit(cache=True, parallel=True)
def _train_chunk(discrete, resistance, codes, k_table, sigma, top, gamma, r_min, r_max, eta,
                 edges, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, rhs_row, rhs_node,
                 factor_out, out_rows, out_nodes, in_nodes, v_template, x_train, y_train,
                 edge_mask, every_edge, example_mask, x_test, y_test, evaluate,
                 errors):  # fmt: skip
    """Train B networks for C steps, in parallel over networks (`_train_one` each).

    ``resistance`` (B, E) Ohm and ``codes`` (B, E) are updated in place (codes only for
    the discrete rule). ``edge_mask`` (B, C, E) bool (ignored if ``every_edge``),
    ``example_mask`` (B, C, M) bool: which training examples join each step.
    If ``evaluate``, ``errors`` (2, B) receives the train and test error before the
    chunk's first step. Returns a (B,) bool: False where a network became singular.
    """
    n_net = resistance.shape[0]
    ok = np.ones(n_net, dtype=np.bool_)
    for i in nb.prange(n_net):
        ok[i] = _train_one(discrete, resistance[i], codes[i], k_table, sigma[i], top, gamma,
                           r_min, r_max, eta, edges, colptr, rowidx, rowptr, rowcol, rowpos,
                           edge_slots, rhs_row, rhs_node, factor_out, out_rows, out_nodes,
                           in_nodes, v_template, x_train, y_train, edge_mask[i % len(edge_mask)],
                           every_edge, example_mask[i], x_test, y_test, evaluate,
                           errors[:, i])  # fmt: skip
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
    every_code = np.arange(rule.n_positions)
    k_table = 1.0 / code_resistance(every_code, rule.r_end_to_end, rule.r_wiper)
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
    every_edge = bool(np.all(p_arr == 1.0))
    m_train = task.n_train
    eval_steps, errors = [], []
    t = 0
    args = (
        discrete, resistance, codes, k_table, sigma, rule.n_positions - 1, rule.gamma,
        rule.r_min, rule.r_max, rule.eta, network.edges.astype(np.int64), *setup.pattern,
        setup.out_rows, setup.out_nodes, setup.in_nodes, setup.v_template,
        task.train_inputs, task.train_desired,
    )  # fmt: skip
    empty_edges = np.zeros((1, 1, 1), dtype=bool)
    while True:
        evaluate = t % eval_every == 0 or t == steps
        n_chunk = 1 if t == steps else min(chunk, eval_every - t % eval_every, steps - t)
        if every_edge or t == steps:
            edge_mask = empty_edges
        else:
            edge_mask = np.stack([
                update_mask(g, (n_chunk, n_edges), pi, p_mode)
                for g, pi in zip(rngs, p_arr, strict=True)
            ])
        if t == steps:  # evaluation only: no example joins, nothing updates
            example_mask = np.zeros((n, 1, m_train), dtype=bool)
        elif discrete:
            example_mask = np.zeros((n, n_chunk, m_train), dtype=bool)
            for i, g in enumerate(rngs):
                example_mask[i, np.arange(n_chunk), g.integers(0, m_train, n_chunk)] = True
        elif np.all(b_arr == 1.0):
            example_mask = np.ones((n, n_chunk, m_train), dtype=bool)
        else:
            example_mask = np.stack([
                batch_mask(g, (n_chunk, m_train), bi, b_mode)
                for g, bi in zip(rngs, b_arr, strict=True)
            ])
        err = np.full((2, n), np.nan)
        ok = _train_chunk(
            *args, edge_mask, every_edge, example_mask, task.test_inputs, task.test_desired,
            evaluate, err,
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
