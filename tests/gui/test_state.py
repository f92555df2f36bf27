"""Issue 16 (6, 7, 8): a new run starts from a clean window, replay shows the run's own
settings read-only and one step readout, the plots follow the cursor, a live run keeps a
chosen pace (pytest-qt, offscreen; real training processes and run files)."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

from functools import partial

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

import gui.sources
from gui.model import History
from lab.runs import RunReader
from tests.gui.test_window import live_window, make_run, wait_run


def assert_nothing_shown(w) -> None:
    """The state of a window whose run has no steps yet: nothing of an earlier run."""
    p = w.plots
    assert w.timeline.step_label.text() == ""
    assert w.timeline.slider.maximum() == 0
    assert not any(line.isVisible() for line in p.vlines)
    for curve in (p.error_curve, *p.trace_curves,
                  *(c for group in p.output_curves for c in group)):
        assert curve.xData is None or len(curve.xData) == 0
    assert w.status_step.text() == "no steps"
    assert not np.any(p.netview.codes)


def test_a_second_run_clears_the_first_runs_timeline_cursor_and_readouts(
        qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_RUNS", str(tmp_path / "runs"))
    w = live_window(qtbot, tmp_path / "first.h5", steps=300)
    assert w.start_run(), w.last_message
    wait_run(qtbot, w)
    assert w.timeline.step_label.text().startswith("step 299,")
    assert all(line.isVisible() and line.value() == 299 for line in w.plots.vlines)
    w.controls.steps_box.setValue(120)
    assert w.start_run(), w.last_message
    assert_nothing_shown(w)  # at once: before the new process sent anything
    wait_run(qtbot, w)
    assert w.history.total == 120 and w.timeline.slider.maximum() == 119
    assert w.timeline.step_label.text().startswith("step 119,")
    assert all(line.value() == 119 for line in w.plots.vlines)
    assert len(w.plots.error_curve.xData) == 120 and w.status_step.text() == "120 steps"


def test_replay_shows_the_runs_own_settings_read_only(window, tmp_path):
    path = make_run(tmp_path / "run.h5", steps=300, p=0.5)
    c = window.controls
    assert c.p_box.value() == 1.0 and c.steps_box.value() == 2000  # the defaults
    assert window.open_run(path)
    with RunReader(path) as reader:
        settings = reader.settings
    assert c.shown_settings() == {k: settings[k] for k in
                                  ("task", "eta", "p", "steps", "seed", "rate", "rule",
                                   "estimate")}
    assert c.p_box.value() == 0.5 and c.steps_box.value() == 300
    boxes = (c.task_box, c.eta_box, c.p_box, c.steps_box, c.seed_box, c.rate_box,
             c.rule_box, c.estimate_box)
    assert not any(box.isEnabled() for box in boxes)
    assert "read-only" in c.settings_title.text()
    assert f"order {settings['order']}" in c.run_note.text()
    assert f"test_every {settings['test_every']}" in c.run_note.text()
    assert "p=0.5" in window.statusBar().currentMessage()  # agrees with the panel
    # one step readout: the timeline's; the status bar tells the run's length
    window.timeline.slider.setValue(57)
    assert window.timeline.step_label.text().startswith("step 57,")
    assert window.status_step.text() == "300 steps"
    c.edit_button.click()  # back to editing, from the values shown
    assert all(box.isEnabled() for box in boxes) and c.p_box.value() == 0.5
    assert c.settings().p == 0.5 and c.settings().steps == 300


def test_the_plots_follow_the_cursor_with_a_window_around_it(window, tmp_path):
    path = make_run(tmp_path / "run.h5", steps=2000)
    assert window.open_run(path)
    p, t = window.plots, window.timeline
    lo, hi = p.step_range()
    assert lo <= 0 and hi >= 1999  # the whole run
    t.window_box.setValue(50)
    t.slider.setValue(100)
    assert p.step_range() == (50.0, 150.0)
    window._tick()  # the next frame draws the window at full resolution
    x = p.error_curve.xData
    np.testing.assert_array_equal(x, np.arange(49, 152))
    t.slider.setValue(1000)
    assert p.step_range() == (950.0, 1050.0)
    t.window_box.setValue(0)  # the whole run again: the overview
    window._tick()
    lo, hi = p.step_range()
    assert lo <= 0 and hi >= 1999


def test_following_a_decimated_replay_draws_the_window_at_full_resolution(
        window, tmp_path, monkeypatch):
    """A run longer than the history's full-resolution ring is decimated in the overview;
    the follow window around the cursor is read from the file at every step."""
    monkeypatch.setattr(gui.sources, "History", partial(History, recent=256, archive=256))
    path = make_run(tmp_path / "run.h5", steps=3000)
    assert window.open_run(path)
    assert window.history.stride > 1  # the overview is decimated
    t, p = window.timeline, window.plots
    t.window_box.setValue(50)
    t.slider.setValue(100)
    window._tick()
    np.testing.assert_array_equal(p.error_curve.xData, np.arange(50, 151))
    with RunReader(path) as reader:
        np.testing.assert_allclose(p.error_curve.yData, reader.steps["error"][50:151])
        codes = reader.steps["positions"][50:151]
    for i, curve in enumerate(p.trace_curves):
        np.testing.assert_array_equal(curve.yData, codes[:, i])
    assert p.test_curve.xData is not None and list(p.test_curve.xData) == [100]
    t.window_box.setValue(0)  # the whole run: the decimated overview again
    window._tick()
    assert len(p.error_curve.xData) < 3000 and p.error_curve.xData[-1] == 2999


def test_a_paced_live_run_keeps_the_chosen_rate(qtbot, tmp_path):
    """The rate box paces the training process: steps/s from the run file's recorded
    step times (its ``time`` column, not this test's wall clock) within 10 %."""
    out, rate = tmp_path / "paced.h5", 25.0
    w = live_window(qtbot, out, steps=76, rate=rate)  # three seconds
    assert w.controls.rate_box.value() == rate
    assert w.start_run(), w.last_message
    wait_run(qtbot, w)
    assert w.summary is not None and w.summary.complete
    with RunReader(out) as reader:
        t = reader.steps["time"][:]
        assert reader.settings["rate"] == rate
    measured = (len(t) - 1) / (t[-1] - t[0])
    assert abs(measured - rate) <= 0.1 * rate, measured
