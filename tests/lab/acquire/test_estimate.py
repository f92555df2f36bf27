"""The estimator is chosen by `TrainSettings.estimate` (auto | on | off) for a bench
without an exact probe; what the run file then says about its codes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.settings import TrainSettings, settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import emulator_bench
from lab.errors import ConfigError
from lab.hal import Bench
from lab.observe.probe import EstimatedProbe
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task

STEPS = 6


def _probeless(keep=lambda ch: True) -> tuple[Bench, object]:
    """The default emulator bench with its exact probe hidden (and only the channels
    ``keep`` accepts); also the emulated board, for the truth."""
    full = emulator_bench()
    bench = dataclasses.replace(full, probe=None,
                                channels=[ch for ch in full.channels if keep(ch)])
    return bench, full.probe


def _no_clamped_sense(ch) -> bool:
    return not (ch.twin == "clamped" and ch.kind == "sense")


def _train(bench: Bench, tmp_path: Path, **settings) -> tuple[Trainer, Path]:
    out = tmp_path / "run.h5"
    s = settings_from(task="ii", p=1.0, steps=STEPS, test_every=0, **settings)
    trainer = Trainer(bench, load_task("ii"), s, [RunWriter(out)])
    assert trainer.run().complete
    return trainer, out


def test_estimate_defaults_to_auto_and_takes_the_old_booleans() -> None:
    assert TrainSettings().estimate == "auto"
    assert settings_from(estimate=True).estimate == "on"
    assert settings_from(estimate=False).estimate == "off"
    with pytest.raises(ConfigError, match="estimate") as err:
        settings_from(estimate="sometimes")
    assert "\n" not in str(err.value)


def test_auto_estimates_on_a_bench_without_a_probe(tmp_path: Path) -> None:
    bench, truth = _probeless()
    trainer, out = _train(bench, tmp_path)
    assert isinstance(trainer.probe, EstimatedProbe) and trainer.codes_note == ""
    with RunReader(out) as run:
        assert run.codes == "estimated" and run.info["codes"] == "estimated"
        assert run.info["positions_estimated"] is True
        steps = run.steps
        codes, sd = steps["positions"][:], steps["positions_sd"][:]
        assert codes.shape == sd.shape == (STEPS, 16) and sd.dtype == np.float32
        assert steps["positions_sd"].attrs["units"] == "code steps"
        assert steps["positions"].attrs["estimated"] and steps["positions"].attrs["codes"] \
            == "estimated"
        assert np.all(np.isfinite(sd)) and np.all(sd >= 0)
        assert np.all((codes >= 0) & (codes <= 127))
        assert "update_mask" in steps and "direction" in steps
        # the estimate follows the board: within a few steps of its own uncertainty
        assert np.abs(codes[-1].astype(int) - truth.positions()).max() <= 2


def test_auto_on_a_bench_that_cannot_trains_with_codes_unknown(tmp_path: Path) -> None:
    bench, _ = _probeless(_no_clamped_sense)
    trainer, out = _train(bench, tmp_path)
    assert trainer.probe is None
    assert trainer.codes_note == ("no resistance probe, and the bench cannot support the "
                                  "estimator: the clamped twin has no sense channel")
    with RunReader(out) as run:
        assert run.codes == "unknown" and run.codes_note == trainer.codes_note
        assert np.all(run.steps["positions"][:] == -1)
        assert "positions_sd" not in run.steps and "update_mask" not in run.steps


def test_on_refuses_a_bench_that_cannot_before_anything_is_applied() -> None:
    full = emulator_bench()
    bench = dataclasses.replace(full, probe=None,
                                channels=[ch for ch in full.channels if _no_clamped_sense(ch)])
    board = full.daq.board
    with pytest.raises(ConfigError) as err:
        Trainer(bench, load_task("ii"), settings_from(task="ii", estimate="on"))
    line = str(err.value)
    assert "\n" not in line and "estimate = on" in line and "clamped twin" in line
    assert not board.driven.any()


def test_off_records_codes_unknown_and_says_so(tmp_path: Path) -> None:
    bench, _ = _probeless()
    trainer, out = _train(bench, tmp_path, estimate="off")
    assert trainer.probe is None and "estimate = off" in trainer.codes_note
    with RunReader(out) as run:
        assert run.codes == "unknown" and "estimate = off" in run.codes_note


def test_an_exact_probe_is_always_used(tmp_path: Path) -> None:
    bench = emulator_bench()
    for mode in ("auto", "on"):
        trainer, out = _train(bench, tmp_path / mode, estimate=mode)
        assert trainer.probe is bench.probe
        with RunReader(out) as run:
            assert run.codes == "exact" and "positions_sd" not in run.steps
        bench = emulator_bench()


# -- the command line, over the real drivers (`twinlab emulate`'s honest bench) ------------
def _wire_bench(emu, path: Path, keep=lambda ch: True) -> Path:
    from lab.emulator.wire.rehearsal import BENCH_COMMENT
    from lab.hal.calibration import toml_text

    data = emu.bench_data()
    data["channels"] = [ch for ch in data["channels"] if keep(_Ch(ch))]
    path.write_text(toml_text(data, BENCH_COMMENT), encoding="utf-8")
    return path


@dataclasses.dataclass
class _Ch:
    """A bench file's channel table seen like a `lab.hal` channel (twin, kind)."""

    raw: dict

    @property
    def twin(self) -> str:
        return self.raw["twin"]

    @property
    def kind(self) -> str:
        return self.raw["kind"]


