"""The run panel's rule and estimator boxes (issues 14 and 17): their values reach the
started run's settings (the run file's attrs), a rule the bench's board does not
implement is refused in one line with nothing written, replay shows the run's own rule
and estimator setting read-only (pytest-qt, offscreen; real training processes)."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import h5py
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from gui.controls import BENCH_RULE, ESTIMATE_TIPS
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task
from tests.gui import benches
from tests.gui.test_window import live_window, wait_run


def _attrs(path) -> tuple[str, str]:
    """(rule, estimate) as the run file records them: root attrs and settings_json."""
    with h5py.File(path, "r") as f:
        attrs = (str(f.attrs["rule"]), str(f.attrs["estimate"]))
    with RunReader(path) as reader:
        assert (reader.settings["rule"], reader.settings["estimate"]) == attrs
    return attrs


def test_the_rule_and_estimate_boxes_say_what_each_choice_does(window):
    c = window.controls
    assert [c.rule_box.itemText(i) for i in range(c.rule_box.count())] == [
        BENCH_RULE, "voltage", "power"]
    assert c.rule_box.currentText() == BENCH_RULE and c.rule_asked() is None
    assert [c.estimate_box.itemText(i) for i in range(c.estimate_box.count())] == [
        "auto", "on", "off"]
    assert c.estimate_box.currentText() == "auto"  # TrainSettings' default
    tip = c.estimate_box.toolTip()
    assert all(f"{k}: {v}" in tip for k, v in ESTIMATE_TIPS.items())
    assert "power" in c.rule_box.toolTip() and "voltage" in c.rule_box.toolTip()


def test_the_chosen_rule_and_estimate_reach_the_run_file(qtbot, tmp_path):
    """On the default emulator bench (built in the training process with the rule asked)."""
    out = tmp_path / "power.h5"
    w = live_window(qtbot, out, steps=40)
    w.controls.rule_box.setCurrentText("power")
    w.controls.estimate_box.setCurrentText("off")
    assert w.start_run(), w.last_message
    assert not w.controls.rule_box.isEnabled() and not w.controls.estimate_box.isEnabled()
    wait_run(qtbot, w)
    assert w.summary is not None and w.summary.complete, w.last_message
    assert _attrs(out) == ("power", "off")
    assert w.controls.rule_box.isEnabled()


def test_a_rule_the_board_lacks_is_one_line_and_starts_nothing(qtbot, tmp_path):
    out = tmp_path / "run.h5"
    w = live_window(qtbot, out, benches.power_board, steps=40, estimate="on")
    assert w.controls.estimate_box.currentText() == "on"  # preset like the other boxes
    w.controls.rule_box.setCurrentText("voltage")
    assert w.start_run()  # only the bench knows its rule: refused in the training process
    wait_run(qtbot, w)
    message = w.last_message
    assert "'rule'" in message and "'voltage'" in message and "'power'" in message, message
    assert "\n" not in message and w.statusBar().currentMessage() == message
    assert w.message_box.isVisible()
    assert w.history.total == 0 and not out.exists() and w.summary is None
    assert w.controls.start_button.isEnabled()
    w.controls.rule_box.setCurrentText(BENCH_RULE)  # the board's own: it trains
    assert w.start_run(), w.last_message
    wait_run(qtbot, w)
    assert w.summary is not None and w.summary.complete
    assert _attrs(w.run_path) == ("power", "on")


def test_replay_shows_the_runs_rule_and_estimate_read_only(window, tmp_path):
    path = tmp_path / "replayed.h5"
    bench = benches.power_board()
    try:
        Trainer(bench, load_task("ii"),
                settings_from(task="ii", steps=30, rule="power", estimate="off"),
                [RunWriter(path)]).run()
    finally:
        bench.close()
    c = window.controls
    assert window.open_run(path)
    assert c.rule_box.currentText() == "power" and c.estimate_box.currentText() == "off"
    assert not c.rule_box.isEnabled() and not c.estimate_box.isEnabled()
    assert "rule" not in c.run_note.text() and "estimate" not in c.run_note.text()
    c.edit_button.click()  # editable again, from the values shown
    assert c.rule_box.isEnabled() and c.estimate_box.isEnabled()
    assert c.rule_asked() == "power" and c.settings().estimate == "off"


def test_twinlab_gui_presets_the_rule_and_estimate_boxes(qtbot, tmp_path, monkeypatch):
    """``twinlab gui --rule power --estimate off --start``: the boxes show them and the
    run is trained with them (the default emulator bench, built with the power rule)."""
    from PyQt6.QtWidgets import QApplication

    from gui.app import main
    from gui.window import MainWindow

    out = tmp_path / "cli.h5"
    seen: list[tuple[str, str]] = []

    def fake_exec() -> int:
        w = next(w for w in QApplication.topLevelWidgets()
                 if isinstance(w, MainWindow) and w.run_path == out)
        seen.append((w.controls.rule_box.currentText(), w.controls.estimate_box.currentText()))
        wait_run(qtbot, w)
        w.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", staticmethod(fake_exec))
    assert main(["--rule", "power", "--estimate", "off", "--steps", "40", "--out", str(out),
                 "--start"]) == 0
    assert seen == [("power", "off")]
    assert _attrs(out) == ("power", "off")
