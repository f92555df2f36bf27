"""Batched Kirchhoff solver throughput vs one-network-at-a-time numpy.

Prints one JSON line per network size: network solves/s of `Network.solve` on a batch of
random conductances (B, E) with a fixed-node set like an allostery task's clamped
state, the same for the naive loop (bench/naive.py: dense Laplacian built per network,
``numpy.linalg.solve``), and the ratio. Run: ``.venv/bin/python bench/bench_solver.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from naive import solve as naive_solve

from lab.core.network import Network


def best_rate(fn, count: int, repeats: int) -> float:
    """Best of ``repeats`` timings of ``fn()``, as ``count`` per second."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return count / best


def measure(net: Network, batch: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    conductance = 1.0 / rng.uniform(1e3, 100e3, (batch, net.n_edges))
    fixed = [1, 2, 3]  # e.g. one input, one ground, one clamped output
    volts = np.array([5.0, 0.0, 2.5])
    solver = net.solver(fixed)
    solver(conductance[:8], volts)  # compile and warm up
    fast = best_rate(lambda: solver(conductance, volts), batch, repeats)
    n_naive = min(batch, 2000)
    fixed0 = {n - 1: v for n, v in zip(fixed, volts, strict=True)}
    naive = best_rate(
        lambda: [naive_solve(net.n_nodes, net.edges, k, fixed0) for k in conductance[:n_naive]],
        n_naive,
        repeats,
    )
    single = best_rate(lambda: [solver(k, volts) for k in conductance[:n_naive]], n_naive, repeats)
    check = naive_solve(net.n_nodes, net.edges, conductance[0], fixed0)
    assert np.allclose(check, solver(conductance[0], volts), atol=1e-9)
    return {
        "bench": "solver",
        "network": net.name,
        "edges": net.n_edges,
        "batch": batch,
        "solves_per_s": round(fast),
        "single_solves_per_s": round(single),
        "naive_solves_per_s": round(naive),
        "ratio_vs_naive": round(fast / naive, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(Network.twin16(), args.batch, args.repeats)))
    print(json.dumps(measure(Network.from_name("planar143"), args.batch // 20, args.repeats)))


if __name__ == "__main__":
    main()
