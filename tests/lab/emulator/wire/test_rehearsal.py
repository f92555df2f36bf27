"""Honest rehearsal (issue 14, item 2): `twinlab emulate` without a probe unless asked,
``--truth`` for scoring, and ``--fault`` bring-up faults, through the real drivers
(pyvisa-py over loopback, pyserial over a pty) and the real command in a subprocess."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from lab.cli import main
from lab.core.network import Network
from lab.emulator import EmulatorConfig
from lab.emulator.board import FREE
from lab.emulator.faults import OPEN_CONDUCTANCE, parse_fault
from lab.emulator.wire.rehearsal import WireEmulator, channel_names
from lab.errors import ConfigError
from lab.hal.benchfile import load_bench
from lab.runs import RunReader
from tests.proctree import emulate_child, end_session, read_until, wait_for

pytest.importorskip("pyvisa")
pytest.importorskip("serial")

ROOT = Path(__file__).resolve().parents[4]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
START_S = 120.0  # a bound for a loaded machine, not a speed figure
EDGES = Network.twin16().edge_labels()
NAMES = channel_names(9)


def _bench(emu: WireEmulator, tmp_path: Path, name: str = "wire"):
    return load_bench(emu.write_bench(tmp_path / f"{name}.toml"))


# -- no probe unless asked -------------------------------------------------------------------
def test_rehearsal_bench_has_no_probe_and_the_server_no_readback_unless_asked() -> None:
    with WireEmulator(EmulatorConfig(seed=0)) as honest:
        assert "probe" not in honest.bench_data()
        assert "[probe]" not in honest.bench_toml()
        assert honest.scpi.execute("EMUL:POS?") is None  # undefined, as on a real DAQ
        assert honest.scpi.execute("SYST:ERR?").startswith("-113,")
    with WireEmulator(EmulatorConfig(seed=0), probe=True) as told:
        assert told.bench_data()["probe"] == {"kind": "emulator"}
        assert told.scpi.execute("EMUL:POS?") == ",".join(["64"] * 16)


def test_training_on_the_honest_bench_records_no_codes(tmp_path: Path) -> None:
    with WireEmulator(EmulatorConfig(seed=1)) as emu:
        bench = emu.write_bench(tmp_path / "wire.toml")
        out = tmp_path / "run.h5"
        assert main(["train", "--quiet", "--bench", str(bench), "--steps", "20",
                     "--test-every", "0", "--estimate", "off", "--out", str(out)]) == 0  # fmt: skip
    with RunReader(out) as run:  # (the estimator, on by default, is tests/lab/acquire's)
        assert run.complete and np.all(run.steps["positions"][:] == -1)
        assert run.codes == "unknown"


def test_power_rule_board_over_the_wire_trains_with_the_power_rule(tmp_path: Path) -> None:
    """The rehearsal's bench file says what its board implements; train adopts it and
    refuses another rule before anything is applied."""
    chain = str(ROOT / "data" / "networks" / "chain3.toml")
    config = EmulatorConfig(seed=1, network=chain, positions=16, rule="power")
    with WireEmulator(config, probe=True) as emu:
        assert emu.bench_data()["rule"] == "power"
        bench = emu.write_bench(tmp_path / "wire.toml")
        argv = ["train", "--quiet", "--bench", str(bench), "--task", "chain3", "--steps", "10",
                "--test-every", "0"]  # fmt: skip
        assert main([*argv, "--rule", "voltage", "--out", str(tmp_path / "no.h5")]) == 2
        assert not (tmp_path / "no.h5").exists()
        out = tmp_path / "run.h5"
        assert main([*argv, "--out", str(out)]) == 0
    with RunReader(out) as run:
        assert run.complete and run.settings["rule"] == "power"
    with WireEmulator(EmulatorConfig(seed=0)) as plain:
        assert "rule" not in plain.bench_data()  # voltage: the bench files stay as they were


# -- the truth ---------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: s.name)  # fmt: skip
def test_truth_row_k_is_step_k_of_a_run_and_survives_the_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """`twinlab emulate --probe --truth`: train over the wire, read the truth while the
    emulator still serves (it is flushed), stop it with ``sig``: the file is closed
    intact, one row per step, equal to the run's positions, masks and directions."""
    steps = 150 if sig == signal.SIGTERM else 30
    bench, truth, out = tmp_path / "emu.toml", tmp_path / "truth.h5", tmp_path / "run.h5"
    proc = emulate_child("--seed", "5", "--probe", "--truth", str(truth), "--write-bench",
                         str(bench))  # fmt: skip
    try:
        assert proc.stdout is not None
        read_until(proc.stdout, b"serving until Ctrl-C", START_S)
        assert main(["train", "--quiet", "--bench", str(bench), "--steps", str(steps),
                     "--p", "0.5", "--test-every", "0", "--out", str(out)]) == 0  # fmt: skip

        def rows() -> int:
            with h5py.File(truth, "r", libver="latest", swmr=True, locking=False) as f:
                return len(f["positions"])

        wait_for(lambda: rows() == steps, 60, "the truth flushed while serving")
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        end_session(proc)
    assert proc.returncode == 128 + sig, err
    with h5py.File(truth, "r") as f, RunReader(out) as run:
        assert f.attrs["complete"] and f.attrs["pulses"] == steps == run.n_steps
        assert f["positions"].dtype == np.int16 and f["positions"].shape == (steps, 16)
        assert f["update_mask"].dtype == np.bool_ and f["direction"].dtype == np.int8
        for name in ("positions", "update_mask", "direction"):
            np.testing.assert_array_equal(f[name][:], run.steps[name][:], err_msg=name)
        assert f["update_mask"][:].any()  # p = 0.5: the rows are not trivially equal


