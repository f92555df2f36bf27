"""How much current the shipped tasks put through the emulated board's edges.

For each shipped task on the default emulator bench (its network), at p = 1 and 0.5, a
run of ``--steps`` steps with the exact probe (the emulator's truth) and the current
check off (limits at 1 A; ``--check``: the bench's own); after every drive the board's
true edge currents (``k * drops``) and channel
currents are recorded. Prints one JSON line per run: the largest edge current, mA, the
largest channel current, mA, and the number of steps at which some edge exceeded
``--limit`` mA. ``--cost``: the check's controller time per step instead (`cost`).
Run: ``.venv/bin/python bench/bench_currents.py [--steps N] [--tasks ii ...] [--cost]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.hal import CurrentLimits
from lab.hal.benchfile import load_bench
from lab.tasks import list_tasks, load_task


def measure(name: str, p: float, steps: int, limit: float, check: bool) -> dict:
    """One run's figures (see the module docstring)."""
    task = load_task(name)
    bench = load_bench(network=task.network, rule=None)
    board = bench.daq.board  # the emulated board
    worst = {"edge": 0.0, "channel": 0.0, "over": 0, "steps_over": set()}
    orig_drive = board.drive

    def drive(twin, nodes, volts):
        orig_drive(twin, nodes, volts)
        cur = board.edge_currents(twin)
        out = np.zeros(board.network.n_nodes)
        np.add.at(out, board.network.edges[:, 0], cur)
        np.add.at(out, board.network.edges[:, 1], -cur)
        e = float(np.abs(cur).max())
        c = float(np.abs(out[board.driven[twin]]).max())
        worst["edge"] = max(worst["edge"], e)
        worst["channel"] = max(worst["channel"], c)
        if e > limit:
            worst["steps_over"].add(board.pulses)

    board.drive = drive
    if not check:  # the largest limits the contract allows: nothing trips
        bench.currents = CurrentLimits(1.0, 1.0)
    settings = settings_from(steps=steps, p=p, test_every=0)
    trainer = Trainer(bench, task, settings)
    t0 = time.perf_counter()
    summary = trainer.run()
    seconds = time.perf_counter() - t0
    return {"task": name, "p": p, "steps": summary.steps, "complete": summary.complete,
            "max_edge_mA": round(worst["edge"] * 1e3, 3),
            "max_channel_mA": round(worst["channel"] * 1e3, 3),
            "steps_over_limit": len(worst["steps_over"]),
            "us_per_step": round(seconds / max(summary.steps, 1) * 1e6, 1),
            "message": summary.message[:160]}


def cost(name: str, steps: int, repeats: int = 3) -> dict:
    """Controller time of the per-step current check: best steps/s of ``steps`` steps of
    task ``name`` with the check on and with it off (no codes taken), and the difference
    per step, us."""
    from lab.procs import freeze_imported

    rates = {}
    for on in (False, True):
        best = 0.0
        for _ in range(repeats):
            task = load_task(name)
            trainer = Trainer(load_bench(network=task.network), task,
                              settings_from(steps=steps, test_every=0))
            if not on:
                trainer._refresh_currents = lambda: None  # type: ignore[method-assign]
            freeze_imported()
            t0 = time.perf_counter()
            trainer.run()
            best = max(best, steps / (time.perf_counter() - t0))
        rates[on] = best
    return {"task": name, "steps_per_s_off": round(rates[False]),
            "steps_per_s_on": round(rates[True]),
            "check_us_per_step": round(1e6 / rates[True] - 1e6 / rates[False], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--limit", type=float, default=5.0, help="mA")
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--check", action="store_true", help="keep the bench's current check")
    parser.add_argument("--cost", action="store_true",
                        help="measure the per-step cost of the check instead")
    args = parser.parse_args()
    names = args.tasks or list_tasks()
    if args.cost:
        for name in names:
            print(json.dumps(cost(name, args.steps)), flush=True)
        return
    for name in names:
        for p in (1.0, 0.5):
            print(json.dumps(measure(name, p, args.steps, args.limit * 1e-3, args.check)),
                  flush=True)


if __name__ == "__main__":
    main()
