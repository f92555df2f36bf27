"""The watch panel (issue 16, item 9): effective p, bias, each edge's learning signal,
from what the run records; what a probe-less bench cannot show is said (pytest-qt)."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from gui.watch import effective_p, told_updates
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task
from tests.gui import benches
from tests.gui.test_window import make_run


def test_effective_p_is_the_mean_fraction_of_edges_updated_per_bin():
    mask = np.zeros((10, 4), bool)
    mask[:5, :2] = True  # steps 0-4: half the edges
    mask[5:, :] = True  # steps 5-9: every edge
    x, y = effective_p(np.arange(10), mask, bins=2)
    np.testing.assert_array_equal(x, [0, 5])
    np.testing.assert_allclose(y, [0.5, 1.0])
    x, y = effective_p(np.arange(10), mask, bins=3)  # bins of 4, 4, 2 steps
    np.testing.assert_allclose(y, [0.5, (2 + 4 + 4 + 4) / 16, 1.0])


def test_replay_watch_shows_the_runs_effective_p_bias_and_learning_signal(window, tmp_path):
    path = make_run(tmp_path / "run.h5", steps=300, p=0.5)
    assert window.open_run(path)
    watch = window.watch
    with RunReader(path) as reader:
        mask = reader.steps["update_mask"][:]
        direction = reader.steps["direction"][:]
        bias = reader.settings["bias_volts"]
    np.testing.assert_allclose(watch.p_curve.yData, mask.mean(axis=1))
    assert watch.p_set.value() == 0.5
    assert f"V_B = {bias:.4g} V" in watch.bias_label.text()
    # the signal's sign is the rule's decision wherever it exceeds every comparator
    # offset (direction +1 when |dV_C| + sigma > |dV_F|, 0 <= sigma <= sigma_max)
    margin = EmulatorConfig().sigma_max + 0.01
    checked = 0
    for k in range(1, 300, 7):
        window.timeline.slider.setValue(k)
        assert watch.signal_step == k and watch.signal.shape == (16,)
        clear = mask[k] & (np.abs(watch.signal) > margin)
        np.testing.assert_array_equal(np.sign(watch.signal[clear]), direction[k][clear])
        checked += int(clear.sum())
    assert checked > 5
    assert "step 295" in watch.signal_note.text()


def test_a_probeless_run_says_what_the_watch_cannot_show(window, tmp_path):
    path = tmp_path / "probeless.h5"
    bench = benches.probeless()
    try:
        Trainer(bench, load_task("ii"), settings_from(task="ii", steps=50, estimate="off"),
                [RunWriter(path)]).run()
    finally:
        bench.close()
    assert window.open_run(path)
    watch = window.watch
    assert "effective p unavailable" in watch.p_note.text()
    assert "learning signal unavailable" in watch.signal_note.text()
    assert watch.p_curve.xData is None or len(watch.p_curve.xData) == 0
    window.timeline.slider.setValue(20)
    assert watch.signal is None
    assert "bias V_B" in watch.bias_label.text()  # the bias is recorded all the same


def test_a_live_run_fills_the_watch(qtbot, tmp_path):
    from tests.gui.test_window import live_window, wait_run

    w = live_window(qtbot, tmp_path / "live.h5", steps=200, p=0.5)
    assert w.start_run(), w.last_message
    wait_run(qtbot, w)
    assert len(w.watch.p_curve.yData) == 200
    assert "V_B" in w.watch.bias_label.text() and w.watch.signal_step == 199


def _colours(path) -> set[str]:
    """Every pixel colour of a PNG, as #rrggbb."""
    from PyQt6.QtGui import QImage

    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    assert not image.isNull()
    bits = image.constBits()
    bits.setsize(image.sizeInBytes())
    bgra = np.frombuffer(bits, np.uint8).reshape(image.height(), -1, 4)[:, :image.width()]
    rgb = {tuple(int(c) for c in px) for px in bgra[..., 2::-1].reshape(-1, 3)}
    return {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb}


