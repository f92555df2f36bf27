"""What any design of N reads can fix on one benchmark state: the c-optimal bound.

    python bench/bench_tomography_bound.py [--board 4] [--state 2] [--reads 38]
        [--max-current 5e-3] [--edges 4]

The state is `bench/bench_estimator.py --only tomo`'s (board ``--board``, random code state
``--state``). Per twin and per edge, the lowest code sd that ``--reads`` reads of one
twin can give that edge alone, each read any pattern of the tomography's candidate family
(every driveable node floating or at an inset limit, and the near-short variants: both
ends driven with one moved in by what ``--max-current`` takes through it), at the true
conductances and 0.5 mV read noise: an approximate c-optimal design by Frank-Wolfe, with
its duality gap giving the bound (the value minus the gap). A real design shares its reads
among the 16 edges and pays 2-3 transactions for each new pattern, so it does worse.

Two current limits, one JSON line each:
- ``floor``: every candidate within ``--max-current`` at the lowest conductances the parts
  may have at the true codes (`DigipotModel.lowest`: the lot at 0.68 of nominal, the wiper
  at 35 Ohm): the best the controller can assume, since node voltages cannot see the
  +-30 % lot;
- ``true``: within it at the emulator's true conductances (the lot known).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard
from lab.hal import TWINS
from lab.observe.model import DigipotModel, Topology
from lab.observe.tomography import _Candidates, _gauge_info, _TwinPlan

NOISE = 0.5e-3  # V rms, the emulator's ADC input noise


def c_optimal_sd(info: np.ndarray, gauge: np.ndarray, c: np.ndarray, reads: int,
                 iterations: int = 400) -> tuple[float, float]:
    """(sd, bound): the sd of c . log k from ``reads`` reads designed for it alone over
    candidates of information ``info`` (M, E, E), with ``gauge`` (E, E) before any read,
    and the lower bound on it from the Frank-Wolfe duality gap."""
    xi = np.full(len(info), 1.0 / len(info))
    flat = info.reshape(len(info), -1)
    value = gap = np.inf
    for it in range(iterations):
        a = np.linalg.solve(gauge + reads * (xi @ flat).reshape(gauge.shape), c)
        grad = reads * (flat @ np.outer(a, a).ravel())  # -d(c' M^-1 c)/d xi
        value = float(c @ a)
        best = int(np.argmax(grad))
        gap = float(grad[best] - xi @ grad)  # value - optimum <= gap (convexity)
        step = 2.0 / (it + 3)
        xi *= 1.0 - step
        xi[best] += step
    return float(np.sqrt(value)), float(np.sqrt(max(value - gap, 0.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", type=int, default=4)
    parser.add_argument("--state", type=int, default=2)
    parser.add_argument("--reads", type=int, default=38)
    parser.add_argument("--max-current", type=float, default=5e-3)
    parser.add_argument("--edges", type=int, default=4, help="the worst edges printed")
    args = parser.parse_args()
    board = EmulatedBoard(EmulatorConfig(seed=args.board))
    bench = emulator_bench(board=board)
    rng = np.random.default_rng([args.board, 14])  # bench_estimator's draws, in order
    for _ in range(args.state + 1):
        codes = rng.integers(0, 128, bench.network.n_edges)
        rng.integers(-2, 3, len(codes))  # the prior's error
    board.set_codes(codes)
    topo = Topology.of(bench.network)
    true_k = 1.0 / board.resistance()  # (2, E) S
    floor_k = 1.0 / DigipotModel.nominal(bench.network.n_edges).lowest(codes)
    step = board.pots.r_end_to_end / 128
    for kind, k_limit in (("floor", floor_k), ("true", true_k)):
        for t, twin in enumerate(TWINS):
            plan = _TwinPlan.of(bench, twin, 0.01)
            k = true_k[t]
            cands = _Candidates.of(topo, plan, k, NOISE, args.max_current, None, False,
                                   k_limit[t])  # fmt: skip
            weight = (1.0 / k) / step[t]  # codes per relative conductance change
            gauge = _gauge_info(weight)
            rows = []
            for e in range(len(k)):
                c = np.zeros(len(k))
                c[e] = weight[e]
                sd, bound = c_optimal_sd(cands.info, gauge, c, args.reads)
                rows.append((bound, sd, e))
            rows.sort(reverse=True)
            print(json.dumps({
                "bench": "tomography-bound", "limit": kind, "board": args.board,
                "state": args.state, "twin": twin, "reads": args.reads,
                "max_current_mA": 1e3 * args.max_current, "candidates": len(cands.info),
                "worst": [{"edge": e, "code": int(codes[e]), "sd_bound": round(b, 3),
                           "sd_design": round(s, 3)} for b, s, e in rows[: args.edges]],
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
