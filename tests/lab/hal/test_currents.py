"""The current-limit contract (lab.hal.currents): the prediction against the emulator's own
currents, the bench file's [currents] table, and training stopping before a step that
would put more than the limit through an edge (issue 14 safety item)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator.board import EmulatedBoard
from lab.emulator.config import EmulatorConfig
from lab.errors import ConfigError
from lab.hal import CurrentLimits, LimitError, predict_currents
from lab.hal.benchfile import load_bench
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task

ROOT = Path(__file__).resolve().parents[3]

#: the one message format of an edge over its limit
EDGE_FORMAT = re.compile(
    r"edge \d+-\d+ of the (free|clamped) twin would carry \S+ mA( \((estimated )?code .+\))? "
    r"at .+, above the bench's edge current limit \S+ mA \(bench file field "
    r"'currents.edge'\); nothing was written"
)


def _true_currents(board: EmulatedBoard, twin: int) -> tuple[np.ndarray, np.ndarray]:
    """The emulator's own currents of ``twin`` now: each edge's (E,) A, first node to
    second, and what each node's channel injects (N,) A."""
    edge = board.edge_currents(twin)
    out = np.zeros(board.network.n_nodes)
    np.add.at(out, board.network.edges[:, 0], edge)
    np.add.at(out, board.network.edges[:, 1], -edge)
    return edge, out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prediction_matches_the_emulators_currents(seed: int) -> None:
    rng = np.random.default_rng(seed)
    board = EmulatedBoard(EmulatorConfig(seed=seed, adc_noise=0.0))
    board.set_codes(rng.integers(0, 128, board.network.n_edges))
    for twin in (0, 1):
        nodes = np.sort(rng.choice(board.network.n_nodes, size=3, replace=False))
        board.drive(twin, nodes, rng.uniform(-1.0, 5.0, 3).tolist())
        drive = {int(n) + 1: float(board.applied[twin, n]) for n in nodes}
        cur = predict_currents(board.network, board.resistance()[twin], drive)
        edge, injected = _true_currents(board, twin)
        assert np.abs(edge).max() > 1e-5  # a state that carries current
        np.testing.assert_allclose(cur.edge, edge, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose([cur.injected[n + 1] for n in nodes], injected[nodes],
                                   rtol=1e-9, atol=1e-15)
        # every other node carries no net current (Kirchhoff): the channels supply it all
        assert abs(sum(cur.injected.values())) < 1e-12


def test_check_names_the_edge_the_current_the_limit_and_the_field() -> None:
    bench = load_bench()
    net = bench.network
    r = np.full(net.n_edges, 100.0)  # every edge a near-short
    with pytest.raises(LimitError) as err:
        bench.check_currents("free", {8: 5.0, 9: 0.0}, r, what="step 3",
                             codes=np.zeros(net.n_edges), code_sd=np.full(net.n_edges, 0.4))
    assert EDGE_FORMAT.fullmatch(str(err.value)), str(err.value)
    assert "(estimated code 0 +- 0.4) at step 3" in str(err.value)
    # below the edge limit, above a channel's own: the channel is named with its field
    bench.currents = CurrentLimits(edge=1.0, channel=1.0, channels={"ao.free.8": 1e-3})
    with pytest.raises(LimitError, match=r"node 8 of the free twin \(channel 'ao.free.8'\) "
                       r"would source \S+ mA at step 3, above the bench's channel current "
                       r"limit 1 mA \(bench file field 'currents.channels.ao.free.8'\)"):
        bench.check_currents("free", {8: 5.0, 9: 0.0}, r, what="step 3")
    bench.currents = CurrentLimits(edge=1.0, channel=1.0)
    bench.check_currents("free", {8: 5.0, 9: 0.0}, r, what="step 3")  # within: no error
    cur = predict_currents(net, r, {8: 5.0, 9: 0.0})
    assert cur.injected[8] > 0 > cur.injected[9]
    # the bound that needs no solve never passes what the solve refuses: just above the
    # predicted worst edge and channel currents passes, just below is refused
    edge, chan = float(np.abs(cur.edge).max()), abs(cur.injected[8])
    bench.currents = CurrentLimits(edge=edge * (1 + 1e-9), channel=chan * (1 + 1e-9))
    bench.check_currents("free", {8: 5.0, 9: 0.0}, r, what="step 3")
    bench.currents = CurrentLimits(edge=edge * (1 - 1e-6), channel=1.0)
    with pytest.raises(LimitError, match="edge "):
        bench.check_currents("free", {8: 5.0, 9: 0.0}, r, what="step 3")
    bench.currents = CurrentLimits(edge=1.0, channel=chan * (1 - 1e-6))
    with pytest.raises(LimitError, match="node 8 of the free twin"):
        bench.check_currents("free", {8: 5.0, 9: 0.0}, r, what="step 3")


@pytest.mark.parametrize(
    ("table", "line"),
    [
        ("edge = -1", "field 'currents.edge': expected a value greater than 0, got -1"),
        ("edge = 2.0", "field 'currents.edge': expected a value less than or equal to 1"),
        ("channel = 'x'", "field 'currents.channel'"),
        ("edg = 0.001", "field 'currents.edg': unknown field (did you mean 'edge'?)"),
        ("channels = { 'ao.free.99' = 0.001 }",
         "field 'currents.channels', key 'ao.free.99': not a drive channel of this bench"),
        ("channels = { 'ao.free.8' = 0.0 }",
         "field 'currents.channels', key 'ao.free.8': expected a current in (0, 1] A"),
    ],
)
def test_a_bad_currents_table_is_one_line_exit_2_nothing_applied(
    tmp_path: Path, table: str, line: str
) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(f'kind = "emulator"\n[currents]\n{table}\n')
    out = tmp_path / "run.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "lab.cli", "train", "--quiet", "--bench", str(bench),
         "--steps", "3", "--out", str(out)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"twinlab: error: {bench}: {line}"), err
    assert not out.exists()  # nothing applied, no run file


