"""The window labels estimated codes "estimated" with their uncertainty, and says "codes
unknown" instead of drawing -1 (pytest-qt, offscreen): replay of real run files and a live
run on a bench without a probe."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtWidgets import QApplication

from gui.window import MainWindow
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task
from tests.gui import benches

STEPS = 8


def _run(path: Path, sense_clamped: bool = True, estimate: str = "auto") -> Path:
    settings = settings_from(task="ii", steps=STEPS, p=1.0, test_every=0, estimate=estimate)
    bench = benches.probeless(sense_clamped)
    Trainer(bench, load_task("ii"), settings, [RunWriter(path)]).run()
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("runs")
    return {"estimated": _run(d / "estimated.h5"),
            "unknown": _run(d / "unknown.h5", sense_clamped=False)}


def test_replay_of_an_estimated_run_says_estimated_and_shows_the_uncertainty(window, runs):
    path = runs["estimated"]
    assert window.open_run(path)
    plots, view = window.plots, window.plots.netview
    assert "estimated" in plots.trace_plot.getPlotItem().titleLabel.text
    assert "estimated" in view.getPlotItem().titleLabel.text
    assert len(plots.bands) == 16 and all(c.isVisible() for c in plots.trace_curves)
    with RunReader(path) as run:
        codes, sd = run.steps["positions"][:], run.steps["positions_sd"][:]
    band = plots.bands[3]  # at each step a segment codes - sd .. codes + sd (8 steps)
    np.testing.assert_array_equal(band.xData, np.repeat(np.arange(STEPS), 2))
    np.testing.assert_allclose(band.yData[0::2], codes[:, 3] - sd[:, 3], rtol=1e-6)
    np.testing.assert_allclose(band.yData[1::2], codes[:, 3] + sd[:, 3], rtol=1e-6)
    assert band.isVisible()
    plots.set_edge_visible(3, False)  # a hidden edge hides its band too
    assert not band.isVisible()
    label = view.network.edge_labels()[5]
    assert view.edge_text(5) == f"edge {label}: code {codes[-1, 5]} ± {sd[-1, 5]:.2g} (estimated)"
    assert re.fullmatch(r"edge \d+-\d+: code \d+ ± [0-9.e-]+ \(estimated\)", view.edge_text(0))
    window.show_step(2)  # another step: its own code and sd
    assert view.edge_text(5).startswith(f"edge {label}: code {codes[2, 5]} ± {sd[2, 5]:.2g}")
    view.sd = np.full(16, 0.02)  # a well-seen code: "± 0.02", not "± 0.0"
    assert view.edge_text(5).endswith(" ± 0.02 (estimated)")


def test_hovering_an_edge_shows_its_code(window, runs):
    assert window.open_run(runs["estimated"])
    view = window.plots.netview
    box = view.getPlotItem().getViewBox()
    xy = np.asarray(view.network.layout, float)
    for i, (a, b) in enumerate(view.network.edges.tolist()):
        mid = box.mapViewToScene(QPointF(*((xy[a] + xy[b]) / 2).tolist()))
        assert view.edge_at(mid) == i
    view.hover_edge(7)
    assert view.hover_label.isVisible()
    assert view.hover_label.textItem.toPlainText() == view.edge_text(7)
    assert "(estimated)" in view.edge_text(7)


def test_replay_of_a_run_without_codes_says_codes_unknown(window, runs):
    assert window.open_run(runs["unknown"])
    plots, view = window.plots, window.plots.netview
    assert plots.trace_plot.getPlotItem().titleLabel.text.startswith("digipot codes unknown")
    assert not any(c.isVisible() for c in plots.trace_curves)  # no -1 lines
    assert plots.unknown_text.isVisible()
    assert plots.unknown_text.textItem.toPlainText().startswith("codes unknown")
    assert "clamped twin has no sense channel" in plots.unknown_text.textItem.toPlainText()
    assert "codes unknown" in view.getPlotItem().titleLabel.text
    assert all(t.textItem.toPlainText() == "?" for t in view._labels)
    assert view.edge_text(0).endswith("code unknown")
    assert "codes unknown: no resistance probe" in window.statusBar().currentMessage()
    assert not plots.bands


def test_an_exact_run_has_no_estimated_label(window, tmp_path):
    path = tmp_path / "exact.h5"
    bench = benches.emulator()
    Trainer(bench, load_task("ii"), settings_from(steps=STEPS, test_every=0),
            [RunWriter(path)]).run()
    assert window.open_run(path)
    plots = window.plots
    assert plots.trace_plot.getPlotItem().titleLabel.text == "digipot codes vs step"
    assert not plots.bands and not plots.unknown_text.isVisible()
    assert "estimated" not in plots.netview.edge_text(0)
    assert re.fullmatch(r"edge \d+-\d+: code \d+", plots.netview.edge_text(0))


def test_a_live_run_on_a_bench_without_a_probe_shows_estimated_traces(qtbot, tmp_path):
    out = tmp_path / "live.h5"
    w = MainWindow(out=out, settings={"task": "ii", "steps": 12, "p": 1.0},
                   bench_factory=partial(benches.probeless, True))
    qtbot.addWidget(w)
    w.show()
    assert w.start_run()
    qtbot.waitUntil(lambda: w.summary is not None or not w.source.running, timeout=180_000)
    qtbot.waitUntil(lambda: not w.source.running, timeout=60_000)
    plots = w.plots
    assert w.source.codes == "estimated"
    assert "estimated" in plots.trace_plot.getPlotItem().titleLabel.text
    assert len(plots.bands) == 16
    assert sum(c.isVisible() and c.yData is not None and len(c.yData) > 0
               for c in plots.trace_curves) == 16
    assert w.source.history.has_uncertainty
    assert "(estimated)" in plots.netview.edge_text(0)


def test_the_heat_map_says_estimated_in_the_traces_words_and_names_every_edge(window, runs):
    assert window.open_run(runs["estimated"])
    plots = window.plots
    codes_title = plots.trace_plot.getPlotItem().titleLabel.text
    heat_title = plots.heat_plot.getPlotItem().titleLabel.text
    assert "(estimated;" in codes_title and "(estimated;" in heat_title
    from gui.plots import ESTIMATED  # one wording for both

    assert f"({ESTIMATED};" in codes_title and f"({ESTIMATED};" in heat_title
    plots.set_unit("kohm")  # the unit switch keeps the word
    assert f"({ESTIMATED};" in plots.heat_plot.getPlotItem().titleLabel.text
    plots.set_unit("code")
    axis = plots.heat_plot.getPlotItem().getAxis("left")
    labels = window.plots.netview.network.edge_labels()
    plots.heat_plot.resize(600, 400)  # rows taller than a name's line: every edge named
    QApplication.processEvents()
    assert plots.heat_tick_step() == 1
    assert [t[1] for t in axis._tickLevels[0]] == labels
    plots.heat_plot.resize(600, 130)  # a short panel: every other edge (or fewer)
    QApplication.processEvents()
    step = plots.heat_tick_step()
    assert step > 1 and [t[1] for t in axis._tickLevels[0]] == labels[::step]


def test_replay_at_p_1_shows_an_effective_p_of_1(window, runs):
    """Every edge updates at every step at p = 1: the curve lies at 1, under neither the
    dashed set-p line at 1 nor the plot's top edge (the panel looked empty)."""
    assert window.open_run(runs["estimated"])  # p = 1
    panel = window.watch
    panel.redraw(window.source.history, force=True)
    np.testing.assert_array_equal(panel.p_curve.yData, np.ones(STEPS))
    assert panel.p_set.value() == 1.0 and panel.p_set.isVisible()
    assert panel.p_curve.zValue() > panel.p_set.zValue()  # drawn over the set line
    lo, hi = panel.p_plot.getViewBox().viewRange()[1]
    assert hi >= 1.05 and lo <= 0


def test_the_sd_bands_are_visible_in_their_traces_colours_under_the_traces(window, runs):
    assert window.open_run(runs["estimated"])
    plots = window.plots
    for band, trace in zip(plots.bands, plots.trace_curves, strict=True):
        colour, own = band.opts["pen"].color(), trace.opts["pen"].color()
        assert colour.rgb() == own.rgb()  # the trace's own colour
        assert colour.alpha() >= 150  # was 90: hard to see on black
        assert own.alpha() == 255 and band.zValue() < trace.zValue()  # traces on top
    # a step as wide on screen as several pixels: the segments close up into one band
    # (they were 1 px ticks with gaps between them)
    box = plots.trace_plot.getPlotItem().getViewBox().width()
    band = plots.bands[0]
    assert band.opts["pen"].capStyle() == Qt.PenCapStyle.FlatCap  # no wider than ± 1 sd
    assert band.opts["pen"].widthF() == pytest.approx(box / (STEPS - 1), rel=0.05)
    assert band.opts["pen"].widthF() > 10
    assert plots.band_px(np.arange(100_000.0)) == 1.0  # a long run: one pixel, many steps
