"""Sweep functions for tests/lab/insilico/test_sweep.py, importable by worker processes.

Worker processes (spawned pool or Dask) inherit the test process's ``sys.path``, which holds
the repository root (pytest ``pythonpath = ["."]``), so they import this module as
``tests.lab.insilico.sweep_funcs``.

A point is ``{"x": int, "log": PATH, "trap": PATH, "fail_at": [...], "hang_at": [...]}``;
only ``x`` is required. Each call appends ``x`` to ``log``. While the file ``trap`` exists,
points with ``x`` in ``fail_at`` raise ``ValueError`` and those in ``hang_at`` sleep 60 s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def record(point: dict) -> dict:
    """Log the call, obey the trap, return a deterministic result (with numpy types)."""
    x = int(point["x"])
    if "log" in point:
        fd = os.open(point["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{x}\n".encode())
        finally:
            os.close(fd)
    trapped = "trap" in point and Path(point["trap"]).exists()
    if trapped and x in point.get("fail_at", ()):
        raise ValueError(f"trapped at x={x}")
    if trapped and x in point.get("hang_at", ()):
        time.sleep(60)
    rng = np.random.default_rng(x)
    return {"y": x * x, "draw": rng.random(), "vec": np.arange(3) * x}


def not_a_dict(point: dict) -> list:
    """A broken sweep function: returns a list."""
    return [point["x"]]
