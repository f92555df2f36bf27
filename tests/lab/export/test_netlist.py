"""SPICE export (lab.export, ``twinlab netlist``) checked against Debian's ngspice.

Every exported deck is run through ``ngspice -b`` and every node voltage is compared
with lab's solver (Network.solve). Tolerances:

- raw file (``-r``, ASCII, 16 significant digits): |dV| <= ``RAW_ATOL`` = 1e-9 V. The
  network is linear, so ngspice's Newton loop lands on the solution of the same
  nodal equations at its first iteration and reltol/vntol (1e-3 / 1e-6 V) only decide
  when to stop; what remains is double-precision rounding of two different LU
  factorisations, measured at <= 6e-14 V on 5 V networks (twin16, planar143, codes
  0..127, i.e. 40 Ohm .. 99 kOhm). 1e-9 V leaves four decades of margin and is still
  1000x tighter than ngspice's default vntol.
- the printed operating-point table (what a user sees, 7 significant digits):
  |dV| <= 5e-7 |V| + 1e-12 V (half a unit of the 7th digit), measured <= 5e-7 V.

Needs the ``ngspice`` command (lab/apt-packages.txt). Without it the ngspice tests skip,
except on CI (environment variable CI set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.core.learning import clamped_outputs, code_resistance
from lab.core.network import DisconnectedError, Network
from lab.emulator.config import EmulatorConfig
from lab.export import (
    NgspiceError,
    node_name,
    read_ngspice,
    resistor_names,
    run_ngspice,
    run_state,
    spice_deck,
    task_state,
)
from lab.runs import RunReader
from lab.tasks import load_task, random_allostery

RAW_ATOL = 1e-9  # V, see the module docstring
TABLE_RTOL, TABLE_ATOL = 5e-7, 1e-12  # printed table: 7 significant digits

# An emulator bench with every non-ideality off that TOML can express (32-bit converters
# quantise to 20 V / 2^32 = 5e-9 V): its recorded free outputs are the exact solve.
IDEAL_BENCH = """\
kind = "emulator"
limits = [-1.0, 6.0]
[emulator]
seed = 3
tolerance = 0.0
mismatch = 0.0
r_wiper_max = 40.0
oscillators = false
dac_bits = 32
adc_bits = 32
adc_noise = 0.0
settle_tau = 0.0
"""


def require_ngspice() -> str:
    """Path of ngspice; skip without it, but fail on CI (CI set), where it must exist."""
    exe = shutil.which("ngspice")
    if exe:
        return exe
    why = "ngspice not found (Debian package 'ngspice', listed in lab/apt-packages.txt)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI is set, so this is a failure, not a skip")
    pytest.skip(why)


@pytest.fixture(scope="session")
def ngspice() -> str:
    return require_ngspice()


def spice_volts(deck: str, network: Network, exe: str) -> np.ndarray:
    """ngspice's node voltages (N,) V, in label order, from a full-precision raw file."""
    volts = run_ngspice(deck, executable=exe)
    assert sorted(volts) == list(range(1, network.n_nodes + 1)), "ngspice lost a node"
    return np.array([volts[k] for k in range(1, network.n_nodes + 1)])


