"""Batched in-silico training throughput (lab.insilico.batch.train_batch) and how it scales.

Prints JSON lines:
- ``study_batched``: edge updates/s (network-steps x E: every edge's rule evaluated once
  per step) for B networks of the 143-edge planar network trained at once, discrete rule
  (one example a step) and continuous rule (full batch of 16 examples a step), with the
  ratio to a one-network-at-a-time loop measured in the same run (the public per-step
  API: two `Network.solve` calls, the rule ufuncs of `lab.core.learning`, numpy masks);
- ``study_large``: discrete training steps/s of one network of 1e3, 1e4, 1e5 edges, the
  one-off symbolic factorisation time, and the fitted exponent of cost vs size.

Run: ``.venv/bin/python bench/bench_study.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.core.learning import (
    clamped_outputs,
    code_resistance,
    continuous_update,
    discrete_direction,
    step_codes,
)
from lab.core.network import Network
from lab.insilico.batch import Rule, train_batch
from lab.tasks import regression_task


def one_at_a_time(net: Network, task, rule: Rule, steps: int, p: float, seed: int) -> float:
    """Edge updates/s of a plain per-step loop over the public API, one network: two
    `Network.solve` calls per example (free and clamped), the rule ufuncs, numpy masks."""
    rng = np.random.default_rng(seed)
    k_table = 1 / code_resistance(np.arange(rule.n_positions), rule.r_end_to_end, rule.r_wiper)
    sigma = rng.uniform(0, rule.sigma_max, net.n_edges)
    codes = np.full(net.n_edges, rule.n_positions // 2)
    resistance = np.ones(net.n_edges)
    free_nodes = (*task.input_nodes, *task.fixed_nodes)
    clamped_nodes = (*free_nodes, *task.output_nodes)
    out = net.index_of(task.output_nodes)
    discrete = rule.name == "discrete"
    start = 0.0
    for step in range(steps + 5):
        if step == 5:  # the first steps compile the kernels
            start = time.perf_counter()
        k = k_table[codes] if discrete else 1 / resistance
        examples = [rng.integers(task.n_train)] if discrete else range(task.n_train)
        update = np.zeros(net.n_edges)
        for m in examples:
            volts = np.concatenate([task.train_inputs[m], task.fixed_volts])
            v_free = net.solve(k, (free_nodes, volts))
            v_c = clamped_outputs(v_free[out], task.train_desired[m], rule.eta)
            v_clamped = net.solve(k, (clamped_nodes, np.concatenate([volts, v_c])))
            dv_c, dv_f = net.drops(v_clamped), net.drops(v_free)
            if discrete:
                update += discrete_direction(dv_c, dv_f, sigma)
            else:
                update += continuous_update(resistance, dv_c, dv_f, rule.gamma)
        mask = rng.random(net.n_edges) < p
        if discrete:
            codes = step_codes(codes, np.where(update > 0, 1, -1).astype(np.int8), mask)
        else:
            resistance = np.clip(
                resistance + np.where(mask, update, 0), rule.r_min, rule.r_max
            )
    return steps * net.n_edges / (time.perf_counter() - start)


def batched(net: Network, task, rule: Rule, steps: int, n_networks: int, repeats: int) -> float:
    """Best edge updates/s of `train_batch` over ``repeats`` runs."""
    p = np.linspace(0.1, 1.0, n_networks)
    train_batch(net, task, steps=2, rule=rule, p=p)  # compile / load the kernels
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        res = train_batch(net, task, steps=steps, rule=rule, p=p, eval_every=steps)
        best = max(best, res.edge_updates / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (CI smoke)")
    args = parser.parse_args()
    quick = args.quick
    net = Network.from_name("planar143")
    task = regression_task("planar143", seed=1, n_train=16, n_test=16)
    for rule in (Rule("discrete"), Rule("continuous", gamma=0.05)):
        steps = 200 if quick else 2000
        rate = batched(net, task, rule, steps, n_networks=64, repeats=1 if quick else 3)
        single = one_at_a_time(net, task, rule, 100 if quick else 500, 0.5, 0)
        line = {
            "bench": "study_batched",
            "network": net.name,
            "edges": net.n_edges,
            "rule": rule.name,
            "examples_per_step": 1 if rule.name == "discrete" else task.n_train,
            "networks": 64,
            "edge_updates_per_s": float(f"{rate:.3g}"),
            "one_at_a_time_edge_updates_per_s": float(f"{single:.3g}"),
            "ratio": round(rate / single, 1),
        }
        print(json.dumps(line), flush=True)
    sizes = (1000, 10000) if quick else (1000, 10000, 100000)
    rates = []
    for n_edges in sizes:
        start = time.perf_counter()
        big = Network.from_name(f"planar{n_edges}")
        task = regression_task(big.name, seed=1, n_train=16, n_test=16)
        big.solver((*task.input_nodes, *task.fixed_nodes))
        setup_s = time.perf_counter() - start
        steps = max(5, int(2e6 / n_edges)) if not quick else 20
        train_batch(big, task, steps=1, rule=Rule("discrete"))
        start = time.perf_counter()
        train_batch(big, task, steps=steps, rule=Rule("discrete"), eval_every=steps)
        rate = steps / (time.perf_counter() - start)
        rates.append(rate)
        line = {
            "bench": "study_large",
            "edges": n_edges,
            "nodes": big.n_nodes,
            "factor_nnz": big.solver((*task.input_nodes, *task.fixed_nodes)).pattern.nnz,
            "setup_s": round(setup_s, 2),
            "discrete_steps_per_s": round(rate, 1),
        }
        print(json.dumps(line), flush=True)
    slope = np.polyfit(np.log(sizes), -np.log(rates), 1)[0]
    print(json.dumps({"bench": "study_large_scaling", "cost_exponent_vs_edges": round(slope, 2)}))


if __name__ == "__main__":
    main()
