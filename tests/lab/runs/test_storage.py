"""A full disk, a file-size limit and big runs (issue 11, items 3 and 5): the run stops
while its file can still be closed, one line on stderr, every flushed step readable; runs
that cannot fit are refused before they start; memory and file size stay bounded."""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.records import Observer, StepRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import FINAL_WINDOW, Trainer
from lab.hal.benchfile import load_bench
from lab.runs import CLOSE_RESERVE, RunFileError, RunReader, RunWriter, estimate_bytes
from lab.tasks import Task, load_task

REPO = Path(__file__).resolve().parents[3]
PY = sys.executable
MB = 1 << 20
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # no .pyc writes under a size limit


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """``tmpfs(size_mb)`` mounts a fresh tmpfs of that size and returns its path; every
    mount is undone at teardown. Skips where mounting is not permitted (not root)."""
    mounts: list[Path] = []

    def mount(size_mb: int) -> Path:
        where = tmp_path / f"tmpfs{len(mounts)}"
        where.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command: cannot make a small filesystem")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                            str(where)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here: {r.stderr.strip()}")
        mounts.append(where)
        return where

    yield mount
    for where in reversed(mounts):
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _train(out: Path, *args: str, **kw: object) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "lab.cli", "train", "--out", str(out), *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, **kw)


def _info(path: Path) -> dict:
    r = subprocess.run([PY, "-m", "lab.cli", "info", str(path), "--json"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _assert_one_error_line(stderr: str) -> None:
    lines = [line for line in stderr.split("\n") if line.strip()]
    assert len(lines) <= 3, stderr
    assert sum("twinlab: error:" in line for line in lines) == 1, stderr
    assert "Traceback" not in stderr


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# -- refused before the run starts ----------------------------------------------------------


@pytest.mark.parametrize("steps", ["200000", "1000000000"])
def test_run_larger_than_the_disk_is_refused_in_one_line(tmpfs, steps: str) -> None:
    """Before: on a 3 MB tmpfs `train --steps 200000` segfaulted (exit 139, 130 lines)."""
    disk = tmpfs(3)
    out = disk / "run.h5"
    proc = _train(out, "--steps", steps, "--quiet")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.startswith("twinlab: error:") and err.count("\n") == 1, err
    assert str(out) in err and "free" in err
    assert os.listdir(disk) == []  # no run file, no reserve file


def test_run_over_the_file_size_limit_is_refused_in_one_line(tmp_path: Path) -> None:
    """Before: under `ulimit -f` the run was killed by SIGXFSZ or crashed in HDF5."""
    out = tmp_path / "run.h5"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (3 * MB, 3 * MB))

    proc = _train(out, "--steps", "200000", "--quiet", preexec_fn=limit)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.startswith("twinlab: error:") and err.count("\n") == 1, err
    assert "ulimit -f" in err and str(out) in err
    assert not out.exists()


# -- the disk fills up while the run goes on ------------------------------------------------


def _stop_after_rows(proc: subprocess.Popen, out: Path, rows: int) -> int:
    """SIGSTOP ``proc`` once ``out`` holds at least ``rows`` flushed steps; their number."""
    n = 0
    while n < rows:
        assert proc.poll() is None, proc.communicate()
        try:
            with RunReader(out, swmr=True) as run:
                n = run.n_steps
        except RunFileError:
            pass
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGSTOP)
    return n


@pytest.mark.parametrize("leave", [0, 700_000], ids=["full", "nearly-full"])
def test_disk_filling_during_the_run_ends_it_cleanly(tmpfs, leave: int) -> None:
    """Another program takes the disk while the run is stopped; after SIGCONT the run
    ends with one error line and the file opens with every step it had flushed (and, when
    room is left for the next block, every step the run made). Before: exit 139."""
    disk = tmpfs(32)
    out = disk / "run.h5"
    proc = _train(out, "--steps", "200000", "--quiet")  # (the bar is many lines on a pipe)
    try:
        seen = _stop_after_rows(proc, out, 1000)
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, _free(disk) - leave)
        finally:
            os.close(fd)
        assert _free(disk) <= leave
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    _assert_one_error_line(err)
    assert f"run file {out} (incomplete)" in err
    info = _info(out)
    assert info["complete"] is False and info["end_time"]
    assert info["steps"] >= max(seen, 1000)
    assert "RunStorageError" in info["message"]
    if leave:
        assert "all" in err and f"all {info['steps']} steps" in info["message"]


def test_file_size_limit_lowered_during_the_run_ends_it_cleanly(tmp_path: Path) -> None:
    """RLIMIT_FSIZE lowered under a running `train` (prlimit): one line, file readable."""
    out = tmp_path / "run.h5"
    proc = _train(out, "--steps", "200000", "--quiet")
    try:
        seen = _stop_after_rows(proc, out, 1000)
        size = out.stat().st_size
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (size + 700_000, size + 700_000))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    _assert_one_error_line(err)
    assert "ulimit -f" in err
    info = _info(out)
    assert info["complete"] is False and info["steps"] >= max(seen, 1000)


CHILD = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from _run_writer_child import make_info, make_record
from lab.acquire.records import RunSummary
from lab.runs import RunStorageError, RunWriter

w = RunWriter({path!r}, chunk_rows=64, flush_interval=1e9)
w.start(make_info())
if {lie}:  # the disk fills between the writer's check and HDF5's write
    w._room = lambda: (1 << 62, "plenty")
i = 0
try:
    while True:
        w.step(make_record(i))
        i += 1
