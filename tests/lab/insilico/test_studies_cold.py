"""Every study from a cold numba cache, as a new user runs it: ``twinlab study NAME`` in a
subprocess with an empty ``NUMBA_CACHE_DIR`` (so the kernels compile inside the sweep's
workers), on a local pool and on a Dask cluster started with the stock ``dask scheduler`` /
``dask worker`` commands. Issue 12: the workers changed ``NUMBA_NUM_THREADS`` after numba
had launched its threads, and the next compile raised.

The local studies share one cache directory, empty when this module starts, and run in two
waves of concurrent subprocesses (2 cores): first the two continuous studies, whose kernels
take most of the compile time, then the others, which compile what the first wave did not.
The Dask workers get an empty cache of their own. Sizes are the smallest the statistics
accept (one task, one seed, 40 steps: one point, so the local pool has one worker).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.insilico.studies import STUDIES

ROOT = Path(__file__).resolve().parents[3]
TINY = ("--tasks", "1", "--seeds", "1", "--steps", "40", "--quiet")

pytestmark = pytest.mark.cold


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "TWINLAB_"))}
    return dict(env, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))


def _study_args(name: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lab.cli", "study", name, *TINY, "--out", str(out), *extra]


def _check_outputs(proc: subprocess.CompletedProcess, name: str, out: Path) -> None:
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NUMBA_NUM_THREADS" not in proc.stderr
    assert (out / f"{name}.png").stat().st_size > 0
    summary = json.loads((out / f"{name}.json").read_text())
    assert summary["study"] == name and summary["points"] >= 1
    assert f"figure {out / (name + '.png')}" in proc.stdout


#: The studies of the first wave (the slowest to compile); the second wave is all others.
FIRST_WAVE = ("collapse", "powerlaw")


@pytest.fixture(scope="module")
def cold_studies(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every study run once from a cold cache on a 2-worker local pool: name -> (the
    finished process, its output directory)."""
    tmp = tmp_path_factory.mktemp("cold")
    env = _env(tmp / "numba-cache")
    waves = [FIRST_WAVE, tuple(n for n in STUDIES if n not in FIRST_WAVE)]
    done: dict[str, tuple[subprocess.CompletedProcess, Path]] = {}
    for wave in waves:
        running: list[tuple[str, subprocess.Popen]] = []
        try:
            for name in wave:
                args = _study_args(name, tmp / name, "--workers", "2")
                with (tmp / f"{name}.out").open("w") as fout, \
                        (tmp / f"{name}.err").open("w") as ferr:
                    running.append((name, subprocess.Popen(
                        args, cwd=ROOT, env=env, stdout=fout, stderr=ferr)))  # fmt: skip
            for name, proc in running:
                code = proc.wait(timeout=600)
                stdout = (tmp / f"{name}.out").read_text()
                stderr = (tmp / f"{name}.err").read_text()
                done[name] = (subprocess.CompletedProcess(proc.args, code, stdout, stderr),
                              tmp / name)  # fmt: skip
        finally:
            for _, proc in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return done


@pytest.mark.parametrize("name", list(STUDIES))
def test_study_from_a_cold_numba_cache(
    name: str, cold_studies: dict[str, tuple[subprocess.CompletedProcess, Path]]
) -> None:
    proc, out = cold_studies[name]
    _check_outputs(proc, name, out)


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, and its children (a worker's nanny)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(address, cache): ``dask scheduler`` and two ``dask worker`` processes on
    127.0.0.1, the workers with an empty numba cache; all killed at teardown."""
    distributed = pytest.importorskip("distributed")
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("no dask command next to this Python")
    cache = tmp_path / "dask-numba-cache"
    cache.mkdir()
    env = _env(cache)
    sched_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    logs = [(tmp_path / f"dask-{i}.log").open("wb") for i in range(3)]

    def start(args: list[str], log) -> None:
        procs.append(subprocess.Popen(
            [str(dask), *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        ))  # fmt: skip

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(sched_file)], logs[0])  # fmt: skip
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.read_text().strip():
            assert procs[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in (1, 2):
            start(["worker", address, "--nthreads", "1", "--no-dashboard",
                   "--name", f"w{i}"], logs[i])  # fmt: skip
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, cache
    finally:
        for proc in reversed(procs):
            _kill_group(proc)
        for log in logs:
            log.close()


def test_study_on_a_dask_cluster_from_a_cold_numba_cache(
    dask_cluster: tuple[str, Path], tmp_path: Path
) -> None:
    address, cache = dask_cluster
    assert address.startswith("tcp://127.0.0.1:")
    name = "experiment-allostery"  # the study that compiles least; the cause is the same
    out = tmp_path / "studies"
    proc = subprocess.run(
        _study_args(name, out, "--scheduler", address), cwd=ROOT,
        env=_env(tmp_path / "client-cache"), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    _check_outputs(proc, name, out)
    assert any(cache.rglob("*.nbi")), "the workers compiled nothing: the cache was not cold"
