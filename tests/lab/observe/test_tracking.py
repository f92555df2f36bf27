"""Per-pulse tracking during real training on emulated boards (truth only scores)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lab.acquire.records import Observer
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard
from lab.observe.probe import EstimatedProbe
from lab.observe.tracking import CAP, Tracker, search
from lab.tasks import load_task


class Score(Observer):
    """Keeps the truth next to each record's (estimated) positions."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board
        self.true: list[np.ndarray] = []
        self.est: list[np.ndarray] = []
        self.info = None

    def start(self, info) -> None:
        self.info = info

    def step(self, record) -> None:
        self.true.append(self.board.codes.copy())
        self.est.append(np.asarray(record.positions).copy())


def _train(task: str, p: float, steps: int, seed: int) -> tuple[Trainer, Score]:
    board = EmulatedBoard(EmulatorConfig(seed=seed))
    bench = emulator_bench(board=board)
    bench.probe = None  # a bench like a real one: no probe
    settings = settings_from(task=task, p=p, steps=steps, seed=seed, test_every=0, estimate=True)
    score = Score(board)
    trainer = Trainer(bench, load_task(task, seed=seed), settings, [score])
    trainer.run()
    return trainer, score


@pytest.mark.parametrize(("task", "p"), [("iv", 0.5), ("ii", 1.0), ("regression", 0.1)])
def test_estimated_codes_follow_training(task: str, p: float) -> None:
    steps = 150
    trainer, score = _train(task, p, steps, seed=1)
    assert isinstance(trainer.probe, EstimatedProbe)
    assert score.info.positions_estimated and score.info.has_updates
    true, est = np.array(score.true), np.array(score.est)
    assert (est >= 0).all()  # no -1: every code estimated
    assert np.mean(np.abs(true - est) <= 1) >= 0.97
    assert np.mean(true == est) >= 0.85
    start = np.full((1, true.shape[1]), 64)
    d_true, d_est = np.diff(np.r_[start, true], axis=0), np.diff(np.r_[start, est], axis=0)
    change_right = np.mean(d_true == d_est)
    assert change_right >= 0.9  # the first steps (every code 64) are the hardest
    assert trainer.probe.uncertainty().shape == (16,)


def test_last_update_reports_the_moves() -> None:
    trainer, score = _train("ii", 1.0, 20, seed=2)
    probe = trainer.probe
    moved, direction = probe.last_update()
    diff = score.est[-1].astype(int) - score.est[-2]
    assert np.array_equal(moved, diff != 0)
    assert np.array_equal(direction[moved], diff[moved])
    assert set(np.unique(direction)) <= {-1, 1}


def test_the_alternative_changes_the_least_certain_edge(monkeypatch) -> None:
    """Every decision of a training run (task iv at p = 0.5: edges often in doubt). The
    disambiguation is triggered by the least odds (over the edges a read can inform)
    and reads the alternative, so the alternative must change that very edge (one set
    of marginals), and nothing when every edge is certain (odds at CAP)."""
    decisions = []
    decide = Tracker.decide

    def spy(self, reads):
        decisions.append(decide(self, reads))
        return decisions[-1]

    monkeypatch.setattr(Tracker, "decide", spy)
    _train("iv", 0.5, 40, seed=1)
    in_doubt = 0
    for d in decisions:
        j = int(np.argmin(d.odds_cost))
        assert d.odds_cost[j] <= CAP
        if d.odds_cost[j] < CAP:
            in_doubt += 1
            assert d.alternative[j] != d.change[j]
        else:
            assert np.array_equal(d.alternative, d.change)
    assert in_doubt > 10


def _brute(r0, cols, prior, n_opt):
    """Every combination's cost and the exact min-marginals (V, 3)."""
    want = np.full((len(n_opt), 3), np.inf)
    costs = {}
    for combo in itertools.product(*[range(n) for n in n_opt]):
        r = r0 + sum(cols[j, o] for j, o in enumerate(combo))
        c = float(r @ r) + sum(prior[j, o] for j, o in enumerate(combo))
        costs[combo] = c
        for j, o in enumerate(combo):
            want[j, o] = min(want[j, o], c)
    return costs, want


