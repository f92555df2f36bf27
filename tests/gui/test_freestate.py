"""The hover's free-state solve and the codes before a pulse follow the run's own digipot
(positions and spacing), not the AD5220's 128 linear positions."""

from __future__ import annotations

import numpy as np

from gui.freestate import FreeSetup, codes_before, solve_free_state
from gui.watch import learning_signal
from lab.core.digipot import Digipot
from lab.core.network import Network


def _setup(digipot: Digipot) -> FreeSetup:
    task = {"input_nodes": [1], "output_nodes": [3], "fixed_nodes": [9], "fixed_volts": [0.0]}
    bench = {"emulator": {"positions": digipot.positions, "spacing": digipot.spacing}}
    return FreeSetup.from_run(Network.from_name("twin16"), task, bench)


def test_the_free_state_is_solved_with_the_runs_digipot() -> None:
    digipot = Digipot(16, "log")
    setup = _setup(digipot)
    assert setup.digipot == digipot
    codes = np.arange(16) % 16
    r = digipot.resistance(codes.astype(float), setup.r_end_to_end, setup.r_wiper)
    expected = setup.network.solve(1.0 / r, {1: 4.0, 9: 0.0})
    np.testing.assert_allclose(solve_free_state(setup, codes, np.array([4.0])), expected)
    # the learning signal's clamped state takes the same resistances
    held = setup.network.solve(1.0 / r, {1: 4.0, 9: 0.0, 3: 2.0})
    edges = setup.network.edges
    signal = np.abs(np.diff(held[edges], axis=1))[:, 0] - np.abs(np.diff(expected[edges],
                                                                         axis=1))[:, 0]
    np.testing.assert_allclose(learning_signal(setup, codes, np.array([4.0]),
                                               np.array([2.0])), signal, atol=1e-12)


def test_an_edge_at_the_runs_top_code_pushed_up_is_ambiguous() -> None:
    after, mask, up = np.array([15, 3]), np.array([True, True]), np.array([1, 1])
    assert codes_before(after, mask, up, Digipot(16)) is None  # 15 is the top of 16
    np.testing.assert_array_equal(codes_before(after, mask, up, Digipot(128)), [14, 2])
