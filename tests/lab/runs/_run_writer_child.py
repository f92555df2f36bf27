"""Subprocess for tests/lab/runs/test_runs.py: writes a run and never stops it.

Usage: python _run_writer_child.py PATH [PACE_S]

Writes deterministic steps (see :func:`make_record`) with ``chunk_rows=64`` and
``flush_interval=0.05`` s, sleeping ``PACE_S`` (default 0.0005) s between steps. After every
flush it prints the number of flushed steps on its own line. After ``TOTAL`` steps it loops
forever without calling ``stop`` (the parent kills it).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from lab.acquire.records import RunInfo, StepRecord, TestRecord

N_INPUTS, N_OUTPUTS, N_EDGES, N_TEST = 1, 1, 16, 3
TOTAL = 1_000_000


def make_info(has_updates: bool = True) -> RunInfo:
    """A small RunInfo matching :func:`make_record`."""
    return RunInfo(
        task={"name": "synthetic", "kind": "regression", "data": [[0.1, 0.2]]},
        settings={"p": 0.25, "eta": 0.5, "steps": 1000, "seed": 7, "mode": "emulator",
                  "nested": {"a": 1}, "gain": np.float64(1.5)},
        bench={"kind": "emulator", "daq": "fake"},
        network={"nodes": 6, "edges": [[1, 2], [2, 3]]},
        n_inputs=N_INPUTS,
        n_outputs=N_OUTPUTS,
        n_edges=N_EDGES,
        n_test=N_TEST,
        positions_estimated=False,
        has_updates=has_updates,
        start_time="2026-01-01T00:00:00",
        twinlab_version="0.1.0",
    )


def make_record(i: int, has_updates: bool = True) -> StepRecord:
    """Deterministic step ``i``: every field is a simple function of ``i``."""
    edges = np.arange(N_EDGES)
    return StepRecord(
        step=i,
        time=i * 1e-3,
        example=i % 5,
        inputs=np.array([0.01 * i]),
        v_free=np.array([0.5 + 1e-4 * i]),
        v_clamped=np.array([0.25 - 1e-4 * i]),
        v_desired=np.array([float(i % 3)]),
        error=1.0 / (1.0 + i),
        positions=((i + edges) % 128).astype(np.int16),
        update_mask=((i + edges) % 3 == 0) if has_updates else None,
        direction=(((i + edges) % 3) - 1).astype(np.int8) if has_updates else None,
    )


def make_test(k: int) -> TestRecord:
    """Deterministic test evaluation number ``k``."""
    return TestRecord(step=10 * k, time=0.01 * k, error=1.0 / (2 + k), accuracy=k / 10,
                      v_free=np.arange(N_TEST * N_OUTPUTS, dtype=float).reshape(N_TEST, N_OUTPUTS)
                      + k)


def main() -> None:
    from lab.runs import RunWriter

    path = sys.argv[1]
    pace = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0005
    writer = RunWriter(path, chunk_rows=64, flush_interval=0.05)
    writer.start(make_info())
    print("started", flush=True)
    last = 0
    for i in range(TOTAL):
        writer.step(make_record(i))
        if i % 10 == 0:
            writer.test(make_test(i // 10))
        if writer.flushed_steps != last:
            last = writer.flushed_steps
            print(last, flush=True)
        if pace:
            time.sleep(pace)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
