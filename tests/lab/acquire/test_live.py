"""The live window's training process (lab.acquire.live) ends a run on SIGTERM and SIGHUP as
on Ctrl-C: between two steps, bench safe, run file incomplete with the signal named."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from lab.acquire.live import Batch, Failed, LiveRun, LiveSpec, Message, Stopped
from lab.runs import RunReader


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_to_the_training_process_stops_the_run_cleanly(
    tmp_path: Path, signum: int
) -> None:
    out = tmp_path / "live.h5"
    run = LiveRun(LiveSpec(settings={"task": "ii", "steps": 10**8}, out=str(out)))
    seen: list[Message] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(isinstance(m, Batch) for m in seen):
            seen += run.messages()
            time.sleep(0.05)
        assert any(isinstance(m, Batch) for m in seen), seen
        os.kill(run.process.pid, signum)
        assert run.wait(60)
        seen += run.messages()
    finally:
        run.end()
        run.close()
    stops = [m for m in seen if isinstance(m, Stopped)]
    assert len(stops) == 1, seen
    summary = stops[0].summary
    name = signal.Signals(signum).name
    assert not summary.complete and name in summary.message
    assert not [m for m in seen if isinstance(m, Failed)], seen
    assert run.process.exitcode == 0
    with RunReader(out) as reader:
        assert not reader.complete and reader.n_steps == summary.steps > 0
        assert name in reader.summary()["message"]


def test_messages_are_frozen_picklable_dataclasses() -> None:
    """What the training process sends crosses a multiprocessing queue: each message
    type pickles to an equal value and cannot be changed on the way."""
    import dataclasses
    import pickle

    import numpy as np

    from lab.acquire.live import Exited, Ready, Started
    from lab.acquire.records import RunInfo, RunSummary

    info = RunInfo(task={"name": "ii"}, settings={}, bench={}, network={}, n_inputs=2,
                   n_outputs=1, n_edges=16, n_test=0, positions_estimated=False,
                   has_updates=True, start_time="t", twinlab_version="0")
    summary = RunSummary(steps=3, complete=True, initial_error=1.0, final_error=0.1,
                         scaled_error=0.1, end_time="t", final_test_error=0.2,
                         final_accuracy=1.0)  # not NaN: NaN != NaN
    messages = [Ready(), Started(info), Batch(None, ((0, 0.5),)),
                Stopped(summary, 1.5, ("Progress at step 2: OSError: EPIPE",), 1.4),
                Failed("run", "clock board: no reply"), Exited()]
    for msg in messages:
        assert pickle.loads(pickle.dumps(msg)) == msg
        if dataclasses.fields(msg):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(msg, dataclasses.fields(msg)[0].name, None)
    steps = {"step": np.arange(3), "error": np.ones(3)}
    back = pickle.loads(pickle.dumps(Batch(steps)))
    np.testing.assert_array_equal(back.steps["step"], steps["step"])
    assert back.tests == ()


def _messages_of(spec: LiveSpec) -> list[Message]:
    """Every message of one live run of ``spec``, waited for (90 s) and closed."""
    run = LiveRun(spec)
    seen: list[Message] = []
    try:
        assert run.wait(90)
        seen += run.messages()
    finally:
        run.end()
        run.close()
    return seen


def test_live_run_passes_the_rule_on_to_the_default_emulator_bench(tmp_path: Path) -> None:
    out = tmp_path / "live.h5"
    spec = LiveSpec(settings={"task": "chain3", "steps": 5, "rule": "power"}, out=str(out))
    seen = _messages_of(spec)
    assert [m for m in seen if isinstance(m, Stopped)], seen
    assert not [m for m in seen if isinstance(m, Failed)], seen
    with RunReader(out) as reader:
        assert reader.complete and reader.settings["rule"] == "power"
        assert reader.info["bench_json"]["emulator"]["rule"] == "power"


def _loaded_kernels() -> dict[str, int]:
    """Compiled signatures of every numba kernel of ``lab`` in this process: name -> count."""
    import sys

    from numba.core.dispatcher import Dispatcher

    out: dict[str, int] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("lab.") or module is None:
            continue
        for attr, value in vars(module).items():
            if isinstance(value, Dispatcher):
                out[f"{name}.{attr}"] = len(value.overloads)
    return out


def _kernel_watched_bench() -> object:
    """Training-process bench factory (runs after the process's warm-up): the default
    emulator bench, whose `safe_state` (the end of `Trainer.run`) writes to the file
    ``$TWINLAB_TEST_KERNELS`` every kernel signature compiled or loaded from numba's cache
    since this factory was called."""
    import json

    from lab.emulator import emulator_bench

    before = _loaded_kernels()
    bench = emulator_bench()
    safe_state = bench.safe_state

    def watched() -> list[str]:
        after = _loaded_kernels()
        new = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
        Path(os.environ["TWINLAB_TEST_KERNELS"]).write_text(json.dumps(new))
        return safe_state()

    bench.safe_state = watched  # type: ignore[method-assign]
    return bench


def test_the_timed_run_loads_no_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The training process's warm-up loads (from numba's cache, or compiles) every kernel
    the run calls, so `Stopped.run_seconds`/`cpu_seconds` (and bench_gui's live rate)
    time training steps only, as the in-process run that bench_gui compares them with."""
    import json

    report = tmp_path / "kernels.json"
    monkeypatch.setenv("TWINLAB_TEST_KERNELS", str(report))
    run = LiveRun(LiveSpec(settings={"task": "ii", "steps": 300}, out=str(tmp_path / "k.h5"),
                           bench_factory=_kernel_watched_bench))
    try:
        assert run.wait(120)
        seen = run.messages()
    finally:
        run.end()
        run.close()
    stops = [m for m in seen if isinstance(m, Stopped)]
    assert len(stops) == 1 and stops[0].summary.complete, seen
    assert stops[0].cpu_seconds > 0
    assert json.loads(report.read_text()) == {}


class _Keep:
    """Observer keeping every record; every ``every``-th step it flushes ``batcher`` (a
    batch boundary that does not depend on the clock)."""

    critical = True

    def __init__(self, batcher: object = None, every: int = 0) -> None:
        self.rows: list = []
        self.batcher, self.every = batcher, every

    def start(self, info: object) -> None:
        self.info = info

    def step(self, record: object) -> None:
        self.rows.append(record)
        if self.every and len(self.rows) % self.every == 0:
            self.batcher.flush()  # type: ignore[union-attr]

    def test(self, record: object) -> None:
        pass

    def stop(self, summary: object) -> None:
        pass


def test_batches_sliced_from_the_writers_columns_are_the_batches_and_the_file(
        tmp_path: Path) -> None:
    """With the run's writer as its column source, the batcher sends what it would build
    itself (`batch_columns` of the same steps, dtypes included) and what the file holds;
    every batch but the last is the writer's columns (the last, sent after the writer
    closed, the batcher builds itself)."""
    import numpy as np

    from lab.acquire.live import Batcher, batch_columns
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.emulator import EmulatorConfig, emulator_bench
    from lab.runs import RunWriter
    from lab.runs.schema import StepSchema
    from lab.tasks import load_task

    out = tmp_path / "run.h5"
    sent: list[Message] = []
    writer = RunWriter(out, chunk_rows=64, flush_interval=1e9)
    answers: list[bool] = []

    class Counted:  # the writer, counting its answers
        def shared_columns(self, rows: list) -> dict | None:
            cols = writer.shared_columns(rows)
            answers.append(cols is not None)
            return cols

    batcher = Batcher(sent.append, interval=1e9, source=Counted())
    keep = _Keep(batcher, every=37)
    bench = emulator_bench(EmulatorConfig(seed=0))
    try:
        Trainer(bench, load_task("ii"), settings_from(task="ii", steps=700, test_every=0),
                [writer, batcher, keep]).run()
    finally:
        bench.close()
    batches = [m.steps for m in sent if isinstance(m, Batch) and m.steps is not None]
    assert len(answers) == len(batches) > 10 and answers == [True] * (len(batches) - 1) \
        + [False], answers
    want = batch_columns(keep.rows, StepSchema.of(keep.info))
    with RunReader(out) as reader:
        assert reader.complete and reader.n_steps == 700
        for name, a in want.items():
            got = np.concatenate([b[name] for b in batches])
            assert got.dtype == a.dtype and list(batches[0]) == list(want), name
            np.testing.assert_array_equal(got, a, err_msg=name)
            np.testing.assert_array_equal(reader.array(name, 0, 700), a, err_msg=name)


def test_a_failing_column_source_detaches_the_batcher_never_the_writer(
        tmp_path: Path) -> None:
    """The batcher's source failing is the batcher's failure: it is detached (the run
    names it), the run goes on and its file is complete."""
    from lab.acquire.live import Batcher
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.emulator import EmulatorConfig, emulator_bench
    from lab.runs import RunWriter
    from lab.tasks import load_task

    class Broken:
        def shared_columns(self, rows: list) -> None:
            raise RuntimeError("column source broke")

    out = tmp_path / "run.h5"
    sent: list[Message] = []
    batcher = Batcher(sent.append, interval=0.0, source=Broken())
    bench = emulator_bench(EmulatorConfig(seed=0))
    try:
        trainer = Trainer(bench, load_task("ii"),
                          settings_from(task="ii", steps=300, test_every=0),
                          [RunWriter(out), batcher])
        summary = trainer.run()
    finally:
        bench.close()
    assert summary.complete
    assert len(trainer.detached) == 1 and "column source broke" in trainer.detached[0]
    with RunReader(out) as reader:
        assert reader.complete and reader.n_steps == 300


def test_the_training_process_batches_hold_the_run_files_steps(tmp_path: Path) -> None:
    """Through the process (its batcher's columns the writer's, pickled on the way):
    the batches, joined, are the file's steps, every live column, writeable copies."""
    import numpy as np

    from lab.runs.schema import LIVE_COLUMNS

    out = tmp_path / "live.h5"
    run = LiveRun(LiveSpec(settings={"task": "ii", "steps": 3000}, out=str(out)))
    try:
        assert run.wait(120)
        seen = run.messages()
    finally:
        run.end()
        run.close()
    assert any(isinstance(m, Stopped) and m.summary.complete for m in seen), seen
    batches = [m.steps for m in seen if isinstance(m, Batch) and m.steps is not None]
    assert len(batches) >= 1
    with RunReader(out) as reader:
        assert reader.n_steps == 3000
        names = [n for n in LIVE_COLUMNS if n in reader.steps]
        assert list(batches[0]) == names
        for name in names:
            got = np.concatenate([b[name] for b in batches])
            np.testing.assert_array_equal(got, reader.array(name, 0, 3000), err_msg=name)
            assert got.dtype == reader.array(name, 0, 1).dtype
        assert all(b["positions"].flags.writeable for b in batches)


def _tight_current_bench() -> object:
    """Training-process bench factory: the default emulator bench with an edge current
    limit (1 uA) the first step of any task exceeds."""
    from lab.emulator import emulator_bench
    from lab.hal.currents import CurrentLimits

    bench = emulator_bench()
    bench.currents = CurrentLimits(edge=1e-6, channel=1.0)
    return bench


def test_a_current_limit_the_first_step_exceeds_fails_the_live_set_up_without_a_file(
    tmp_path: Path,
) -> None:
    """The window's training process runs the trainer's pre-flight: a limit the first
    step would exceed at the starting codes is a set-up failure (one line naming the
    bench file field), nothing applied and no run file; it used to start the run and stop
    at step 0 with an empty incomplete file."""
    out = tmp_path / "live.h5"
    spec = LiveSpec(settings={"task": "ii", "steps": 50}, out=str(out),
                    bench_factory=_tight_current_bench)  # fmt: skip
    seen = _messages_of(spec)
    failed = [m for m in seen if isinstance(m, Failed)]
    assert failed and failed[0].phase == "setup", seen
    assert "currents.edge" in failed[0].text, failed[0].text
    assert not out.exists()


def test_bench_limits_wider_than_the_daqs_range_fail_the_live_set_up_naming_the_field(
    tmp_path: Path,
) -> None:
    """The window checks only that the bench file reads; the training process's set-up
    failure named the driver's channel and range, not the bench file's field. The DAQ
    named does not exist: the line comes before anything is opened."""
    pytest.importorskip("pyvisa")
    bench = tmp_path / "b.toml"
    bench.write_text(
        'kind = "instruments"\n'
        'calibration = {bias = [0.0, 5.0], p = [1.0, 0.0]}\n'
        '[daq]\nresource = "TCPIP::127.0.0.1::1::SOCKET"\n'
        '[bias]\nchannel = "9000"\n'
        '[clock]\nport = "/dev/nonesuch/clock"\n'
        '[[channels]]\nname = "1"\ntwin = "free"\nnode = 1\nkind = "drive"\n'
        "limits = [-100, 100]\n"
    )
    out = tmp_path / "live.h5"
    seen = _messages_of(LiveSpec(settings={"task": "ii", "steps": 5}, out=str(out),
                                 bench=str(bench)))  # fmt: skip
    failed = [m for m in seen if isinstance(m, Failed)]
    assert failed and failed[0].phase == "setup", seen
    assert failed[0].text == (
        f"{bench}: field 'channels', item 1, entry 'limits': [-100, 100] V is wider than the "
        "DAQ's output range [-10, 10] V"
    ), failed[0].text
    assert not out.exists()


def test_a_channel_the_task_needs_fails_the_live_set_up_before_any_instrument(
    tmp_path: Path,
) -> None:
    """The window's training process checks the bench file's wiring against the task
    before it opens an instrument: one line naming the file and the field, no traffic, no
    run file (it used to open the instruments, then say "channel map: ..." naming no file)."""
    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import BENCH_COMMENT, WireEmulator
    from lab.hal.calibration import toml_text

    out, path = tmp_path / "live.h5", tmp_path / "b9.toml"
    with WireEmulator(EmulatorConfig(seed=1)) as emu:
        data = emu.bench_data()
        data["channels"] = [ch for ch in data["channels"] if ch["name"] != "1008"]
        path.write_text(toml_text(data, BENCH_COMMENT), encoding="utf-8")
        seen = _messages_of(LiveSpec(settings={"task": "ii", "steps": 5}, out=str(out),
                                     bench=str(path)))
        assert emu.board.pulses == 0 and not emu.board.driven.any()
    failed = [m for m in seen if isinstance(m, Failed)]
    assert failed and failed[0].phase == "setup", seen
    assert failed[0].text.startswith(
        f"{path}: field 'channels': node 8 of the clamped twin has no drive channel (needed: "
    ), failed[0].text
    assert not out.exists()
