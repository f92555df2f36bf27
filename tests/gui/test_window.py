"""The live window on the emulator, replay, follow mode, export (pytest-qt, offscreen)."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import gc
import json
import subprocess
import sys
import textwrap
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QMessageBox

import gui.sources
from gui.app import main
from gui.model import History
from gui.plots import smooth
from gui.window import MainWindow
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig
from lab.hal import Bench
from lab.hal.benchfile import load_bench
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task
from tests.gui import benches

REPO = Path(__file__).resolve().parents[2]


def make_run(path: Path, steps: int = 300, p: float = 0.5) -> Path:
    """A complete run file of task ii on the emulator."""
    settings = settings_from(task="ii", steps=steps, p=p)
    bench = load_bench(None)
    Trainer(bench, load_task("ii"), settings, [RunWriter(path)]).run()
    return path


def assert_safe(record: Path) -> None:
    """The training process's emulated board, as `benches.recorded` left it on close:
    every DAC output released at 0 V and the bias where no edge can update."""
    state = json.loads(record.read_text())
    assert not state["driven"]
    assert state["applied_max"] == 0.0
    assert state["bias"] > state["oscillator_max"]


def live_window(qtbot, out: Path, factory: Callable[[], Bench] | None = None,
                **settings) -> MainWindow:
    """A shown window whose live runs use ``factory`` (None: the default emulator bench,
    built by `load_bench` in the training process) and write ``out`` first."""
    w = MainWindow(out=out, settings=settings, bench_factory=factory)
    # pytest-qt holds a weak reference only; the closure keeps the window until pytest-qt
    # closes it at teardown, so a test's end does not delete a shown window before its
    # closeEvent (stop the run, close the source) has run
    qtbot.addWidget(w, before_close_func=lambda _, keep=w: None)
    w.show()
    return w


def wait_run(qtbot, w: MainWindow, timeout: int = 60_000) -> None:
    """Wait until the training process has ended and the window has taken its end."""
    qtbot.waitUntil(lambda: w.live is None, timeout=timeout)


def test_live_run_of_200_steps_fills_the_plots_and_completes_the_file(qtbot, tmp_path):
    out = tmp_path / "live.h5"
    w = live_window(qtbot, out, steps=200)
    qtbot.mouseClick(w.controls.start_button, Qt.MouseButton.LeftButton)
    assert w.live is not None, w.last_message
    assert not w.controls.start_button.isEnabled() and w.controls.stop_button.isEnabled()
    wait_run(qtbot, w)
    assert len(w.plots.error_curve.xData) == 200 and w.history.total == 200
    with RunReader(out) as reader:
        assert reader.complete and reader.n_steps == 200
        np.testing.assert_allclose(w.plots.error_curve.yData, reader.steps["error"][:])
        last = reader.steps["positions"][-1]
    traces = w.plots.trace_curves
    assert len(traces) == 16 and all(len(c.xData) == 200 for c in traces)
    np.testing.assert_array_equal(w.plots.netview.codes, last)
    assert len(w.plots.output_curves) == 1 and len(w.plots.output_curves[0][0].xData) == 200
    assert "complete" in w.statusBar().currentMessage()
    assert w.status_file.full_text() == str(out.resolve()) == w.status_file.toolTip()
    assert w.status_rate.text().endswith("steps/s (mean)")
    assert w.status_step.text() == "200 steps"  # the run; the shown step: the timeline
    assert w.timeline.step_label.text().startswith("step 199,")


def test_a_stuck_edge_s_warning_ends_up_in_the_status_line(qtbot, tmp_path):
    """The trainer's warnings (an edge that does not step) reach the window's last status
    line, as they reach the terminal of `twinlab train`."""
    out = tmp_path / "stuck.h5"
    w = live_window(qtbot, out, partial(benches.stuck_edge, "1-4"), steps=200, p=1.0)
    assert w.start_run(), w.last_message
    wait_run(qtbot, w)
    message = w.statusBar().currentMessage()
    assert "run complete" in message and "edge 1-4 has not moved" in message, message
    assert message.count("has not moved") == 1
    with RunReader(out) as reader:
        assert any("edge 1-4" in line for line in reader.warnings)


@pytest.mark.parametrize(("field", "value", "words"), [
    ("eta_box", 0.0, "'eta'"), ("p_box", 1.5, "'p'"), ("steps_box", 0, "'steps'"),
])
def test_bad_settings_show_the_cli_error_and_start_nothing(window, field, value, words):
    getattr(window.controls, field).setValue(value)
    assert not window.start_run()
    assert window.live is None
    assert words in window.last_message and "settings: field" in window.last_message
    assert window.statusBar().currentMessage() == window.last_message
    assert isinstance(window.message_box, QMessageBox) and window.message_box.isVisible()


def test_unknown_task_is_reported(window):
    window.controls.task_box.setCurrentText("no-such-task")
    assert not window.start_run()
    assert "no-such-task" in window.last_message


@pytest.mark.parametrize("how", ["stop", "close", "paused"])
def test_stop_or_close_mid_run_leaves_bench_safe_and_file_incomplete(qtbot, tmp_path, how):
    out, record = tmp_path / "stopped.h5", tmp_path / "bench.json"
    w = live_window(qtbot, out, partial(benches.recorded, str(record)), steps=10**7)
    assert w.start_run()
    qtbot.waitUntil(lambda: w.history.total > 100, timeout=30_000)
    if how == "paused":  # stop while the loop is held by a pause
        w.pause_run()
        qtbot.wait(200)
    live = w.live
    if how == "close":
        w.close()
    else:
        qtbot.mouseClick(w.controls.stop_button, Qt.MouseButton.LeftButton)
        assert w.live is None and w.controls.start_button.isEnabled()
        assert "incomplete (stopped on request" in w.statusBar().currentMessage()
        assert w.statusBar().currentMessage().endswith("bench safe")
    assert not live.process.is_alive() and live.process.exitcode == 0
    assert_safe(record)
    with RunReader(out) as reader:
        assert not reader.complete
        assert "stopped on request" in reader.info["message"]
        assert 100 <= reader.n_steps < 10**7
        n = reader.n_steps
    if how != "close":  # the window got every step the file holds, nothing more
        assert w.history.total == n
        assert w.summary is not None and w.summary.steps == n


def test_replay_shows_the_file_state_at_the_slider_step(window, tmp_path):
    path = make_run(tmp_path / "run.h5", steps=300)
    assert window.open_run(path)
    with RunReader(path) as reader:
        positions = reader.steps["positions"][:]
        masks = reader.steps["update_mask"][:]
        errors = reader.steps["error"][:]
    np.testing.assert_allclose(window.plots.error_curve.yData, errors)
    assert window.timeline.slider.maximum() == 299
    for k in (0, 57, 299):
        window.timeline.slider.setValue(k)
        np.testing.assert_array_equal(window.plots.netview.codes, positions[k])
        np.testing.assert_array_equal(window.plots.netview.mask, masks[k])
        for i, curve in enumerate(window.plots.trace_curves):
            j = int(np.flatnonzero(curve.xData == k)[0])
            assert curve.yData[j] == positions[k, i]
        assert all(line.value() == k for line in window.plots.vlines)
        assert f"step {k}," in window.timeline.step_label.text()
    # input, output and ground nodes of task ii (8, 3, 9) get their own symbols
    assert window.plots.netview.roles[8] == "input" and window.plots.netview.roles[3] == "output"
    assert window.plots.netview.roles[9] == "fixed" and window.plots.netview.roles[1] == "free"
    # checkable subset of edge traces
    item = window.controls.edge_list.item(2)
    assert item.text() == window.plots.netview.network.edge_labels()[2]
    item.setCheckState(Qt.CheckState.Unchecked)
    assert not window.plots.trace_curves[2].isVisible() and window.plots.trace_curves[3].isVisible()
    # error display options
    window.controls.scaled_box.setChecked(True)
    np.testing.assert_allclose(window.plots.error_curve.yData, errors / errors[0])
    window.controls.smooth_box.setValue(10)
    np.testing.assert_allclose(window.plots.error_curve.yData[-1],
                               np.mean(errors[-10:] / errors[0]))


def test_main_replay_entry_point_opens_the_file(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QApplication

    path = make_run(tmp_path / "run.h5", steps=50)
    seen = []

    def fake_exec() -> int:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        seen.extend(w for w in windows if w.run_path == path)
        for w in windows:
            w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    assert main(["replay", str(path)]) == 0
    assert seen and seen[0].history.total == 50


@pytest.mark.parametrize("mode", ["replay", "live"])
def test_a_dropped_window_is_freed_by_its_reference_count(qtbot, tmp_path, mode):
    """Nothing a window owns points back at it (the network view's hover source once
    did), so the window goes when its last reference goes, not when the cyclic collector
    next runs: that may be inside one of the window's own paints, which then use deleted
    items (pyqtgraph: "wrapped C/C++ object of type AxisItem has been deleted", then a
    segfault)."""
    if mode == "replay":
        w = MainWindow()
        w.show()
        assert w.open_run(make_run(tmp_path / "run.h5", steps=50))
    else:
        w = MainWindow(out=tmp_path / "live.h5", settings={"steps": 50})
        w.show()
        assert w.start_run()
        wait_run(qtbot, w)
    w.timeline.slider.setValue(20)  # show_step hands the network view its hover source
    qtbot.wait(50)
    assert w.plots.netview.step_state()[0] is not None
    w.close()
    ref = weakref.ref(w)
    gc.disable()  # only the reference count may free it
    try:
        del w
        assert ref() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("kind", ["hdf5", "text", "missing"])
def test_a_file_that_is_not_a_run_gives_a_clear_message(window, tmp_path, kind):
    path = tmp_path / "other.h5"
    if kind == "hdf5":
        with h5py.File(path, "w") as f:
            f["x"] = [1, 2, 3]
        expect = "not a twinlab run file"
    elif kind == "text":
        path.write_text("hello")
        expect = "not a readable HDF5 file"
    else:
        expect = "no such run file"
    assert not window.open_run(path)
    assert expect in window.last_message and str(path) in window.last_message
    assert window.message_box.isVisible() and expect in window.message_box.text()


SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from lab.acquire.settings import settings_from
    from lab.hal.benchfile import load_bench
    from lab.acquire.records import Observer
    from lab.runs import RunWriter
    from lab.tasks import load_task
    from lab.acquire.trainer import Trainer

    class Slow(Observer):
        def start(self, info):
            print("started", flush=True)
        def step(self, record):
            time.sleep(0.001)

    writer = RunWriter(sys.argv[1], chunk_rows=64, flush_interval=0.05)
    Trainer(load_bench(None), load_task("ii"), settings_from(steps=3000),
            [writer, Slow()]).run()
""")


