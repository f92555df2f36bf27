"""What ``twinlab train`` and ``twinlab info`` say on the terminal about the bench and the
errors: estimated codes (a probe-less bench), which error the bar and the summary show,
the bench and settings of a run file (user trial)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lab.cli import main
from lab.hal.benchfile import bench_dir
from lab.runs import RunReader


def _train(capsys: pytest.CaptureFixture, out: Path, *args: str) -> tuple[str, str]:
    assert main(["train", "--out", str(out), *args]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_a_probe_less_bench_says_the_codes_are_estimated_and_info_shows_the_bench(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator

    out = tmp_path / "run.h5"
    with WireEmulator(EmulatorConfig(seed=0)) as emu:  # no probe, as on a real bench
        bench_file = emu.write_bench(tmp_path / "B.toml")
        stdout, _ = _train(capsys, out, "--quiet", "--bench", str(bench_file), "--steps", "20")
    line = stdout.strip()
    assert "\n" not in line
    found = re.search(r", codes estimated from node voltages \((\d+) resyncs?, (\d+) DAQ "
                      r"transactions\), run file ", line)
    assert found, line
    assert int(found.group(2)) > 0
    with RunReader(out) as run:
        assert run.codes == "estimated"

    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    bench = re.search(r"^ *bench  (.*)$", text, re.M)
    assert bench, text
    assert bench.group(1).startswith(f"instruments, file {bench_file.resolve()}")
    assert "codes estimated from node voltages" in bench.group(1)

    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["bench"]["kind"] == "instruments"
    assert info["bench"]["file"] == str(bench_file.resolve())
    assert info["bench"]["codes"] == "estimated"
    assert info["settings"]["steps"] == 20 and info["settings"]["task"] == "ii"
    assert {"p", "eta", "seed", "order", "test_every", "estimate", "rule"} <= set(info["settings"])


def test_the_emulator_says_nothing_of_codes_and_info_shows_its_bench_and_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run.h5"
    stdout, stderr = _train(capsys, out, "--quiet", "--steps", "60", "--seed", "4",
                            "--bench-seed", "2")
    assert len(stdout.splitlines()) == 1 and not stderr
    assert "codes" not in stdout
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    shipped = str((bench_dir() / "emulator.toml").resolve())  # the default bench
    assert re.search(rf"^ *bench  emulator, file {re.escape(shipped)}, seed 2; codes read "
                     r"back$", text, re.M), text
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["bench"] == {"kind": "emulator", "file": shipped, "seed": 2, "codes": "exact"}
    assert info["settings"]["seed"] == 4 and info["settings"]["steps"] == 60


def test_the_summary_and_the_bar_say_which_error_each_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # a single-example task: the summary's final error is the mean training error of the
    # last 50 steps, the bar's one step's training error
    stdout, stderr = _train(capsys, tmp_path / "ii.h5", "--steps", "80")
    assert re.match(r"80 steps, final scaled error \S+ \(final \S+ V\^2, initial \S+ V\^2: "
                    r"training error, mean of the last 50 steps and the first step\), run ",
                    stdout), stdout
    assert re.search(r"train error=[0-9.e+-]+ V\^2@79", stderr), stderr
    # a multi-example task tested twice: the first and last test errors
    stdout, _ = _train(capsys, tmp_path / "reg.h5", "--quiet", "--task", "regression",
                       "--steps", "40", "--test-every", "20")
    assert re.match(r"40 steps, final scaled error \S+ \(final \S+ V\^2, initial \S+ V\^2: "
                    r"test error, the last and the first evaluation\)", stdout), stdout


def test_info_reads_a_run_file_written_before_the_bench_file_was_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import h5py

    out = tmp_path / "run.h5"
    _train(capsys, out, "--quiet", "--steps", "20")
    with h5py.File(out, "r+") as f:  # as an older writer left it: no "file" in bench_json
        bench = json.loads(f.attrs["bench_json"])
        del bench["file"]
        f.attrs["bench_json"] = json.dumps(bench)
    assert main(["info", str(out)]) == 0
    assert re.search(r"^ *bench  emulator, seed 0; codes read back$", capsys.readouterr().out,
                     re.M)
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bench"]["file"] is None
