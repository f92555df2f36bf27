"""A digipot that does not step is named once during a run (`lab.acquire.stuck`): on a
probe-less emulated bench (the estimator's codes) and with an exact probe; good boards
are never named; the line lands in the run file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.settings import settings_from
from lab.acquire.stuck import CAUSES, STUCK_P, SURE, StuckWatch, asked_pulses
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard
from lab.hal import Bench
from lab.observe.probe import EstimatedProbe
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task

LABELS = ["1-4", "1-5", "2-4"]


def _bench(seed: int = 0, stuck: str | None = None, probe: bool = False,
           unsensed: tuple[int, ...] = ()) -> Bench:  # fmt: skip
    """The default emulated bench of board ``seed``, edge ``stuck`` never stepping,
    with its exact probe or (default) without one, nodes ``unsensed`` not sensed."""
    board = EmulatedBoard(EmulatorConfig(seed=seed))
    if stuck is not None:
        board.stick_edge(board.network.edge_labels().index(stuck))
    bench = emulator_bench(board=board)
    channels = [ch for ch in bench.channels if not (ch.kind == "sense" and ch.node in unsensed)]
    return dataclasses.replace(bench, channels=channels, **({} if probe else {"probe": None}))


def _train(bench: Bench, p: float, steps: int, out: Path | None = None,
           task: str = "ii") -> Trainer:  # fmt: skip
    s = settings_from(task=task, p=p, steps=steps, test_every=0, seed=0)
    trainer = Trainer(bench, load_task(task), s, [RunWriter(out)] if out else [])
    told: list[str] = []
    trainer.on_warning = told.append
    assert trainer.run().complete
    assert told == trainer.warnings  # each told once, as it came
    return trainer


def test_the_limits_follow_from_half_the_set_p() -> None:
    assert STUCK_P == 1e-6
    assert [StuckWatch(LABELS, p, 127).limit for p in (1.0, 0.5, 0.1)] == [20, 49, 270]
    assert asked_pulses(0.05) == 270 and 0.95**270 < 1e-6 < 0.95**269
    assert StuckWatch(LABELS, 0.0, 127).limit == 0  # p = 0 asks nothing of anyone


def test_a_move_restarts_the_count_and_an_edge_is_named_once() -> None:
    w = StuckWatch(LABELS, 1.0, 127)
    codes, up = np.array([64, 64, 64]), np.ones(3, dtype=np.int8)
    step_15, step_24 = np.array([0, 1, 0]), np.array([0, 0, 1])
    for _ in range(19):
        assert w.observe(codes, codes + step_15, up) == []
        codes = codes + step_15
    moved = codes + step_24  # 2-4 moves at the 20th pulse: its count restarts
    lines = w.observe(codes, moved, up)
    assert len(lines) == 1 and lines[0].startswith("edge 1-4 has not moved in 20 pulses "
                                                   "where its rule asked it to 20 times")
    assert "(p = 1 expects ~20 moves)" in lines[0] and lines[0].endswith(CAUSES)
    named = [[x.split()[1] for x in w.observe(moved, moved, up)] for _ in range(40)]
    # 1-5 unmoved since pulse 20, 2-4 since pulse 21: 20 asked pulses at 39 and 40
    assert named[18:20] == [["1-5"], ["2-4"]] and sum(map(len, named)) == 2
    assert [x.split()[1] for x in w.warnings] == ["1-4", "1-5", "2-4"]  # once each


def test_an_edge_held_at_a_rail_is_not_asked() -> None:
    """Held in the rule's direction at a rail, an edge stays whether enabled or not;
    an estimated code next to a rail may be at it; the rule's direction away from a
    rail counts only when it is the board's (an exact probe)."""
    rails = np.array([127, 0, 126])
    out = np.array([-1, 1, 1], dtype=np.int8)  # away from the rail (for 126: up to 127)
    held = -out
    estimated = StuckWatch(LABELS, 1.0, 127)
    exact = StuckWatch(LABELS, 1.0, 127, rails=True)
    for _ in range(100):
        estimated.observe(rails, rails, held, np.zeros(3))
        estimated.observe(rails, rails, out, np.zeros(3))
        exact.observe(rails, rails, held)
    assert estimated.warnings == [] and exact.asked.tolist() == [0, 0, 100]
    assert len(exact.warnings) == 1 and exact.warnings[0].startswith("edge 2-4 ")
    for _ in range(20):
        exact.observe(rails, rails, out)
    assert [x.split()[1] for x in exact.warnings] == ["2-4", "1-4", "1-5"]


def test_a_pulse_the_estimator_was_unsure_of_does_not_ask() -> None:
    """An edge whose code's variance grew by SURE or more at a pulse (the tracker's
    probability of a move it did not report) is not counted; a resync's shrink is."""
    w = StuckWatch(LABELS, 1.0, 127)
    codes, up = np.array([64, 64, 64]), np.ones(3, dtype=np.int8)
    sd = np.full(3, 0.3)
    for _ in range(30):
        after_sd = np.sqrt(sd**2 + [0.0, 1.5 * SURE, SURE / 2])
        w.observe(codes, codes, up, sd, after_sd)
        sd = np.where([True, False, True], sd, after_sd)  # 1-5's doubt keeps growing
    assert w.asked.tolist() == [30, 0, 30]
    w.observe(codes, codes, up, np.full(3, 3.0), np.full(3, 0.1))  # a resync read them
    assert w.asked.tolist() == [31, 1, 31] and w.pulses.tolist() == [31, 31, 31]


