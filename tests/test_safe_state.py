"""The safe state over the wire (real drivers: pyvisa-py over TCP, pyserial over a pty,
against the wire emulator): channel by channel, verified by read-back, reported once."""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.records import Observer, RunSummary, StepRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig
from lab.emulator.wire.rehearsal import WireEmulator
from lab.hal.benchfile import load_bench
from lab.tasks import load_task

pytest.importorskip("pyvisa")
pytest.importorskip("serial")

OK_TAIL = ";:SYST:ERR?"


class Fault(Observer):
    """Calls ``fault()`` after step ``at``; keeps the summary."""

    def __init__(self, at: int, fault) -> None:
        self.at, self.fault = at, fault
        self.summary: RunSummary | None = None

    def step(self, record: StepRecord) -> None:
        if record.step == self.at:
            self.fault()

    def stop(self, summary: RunSummary) -> None:
        self.summary = summary


@pytest.fixture
def emu(tmp_path: Path):
    with WireEmulator(EmulatorConfig(seed=4)) as emulator:
        emulator.scpi.received = deque()  # every line the DAQ is sent
        emulator.bench_file = emulator.write_bench(tmp_path / "wire.toml")
        yield emulator


def drive_channels(bench) -> list[str]:
    return [c.name for c in bench.channels if c.kind == "drive"]


def test_a_refused_channel_is_reported_once_and_every_other_is_made_safe(emu, caplog) -> None:
    """Task ii drives node 8 of both twins (channels 8 and 1008). From step 10 on the
    instrument refuses any value on 1008: the run still ends, every other output gets
    its safe value, is switched off and read back, and the report is exactly one line,
    naming 1008 with its node and twin, once in the summary and nowhere in the log."""
    bench = load_bench(emu.bench_file)
    fault = Fault(10, lambda: emu.scpi.refuse(1008))
    trainer = Trainer(bench, load_task("ii"), settings_from(steps=30, test_every=0), [fault])
    with caplog.at_level(logging.DEBUG):
        summary = trainer.run()
    assert summary.complete
    (line,) = trainer.unsafe
    assert line.startswith("channel '1008' (drive, clamped twin node 8): safe value 0.0 V refused")
    assert "-221" in line and "\n" not in line
    assert summary.message == f"safe state failed: {line}"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    sent = list(emu.scpi.received)
    for ch in drive_channels(bench):
        assert f"SOUR:VOLT 0.0,(@{ch}){OK_TAIL}" in sent
        assert f"OUTP:STAT OFF,(@{ch}){OK_TAIL}" in sent  # 1008 is switched off too
        if ch != "1008":
            assert f"SOUR:VOLT? (@{ch}){OK_TAIL}" in sent
    assert f"SOUR:VOLT? (@9000){OK_TAIL}" in sent  # the bias is verified too
    board = emu.board
    assert not board.driven.any()
    assert board.bias > board.oscillators.high.max()
    assert bench.close() == [line]  # not safe yet, so close tries again, and says so


def test_a_read_back_mismatch_is_reported(emu) -> None:
    bench = load_bench(emu.bench_file)
    bench.set_probability(1.0)
    bench.drive("clamped", (3,), np.array([4.0]))
    emu.scpi.stick(1003, 2.5)
    assert bench.safe_state() == [
        "channel '1003' (drive, clamped twin node 3): reads back 2.5 V, not its safe value "
        "0.0 V (tolerance 0.001 V)"
    ]
    assert bench.dirty
    bench.close()


def test_close_after_a_successful_safe_state_sends_nothing(emu) -> None:
    bench = load_bench(emu.bench_file)
    bench.set_probability(1.0)
    bench.drive("free", (8,), np.array([5.0]))
    assert bench.safe_state() == []
    sent = len(emu.scpi.received)
    lines = bench.close()
    assert len(emu.scpi.received) == sent  # no second safe state
    assert lines == [] and not bench.dirty


def test_close_after_driving_makes_the_bench_safe(emu) -> None:
    bench = load_bench(emu.bench_file)
    bench.set_probability(1.0)
    bench.drive("free", (8,), np.array([5.0]))
    assert emu.board.driven.any()
    lines = bench.close()
    assert not emu.board.driven.any() and emu.board.bias > emu.board.oscillators.high.max()
    assert lines == []


