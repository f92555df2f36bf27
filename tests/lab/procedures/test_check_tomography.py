"""The check's tomography on a board with a node that cannot be driven (issue 14, item
3): what the reads cannot fix is found, named and taken from the other twin, and the
rest is measured as usual. In process, on the emulated board."""

from __future__ import annotations

import numpy as np

from lab.emulator import EmulatorConfig, emulator_bench
from lab.hal import Bench
from lab.observe.model import Topology
from lab.procedures.check import CheckSettings, _codes, _support, _tomography, _unseen


def _without_drive(twin: str, node: int, seed: int = 1) -> Bench:
    full = emulator_bench(EmulatorConfig(seed=seed))
    return Bench(
        network=full.network, daq=full.daq, bias=full.bias, clock=full.clock,
        channels=[ch for ch in full.channels
                  if not (ch.kind == "drive" and ch.twin == twin and ch.node == node)],
        calibration=full.calibration, probe=None, bias_limits=full.bias_limits,
    )  # fmt: skip


def test_a_node_never_driven_leaves_its_triangle_fixed_only_in_combination() -> None:
    """twin16's node 3 (edges 3-4, 3-6 into the triangle with 4-6), never driven on the
    free twin: those three edges are unseen there, seen on the clamped twin, and every
    edge's code still comes out (the shared codes at power-up, 64, within 2 codes)."""
    bench = _without_drive("free", 3)
    labels = bench.network.edge_labels()
    result = _tomography(bench, replace_budget(80))
    assert result.seen is not None
    unseen_free = {labels[i] for i in np.flatnonzero(~result.seen[0])}
    assert unseen_free == {"3-4", "3-6", "4-6"}
    assert result.seen[1].all()
    assert result.chi2 < 3.0
    assert np.isinf(result.fits[0].rel_sd[~result.seen[0]]).all()
    codes = _codes(result, None, 64)
    assert np.abs(codes - 64).max() < 2.0, np.round(codes, 2)
    assert not bench.daq.board.driven.any() if hasattr(bench.daq, "board") else True


def test_a_fully_wired_board_has_nothing_unseen_and_an_open_edge_does_not_count() -> None:
    bench = emulator_bench(EmulatorConfig(seed=2))
    assert _tomography(bench, CheckSettings()).seen is None
    # an open edge (k ~ 0) is judged by its absolute conductance: never "unseen"
    e = bench.network.n_edges
    k = np.ones(e)
    k[0] = 0.0
    directions = np.zeros((e, 1))
    directions[1:4, 0] = 1.0  # a group of three against the rest
    directions[0, 0] = 0.5
    assert _support(directions, k).tolist() == [0, 1, 1, 1] + [0] * (e - 4)
    assert _unseen(bench, Topology.of(bench.network), "free", [], k).shape == (e, e - 1)


def replace_budget(budget: int) -> CheckSettings:
    return CheckSettings(tomography_budget=budget)
