"""End to end over the wire: real drivers (pyvisa-py over TCP, pyserial over a pty)
against `twinlab emulate`, compared step by step with the in-process emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.records import Observer, StepRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.cli import main
from lab.emulator import EmulatorConfig
from lab.emulator.wire.rehearsal import WireEmulator
from lab.errors import ConfigError
from lab.hal import BenchError
from lab.hal.benchfile import load_bench
from lab.hal.calibration import toml_text
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task

pytest.importorskip("pyvisa")
pytest.importorskip("serial")

ROOT = Path(__file__).resolve().parents[4]


def train(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / f"{name}.h5"
    code = main(["train", "--quiet", "--out", str(out), *args])
    assert code == 0
    return out


def test_wire_run_equals_in_process_run(tmp_path: Path) -> None:
    """Same seed, same task: the run files agree in every recorded step."""
    settings = ["--task", "ii", "--steps", "400", "--p", "0.5", "--test-every", "100"]
    local = train(tmp_path, "local", "--bench-seed", "3", *settings)
    with WireEmulator(EmulatorConfig(seed=3), probe=True) as emu:
        bench_file = emu.write_bench(tmp_path / "wire.toml")
        wire = train(tmp_path, "wire", "--bench", str(bench_file), *settings)
        assert emu.board.pulses == 400
    with RunReader(local) as a, RunReader(wire) as b:
        assert a.complete and b.complete and a.n_steps == b.n_steps == 400
        for name in ("positions", "update_mask", "direction", "example", "step"):
            np.testing.assert_array_equal(a.steps[name][:], b.steps[name][:], err_msg=name)
        for name in ("v_free", "v_clamped", "v_desired", "inputs", "error"):
            # repr() numbers on the wire are round-trip exact; allow the last bit anyway
            np.testing.assert_allclose(a.steps[name][:], b.steps[name][:], rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.tests["v_free"][:], b.tests["v_free"][:], rtol=0, atol=1e-12)
        assert b.info["bench_json"]["kind"] == "instruments"  # the run stores its bench


def test_bench_is_safe_after_a_run_over_the_wire(tmp_path: Path) -> None:
    with WireEmulator(EmulatorConfig(seed=1)) as emu:
        bench_file = emu.write_bench(tmp_path / "wire.toml")
        train(tmp_path, "run", "--bench", str(bench_file), "--steps", "50")
        board = emu.board
        assert not board.driven.any() and np.all(board.applied == 0.0)
        assert board.bias > board.oscillators.high.max()  # no edge can update


def test_twinlab_emulate_serves_until_ctrl_c(tmp_path: Path) -> None:
    """The command prints the resources, writes a bench file that trains, and stops
    cleanly on SIGINT (exit 130)."""
    bench_file = tmp_path / "emu.toml"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "emulate", "--write-bench", str(bench_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "serving until Ctrl-C" in line:
                break
        text = "".join(lines)
        assert "TCPIP::127.0.0.1::" in text and "/dev/pts/" in text
        out = train(tmp_path, "run", "--bench", str(bench_file), "--steps", "100")
        with RunReader(out) as run:
            assert run.complete and run.n_steps == 100
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err  # 128 + SIGINT, as for every other command
    assert err.strip().splitlines() == ["emulator stopped (SIGINT)"]


def edited(change: Callable[[dict], object]) -> Callable[[str], str]:
    """An edit of a bench file made on its parsed values (whatever the writer's layout)."""

    def edit(text: str) -> str:
        data = tomllib.loads(text)
        change(data)
        return toml_text(data)

    return edit


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (
            lambda t: t.replace(
                'resource = "TCPIP::127.0.0.1::', 'resource = "TCPIP::127.0.0.1::1'
            ),
            "TCPIP::127.0.0.1::1",
        ),
        (lambda t: t.replace('port = "/dev/pts/', 'port = "/dev/nonesuch/'), "/dev/nonesuch/"),
        (lambda t: t.replace('name = "1001"', 'name = "1"'), "mapped twice"),
        (lambda t: t.replace("node = 9\n", "node = 12\n", 1), "node 12"),
        (edited(lambda d: d["channels"][0].update(limits=[-20.0, 6.0])), "range"),
        (
            edited(lambda d: (d["calibration"]["p"].insert(0, 0.5),
                              d["calibration"]["bias"].insert(0, -1.0))),
            "monotone",
        ),
    ],
)
def test_bad_bench_files_fail_in_one_line_before_any_voltage(
    tmp_path: Path, edit, needle: str
) -> None:
    with WireEmulator(EmulatorConfig(seed=0)) as emu:
        text = edit(emu.bench_toml())
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises((ConfigError, BenchError, ValueError)) as info:
            load_bench(path)
        message = str(info.value)
        assert needle in message and "\n" not in message
        assert not emu.board.driven.any() and emu.board.pulses == 0


def test_node_mapped_to_no_channel_refused_before_any_voltage(tmp_path: Path) -> None:
    """Without a sense channel on node 3 of the free twin, task ii (which reads node 3)
    is refused before anything is applied."""
    with WireEmulator(EmulatorConfig(seed=0)) as emu:
        block = '\n[[channels]]\nname = "2003"\ntwin = "free"\nnode = 3\nkind = "sense"\n'
        text = emu.bench_toml()
        start = text.index(block)
        end = text.index("[[channels]]", start + len(block))
        path = tmp_path / "missing.toml"
        path.write_text(text[:start] + "\n" + text[end:])
        out = tmp_path / "run.h5"
        assert main(["train", "--quiet", "--bench", str(path), "--out", str(out)]) == 2
        assert not out.exists()
        assert not emu.board.driven.any() and emu.board.pulses == 0


class FaultAt(Observer):
    """Calls ``fault()`` once, right after step ``at`` was recorded."""

    def __init__(self, at: int, fault) -> None:
        self.at, self.fault = at, fault

    def step(self, record: StepRecord) -> None:
        if record.step == self.at:
            self.fault()


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        (lambda emu: emu.serial.simulate_reset(), "clock board"),
        (lambda emu: emu.serial.drop(), "clock board"),
        (lambda emu: emu.scpi.stall(2.0), "timed out"),
        (lambda emu: emu.scpi.inject_error(-222, "Data out of range"), "-222"),
    ],
    ids=["board-reset", "port-gone", "visa-timeout", "instrument-error"],
)
def test_fault_mid_run_ends_it_safely_with_every_acknowledged_step(tmp_path: Path, fault, needle):
    """A fault after step 40 ends the run with one line naming the instrument; the bench
    is left safe and the file, marked incomplete, holds the 41 acknowledged steps."""
    with WireEmulator(EmulatorConfig(seed=2)) as emu:
        text = emu.bench_toml().replace("timeout_ms = 2000", "timeout_ms = 500")
        path = tmp_path / "wire.toml"
        path.write_text(text)
        bench = load_bench(path)
        out = tmp_path / "run.h5"
        trainer = Trainer(
            bench,
            load_task("ii"),
            settings_from(steps=200, test_every=0),
            [RunWriter(out), FaultAt(40, lambda: fault(emu))],
        )
        with pytest.raises(BenchError) as info:
            trainer.run()
        bench.close()
        message = str(info.value)
        assert needle in message and "\n" not in message
        board = emu.board
        assert not board.driven.any() and np.all(board.applied == 0.0)
        assert board.bias > board.oscillators.high.max()
    with RunReader(out) as run:
        assert not run.complete
        assert run.n_steps == 41
        assert needle in run.summary()["message"]
