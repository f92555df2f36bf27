"""A netlist of an estimated run says so and carries the codes' uncertainty; a run without
codes is refused in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import emulator_bench
from lab.export.sources import run_state
from lab.runs import RunFileError, RunReader, RunWriter
from lab.tasks import load_task


def _run(path: Path, estimate: str) -> Path:
    bench = dataclasses.replace(emulator_bench(), probe=None)
    settings = settings_from(task="ii", steps=5, test_every=0, estimate=estimate)
    Trainer(bench, load_task("ii"), settings, [RunWriter(path)]).run()
    return path


def test_the_netlist_of_an_estimated_run_says_so_with_the_uncertainty(tmp_path: Path) -> None:
    path = _run(tmp_path / "est.h5", "auto")
    state = run_state(path, step=3)
    with RunReader(path) as run:
        sd = run.steps["positions_sd"][2].astype(float)
    deck = state.deck()
    assert "codes estimated from node voltages (lab.observe), not read back" in deck
    (line,) = [n for n in state.notes if n.startswith("estimated code uncertainty")]
    assert "\n" not in line and "1 step = 781.25 Ohm" in line
    labels = state.network.edge_labels()
    assert line.endswith("per edge: " + ", ".join(
        f"{e} {v:.2f}" for e, v in zip(labels, sd.tolist(), strict=True)))
    assert f"{sd.min():.2f}..{sd.max():.2f}" in line


def test_a_run_without_codes_has_no_netlist(tmp_path: Path) -> None:
    path = _run(tmp_path / "off.h5", "off")
    with pytest.raises(RunFileError, match="no digipot codes recorded at step 2") as err:
        run_state(path, step=3)
    assert "\n" not in str(err.value)