@pytest.mark.parametrize(("nv", "m", "seed"), [(6, 5, 0), (7, 3, 1), (5, 9, 2), (4, 0, 3)])
def test_search_is_the_exhaustive_map(nv: int, m: int, seed: int) -> None:
    """The branch and bound against brute force over every combination, min-marginals
    too, with no cap (nothing may be pruned wrongly), with fewer rows than variables
    (the remaining columns span everything until the last few), more, and none."""
    rng = np.random.default_rng(seed)
    r0 = rng.normal(size=m)
    cols = rng.normal(size=(nv, 3, m))
    cols[:, 0] = 0.0  # option 0, no move, adds nothing (as in the tracker)
    prior = rng.uniform(0, 3, size=(nv, 3))
    n_opt = rng.integers(1, 4, nv).astype(np.int64)
    best, choice, marg, marg_choice, _, _ = search(r0, cols, prior, n_opt, cap=np.inf)
    costs, want = _brute(r0, cols, prior, n_opt)
    assert best == pytest.approx(min(costs.values()))
    assert costs[tuple(choice)] == pytest.approx(best)
    assert np.allclose(marg, want)
    for j in range(nv):
        for o in range(int(n_opt[j])):
            assert costs[tuple(marg_choice[j, o])] == pytest.approx(want[j, o])


def test_search_with_a_cap_prunes_only_beyond_it() -> None:
    """A tracker-like problem (12 moves, each column a scaled row pattern, a few strong):
    the MAP and every min-marginal below best + cap are exact, the rest read best + cap."""
    rng = np.random.default_rng(5)
    nv, m = 12, 8
    pattern = rng.normal(size=(nv, m))
    scale = rng.choice([0.3, 1.0, 30.0], nv)[:, None]
    cols = np.zeros((nv, 3, m))
    cols[:, 1], cols[:, 2] = scale * pattern, -1.02 * scale * pattern
    truth = rng.integers(0, 3, nv)
    r0 = -sum(cols[j, truth[j]] for j in range(nv)) + rng.normal(size=m)
    prior = np.tile(-2 * np.log([0.5, 0.3, 0.2]), (nv, 1))
    n_opt = np.full(nv, 3, dtype=np.int64)
    cap = 10.0
    best, choice, marg, marg_choice, _, _ = search(r0, cols, prior, n_opt, cap=cap)
    costs, want = _brute(r0, cols, prior, n_opt)
    assert best == pytest.approx(min(costs.values()))
    assert costs[tuple(choice)] == pytest.approx(best)
    below = want < best + cap
    assert 0 < below.sum() < below.size  # the cap matters here
    assert np.allclose(marg[below], want[below])
    assert np.allclose(marg[~below], best + cap)
    for j, o in zip(*np.nonzero(below), strict=True):
        assert costs[tuple(marg_choice[j, o])] == pytest.approx(want[j, o])


def test_resync_at_the_rail_keeps_the_codes() -> None:
    """Task ii at p = 1 drives 14 codes to the top rail (board 1 ends at 127 x 14, 32,
    66). Those codes also sit near integers at 0.969 times the scale (123, 64, 31); the
    resync after pulse 300 used to jump there (4 codes off until the prior walked back)."""
    from lab.observe.probe import EstimatorSettings

    _, score = _train_with("ii", 1.0, 301, 1, EstimatorSettings(resync_every=100))
    assert (score.true[-1] == 127).sum() >= 12
    for k in (99, 199, 299):  # the records right after each resync
        assert np.array_equal(score.est[k], score.true[k])


def _train_with(task: str, p: float, steps: int, seed: int, settings) -> tuple[Trainer, Score]:
    board = EmulatedBoard(EmulatorConfig(seed=seed))
    bench = emulator_bench(board=board)
    bench.probe = None
    train = settings_from(task=task, p=p, steps=steps, seed=seed, test_every=0)
    trainer = Trainer(bench, load_task(task, seed=seed), train)
    trainer.probe = EstimatedProbe(bench, p, settings)
    score = Score(board)
    trainer.observers = [score]
    trainer.run()
    return trainer, score


