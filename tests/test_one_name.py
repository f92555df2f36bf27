"""One physical thing, one name: aliased or unsafe channel names and a node given twice
are refused by `twinlab train` in one line, exit 2, before any instrument is opened,
any voltage applied or any run file created (a real subprocess, the wire emulator)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

from lab.emulator import EmulatorConfig
from lab.emulator.wire.rehearsal import WireEmulator

pytest.importorskip("pyvisa")
pytest.importorskip("serial")

ROOT = Path(__file__).resolve().parents[1]


def twinlab(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def refused(proc: subprocess.CompletedProcess[str], out: Path, *needles: str) -> str:
    """Exit 2, one stderr line starting ``twinlab: error:`` containing ``needles``, no run
    file (its directory is left empty)."""
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("twinlab: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists() and list(out.parent.iterdir()) == []
    return lines[0]


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        # a clamped drive spelled "08" would land on the free twin's drive channel 8
        ('name = "1008"', 'name = "08"', ("'08'", "'8'", "mapped twice")),
        # SCPI injection: the name would be sent as written
        ('name = "1008"', 'name = "1008;*RST"', ("'1008;*RST'", "';'", "'*'")),
        ('name = "1001"', 'name = "1:16"', ("'1:16'", "':'")),
        # the bias spelled as a drive channel of the map
        ('channel = "9000"', 'channel = "0001"', ("'0001'", "'1'", "bias")),
    ],
    ids=["aliased-08", "injection", "range-name", "bias-alias"],
)
def test_bench_with_aliased_or_unsafe_channel_names_is_refused(tmp_path, old, new, needles):
    with WireEmulator(EmulatorConfig(seed=0)) as emu:
        emu.scpi.received = deque()  # every line the DAQ is sent
        text = emu.bench_toml()
        assert old in text
        bench = tmp_path / "bench.toml"
        bench.write_text(text.replace(old, new, 1))
        out = tmp_path / "runs" / "run.h5"
        out.parent.mkdir()  # a named --out's directory must exist
        proc = twinlab("train", "--quiet", "--steps", "5", "--bench", str(bench), "--out", str(out))
        refused(proc, out, str(bench), *needles)
        assert emu.board.pulses == 0 and not emu.board.driven.any()
        assert list(emu.scpi.received) == []  # the DAQ was never even opened


def test_task_with_one_node_under_two_spellings_is_refused(tmp_path: Path) -> None:
    task = tmp_path / "twice.toml"
    task.write_text(
        'kind = "allostery"\nnetwork = "twin16"\n'
        'inputs = { 8 = 5.0, "08" = 3.0 }\noutputs = { 3 = 4.0 }\n'
    )
    out = tmp_path / "runs" / "run.h5"
    out.parent.mkdir()  # a named --out's directory must exist
    proc = twinlab("train", "--quiet", "--steps", "5", "--task", str(task), "--out", str(out))
    refused(proc, out, str(task), "'8'", "'08'", "node 8")
