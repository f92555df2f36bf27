"""The emulated board: ideal mode equals the pure discrete rule; non-idealities behave."""

from __future__ import annotations

import numpy as np
import pytest

from lab.acquire.records import Observer, StepRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.core.learning import (
    clamped_outputs,
    code_resistance,
    discrete_direction,
    step_codes,
    update_mask,
)
from lab.core.network import Network
from lab.emulator import EmulatedBoard, EmulatorConfig, emulator_bench
from lab.emulator.components import Converter, NormalStream
from lab.procedures.calibration import edge_correlation, measure_p
from lab.tasks import load_task


class Collect(Observer):
    """Keeps every step record (copies of the arrays)."""

    def __init__(self) -> None:
        self.records: list[StepRecord] = []

    def step(self, record: StepRecord) -> None:
        self.records.append(
            StepRecord(
                record.step,
                record.time,
                record.example,
                record.inputs.copy(),
                record.v_free.copy(),
                record.v_clamped.copy(),
                record.v_desired.copy(),
                record.error,
                record.positions.copy(),
                None if record.update_mask is None else record.update_mask.copy(),
                None if record.direction is None else record.direction.copy(),
            )
        )


def train(config: EmulatorConfig, task: str = "ii", **settings) -> tuple[Collect, EmulatedBoard]:
    bench = emulator_bench(config)
    collect = Collect()
    settings.setdefault("test_every", 0)
    Trainer(bench, load_task(task), settings_from(task=task, **settings), [collect]).run()
    return collect, bench.probe.board


def ideal_rule(
    task_name: str, board: EmulatedBoard, steps: int, eta: float, p: float
) -> np.ndarray:
    """The ideal discrete rule written out with the pure functions; codes per step (T, E).

    Enables come from the generator the board documents for its ideal mode.
    """
    task = load_task(task_name)
    net = Network.twin16()
    rng = np.random.default_rng([board.config.seed, 1])
    r_ab = board.config.r_end_to_end
    codes = np.full(net.n_edges, board.config.initial_code, dtype=np.int16)
    held = dict(zip(task.input_nodes, task.train_inputs[0], strict=True))
    held.update(zip(task.fixed_nodes, task.fixed_volts, strict=True))
    out_idx = np.array(task.output_nodes) - 1
    history = []
    for _ in range(steps):
        k = 1.0 / code_resistance(codes, r_ab, board.config.r_wiper)
        v_free = net.solve(k, dict(sorted(held.items())))
        v_c = clamped_outputs(v_free[out_idx], task.train_desired[0], eta)
        clamped = dict(held)
        clamped.update(zip(task.output_nodes, v_c, strict=True))
        v_clamped = net.solve(k, dict(sorted(clamped.items())))
        direction = discrete_direction(net.drops(v_clamped), net.drops(v_free), board.sigma)
        mask = update_mask(rng, (net.n_edges,), p)
        codes = step_codes(codes, direction, mask)
        history.append(codes)
    return np.array(history)


@pytest.mark.parametrize(
    ("task", "p", "eta"), [("ii", 1.0, 0.5), ("ii", 0.5, 0.5), ("iii", 0.3, 1.0)]
)
def test_ideal_emulator_equals_pure_discrete_rule(task: str, p: float, eta: float) -> None:
    """With every non-ideality off, every digipot code at every step is the ideal rule's."""
    steps = 600
    collect, board = train(EmulatorConfig.ideal(seed=4), task=task, p=p, eta=eta, steps=steps)
    emulated = np.array([r.positions for r in collect.records])
    expected = ideal_rule(task, board, steps, eta, p)
    assert np.count_nonzero(np.diff(expected, axis=0)) > 100  # the codes really moved
    np.testing.assert_array_equal(emulated, expected)


def test_nonidealities_change_the_trajectory() -> None:
    """The default board (tolerances, noise, oscillators) is not the ideal one."""
    ideal, _ = train(EmulatorConfig.ideal(seed=1), steps=300)
    real, _ = train(EmulatorConfig(seed=1), steps=300)
    assert not np.array_equal(ideal.records[-1].positions, real.records[-1].positions)


def test_seeded_runs_reproduce_and_seeds_differ() -> None:
    a, _ = train(EmulatorConfig(seed=7), steps=400, p=0.5)
    b, _ = train(EmulatorConfig(seed=7), steps=400, p=0.5)
    c, _ = train(EmulatorConfig(seed=8), steps=400, p=0.5)
    for x, y in zip(a.records, b.records, strict=True):
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(x.v_free, y.v_free)
        np.testing.assert_array_equal(x.update_mask, y.update_mask)
    assert any(
        not np.array_equal(x.update_mask, y.update_mask)
        for x, y in zip(a.records, c.records, strict=True)
    )