# -- faults ------------------------------------------------------------------------------------
def test_swapped_sense_channels_read_each_others_nodes(tmp_path: Path) -> None:
    config = EmulatorConfig(seed=2)
    with WireEmulator(config, faults=["swap-channels:2001,2002"]) as emu:
        bench = _bench(emu, tmp_path)
        bench.drive("free", (1, 9), np.array([2.0, 0.0]))
        v1, v2 = bench.sense("free", (1, 2))
        true = emu.board.node_voltages(FREE)
        bench.close()
    assert abs(true[0] - true[1]) > 0.1
    assert v1 == pytest.approx(true[1], abs=5e-3) and v2 == pytest.approx(true[0], abs=5e-3)
    with WireEmulator(config) as good:  # the control: the same bench without the fault
        bench = _bench(good, tmp_path, "good")
        bench.drive("free", (1, 9), np.array([2.0, 0.0]))
        g1, g2 = bench.sense("free", (1, 2))
        bench.close()
    assert g1 == pytest.approx(true[0], abs=5e-3) and g2 == pytest.approx(true[1], abs=5e-3)


def test_swapped_drive_channels_drive_each_others_nodes(tmp_path: Path) -> None:
    with WireEmulator(EmulatorConfig(seed=2), faults=["swap-channels:1001,1003"]) as emu:
        bench = _bench(emu, tmp_path)
        bench.drive("clamped", (1, 9), np.array([1.5, 0.0]))
        driven = np.flatnonzero(emu.board.driven[1]) + 1
        applied = emu.board.applied[1, 2]
        bench.close()
    assert driven.tolist() == [3, 9] and applied == pytest.approx(1.5, abs=1e-3)


def test_dead_channel_drives_nothing_and_reads_repeatable_noise_around_zero(
    tmp_path: Path,
) -> None:
    readings = []
    for _ in range(2):
        with WireEmulator(EmulatorConfig(seed=3),
                          faults=["dead-channel:1", "dead-channel:2003"]) as emu:  # fmt: skip
            bench = _bench(emu, tmp_path)
            bench.drive("free", (1, 9), np.array([2.0, 0.0]))
            assert not emu.board.driven[FREE, 0] and emu.board.driven[FREE, 8]
            bench.drive("free", (2, 9), np.array([2.0, 0.0]))  # node 3 now sits between
            true3 = emu.board.node_voltages(FREE)[2]
            readings.append([float(bench.sense("free", (3,))[0]) for _ in range(20)])
            assert bench.safe_state() == []  # the dead output reads back what it was told
            bench.close()
    assert true3 > 0.1
    dead = np.array(readings[0])
    assert np.all(np.abs(dead) < 0.05) and dead.std() > 0  # noise around 0 V
    assert readings[0] == readings[1]  # seeded: the same on every rehearsal


