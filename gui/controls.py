"""The window's controls: the run panel (settings, run buttons, display options, the edges
shown) and the timeline (step slider, follow mode). Widgets only: what a click does is
the window's business (it connects the signals)."""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from gui.plots import DisplayOptions
from lab.acquire.settings import TrainSettings, settings_from
from lab.core.rules import RULES
from lab.tasks import list_tasks

__all__ = ["BENCH_RULE", "ESTIMATE_TIPS", "SETTING_BOXES", "Controls", "Timeline"]


#: The settings boxes of the run panel: `TrainSettings` field -> attribute of `Controls`.
SETTING_BOXES = {"task": "task_box", "eta": "eta_box", "p": "p_box", "steps": "steps_box",
                 "seed": "seed_box", "rate": "rate_box", "rule": "rule_box",
                 "estimate": "estimate_box"}
#: The rule box's first entry: no rule asked, the bench's own (`lab.hal.Bench.rule`; the
#: CLI without ``--rule``).
BENCH_RULE = "bench's own"
#: What each `TrainSettings.estimate` value does (the estimate box's tooltip).
ESTIMATE_TIPS = {
    "auto": "estimate the codes from node voltages when the bench has no resistance probe "
            "and supports it; else train with codes unknown (one line says why)",
    "on": "estimate the codes; refuse a bench that cannot support it",
    "off": "never estimate: without a resistance probe the codes are unknown",
}


