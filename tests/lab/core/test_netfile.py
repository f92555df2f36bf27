"""Network files (lab.core.netfile): the shipped seed-2 networks, a user's own file named
from a task file by a relative path, trained through the emulator, and every bad file
refused in one line naming the file and the problem (issue 17, items 1, 2 and 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.core.layout import auto_layout
from lab.core.netfile import NetworkFileError, list_networks, load_network_file, network_ref
from lab.core.network import Network
from lab.errors import ConfigError
from lab.tasks import load_task

ROOT = Path(__file__).resolve().parents[3]

#: A user's own 30-edge network: a 4 x 5 grid (31 edges) without its last edge, no
#: coordinates (drawn by the automatic layout).
GRID = [(r * 5 + c + 1, r * 5 + c + 2) for r in range(4) for c in range(4)] + [
    (r * 5 + c + 1, r * 5 + c + 6) for r in range(3) for c in range(5)
]
USER30 = "nodes = 20\nedges = [" + ", ".join(f"[{a}, {b}]" for a, b in GRID[:30]) + "]\n"
USER30_TASK = """\
kind = "allostery"
network = "../nets/mine.toml"
inputs = { 1 = 5.0 }
outputs = { 20 = 1.0, 8 = 3.5 }
fixed = { 5 = 0.0 }
"""


def user_files(tmp_path: Path) -> Path:
    """The user's network in nets/, its task in tasks/ naming it relatively; the task."""
    (tmp_path / "nets").mkdir()
    (tmp_path / "tasks").mkdir()
    (tmp_path / "nets" / "mine.toml").write_text(USER30)
    task = tmp_path / "tasks" / "mine.toml"
    task.write_text(USER30_TASK)
    return task


def test_shipped_seed2_networks() -> None:
    assert {"chain3", "bridge5", "layer4x2x2"} <= set(list_networks())
    chain = Network.from_name("chain3")
    assert (chain.name, chain.n_nodes, (chain.edges + 1).tolist()) == (
        "chain3", 4, [[1, 2], [2, 3], [3, 4]],
    )  # fmt: skip
    np.testing.assert_array_equal(chain.layout[:, 0], [0, 1, 2, 3])
    bridge = Network.from_name("bridge5")
    assert bridge.n_edges == 5 and bridge.n_nodes == 4
    layer = Network.from_name("layer4x2x2")
    assert layer.n_edges == 12 and layer.n_nodes == 8
    # fully connected layers: every input to every hidden node, every hidden to every output
    pairs = {tuple(e) for e in (layer.edges + 1).tolist()}
    assert pairs == {(i, h) for i in (1, 2, 3, 4) for h in (5, 6)} | {
        (h, o) for h in (5, 6) for o in (7, 8)
    }


def test_seed2_tasks_name_their_networks_by_relative_path() -> None:
    chain = load_task("chain3")
    assert chain.network == "chain3"  # ../networks/chain3.toml: a shipped file, its stem
    assert (chain.input_nodes, chain.output_nodes, chain.fixed_nodes) == ((1,), (3,), (4,))
    np.testing.assert_array_equal(chain.train_desired, [[1.5]])
    bridge = load_task("bridge5")
    assert bridge.network == "bridge5" and bridge.output_nodes == (2, 3)


def test_the_same_file_by_any_path_is_one_network(tmp_path: Path, monkeypatch) -> None:
    task = user_files(tmp_path)
    loaded = load_task(str(task))
    want = str((tmp_path / "nets" / "mine.toml").resolve())
    assert loaded.network == want
    monkeypatch.chdir(tmp_path / "nets")
    assert Network.from_name("mine.toml").name == want  # relative to the working directory
    assert network_ref("../nets/mine.toml", base=tmp_path / "tasks") == want
    assert Network.from_name(str(ROOT / "data" / "networks" / "chain3.toml")).name == "chain3"


def test_user_network_gets_an_automatic_layout_once(tmp_path: Path) -> None:
    user_files(tmp_path)
    net = load_network_file(tmp_path / "nets" / "mine.toml")
    assert net.n_edges == 30 and net.n_nodes == 20
    xy = net.layout
    assert xy.shape == (20, 2) and np.isfinite(xy).all()
    assert np.abs(xy).max() == pytest.approx(1.0)
    again = load_network_file(tmp_path / "nets" / "mine.toml").layout
    np.testing.assert_array_equal(xy, again)  # deterministic
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(dist, np.inf)
    assert dist.min() > 0.05  # no two nodes drawn on top of each other
    assert _crossings(xy, net.edges) == 0  # the grid drawn without crossings


