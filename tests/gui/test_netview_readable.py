"""The network view read at a glance (issue 16, items 3 and 5): at the window's default
1400x900 and larger, the drawing fills its panel (legends beside it, equal aspect) and no
code label covers a node marker or another label, measured in the view's pixels
(pytest-qt, offscreen)."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import QRectF

from gui.netview import NetworkView
from gui.window import MainWindow
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.core.network import Network
from lab.hal.benchfile import load_bench
from lab.runs import RunWriter
from lab.tasks import load_task

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 60-step run of task ii on the emulator (codes of two and three digits)."""
    path = tmp_path_factory.mktemp("readable") / "run.h5"
    settings = settings_from(task="ii", steps=60, p=0.5, test_every=0)
    Trainer(load_bench(None), load_task("ii"), settings, [RunWriter(path)]).run()
    return path


def node_rects(view: NetworkView) -> list[QRectF]:
    """Each node marker's square in scene (= view pixel) coordinates."""
    box = view.getPlotItem().getViewBox()
    out = []
    for spot in view._nodes.points():
        size = float(spot.size())
        p = box.mapViewToScene(spot.pos())
        out.append(QRectF(p.x() - size / 2, p.y() - size / 2, size, size))
    assert len(out) == view.network.n_nodes
    return out


def label_rects(view: NetworkView) -> dict[int, QRectF]:
    """The visible code labels' boxes (text and its background) in scene coordinates."""
    return {i: label.sceneBoundingRect() for i, label in enumerate(view._labels)
            if label.isVisible() and label.textItem.toPlainText()}


def overlaps(view: NetworkView) -> list[str]:
    """Every code label that covers a node marker or another label."""
    nodes, labels = node_rects(view), label_rects(view)
    names = view.network.edge_labels()
    bad = [f"label {names[i]} on node {n + 1}" for i, r in labels.items()
           for n, node in enumerate(nodes) if r.intersects(node)]
    items = sorted(labels.items())
    bad += [f"label {names[i]} on label {names[j]}" for k, (i, r) in enumerate(items)
            for j, s in items[k + 1:] if r.intersects(s)]
    return bad


def shown(qtbot, w: MainWindow, size: tuple[int, int]) -> NetworkView:
    w.resize(*size)
    qtbot.wait(100)  # the layouts settle at the next event loop passes, as on screen
    return w.plots.netview


@pytest.mark.parametrize("size", [(1400, 900), (1900, 1150)])
def test_code_labels_cover_no_node_and_no_other_label(window, run, qtbot, size):
    """Regression: at 1400x900 twin16 was drawn in about 130 px; its 16 labels covered
    the nodes (node 8's triangle hid behind them) and each other."""
    assert window.open_run(run)
    view = shown(qtbot, window, size)
    assert view.isVisible() and view.has_data
    assert overlaps(view) == []
    assert len(label_rects(view)) == 16  # twin16: room for every label at these sizes
    box = view.getPlotItem().getViewBox().sceneBoundingRect()
    for r in label_rects(view).values():
        assert box.contains(r), r  # inside the drawing, not on its legends


def test_estimated_labels_with_their_spread_cover_nothing(window, run, qtbot):
    assert window.open_run(run)
    view = shown(qtbot, window, (1400, 900))
    view.set_codes("estimated")
    view.set_state(np.full(16, 127), None, sd=np.full(16, 0.7))  # "127±0.7", the widest
    qtbot.wait(50)
    assert overlaps(view) == []
    for i, label in enumerate(view._labels):  # hidden for lack of room: still on hover
        if not label.isVisible():
            view.hover_edge(i)
            assert view.hover_label.isVisible() and "127 ± 0.7" in view.hover_label.toPlainText()
            view.hover_edge(None)


def test_the_drawing_fills_its_panel_at_an_equal_aspect(window, run, qtbot):
    """Regression: the colour bar and role legend took most of the panel; the drawing
    spanned about a sixth of it."""
    assert window.open_run(run)
    view = shown(qtbot, window, (1400, 900))
    nodes = node_rects(view)
    xs = [r.center().x() for r in nodes]
    ys = [r.center().y() for r in nodes]
    drawn = (max(xs) - min(xs) + 22) * (max(ys) - min(ys) + 22)
    assert drawn >= 0.35 * view.width() * view.height(), (drawn, view.width(), view.height())
    box = view.getPlotItem().getViewBox()
    (x0, x1), (y0, y1) = box.viewRange()
    rect = box.sceneBoundingRect()
    assert rect.width() / (x1 - x0) == pytest.approx(rect.height() / (y1 - y0), rel=1e-2)


def test_a_30_edge_network_shows_the_labels_it_has_room_for(qtbot):
    """Labels without room are hidden, not stacked; a larger view shows more of them."""
    net = Network.from_name(str(REPO / "bench" / "networks" / "board30.toml"))
    view = NetworkView(net)
    qtbot.addWidget(view)
    view.set_state(np.full(net.n_edges, 127), None)
    view.show()
    counts = []
    for size in ((549, 201), (1100, 700)):
        view.resize(*size)
        qtbot.wait(50)
        assert overlaps(view) == []
        counts.append(len(label_rects(view)))
    assert 0 < counts[0] < counts[1]