class _Meddle(Score):
    """After record ``at`` calls ``meddle(tracker)`` (a simulated earlier failure)."""

    def __init__(self, board: EmulatedBoard, probe: EstimatedProbe, at: int, meddle) -> None:
        super().__init__(board)
        self.probe, self.at, self.meddle = probe, at, meddle

    def step(self, record) -> None:
        super().step(record)
        if len(self.true) == self.at:
            self.meddle(self.probe.tracker)


def _train_meddled(task: str, p: float, steps: int, seed: int, settings, at: int, meddle):
    board = EmulatedBoard(EmulatorConfig(seed=seed))
    bench = emulator_bench(board=board)
    bench.probe = None
    train = settings_from(task=task, p=p, steps=steps, seed=seed, test_every=0)
    trainer = Trainer(bench, load_task(task, seed=seed), train)
    trainer.probe = EstimatedProbe(bench, p, settings)
    score = _Meddle(board, trainer.probe, at, meddle)
    trainer.observers = [score]
    trainer.run()
    return trainer, np.array(score.true), np.array(score.est)


@pytest.mark.parametrize("repair", [16.0, 0.0])
def test_a_missed_move_is_caught_on_the_next_pulse(repair: float) -> None:
    """Task ii at p = 0.1 on board 1, one code of a well-seen edge knocked one step off
    after pulse 40 (an earlier pulse's miss): the next pulse puts it right (as a repair
    or, the joint search seeing its column, as a move) and tracking stays exact."""
    from lab.observe.probe import EstimatorSettings
    from lab.observe.tracking import TrackerSettings

    def miss(tracker: Tracker) -> None:
        tracker.codes[2] -= 1

    settings = EstimatorSettings(tracker=TrackerSettings(repair=repair))
    trainer, true, est = _train_meddled("ii", 0.1, 80, 1, settings, 40, miss)
    assert np.array_equal(est[40:], true[40:])
    assert trainer.probe.resyncs == 0


def test_a_wrongly_learned_offset_does_not_send_the_tracker_into_resyncs() -> None:
    """Task iv at p = 0.5 with every edge's learned comparator-offset interval pinned at
    its top after pulse 20 (as if wrong confident decisions had taught it): the direction
    prior then calls every -1 move at a gap below 0.05 V impossible, and the search
    explains each by several wrong moves, lost and resynced again and again. With
    ``direction_floor`` the reads can still win: boards 0-7, 40 pulses after, 1-2
    resyncs each with the floor, 3-10 without (session 9, on OpenBLAS's Zen and SkylakeX
    kernels alike). Which codes come out exact is chaotic in the rounding: board 1 read
    96.6 % exact with the floor on one machine, 73.8 % on another (its BLAS kernels),
    and across boards 0.56-0.98 with the floor against 0.69-0.91 without; not asserted."""
    from lab.observe.probe import EstimatorSettings
    from lab.observe.tracking import TrackerSettings

    def pin(tracker: Tracker) -> None:
        tracker.sigma_lo[:] = tracker.sigma_hi[:] = tracker.settings.sigma_max

    resyncs = {}
    for floor in (1e-3, 0.0):
        settings = EstimatorSettings(tracker=TrackerSettings(direction_floor=floor))
        resyncs[floor] = [_train_meddled("iv", 0.5, 60, board, settings, 20, pin)[0]
                          .probe.resyncs for board in (0, 1, 2)]  # fmt: skip
    assert max(resyncs[1e-3]) <= 2 < min(resyncs[0.0]), resyncs


def test_no_repairs_at_high_p() -> None:
    """At p = 0.5 a large residual is more often several edges' moves confused than one
    earlier miss: repairs there took task ii on board 1 from 99.3 % to 88 % within +-1
    (2000 steps; the first 200 steps are 93 % either way). The default tracker repairs
    only at low p; the accuracy at p = 0.5 is the benchmark's."""
    from lab.observe.probe import EstimatorSettings

    trainer, _ = _train_with("ii", 0.5, 60, 1, EstimatorSettings())
    assert trainer.probe.tracker.repairs == 0


