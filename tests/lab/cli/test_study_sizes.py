"""``twinlab study NAME --steps/--tasks/--seeds`` below what a study's statistics need:
one line naming the option and the allowed range, exit 2, before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.cli import main


@pytest.mark.parametrize("steps", ["1", "10"])
def test_collapse_with_too_few_steps_is_one_line_naming_the_bound(
    tmp_path: Path, capsys, steps: str
) -> None:
    """Issue 15 item 7: ``--steps 1`` ended in a traceback from the summary (a bare
    ValueError after the sweep had run): p_min 0.1 x steps must pass the first evaluation."""
    out = tmp_path / "studies"
    argv = ["study", "collapse", "--steps", steps, "--tasks", "1", "--seeds", "1",
            "--workers", "1", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("twinlab: error: ") and "--steps" in err and ">= 11" in err, err
    assert f"got {steps}" in err
    assert not out.exists() or not any(out.iterdir())  # nothing run, nothing written


def test_collapse_at_its_fewest_steps_runs(tmp_path: Path, capsys) -> None:
    """The bound is the least that works: 11 steps give a spread grid and a summary."""
    out = tmp_path / "studies"
    argv = ["study", "collapse", "--steps", "11", "--tasks", "1", "--seeds", "1",
            "--workers", "1", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    stats = json.loads((out / "collapse.json").read_text())["statistics"]
    assert stats["steps"] == 11 and "spread_ratio" in stats


def test_a_size_below_one_names_its_option(tmp_path: Path, capsys) -> None:
    out = tmp_path / "studies"
    assert main(["study", "seed2", "--seeds", "0", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twinlab: error: ") and "--seeds" in err and "positive" in err, err
    assert not out.exists()
