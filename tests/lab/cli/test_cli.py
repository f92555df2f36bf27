"""The ``twinlab`` command as a user runs it: defaults, summary, info, bad input, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from lab.cli import main
from lab.runs import RunReader

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args: str) -> tuple[int, str, str]:
    """``twinlab ARGS`` in a subprocess from the repo root (as the README runs it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def wait_for_steps(out: Path, timeout: float = 60.0) -> None:
    """Until the run file ``out`` a training subprocess writes has steps (its first
    periodic flush), at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if out.exists():
            try:
                with RunReader(out, swmr=True) as run:
                    if run.n_steps > 0:
                        return
            except Exception:
                continue


def test_train_defaults_then_info_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run.h5"
    assert main(["train", "--quiet", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("2000 steps, final scaled error") and str(out) in line
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in (
        "steps",
        "task",
        "p",
        "eta",
        "complete",
        "initial_error",
        "final_error",
        "scaled_error",
    ):
        assert key in info
    assert info["steps"] == 2000 and info["task"] == "ii" and info["complete"] is True
    assert info["p"] == 1.0 and info["eta"] == 0.5
    assert info["scaled_error"] < 0.05
    with RunReader(out) as run:  # the summary agrees with the rows
        err = run.steps["error"][:]
    assert info["initial_error"] == pytest.approx(err[0])
    assert info["final_error"] == pytest.approx(err[-50:].mean())


@pytest.mark.parametrize("rate", [20.0, 100.0])
def test_rate_paces_the_run_and_is_recorded(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            rate: float) -> None:
    """``--rate``: the recorded step times (the file's ``time`` column, not the test's wall
    clock) advance at the chosen rate within 10 %; the setting is in the file."""
    out = tmp_path / "paced.h5"
    n = int(2 * rate) + 1  # about two seconds
    assert main(["train", "--quiet", "--rate", str(rate), "--steps", str(n),
                 "--out", str(out)]) == 0
    with RunReader(out) as run:
        t = run.steps["time"][:]
        assert run.settings["rate"] == rate
    measured = (n - 1) / (t[-1] - t[0])
    assert abs(measured - rate) <= 0.1 * rate, measured


def test_run_file_opens_in_plain_h5py_as_nexus(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    assert main(["train", "--quiet", "--steps", "300", "--p", "0.5", "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        entry = f[f.attrs["default"]]
        data = entry[entry.attrs["default"]]
        assert data.attrs["NX_class"] == "NXdata"
        signal_name = data.attrs["signal"]
        axis = data.attrs["axes"]
        axis = axis[0] if not isinstance(axis, str) else axis
        assert data[signal_name].shape == data[axis].shape == (300,)
        np.testing.assert_array_equal(data[axis][:], np.arange(300))
        masks = data["update_mask"][:]
    assert 0.4 < masks.mean() < 0.6  # p = 0.5 recorded


def test_default_output_lands_in_data_runs(tmp_path: Path) -> None:
    code, out, err = run_cli("train", "--quiet", "--steps", "50")
    assert code == 0, err
    path = Path(out.strip().rsplit("run file ", 1)[1])
    full = ROOT / path
    try:
        assert path.parts[:2] == ("data", "runs") and full.exists()
    finally:
        full.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--task", "nonesuch"], "unknown task 'nonesuch'"),
        (["--p", "0"], "'p'"),
        (["--p", "1.2"], "'p'"),
        (["--eta", "0"], "'eta'"),
        (["--eta", "-1"], "'eta'"),
        (["--steps", "0"], "'steps'"),
        (["--rate", "-1"], "'rate'"),
        (["--out", "/proc/nonexistent/run.h5"], "/proc/nonexistent/run.h5"),
        (["--bench", "nope.toml"], "nope.toml"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], needle: str
) -> None:
    argv = ["train", "--quiet", *args]
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "run.h5")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("twinlab: error:") and "\n" not in err
    assert needle in err
    assert not (tmp_path / "run.h5").exists()


def test_task_with_missing_node_and_voltage_beyond_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    missing = tmp_path / "missing.toml"
    missing.write_text(
        'kind = "allostery"\nnetwork = "twin16"\n'
        "inputs = { 8 = 5.0 }\noutputs = { 12 = 1.0 }\nfixed = { 9 = 0.0 }\n"
    )
    high = tmp_path / "high.toml"
    high.write_text(
        'kind = "allostery"\nnetwork = "twin16"\n'
        "inputs = { 8 = 9.0 }\noutputs = { 3 = 1.0 }\nfixed = { 9 = 0.0 }\n"
    )
    for task, needle in ((missing, "node 12"), (high, "9.0 V on node 8")):
        out = tmp_path / f"{task.stem}.h5"
        assert main(["train", "--quiet", "--task", str(task), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err
        assert not out.exists()


def test_info_refuses_what_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(os.urandom(4096))
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    for path in (junk, plain, tmp_path / "missing.h5"):
        assert main(["info", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("twinlab: error:") and str(path) in err and "\n" not in err


def test_ctrl_c_exits_130_with_safe_bench_and_incomplete_file(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "train",
            "--quiet",
            "--steps",
            "100000000",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_steps(out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "bench safe" in stderr
    with RunReader(out) as run:
        assert not run.complete
        assert run.n_steps > 0
        assert "Ctrl-C" in run.summary()["message"]
