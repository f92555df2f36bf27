"""Command-line habits: --version, a closed pipe, -v / --log-file / --io-log, the window
commands' options and their checks before any window opens (real subprocesses, the real
drivers over the wire-level emulator)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lab import logs
from lab.cli import main
from lab.emulator import EmulatorConfig
from lab.emulator.wire.rehearsal import BENCH_COMMENT, WireEmulator
from lab.hal.benchfile import emulator_config
from lab.hal.calibration import toml_text
from lab.tasks import load_task

ROOT = Path(__file__).resolve().parents[3]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}"


def twinlab(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """``twinlab ARGS`` in a subprocess (QT_QPA_PLATFORM=offscreen unless given)."""
    environ = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", **env)
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twinlab: error: "), proc.stderr
    return lines[0]


@pytest.fixture(autouse=True)
def _no_leftover_logging() -> Iterator[None]:
    yield
    logs.reset()


def test_version_is_the_projects(capsys: pytest.CaptureFixture) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"twinlab {version}"


def test_a_bugs_value_error_is_a_traceback_and_exit_1_not_bad_input() -> None:
    """A ValueError from inside a command (a bug, not the user's input) is not reported as
    ``twinlab: error:`` with exit 2: the interpreter prints its traceback, exit 1."""
    code = (
        "import sys, lab.cli as cli, lab.cli.tasks\n"
        "def broken(args):\n"
        "    raise ValueError('bug')\n"
        "lab.cli.tasks.cmd_tasks = broken\n"
        "sys.exit(cli.main(['tasks']))\n"
    )
    environ = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "twinlab: error:" not in proc.stderr
    assert proc.stderr.startswith("Traceback (most recent call last):"), proc.stderr
    assert proc.stderr.rstrip().endswith("ValueError: bug"), proc.stderr


def test_a_closed_pipe_ends_quietly_with_141() -> None:
    """``twinlab tasks | head -0``: the reader is gone before the first line is written."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "tasks"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the only reader: every write now fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 141
    assert err == ""


def test_a_progress_bar_on_a_closed_stderr_does_not_stop_training(tmp_path: Path) -> None:
    """Standard error is a pipe nobody reads any more (``twinlab train 2> >(exit)``): the
    progress bar's first write fails with EPIPE. Before, that ended the run at step 0
    (status 141, an empty incomplete file); the bar is not critical, so the run goes on."""
    from lab.runs import RunReader

    out = tmp_path / "run.h5"
    read, write = os.pipe()
    os.close(read)  # the only reader: every write to standard error now fails
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lab.cli", "train", "--steps", "600", "--out", str(out)],
            cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
            stderr=write, text=True, timeout=120,
        )
    finally:
        os.close(write)
    assert proc.returncode == 0
    assert proc.stdout.startswith("600 steps, final scaled error ") and str(out) in proc.stdout
    with RunReader(out) as run:
        assert run.complete and run.n_steps == 600


def test_a_pipe_through_head_keeps_the_first_line() -> None:
    proc = subprocess.run(
        f"set -o pipefail; {sys.executable} -m lab.cli tasks | head -1",
        shell=True, executable="/bin/bash", cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120,
    )
    first = sorted(p.stem for p in (ROOT / "data" / "tasks").glob("*.toml"))[0]
    assert proc.stdout.startswith(f"{first} ") and proc.stdout.count("\n") == 1
    assert proc.stderr == ""
    assert proc.returncode in (0, 141)  # 0 when all fitted in the pipe before head left


def test_verbose_and_log_file_after_or_before_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    log_file = tmp_path / "twinlab.log"
    out = tmp_path / "run.h5"
    assert main(["train", "--quiet", "--steps", "20", "--out", str(out), "-v",
                 "--log-file", str(log_file)]) == 0
    err = capsys.readouterr().err
    assert re.search(rf"^{STAMP} INFO lab\.cli: twinlab ", err, re.MULTILINE)
    assert "DEBUG" not in err  # -v is info
    text = log_file.read_text()
    assert re.search(rf"^{STAMP} INFO lab\.cli: twinlab .*train", text, re.MULTILINE)
    assert re.search(rf"^{STAMP} INFO lab\.runs: run file .*run\.h5 closed: 20 steps, complete",
                     text, re.MULTILINE)
    # handlers are gone after main: nothing more reaches the file
    logging.getLogger("lab.cli").warning("after main")
    assert "after main" not in log_file.read_text()
    assert main(["-vv", "tasks"]) == 0
    assert re.search(rf"^{STAMP} INFO lab\.cli: ", capsys.readouterr().err, re.MULTILINE)