def test_instruments_bench_file_carries_its_currents(tmp_path: Path) -> None:
    from drivers.bench import InstrumentsBenchFile

    spec = InstrumentsBenchFile.model_validate({
        "kind": "instruments", "calibration": {"bias": [0.0, 1.0], "p": [0.0, 1.0]},
        "daq": {"resource": "x"}, "bias": {"channel": "9"}, "clock": {"port": "/dev/null"},
        "channels": [{"name": "1", "twin": "free", "node": 1, "kind": "drive"}],
        "currents": {"edge": 0.002, "channels": {"1": 0.001}},
    })  # fmt: skip
    limits = spec.currents.limits("b.toml", ["1"])
    assert limits == CurrentLimits(0.002, 5e-3, {"1": 0.001})
    with pytest.raises(ConfigError, match=r"^b\.toml: field 'currents\.channels', key '1'"):
        spec.currents.model_copy(update={"channels": {"1": 0.001}}).limits("b.toml", ["2"])


def _near_short_bench(tmp_path: Path, extra: str = "") -> Path:
    """Every digipot at code 0 at power-on (R = the wiper, 40-100 Ohm): task ii's 5 V input
    across the network drives tens of mA."""
    path = tmp_path / "short.toml"
    path.write_text(f'kind = "emulator"\n[emulator]\ninitial_code = 0\n{extra}')
    return path


def _watch_truth(board: EmulatedBoard) -> list[float]:
    """The largest true edge current, A, after every drive of ``board`` (appended)."""
    seen: list[float] = []
    drive = board.drive

    def watched(twin: int, nodes: np.ndarray, volts: list[float]) -> None:
        drive(twin, nodes, volts)
        seen.append(float(np.abs(_true_currents(board, twin)[0]).max()))

    board.drive = watched  # type: ignore[method-assign]
    return seen


def test_training_across_a_near_short_stops_before_the_current_flows(tmp_path: Path) -> None:
    bench = load_bench(_near_short_bench(tmp_path))
    board = bench.daq.board
    seen = _watch_truth(board)
    out = tmp_path / "run.h5"
    trainer = Trainer(bench, load_task("ii"), settings_from(steps=20, test_every=0),
                      [RunWriter(out)])
    with pytest.raises(LimitError) as err:
        trainer.run()
    line = str(err.value)
    assert EDGE_FORMAT.fullmatch(line), line
    assert "of the free twin" in line and "(code 0)" in line and "step 0" in line
    assert trainer.unsafe == [] and not board.driven.any()  # safe state
    assert board.pulses == 0  # no step was applied
    assert seen and max(seen) <= bench.currents.edge  # the truth never exceeded the limit
    with RunReader(out) as run:  # intact, with the reason
        assert run.info["complete"] is False or not run.info["complete"]
        assert line in run.info["message"]
        assert run.info["currents_note"] == ""


def test_a_high_enough_limit_lets_the_same_run_go_on(tmp_path: Path) -> None:
    bench = load_bench(_near_short_bench(tmp_path, "[currents]\nedge = 1.0\nchannel = 1.0\n"))
    assert bench.currents == CurrentLimits(1.0, 1.0)
    seen = _watch_truth(bench.daq.board)
    summary = Trainer(bench, load_task("ii"), settings_from(steps=20, test_every=0)).run()
    assert summary.complete and summary.steps == 20
    assert max(seen) > 5e-3  # the same run does put more than the default limit through


