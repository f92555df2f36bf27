"""The live window's training process (lab.live) ends a run on SIGTERM and SIGHUP as
on Ctrl-C: between two steps, bench safe, run file incomplete with the signal named."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from lab.live import Batch, Failed, LiveRun, LiveSpec, Message, Stopped
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