def test_train_on_the_rehearsal_bench_estimates_or_says_why_not(tmp_path: Path, capsys) -> None:
    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.cli import main
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator

    with WireEmulator(EmulatorConfig(seed=1)) as emu:
        full = _wire_bench(emu, tmp_path / "wire.toml")
        out = tmp_path / "run.h5"
        assert main(["train", "--quiet", "--bench", str(full), "--steps", "8",
                     "--test-every", "0", "--out", str(out)]) == 0  # fmt: skip
        assert "codes unknown" not in capsys.readouterr().err
        with RunReader(out) as run:
            assert run.codes == "estimated" and np.all(run.steps["positions"][:] >= 0)
            assert run.steps["positions_sd"].shape == (8, 16)

        half = _wire_bench(emu, tmp_path / "half.toml", _no_clamped_sense)
        out = tmp_path / "half.h5"
        assert main(["train", "--quiet", "--bench", str(half), "--steps", "3",
                     "--test-every", "0", "--out", str(out)]) == 0  # fmt: skip
        err = capsys.readouterr().err.splitlines()
        unchecked = ("currents not checked: the digipot codes are unknown, so the bench's "
                     "limits (5 mA per edge, 5 mA per channel) are not enforced")
        assert err == ["twinlab: codes unknown: no resistance probe, and the bench cannot "
                       "support the estimator: the clamped twin has no sense channel",
                       f"twinlab: {unchecked}"]
        with RunReader(out) as run:
            assert run.codes == "unknown" and np.all(run.steps["positions"][:] == -1)
            assert run.info["currents_note"] == unchecked

        refused = tmp_path / "refused.h5"
        assert main(["train", "--quiet", "--bench", str(half), "--estimate", "on",
                     "--out", str(refused)]) == 2  # fmt: skip
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"twinlab: error: {half}: estimate = on")
        assert not refused.exists()


def test_a_failed_tomography_is_not_adopted_and_the_tracker_stays_lost(monkeypatch) -> None:
    """A resync whose fit is not sound (`TomographyResult.ok` False) used to be adopted
    (the prior's codes, `lost` cleared): now the tracker keeps its codes and stays lost."""
    import lab.observe.probe as probe_module

    bench, _ = _probeless()
    probe = EstimatedProbe(bench, 1.0)
    real = probe_module.tomography

    def failing(*args, **kwargs):
        result = real(*args, **kwargs)
        return dataclasses.replace(result, ok=False, codes=np.zeros_like(result.codes))

    monkeypatch.setattr(probe_module, "tomography", failing)
    before = probe.tracker.codes.copy()
    probe.tracker.lost = True
    probe.resync(bench)
    assert probe.tracker.lost and probe.failed_resyncs == 1 and probe.resyncs == 1
    np.testing.assert_array_equal(probe.tracker.codes, before)
    monkeypatch.setattr(probe_module, "tomography", real)
    probe.resync(bench)
    assert not probe.tracker.lost and probe.failed_resyncs == 1
    bench.safe_state()


