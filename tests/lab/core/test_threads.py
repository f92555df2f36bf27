"""One-network paths run on one thread; batched solves keep numba's pool (issue 16, 11).

Each case runs in a fresh interpreter (a real subprocess): whether numba's thread pool
has been launched is process-wide state (``numba.np.ufunc.parallel._is_initialized``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def run_py(code: str) -> dict:
    """Run ``code`` in a fresh interpreter from the repository; its last stdout line as JSON."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_emulator_training_run_never_launches_the_thread_pool(tmp_path):
    got = run_py(f"""
        import json
        from pathlib import Path
        import numba.np.ufunc.parallel as par
        from lab.acquire.settings import settings_from
        from lab.acquire.trainer import Trainer
        from lab.hal.benchfile import load_bench
        from lab.runs import RunWriter
        from lab.tasks import load_task
        bench = load_bench(None)
        Trainer(bench, load_task("ii"), settings_from(task="ii", steps=50),
                [RunWriter(Path({str(tmp_path / "r.h5")!r}))]).run()
        bench.network.solve([[1.0] * bench.network.n_edges] * 2, {{1: 1.0, 9: 0.0}})
        print(json.dumps({{"pool": bool(par._is_initialized)}}))
    """)
    assert got == {"pool": False}


def test_a_large_batch_uses_the_pool_and_agrees_with_the_serial_solve():
    got = run_py("""
        import json
        import numpy as np
        import numba.np.ufunc.parallel as par
        from lab.core.network import PARALLEL_MIN_BATCH, Network
        net = Network.twin16()
        k = np.random.default_rng(0).uniform(0.5, 2.0, (PARALLEL_MIN_BATCH, net.n_edges))
        fixed = {1: 1.0, 9: 0.0}
        one_by_one = np.stack([net.solve(row, fixed) for row in k])
        few = net.solve(k[:2], fixed)
        before = bool(par._is_initialized)
        many = net.solve(k, fixed)
        print(json.dumps({"before": before, "after": bool(par._is_initialized),
                          "many": float(np.abs(many - one_by_one).max()),
                          "few": float(np.abs(few - one_by_one[:2]).max())}))
    """)
    assert got["before"] is False and got["after"] is True
    assert got["many"] < 1e-12 and got["few"] < 1e-12