def test_train_cli_refuses_in_one_line_naming_the_field(tmp_path: Path) -> None:
    """The first step would exceed the limit at the starting codes: a configuration error
    (the pre-flight, `Trainer.preflight`), exit 2 and no run file; a limit hit later is a
    run-time stop (tests/lab/cli/test_cli_config_errors.py)."""
    out = tmp_path / "run.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "lab.cli", "train", "--quiet", "--bench",
         str(_near_short_bench(tmp_path)), "--steps", "20", "--out", str(out)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("twinlab: error: edge "), err
    assert "'currents.edge'" in err[0] and err[0].endswith("nothing was written"), err
    assert not out.exists()


def test_the_estimators_tomography_takes_the_benchs_edge_limit(tmp_path: Path) -> None:
    from lab.observe.probe import EstimatedProbe

    path = tmp_path / "b.toml"
    path.write_text('kind = "emulator"\n[currents]\nedge = 0.002\n')
    probe = EstimatedProbe(load_bench(path), 1.0)
    assert probe.settings.tomography.max_current == 0.002


def test_the_checks_take_the_lowest_parts_at_conservative_codes() -> None:
    from lab.observe.model import LOT_LOW, WIPER_FLOOR, DigipotModel

    model = DigipotModel.nominal(3)
    r = model.lowest(np.array([1, 10, 64]), np.array([1.0, 0.5, 0.0]))
    step = 100e3 / 128
    np.testing.assert_allclose(r, np.broadcast_to(
        WIPER_FLOOR + LOT_LOW * step * np.array([0.0, 9.0, 64.0]), (2, 3)))
    # below every part the emulator draws (wiper 40-100 Ohm, R_AB within +-32 %)
    board = EmulatedBoard(EmulatorConfig(seed=4))
    for code in (0, 1, 64, 127):
        board.codes = np.full(board.network.n_edges, code, dtype=np.int16)
        lowest = DigipotModel.nominal(board.network.n_edges).lowest(board.codes)
        assert (lowest <= board.resistance()).all()


def test_the_bench_twinlab_emulate_writes_carries_the_limits() -> None:
    from drivers.bench import InstrumentsBenchFile
    from lab.emulator.wire.rehearsal import bench_document
    from lab.hal.calibration import Calibration

    doc = bench_document(network="twin16", network_seed=0, n_nodes=9, resource="x",
                         port="/dev/null", calibration=Calibration.linear(0.5, 4.5, "ideal"),
                         bias_limits=(0.0, 5.0), channel_limits=(-1.0, 6.0))  # fmt: skip
    assert doc["currents"] == {"edge": 5e-3, "channel": 5e-3}
    spec = InstrumentsBenchFile.model_validate(doc)
    drives = [c["name"] for c in doc["channels"] if c["kind"] == "drive"]
    assert spec.currents.limits("rehearsal.toml", drives) == CurrentLimits()


def test_the_trainers_per_pulse_bound_is_the_definitions_at_the_codes_of_each_pulse() -> None:
    """The trainer's fast path (an exact probe's conductances from a table by code, the
    no-solve spread per twin) equals `DigipotModel.lowest` and `CurrentLimits.safe_spread`
    at each pulse's codes, and a state it lets through without a solve is within limits."""
    from lab.observe.model import DigipotModel

    bench = load_bench()
    trainer = Trainer(bench, load_task("regression"), settings_from(steps=1, test_every=0))
    model = DigipotModel.nominal(bench.network.n_edges)
    rng = np.random.default_rng(5)
    board = bench.daq.board
    for _ in range(20):
        board.codes = rng.integers(0, 128, board.codes.shape).astype(np.int16)
        trainer._refresh_currents()
        codes = np.asarray(bench.probe.positions())
        np.testing.assert_allclose(trainer._conductance, 1.0 / model.lowest(codes), rtol=1e-12)
        for t, twin in enumerate(("free", "clamped")):
            names = bench._drive_channel_names(twin)
            spread = bench.currents.safe_spread(
                bench.network, trainer._conductance[t], bench.currents.node_limits(names, names))
            assert trainer._safe_spread[t] == spread
            nodes = sorted(names)[:3]  # a state just inside the spread: within the limits
            drive = dict(zip(nodes, [0.0, 0.99 * spread, 0.5 * spread], strict=True))
            cur = predict_currents(bench.network, 1.0 / trainer._conductance[t], drive)
            assert np.abs(cur.edge).max() <= bench.currents.edge
            assert all(abs(i) <= bench.currents.channel for i in cur.injected.values())