def table_volts(deck: str, network: Network, exe: str, tmp_path: Path) -> np.ndarray:
    """ngspice's node voltages (N,) V as printed by plain ``ngspice -b deck.cir``."""
    cir = tmp_path / "deck.cir"
    cir.write_text(deck)
    proc = subprocess.run([exe, "-b", str(cir)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    volts = read_ngspice(proc.stdout)
    return np.array([volts[k] for k in range(1, network.n_nodes + 1)])


def deck_resistances(deck: str) -> dict[str, float]:
    """Resistor name -> value (Ohm) as written in a deck."""
    return {
        w[0]: float(w[3])
        for w in (ln.split() for ln in deck.splitlines())
        if w and w[0].startswith("R_")
    }


def check_deck(
    deck: str, network: Network, r: np.ndarray, v: np.ndarray, exe: str, tmp_path: Path
) -> float:
    """Compare ngspice with the solve ``v`` (N,) on ``deck``; returns the max |dV| V."""
    got = deck_resistances(deck)
    np.testing.assert_array_equal([got[n] for n in resistor_names(network)], r)
    spice = spice_volts(deck, network, exe)
    diff = float(np.abs(spice - v).max())
    assert diff <= RAW_ATOL, f"max |dV| {diff:.3g} V"
    printed = table_volts(deck, network, exe, tmp_path)
    np.testing.assert_allclose(printed, v, rtol=TABLE_RTOL, atol=TABLE_ATOL)
    return diff


# ----------------------------------------------------------------------------- the deck


def test_deck_layout_names_and_provenance() -> None:
    net = Network.twin16()
    r = np.arange(1, 17) * 1000.0
    deck = spice_deck(
        net,
        r,
        {8: 5.0, 9: 0.0, 3: 2.25},
        title="twinlab netlist: demo",
        notes=["task ii, step 7"],
        version="9.9.9",
    )
    lines = deck.splitlines()
    assert lines[0] == "* twinlab netlist: demo"  # SPICE's title line
    assert "twinlab 9.9.9" in lines[1] and "twin16" in lines[1] and "16 edges" in lines[1]
    assert "* task ii, step 7" in lines
    body = [w for w in (ln.split() for ln in lines) if w and not w[0].startswith("*")]
    assert body[-2:] == [[".op"], [".end"]] and deck.endswith(".end\n")
    resistors = [w for w in body if w[0].startswith("R_")]
    sources = [w for w in body if w[0].startswith("V_")]
    assert [w[0] for w in resistors] == [f"R_{e}".replace("-", "_") for e in net.edge_labels()]
    assert [w[1:3] for w in resistors] == [[f"n{a}", f"n{b}"] for a, b in net.edges + 1]
    assert [float(w[3]) for w in resistors] == r.tolist()
    assert sources == [
        ["V_8", "n8", "0", "DC", "5.0"],
        ["V_9", "n9", "0", "DC", "0.0"],
        ["V_3", "n3", "0", "DC", "2.25"],
    ]
    nodes = {n for w in resistors for n in w[1:3]}
    assert nodes == {node_name(k) for k in range(1, 10)} and "0" not in nodes


def test_values_round_trip_exactly() -> None:
    net = Network.twin16()
    rng = np.random.default_rng(1)
    r = 10 ** rng.uniform(0, 9, 16)
    v = rng.normal(0, 3, 2)
    deck = spice_deck(net, r, {1: v[0], 2: v[1]})
    assert [deck_resistances(deck)[n] for n in resistor_names(net)] == r.tolist()
    assert f"V_1 n1 0 DC {float(v[0])!r}\n" in deck and f"V_2 n2 0 DC {float(v[1])!r}\n" in deck


def test_parallel_edges_get_distinct_names() -> None:
    net = Network("par", 3, np.array([[0, 1], [1, 0], [1, 2]]), np.zeros((3, 2)))
    assert resistor_names(net) == ["R_1_2_1", "R_2_1_2", "R_2_3"]


@pytest.mark.parametrize(
    ("resistance", "needle"),
    [
        (np.r_[np.full(5, 1e3), -3.0, np.full(10, 1e3)], "edge 2-4 (R_2_4, index 5)"),
        (np.r_[np.full(15, 1e3), 0.0], "edge 7-9 (R_7_9, index 15) has resistance 0 Ohm"),
        (np.r_[np.nan, np.full(15, 1e3)], "edge 1-4 (R_1_4, index 0) has resistance nan"),
        (np.r_[np.inf, np.full(15, 1e3)], "finite and > 0 Ohm"),
        (np.full(15, 1e3), "shape (16,)"),
    ],
)
def test_bad_resistance_names_the_edge(resistance: np.ndarray, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        spice_deck(Network.twin16(), resistance, {8: 5.0, 9: 0.0})
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("fixed", "error", "needle"),
    [
        ({12: 1.0}, ValueError, "node 12 does not exist (network 'twin16' has nodes 1..9)"),
        ({0: 1.0}, ValueError, "node 0 does not exist (network 'twin16' has nodes 1..9)"),
        ({8: float("nan")}, ValueError, "node 8: fixed voltage nan V is not finite"),
        ({2.5: 1.0}, ValueError, "not an integer"),
        ({}, DisconnectedError, "no node is fixed"),
    ],
)
def test_bad_fixed_nodes_are_named(fixed: dict, error: type, needle: str) -> None:
    with pytest.raises(error) as info:
        spice_deck(Network.twin16(), np.full(16, 1e3), fixed)
    assert needle in str(info.value)


def test_floating_island_is_refused() -> None:
    net = Network("two", 4, np.array([[0, 1], [2, 3]]), np.zeros((4, 2)))
    with pytest.raises(DisconnectedError, match="3, 4"):
        spice_deck(net, [1e3, 1e3], {1: 1.0})


# ----------------------------------------------------------------------------- the reader

TABLE = """
Circuit: * test

No. of Data Rows : 1
\tNode                                  Voltage
\t----                                  -------
\t----\t-------
\tn3                               0.000000e+00
\tn2                               3.333333e+00
\tn1                               5.000000e+00

\tSource\tCurrent
\t------\t-------

\tv_1#branch                      -5.00000e-03
"""

RAW_HEAD = """Title: * test
Date: Mon Nov 23 13:07:36  2026
Plotname: Operating Point
Flags: real
No. Variables: 4
No. Points: 1
Variables:
\t0\tv(n1)\tvoltage
\t1\tv(n2)\tvoltage
\t2\tv(n3)\tvoltage
\t3\ti(v_1)\tcurrent
"""


def test_reader_reads_table_ascii_and_binary_raw() -> None:
    want = {1: 5.0, 2: 10 / 3, 3: 0.0}
    assert read_ngspice(TABLE) == {1: 5.0, 2: 3.333333, 3: 0.0}
    ascii_raw = RAW_HEAD + "Values:\n0\t\t5.0e+00\n\t3.333333333333333e+00\n\t0.0e+00\n\t-5e-03\n"
    assert read_ngspice(ascii_raw) == pytest.approx(want, abs=1e-15)
    binary_raw = (RAW_HEAD + "Binary:\n").encode() + struct.pack("<4d", 5.0, 10 / 3, 0.0, -5e-3)
    assert read_ngspice(binary_raw) == want
    with pytest.raises(NgspiceError, match="no node voltages"):
        read_ngspice("ngspice: error: something went wrong\n")


def test_missing_ngspice_skips_locally_and_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_ngspice()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_ngspice()


# ----------------------------------------------------------------------------- against ngspice


@pytest.mark.parametrize("task_name", ["ii", "regression"])
def test_twin16_task_states_match_the_solver(ngspice: str, tmp_path: Path, task_name: str) -> None:
    """A real task on twin16 with trained-looking codes (both ends of the range included):
    the free state and the clamped state built from it, every node."""
    net, task = Network.twin16(), load_task(task_name, seed=0)
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 128, 16)
    codes[:2] = 0, 127
    r = code_resistance(codes, 100e3, 40.0)
    example = task.n_train - 1
    fixed = dict(zip(task.input_nodes, task.train_inputs[example], strict=True))
    fixed |= dict(zip(task.fixed_nodes, task.fixed_volts, strict=True))
    v_free = net.solve(1 / r, fixed)
    diff = check_deck(spice_deck(net, r, fixed), net, r, v_free, ngspice, tmp_path)
    outputs = net.index_of(task.output_nodes)
    v_c = clamped_outputs(v_free[outputs], task.train_desired[example], 0.5)
    clamped = fixed | dict(zip(task.output_nodes, v_c, strict=True))
    v_clamped = net.solve(1 / r, clamped)
    diff = max(diff, check_deck(spice_deck(net, r, clamped), net, r, v_clamped, ngspice, tmp_path))
    assert not np.allclose(v_free, v_clamped)  # two different states were checked
    print(f"twin16 {task_name}: max |dV| {diff:.2g} V")


@pytest.mark.parametrize("seed", range(3))
def test_random_planar_143_edges_match_the_solver(ngspice: str, tmp_path: Path, seed: int) -> None:
    """The papers' 143-edge network, random codes, a random 4-in 4-out allostery task
    with both outputs floating (free) and held (clamped)."""
    net = Network.random_planar(143, seed=seed)
    assert (net.n_edges, net.n_nodes) == (143, 64)
    rng = np.random.default_rng(seed)
    r = code_resistance(rng.integers(0, 128, 143), 100e3, 40.0)
    task = random_allostery("planar143", n_io=4, seed=seed)
    fixed = dict(zip(task.input_nodes, task.train_inputs[0], strict=True))
    fixed |= dict(zip(task.fixed_nodes, task.fixed_volts, strict=True))
    diff = check_deck(spice_deck(net, r, fixed), net, r, net.solve(1 / r, fixed), ngspice, tmp_path)
    clamped = fixed | dict(zip(task.output_nodes, task.train_desired[0], strict=True))
    diff = max(
        diff,
        check_deck(
            spice_deck(net, r, clamped), net, r, net.solve(1 / r, clamped), ngspice, tmp_path
        ),
    )
    print(f"planar143 seed {seed}: max |dV| {diff:.2g} V")


@pytest.mark.parametrize(
    ("deck", "needle"),
    [
        ("* no value\nR_1_2 n1 n2\nV_1 n1 0 DC 1\n.op\n.end\n", "resistance to low"),
        # a floating island (spice_deck refuses it): ngspice still exits 0 with numbers
        ("* island\nR_1_2 n1 n2 1k\nR_3_4 n3 n4 1k\nV_1 n1 0 DC 1\n.op\n.end\n", "singular matrix"),
    ],
)
def test_run_ngspice_refuses_what_ngspice_only_warns_about(
    ngspice: str, deck: str, needle: str
) -> None:
    with pytest.raises(NgspiceError, match=needle):
        run_ngspice(deck, executable=ngspice)


# ----------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short recorded runs made with ``twinlab train``: the default emulator and an
    ideal one (p = 0.5 so that codes differ between edges)."""
    tmp = tmp_path_factory.mktemp("runs")
    bench = tmp / "ideal.toml"
    bench.write_text(IDEAL_BENCH)
    out = {"default": tmp / "default.h5", "ideal": tmp / "ideal.h5"}
    common = ["train", "--quiet", "--steps", "40", "--p", "0.5", "--test-every", "0"]
    assert main([*common, "--out", str(out["default"])]) == 0
    assert (
        main([*common, "--task", "regression", "--bench", str(bench), "--out", str(out["ideal"])])
        == 0
    )
    return out


def expected_run_state(path: Path, step: int, state: str) -> tuple[Network, np.ndarray, dict]:
    """The state of ``step`` rebuilt from the run file's rows: codes in effect while the
    step was measured (after step - 1), nominal R_AB and R_W of the recorded emulator."""
    with RunReader(path) as run:
        info = run.info
        codes = run.steps["positions"][step - 1] if step else np.full(16, 64)
        inputs, v_c = run.steps["inputs"][step], run.steps["v_clamped"][step]
    emu = info["bench_json"]["emulator"]
    r = code_resistance(codes.astype(np.int64), emu["r_end_to_end"], emu["r_wiper"])
    task = info["task_json"]
    fixed = dict(zip(task["input_nodes"], inputs, strict=True))
    fixed |= dict(zip(task["fixed_nodes"], task["fixed_volts"], strict=True))
    if state == "clamped":
        fixed |= dict(zip(task["output_nodes"], v_c, strict=True))
    return Network.twin16(), r, fixed


@pytest.mark.parametrize(("step", "state"), [(0, "free"), (17, "clamped"), (39, "free")])
def test_cli_run_state_matches_the_solver(
    ngspice: str,
    runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    step: int,
    state: str,
) -> None:
    deck_path = tmp_path / "out.cir"
    argv = ["netlist", str(runs["default"]), "--step", str(step), "--state", state]
    assert main([*argv, "-o", str(deck_path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith(f"deck {deck_path}") and "16 resistors" in line
    deck = deck_path.read_text()
    assert deck.splitlines()[0] == f"* twinlab netlist: twin16, task ii, step {step}, {state} state"
    assert "run file default.h5" in deck and "written by twinlab" in deck
    net, r, fixed = expected_run_state(runs["default"], step, state)
    assert f"V_{next(iter(fixed))} " in deck and deck.count("\nV_") == len(fixed)
    diff = check_deck(deck, net, r, net.solve(1 / r, fixed), ngspice, tmp_path)
    assert main([*argv]) == 0  # stdout: the same deck
    assert capsys.readouterr().out == deck
    print(f"run step {step} {state}: max |dV| {diff:.2g} V")


def test_cli_free_state_reproduces_the_recorded_outputs(
    ngspice: str, runs: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    """On the ideal emulator ngspice's free outputs equal the recorded V_F of the same
    step, which pins down which codes belong to a step (those before its pulse)."""
    with RunReader(runs["ideal"]) as run:
        v_free = run.steps["v_free"][:]
        outputs = run.info["task_json"]["output_nodes"]
        codes = run.steps["positions"][:]
    assert len(np.unique(codes, axis=0)) > 10  # the codes did move
    for step in (0, 1, 25, -1):
        assert main(["netlist", str(runs["ideal"]), "--step", str(step)]) == 0
        volts = run_ngspice(capsys.readouterr().out, executable=ngspice)
        got = [volts[k] for k in outputs]
        np.testing.assert_allclose(got, v_free[step], rtol=0, atol=1e-7)


def test_cli_task_initial_state(
    ngspice: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``--task ii``: every edge at mid-scale (code 64: 40 + 64/128 * 100 kOhm), 8 = 5 V,
    9 = 0 V; clamped: output 3 at V_C = (V_D + V_F) / 2."""
    net = Network.twin16()
    r = np.full(16, 40 + 64 / 128 * 100e3)
    assert main(["netlist", "--task", "ii"]) == 0
    deck = capsys.readouterr().out
    v = net.solve(1 / r, {8: 5.0, 9: 0.0})
    check_deck(deck, net, r, v, ngspice, tmp_path)
    assert main(["netlist", "--task", "ii", "--state", "clamped", "--eta", "0.25"]) == 0
    deck = capsys.readouterr().out
    v_c = 0.25 * 4.0 + 0.75 * v[2]
    check_deck(deck, net, r, net.solve(1 / r, {8: 5.0, 9: 0.0, 3: v_c}), ngspice, tmp_path)


def test_task_state_on_planar143_uses_the_emulators_network(ngspice: str) -> None:
    state = task_state("random-allostery", 0, "clamped", seed=2)
    assert state.network.name == "planar143" and state.network.n_edges == 143
    assert np.array_equal(state.network.edges, Network.from_name("planar143", seed=0).edges)
    volts = run_ngspice(state.deck(), executable=ngspice)
    v = np.array([volts[k] for k in range(1, 65)])
    assert np.abs(v - state.solve()).max() <= RAW_ATOL


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "give a run file"),
        (["RUN", "--task", "ii"], "give a run file"),
        (["RUN", "--step", "40"], "step 40 does not exist (the run has steps 0..39)"),
        (["RUN", "--step", "-41"], "step -41 does not exist"),
        (["RUN", "--example", "1"], "apply to --task"),
        (["--task", "ii", "--step", "3"], "--step applies to a run file"),
        (["--task", "ii", "--example", "1"], "example 1 does not exist (training examples 0..0)"),
        (["--task", "nonesuch"], "unknown task 'nonesuch'"),
        (["--task", "ii", "--eta", "0"], "'eta'"),
        (["missing.h5"], "missing.h5: no such run file"),
        (["--task", "ii", "-o", "/proc/nonexistent/x.cir"], "/proc/nonexistent/x.cir"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    runs: dict[str, Path], capsys: pytest.CaptureFixture, args: list[str], needle: str
) -> None:
    argv = ["netlist", *(str(runs["default"]) if a == "RUN" else a for a in args)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("twinlab: error:") and "\n" not in err, err
    assert needle in err
    assert captured.out == ""


def test_run_state_defaults_to_the_last_step(runs: dict[str, Path]) -> None:
    last, explicit = run_state(runs["default"]), run_state(runs["default"], 39)
    assert last.title == explicit.title and last.fixed == explicit.fixed
    np.testing.assert_array_equal(last.resistance, explicit.resistance)
    cfg = EmulatorConfig()
    with RunReader(runs["default"]) as run:
        codes = run.steps["positions"][38]
    np.testing.assert_array_equal(
        last.resistance, code_resistance(codes.astype(int), cfg.r_end_to_end, cfg.r_wiper)
    )
