"""Careless input to ``twinlab`` ends in one line, and a finished measurement is never
thrown away or written over (issue 11, items 6 and 8)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.emulator import EmulatorConfig
from lab.emulator.wire.rehearsal import WireEmulator
from tests.lab.cli.test_cli import ROOT, run_cli


def _one_line_error(code: int, err: str, expect: str, status: int = 2) -> None:
    assert code == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twinlab: error:"), err
    assert expect in lines[0], err


def test_seed_beyond_64_bits_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "r.h5"
    code, _, err = run_cli("train", "--seed", "18446744073709551616", "--out", str(out))
    _one_line_error(code, err, "field 'seed'")
    assert not out.exists()


def test_empty_out_is_refused_not_replaced_by_the_default(tmp_path: Path) -> None:
    code, _, err = run_cli("train", "--steps", "5", "--out", "")
    _one_line_error(code, err, "--out: an empty path")


@pytest.mark.parametrize(
    ("network", "expect"),
    [("nope", "unknown network 'nope'"), ("planar1", "network 'planar1': 1 edges cannot")],
)
def test_a_bench_files_network_that_does_not_exist_is_one_line(
    tmp_path: Path, network: str, expect: str
) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(f'kind = "emulator"\n[emulator]\nnetwork = "{network}"\n')
    out = tmp_path / "r.h5"
    code, _, err = run_cli("train", "--steps", "2", "--bench", str(bench), "--out", str(out))
    _one_line_error(code, err, expect)
    assert not out.exists()


def _with_calibration(text: str, how: str) -> str:
    """The emulator's bench file with its [calibration] table replaced by a file name
    "." (a directory), or with a NaN among its bias values."""
    start = text.index("[calibration]\n")
    end = text.index("\n\n", start)
    if how == "directory":
        text = text[:start] + text[end + 2 :]
        return text.replace('kind = "instruments"\n', 'kind = "instruments"\ncalibration = "."\n')
    block = text[start:end].replace("bias = [", "bias = [nan, ", 1)
    block = block.replace("p = [", "p = [1.0, ", 1)
    return text[:start] + block + text[end:]


@pytest.mark.parametrize(
    ("how", "expect"),
    [("directory", "cannot read the calibration file"), ("nan", "finite")],
)
def test_unusable_calibration_in_a_bench_is_one_line(
    tmp_path: Path, how: str, expect: str
) -> None:
    with WireEmulator(EmulatorConfig(seed=0)) as emu:
        bench = tmp_path / "bench.toml"
        bench.write_text(_with_calibration(emu.bench_toml(), how))
        out = tmp_path / "r.h5"
        code, _, err = run_cli("train", "--bench", str(bench), "--steps", "5", "--out", str(out))
        assert not emu.board.driven.any() and emu.board.pulses == 0
    _one_line_error(code, err, expect)
    assert not out.exists()


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ('resource = "TCPIP::127.0.0.1::', 'resource = "TCPIP::127.0.0.1::1', "127.0.0.1::1"),
        ('port = "/dev/pts/', 'port = "/dev/nonesuch/', "/dev/nonesuch/"),
    ],
)
def test_missing_resource_or_port_exits_2(tmp_path: Path, old: str, new: str, expect: str) -> None:
    """Nothing was applied: an instrument that is not there is bad input (README)."""
    with WireEmulator(EmulatorConfig(seed=0)) as emu:
        bench = tmp_path / "bench.toml"
        bench.write_text(emu.bench_toml().replace(old, new))
        out = tmp_path / "r.h5"
        code, _, err = run_cli("train", "--bench", str(bench), "--steps", "5", "--out", str(out))
    _one_line_error(code, err, expect)
    assert not out.exists()


def test_calibrate_refuses_an_existing_out_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "calibration.toml"
    out.write_bytes(b"# my precious calibration\nbias = [0.0, 5.0]\np = [1.0, 0.0]\n")
    before = out.read_bytes()
    code, _, err = run_cli("calibrate", "--points", "2", "--pulses", "1", "--out", str(out))
    _one_line_error(code, err, "--force")
    assert out.read_bytes() == before
    code, stdout, err = run_cli(
        "calibrate", "--points", "3", "--pulses", "20", "--out", str(out), "--force", "--quiet"
    )
    assert code == 0, err
    assert out.read_bytes() != before and "calibration file" in stdout


def test_calibrate_unwritable_out_fails_before_the_sweep(tmp_path: Path) -> None:
    for out in (tmp_path / "missing" / "cal.toml", tmp_path, tmp_path / ("x" * 300 + ".toml")):
        t0 = time.monotonic()
        code, _, err = run_cli("calibrate", "--pulses", "100000", "--out", str(out))
        _one_line_error(code, err, str(out))
        assert time.monotonic() - t0 < 60  # 21 x 1e5 pulses would take many minutes
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was created


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_calibrate_read_only_directory_fails_before_the_sweep(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    code, _, err = run_cli("calibrate", "--pulses", "100000", "--out", str(folder / "c.toml"))
    _one_line_error(code, err, "cannot be written")


def test_calibrate_keeps_the_result_when_the_file_cannot_be_written(tmp_path: Path) -> None:
    """The path was fine before the sweep; its directory is gone when the result is
    ready: the calibration goes to a fallback file and the one line says where."""
    folder = tmp_path / "gone"
    folder.mkdir()
    out = folder / "cal.toml"
    with WireEmulator(EmulatorConfig(seed=0), probe=True) as emu:
        bench = emu.write_bench(tmp_path / "wire.toml")
        proc = subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "calibrate", "--bench", str(bench), "--points",
             "3", "--pulses", "300", "--out", str(out), "--quiet"],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while emu.board.pulses == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        folder.rmdir()  # the sweep is under way
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "written to" in lines[0], err
    fallback = Path(lines[0].rsplit("written to ", 1)[1].strip())
    try:
        assert "bias = [" in fallback.read_text()
    finally:
        fallback.unlink(missing_ok=True)


def test_netlist_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "ii.cir"
    out.write_text("* mine\n")
    code, _, err = run_cli("netlist", "--task", "ii", "-o", str(out))
    _one_line_error(code, err, "--force")
    assert out.read_text() == "* mine\n"
    code, _, err = run_cli("netlist", "--task", "ii", "-o", str(out), "--force")
    assert code == 0, err
    assert out.read_text().startswith("*") and out.read_text() != "* mine\n"
