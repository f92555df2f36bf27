"""Micro-benchmark of :class:`lab.runs.RunWriter`: cost of recording one training step.

Usage: ``PYTHONPATH=. python bench/bench_hdf5.py [N_STEPS] [N_EDGES]``

Writes ``N_STEPS`` synthetic steps (random voltages, random-walk digipot codes, sparse
update masks) through ``RunWriter`` into a temporary file and prints one JSON line. The
time covers ``step()`` calls including their flushes, plus the final ``stop()``; records
are built beforehand (a pool of 256, reused) so only the writer is timed. ``us_per_step``
is the median of 3 runs, ``us_per_step_best`` the fastest. ``naive`` appends one row per
step with ``Dataset.resize`` + write for every dataset (5,000 steps). ``lzf_*`` repeat the
run with lzf compression. File sizes come from separate, untimed runs with non-repeating
data (the reused pool would flatter compression).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from lab.acquire.records import RunInfo, RunSummary, StepRecord
from lab.runs import RunWriter

POOL = 256
NAIVE_STEPS = 5_000
REPEATS = 3


def make_info(n_edges: int) -> RunInfo:
    """RunInfo for a 1-input, 1-output network with ``n_edges`` edges and updates."""
    return RunInfo(
        task={"name": "bench"},
        settings={"p": 0.5, "eta": 0.1, "seed": 0},
        bench={"kind": "synthetic"},
        network={},
        n_inputs=1,
        n_outputs=1,
        n_edges=n_edges,
        n_test=3,
        positions_estimated=False,
        has_updates=True,
        start_time="",
        twinlab_version="bench",
    )


def make_records(n_edges: int, seed: int = 0) -> list[StepRecord]:
    """``POOL`` records with realistic-looking (noisy / slowly varying) content."""
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 128, n_edges)
    out = []
    for i in range(POOL):
        direction = rng.integers(-1, 2, n_edges).astype(np.int8)
        mask = rng.random(n_edges) < 0.25
        pos = np.clip(pos + direction * mask, 0, 127)
        out.append(
            StepRecord(
                step=i,
                time=i * 5e-5,
                example=int(rng.integers(0, 8)),
                inputs=rng.normal(size=1),
                v_free=rng.normal(size=1),
                v_clamped=rng.normal(size=1),
                v_desired=rng.normal(size=1),
                error=float(rng.random()),
                positions=pos.astype(np.int16),
                update_mask=mask,
                direction=direction,
            )
        )
    return out


def done(n_steps: int) -> RunSummary:
    """The summary the benchmarks close their synthetic runs with."""
    return RunSummary(
        steps=n_steps,
        complete=True,
        initial_error=1.0,
        final_error=1.0,
        scaled_error=1.0,
        end_time="",
    )


def time_writer(
    path: Path, n_steps: int, n_edges: int, recs: list[StepRecord], compression: str | None
) -> float:
    """Seconds to write ``n_steps`` steps cycling through ``recs`` (incl. ``stop``)."""
    writer = RunWriter(path, compression=compression)
    writer.start(make_info(n_edges))
    step = writer.step
    mask = POOL - 1
    t0 = time.perf_counter()
    for i in range(n_steps):
        step(recs[i & mask])
    writer.stop(done(n_steps))
    return time.perf_counter() - t0


def file_size(path: Path, n_steps: int, n_edges: int, compression: str | None) -> float:
    """MB of a run file of ``n_steps`` non-repeating synthetic steps (not timed)."""
    rng = np.random.default_rng(1)
    volts = rng.normal(size=(n_steps, 4))
    mask = rng.random((n_steps, n_edges)) < 0.25
    direction = rng.integers(-1, 2, (n_steps, n_edges)).astype(np.int8)
    pos = (64 + np.cumsum(direction * mask, axis=0)).astype(np.int16)
    err = rng.random(n_steps)
    example = rng.integers(0, 8, n_steps)
    writer = RunWriter(path, compression=compression)
    writer.start(make_info(n_edges))
    for i in range(n_steps):
        writer.step(
            StepRecord(
                step=i,
                time=i * 5e-5,
                example=int(example[i]),
                inputs=volts[i, 0:1],
                v_free=volts[i, 1:2],
                v_clamped=volts[i, 2:3],
                v_desired=volts[i, 3:4],
                error=float(err[i]),
                positions=pos[i],
                update_mask=mask[i],
                direction=direction[i],
            )
        )
    writer.stop(done(n_steps))
    return path.stat().st_size / 1e6


def time_naive(path: Path, n_steps: int, n_edges: int, recs: list[StepRecord]) -> float:
    """Seconds to append ``n_steps`` rows one at a time (resize + write per dataset)."""
    writer = RunWriter(path)  # same layout, left empty
    writer.start(make_info(n_edges))
    writer.stop(
        RunSummary(
            steps=0,
            complete=False,
            initial_error=1.0,
            final_error=1.0,
            scaled_error=1.0,
            end_time="",
        )
    )
    with h5py.File(path, "r+") as f:
        datasets = list(f["entry/steps"].items())
        t0 = time.perf_counter()
        for i in range(n_steps):
            rec = recs[i % POOL]
            for name, ds in datasets:
                ds.resize(i + 1, axis=0)
                ds[i] = getattr(rec, name)
        f.flush()
        return time.perf_counter() - t0


def main() -> None:
    n_steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    n_edges = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    recs = make_records(n_edges)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        runs = sorted(
            time_writer(tmp_path / f"run{k}.h5", n_steps, n_edges, recs, None)
            for k in range(REPEATS)
        )
        elapsed = runs[len(runs) // 2]
        lzf_elapsed = time_writer(tmp_path / "lzf.h5", n_steps, n_edges, recs, "lzf")
        naive = time_naive(tmp_path / "naive.h5", NAIVE_STEPS, n_edges, recs)
        size = file_size(tmp_path / "size.h5", n_steps, n_edges, None)
        lzf_size = file_size(tmp_path / "size_lzf.h5", n_steps, n_edges, "lzf")
    rate = n_steps / elapsed
    naive_rate = NAIVE_STEPS / naive
    print(
        json.dumps(
            {
                "bench": "hdf5_write",
                "steps": n_steps,
                "n_edges": n_edges,
                "steps_per_s": round(rate),
                "us_per_step": round(1e6 / rate, 3),
                "us_per_step_best": round(1e6 * runs[0] / n_steps, 3),
                "file_mb": round(size, 2),
                "naive_steps": NAIVE_STEPS,
                "naive_steps_per_s": round(naive_rate),
                "ratio_vs_naive": round(rate / naive_rate, 1),
                "lzf_us_per_step": round(1e6 * lzf_elapsed / n_steps, 3),
                "lzf_file_mb": round(lzf_size, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
