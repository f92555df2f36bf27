"""SIGINT, SIGTERM and SIGHUP end a run the same way (issue 11, item 1): over the wire,
a signal to `twinlab train --bench`'s process group leaves the emulated board in the
same state, and the run file closed incomplete with an end time and the signal named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lab.emulator import EmulatorConfig
from lab.emulator.wire.rehearsal import WireEmulator
from lab.runs import RunReader

pytest.importorskip("pyvisa")
pytest.importorskip("serial")

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _twinlab(*args: str) -> subprocess.Popen:
    """``twinlab ARGS`` in its own process group (as a terminal would start it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "lab.cli", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_steps(out: Path, proc: subprocess.Popen, n: int = 1) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
        if out.exists():
            try:
                with RunReader(out, swmr=True) as run:
                    if run.n_steps >= n:
                        return
            except Exception:  # the file is being created
                continue
    pytest.fail("the run never wrote a step")


def _board_state(emu: WireEmulator) -> dict[str, np.ndarray]:
    board = emu.board
    return {
        "driven": board.driven.copy(),
        "applied": board.applied.copy(),
        "bias": np.array([board.bias]),
        "v_free": board.node_voltages(0),
        "v_clamped": board.node_voltages(1),
    }


def _signalled_run(tmp_path: Path, signum: int) -> tuple[dict, dict, str, int]:
    with WireEmulator(EmulatorConfig(seed=4)) as emu:
        bench = emu.write_bench(tmp_path / f"wire{signum}.toml")
        out = tmp_path / f"run{signum}.h5"
        proc = _twinlab(
            "train", "--quiet", "--bench", str(bench), "--steps", "100000000", "--out", str(out)
        )
        try:
            _wait_for_steps(out, proc)
            assert emu.board.driven.any()  # the run is live: outputs are driven
            os.killpg(proc.pid, signum)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        state = _board_state(emu)
    with RunReader(out) as run:
        summary = run.summary()
        assert not run.complete
        assert summary["end_time"]
        assert run.n_steps == emu.board.pulses  # every acknowledged step is in the file
        assert f"after {run.n_steps} steps" in summary["message"]  # the count is the rows'
    return state, summary, err, proc.returncode


def test_sigterm_and_sighup_leave_the_board_as_ctrl_c_does(tmp_path: Path) -> None:
    results = {signum: _signalled_run(tmp_path, signum) for signum in SIGNALS}
    reference = results[signal.SIGINT][0]
    assert not reference["driven"].any()  # Ctrl-C: every output released ...
    assert np.all(reference["applied"] == 0.0)  # ... at its safe value
    for signum, (state, summary, err, code) in results.items():
        name = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name
        assert code == 128 + signum, err
        assert name in summary["message"], summary["message"]
        lines = err.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and "bench safe" in lines[0], err
        for key, value in state.items():
            # node voltages include the ADC's noise-free solve of the same codes; the
            # codes differ between runs, but with every output released at 0 V the
            # network's node voltages are all 0 V whatever the codes
            np.testing.assert_allclose(value, reference[key], atol=1e-12, err_msg=key)


def test_sigterm_during_start_up_is_one_line(tmp_path: Path) -> None:
    """A signal while the command is still opening the bench (here: a clock board that
    never sends its banner, on a pty nobody answers): one line, 128 + n, no run file."""
    import re

    master, slave = os.openpty()
    try:
        with WireEmulator(EmulatorConfig(seed=1)) as emu:  # the DAQ answers, the clock not
            text = emu.bench_toml()
            text = re.sub(r'port = "[^"]*"', f'port = "{os.ttyname(slave)}"', text, count=1)
            text = text.replace("[clock]\n", "[clock]\nready_timeout = 120.0\n", 1)
            bench = tmp_path / "silent.toml"
            bench.write_text(text)
            out = tmp_path / "r.h5"
            proc = _twinlab("train", "--quiet", "--bench", str(bench), "--steps", "10",
                            "--out", str(out))  # fmt: skip
            time.sleep(3.0)  # importing, then waiting (up to 120 s) for the banner
            assert proc.poll() is None, proc.communicate()
            os.killpg(proc.pid, signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            assert not emu.board.driven.any() and emu.board.pulses == 0
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert len(err.strip().splitlines()) == 1 and "SIGTERM" in err, err
    assert "Traceback" not in err and not out.exists()


def test_calibrate_sigterm_leaves_bench_safe_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "cal.toml"
    with WireEmulator(EmulatorConfig(seed=2), probe=True) as emu:  # calibrate needs it
        bench = emu.write_bench(tmp_path / "wire.toml")
        proc = _twinlab(
            "calibrate", "--quiet", "--bench", str(bench), "--points", "5", "--pulses",
            "100000", "--out", str(out),
        )
        try:
            deadline = time.monotonic() + 60
            while emu.board.pulses < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGHUP)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        board = emu.board
        assert not board.driven.any()
        assert board.bias > board.oscillators.high.max()  # p = 0
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert "SIGHUP" in err and "bench safe" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_study_stopped_by_sigterm_resumes_cleanly(tmp_path: Path) -> None:
    """SIGTERM to a study's process group (parent and its workers): one line, 143, every
    finished point kept; the same command then finishes without recomputing them."""
    out = tmp_path / "studies"
    argv = ["study", "collapse", "--tasks", "8", "--seeds", "1", "--steps", "3000",
            "--workers", "2", "--out", str(out), "--quiet"]  # fmt: skip
    sweep = out / "collapse.jsonl"
    proc = _twinlab(*argv)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if sweep.exists() and sweep.read_bytes().count(b"\n") >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert len(err.strip().splitlines()) == 1 and "SIGTERM" in err and "resume" in err, err
    kept = sweep.read_bytes()
    n_kept = kept.count(b"\n")
    assert 1 <= n_kept < 8
    again = _twinlab(*argv)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    final = sweep.read_bytes()
    assert final.startswith(kept) and final.count(b"\n") == 8  # nothing recomputed
