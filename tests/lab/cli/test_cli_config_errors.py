"""Configuration errors reported as configuration errors (``twinlab: error: ...``, exit 2,
nothing written), in a real subprocess of ``python -m lab.cli``: a current limit the
first step would exceed, a task voltage outside the bench limits, argparse errors, a run
that never closed, calibrate at p = 0 and 1, the progress bar's error label."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.runs import RunReader
from tests.lab.cli.test_cli import ROOT, run_cli, wait_for_steps

EMULATOR_BENCH = ROOT / "data" / "benches" / "emulator.toml"


def _bench(tmp_path: Path, extra: str, name: str = "bench.toml") -> Path:
    """The default emulator bench file plus ``extra`` TOML."""
    path = tmp_path / name
    path.write_text(EMULATOR_BENCH.read_text() + "\n" + extra)
    return path


def _train(tmp_path: Path, extra: str, *args: str) -> tuple[int, str, str, Path]:
    """`twinlab train --quiet` on the emulator bench plus ``extra`` TOML, into run.h5:
    (status, stdout, stderr, the run file's path)."""
    bench = _bench(tmp_path, extra)
    out = tmp_path / "run.h5"
    status, stdout, stderr = run_cli("train", "--quiet", "--bench", str(bench), *args,
                                     "--out", str(out))  # fmt: skip
    return status, stdout, stderr, out


def test_a_current_limit_the_first_step_exceeds_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    status, stdout, stderr, out = _train(tmp_path, "[currents]\nedge = 1e-6\n", "--steps", "20")
    err = stderr.strip().splitlines()
    assert status == 2, stderr
    assert len(err) == 1 and err[0].startswith("twinlab: error: edge "), err
    assert "above the bench's edge current limit 0.001 mA (bench file field " \
        "'currents.edge'); nothing was written" in err[0], err
    assert err[0].endswith("nothing was written"), err  # no "run file ... (incomplete)"
    assert not out.exists() and stdout == ""


def test_the_clamped_outputs_of_the_first_step_are_checked_before_the_run_file(
    tmp_path: Path,
) -> None:
    # ii at the default codes: the inputs alone are within 0.06 mA per edge, the clamped
    # twin's outputs at V_C = eta V_D + (1 - eta) V_F put 0.0609 mA through edge 7-9
    status, _, stderr, out = _train(tmp_path, "[currents]\nedge = 6.0e-5\n", "--steps", "20")
    assert status == 2, stderr
    assert "of the clamped twin" in stderr and "clamped outputs" in stderr, stderr
    assert not out.exists()


def test_a_current_limit_hit_after_the_codes_drifted_stops_the_run(tmp_path: Path) -> None:
    # every code at 90: step 0 is within 0.044 mA per edge; training lowers edge 1-8's
    # code until it would carry more (step 66), a run-time stop with the file closed
    status, _, stderr, out = _train(tmp_path, "initial_code = 90\n[currents]\nedge = 4.4e-5\n")
    err = stderr.strip().splitlines()
    assert status == 1, stderr
    assert len(err) == 1 and err[0].startswith("twinlab: error: edge "), err
    assert " at step " in err[0] and f"run file {out} (incomplete)" in err[0], err
    with RunReader(out) as run:
        assert not run.info["complete"] and "currents.edge" in run.info["message"]
        assert run.n_steps > 0


def test_a_task_voltage_outside_the_bench_limits_names_the_file_and_field(
    tmp_path: Path,
) -> None:
    cases = {
        "high_in": ("inputs = { 8 = 9.0 }\noutputs = { 3 = 1.0 }\nfixed = { 9 = 0.0 }\n",
                    "field 'inputs.8'): 9.0 V on node 8 of the free twin"),
        "high_out": ("inputs = { 8 = 5.0 }\noutputs = { 3 = 7.0 }\nfixed = { 9 = 0.0 }\n",
                     "field 'outputs.3'): 7.0 V on node 3 of the clamped twin"),
        "low_fixed": ("inputs = { 8 = 5.0 }\noutputs = { 3 = 1.0 }\nfixed = { 9 = -3.0 }\n",
                      "field 'fixed.9'): -3.0 V on node 9 of the free twin"),
    }
    for name, (body, needle) in cases.items():
        task = tmp_path / f"{name}.toml"
        task.write_text(f'kind = "allostery"\nnetwork = "twin16"\n{body}')
        out = tmp_path / f"{name}.h5"
        status, _, stderr = run_cli("train", "--quiet", "--task", str(task), "--out", str(out))
        err = stderr.strip().splitlines()
        assert status == 2 and len(err) == 1, stderr
        assert err[0].startswith(f"twinlab: error: task {name!r} (file {task}, "), err
        assert needle in err[0] and "outside the channel limits [-1, 6] V" in err[0], err
        assert not out.exists()


def test_a_generated_task_voltage_outside_the_bench_limits_names_the_example(
    tmp_path: Path,
) -> None:
    bench = tmp_path / "tight.toml"
    bench.write_text(EMULATOR_BENCH.read_text().replace("limits = [-1.0, 6.0]",
                                                        "limits = [-1.0, 0.5]"))
    out = tmp_path / "run.h5"
    status, _, stderr = run_cli("train", "--quiet", "--task", "regression", "--bench",
                                str(bench), "--out", str(out))
    assert status == 2, stderr
    assert "twinlab: error: task 'regression' (file " in stderr, stderr
    assert "regression.toml, training example 0): " in stderr, stderr
    assert not out.exists()


def test_a_bad_command_line_is_one_line_without_the_usage_block() -> None:
    cases = [
        (["train", "--p", "x"], "argument --p: invalid float value: 'x'", "twinlab train"),
        (["train", "--order", "sideways"], "argument --order: invalid choice", "twinlab train"),
        (["nosuch"], "invalid choice: 'nosuch'", "twinlab"),
        ([], "the following arguments are required: command", "twinlab"),
        (["info"], "the following arguments are required: run", "twinlab info"),
    ]
    for args, needle, prog in cases:
        status, stdout, stderr = run_cli(*args)
        err = stderr.strip().splitlines()
        assert status == 2 and stdout == "", (args, stderr)
        assert len(err) == 1 and err[0].startswith("twinlab: error: "), (args, err)
        assert needle in err[0] and err[0].endswith(f"(see '{prog} --help')"), (args, err)


@pytest.mark.parametrize("command", [["train"], ["check", "--bench", "emulator"]])
def test_an_unknown_option_points_to_its_commands_help(command: list[str]) -> None:
    """``twinlab train --foo``: the pointer names the command given (argparse reports
    unrecognised arguments from the top-level parser; before: ``(see 'twinlab --help')``)."""
    status, stdout, stderr = run_cli(*command, "--foo", "bar")
    assert status == 2 and stdout == "", stderr
    assert stderr == (
        f"twinlab: error: unrecognized arguments: --foo bar (see 'twinlab {command[0]} --help')\n"
    )


def test_help_still_shows_the_usage() -> None:
    status, stdout, _ = run_cli("train", "--help")
    assert status == 0 and stdout.startswith("usage: twinlab train [-h]")


def _killed_run(tmp_path: Path) -> Path:
    """A run file whose ``twinlab train`` was SIGKILLed once the file had steps."""
    out = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "train", "--quiet", "--steps", "100000000",
         "--out", str(out)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_steps(out, 120.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return out


def test_info_on_a_killed_run_says_it_did_not_close(tmp_path: Path) -> None:
    out = _killed_run(tmp_path)
    status, stdout, stderr = run_cli("info", str(out), "--json")
    assert status == 0, stderr
    info = json.loads(stdout)
    assert info["complete"] is False and info["end_time"] is None and info["steps"] > 0
    assert info["message"] == (
        f"incomplete: the run did not close (killed?); {info['steps']} steps recorded")
    status, stdout, _ = run_cli("info", str(out))
    assert status == 0
    line = next(ln for ln in stdout.splitlines() if ln.split()[:1] == ["message"])
    assert "the run did not close (killed?)" in line, stdout


def test_calibrate_says_why_the_correlation_is_undefined_at_p_0_and_1(tmp_path: Path) -> None:
    import math
    import tomllib

    out = tmp_path / "cal.toml"
    status, stdout, stderr = run_cli("calibrate", "--quiet", "--points", "5", "--pulses", "50",
                                     "--out", str(out))
    assert status == 0, stderr
    assert "nan" not in stdout, stdout
    rows = [ln.split(None, 3) for ln in stdout.splitlines()[1:6]]
    ends = {float(p): corr for _, p, _, corr in rows if float(p) in (0.0, 1.0)}
    assert ends == {1.0: "n/a (p = 1: every edge updated at every pulse)",
                    0.0: "n/a (p = 0: no updates)"}, stdout
    corr = tomllib.loads(out.read_text())["correlation"]
    p = tomllib.loads(out.read_text())["measured_p"]
    for c, pk in zip(corr, p, strict=True):  # undefined is not 0.0 ("uncorrelated")
        assert math.isnan(c) == (pk in (0.0, 1.0)), (corr, p)


def test_the_progress_bars_error_names_the_step_it_was_measured_at(
    capsys: pytest.CaptureFixture,
) -> None:
    import re

    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.cli.progress import progress_bar
    from lab.hal.benchfile import load_bench
    from lab.tasks import load_task

    bar = progress_bar(600, every=0.0)  # every 16th step shows its error, the last at the end
    summary = Trainer(load_bench("emulator"), load_task("ii"), settings_from(steps=600),
                      [bar]).run()
    assert summary.complete
    shown = re.findall(r"error=([0-9.e+-]+) V\^2@(\d+)", capsys.readouterr().err)
    assert shown, "no error shown"
    assert {int(step) for _, step in shown} == {*range(0, 600, 16), 599}
    # a short run on the default interval: its bar ends on its last step's error (it
    # showed step 0's, 0.48 V^2 against 1e-4 at step 200: training looked broken)
    bar = progress_bar(200)
    Trainer(load_bench("emulator"), load_task("ii"), settings_from(steps=200), [bar]).run()
    shown = re.findall(r"error=([0-9.e+-]+) V\^2@(\d+)", capsys.readouterr().err)
    assert shown and shown[-1][1] == "199"