def test_the_exported_figures_hold_the_watch_strip(window, tmp_path):
    """File > Export figures (light PNG + SVG) and the screen's PNG export: the watch
    strip is one figure, effective p titled with the bias, and the learning signal."""
    path = make_run(tmp_path / "run.h5", steps=300, p=0.5)
    assert window.open_run(path)
    window.timeline.slider.setValue(150)
    with RunReader(path) as reader:
        bias = reader.settings["bias_volts"]
    saved = window.export_figures(tmp_path / "fig")
    png, svg = tmp_path / "fig" / "run_watch.png", tmp_path / "fig" / "run_watch.svg"
    assert png in saved and svg in saved
    text = svg.read_text()
    for words in ("effective p", f"V_B = {bias:.4g} V", "set p = 0.5", "fraction updated",
                  "learning signal", "step 150", "edge"):
        assert words in text, words
    colours = _colours(png)
    assert "#ffffff" in colours  # the light theme's ground
    assert "#2ca02c" in colours  # the learning-signal bars
    assert "#1f77b4" in colours  # the effective-p curve
    screen = window.export_png(tmp_path / "screen")
    assert tmp_path / "screen" / "run_watch.png" in screen
    assert "#000000" in _colours(tmp_path / "screen" / "run_watch.png")  # the dark screen


def test_effective_p_follows_the_replay_zoom_as_the_other_plots_do(window, tmp_path):
    """Regression: zoomed or following the cursor in replay, the error and digipot plots
    showed the window's steps, the effective-p plot the whole run, binned over it."""
    path = make_run(tmp_path / "run.h5", steps=2000)
    assert window.open_run(path)
    watch, t = window.watch, window.timeline
    t.window_box.setValue(50)
    t.slider.setValue(100)
    window._tick()
    assert window.plots.step_range() == (50.0, 150.0)
    lo, hi = watch.p_plot.getViewBox().viewRange()[0]
    assert (lo, hi) == pytest.approx((50.0, 150.0))
    x, y = watch.p_curve.getData()
    assert x[0] >= 49 and x[-1] <= 151 and len(x) >= 90  # re-binned: one step per bin
    with RunReader(path) as reader:
        mask = reader.steps["update_mask"][:]
    np.testing.assert_allclose(y, mask[x.astype(int)].mean(axis=1))
    window.plots.error_plot.setXRange(1200, 1600, padding=0)  # a zoom by hand
    window._tick()
    lo, hi = watch.p_plot.getViewBox().viewRange()[0]
    assert (lo, hi) == pytest.approx((1200.0, 1600.0))
    x, _ = watch.p_curve.getData()
    assert x[0] >= 1199 and x[-1] <= 1601
    t.window_box.setValue(0)  # the whole run again (also after a zoom by hand)
    window._tick()
    lo, hi = window.plots.step_range()
    assert lo <= 0 and hi >= 1999
    lo, hi = watch.p_plot.getViewBox().viewRange()[0]
    x, _ = watch.p_curve.getData()
    assert lo <= 0 and hi >= 1990 and x[0] == 0 and x[-1] > 1900


def test_an_estimated_runs_effective_p_leaves_out_edges_held_at_a_rail(window, tmp_path):
    """On a probe-less bench the mask is the estimator's "code moved": an enabled edge held
    at a rail in its direction stays, so the mask's mean read 0.20 at p = 0.5 (0.05 late
    in the run) and the window drew that as the effective p. The file says what the mask
    means, and the window counts only the pairs the estimate can tell (`told_updates`)."""
    path = tmp_path / "estimated.h5"
    bench = benches.probeless()
    try:
        Trainer(bench, load_task("ii"), settings_from(task="ii", steps=400, p=0.5),
                [RunWriter(path)]).run()
    finally:
        bench.close()
    with RunReader(path) as reader:
        mask = reader.steps["update_mask"][:]
        positions = reader.steps["positions"][:]
        direction = reader.steps["direction"][:]
        attrs = dict(reader.steps["update_mask"].attrs)
    assert attrs["estimated"] and attrs["meaning"].startswith("moved")
    held = ~told_updates(mask, positions, direction, 127)
    assert held.mean() > 0.3  # the situation: many codes at a rail
    assert mask.mean() < 0.4  # what the window drew before
    told = mask[~held].mean()
    assert abs(told - 0.5) < 0.06, told  # binomial sd ~0.01 over these pairs + tracking
    assert window.open_run(path)
    y = np.asarray(window.watch.p_curve.yData)
    assert abs(np.nanmean(y) - 0.5) < 0.08, np.nanmean(y)
    assert "held at a rail" in window.watch.p_note.text()
