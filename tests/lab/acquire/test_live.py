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


def test_live_run_passes_the_rule_on_to_the_default_emulator_bench(tmp_path: Path) -> None:
    out = tmp_path / "live.h5"
    spec = LiveSpec(settings={"task": "chain3", "steps": 5, "rule": "power"}, out=str(out))
    run = LiveRun(spec)
    seen: list[Message] = []
    try:
        assert run.wait(90)
        seen += run.messages()
    finally:
        run.end()
        run.close()
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
