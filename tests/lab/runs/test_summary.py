"""The run summary has one definition (`lab.runs.summary`): the reader's summary of a file
that lacks the trainer's values (a killed run) equals the trainer's summary of that run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from lab.acquire.records import Observer, RunSummary, StepRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.hal.benchfile import load_bench
from lab.runs import RunReader, RunWriter
from lab.runs.summary import FINAL_WINDOW, scaled_error, summary_errors
from lab.tasks import load_task

REPO = Path(__file__).resolve().parents[3]
KEYS = ("initial_error", "final_error", "scaled_error")


class _StopAt(Observer):
    """Asks the trainer to stop after ``at`` steps (an interrupted run)."""

    def __init__(self, at: int | None) -> None:
        self.at, self.trainer, self.steps = at, None, 0

    def step(self, record: StepRecord) -> None:
        self.steps += 1
        if self.at is not None and self.steps == self.at and self.trainer is not None:
            self.trainer.request_stop()


def _run(path: Path, task: str, steps: int, stop_at: int | None) -> RunSummary:
    stopper = _StopAt(stop_at)
    settings = settings_from(task=task, steps=steps, test_every=10)
    trainer = Trainer(load_bench(None), load_task(task), settings,
                      [RunWriter(path, chunk_rows=64), stopper])
    stopper.trainer = trainer
    return trainer.run()


def _forget_the_trainers_values(path: Path) -> None:
    """What a run killed before ``stop`` leaves: no summary attributes."""
    with h5py.File(path, "r+") as f:
        for key in (*KEYS, "final_test_error", "final_accuracy"):
            if key in f.attrs:
                del f.attrs[key]


@pytest.mark.parametrize("task", ["ii", "regression"])  # one example; 16 examples
@pytest.mark.parametrize("stop_at", [None, 37])  # complete; interrupted
def test_the_reader_summarises_a_file_as_the_trainer_did(
        tmp_path: Path, task: str, stop_at: int | None) -> None:
    path = tmp_path / "run.h5"
    summary = _run(path, task, 120, stop_at)
    assert summary.complete is (stop_at is None)
    assert summary.steps == (120 if stop_at is None else stop_at)
    with RunReader(path) as r:
        written = r.summary()
    _forget_the_trainers_values(path)
    with RunReader(path) as r:
        computed = r.summary()
        if task == "regression":
            assert r.n_tests >= 2  # so the multi-example rule (test errors) applies
    for key in KEYS:
        want = getattr(summary, key)
        assert math.isfinite(want), key
        assert written[key] == want, key
        assert computed[key] == pytest.approx(want, rel=1e-12, abs=0), key
    assert computed["final_test_error"] == summary.final_test_error


def test_multi_example_runs_use_test_errors_single_example_runs_training_errors() -> None:
    last = np.arange(1.0, 101.0)
    single = summary_errors(n_train=1, first_error=9.0, last_errors=last, n_tests=5,
                            first_test_error=4.0, last_test_error=1.0)
    assert single == (9.0, pytest.approx(np.mean(last[-FINAL_WINDOW:])),
                      pytest.approx(np.mean(last[-FINAL_WINDOW:]) / 9.0))
    multi = summary_errors(n_train=16, first_error=9.0, last_errors=last, n_tests=2,
                           first_test_error=4.0, last_test_error=1.0)
    assert multi == (4.0, 1.0, 0.25)
    once = summary_errors(n_train=16, first_error=8.0, last_errors=np.array([2.0]),
                          n_tests=1, first_test_error=4.0, last_test_error=4.0)
    assert once == (8.0, 2.0, 0.25)  # tested once: training errors
    none = summary_errors(n_train=1, first_error=math.nan, last_errors=np.zeros(0))
    assert all(math.isnan(x) for x in none)


@pytest.mark.parametrize("initial", [math.inf, -math.inf, math.nan, 0.0])
def test_a_zero_or_non_finite_initial_error_gives_no_scaled_error(initial: float) -> None:
    assert math.isnan(scaled_error(initial, 0.5))
    errors = summary_errors(n_train=1, first_error=initial, last_errors=np.array([0.5]))
    assert math.isnan(errors.scaled)


def test_the_reader_refuses_a_scaled_error_from_an_infinite_initial_error(
        tmp_path: Path) -> None:
    """Before: the reader divided by an infinite first error and reported 0.0 (the trainer
    reports NaN)."""
    path = tmp_path / "run.h5"
    _run(path, "ii", 120, None)  # more steps than FINAL_WINDOW
    _forget_the_trainers_values(path)
    with h5py.File(path, "r+") as f:
        f["entry/steps/error"][0] = np.inf
    with RunReader(path) as r:
        s = r.summary()
    assert s["initial_error"] == math.inf
    assert math.isfinite(s["final_error"])
    assert math.isnan(s["scaled_error"])


def test_the_training_loop_loads_no_h5py_for_the_summary() -> None:
    code = "import sys, json, lab.acquire.trainer; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert "lab.runs.summary" in loaded
    assert not [m for m in loaded if m.split(".")[0] == "h5py"
                or m in ("lab.runs.writer", "lab.runs.reader")]