def _crossings(xy: np.ndarray, edges: np.ndarray) -> int:
    """Pairs of edges without a common node whose segments cross."""

    def side(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))

    count = 0
    for i, (a, b) in enumerate(edges.tolist()):
        for c, d in edges[i + 1 :].tolist():
            if len({a, b, c, d}) < 4:
                continue
            p, q, r, s = xy[a], xy[b], xy[c], xy[d]
            if side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0:
                count += 1
    return count


def test_auto_layout_of_lattice_twin16_and_chain_have_no_crossings() -> None:
    lat = Network.lattice(5, 6)
    assert _crossings(auto_layout(lat.n_nodes, lat.edges), lat.edges) == 0
    twin = Network.twin16()  # its built-in drawing is planar too (it had 27 on a circle)
    assert _crossings(twin.layout, twin.edges) == 0
    lengths = np.linalg.norm(twin.layout[twin.edges[:, 0]] - twin.layout[twin.edges[:, 1]],
                             axis=1)
    assert lengths.max() <= 2.1 * lengths.min()  # no edge squeezed between its neighbours
    assert _crossings(auto_layout(9, twin.edges), twin.edges) == 0
    chain = np.array([[0, 1], [1, 2], [2, 3]])
    xy = auto_layout(4, chain)
    assert np.isfinite(xy).all() and len(np.unique(xy.round(6), axis=0)) == 4


def test_per_edge_parts_and_file_in_network_json(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'nodes = 3\nedges = [[1, 2], [2, 3]]\n[parts]\nr_end_to_end = [10e3, 50e3]\n'
        '[coordinates]\n1 = [0, 0]\n2 = [1, 0]\n3 = [1, 1]\n'
    )
    net = Network.from_name(str(path))
    np.testing.assert_array_equal(net.parts["r_end_to_end"], [10e3, 50e3])
    d = net.to_dict()
    assert d["parts"] == {"r_end_to_end": [10e3, 50e3]} and d["layout"][2] == [1.0, 1.0]
    assert "parts" not in Network.twin16().to_dict()  # built-in networks as before


BAD = [
    ("nodes = 3\nedges = [[1, 2], [2, 2]]\n", "edge 2 [2, 2] joins node 2 to itself"),
    ("nodes = 3\nedges = [[1, 2], [2, 3], [2, 1]]\n", "edge 3 [2, 1] repeats edge 1 [1, 2]"),
    ("nodes = 3\nedges = [[1, 2], [2, 4]]\n", "edge 2 [2, 4]: node 4 does not exist (nodes 1..3)"),
    ("nodes = 4\nedges = [[1, 2], [2, 3]]\n", "node 4 is on no edge"),
    ("nodes = 5\nedges = [[1, 2], [2, 3], [4, 5]]\n", "nodes 4, 5 are not connected to the rest"),
    ("nodes = [1, 2, 4]\nedges = [[1, 2]]\n", "field 'nodes': labels must be 1..N"),
    ("nodes = 2\nedges = [[1, 2, 3]]\n", "edge 1 is [1, 2, 3], expected a pair of node labels"),
    ("nodes = 2\nedges = [[1, 2]]\nedge = 1\n", "unknown field 'edge'"),
    ("edges = [[1, 2]]\n", "field 'nodes': required field is missing"),
    ("nodes = 2\nedges = [[1, 2]]\n[coordinates]\n1 = [0, 0]\n", "node 2 has none"),
    ("nodes = 2\nedges = [[1, 2]]\n[coordinates]\n1 = [0, 0]\n2 = [0, 0]\n3 = [1, 1]\n",
     "field 'coordinates': node 3 does not exist"),
    ("nodes = 2\nedges = [[1, 2]]\n[coordinates]\n1 = [0, 0]\n2 = [0, 0]\n",
     "nodes 1 and 2 are both at [0.0, 0.0]"),
    ("nodes = 2\nedges = [[1, 2]]\n[coordinates]\n1 = [0, 0]\n2 = [0, nan]\n",
     "node 2 is [0, nan], expected [x, y], two finite numbers"),
    ("nodes = 2\nedges = [[1, 2]]\n[parts]\nr_end_to_end = [1e3, 2e3]\n",
     "field 'parts.r_end_to_end': expected 1 numbers, one per edge"),
    ("nodes = 2\nedges = [[1, 2]]\n[parts]\nr_end_to_end = [-1.0]\n",
     "edge 1 is -1.0, expected a finite value > 0"),
    ("nodes = 2\nedges = [[1, 2]]\n[parts]\nr_wiper = [1.0]\n", "unknown part"),
    ("nodes = 2\nedges = [[1, 2]\n", "invalid TOML syntax"),
]