except RunStorageError as exc:
    print(i + 1, w.flushed_steps, exc, flush=True)
w.stop(RunSummary(i + 1, False, 1.0, 1.0, 1.0, "2026-01-01T00:00:00", "full"))
"""


@pytest.mark.parametrize("lie", [False, True], ids=["watched", "hdf5-meets-enospc"])
def test_writer_on_a_full_disk_keeps_every_step(tmpfs, lie: bool) -> None:
    """A writer that fills a 3 MB tmpfs itself stops with every step it was given in the
    file; if HDF5 still meets ENOSPC (the check is made to lie), the reserve lets it close
    the file: no crash. Before: SIGSEGV at exit and a file that could not be opened."""
    disk = tmpfs(3)
    path = disk / "run.h5"
    code = CHILD.format(tests=str(Path(__file__).parent), path=str(path), lie=lie)
    r = subprocess.run([PY, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr
    given, flushed, message = r.stdout.split(" ", 2)
    with RunReader(path) as run:
        assert not run.complete and run.info["end_time"]
        assert run.n_steps >= 1000
        if not lie:  # the watch stopped it in time: every step given is in the file
            assert run.n_steps == int(given) == int(flushed)
            assert "all" in message
        np.testing.assert_array_equal(run.steps["step"][:], np.arange(run.n_steps))
    assert os.listdir(disk) == ["run.h5"]  # the reserve is gone


def test_writer_under_a_file_size_limit_keeps_every_step(tmp_path: Path) -> None:
    """The same under RLIMIT_FSIZE (set in the child): stops before the limit."""
    path = tmp_path / "run.h5"
    code = CHILD.format(tests=str(Path(__file__).parent), path=str(path), lie=False)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (MB, MB))

    r = subprocess.run([PY, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120, preexec_fn=limit, env=ENV)
    assert r.returncode == 0, r.stderr
    given, flushed, message = r.stdout.split(" ", 2)
    assert "ulimit -f" in message
    with RunReader(path) as run:
        assert run.n_steps == int(given) == int(flushed) >= 1000
        assert not run.complete
    assert path.stat().st_size <= MB


# -- bounds -----------------------------------------------------------------------------------


def _retained(steps: int) -> int:
    """Bytes still allocated after a Trainer of ``steps`` steps (tests every 10) ran."""
    settings = settings_from(task="ii", steps=steps, test_every=10)
    trainer = Trainer(load_bench(None), load_task("ii"), settings, [])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        trainer.run()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.unfreeze()


def test_trainer_memory_does_not_grow_with_steps() -> None:
    """Before: every step's error (and every test's) stayed in a list, ~32 B per step."""
    _retained(100)  # warm caches (numba, numpy) once
    short, long = _retained(100), _retained(5000)
    assert abs(long - short) < 8 * 1024, (short, long)


class _All(Observer):
    def __init__(self) -> None:
        self.errors: list[float] = []

    def step(self, record: StepRecord) -> None:
        self.errors.append(record.error)


def test_bounded_errors_give_the_same_summary() -> None:
    settings = settings_from(task="ii", steps=500, test_every=0)
    seen = _All()
    trainer = Trainer(load_bench(None), load_task("ii"), settings, [seen])
    summary = trainer.run()
    assert len(trainer.errors) == 500 == summary.steps
    assert summary.initial_error == seen.errors[0] == trainer.errors[0]
    assert summary.final_error == pytest.approx(np.mean(seen.errors[-FINAL_WINDOW:]))
    assert trainer.errors[-10:] == seen.errors[-10:]
    with pytest.raises(IndexError, match="not kept"):
        trainer.errors[250]


def test_big_task_is_written_once_and_compressed(tmp_path: Path) -> None:
    """Before: 20 steps of a regression task with 1e5 train and test examples wrote
    427 MB (a 256-row chunk of test v_free, 410 MB, and the data as JSON text, 16.5 MB)."""
    n = 20_000
    toml = (REPO / "data" / "tasks" / "regression.toml").read_text()
    toml = toml.replace("n_train = 16", f"n_train = {n}").replace("n_test = 64", f"n_test = {n}")
    task_file = tmp_path / "big.toml"
    task_file.write_text(toml)
    out = tmp_path / "run.h5"
    proc = _train(out, "--task", str(task_file), "--steps", "20", "--test-every", "10",
                  "--quiet")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    # data: 4 arrays of n x 2 doubles (1.28 MB raw, written once), 3 test rows of n x 2
    assert out.stat().st_size < 5 * MB, out.stat().st_size
    task = load_task(str(task_file), seed=0)
    with RunReader(out) as run:
        again = Task.from_dict(run.task)
        assert run.n_tests == 3
    for field in ("train_inputs", "train_desired", "test_inputs", "test_desired"):
        np.testing.assert_array_equal(getattr(again, field), getattr(task, field))
    assert again.input_nodes == task.input_nodes and again.name == task.name


def test_estimate_bounds_the_file(tmp_path: Path) -> None:
    """estimate_bytes is an upper bound of the finished file, and not a loose one."""
    for steps, every in ((10, 0), (9000, 0), (9000, 7)):
        settings = settings_from(task="regression", steps=steps, test_every=every)
        out = tmp_path / f"run{steps}_{every}.h5"
        trainer = Trainer(load_bench(None), load_task("regression"), settings,
                          [RunWriter(out)])
        estimate = estimate_bytes(trainer._info())
        trainer.run()
        size = out.stat().st_size
        assert size <= estimate <= size * 1.25 + CLOSE_RESERVE, (steps, every, size)
