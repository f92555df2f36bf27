"""The window's controls: the run panel (settings, run buttons, display options, the edges
shown) and the timeline (step slider, follow mode). Widgets only: what a click does is
the window's business (it connects the signals)."""

from __future__ import annotations

from typing import Any

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
from lab.tasks import list_tasks

__all__ = ["Controls", "Timeline"]


class Controls(QWidget):
    """The run panel. ``settings`` (`TrainSettings` fields) preset the boxes (None or
    missing: the defaults). Signals: ``display_changed()`` when a display option changes,
    ``edge_toggled(i, shown)`` when edge ``i``'s trace is checked or unchecked."""

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
        for label, box in (("task", self.task_box), ("eta", self.eta_box), ("p", self.p_box),
                           ("steps", self.steps_box), ("seed", self.seed_box)):
            form.addRow(label, box)
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
        """Settings from the boxes, validated like the CLI (ConfigError naming the field)."""
        return settings_from(task=self.task_box.currentText().strip(),
                             eta=self.eta_box.value(), p=self.p_box.value(),
                             steps=self.steps_box.value(), seed=self.seed_box.value())

    def options(self) -> DisplayOptions:
        return DisplayOptions(log=self.log_box.isChecked(), scaled=self.scaled_box.isChecked(),
                              smoothing=self.smooth_box.value())

    def set_running(self, running: bool) -> None:
        """Start and the settings while no run is going on; pause/resume/stop while one is."""
        self.start_button.setEnabled(not running)
        for b in (self.pause_button, self.resume_button, self.stop_button):
            b.setEnabled(running)
        for box in (self.task_box, self.eta_box, self.p_box, self.steps_box, self.seed_box):
            box.setEnabled(not running)

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
    """The step slider, the shown step's line and the follow-file box."""

    def __init__(self) -> None:
        super().__init__()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.follow_box = QCheckBox("follow file")
        self.step_label = QLabel("")
        self.step_label.setMinimumWidth(240)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("timeline"))
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.step_label)
        lay.addWidget(self.follow_box)

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