def test_train_says_which_output_is_not_safe_after_a_complete_run(emu, tmp_path: Path) -> None:
    """The run completes, but channel 1008 reads back 3 V after its safe value was set
    (a stuck output stage): the command says so on one line naming it, never "bench safe",
    and exits 1 (before: exit 0 and not a word)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    emu.scpi.stick(1008, 3.0)
    out = tmp_path / "run.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "lab.cli", "train", "--quiet", "--bench", str(emu.bench_file),
         "--steps", "30", "--out", str(out)],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twinlab: not safe: channel '1008'"), lines
    assert "bench safe" not in proc.stderr and "30 steps" in proc.stdout


def _not_safe_channels(lines: list[str]) -> list[str]:
    """Every channel name the safe-state lines name (quoted), in order."""
    import re

    return [name for line in lines for name in re.findall(r"'(\w+)'", line.split(": ")[0])]


def test_a_lost_daq_is_one_error_and_one_line_per_reason(emu) -> None:
    """The DAQ's server goes away after step 10 (its connection closed, new ones refused):
    the run stops at step 11 with an error saying the DAQ closed its connection (not a
    reply timeout), and the safe state names every drive channel exactly once, those that
    share a reason on one line (before: one line per channel, 18 of them the same)."""
    from lab.hal import BenchError

    bench = load_bench(emu.bench_file)
    trainer = Trainer(bench, load_task("ii"), settings_from(steps=100, test_every=0),
                      [Fault(10, emu.scpi.close)])
    with pytest.raises(BenchError, match=r"^DAQ \(TCPIP::.*::SOCKET\): the instrument closed "
                       r"its connection \(waiting for the reply to "):
        trainer.run()
    assert trainer.failed_step == 11
    lines = trainer.unsafe
    assert 2 <= len(lines) <= 4, lines
    assert all("\n" not in line for line in lines)
    grouped = [line for line in lines if line.startswith("channels ")]
    assert len(grouped) == 1 and "not attempted: the link failed earlier" in grouped[0]
    named = _not_safe_channels(lines)
    assert sorted(named) == sorted([*drive_channels(bench), "9000"])  # each one once
    bench.close()


def test_train_with_a_lost_daq_says_so_in_a_few_lines(emu, tmp_path: Path) -> None:
    """``twinlab train`` with its DAQ gone mid-run (the user trial killed the emulator):
    one error line naming the DAQ, its address and the step, then the channels not made
    safe grouped by reason (before: a reply timeout, then 21 "not safe" lines), and a run
    file closed intact, incomplete, with a message of at most MESSAGE_MAX characters
    (before: 3680)."""
    import subprocess
    import sys
    import threading
    import time

    from lab.runs.layout import MESSAGE_MAX
    from lab.runs.reader import RunReader

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run.h5"
    done = threading.Event()

    def kill_daq() -> None:  # after about 50 steps (a step is 4 or more DAQ lines)
        while not done.is_set() and len(emu.scpi.received) < 400:
            time.sleep(0.01)
        emu.scpi.close()

    killer = threading.Thread(target=kill_daq, daemon=True)
    killer.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lab.cli", "train", "--quiet", "--bench",
             str(emu.bench_file), "--steps", "100000", "--out", str(out)],
            cwd=root, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        done.set()
        killer.join()
    assert proc.returncode == 1, proc.stderr
    first, *rest = proc.stderr.strip().splitlines()
    resource = emu.scpi.resource
    assert first.startswith("twinlab: error: at step "), first
    assert f"DAQ ({resource}): the instrument closed its connection" in first, first
    assert "timed out" not in first and first.endswith(f"run file {out} (incomplete)"), first
    assert "bench safe" not in proc.stderr
    assert 2 <= len(rest) <= 4 and all(ln.startswith("twinlab: not safe: ") for ln in rest), rest
    with RunReader(out) as run:
        message = run.info["message"]
        assert not run.complete and run.n_steps > 0
    assert message.startswith("BenchError at step ") and resource in message
    assert len(message) <= MESSAGE_MAX, len(message)
