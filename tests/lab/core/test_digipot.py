"""One digipot definition (lab.core.digipot) for every resolution and spacing, used alike
by the rule, the emulator, the batched studies and the estimator's model (issue 17, 3)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from lab.core.digipot import AD5220, Digipot
from lab.core.learning import code_resistance
from lab.core.network import Network
from lab.emulator import EmulatorConfig
from lab.emulator.board import CLAMPED, FREE, EmulatedBoard
from lab.insilico.batch import Rule, train_batch
from lab.observe.model import DigipotModel
from lab.tasks import load_task


def test_linear_is_the_ad5220_formula() -> None:
    codes = np.arange(128)
    np.testing.assert_array_equal(AD5220.resistance(codes, 100e3, 40.0), 40.0 + codes / 128 * 100e3)
    np.testing.assert_array_equal(code_resistance(codes, 100e3, 40.0), 40.0 + codes / 128 * 100e3)
    r16 = Digipot(16).resistance(np.array([0, 8, 15]), 10e3, 0.0)
    np.testing.assert_allclose(r16, [0.0, 5e3, 15 / 16 * 10e3])


@pytest.mark.parametrize("positions", [16, 128, 256])
def test_log_spacing_spans_the_linear_range_in_equal_ratios(positions: int) -> None:
    pot = Digipot(positions, "log")
    f = pot.fraction(np.arange(positions))
    top = positions - 1
    assert f[0] == pytest.approx(1 / positions) and f[-1] == pytest.approx(top / positions)
    ratios = f[1:] / f[:-1]
    np.testing.assert_allclose(ratios, top ** (1 / top), rtol=1e-12)


POTS = [Digipot(16), Digipot(256), Digipot(16, "log"), Digipot(128, "log")]


@pytest.mark.parametrize("pot", POTS)
def test_code_of_resistance_inverts(pot: Digipot) -> None:
    codes = np.arange(pot.positions)
    r = pot.resistance(codes, 50e3, 70.0)
    np.testing.assert_allclose(pot.code(r, 50e3, 70.0), codes, atol=1e-9)
    assert pot.table(np.array([50e3, 60e3]), 70.0).shape == (2, pot.positions)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"positions": 1}, "positions must be an integer in 2..1024"),
    ({"positions": 2000}, "2..1024"),
    ({"spacing": "cubic"}, "spacing must be one of 'linear', 'log'"),
])  # fmt: skip
def test_bad_digipot_is_refused(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Digipot(**kwargs)


def test_emulator_config_positions_and_mid_scale() -> None:
    assert EmulatorConfig().initial_code == 64
    cfg = EmulatorConfig(positions=16, spacing="log")
    assert cfg.initial_code == 8 and cfg.digipot == Digipot(16, "log")
    with pytest.raises(ValidationError, match=r"initial_code \(20\) must be in 0..15"):
        EmulatorConfig(positions=16, initial_code=20)
    with pytest.raises(ValidationError, match="spacing"):
        EmulatorConfig(spacing="cubic")


@pytest.mark.parametrize("spacing", ["linear", "log"])
def test_emulator_codes_stay_in_range_and_resistance_follows_the_definition(spacing) -> None:
    cfg = EmulatorConfig.ideal(network="chain3", positions=16, spacing=spacing, initial_code=14)
    board = EmulatedBoard(cfg)
    pot = Digipot(16, spacing)
    nodes = np.array([0, 3])
    for twin, v in ((FREE, [5.0, 0.0]), (CLAMPED, [5.0, 0.0])):
        board.drive(twin, nodes, v)
    board.drive(CLAMPED, np.array([0, 2, 3]), [5.0, 4.9, 0.0])  # clamped drop 3-4 large: up
    board.bias = -100.0  # every edge enabled
    for _ in range(5):
        board.clock_edge()
    assert board.codes.max() == 15  # clipped at the top of 16 positions, not 127
    np.testing.assert_allclose(
        board.resistance(), pot.resistance(board.codes, board.pots.r_end_to_end, board.pots.r_wiper)
    )
    k = 1.0 / board.resistance()
    np.testing.assert_allclose(board._conductance(), k)


def test_network_file_parts_set_the_emulators_nominal_resistances(tmp_path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("nodes = 3\nedges = [[1, 2], [2, 3]]\n[parts]\nr_end_to_end = [10e3, 50e3]\n")
    board = EmulatedBoard(EmulatorConfig.ideal(network=str(path)))
    np.testing.assert_allclose(board.pots.r_end_to_end, [[10e3, 50e3], [10e3, 50e3]])


def test_batch_rule_uses_its_own_resolution() -> None:
    """Regression: the discrete rule's resistance table divided by 128 whatever its
    n_positions, so a 16-position study ran on digipots spanning 15/128 of R_AB."""
    task = load_task("chain3")
    net = Network.from_name(task.network)
    for spacing in ("linear", "log"):
        rule = Rule("discrete", eta=1.0, n_positions=16, spacing=spacing)
        res = train_batch(net, task, steps=3, rule=rule, p=1.0, seeds=np.array([1, 2]))
        assert res.codes.max() <= 15
        want = Digipot(16, spacing).resistance(res.codes, rule.r_end_to_end, rule.r_wiper)
        np.testing.assert_allclose(res.resistance, want)


@pytest.mark.parametrize("pot", [AD5220, Digipot(16), Digipot(256, "log")])
def test_estimator_model_is_the_same_definition(pot: Digipot) -> None:
    model = DigipotModel.nominal(3, pot)
    codes = np.array([0, pot.mid, pot.top])
    want = pot.resistance(codes, 100e3, model.r_wiper)
    np.testing.assert_allclose(model.resistance(codes), np.stack([want, want]))
    np.testing.assert_allclose(model.codes_of(model.resistance(codes)), np.stack([codes, codes]))