@pytest.mark.parametrize(("every", "resyncs"), [(10, 2), (0, 0)])
def test_resync_every_counts_pulses(every: int, resyncs: int) -> None:
    """A resync every ``every`` pulses (0: only when lost; task ii at p = 1 is never
    lost), each one a tomography's transactions on top of the two reads per step."""
    from lab.observe.probe import EstimatorSettings

    trainer, score = _train_with("ii", 1.0, 25, 0, EstimatorSettings(resync_every=every))
    probe = trainer.probe
    assert probe.resyncs == resyncs and not probe.tracker.lost
    assert np.array_equal(score.est[-1], score.true[-1])
    per_step = probe.transactions - probe.settings.calibration_budget
    if every:
        assert per_step > 2 * 25 + resyncs * 10  # each resync reads several patterns
    else:
        assert per_step <= 25 + 3 * 25  # one read a step and any disambiguation


def test_every_daq_call_of_the_estimator_is_counted() -> None:
    """The probe's ``transactions`` are the DAQ calls (sense, drive, release) made inside
    its hooks, and they add up: the calibration's budget, one read of both twins before
    the first pulse and after every pulse, 3 per disambiguation read and a resync's
    tomography budget (40, the drive-state restore included) per resync."""
    from lab.observe.probe import EstimatorSettings

    board = EmulatedBoard(EmulatorConfig(seed=0))
    bench = emulator_bench(board=board)
    bench.probe = None
    train = settings_from(task="ii", p=1.0, steps=25, seed=0, test_every=0)
    trainer = Trainer(bench, load_task("ii", seed=0), train)
    probe = trainer.probe = EstimatedProbe(bench, 1.0, EstimatorSettings(resync_every=10))
    inside, calls = [False], [0]

    def counted(call):
        def wrapper(*args, **kwargs):
            calls[0] += inside[0]
            return call(*args, **kwargs)

        return wrapper

    def flagged(hook):
        def wrapper(*args, **kwargs):
            inside[0] = True
            try:
                return hook(*args, **kwargs)
            finally:
                inside[0] = False

        return wrapper

    for name in ("sense", "drive", "release", "sense_twins", "drive_twins", "release_twins"):
        setattr(bench, name, counted(getattr(bench, name)))
    for name in ("start", "before_pulse", "after_pulse"):
        setattr(probe, name, flagged(getattr(probe, name)))
    trainer.run()
    budget = probe.settings.tomography.budget
    assert budget == 40 and probe.resyncs == 2
    assert probe.transactions == calls[0]
    reads = 1 + 25 + 3 * probe.disambiguations  # both twins in one read
    assert calls[0] == probe.settings.calibration_budget + reads + budget * probe.resyncs


def _twin16_read(sensed_nodes: list[int], drive: list[dict[int, float]], codes: np.ndarray):
    """A tracker on twin16 and the exact read of both twins at ``codes`` (E,) under the
    boundary conditions ``drive`` (per twin, 1-based node -> V) with ``sensed_nodes``."""
    from lab.observe.model import DigipotModel, Topology
    from lab.observe.tracking import Read

    net = emulator_bench(board=EmulatedBoard(EmulatorConfig(seed=0))).network
    topo, model = Topology.of(net), DigipotModel.nominal(net.n_edges)
    k = model.conductance(codes.astype(float))
    volts = np.zeros((2, net.n_nodes))
    floating = np.ones((2, net.n_nodes), dtype=bool)
    sensed = np.zeros((2, net.n_nodes), dtype=bool)
    sensed[:, [n - 1 for n in sensed_nodes]] = True
    for t, bc in enumerate(drive):
        solver = net.solver(tuple(bc))
        fixed = np.zeros(net.n_nodes)
        fixed[solver.fixed_idx] = list(bc.values())
        volts[t] = solver.solve_nodes(k[t] if k.ndim == 2 else k, fixed)
        floating[t, [n - 1 for n in bc]] = False
    return topo, model, Read(volts, floating, sensed)


