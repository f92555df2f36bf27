"""Every file the command line writes is checked by one helper (`lab.paths.check_output_file`)
before any work: an existing file is refused unless ``--force`` (run and truth files never
are overwritten), a directory, a parent that is a file and a missing directory are each
named in one ``twinlab: error:`` line, exit 2, nothing created or changed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from lab.cli import main
from tests.proctree import emulate_child, end_session, read_until

ROOT = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
START_S = 120.0  # a bound for a loaded machine, not a speed figure

# every writer of the command line: (argv before the path, option name, argv after it)
WRITERS = {
    "train --out": (["train", "--quiet", "--steps", "2", "--out"], "--out", []),
    "check --json": (["check", "--bench", "emulator", "--json"], "--json", []),
    "netlist -o": (["netlist", "--task", "ii", "-o"], "-o", []),
    "calibrate --out": (["calibrate", "--quiet", "--out"], "--out", []),
    "emulate --write-bench": (["emulate", "--write-bench"], "--write-bench", []),
    "emulate --truth": (["emulate", "--truth"], "--truth", []),
    "gui --out": (["gui", "--out"], "--out", []),  # refused before Qt is imported
}


def _one_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twinlab: error: "), captured.err
    assert "serving" not in captured.out
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_parent_that_is_a_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture, writer: str
) -> None:
    before, what, after = WRITERS[writer]
    blocker = tmp_path / "run1.h5"
    blocker.write_bytes(b"precious")
    target = blocker / "x.out"
    line = _one_line(capsys, [*before, str(target), *after])
    assert f"{what} {target}: {blocker} is a file, not a directory" in line
    assert "exists" not in line and "does not exist" not in line
    assert blocker.read_bytes() == b"precious"


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_directory_is_named_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture, writer: str
) -> None:
    before, what, after = WRITERS[writer]
    line = _one_line(capsys, [*before, str(tmp_path), *after])
    assert f"{what} {tmp_path}: is a directory" in line
    assert "already exists" not in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_missing_directory_is_refused_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture, writer: str
) -> None:
    """A typo in a directory name is caught: nothing is created, the first missing
    directory is named."""
    before, what, after = WRITERS[writer]
    target = tmp_path / "typo_dir" / "sub" / "x.out"
    line = _one_line(capsys, [*before, str(target), *after])
    assert f"{what} {target}: directory {tmp_path / 'typo_dir'} does not exist" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("writer", "needle"),
    [
        ("train --out", "exists; a run file is never overwritten"),
        ("gui --out", "exists; a run file is never overwritten"),
        ("emulate --truth", "exists; a truth file is never overwritten"),
        ("emulate --write-bench", "exists; give --force to overwrite it"),
        ("check --json", "exists; give --force to overwrite it"),
        ("netlist -o", "exists; give --force to overwrite it"),
        ("calibrate --out", "exists; give --force to overwrite it"),
    ],
)
def test_an_existing_file_is_refused_and_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture, writer: str, needle: str
) -> None:
    before, what, after = WRITERS[writer]
    target = tmp_path / "mine.out"
    target.write_bytes(b"a real bench file")
    line = _one_line(capsys, [*before, str(target), *after])
    assert f"{what} {target}: {needle}" in line
    assert _snapshot(tmp_path) == {str(target): b"a real bench file"}


def test_emulate_write_bench_force_overwrites(tmp_path: Path) -> None:
    bench = tmp_path / "emu.toml"
    bench.write_text("old bench\n")
    proc = emulate_child("--write-bench", str(bench), "--force")
    try:
        assert proc.stdout is not None
        read_until(proc.stdout, b"serving until Ctrl-C", START_S)
        assert "[daq]" in bench.read_text()
        os.kill(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        end_session(proc)
    assert proc.returncode == 130


def test_emulate_help_says_write_bench_needs_force(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["emulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--force" in text and "overwrite an existing --write-bench" in text