@pytest.mark.parametrize(("text", "needle"), BAD)
def test_bad_network_file_is_one_line_naming_file_and_problem(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(NetworkFileError) as err:
        Network.from_name(str(path))
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and needle in msg, msg
    assert isinstance(err.value, ConfigError)


def test_missing_network_file_and_unknown_name() -> None:
    with pytest.raises(NetworkFileError, match=r"nowhere\.toml: network file not found"):
        Network.from_name("nowhere.toml")
    with pytest.raises(ConfigError, match=r"'chain3'.*or a path to a network \.toml file"):
        Network.from_name("chain4")


def test_cli_bad_network_named_by_a_task_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    task = user_files(tmp_path)
    (tmp_path / "nets" / "mine.toml").write_text("nodes = 3\nedges = [[1, 2], [2, 1]]\n")
    out = tmp_path / "run.h5"
    assert main(["train", "--task", str(task), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("twinlab: error:"), err
    assert "mine.toml: field 'network':" in err[0] and "repeats edge 1 [1, 2]" in err[0]
    assert not out.exists()  # nothing applied, nothing written


@pytest.mark.parametrize(
    ("task", "argv"),
    [("chain3", ["--eta", "1", "--steps", "60"]), ("bridge5", ["--steps", "60"])],
)
def test_cli_trains_each_seed2_task_on_the_default_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture, task: str, argv: list[str]
) -> None:
    out = tmp_path / "run.h5"
    assert main(["train", "--task", task, *argv, "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("60 steps")
    from lab.runs import RunReader

    with RunReader(out) as reader:
        assert reader.info["network_json"]["name"] == task
        assert reader.n_steps == 60


def test_cli_trains_a_users_30_edge_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    task = user_files(tmp_path)
    out = tmp_path / "run.h5"
    assert main(["train", "--task", str(task), "--steps", "80", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("80 steps")
    from lab.runs import RunReader

    with RunReader(out) as reader:
        net = reader.info["network_json"]
        assert len(net["edges"]) == 30 and len(net["layout"]) == 20


def test_bench_file_names_a_network_file_relative_to_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    task = user_files(tmp_path)
    bench = tmp_path / "benches" / "mine.toml"
    bench.parent.mkdir()
    bench.write_text('kind = "emulator"\n[emulator]\nnetwork = "../nets/mine.toml"\n')
    out = tmp_path / "run.h5"
    argv = ["train", "--task", str(task), "--bench", str(bench), "--steps", "5", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0


def test_wire_rehearsal_of_a_users_network_file(tmp_path: Path) -> None:
    """``twinlab train --bench`` over the wire (SCPI over TCP, serial over a pty) on the
    emulated board of a user's 30-edge file: the written bench names the same file."""
    pytest.importorskip("pyvisa")
    pytest.importorskip("serial")
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator
    from tests.lab.cli.test_cli import run_cli

    task = user_files(tmp_path)
    net = load_task(str(task)).network
    out = tmp_path / "wire.h5"
    with WireEmulator(EmulatorConfig(seed=0, network=net)) as emu:
        bench = emu.write_bench(tmp_path / "wire.toml")
        code, stdout, err = run_cli(
            "train", "--task", str(task), "--bench", str(bench), "--steps", "20", "--out",
            str(out), "--quiet",
        )  # fmt: skip
        assert emu.board.pulses == 20
    assert code == 0, err
    assert stdout.startswith("20 steps")


def test_study_network_file_is_made_absolute(tmp_path: Path, monkeypatch) -> None:
    from lab.insilico.studies.base import StudyArgs

    user_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = StudyArgs(network="nets/mine.toml", out=tmp_path)
    assert args.network_or("planar143") == str((tmp_path / "nets" / "mine.toml").resolve())
    assert StudyArgs(network="chain3", out=tmp_path).network_or("planar143") == "chain3"
    assert StudyArgs(out=tmp_path).network_or("planar143") == "planar143"