def test_edges_no_pattern_can_inform_do_not_trigger_a_disambiguation() -> None:
    """Twin16 with nodes 5 and 8 unsensed (a bench with fewer sense channels) and
    neither driven: edges 1-5, 1-6, 1-8, 5-6, 5-8 and 6-8 are in no Kirchhoff row, and
    no pattern that changes one node's drive puts them in one (nodes 1 and 6 each have
    both as neighbours). Nothing moved and the read is exact, so every seen edge is
    certain. Their prior odds at p = 0.5 (about 1.4) used to be the least odds: the
    probe's trigger fired every pulse and spent its extra patterns on them. Now the
    trigger skips them (odds_cost at CAP) and the variance still grows by their prior
    (posterior_odds)."""
    codes = np.random.default_rng(3).integers(20, 108, 16)
    drive = [{1: 5.0, 2: 0.0}, {1: 5.0, 2: 0.0, 7: 1.2}]
    topo, model, read = _twin16_read([1, 2, 3, 4, 6, 7, 9], drive, codes)
    tracker = Tracker(topo, model, codes, 0.5)
    tracker.begin(read.volts)
    d = tracker.decide([read])
    labels = topo.network.edge_labels()
    blind = [labels.index(x) for x in ("1-5", "1-6", "1-8", "5-6", "5-8", "6-8")]
    assert np.array_equal(d.change, np.zeros(16))
    assert d.odds_cost.min() >= 8.0  # the probe's default trigger stays quiet
    assert (d.posterior_odds[blind] < 8.0).all()  # the prior decides them, uncertain
    assert np.array_equal(d.alternative[blind], d.change[blind])  # nor the alternative
    before = tracker.variance[blind].copy()
    tracker.commit(d)
    assert (tracker.variance[blind] > before + 0.01).all()


def test_an_edge_one_driven_node_makes_seen_still_triggers() -> None:
    """Node 9 unsensed and floating: edges 2-9 and 7-9 are in no row now, but driving 9
    (one more node) makes nodes 2 and 7 equations, so their odds may trigger; with no
    drive channel at 9 (``Tracker.driveable``) they may not."""
    codes = np.random.default_rng(4).integers(20, 108, 16)
    drive = [{1: 5.0, 3: 3.0}, {1: 5.0, 3: 3.0, 4: 1.2}]
    topo, model, read = _twin16_read([1, 2, 3, 4, 5, 6, 7, 8], drive, codes)
    labels = topo.network.edge_labels()
    ends = [labels.index(x) for x in ("2-9", "7-9")]
    for driveable, triggers in ((None, True), (np.arange(1, 10) != 9, False)):
        tracker = Tracker(topo, model, codes, 0.5)
        if driveable is not None:
            tracker.driveable = np.tile(driveable, (2, 1))
        tracker.begin(read.volts)
        d = tracker.decide([read])
        assert (d.posterior_odds[ends] < 8.0).all()
        if triggers:
            assert np.array_equal(d.odds_cost[ends], d.posterior_odds[ends])
        else:
            assert (d.odds_cost[ends] >= CAP).all()


def test_a_pathological_pulse_stops_at_the_node_budget() -> None:
    """Every node sensed but the board at 0.1 mV (every drop near zero: no read tells
    any edge's move apart, as after a resync that left every code near the rule's
    threshold with a noisy read), p = 0.5: every one of the 16 edges is in doubt, all
    3^16 combinations lie within CAP of each other and the exact search would evaluate
    tens of millions of nodes. With a budget it stops there and returns a valid
    decision (the best combination found so far, no worse than the prior's mode) that
    says it is a guess: no disambiguation read asked for, every edge in doubt, and
    committing it calls the tracker lost (so the probe resyncs rather than searching
    again)."""
    from lab.observe.tracking import TrackerSettings

    codes = np.random.default_rng(5).integers(1, 127, 16)
    drive = [{1: 1e-4, 2: 0.0}, {1: 1e-4, 2: 0.0, 7: 0.5e-4}]
    topo, model, read = _twin16_read(list(range(1, 10)), drive, codes)
    for budget in (5_000, 50_000):
        tracker = Tracker(topo, model, codes, 0.5, TrackerSettings(budget=budget))
        tracker.begin(read.volts)
        d = tracker.decide([read])
        assert d.truncated and d.nodes == budget
        assert set(np.unique(d.change)) <= {-1, 0, 1}
        assert ((codes + d.change >= 0) & (codes + d.change <= 127)).all()
        assert np.isfinite(d.chi2)
        # uncertain: no disambiguation (odds_cost.min() at CAP), every edge in doubt
        assert (d.odds_cost >= CAP).all() and np.array_equal(d.alternative, d.change)
        assert (d.posterior_odds == 0.0).all()
        assert not tracker.lost
        tracker.commit(d)
        assert tracker.lost and tracker.truncations == 1 and tracker.nodes_max == budget
        assert (tracker.variance == 0.5).all()
        assert (tracker.sigma_lo == 0.0).all()  # nothing learned from a guess