def test_stuck_edge_never_changes_its_code_in_the_truth(tmp_path: Path) -> None:
    truth = tmp_path / "truth.h5"
    with WireEmulator(EmulatorConfig(seed=4), truth=truth, faults=["stuck-edge:6-4"]) as emu:
        bench = emu.write_bench(tmp_path / "wire.toml")
        assert main(["train", "--quiet", "--bench", str(bench), "--steps", "200",
                     "--test-every", "0", "--out", str(tmp_path / "r.h5")]) == 0  # fmt: skip
    stuck = EDGES.index("4-6")
    with h5py.File(truth, "r") as f:
        codes, mask = f["positions"][:], f["update_mask"][:]
        assert f.attrs["complete"] and f.attrs["faults"] == '["stuck-edge:6-4"]'
    assert len(codes) == 200
    assert np.all(codes[:, stuck] == 64) and not mask[:, stuck].any()
    others = np.delete(codes, stuck, axis=1)
    assert np.any(others != 64)  # p = 1: the other edges did learn


def test_open_edge_carries_no_current(tmp_path: Path) -> None:
    """The voltages with edge 4-6 open are those of the network without that edge; the
    current through it is nil although there is a drop across it."""
    config = EmulatorConfig(seed=5)
    nodes = tuple(range(1, 10))
    with WireEmulator(config, faults=["open-edge:4-6"]) as emu:
        bench = _bench(emu, tmp_path)
        bench.drive("free", (3, 8), np.array([2.0, 0.0]))
        measured = bench.sense("free", nodes)
        k = emu.board._conductance()[FREE]
        bench.close()
    e = EDGES.index("4-6")
    assert k[e] == OPEN_CONDUCTANCE
    net = Network.twin16()
    without = Network("twin16-open", 9, np.delete(net.edges, e, axis=0), net.layout)
    expected = without.solve(np.delete(k, e), {3: 2.0, 8: 0.0})
    np.testing.assert_allclose(measured, expected, atol=5e-3)
    drop = measured[3] - measured[5]
    assert abs(drop) > 0.05 and abs(k[e] * drop) < 1e-11  # A
    with WireEmulator(config) as good:  # the control: the closed edge changes the voltages
        bench = _bench(good, tmp_path, "good")
        bench.drive("free", (3, 8), np.array([2.0, 0.0]))
        closed = bench.sense("free", nodes)
        bench.close()
    assert np.max(np.abs(closed - expected)) > 0.05


# -- bad fault specs ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("swap-channels:2001,77", "no node channel '77'"),
        ("dead-channel:9000", "no node channel '9000'"),
        ("swap-channels:2001", "expected swap-channels:A,B"),
        ("swap-channels:2001,02001", "two different channels"),
        ("stuck-edge:1-2", "no edge 1-2"),
        ("open-edge:1_4", "expected open-edge:I-J"),
        ("melt-edge:1-4", "unknown kind 'melt-edge'"),
        ("stuck-edge", "expected KIND:ARGS"),
    ],
)
def test_bad_fault_spec_is_one_line_exit_2_and_nothing_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, needle: str
) -> None:
    truth, bench = tmp_path / "truth.h5", tmp_path / "b.toml"
    threads = threading.active_count()
    code = main(["emulate", "--fault", "stuck-edge:1-4", "--fault", spec,
                 "--truth", str(truth), "--write-bench", str(bench)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("twinlab: error: --fault ")
    assert needle in err and repr(spec) in err
    assert not truth.exists() and not bench.exists() and threading.active_count() == threads


def test_a_fault_on_a_channel_twice_and_an_existing_truth_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="already"):
        WireEmulator(faults=["dead-channel:2001", "swap-channels:2002,02001"])
    truth = tmp_path / "truth.h5"
    truth.write_bytes(b"a scored rehearsal")
    with pytest.raises(ConfigError, match="never overwritten"):
        WireEmulator(truth=truth)
    assert truth.read_bytes() == b"a scored rehearsal"


def test_specs_match_channels_by_key_and_edges_in_either_order() -> None:
    assert parse_fault("dead-channel:02003", NAMES, EDGES).channels == ("2003",)
    assert parse_fault("Stuck-Edge: 6-4", NAMES, EDGES).edge == EDGES.index("4-6")


@pytest.mark.parametrize("where", ["missing/truth.h5", "existing.h5", "."])
def test_bad_truth_path_is_one_line_exit_2_and_nothing_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (tmp_path / "existing.h5").write_bytes(b"kept")
    threads = threading.active_count()
    code = main(["emulate", "--truth", str(tmp_path / where)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("twinlab: error: --truth ")
    assert (tmp_path / "existing.h5").read_bytes() == b"kept"
    assert threading.active_count() == threads
