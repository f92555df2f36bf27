"""``twinlab train --bench``: what depends only on the bench file and the task is refused
before any instrument is opened (no traffic in the --io-log, no run file), naming the file
and the field; a run that fails before its first step leaves no run file to block the
next attempt, one with steps keeps its file. The real drivers over the wire emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lab import logs
from lab.cli import main


@pytest.fixture(autouse=True)
def _no_leftover_logging() -> Iterator[None]:
    yield
    logs.reset()


@pytest.fixture
def emulator() -> Iterator[object]:
    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator

    with WireEmulator(EmulatorConfig(seed=1)) as emu:
        yield emu


def _bench_without(emu, path: Path, names: str) -> Path:
    """The rehearsal bench file less the channels called ``names`` (space-separated)."""
    from lab.emulator.wire.rehearsal import BENCH_COMMENT
    from lab.hal.calibration import toml_text

    data = emu.bench_data()
    kept = [ch for ch in data["channels"] if ch["name"] not in names.split()]
    assert len(kept) == len(data["channels"]) - len(names.split())
    data["channels"] = kept
    path.write_text(toml_text(data, BENCH_COMMENT), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "estimate", "why"),
    [
        ("1008", "auto", "node 8 of the clamped twin has no drive channel (needed: the task's "
                         "input 8 is driven on both twins)"),
        ("2003", "auto", "node 3 of the free twin has no sense channel (needed: the task's "
                         "output 3 is read on the free twin)"),
        (" ".join(f"300{n}" for n in range(1, 10)), "on",
         "estimate = on, but the bench cannot support the estimator: the clamped twin has no "
         "sense channel"),
    ],
)
def test_a_channel_the_task_needs_is_refused_before_any_instrument_is_opened(
    emulator, tmp_path: Path, capsys: pytest.CaptureFixture, name: str, estimate: str,
    why: str,
) -> None:
    """It used to be found with the instruments open: the bias and the fixed nodes set,
    "codes unknown" and "currents not checked" printed, a 0-step run file left behind
    (the same command then failed: "run file already exists"), the line naming no file."""
    bench = _bench_without(emulator, tmp_path / "b9.toml", name)
    io_log, out = tmp_path / "io.log", tmp_path / "sparse.h5"
    for _attempt in range(2):  # the same command again: the same refusal, not "exists"
        code = main(["--io-log", str(io_log), "train", "--bench", str(bench), "--steps", "50",
                     "--estimate", estimate, "--quiet", "--out", str(out)])
        err = capsys.readouterr().err.splitlines()
        assert code == 2 and len(err) == 1, err
        field = "" if estimate == "on" else "field 'channels': "
        assert err[0].startswith(f"twinlab: error: {bench}: {field}{why}"), err[0]
        assert not out.exists()
        assert not io_log.exists() or io_log.read_text() == ""  # no instrument touched
    assert emulator.board.pulses == 0 and not emulator.board.driven.any()


def test_a_free_output_with_no_drive_channel_floats_and_the_run_trains(
    emulator, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The free twin's outputs are only read: a bench that wires no drive channel to them
    (channel "3", the free twin's node 3, the default task's output) leaves them floating,
    which is all the trainer's release asks. It used to be refused ("node 3 of the free
    twin has no drive channel (needed: ... released (floated) ...)"), exit 2."""
    bench = _bench_without(emulator, tmp_path / "b3.toml", "3")
    out = tmp_path / "floating.h5"
    code = main(["train", "--bench", str(bench), "--steps", "20", "--test-every", "0",
                 "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    from lab.runs import RunReader

    with RunReader(out) as run:
        assert run.info["complete"] and run.info["steps"] == 20
        v_free = run.steps["v_free"][:]
    assert emulator.board.pulses == 20
    assert np.isfinite(v_free).all() and np.ptp(v_free[:, 0]) > 0  # node 3 read as it moves


def test_a_run_refused_before_its_first_step_leaves_no_run_file(
    emulator, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The power-up check needs a tomography (instruments open): a second estimated run on
    the trained board is refused before its first pulse (exit 1, bench safe). Its 0-step
    run file used to be left behind; now the line says there is none, and the first
    run's file (20 steps) is kept."""
    bench = emulator.write_bench(tmp_path / "bench.toml")
    first, second = tmp_path / "first.h5", tmp_path / "second.h5"
    args = ["train", "--bench", str(bench), "--steps", "20", "--test-every", "0", "--quiet"]
    assert main([*args, "--out", str(first)]) == 0
    capsys.readouterr()
    assert main([*args, "--out", str(second)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "not at its power-up codes" in err[0], err
    assert err[0].endswith(f"nothing was pulsed; bench safe; no run file ({second} removed: "
                           "nothing was recorded before the first step)"), err[0]
    assert not second.exists()
    from lab.runs import RunReader

    with RunReader(first) as run:
        assert run.info["complete"] and run.info["steps"] == 20


def test_a_task_for_another_network_is_refused_before_any_instrument_is_opened(
    emulator, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bench = emulator.write_bench(tmp_path / "bench.toml")
    io_log, out = tmp_path / "io.log", tmp_path / "chain.h5"
    assert main(["--io-log", str(io_log), "train", "--bench", str(bench), "--task", "chain3",
                 "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"twinlab: error: task 'chain3' is for network 'chain3', the bench file "
                   f"{bench} has 'twin16'"], err
    assert not out.exists() and (not io_log.exists() or io_log.read_text() == "")
