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

from PyQt6.QtCore import QPointF

from gui.netview import MAX_STRETCH, NetworkView, network_from_dict
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


def spread(view: NetworkView) -> tuple[float, float]:
    """The nodes' extent (centre to centre) as fractions of the drawing area's width and
    height, in the view's pixels."""
    box = view.getPlotItem().getViewBox()
    pts = np.array([[p.x(), p.y()] for p in (box.mapViewToScene(QPointF(x, y))
                                             for x, y in view.network.layout.tolist())])
    area = box.sceneBoundingRect()
    return float(np.ptp(pts[:, 0]) / area.width()), float(np.ptp(pts[:, 1]) / area.height())


@pytest.mark.parametrize("size", [(1400, 900), (1900, 1150)])
def test_a_30_edge_automatic_layout_uses_the_whole_view(qtbot, tmp_path: Path, size) -> None:
    """Regression: the 30-edge network file's automatic layout, about square, kept an equal
    aspect in the wide panel and spanned 42 % of its width, crowded between empty bands."""
    user_files(tmp_path)
    net = Network.from_name(str(tmp_path / "nets" / "mine.toml"))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.plots.set_network(net, [1], [20, 8], [5])
    w.resize(*size)
    qtbot.wait(100)  # the layouts settle at the next event loop passes, as on screen
    view = w.plots.netview
    assert view.network is net and view.isVisible()
    x, y = spread(view)
    assert x >= 0.7 and y >= 0.75, (x, y)
    box = view.getPlotItem().getViewBox()
    (x0, x1), (y0, y1) = box.viewRange()
    rect = box.sceneBoundingRect()
    stretch = (rect.width() / (x1 - x0)) / (rect.height() / (y1 - y0))
    assert 1.0 < stretch <= MAX_STRETCH + 1e-6  # wider, within the bound
    for p in view._nodes.points():  # every marker inside the drawing area
        assert rect.contains(box.mapViewToScene(p.pos()))


def test_a_drawing_that_fills_the_view_keeps_an_equal_aspect(qtbot) -> None:
    view = NetworkView(Network.twin16())
    qtbot.addWidget(view)
    view.resize(549, 201)
    view.show()
    qtbot.wait(50)
    assert view.stretch() == 1.0
    chain = NetworkView(Network.from_name("chain3"))  # flat: stretched no more than the bound
    qtbot.addWidget(chain)
    chain.resize(549, 201)
    chain.show()
    qtbot.wait(50)
    assert chain.stretch() == MAX_STRETCH