def test_a_stuck_edge_on_a_probeless_bench_is_named_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    trainer = _train(_bench(stuck="1-4"), 0.5, 150, out)
    assert isinstance(trainer.probe, EstimatedProbe)
    assert trainer.warnings == [
        "edge 1-4 has not moved in 49 pulses where its rule asked it to 49 times (p = 0.5 "
        f"expects ~24 moves): {CAUSES}"]
    with RunReader(out) as run:  # the run file keeps it
        assert run.info["warnings"] == trainer.warnings[0]
        assert run.warnings == trainer.warnings == run.summary()["warnings"]


def test_a_stuck_edge_is_named_with_an_exact_probe_too(tmp_path: Path) -> None:
    trainer = _train(_bench(stuck="3-6", probe=True), 1.0, 60, tmp_path / "run.h5")
    assert not trainer.probe.estimated
    assert [x.split()[:2] for x in trainer.warnings] == [["edge", "3-6"]]
    assert " in 20 pulses " in trainer.warnings[0]


@pytest.mark.parametrize(("p", "steps", "seeds"),
                         [(1.0, 600, (0, 1)), (0.5, 400, (0, 1)), (0.1, 800, (0, 1))])
def test_good_boards_are_never_named(tmp_path: Path, p: float, steps: int,
                                     seeds: tuple[int, ...]) -> None:
    """Boards 0 and 1 at p = 1, 0.5 and 0.1, the limit 20, 49 and 270 asked pulses passed
    many times over. Board 1 at p = 1 puts its edges at the top rail, where the estimated
    direction is sometimes -1: counted, 1-5 was named at pulse 451; board 0 at p = 0.1
    has edge 2-9 at its longest 137 asked pulses without a move (its oscillator's p is
    0.077), half the limit."""
    out = tmp_path / "run.h5"
    for seed in seeds:
        trainer = _train(_bench(seed), p, steps, out)
        assert trainer.warnings == [], (seed, trainer.warnings)
        with RunReader(out) as run:
            assert run.info["warnings"] == "" and run.warnings == []
            assert "warnings" not in run.summary()
        out.unlink()


def test_edges_a_bench_with_fewer_sense_channels_cannot_see_are_not_named() -> None:
    """Nodes 5 and 9 unsensed (the estimator accepts the bench): edges the pulse's reads
    do not see keep their prior's move, none at p = 0.5; counted, 6 good edges were
    named within 600 pulses."""
    trainer = _train(_bench(0, unsensed=(5, 9)), 0.5, 600)
    assert isinstance(trainer.probe, EstimatedProbe)
    assert trainer.warnings == []


def test_twinlab_train_says_it_once_on_standard_error(tmp_path: Path) -> None:
    """``twinlab train`` on the rehearsal bench ``twinlab emulate --fault stuck-edge:1-4``
    writes: one warning line naming the edge, the run goes on, its file keeps it."""
    from lab.emulator.wire.rehearsal import WireEmulator
    from tests.lab.cli.test_cli import run_cli

    out = tmp_path / "run.h5"
    with WireEmulator(EmulatorConfig(seed=0), faults=["stuck-edge:1-4"]) as emu:
        bench = emu.write_bench(tmp_path / "bench.toml")
        code, stdout, err = run_cli("train", "--bench", str(bench), "--task", "ii", "--p",
                                    "0.5", "--steps", "120", "--quiet", "--out", str(out))
    assert code == 0, err
    warned = [line for line in err.splitlines() if line.startswith("twinlab: warning:")]
    assert warned == ["twinlab: warning: edge 1-4 has not moved in 49 pulses where its rule "
                      f"asked it to 49 times (p = 0.5 expects ~24 moves): {CAUSES}"], err
    assert err.count("has not moved") == 1, err  # not logged a second time
    assert "120 steps" in stdout
    with RunReader(out) as run:
        assert run.warnings == [warned[0].removeprefix("twinlab: warning: ")]


def test_at_a_low_p_the_edges_named_are_those_whose_oscillator_never_enables_them() -> None:
    """At a set p of a few hundredths the oscillators' spread leaves some edges with an
    own p of 0 (a good board): those, and only those, are named, and the line gives
    that cause beside a stuck part."""
    bench = _bench(probe=True)
    trainer = _train(bench, 0.02, 3000)
    board = bench.probe.board  # type: ignore[union-attr]
    bias = bench.calibration.volts_for(0.02)  # what the trainer set
    own = board.oscillators.p_at(np.array([bias]))[0]  # (E,) each edge's own p
    named = sorted(line.split()[1] for line in trainer.warnings)
    never = sorted(board.network.edge_labels()[e] for e in np.flatnonzero(own == 0))
    assert never and named == never
    assert all("oscillator never enables it" in line for line in trainer.warnings)
