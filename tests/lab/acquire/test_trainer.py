"""The training loop: learning outcomes, observers, safety on errors, stop/pause."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.records import Observer, RunSummary, StepRecord, TestRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatedBoard, EmulatorConfig, emulator_bench
from lab.errors import ConfigError
from lab.hal import BenchError, LimitError
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task


class Count(Observer):
    def __init__(self) -> None:
        self.steps = 0
        self.tests: list[TestRecord] = []
        self.summary: RunSummary | None = None

    def step(self, record: StepRecord) -> None:
        self.steps += 1

    def test(self, record: TestRecord) -> None:
        self.tests.append(record)

    def stop(self, summary: RunSummary) -> None:
        self.summary = summary


def assert_safe(board: EmulatedBoard) -> None:
    """Every DAC output released at 0 V and the bias where no edge can update."""
    assert not board.driven.any()
    assert np.all(board.applied == 0.0)
    assert board.bias > board.oscillators.high.max()


@pytest.mark.parametrize("p", [1.0, 0.5])
def test_allostery_ii_learns_below_five_percent(p: float) -> None:
    """The issue's target: final scaled error < 0.05 in 2000 steps on task ii, several seeds.

    The floor comes from the comparator offsets sigma ~ U[0, 0.05] V (edges drift up and
    saturate), so it varies with the parts drawn; we require it on every one of 5 boards.
    """
    task = load_task("ii")
    scaled = []
    for seed in range(5):
        bench = emulator_bench(EmulatorConfig(seed=seed))
        summary = Trainer(bench, task, settings_from(p=p, seed=seed, test_every=0)).run()
        assert summary.complete and summary.steps == 2000
        scaled.append(summary.scaled_error)
    assert max(scaled) < 0.05, scaled


def test_desynchronous_p_slows_learning_per_step() -> None:
    """At p = 0.1 only a tenth of the edges move per step, so after 100 steps the error
    is further from its floor than at p = 1 (same board, same task)."""
    task = load_task("ii")
    early = {}
    for p in (1.0, 0.1):
        bench = emulator_bench(EmulatorConfig(seed=2))
        trainer = Trainer(bench, task, settings_from(p=p, steps=100, test_every=0))
        trainer.run()
        early[p] = np.mean(trainer.errors[-10:]) / trainer.errors[0]
    assert early[0.1] > 2 * early[1.0], early


def test_regression_test_error_falls() -> None:
    task = load_task("regression", seed=1)
    count = Count()
    bench = emulator_bench(EmulatorConfig(seed=1))
    Trainer(
        bench, task, settings_from(task="regression", steps=3000, test_every=500), [count]
    ).run()
    errors = [t.error for t in count.tests]
    assert len(errors) == 7  # steps 0, 500, ..., 2500, and the final evaluation at 3000
    assert errors[-1] < 0.5 * errors[0], errors


def test_observers_get_every_step_then_stop() -> None:
    count = Count()
    bench = emulator_bench()
    Trainer(bench, load_task("ii"), settings_from(steps=250, test_every=100), [count]).run()
    assert count.steps == 250
    assert [t.step for t in count.tests] == [0, 100, 200, 250]
    assert count.summary is not None and count.summary.complete


class Broken(Observer):
    """Raises ZeroDivisionError in its ``on`` call ("step" or "test") for step ``at``;
    keeps the steps and tests it was given and its summary."""

    def __init__(self, at: int, critical: bool, on: str = "step") -> None:
        self.at, self.critical, self.on = at, critical, on
        self.steps: list[int] = []
        self.tests: list[int] = []
        self.summary: RunSummary | None = None

    def step(self, record: StepRecord) -> None:
        self.steps.append(record.step)
        if self.on == "step" and record.step == self.at:
            raise ZeroDivisionError("bar width 0")

    def test(self, record: TestRecord) -> None:
        self.tests.append(record.step)
        if self.on == "test" and record.step == self.at:
            raise ZeroDivisionError("bar width 0")

    def stop(self, summary: RunSummary) -> None:
        self.summary = summary


@pytest.mark.parametrize("on", ["step", "test"])
def test_a_failing_non_critical_observer_is_detached_and_training_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, on: str
) -> None:
    """Before, an exception in the progress bar ended the run (bench safe, file
    incomplete). Now a non-critical observer's failure is logged once, the observer gets
    no more steps (its stop still comes) and the run completes, file and all."""
    bench = emulator_bench()
    out, count = tmp_path / "run.h5", Count()
    at = 100 if on == "test" else 123  # 100: a test step (test_every 50)
    broken = Broken(at, critical=False, on=on)
    trainer = Trainer(bench, load_task("ii"), settings_from(steps=400, test_every=50),
                      [RunWriter(out), broken, count])
    with caplog.at_level("WARNING", logger="lab.trainer"):
        summary = trainer.run()
    assert summary.complete and summary.steps == 400 and count.steps == 400
    last = at if on == "step" else at - 1  # a test is taken before its step
    assert broken.steps == list(range(last + 1))
    assert broken.tests == [t for t in range(0, at + 1, 50)]
    assert broken.summary is not None and broken.summary.complete
    assert trainer.detached == [f"Broken at step {at}: ZeroDivisionError: bar width 0"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and trainer.detached[0] in warnings[0].getMessage()
    assert_safe(bench.probe.board)
    with RunReader(out) as run:
        assert run.complete and run.n_steps == 400


def test_a_failing_critical_observer_ends_the_run_with_its_message(tmp_path: Path) -> None:
    bench = emulator_bench()
    out, count = tmp_path / "run.h5", Count()
    trainer = Trainer(bench, load_task("ii"), settings_from(steps=400, test_every=0),
                      [RunWriter(out), Broken(123, critical=True), count])
    with pytest.raises(ZeroDivisionError, match="bar width 0"):
        trainer.run()
    assert count.steps == 123  # the observer after the failing one never saw step 123
    assert count.summary is not None and not count.summary.complete
    assert count.summary.message == "ZeroDivisionError at step 123: bar width 0"
    assert trainer.detached == []
    assert_safe(bench.probe.board)
    with RunReader(out) as run:
        assert not run.complete and run.n_steps == 124
        assert "bar width 0" in run.summary()["message"]


def test_observers_are_critical_unless_they_say_otherwise() -> None:
    from lab.acquire.live import Batcher
    from lab.cli.progress import progress_bar

    assert Observer.critical and RunWriter.critical and Count.critical
    assert not progress_bar(10).critical and not Batcher(lambda m: None).critical


class FailingDAQ:
    """Wraps a DAQ and raises BenchError on the n-th read, like a VISA timeout would."""

    def __init__(self, daq, fail_at: int) -> None:
        self.daq, self.fail_at, self.reads = daq, fail_at, 0

    def __getattr__(self, name):
        return getattr(self.daq, name)

    def read(self, channels):
        self.reads += 1
        if self.reads == self.fail_at:
            raise BenchError("DAQ: read timed out (VI_ERROR_TMO)")
        return self.daq.read(channels)


def test_instrument_error_leaves_bench_safe_and_file_incomplete(tmp_path: Path) -> None:
    bench = emulator_bench(EmulatorConfig(seed=0))
    board = bench.probe.board
    bench.daq = FailingDAQ(bench.daq, fail_at=301)  # steps 0..299 complete (test eval off)
    out = tmp_path / "run.h5"
    trainer = Trainer(
        bench, load_task("ii"), settings_from(steps=1000, test_every=0), [RunWriter(out)]
    )
    with pytest.raises(BenchError, match="timed out"):
        trainer.run()
    assert_safe(board)
    with RunReader(out) as run:
        assert not run.complete
        assert run.n_steps == 300  # every acknowledged step is in the file
        assert "timed out" in run.summary()["message"]


class Interrupt(Observer):
    def __init__(self, at: int) -> None:
        self.at = at

    def step(self, record: StepRecord) -> None:
        if record.step == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_leaves_bench_safe_and_file_incomplete(tmp_path: Path) -> None:
    bench = emulator_bench()
    out = tmp_path / "run.h5"
    trainer = Trainer(
        bench, load_task("ii"), settings_from(steps=5000), [RunWriter(out), Interrupt(at=1234)]
    )
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    assert_safe(bench.probe.board)
    with RunReader(out) as run:
        assert not run.complete
        assert run.n_steps == 1235
        assert "Ctrl-C" in run.summary()["message"]


def test_stop_request_from_another_thread(tmp_path: Path) -> None:
    bench = emulator_bench()
    out = tmp_path / "run.h5"
    count = Count()
    trainer = Trainer(bench, load_task("ii"), settings_from(steps=10**7), [RunWriter(out), count])
    thread = threading.Thread(target=trainer.run)
    thread.start()
    while count.steps < 500:
        thread.join(0.01)
    trainer.pause()
    paused_at = count.steps
    thread.join(0.3)
    assert count.steps - paused_at <= 1  # at most the step in flight finishes
    trainer.resume()
    while count.steps < paused_at + 200:
        thread.join(0.01)
    trainer.request_stop()
    thread.join(5)
    assert not thread.is_alive()
    assert count.summary is not None and not count.summary.complete
    assert_safe(bench.probe.board)
    with RunReader(out) as run:
        assert not run.complete and run.n_steps == count.steps


def test_voltage_beyond_limit_refused_before_anything_is_applied(tmp_path: Path) -> None:
    bench = emulator_bench(limits=(-1.0, 4.5))  # task ii puts 5 V on node 8
    board = bench.probe.board
    with pytest.raises(LimitError, match="node 8"):
        Trainer(bench, load_task("ii"), settings_from(), [RunWriter(tmp_path / "x.h5")])
    assert not board.driven.any() and board.pulses == 0
    assert not (tmp_path / "x.h5").exists()


def test_bench_refuses_out_of_limit_drive() -> None:
    bench = emulator_bench(limits=(0.0, 5.0))
    board = bench.probe.board
    for bad in (5.01, -0.1, float("nan")):
        with pytest.raises(LimitError, match="outside its limits"):
            bench.drive("free", (8,), np.array([bad]))
    assert not board.driven.any()


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("p", 0.0, "'p'"),
        ("p", 1.5, "'p'"),
        ("eta", 0.0, "'eta'"),
        ("eta", 2.0, "'eta'"),
        ("steps", 0, "'steps'"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: float, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        settings_from(**{field: value})


def test_task_for_another_network_is_refused() -> None:
    bench = emulator_bench()
    with pytest.raises(ValueError, match="planar143"):
        Trainer(bench, load_task("random-allostery"), settings_from())