class Controls(QWidget):
    """The run panel. ``settings`` (`TrainSettings` fields) preset the boxes (None or
    missing: the defaults). Signals: ``display_changed()`` when a display option changes,
    ``edge_toggled(i, shown)`` when edge ``i``'s trace is checked or unchecked.

    In replay (`show_run_settings`) the boxes show the replayed run's own settings,
    read-only, and the other settings it ran with are listed below them; "Edit settings"
    (or the end of replay) makes them editable again, starting from the values shown."""

    display_changed = pyqtSignal()
    edge_toggled = pyqtSignal(int, bool)

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__()
        settings = settings or {}
        defaults = TrainSettings()
        form = QFormLayout(self)
        self.task_box = QComboBox()
        self.task_box.setEditable(True)  # a task file path may be typed
        self.task_box.addItems(list_tasks())
        self.task_box.setCurrentText(str(settings.get("task") or defaults.task))
        # wide ranges on purpose: out-of-range values get the CLI's message on Start
        self.eta_box = QDoubleSpinBox(decimals=3, minimum=-10, maximum=10, singleStep=0.05)
        self.eta_box.setValue(float(settings.get("eta") or defaults.eta))
        self.p_box = QDoubleSpinBox(decimals=3, minimum=-10, maximum=10, singleStep=0.05)
        self.p_box.setValue(float(settings.get("p") or defaults.p))
        self.steps_box = QSpinBox(minimum=-1, maximum=2**31 - 1, singleStep=1000)
        self.steps_box.setValue(int(settings.get("steps") or defaults.steps))
        self.seed_box = QSpinBox(minimum=-1, maximum=2**31 - 1)
        self.seed_box.setValue(int(settings.get("seed") or defaults.seed))
        # above 1e6 steps/s: the CLI's message on Start
        self.rate_box = QDoubleSpinBox(decimals=1, minimum=0, maximum=1e7, singleStep=10)
        self.rate_box.setSpecialValueText("full speed")  # shown at 0 (the minimum) only
        self.rate_box.setValue(float(settings.get("rate") or defaults.rate))
        self.rate_box.setToolTip("real-time pace: at most this many steps per second "
                                 "(0 = as fast as the bench allows)")
        self.rule_box = QComboBox()
        self.rule_box.addItem(BENCH_RULE, None)
        for rule in RULES:
            self.rule_box.addItem(rule, rule)
        self.rule_box.setToolTip(
            "what each edge's comparator compares: voltage, the twins' voltage drops "
            "|dV_C| vs |dV_F|; power, the power dissipated in them. The board is wired for "
            f"one: {BENCH_RULE} uses it, another choice is refused unless the bench is the "
            "default emulator (built with the rule chosen)")
        self.estimate_box = QComboBox()
        estimates = get_args(TrainSettings.model_fields["estimate"].annotation)
        self.estimate_box.addItems(list(estimates))
        self.estimate_box.setToolTip(
            "a bench without a resistance probe (a bench with one always uses it):\n"
            + "\n".join(f"{k}: {ESTIMATE_TIPS[k]}" for k in estimates))
        self._set_rule(settings.get("rule"))
        estimate = settings.get("estimate")
        self.estimate_box.setCurrentText(_estimate(defaults.estimate if estimate is None
                                                   else estimate))
        self.settings_title = QLabel("settings")
        form.addRow(self.settings_title)
        for label, box in (("task", self.task_box), ("eta", self.eta_box), ("p", self.p_box),
                           ("steps", self.steps_box), ("seed", self.seed_box),
                           ("rate (steps/s)", self.rate_box), ("rule", self.rule_box),
                           ("estimate codes", self.estimate_box)):
            form.addRow(label, box)
        self.run_note = QLabel("")  # replay: the run's other settings
        self.run_note.setWordWrap(True)
        self.run_note.setVisible(False)
        form.addRow(self.run_note)
        self.edit_button = QPushButton("Edit settings")
        self.edit_button.setToolTip("leave the replayed run's settings: edit them for a "
                                    "new run")
        self.edit_button.setVisible(False)
        self.edit_button.clicked.connect(lambda: self.show_run_settings(None))
        form.addRow(self.edit_button)
        self.replaying = False  # the boxes show a replayed run's settings (read-only)
        self._running = False
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.stop_button = QPushButton("Stop")
        for b in (self.start_button, self.pause_button, self.resume_button, self.stop_button):
            form.addRow(b)
        self.log_box = QCheckBox("log error axis")
        self.log_box.setChecked(True)
        self.scaled_box = QCheckBox("scaled error (÷ first)")
        self.smooth_box = QSpinBox(minimum=1, maximum=10**9, value=1)
        self.smooth_box.setToolTip("trailing mean of the training error over this many "
                                   "steps (1 = off)")
        form.addRow(self.log_box)
        form.addRow(self.scaled_box)
        form.addRow("smoothing (steps)", self.smooth_box)
        self.edge_list = QListWidget()
        form.addRow(QLabel("edges shown in traces"))
        form.addRow(self.edge_list)
        for box in (self.log_box, self.scaled_box):
            box.toggled.connect(self.display_changed)
        self.smooth_box.valueChanged.connect(self.display_changed)
        self.edge_list.itemChanged.connect(self._edge_changed)
        self.set_running(False)

    def settings(self) -> TrainSettings:
        """Settings from the boxes, validated like the CLI (ConfigError naming the field).
        With the rule box at `BENCH_RULE` the rule is the default: see `rule_asked`."""
        return settings_from(**self.shown_settings())

    def rule_asked(self) -> str | None:
        """The rule chosen (`lab.core.rules.RULES`), or None for the bench's own (then a
        run's settings leave ``rule`` out and the training process takes the bench's)."""
        return self.rule_box.currentData()

    def shown_settings(self) -> dict[str, Any]:
        """What the settings boxes show now, by `TrainSettings` field (``rule`` None: the
        bench's own)."""
        return {"task": self.task_box.currentText().strip(), "eta": self.eta_box.value(),
                "p": self.p_box.value(), "steps": self.steps_box.value(),
                "seed": self.seed_box.value(), "rate": self.rate_box.value(),
                "rule": self.rule_asked(), "estimate": self.estimate_box.currentText()}

    def _set_rule(self, rule: str | None) -> None:
        """Show ``rule`` in the rule box (None: the bench's own)."""
        self.rule_box.setCurrentIndex(max(self.rule_box.findData(rule), 0))

    def show_run_settings(self, settings: dict[str, Any] | None) -> None:
        """``settings`` (a run file's `TrainSettings` fields): show them read-only, the
        boxes' fields in the boxes (a field the file lacks: its default) and the others
        listed below; None: editable boxes again, keeping the values shown."""
        self.replaying = settings is not None
        if settings is not None:
            values = TrainSettings().model_dump() | {k: v for k, v in settings.items()
                                                    if v is not None}
            self.task_box.setCurrentText(str(values["task"]))
            self.eta_box.setValue(float(values["eta"]))
            self.p_box.setValue(float(values["p"]))
            self.steps_box.setValue(int(values["steps"]))
            self.seed_box.setValue(int(values["seed"]))
            self.rate_box.setValue(float(values["rate"]))
            self._set_rule(str(values["rule"]))
            self.estimate_box.setCurrentText(_estimate(values["estimate"]))
            others = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in values.items() if k not in SETTING_BOXES]
            self.run_note.setText("also: " + ", ".join(others))
        self.settings_title.setText("settings of the replayed run (read-only)"
                                    if self.replaying else "settings")
        self.run_note.setVisible(self.replaying)
        self.edit_button.setVisible(self.replaying)
        self.set_running(self._running)

    def options(self) -> DisplayOptions:
        return DisplayOptions(log=self.log_box.isChecked(), scaled=self.scaled_box.isChecked(),
                              smoothing=self.smooth_box.value())

    def set_running(self, running: bool) -> None:
        """Start and the settings while no run is going on (the settings stay read-only in
        replay); stop while one is, and pause (`set_paused`: resume once paused)."""
        self._running = running
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.set_paused(False)
        for name in SETTING_BOXES.values():
            getattr(self, name).setEnabled(not running and not self.replaying)

    def set_paused(self, paused: bool) -> None:
        """While a run is going on, Pause when it runs, Resume when it is paused."""
        self.pause_button.setEnabled(self._running and not paused)
        self.resume_button.setEnabled(self._running and paused)

    def set_edges(self, labels: list[str], colours: list[Any]) -> None:
        """One checked entry per edge, in its trace's colour."""
        self.edge_list.blockSignals(True)
        self.edge_list.clear()
        for label, colour in zip(labels, colours, strict=True):
            entry = QListWidgetItem(label)
            entry.setFlags(entry.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            entry.setCheckState(Qt.CheckState.Checked)
            entry.setForeground(colour)
            self.edge_list.addItem(entry)
        self.edge_list.blockSignals(False)

    def _edge_changed(self, item: QListWidgetItem) -> None:
        self.edge_toggled.emit(self.edge_list.row(item),
                               item.checkState() == Qt.CheckState.Checked)


class Timeline(QWidget):
    """The step slider, the shown step's readout (the window's one step readout), the
    plots' follow window (``window_box``: show steps ``k - N .. k + N`` around the shown
    step k; 0 = the whole run) and the follow-file box."""

    def __init__(self) -> None:
        super().__init__()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.follow_box = QCheckBox("follow file")
        self.step_label = QLabel("")
        self.step_label.setMinimumWidth(240)
        self.window_box = QSpinBox(minimum=0, maximum=10**9, singleStep=100)
        self.window_box.setPrefix("± ")
        self.window_box.setSuffix(" steps")
        self.window_box.setSpecialValueText("whole run")
        self.window_box.setToolTip("the plots follow the shown step with this many steps "
                                   "either side (whole run: the decimated overview)")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("timeline"))
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.step_label)
        lay.addWidget(QLabel("plots show"))
        lay.addWidget(self.window_box)
        lay.addWidget(self.follow_box)

    def reset(self) -> None:
        """No run shown yet: an empty, disabled slider and no readout (emits nothing)."""
        self.slider.blockSignals(True)
        self.slider.setRange(0, 0)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.slider.setEnabled(False)
        self.step_label.setText("")

    def show_readout(self, step: int, error: float) -> None:
        """The readout of the shown step: its number and training error (V^2)."""
        self.step_label.setText(f"step {step}, error {error:.4g} V²")

    def at_end(self) -> bool:
        return self.slider.value() >= self.slider.maximum()

    def extend(self, n_steps: int) -> bool:
        """The run now has ``n_steps`` steps: the slider's range grows, and its value
        follows the end when it was there. Emits nothing; True if it was at the end."""
        at_end = self.at_end()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n_steps - 1, 0))
        if at_end:
            self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        return at_end

    def set_follow(self, on: bool, enabled: bool) -> None:
        """Check or uncheck the follow box without emitting ``toggled``."""
        self.follow_box.blockSignals(True)
        self.follow_box.setChecked(on)
        self.follow_box.blockSignals(False)
        self.follow_box.setEnabled(enabled)


def _estimate(value: Any) -> str:
    """A `TrainSettings.estimate` value as the estimate box shows it (a run file's old
    boolean setting: True "on", False "off")."""
    if isinstance(value, bool | np.bool_):
        return "on" if value else "off"
    return str(value)
