"""``twinlab study NAME --network NAME|FILE``: the network of a study that takes one;
one line for a bad network and for a study that fixes its network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.cli import main

RING = """description = "a user's own board: a ring of 8 with 4 chords"
nodes = 8
edges = [[1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 8], [8, 1],
         [1, 5], [2, 6], [3, 7], [4, 8]]
"""


def test_a_network_file_reaches_the_study(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "ring.toml").write_text(RING)
    monkeypatch.chdir(tmp_path)  # a relative path, resolved against the working directory
    out = tmp_path / "studies"
    argv = ["study", "collapse", "--network", "ring.toml", "--tasks", "1", "--seeds", "1",
            "--steps", "200", "--workers", "1", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    summary = json.loads((out / "collapse.json").read_text())
    assert summary["statistics"]["network"] == str(tmp_path / "ring.toml")
    lines = (out / "collapse.jsonl").read_text().splitlines()
    points = [json.loads(line)["point"] for line in lines]
    assert {p["network"] for p in points} == {str(tmp_path / "ring.toml")}


@pytest.mark.parametrize(
    ("study", "network", "expect"),
    [
        ("collapse", "nope.toml", "nope.toml: network file not found"),
        ("collapse", "planar1", "--network: network 'planar1'"),
        ("discrete-regression", "hexagon", "--network: unknown network 'hexagon'"),
        ("collapse", "BAD", "bad.toml: field 'edges'"),
        ("iris", "lattice3x3", "--network: study 'iris' fixes its networks"),
        ("seed2", "layer4x2x2", "--network: study 'seed2' fixes its networks"),
        ("experiment-allostery", "lattice3x3", "--network: study 'experiment-allostery': "
         "field 'network': the experiment runs on the emulated twin16 board"),
    ],
)
def test_bad_or_refused_network_is_one_line_and_nothing_runs(
    tmp_path: Path, capsys, study: str, network: str, expect: str
) -> None:
    if network == "BAD":
        bad = tmp_path / "bad.toml"
        bad.write_text('nodes = 3\nedges = [[1, 2], [2, 2]]\n')
        network = str(bad)
    out = tmp_path / "studies"
    assert main(["study", study, "--network", network, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twinlab: error: ") and expect in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())  # nothing run, nothing written