def test_follow_mode_tails_a_file_being_written(window, qtbot, tmp_path):
    path = tmp_path / "growing.h5"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        assert window.open_run(path, follow=True)
        assert window.timeline.follow_box.isChecked()
        counts = [window.history.total]
        qtbot.waitUntil(lambda: window.history.total > counts[0] + 100, timeout=30_000)
        counts.append(window.history.total)
        qtbot.waitUntil(lambda: window.history.total > counts[1] + 100, timeout=30_000)
        counts.append(window.history.total)
        assert proc.wait(timeout=60) == 0
        qtbot.waitUntil(lambda: window.history.total == 3000, timeout=10_000)
    finally:
        proc.kill()
        proc.wait()
    assert counts[0] < counts[1] < counts[2] < 3000
    assert window.plots.error_curve.xData[-1] == 2999  # min/max decimated to the plot's pixels
    assert len(window.plots.error_curve.xData) <= window.plots.display_points() + 64
    assert window.timeline.slider.value() == 2999  # the timeline follows the end
    with RunReader(path) as reader:
        np.testing.assert_array_equal(window.plots.netview.codes, reader.steps["positions"][-1])


def test_export_png_and_visible_csv(window, tmp_path):
    path = make_run(tmp_path / "run.h5", steps=400)
    assert window.open_run(path)
    pngs = window.export_png(tmp_path / "png")
    # error, codes, heat map, outputs, network, and the watch strip
    assert len(pngs) == len(window.panels()) == len(window.plots.panels()) + 1 == 6
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert pngs[0].read_bytes()[:4] == b"\x89PNG"
    window.plots.error_plot.setXRange(100, 199, padding=0)
    n = window.export_csv(tmp_path / "visible.csv")
    assert n == 100
    table = np.loadtxt(tmp_path / "visible.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "visible.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["step", "error", "code_1-4"] and header[-1] == "v_desired_3"
    with RunReader(path) as reader:
        np.testing.assert_array_equal(table[:, 0], np.arange(100, 200))
        np.testing.assert_allclose(table[:, 1], reader.steps["error"][100:200], rtol=1e-8)
        np.testing.assert_array_equal(table[:, 2:18], reader.steps["positions"][100:200])


def test_pause_halts_steps_and_resume_continues(qtbot, tmp_path):
    out = tmp_path / "paused.h5"
    w = live_window(qtbot, out, steps=10**7)
    assert w.start_run()
    c = w.controls
    assert c.pause_button.isEnabled() and not c.resume_button.isEnabled()
    view = w.plots.netview  # before the first step: no codes, not code 0
    assert {view.label_text(i) for i in range(len(view.codes))} == {"-"}
    qtbot.waitUntil(lambda: w.history.total > 100, timeout=30_000)
    assert w.statusBar().currentMessage() == "running ii: 10000000 steps"
    qtbot.mouseClick(w.controls.pause_button, Qt.MouseButton.LeftButton)
    assert not c.pause_button.isEnabled() and c.resume_button.isEnabled()
    qtbot.wait(500)  # the step in flight ends, its batch reaches the window
    paused = w.history.total
    qtbot.wait(500)
    assert w.history.total == paused and not w.live.inbox
    assert w.live is not None and w.live.process.is_alive()
    qtbot.mouseClick(w.controls.resume_button, Qt.MouseButton.LeftButton)
    assert c.pause_button.isEnabled() and not c.resume_button.isEnabled()
    qtbot.waitUntil(lambda: w.history.total > paused + 100, timeout=30_000)
    w.stop_run()
    assert w.live is None
    with RunReader(out) as reader:  # no step lost or repeated across the pause
        np.testing.assert_array_equal(reader.steps["step"][:], np.arange(w.history.total))


def test_events_are_processed_during_a_live_run(qtbot, tmp_path):
    from PyQt6.QtCore import QTimer

    w = live_window(qtbot, tmp_path / "busy.h5", steps=10**7)
    assert w.start_run()
    qtbot.waitUntil(lambda: w.history.total > 100, timeout=30_000)
    seen: list[int] = []
    for i in range(5):
        QTimer.singleShot(0, lambda i=i: seen.append(i))
        qtbot.waitUntil(lambda i=i: i in seen, timeout=5_000)
    w.controls.smooth_box.setValue(5)  # a control the user may touch while training
    w.timeline.slider.setValue(50)  # the timeline scrubs back during the run
    assert "step 50," in w.timeline.step_label.text()
    qtbot.waitUntil(lambda: w.plots.drawn_version == w.history.version, timeout=5_000)
    assert w.live is not None and w.live.process.is_alive()
    w.stop_run()


def test_main_live_entry_point_trains_and_closes(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QApplication

    out = tmp_path / "main.h5"
    seen: list[MainWindow] = []

    def fake_exec() -> int:
        w = next(w for w in QApplication.topLevelWidgets()
                 if isinstance(w, MainWindow) and w.run_path == out)
        seen.append(w)
        wait_run(qtbot, w)
        w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    assert main(["--task", "ii", "--steps", "300", "--out", str(out), "--start"]) == 0
    assert seen and seen[0].history.total == 300
    with RunReader(out) as reader:
        assert reader.complete and reader.n_steps == 300


def test_a_bench_limit_error_in_the_training_process_shows_as_one_line(qtbot, tmp_path):
    """Channel limits are checked by the trainer in the training process, before any
    voltage is applied: the CLI's message, one status-bar line, no run file."""
    out = tmp_path / "never.h5"
    w = live_window(qtbot, out, benches.narrow_limits, steps=100)
    assert w.start_run()
    wait_run(qtbot, w)
    message = w.statusBar().currentMessage()
    assert "outside the channel limits [-1, 3] V" in message and "\n" not in message
    view = w.plots.netview  # no step was taken: the codes are unknown, not code 0
    assert view.codes_kind == "unknown" and w.plots.unknown_text.isVisible()
    assert {view.label_text(i) for i in range(len(view.codes))} == {"?"}
    assert w.status_file.full_text() == "no run file" and not w.status_file.toolTip()
    assert message == w.last_message and w.message_box.isVisible()
    assert w.history.total == 0 and not out.exists()
    assert w.controls.start_button.isEnabled() and not w.controls.stop_button.isEnabled()


def test_a_missing_bench_file_is_reported_before_starting(qtbot, tmp_path):
    w = MainWindow(bench=str(tmp_path / "nope.toml"), out=tmp_path / "x.h5")
    qtbot.addWidget(w)
    assert not w.start_run()
    assert w.live is None and "bench file not found" in w.last_message


def test_a_bench_file_twinlab_train_refuses_is_refused_on_start_in_the_window(qtbot, tmp_path):
    """Checked as the terminal checks it (`check_bench`): no training process starts."""
    bench, out = tmp_path / "bad.toml", tmp_path / "x.h5"
    bench.write_text('kind = "drvie"\n')
    w = MainWindow(bench=str(bench), out=out)
    qtbot.addWidget(w)
    assert not w.start_run()
    assert w.live is None and not out.exists()
    assert f"{bench}: field 'kind': expected 'emulator' or 'instruments'" in w.last_message


def test_an_instrument_error_mid_run_ends_it_safely_with_one_line(qtbot, tmp_path):
    out, record = tmp_path / "failed.h5", tmp_path / "bench.json"
    w = live_window(qtbot, out, partial(benches.recorded, str(record), fail_after=150),
                    steps=1000)
    assert w.start_run()
    wait_run(qtbot, w)
    message = w.statusBar().currentMessage()
    assert message.startswith("run failed: clock board: no reply to PULSE (test fault)")
    assert f"run file {out} (incomplete)" in message and message.endswith("bench safe")
    assert "\n" not in message
    assert_safe(record)
    with RunReader(out) as reader:
        assert not reader.complete and reader.n_steps == 150
        assert "BenchError" in reader.info["message"]
    assert w.history.total == 150


def test_a_run_refused_before_its_first_step_leaves_no_run_file(qtbot, tmp_path):
    """As `twinlab train` (``discard_empty``): a run that records nothing (the estimator
    refuses a board not at its power-up codes, before any pulse) removes its empty file,
    so the next Start is not refused for an existing file, and the status line says so
    instead of naming an incomplete file."""
    out = tmp_path / "empty.h5"
    w = live_window(qtbot, out, benches.not_at_power_up, steps=100)
    assert w.start_run()
    wait_run(qtbot, w)
    message = w.statusBar().currentMessage()
    assert message.startswith("run failed: estimator: the board is not at its power-up"), message
    assert f"no run file ({out} removed: nothing was recorded" in message, message
    assert message.endswith("bench safe") and "(incomplete)" not in message
    assert not out.exists()


def solve_independently(run: Path, k: int) -> tuple[np.ndarray, float, dict]:
    """Node voltages (N,) V of step k's free state from the run file alone, by a dense
    Laplacian solve written here (codes of step k - 1, nominal parts); also V_F."""
    with RunReader(run) as reader:
        task, network = reader.info["task_json"], reader.info["network_json"]
        codes = reader.steps["positions"][k - 1].astype(float)
        inputs = reader.steps["inputs"][k]
        v_free = float(reader.steps["v_free"][k][0])
    nominal = EmulatorConfig()
    k_edge = 1.0 / (nominal.r_wiper + codes / 128 * nominal.r_end_to_end)
    n = network["n_nodes"]
    lap = np.zeros((n, n))
    for (a, b), g in zip(np.asarray(network["edges"]) - 1, k_edge, strict=True):
        lap[a, a] += g
        lap[b, b] += g
        lap[a, b] -= g
        lap[b, a] -= g
    fixed = dict(zip(task["input_nodes"], inputs, strict=True))
    fixed |= dict(zip(task["fixed_nodes"], task["fixed_volts"], strict=True))
    fix = np.array(sorted(fixed)) - 1
    free = np.setdiff1d(np.arange(n), fix)
    v = np.zeros(n)
    v[fix] = [fixed[i + 1] for i in fix]
    v[free] = np.linalg.solve(lap[np.ix_(free, free)], -lap[np.ix_(free, fix)] @ v[fix])
    return v, v_free, task


def hover(qtbot, w: MainWindow, node: int) -> str:
    """Move the mouse onto ``node`` of the network view; the hover text shown."""
    qtbot.wait(50)  # layout and paint first: the node's pixel position depends on them
    view = w.plots.netview
    x, y = view.network.layout[node - 1]
    scene = view.getPlotItem().getViewBox().mapViewToScene(QPointF(x, y))
    qtbot.mouseMove(view.viewport(), view.mapFromScene(scene))
    qtbot.waitUntil(lambda: view.hovered == node, timeout=2_000)
    assert view.hover_label.isVisible()
    return view.hover_label.toPlainText()


def volts_in(text: str, what: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(what))
    return float(line.split("=")[1].split()[0])


def test_hover_shows_the_steps_solved_node_voltages_in_replay(window, qtbot, tmp_path):
    path = make_run(tmp_path / "run.h5", steps=300)
    assert window.open_run(path)
    window.resize(1400, 900)
    for k in (57, 200):
        window.timeline.slider.setValue(k)
        expected, v_free, task = solve_independently(path, k)
        out_node = task["output_nodes"][0]
        text = hover(qtbot, window, out_node)
        assert f"node {out_node} (output), step {k}" in text
        assert volts_in(text, "V =") == pytest.approx(expected[out_node - 1], abs=1e-4)
        assert volts_in(text, "V_F =") == pytest.approx(v_free, abs=1e-4)
        assert "solved from digipot positions, nominal parts" in text
        assert "codes before the step's pulse" in text
        # nominal parts vs the board's own parts and ADC noise: close, not equal
        assert abs(expected[out_node - 1] - v_free) < 0.05
        free_node = 5
        text = hover(qtbot, window, free_node)
        assert f"node {free_node} (free), step {k}" in text and "V_F" not in text
        assert volts_in(text, "V =") == pytest.approx(expected[free_node - 1], abs=1e-4)
        qtbot.mouseMove(window.plots.netview.viewport(), QPoint(2, 2))
        qtbot.waitUntil(lambda: window.plots.netview.hovered is None, timeout=2_000)
        assert not window.plots.netview.hover_label.isVisible()
    window.timeline.slider.setValue(0)  # step 0: the codes before its pulse come from its update
    text = hover(qtbot, window, 6)
    assert "step 0" in text and "codes before the step's pulse" in text


def test_hover_shows_node_voltages_in_live_mode(qtbot, tmp_path):
    out = tmp_path / "live.h5"
    w = live_window(qtbot, out, steps=300, p=0.5)
    w.resize(1400, 900)
    assert w.start_run()
    wait_run(qtbot, w)
    assert w.mode == "live" and w.free_setup is not None
    for k in (299, 120):
        w.timeline.slider.setValue(k)
        expected, v_free, task = solve_independently(out, k)
        node = task["output_nodes"][0]
        text = hover(qtbot, w, node)
        assert f"step {k}" in text
        assert volts_in(text, "V =") == pytest.approx(expected[node - 1], abs=1e-4)
        assert volts_in(text, "V_F =") == pytest.approx(v_free, abs=1e-4)


def test_smoothing_is_a_mean_over_steps_even_where_the_history_is_decimated() -> None:
    rng = np.random.default_rng(3)
    error = rng.random(5000)
    h = History(16, 1, recent=100, archive=50)
    for a in range(0, 5000, 250):
        h.extend({"step": np.arange(a, a + 250), "error": error[a:a + 250],
                  "positions": np.zeros((250, 16)), "v_free": np.zeros((250, 1)),
                  "v_clamped": np.zeros((250, 1)), "v_desired": np.zeros((250, 1))})
    snap = h.snapshot()
    assert h.stride >= 64 and len(snap) < 300  # decimated
    window = 2 * h.stride
    smoothed = smooth(snap.step, snap.error, snap.error_csum, window)
    full = np.cumsum(np.insert(error, 0, 0.0))
    stored = set(snap.step.tolist())
    checked = 0
    for s, y in zip(snap.step.tolist(), smoothed.tolist(), strict=True):
        lo = max(s - window, -1)
        if lo == -1 or lo in stored:  # where the window's start is stored: exact
            assert y == pytest.approx((full[s + 1] - full[lo + 1]) / (s - lo), rel=1e-9)
            checked += s < 4900  # a decimated row: one plotted point per stride steps
    assert checked >= 30


def test_csv_export_of_a_replay_is_at_full_resolution(window, tmp_path, monkeypatch):
    # a tiny history: the replay's plotted rows are decimated, the file's are not
    monkeypatch.setattr(gui.sources, "History", partial(History, recent=40, archive=16))
    path = make_run(tmp_path / "run.h5", steps=400)
    assert window.open_run(path)
    assert len(window.history) < 100
    window.plots.error_plot.setXRange(100, 199, padding=0)
    assert window.export_csv(tmp_path / "visible.csv") == 100
    table = np.loadtxt(tmp_path / "visible.csv", delimiter=",", skiprows=1)
    with RunReader(path) as reader:
        np.testing.assert_array_equal(table[:, 0], np.arange(100, 200))
        np.testing.assert_allclose(table[:, 1], reader.steps["error"][100:200], rtol=1e-8)
        np.testing.assert_array_equal(table[:, 2:18], reader.steps["positions"][100:200])
        np.testing.assert_allclose(table[:, 18], reader.steps["v_free"][100:200, 0],
                                   rtol=1e-8)


def test_default_run_path_keeps_a_fractional_p(tmp_path, monkeypatch):
    """p = 0.5 names ``..._ii_p0.5_seed0.h5`` (with_suffix took ".5_seed0" for a suffix)."""
    monkeypatch.chdir(tmp_path)
    path = gui.sources.default_run_path(settings_from(p=0.5))
    assert path.name.endswith("_ii_p0.5_seed0.h5")


def test_a_signal_whose_run_ends_before_the_window_closes_still_names_that_run(qtbot, tmp_path):
    """A SIGHUP to the process group (the terminal closed) reaches the training process
    too, which may end its run before the window's next turn closes it (the close waits
    for that turn, `gui.app._exec`): the terminal line is still the run's, as
    ``twinlab train``'s, not a bare "interrupted by SIGHUP" (CI caught it: the run had
    ended, so the window thought none was running)."""
    import os
    import signal

    from gui.app import _stopped_line

    out = tmp_path / "hung-up.h5"
    w = live_window(qtbot, out, steps=10**7)
    assert w.start_run()
    qtbot.waitUntil(lambda: w.history.total > 100, timeout=30_000)
    w.note_signal(signal.SIGHUP)  # the window's signal handler
    os.kill(w.live.process.pid, signal.SIGHUP)  # the group's signal, to the training process
    wait_run(qtbot, w)
    w.close_on_signal(signal.SIGHUP)  # the event loop's next turn
    with RunReader(out) as reader:
        n = reader.n_steps
    assert _stopped_line(*w.stopped_by) == (
        f"twinlab: interrupted by SIGHUP after {n} steps; bench safe; run file {out} (incomplete)")


def test_the_status_bar_shows_the_run_files_whole_path_elided_in_the_middle(window, tmp_path):
    deep = tmp_path / ("a_rather_long_folder_name_" * 3) / "of_runs"
    deep.mkdir(parents=True)
    path = make_run(deep / "20261202-143000_ii_p0.5_seed0.h5", steps=5)
    assert window.open_run(path)
    label = window.status_file
    whole = str(path.resolve())
    label.resize(2000, label.height())  # room: the whole path
    assert label.text() == whole and label.toolTip() == whole
    assert label.full_text() == whole
    label.resize(label.min_px, label.height())  # narrow: both ends, "…" between
    shown = label.text()
    assert "…" in shown and len(shown) < len(whole)
    head, tail = shown.split("…")
    assert whole.startswith(head) and whole.endswith(tail) and head and tail
    assert label.fontMetrics().horizontalAdvance(shown) <= label.width()
