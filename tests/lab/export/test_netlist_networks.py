"""``twinlab netlist`` of networks from files (issue 17): each seed-2 task and a user's own
30-edge file run in ngspice with the solver's node voltages, and a run on 16-position
log-spaced digipots with per-edge R_AB exports the resistances it trained with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.core.digipot import Digipot
from lab.core.network import Network
from lab.export import run_ngspice
from lab.runs import RunReader
from lab.tasks import load_task
from tests.lab.core.test_netfile import user_files
from tests.lab.export.test_netlist import IDEAL_BENCH, check_deck, ngspice  # noqa: F401

MID = 40 + 64 / 128 * 100e3  # Ohm: the default emulator's power-on resistance


def _task_names(tmp_path: Path) -> dict[str, str]:
    return {"chain3": "chain3", "bridge5": "bridge5", "user30": str(user_files(tmp_path))}


@pytest.mark.parametrize("which", ["chain3", "bridge5", "user30"])
@pytest.mark.parametrize("state", ["free", "clamped"])
def test_netlist_of_network_file_tasks_matches_the_solver(
    ngspice: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    which: str,
    state: str,
) -> None:
    name = _task_names(tmp_path)[which]
    task = load_task(name)
    net = Network.from_name(task.network)
    r = np.full(net.n_edges, MID)
    fixed = dict(zip(task.input_nodes, task.train_inputs[0].tolist(), strict=True))
    fixed |= dict(zip(task.fixed_nodes, task.fixed_volts.tolist(), strict=True))
    if state == "clamped":
        v = net.solve(1 / r, fixed)
        v_f = v[net.index_of(task.output_nodes)]
        v_c = 0.5 * task.train_desired[0] + 0.5 * v_f
        fixed |= dict(zip(task.output_nodes, v_c.tolist(), strict=True))
    assert main(["netlist", "--task", name, "--state", state]) == 0
    deck = capsys.readouterr().out
    assert f"({net.n_nodes} nodes, {net.n_edges} edges)" in deck
    check_deck(deck, net, r, net.solve(1 / r, fixed), ngspice, tmp_path)


def test_run_on_16_log_positions_with_per_edge_parts_exports_its_resistances(
    ngspice: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """On the ideal emulator the deck of a step reproduces that step's recorded V_F, which
    holds only if the export uses the run's positions, spacing and per-edge R_AB."""
    net_file = tmp_path / "chain.toml"
    net_file.write_text(
        "nodes = 4\nedges = [[1, 2], [2, 3], [3, 4]]\n"
        "[parts]\nr_end_to_end = [10e3, 50e3, 100e3]\n"
    )
    task = tmp_path / "task.toml"
    task.write_text(
        'kind = "allostery"\nnetwork = "chain.toml"\n'
        "inputs = { 1 = 5.0 }\noutputs = { 3 = 1.5 }\nfixed = { 4 = 0.0 }\n"
    )
    bench = tmp_path / "bench.toml"
    bench.write_text(
        IDEAL_BENCH + 'network = "chain.toml"\npositions = 16\nspacing = "log"\nsigma_max = 0.0\n'
    )
    run = tmp_path / "run.h5"
    argv = ["train", "--task", str(task), "--bench", str(bench), "--eta", "1", "--steps", "30"]
    assert main([*argv, "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    with RunReader(run) as reader:
        v_free = reader.steps["v_free"][:]
        codes = reader.steps["positions"][:]
    assert codes.max() <= 15 and len(np.unique(codes, axis=0)) > 2
    pot = Digipot(16, "log")
    for step in (1, 10, 29):
        assert main(["netlist", str(run), "--step", str(step)]) == 0
        deck = capsys.readouterr().out
        assert "log spacing" in deck
        r = pot.resistance(codes[step - 1], np.array([10e3, 50e3, 100e3]), 40.0)
        got = [float(w.split()[3]) for w in deck.splitlines() if w.startswith("R_")]
        np.testing.assert_allclose(got, r, rtol=1e-15)
        volts = run_ngspice(deck, executable=ngspice)
        np.testing.assert_allclose(volts[3], v_free[step, 0], rtol=0, atol=1e-7)
