"""Emulated training through the full HAL path with run writing on, vs the naive loop.

Prints one JSON line: steps/s of `twinlab train`'s path (Trainer -> Bench -> emulated
DAQ/clock/probe, RunWriter to a real HDF5 file, default non-idealities), the same
without the run file, the naive per-step numpy loop (bench/naive.py) and the ratio.
Before each run it calls `lab.procs.freeze_imported`, as ``twinlab train`` does
(``--no-freeze``: not, to measure what that is worth; ``"freeze"`` in the output).
Run: ``.venv/bin/python bench/bench_train.py [--steps N] [--no-freeze]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from naive import train_naive

from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.core.network import Network
from lab.hal.benchfile import load_bench
from lab.procs import freeze_imported
from lab.runs import RunWriter
from lab.tasks import load_task


def rate_hal(steps: int, write: bool, repeats: int, freeze: bool = True) -> float:
    """Best steps/s of `repeats` runs of task ii through the HAL (test evaluation off)."""
    best = 0.0
    task = load_task("ii")
    settings = settings_from(steps=steps, test_every=0)
    for i in range(repeats):
        bench = load_bench()
        with tempfile.TemporaryDirectory() as tmp:
            observers = [RunWriter(Path(tmp) / f"run{i}.h5")] if write else []
            trainer = Trainer(bench, task, settings, observers)
            if freeze:
                freeze_imported()  # as the entry point `twinlab train` does
            t0 = time.perf_counter()
            trainer.run()
            best = max(best, steps / (time.perf_counter() - t0))
    return best


def rate_naive(steps: int, repeats: int) -> float:
    net = Network.twin16()
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        train_naive(net.n_nodes, net.edges, {7: 5.0, 8: 0.0}, {2: 4.0}, steps)
        best = max(best, steps / (time.perf_counter() - t0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="skip lab.procs.freeze_imported before each run")
    args = parser.parse_args()
    with_file = rate_hal(args.steps, write=True, repeats=args.repeats, freeze=args.freeze)
    without_file = rate_hal(args.steps, write=False, repeats=args.repeats, freeze=args.freeze)
    naive = rate_naive(max(args.steps // 20, 500), args.repeats)
    print(
        json.dumps(
            {
                "bench": "train_hal_16edge",
                "steps": args.steps,
                "freeze": args.freeze,
                "steps_per_s": round(with_file),
                "us_per_step": round(1e6 / with_file, 2),
                "steps_per_s_no_file": round(without_file),
                "file_cost_fraction": round(1 - with_file / without_file, 3),
                "naive_steps_per_s": round(naive),
                "ratio_vs_naive": round(with_file / naive, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
