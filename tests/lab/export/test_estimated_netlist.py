"""A netlist of an estimated run says so and carries the codes' uncertainty; a run without
codes is refused in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
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


def test_the_uncertainty_note_gives_the_step_of_a_log_part_at_each_code() -> None:
    """On a log-spaced part a code step is not R_AB / positions: the note gives the range
    of one step in Ohm at the edges' own codes (`Digipot.resistance`)."""
    from lab.core.digipot import Digipot
    from lab.core.network import Network
    from lab.export.sources import _uncertainty_note

    network = Network.from_name("twin16")
    digipot = Digipot(16, "log")
    codes = np.arange(16) % 16
    step = digipot.resistance(codes + 1, 1e5, 0.0) - digipot.resistance(codes, 1e5, 0.0)
    line = _uncertainty_note(network, np.full(16, 0.3), codes, digipot, 1e5)
    assert f"1 step = {step.min():g}..{step.max():g} Ohm" in line
    assert step.max() > 2 * step.min()  # not one linear step (R_AB / 16 = 6250 Ohm)
    linear = _uncertainty_note(network, np.full(16, 0.3), codes, Digipot(128), 1e5)
    assert "1 step = 781.25 Ohm)" in linear