def test_a_board_not_at_power_up_is_refused_before_any_pulse(tmp_path: Path) -> None:
    """The estimator calibrates at the power-up codes (64). On a board trained since (a
    second run without a power cycle) it recorded codes 50-70 off with an sd of 0.02 and
    the current checks worked from them; now the run stops before its first pulse, in
    one line saying why, and the same board at power-up still trains."""
    from lab.hal import BenchError

    bench, _ = _probeless()
    board = bench.daq.board
    rng = np.random.default_rng(3)
    board.set_codes(np.clip(64 + rng.integers(-40, 41, board.codes.shape), 0, 127))
    pulses = board.pulses
    out = tmp_path / "run.h5"
    trainer = Trainer(bench, load_task("ii"), settings_from(task="ii", p=1.0, steps=STEPS,
                                                              test_every=0), [RunWriter(out)])
    with pytest.raises(BenchError, match=r"not at its power-up codes \(64\).*power-cycle") as err:
        trainer.run()
    assert "\n" not in str(err.value) and board.pulses == pulses
    assert trainer.unsafe == [] and not board.driven.any()
    with RunReader(out) as run:
        assert not run.info["complete"] and "power-up" in run.info["message"]
    _train(_probeless()[0], tmp_path / "fresh")  # a board at power-up: no false alarm


ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("fault", "twin"), [("swap-channels:2001,2002", "free"),
                                             ("swap-channels:1003,1004", "clamped"),
                                             ("dead-channel:3005", "clamped")])  # fmt: skip
