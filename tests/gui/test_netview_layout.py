"""The network view draws any network (issue 17, item 5): a network file's coordinates,
its automatic layout when it has none, a run file's recorded layout, and a live run of a
network-file task in the window (pytest-qt, offscreen)."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from gui.netview import NetworkView, network_from_dict
from gui.window import MainWindow
from lab.core.layout import auto_layout
from lab.core.network import Network
from lab.runs import RunReader
from tests.lab.core.test_netfile import user_files


def test_run_file_network_without_a_known_layout_gets_the_automatic_one() -> None:
    """Regression: an unknown network was drawn with every node on a circle, where most
    edges of a 30-edge network cross."""
    lat = Network.lattice(4, 5)
    d = {"name": "someone-elses-board", "n_nodes": 20, "edges": (lat.edges + 1).tolist()}
    net = network_from_dict(d)
    np.testing.assert_array_equal(net.layout, auto_layout(20, lat.edges))
    assert not np.allclose(np.hypot(*net.layout.T), np.hypot(*net.layout.T)[0])  # no circle


def test_run_file_network_with_a_layout_is_drawn_at_it() -> None:
    xy = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.5]]
    d = {"name": "/gone/file.toml", "n_nodes": 3, "edges": [[1, 2], [2, 3]], "layout": xy}
    np.testing.assert_array_equal(network_from_dict(d).layout, xy)


def test_view_draws_a_network_file_at_its_layout(qtbot, tmp_path: Path) -> None:
    user_files(tmp_path)
    net = Network.from_name(str(tmp_path / "nets" / "mine.toml"))
    view = NetworkView(net)
    qtbot.addWidget(view)
    assert len(view._edges) == 30
    for line, (a, b) in zip(view._edges, net.edges.tolist(), strict=True):
        x, y = line.getData()
        np.testing.assert_array_equal(x, net.layout[[a, b], 0])
        np.testing.assert_array_equal(y, net.layout[[a, b], 1])
    chain = NetworkView(Network.from_name("chain3"))  # the file's coordinates
    qtbot.addWidget(chain)
    x, _ = chain._edges[2].getData()
    np.testing.assert_array_equal(x, [2.0, 3.0])


def test_live_run_of_a_network_file_task_in_the_window(qtbot, tmp_path: Path) -> None:
    out = tmp_path / "run.h5"
    w = MainWindow(out=out, settings={"task": "bridge5", "steps": 30})
    qtbot.addWidget(w, before_close_func=lambda _, keep=w: None)
    w.show()
    assert w.start_run(), w.last_message
    qtbot.waitUntil(lambda: w.live is None, timeout=60_000)
    assert w.summary is not None and w.summary.complete, w.last_message
    with RunReader(out) as reader:
        assert reader.info["network_json"]["name"] == "bridge5"