@pytest.mark.parametrize("oscillators", [True, False])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_measured_p_matches_requested(oscillators: bool, p: float) -> None:
    """p from the update masks lies within 4 binomial standard errors of the request.

    For the oscillator board the calibration is the time average over its parts, so the
    only error is sampling; 4 sigma makes a false failure ~1e-4 per case.
    """
    board = EmulatedBoard(EmulatorConfig(seed=3, oscillators=oscillators))
    bench = emulator_bench(board=board)
    bench.set_probability(p)
    masks = []
    for _ in range(3000):
        board.clock_edge()
        masks.append(board.last_mask.copy())
    measured, se = measure_p(np.array(masks))
    assert abs(measured - p) < 4 * se, (measured, p, se)


def test_edges_decorrelate_at_half_p() -> None:
    """Different oscillator periods and phases decorrelate the edges (paper: r ~ 0.01)."""
    board = EmulatedBoard(EmulatorConfig(seed=5))
    emulator_bench(board=board).set_probability(0.5)
    masks = []
    for _ in range(4000):
        board.clock_edge()
        masks.append(board.last_mask.copy())
    r = edge_correlation(np.array(masks))
    # 120 edge pairs x 4000 steps: the mean of independent pairs has sd ~ 1/sqrt(4000) / sqrt(120)
    assert abs(r) < 0.03, r


def test_safe_bias_disables_every_edge() -> None:
    board = EmulatedBoard(EmulatorConfig(seed=2))
    bench = emulator_bench(board=board)
    bench.set_probability(1.0)
    bench.safe_state()
    for _ in range(200):
        board.clock_edge()
        assert not board.last_mask.any()


def test_twins_differ_by_part_mismatch_only() -> None:
    board = EmulatedBoard(EmulatorConfig(seed=0, tolerance=0.3, mismatch=0.02))
    r_ab = board.pots.r_end_to_end
    ratio = r_ab[0] / r_ab[1]
    # each part within +-2 % of the lot value: the twins differ by at most 1.02 / 0.98 - 1
    assert np.all(np.abs(ratio - 1) <= 1.02 / 0.98 - 1 + 1e-12)
    assert np.ptp(ratio) > 0  # but they are not identical
    lot = r_ab.mean() / 100e3
    assert 0.7 <= lot <= 1.3


def test_converter_quantises_and_clips() -> None:
    dac = Converter(-10.0, 10.0, 16)
    lsb = 20.0 / 65535
    out = dac.convert([0.1234567, 12.0, -11.0])
    assert abs(out[0] - 0.1234567) <= lsb / 2
    assert out[1] == 10.0 and out[2] == -10.0
    assert Converter(-10.0, 10.0, None).convert([0.1234567]) == [0.1234567]


def test_adc_noise_has_configured_rms() -> None:
    adc = Converter(-10.0, 10.0, None, noise=1e-3)
    stream = NormalStream(np.random.default_rng(0), block=1000)
    readings = np.array([adc.convert([1.0], stream)[0] for _ in range(5000)])
    # sd of the sample sd for n = 5000 is ~1 %; allow 5 %
    assert readings.std() == pytest.approx(1e-3, rel=0.05)
    assert readings.mean() == pytest.approx(1.0, abs=5 * 1e-3 / np.sqrt(5000))


def test_reading_the_truth_does_not_change_what_the_daq_reads() -> None:
    """Reading the emulator's truth (`edge_currents`, as the tomography benchmark's current
    watcher does after every drive and release) must not change what its DAQ reads: the
    settling transient starts from the last solved state, and `edge_currents` used to
    store its solve as that state (between a release and a drive the next read's residue
    changed, and with it every later design decision)."""
    reads = []
    for look in (False, True):
        board = EmulatedBoard(EmulatorConfig(seed=3))
        board.drive(0, np.array([0, 1]), [5.0, 0.0])
        board.measure(0, np.arange(9))
        board.release(0, np.array([1]))
        if look:
            board.edge_currents(0)
        board.drive(0, np.array([2]), [0.0])
        reads.append(np.array(board.measure(0, np.arange(9))))
    assert np.array_equal(reads[0], reads[1])