def test_a_log_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(twinlab("--log-file", "/proc/nope/x.log", "tasks"))
    assert "/proc/nope/x.log: cannot open the log file" in line


def test_io_log_records_every_scpi_and_serial_exchange(tmp_path: Path) -> None:
    """Real drivers (pyvisa-py over TCP, pyserial on a pty) against the wire emulator."""
    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.emulator.wire.rehearsal import WireEmulator

    emulator = WireEmulator(emulator_config(None), scpi_port=0, firmware="python")
    emulator.start()
    try:
        bench = tmp_path / "wire.toml"
        bench.write_text(emulator.bench_toml())
        io_file = tmp_path / "io.log"
        assert main(["--io-log", str(io_file), "train", "--bench", str(bench), "--steps", "3",
                     "--quiet", "--out", str(tmp_path / "run.h5")]) == 0
        # power-cycled (the estimator refuses a board trained since power-up)
        emulator.board.set_codes(np.full(emulator.board.network.n_edges, 64))
        assert main(["train", "--bench", str(bench), "--steps", "3", "--quiet",
                     "--out", str(tmp_path / "quiet.h5")]) == 0
    finally:
        emulator.close()
    lines = io_file.read_text().splitlines()
    assert lines and all(re.match(rf"{STAMP} .+ (->|<-|!!) ", line) for line in lines)
    scpi = [ln for ln in lines if "TCPIP::" in ln]
    serial = [ln for ln in lines if emulator.serial.path in ln]
    assert any(" -> '*IDN?'" in ln for ln in scpi) and any(" <- " in ln for ln in scpi)
    pulses = [ln for ln in serial if re.search(r" -> '#\d+ PULSE 1 ", ln)]
    acks = [ln for ln in serial if re.search(r" <- '#\d+ OK 1\\r'", ln)]
    assert len(pulses) >= 3 and len(acks) >= 3  # one per training step, at least
    assert len(lines) == len(io_file.read_text().splitlines())  # the second run added none


def test_without_any_option_the_drivers_do_not_log_io() -> None:
    assert not logs.io_enabled()
    logs.configure(verbose=1)
    assert not logs.io_enabled()  # -v is info: no I/O
    logs.configure(verbose=2)
    assert logs.io_enabled()
    logs.reset()
    assert not logs.io_enabled()