def test_the_search_under_a_budget_returns_the_best_found() -> None:
    """`search` with a budget on a problem with nothing to prune (zero columns, a flat
    prior): it stops after exactly ``budget`` nodes, and its choice is a real
    combination whose cost is ``best``, no worse than option 0 everywhere (the prior's
    mode, the first leaf); without a budget the same problem takes more nodes."""
    rng = np.random.default_rng(6)
    nv, m = 12, 4
    cols = rng.normal(scale=1e-3, size=(nv, 3, m))
    cols[:, 0] = 0.0
    r0 = rng.normal(scale=1e-3, size=m)
    prior = rng.uniform(0.0, 0.1, size=(nv, 3))
    prior[:, 0] = 0.0
    n_opt = np.full(nv, 3, dtype=np.int64)
    full = search(r0, cols, prior, n_opt)
    assert not full.truncated and full.nodes > 100_000
    cut = search(r0, cols, prior, n_opt, budget=1_000)
    assert cut.truncated and cut.nodes == 1_000
    r = r0 + sum(cols[j, o] for j, o in enumerate(cut.choice))
    cost = float(r @ r) + sum(prior[j, o] for j, o in enumerate(cut.choice))
    assert cost == pytest.approx(cut.best)
    assert cut.best <= float(r0 @ r0) + 1e-12
    assert cut.best >= full.best - 1e-12


def test_a_disambiguation_read_keeps_the_bench_current_limits() -> None:
    """The extra pattern drives one more node at a channel limit: next to an edge at code
    0 (40-100 Ohm) that put up to 5.9 V across it (101 mA here; 60-130 mA for every edge
    of the board at code 0 and some neighbour in doubt), against the bench's 5 mA. Now an
    option the limits do not allow at the tracker's codes (lowered by their sd, on the
    part floor) is not applied; the one taken keeps every edge within the limit."""
    from lab.emulator.board import PeakCurrent
    from lab.observe.tracking import Decision

    board = EmulatedBoard(EmulatorConfig(seed=0))
    bench = emulator_bench(board=board)
    bench.probe = None
    e = bench.network.n_edges
    short = bench.network.edge_labels().index("1-6")
    codes = np.full(e, 64)
    codes[short] = 0
    board.set_codes(codes)
    probe = EstimatedProbe(bench, 1.0)
    probe.tracker.codes = codes.astype(np.int16)
    bench.drive("free", (1, 2), np.array([0.0, 1.0]))
    bc = [bench.drive_state("free"), bench.drive_state("clamped")]
    alternative = np.zeros(e, dtype=np.int8)
    alternative[bench.network.edge_labels().index("1-4")] = 1  # the short's neighbour
    decision = Decision(np.zeros(e, dtype=np.int8), np.full(e, 1.0), alternative, 1.0,
                        np.full(e, 0.5))  # fmt: skip
    peak = PeakCurrent(board)
    extra = probe._disambiguate(bench, bc, decision)
    assert extra is not None and probe.disambiguations == 1
    assert peak.calls == 2 and 0 < peak.peak <= bench.currents.edge
    assert bench.drive_state("free") == {1: 0.0, 2: 1.0}