def test_train_on_a_miswired_bench_stops_before_any_pulse(tmp_path: Path, fault: str,
                                                          twin: str) -> None:  # fmt: skip
    """``twinlab train --bench`` on a rehearsal bench wired wrong: the estimator's power-up
    calibration does not fit the network (chi^2 per dof ~1e6 against ~1 on a good board,
    `lab.observe.probe.MISWIRED_CHI2`), so the run stops there in one line, exit 2,
    naming the twin and advising ``twinlab check`` on the bench file; nothing pulsed, the
    bench safe, and no run file left (nothing was recorded; a 0-step file only blocked the
    next attempt), and the line says so as the other power-up errors' do (it did not, the
    user trial). (It used to say the board was not at its power-up codes, exit 1.) A
    real CLI process against the real drivers."""
    import subprocess
    import sys

    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator

    out = tmp_path / "run.h5"
    with WireEmulator(EmulatorConfig(seed=1), faults=[fault]) as emu:
        bench = emu.write_bench(tmp_path / "bench.toml")
        done = subprocess.run(
            [sys.executable, "-m", "lab.cli", "train", "--quiet", "--bench", str(bench),
             "--steps", "20", "--test-every", "0", "--out", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert emu.board.pulses == 0 and not emu.board.driven.any()
    err = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(err) == 1, err
    head = ("twinlab: error: the bench's node voltages do not fit its network (chi^2 per "
            "dof = ")
    tail = (f" on the {twin} twin): a swapped, dead or mis-assigned channel? run "
            f"'twinlab check --bench {bench}'; nothing was pulsed; bench safe; no run file "
            f"({out} removed: nothing was recorded before the first step)")  # fmt: skip
    assert err[0].startswith(head) and err[0].endswith(tail), err[0]
    assert float(err[0][len(head):-len(tail)]) > 1e3
    assert not out.exists()  # nothing was recorded: no 0-step file to block the next try


def test_the_wiring_check_passes_good_boards_trained_or_not() -> None:
    """No false alarm: a good board's calibration fits (chi^2 ~1) at power-up and on a
    board trained since (codes far from 64, near the rails): that one is refused by the
    power-up check, for the right reason."""
    from lab.hal import BenchError
    from lab.observe.probe import check_wiring
    from lab.observe.tomography import TomographySettings, calibrate

    for codes in (None, [127] * 9 + [32] + [127] * 4 + [66, 127], list(range(4, 125, 8))):
        bench, _ = _probeless()
        if codes is not None:
            bench.daq.board.set_codes(np.array(codes))
        _, result = calibrate(bench, 64, TomographySettings(budget=120))
        check_wiring(result)
        probe = EstimatedProbe(bench, 1.0)
        if codes is None:
            probe.start(bench)
        else:
            with pytest.raises(BenchError, match="not at its power-up codes"):
                probe.start(bench)
        bench.safe_state()


def test_the_tracker_knows_which_nodes_the_bench_can_drive() -> None:
    """`Tracker.driveable` (the nodes a disambiguation pattern may drive) is the bench's
    drive channels. It was left None (any node), so on a bench without a channel at node
    3 the tracker took edges 3-4 and 3-6 (seen only from nodes 4 and 6, each with node 3
    as its one unknown neighbour: a read needs node 3 driven) as informable by an extra
    read that the bench cannot make (so the probe looked for a pattern for them)."""
    from lab.observe.tracking import Read

    bench, _ = _probeless(lambda ch: ch.node != 3)
    probe = EstimatedProbe(bench, 1.0)
    want = np.ones((2, bench.network.n_nodes), dtype=bool)
    want[:, 2] = False
    np.testing.assert_array_equal(probe.tracker.driveable, want)
    floating = np.ones_like(probe.sensed)
    floating[:, [0, 1]] = False  # nodes 1 and 2 driven
    read = Read(np.zeros(probe.sensed.shape), floating, probe.sensed)
    labels = bench.network.edge_labels()
    informable = {labels[i] for i in np.flatnonzero(probe.tracker._informable([read]))}
    # 4-6 too: both its ends have node 3 as their one unknown neighbour
    assert set(labels) - informable == {"3-4", "3-6", "4-6"}


def _train_stderr(tmp_path: Path, fault: str) -> list[str]:
    """``twinlab train --bench`` (a real CLI process) on a rehearsal bench with ``fault``:
    its standard error's lines, after checking it exits 1 before any pulse."""
    import subprocess
    import sys

    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator

    with WireEmulator(EmulatorConfig(seed=1), faults=[fault]) as emu:
        bench = emu.write_bench(tmp_path / "bench.toml")
        done = subprocess.run(
            [sys.executable, "-m", "lab.cli", "train", "--quiet", "--bench", str(bench),
             "--steps", "20", "--test-every", "0", "--out", str(tmp_path / "run.h5")],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert emu.board.pulses == 0
    assert done.returncode == 1, done.stderr
    return done.stderr.splitlines()


def test_train_on_a_bench_with_an_open_edge_names_it_not_power_up(tmp_path: Path) -> None:
    """An open edge (both twins) is named as one, not as a board off its power-up codes
    (it said so, the user trial), and advises ``twinlab check``. A real CLI process."""
    err = _train_stderr(tmp_path, "open-edge:5-8")
    assert len(err) == 1, err
    assert "edge 5-8 conducts on neither twin as any code does" in err[0], err[0]
    assert "run 'twinlab check' on the bench" in err[0] and "power-cycle" not in err[0]


@pytest.mark.parametrize(("fault", "twin", "node", "edges"),
                         [("dead-channel:8", "free", 8, "1-8, 5-8, 6-8"),
                          ("dead-channel:3", "free", 3, "3-4, 3-6"),
                          ("dead-channel:1003", "clamped", 3, "3-4, 3-6")])  # fmt: skip
def test_train_on_a_bench_with_a_dead_drive_channel_names_the_channel(
    tmp_path: Path, fault: str, twin: str, node: int, edges: str
) -> None:
    """A dead drive channel fits the network (chi^2 ~1), but its node floats on one twin,
    so every edge of that node calibrates open there and conducts on the other twin: no
    code does that. ``twinlab train --bench`` names the channel and its node as
    ``twinlab check`` does (`lab.hal.channel_what`, `DRIVES_NOTHING`), the node's edges,
    and advises ``twinlab check``. It named one of the node's edges, "+1.1e+11 % off its
    twin's median" (user trial); before that, a board off its power-up codes. A real CLI
    process."""
    err = _train_stderr(tmp_path, fault)
    assert len(err) == 1, err
    name = fault.split(":")[1]
    assert (f"estimator: drive channel '{name}' ({twin} twin node {node}) drives nothing "
            f"(dead or not wired): calibrated at the power-up codes all of node {node}'s "
            f"edges ({edges}) read open on the {twin} twin, beyond any code (over ") in err[0]
    assert "run 'twinlab check' on the bench; nothing was pulsed; bench safe" in err[0]
    assert "%" not in err[0] and "e+" not in err[0] and "power-cycle" not in err[0]


def test_an_open_edge_is_named_not_taken_for_a_board_off_its_power_up_codes() -> None:
    """An open edge (emulator fault ``open-edge``: both twins) calibrates to a step
    thousands of times the others'; divided by its twin's mean it made every other part
    of that twin look off, and the run said the board was not at its power-up codes and
    to power-cycle it (user trial). Now the parts are taken against their twin's median:
    the open edge is named, beyond what any code gives, on both twins."""
    from lab.hal import BenchError

    bench, _ = _probeless()
    bench.daq.board.open_edge(bench.network.edge_labels().index("5-8"))
    with pytest.raises(BenchError, match="edge 5-8 conducts on neither twin") as err:
        EstimatedProbe(bench, 1.0).start(bench)
    msg = str(err.value)
    assert "an open edge" in msg and "power-cycle" not in msg and "\n" not in msg
    assert bench.daq.board.pulses == 0
    bench.safe_state()


@pytest.mark.parametrize("factor", [1e6, 1.3])
def test_one_twins_open_part_is_named_with_its_twin(factor: float) -> None:
    """One twin's part of an edge open or bad (its R_AB a million times or 30 % over, the
    emulator's parts): that twin and edge are named, the other twin's part of it within
    tolerance."""
    from lab.hal import BenchError

    bench, _ = _probeless()
    board = bench.daq.board
    r_ab = board.pots.r_end_to_end.copy()
    r_ab[1, bench.network.edge_labels().index("5-8")] *= factor
    board.use_parts(r_ab, board.pots.r_wiper)
    with pytest.raises(BenchError, match="edge 5-8 on the clamped twin does not conduct as "
                                         "its code does on the free twin") as err:  # fmt: skip
        EstimatedProbe(bench, 1.0).start(bench)
    msg = str(err.value)
    assert "power-cycle" not in msg
    if factor > 100:  # beyond any code: said in words, not a figure of noise ("+1e+08 %")
        assert "its part comes out beyond any code (over " in msg and "e+" not in msg, msg
    else:
        assert re.search(r"its part comes out \+\d+ % off its twin's median", msg), msg
    bench.safe_state()


def test_a_few_codes_moved_on_both_twins_is_still_not_at_power_up() -> None:
    """Two codes moved since power-up (both twins' parts of those edges, which share a
    code, off alike; the median does not move): the power-cycle advice, naming one of
    them; an open edge on top of it is told first (a power cycle would not cure it)."""
    from lab.hal import BenchError

    bench, _ = _probeless()
    board = bench.daq.board
    codes = board.codes.copy()
    codes[[2, 7]] = [30, 100]  # edges 1-6 and 2-9
    board.set_codes(codes)
    with pytest.raises(BenchError, match=r"not at its power-up codes \(64\).*edge (1-6|2-9)'s "
                                         r"part.*power-cycle"):  # fmt: skip
        EstimatedProbe(bench, 1.0).start(bench)
    board.open_edge(bench.network.edge_labels().index("5-8"))
    with pytest.raises(BenchError, match="edge 5-8 conducts on neither twin"):
        EstimatedProbe(bench, 1.0).start(bench)
    bench.safe_state()


def test_a_board_trained_to_the_rails_is_not_taken_for_an_open_edge() -> None:
    """Most parts at code 0 (the twins' median a wiper, ~70 Ohm) and the rest at 127: the
    127s come out ~1400 times the median, which no code gives over code 64 but code 127
    does over code 0; so the board is not at its power-up codes, not an open edge."""
    from lab.hal import BenchError

    bench, _ = _probeless()
    bench.daq.board.set_codes(np.array([0] * 9 + [127] * 7))
    with pytest.raises(BenchError, match=r"not at its power-up codes \(64\).*power-cycle"):
        EstimatedProbe(bench, 1.0).start(bench)
    bench.safe_state()


def test_an_estimated_run_file_keeps_its_resyncs_and_twinlab_info_shows_them(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    """`twinlab train` said "(N resyncs, ...)" and the run file forgot it; a run that read
    its codes back has none."""
    import json

    from lab.cli import main

    bench, _ = _probeless()
    out = tmp_path / "run.h5"
    # one pulse a step at p = 1: a periodic resync (every 100 pulses) falls in
    settings = settings_from(task="ii", p=1.0, steps=101, test_every=0)
    trainer = Trainer(bench, load_task("ii"), settings, [RunWriter(out)])
    assert trainer.run().complete and trainer.probe.resyncs >= 1
    (tmp_path / "exact").mkdir()
    exact, exact_out = _train(emulator_bench(), tmp_path / "exact")
    assert not getattr(exact.probe, "estimated", False)
    with RunReader(out) as run, RunReader(exact_out) as other:
        assert run.info["resyncs"] == run.summary()["resyncs"] == trainer.probe.resyncs
        assert "resyncs" not in other.info and "resyncs" not in other.summary()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resyncs"] == trainer.probe.resyncs