def test_gui_help_lists_the_readme_options() -> None:
    proc = twinlab("gui", "--help")
    assert proc.returncode == 0
    for option in ("--bench", "--task", "--p", "--eta", "--steps", "--seed", "--out",
                   "--start", "--verbose", "--log-file", "--io-log"):
        assert option in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--p", "2"], "field 'p'"),
        (["--task", "nope"], "unknown task 'nope'"),
        (["--bench", "nope.toml"], "nope.toml: bench file not found"),
        (["--seed", "18446744073709551616"], "less than or equal to 9223372036854775807"),
        (["--seed", "1099511627776"], "the window takes seeds up to 2147483647"),
        (["--task", "iv", "--oops"], "unrecognized arguments: --oops"),
    ],
)
def test_gui_options_are_checked_before_any_window(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """No display at all: the error is the option's, so nothing got as far as a window."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "lab.cli", "gui", *args], cwd=tmp_path,
                          env=dict(env, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="xcb"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert needle in proc.stderr.strip().splitlines()[-1]
    assert "display" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('kind = "drvie"\n', "field 'kind': expected 'emulator' or 'instruments', got 'drvie'"),
        ('kind = "emulator"\nlimits = [6.0, -1.0]\n', "field 'limits'"),
        ('kind = "emulator"\n[emulator]\nnetwork = "nope"\n', "unknown network 'nope'"),
        ('kind = "emulator"\n[currents]\nchannels = { "ao.free.99" = 0.001 }\n',
         "field 'currents.channels', key 'ao.free.99'"),
        ("instruments", "field 'daq.dialect'"),
        ("no-sense-2003", "field 'channels': node 3 of the free twin has no sense channel"),
    ],
)
def test_gui_checks_the_bench_file_as_train_does_before_any_window(
    tmp_path: Path, text: str, needle: str
) -> None:
    """What twinlab train refuses in a bench file before opening anything, twinlab gui
    refuses in the terminal: one line, exit 2, no window (no display at all here), no
    instrument opened (the instruments bench names a port nobody serves)."""
    if text == "instruments":
        with WireEmulator(EmulatorConfig(seed=0)) as emu:
            text = emu.bench_toml()
        text = re.sub(r'dialect = "[^"]*"', 'dialect = "nonesuch"', text, count=1)
        assert "nonesuch" in text
    elif text == "no-sense-2003":  # what the task needs of the wiring (check_task_wiring)
        with WireEmulator(EmulatorConfig(seed=0)) as emu:
            data = emu.bench_data()
        data["channels"] = [ch for ch in data["channels"] if ch["name"] != "2003"]
        text = toml_text(data, BENCH_COMMENT)
    bench = tmp_path / "bad.toml"
    bench.write_text(text)
    train = twinlab("train", "--steps", "2", "--bench", str(bench), "--out",
                    str(tmp_path / "r.h5"))
    assert needle in one_error_line(train)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "lab.cli", "gui", "--bench", str(bench)],
                          cwd=tmp_path, env=dict(env, PYTHONPATH=str(ROOT),
                                                 QT_QPA_PLATFORM="xcb"),
                          capture_output=True, text=True, timeout=120)
    line = one_error_line(proc)
    assert needle in line and str(bench) in line
    assert "display" not in proc.stderr


def test_a_task_voltage_outside_a_channel_limit_is_refused_before_any_instrument(
    tmp_path: Path,
) -> None:
    """What depends only on the bench file and the task comes before any instrument is
    opened (README): task ii drives node 8 at 5 V and the bench file limits channel '8' to
    [-1, 3] V, with its DAQ and clock gone (the emulator that served them has exited).
    ``twinlab train`` said ``DAQ: no instrument at ...: connection refused`` and named
    the limit only once the DAQ was up (user trial); now the limit, one line, exit 2, no
    run file, and ``twinlab gui --bench`` says the same in the terminal, no window."""
    with WireEmulator(EmulatorConfig(seed=0)) as emu:
        text = emu.bench_toml()
    block = 'name = "8"\ntwin = "free"\nnode = 8\nkind = "drive"\nlimits = [-1.0, 6.0]'
    assert block in text
    bench = tmp_path / "narrow.toml"
    bench.write_text(text.replace(block, block.replace("[-1.0, 6.0]", "[-1.0, 3.0]")))
    needle = ("(file {}, field 'inputs.8'): 5.0 V on node 8 of the free twin (channel '8') "
              "is outside the channel limits [-1, 3] V; nothing was written")
    out = tmp_path / "r.h5"
    line = one_error_line(twinlab("train", "--task", "ii", "--p", "0.5", "--steps", "300",
                                  "--bench", str(bench), "--out", str(out)))
    task_file = load_task("ii").file
    assert line == f"twinlab: error: task 'ii' {needle.format(task_file)}", line
    assert not out.exists()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "lab.cli", "gui", "--bench", str(bench),
                           "--task", "ii"],
                          cwd=ROOT, env=dict(env, PYTHONPATH=str(ROOT),
                                                 QT_QPA_PLATFORM="xcb"),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert one_error_line(proc) == line
    assert "display" not in proc.stderr


def test_gui_refuses_an_existing_run_file(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    out.write_bytes(b"keep me")
    line = one_error_line(twinlab("gui", "--out", str(out)))
    assert "exists; a run file is never overwritten" in line
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("kind", ["text", "missing"])
def test_replay_of_a_non_run_is_one_line_and_opens_no_window(tmp_path: Path, kind: str) -> None:
    """Offscreen Qt would open a window and wait in its event loop: the timeout fails."""
    path = tmp_path / "notarun.h5"
    if kind == "text":
        path.write_text("hello")
    line = one_error_line(twinlab("replay", str(path)))
    assert str(path) in line


def test_the_window_takes_the_tasks_own_eta_as_train_does() -> None:
    """``twinlab train --task iris`` trains at the task's eta (1.0, the paper's); the
    window's presets gave 0.5 (its box's default) for the same command line."""
    import argparse

    from gui.commands import window_presets
    from lab.tasks import load_task

    args = argparse.Namespace(task="iris", p=None, eta=None, steps=None, seed=None,
                              rule=None, estimate=None)  # fmt: skip
    assert window_presets(args, load_task("iris"))["eta"] == 1.0
    args.eta = 0.25  # given: it wins
    assert window_presets(args, load_task("iris"))["eta"] == 0.25
    args.task, args.eta = "ii", None  # a task without its own: the window's default
    assert window_presets(args, load_task("ii"))["eta"] is None
