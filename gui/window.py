"""The twinlab main window: live training and replay of run files.

Live: the trainer runs in its own process (`lab.acquire.live.LiveRun`: bench, `Trainer`,
`RunWriter`, as ``twinlab train``), which sends batches of steps at most ~30 times a second;
a ~30 Hz `QTimer` moves them into a bounded `History` and redraws. The window and the
trainer do not share a GIL, so painting never slows training. Replay: a run file is read
lazily with `RunReader`; a timeline slider scrubs steps; follow mode tails a file that is
still being written. Hovering a node of the network view shows the shown step's free-state
node voltages, solved from the digipot positions (`gui.freestate`).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.freestate import FreeSetup, StepState, codes_before
from gui.model import History
from gui.netview import NetworkView, network_from_dict
from lab import paths
from lab.acquire.live import LiveRun, LiveSpec
from lab.acquire.records import RunInfo, RunSummary
from lab.acquire.settings import TrainSettings, settings_from
from lab.core.network import Network
from lab.hal import Bench
from lab.hal.benchfile import read_bench_file
from lab.runs import RunFileError, RunReader
from lab.tasks import Task, list_tasks, load_task

#: Redraw period of the timer, ms (~30 Hz), when frames are cheap.
FRAME_MS = 33
#: Longest redraw period, ms.
MAX_FRAME_MS = 1000
#: Share of a core the GUI thread may take: when frames get expensive the period is
#: stretched to (GUI CPU per period) / GUI_BUDGET. The trainer has its own process and
#: core; with a single core the window must leave it most of the time.
GUI_BUDGET = 0.75 if (os.cpu_count() or 1) >= 2 else 0.25
#: Points per plotted curve at most: min/max (peak) decimation over the visible range
#: to two points per pixel column of the plot, and never more than this.
DISPLAY_POINTS = 4096
#: Fewest points per plotted curve (tiny windows).
MIN_DISPLAY_POINTS = 512
#: Seconds `stop_run` waits for the training process to end before escalating.
STOP_TIMEOUT = 10.0
#: Rows read per block when loading a run file.
READ_BLOCK = 65536

pg.setConfigOptions(antialias=False, background="k", foreground="w")


def default_run_path(settings: TrainSettings) -> Path:
    """Where a live run goes unless told: `lab.paths.default_run_path`, as the CLI names runs."""
    return paths.default_run_path(settings.task, settings.p, settings.seed)


def _peak(x: np.ndarray, ys: list[np.ndarray], points: int
          ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Min/max decimation of ``x`` (n,) and columns ``ys`` (each (n,) or (n, c)) to at
    most about ``points`` rows: each bin of k rows becomes its min and its max (at the
    bin's first and last x). Unchanged when n <= points."""
    n = len(x)
    if n <= points:
        return x, ys
    k = -(-n // (points // 2))
    m = n // k
    cut = m * k
    xo = np.empty(2 * m + (n - cut), dtype=x.dtype)
    xo[0:2 * m:2], xo[1:2 * m:2], xo[2 * m:] = x[:cut:k], x[k - 1:cut:k], x[cut:]
    out = []
    for y in ys:
        yo = np.empty((len(xo), *y.shape[1:]), dtype=y.dtype)
        if y.ndim == 2 and y.shape[1] > 1:  # columns contiguous: the reductions vectorise
            blocks = y[:cut].T.reshape(y.shape[1], m, k)
            lo, hi = blocks.min(2).T, blocks.max(2).T
        else:
            blocks = y[:cut].reshape(m, k, *y.shape[1:])
            lo, hi = blocks.min(1), blocks.max(1)
        yo[0:2 * m:2], yo[1:2 * m:2], yo[2 * m:] = lo, hi, y[cut:]
        out.append(yo)
    return xo, out


def _smooth(step: np.ndarray, error: np.ndarray, csum: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean of the error over the ``window`` *steps* ending at each row (fewer at
    the start), from the running sum ``csum`` (n,) of every step's error: exact wherever
    the step ``window`` before a row is stored, linearly interpolated in the running sum
    elsewhere (decimated history). ``step``/``error``/``csum`` (n,); 1 = unchanged."""
    if window <= 1 or len(step) < 1:
        return error
    first = float(step[0]) - 1.0  # the sum is csum[0] - error[0] before the first row
    xs = np.concatenate([[first], step.astype(float)])
    cs = np.concatenate([[csum[0] - error[0]], csum])
    lo = np.maximum(step - float(window), first)
    return (csum - np.interp(lo, xs, cs)) / (step - lo)


def _network_of(task: Task) -> Network:
    """The network a task names (the bench's own description replaces it at run start)."""
    try:
        return Network.from_name(task.network)
    except ValueError:
        return Network.twin16()


class MainWindow(QMainWindow):
    """Live training / replay window (see module doc).

    ``bench`` is a `load_bench` spec (None = emulator); ``bench_factory`` replaces
    `load_bench`: a picklable callable (module-level function) returning a `Bench`, called
    in the training process. ``out`` is the first live run's file (later runs get default
    names).
    """

    def __init__(self, *, bench: str | None = None, bench_seed: int | None = None,
                 out: str | Path | None = None, settings: dict[str, Any] | None = None,
                 bench_factory: Callable[[], Bench] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("twinlab")
        self.resize(1400, 900)
        self.bench_spec, self.bench_seed = bench, bench_seed
        self._bench_factory = bench_factory
        self._next_out = Path(out) if out else None
        self.mode = "idle"               # "idle" | "live" | "replay"
        self.history: History | None = None
        self.live: LiveRun | None = None  # the training process of a live run
        self.run_path: Path | None = None
        self.reader: RunReader | None = None
        self.run_info: RunInfo | None = None      # live: as the training process sent it
        self.summary: RunSummary | None = None    # live: how the last run ended
        self.run_error: str | None = None         # live: the training process's error
        self.run_seconds = float("nan")           # live: wall time of Trainer.run, s
        self.free_setup: FreeSetup | None = None  # network, roles, nominal parts
        self.last_message = ""
        self._drawn_version = -1
        self._rate = 0.0
        self._rate_mark = (time.monotonic(), 0)
        self._loaded = 0
        self.frame_times: list[float] = []
        self.frame_count = 0             # redraws done (data changed)
        self._in_redraw = False
        self._net_shown: tuple[bytes, bytes] | None = None
        self._build(settings or {})
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._tick)
        self._cpu_mark = time.thread_time()
        self.timer.start()

    # -- construction ----------------------------------------------------------------------
    def _build(self, settings: dict[str, Any]) -> None:
        defaults = TrainSettings()
        panel = QWidget()
        form = QFormLayout(panel)
        self.task_box = QComboBox()
        self.task_box.setEditable(True)  # a task file path may be typed
        self.task_box.addItems(list_tasks())
        self.task_box.setCurrentText(str(settings.get("task") or defaults.task))
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
        self.start_button.clicked.connect(self.start_run)
        self.pause_button.clicked.connect(self.pause_run)
        self.resume_button.clicked.connect(self.resume_run)
        self.stop_button.clicked.connect(self.stop_run)
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
        dock = QDockWidget("run", self)
        dock.setWidget(panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        for box in (self.log_box, self.scaled_box):
            box.toggled.connect(self._force_redraw)
        self.smooth_box.valueChanged.connect(self._force_redraw)
        self.edge_list.itemChanged.connect(self._edge_toggled)

        self.error_plot = pg.PlotWidget(title="error (V²) vs step")
        self.trace_plot = pg.PlotWidget(title="digipot codes vs step")
        self.output_plot = pg.PlotWidget(title="outputs (V): V_F solid, V_C dashed, V_D dotted")
        for w in (self.error_plot, self.trace_plot, self.output_plot):
            item = w.getPlotItem()
            item.setDownsampling(auto=False)  # redraw() decimates (cheaper, once per frame)
            item.setClipToView(False)
            # no grid: pyqtgraph's grids cost 6-18 ms per live frame (regenerated on
            # every range change), more than all the curves together
            item.setLabel("bottom", "step")
        self.error_plot.getPlotItem().sigXRangeChanged.connect(self._range_changed)
        self.trace_plot.setXLink(self.error_plot)
        self.trace_plot.getPlotItem().enableAutoRange(y=False)  # codes span 0..127: fixed
        self.trace_plot.setYRange(0, 127, padding=0.02)
        self.output_plot.setXLink(self.error_plot)
        # dynamicRangeLimit=None: else every range change re-processes the curve's data
        self.error_curve = self.error_plot.plot(pen=pg.mkPen("#ff7f0e", width=1),
                                                name="training", dynamicRangeLimit=None)
        self.test_curve = self.error_plot.plot(pen=None, symbol="o", symbolSize=7,
                                               symbolBrush="#2ca02c", name="test",
                                               dynamicRangeLimit=None)
        self.error_plot.addLegend(offset=(-10, 10))
        self.error_plot.getPlotItem().legend.addItem(self.error_curve, "training")
        self.error_plot.getPlotItem().legend.addItem(self.test_curve, "test")
        self.error_plot.getPlotItem().setLogMode(y=True)
        self.vlines = []
        for w in (self.error_plot, self.trace_plot, self.output_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ffffff80"))
            line.setVisible(False)
            w.addItem(line)
            self.vlines.append(line)
        # PlotCurveItem, not PlotDataItem: setData costs 15 us instead of 180 us
        self.trace_curves: list[pg.PlotCurveItem] = []
        self.output_curves: list[tuple[pg.PlotCurveItem, ...]] = []
        self.netview = NetworkView(Network.twin16())

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.error_plot)
        top.addWidget(self.netview)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.trace_plot)
        bottom.addWidget(self.output_plot)
        self._top_split = top
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(top)
        plots.addWidget(bottom)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self.show_step)
        self.follow_box = QCheckBox("follow file")
        self.follow_box.toggled.connect(self._follow_toggled)
        self.step_label = QLabel("")
        self.step_label.setMinimumWidth(240)
        timeline = QHBoxLayout()
        timeline.addWidget(QLabel("timeline"))
        timeline.addWidget(self.slider, 1)
        timeline.addWidget(self.step_label)
        timeline.addWidget(self.follow_box)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(plots, 1)
        lay.addLayout(timeline)
        self.setCentralWidget(central)
        self._set_network(Network.twin16(), (), (), ())

        self.status_step, self.status_rate = QLabel("step -"), QLabel("- steps/s")
        self.status_error, self.status_file = QLabel("error -"), QLabel("no run file")
        for w, width in ((self.status_step, 110), (self.status_rate, 160),
                         (self.status_error, 150), (self.status_file, 200)):
            w.setMinimumWidth(width)
            self.statusBar().addPermanentWidget(w)

        menu = self.menuBar().addMenu("&File")
        for text, slot in (("&Open run…", self._open_dialog),
                           ("Export plots as &PNG…", self._png_dialog),
                           ("Export visible data as &CSV…", self._csv_dialog)):
            action = QAction(text, self)
            action.triggered.connect(slot)
            menu.addAction(action)
        self._buttons()

    def _set_network(self, network: Network, inputs: Any, outputs: Any, fixed: Any) -> None:
        """(Re)build the network view, trace curves, edge list for ``network``."""
        old = self.netview.network
        if network.name != old.name or not np.array_equal(network.edges, old.edges) \
                or not np.array_equal(network.layout, old.layout):
            view = NetworkView(network)
            self._top_split.replaceWidget(1, view)
            self.netview.deleteLater()
            self.netview = view
        self.netview.set_roles(inputs, outputs, fixed)
        item = self.trace_plot.getPlotItem()
        for c in self.trace_curves:
            item.removeItem(c)
        if item.legend is not None:
            item.legend.scene().removeItem(item.legend)
            item.legend = None
        item.addLegend(colCount=4, offset=(-10, 10))
        self.edge_list.blockSignals(True)
        self.edge_list.clear()
        self.trace_curves = []
        labels = network.edge_labels()
        for i, label in enumerate(labels):
            curve = pg.PlotCurveItem(pen=pg.mkPen(pg.intColor(i, len(labels)), width=1),
                                     name=label)
            item.addItem(curve)
            self.trace_curves.append(curve)
            entry = QListWidgetItem(label)
            entry.setFlags(entry.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            entry.setCheckState(Qt.CheckState.Checked)
            entry.setForeground(pg.intColor(i, len(labels)))
            self.edge_list.addItem(entry)
        self.edge_list.blockSignals(False)
        self._set_outputs(list(outputs))

    def _set_outputs(self, outputs: list[int]) -> None:
        item = self.output_plot.getPlotItem()
        for curves in self.output_curves:
            for c in curves:
                item.removeItem(c)
        if item.legend is None:
            item.addLegend(offset=(-10, 10))
        item.legend.clear()
        self.output_curves = []
        for j, node in enumerate(outputs):
            colour = pg.intColor(j, hues=max(len(outputs), 3))
            styles = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine)
            names = (f"V_F {node}", f"V_C {node}", f"V_D {node}")
            curves = tuple(pg.PlotCurveItem(pen=pg.mkPen(colour, width=1, style=s), name=n)
                           for s, n in zip(styles, names, strict=True))
            for c in curves:
                item.addItem(c)
            self.output_curves.append(curves)

    def _buttons(self) -> None:
        running = self.live is not None
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.resume_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        for box in (self.task_box, self.eta_box, self.p_box, self.steps_box, self.seed_box):
            box.setEnabled(not running)

    def _show_file(self, path: Path) -> None:
        """Run file name in the status bar (full path as tooltip)."""
        self.status_file.setText(path.name)
        self.status_file.setToolTip(str(path.resolve()))

    # -- messages --------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Show ``text`` in the status bar and in a (non-blocking) message box."""
        self.last_message = text
        self.statusBar().showMessage(text)
        box = QMessageBox(QMessageBox.Icon.Warning, "twinlab", text,
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.message_box = box

    # -- live mode -------------------------------------------------------------------------
    def settings(self) -> TrainSettings:
        """Settings from the controls, validated like the CLI (ConfigError naming the field)."""
        return settings_from(task=self.task_box.currentText().strip(),
                             eta=self.eta_box.value(), p=self.p_box.value(),
                             steps=self.steps_box.value(), seed=self.seed_box.value())

    def start_run(self) -> bool:
        """Validate the controls (settings, task, bench file, run file) and start training
        in a new process. False (and the CLI's message) when anything is wrong: nothing is
        applied then. What only the bench can check (channel limits, instruments) is
        checked in the training process, before any voltage is applied; its message
        arrives as a status-bar line."""
        if self.live is not None:
            return False
        try:
            settings = self.settings()
            task = load_task(settings.task, seed=settings.seed)
            if self._bench_factory is None:
                read_bench_file(self.bench_spec)  # a missing or broken file: say so now
            out = self._next_out or default_run_path(settings)
            if out.exists():
                raise RunFileError(f"{out}: run file already exists (refusing to overwrite)")
            spec = LiveSpec(settings=settings.model_dump(), out=str(out),
                            bench=self.bench_spec, bench_seed=self.bench_seed,
                            bench_factory=self._bench_factory)
            live = LiveRun(spec)
        except Exception as exc:  # every bad input: one message, nothing started
            self.show_error(str(exc) or type(exc).__name__)
            return False
        self._next_out = None
        self._close_reader()
        # as the trainer does: take the long-lived objects (Qt, numpy, pyqtgraph) out of the
        # cyclic collector's walks, whose full passes otherwise stall a frame by ~80 ms
        gc.collect()
        gc.freeze()
        self.mode, self.live, self.run_path = "live", live, out
        self.run_info, self.summary, self.run_error = None, None, None
        self.run_seconds = float("nan")
        network = _network_of(task)
        self.history = History(network.n_edges, task.n_outputs, task.n_inputs)
        self._set_network(network, task.input_nodes, task.output_nodes, task.fixed_nodes)
        self.free_setup = None
        self.netview.set_free_state(None, None)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(True)  # usable while training; at its end it follows the run
        self.follow_box.setEnabled(False)
        self._show_file(out)
        self._t_start = time.monotonic()
        self.statusBar().showMessage(f"starting the training process for {settings.task}…")
        self._rate_mark, self._rate = (time.monotonic(), 0), 0.0
        self._net_shown = None
        self._cpu_mark = time.thread_time()
        self.timer.setInterval(FRAME_MS)
        self._buttons()
        return True

    def pause_run(self) -> None:
        if self.live is not None:
            self.live.pause()
            self.statusBar().showMessage("paused")

    def resume_run(self) -> None:
        if self.live is not None:
            self.live.resume()
            self.statusBar().showMessage("running")

    def stop_run(self) -> None:
        """Stop the run after the current step and wait (bounded) for the training process
        to put the bench in its safe state and close the run file."""
        live = self.live
        if live is None:
            return
        if not live.end(STOP_TIMEOUT):
            live.inbox.append(("error", "run", "the training process did not stop and was "
                               "killed; bench state unknown"))
            live.inbox.append(("exit",))
        self._tick()

    def _receive(self) -> None:
        """Apply the training process's messages (see `lab.acquire.live`)."""
        live, h = self.live, self.history
        assert live is not None and h is not None
        for msg in live.messages():
            kind = msg[0]
            if kind == "batch":
                steps, tests = msg[1], msg[2]
                if steps is not None:
                    h.extend(steps)
                for step, error in tests:
                    h.add_test(step, error)
            elif kind == "ready":
                s = live.spec.settings
                self.statusBar().showMessage(f"running {s['task']}: {s['steps']} steps")
            elif kind == "start":
                self._started(msg[1])
            elif kind == "stop":
                self.summary, self.run_seconds = msg[1], float(msg[2])
            elif kind == "error":
                phase, text = msg[1], msg[2]
                if phase == "setup":
                    self.run_error = text
                else:
                    self.run_error = f"run failed: {text}; run file {self.run_path} (incomplete)"
            elif kind == "exit":
                self._finish()
                return

    def _started(self, info: RunInfo) -> None:
        """The run began: take the network, roles and parts from the bench's description."""
        self.run_info = info
        network = network_from_dict(info.network)
        task = info.task
        if network.n_edges != self.netview.network.n_edges or \
                not np.array_equal(network.edges, self.netview.network.edges):
            assert self.history is not None
            self.history = History(network.n_edges, info.n_outputs, info.n_inputs)
            self._set_network(network, task.get("input_nodes", ()),
                              task.get("output_nodes", ()), task.get("fixed_nodes", ()))
        self.free_setup = FreeSetup.from_run(self.netview.network, task, info.bench)
        self._net_shown = None  # the next frame hands the view its hover state

    def _finish(self) -> None:
        """Called once when the training process has sent its last message."""
        live, self.live = self.live, None
        if live is not None:
            live.wait(STOP_TIMEOUT)
            live.close()
        summary = self.summary
        if self.run_error is not None:
            text = self.run_error
            if summary is not None and "safe state failed" not in summary.message:
                text += "; bench safe"
            self.show_error(text)
        elif summary is not None:
            state = "complete" if summary.complete else f"incomplete ({summary.message})"
            safe = "bench NOT safe" if "safe state failed" in summary.message else "bench safe"
            self.statusBar().showMessage(
                f"{summary.steps} steps, final scaled error {summary.scaled_error:.4f}, "
                f"run {state}; {safe}")
        self._buttons()
        h = self.history
        if h is not None and summary is not None and self.run_seconds > 0:
            self.status_rate.setText(f"{summary.steps / self.run_seconds:.0f} steps/s (mean)")
        if h is not None and h.total:
            self.slider.setRange(0, h.total - 1)
            self.slider.setValue(h.total - 1)
            self.slider.setEnabled(True)
            self._force_redraw()
            self.show_step(self.slider.value())

    # -- replay mode -----------------------------------------------------------------------
    def open_run(self, path: str | Path, follow: bool = False) -> bool:
        """Open a run file for replay (``follow``: tail it while it is written)."""
        if self.live is not None:
            self.show_error("stop the live run before opening a run file")
            return False
        try:
            reader = RunReader(path, swmr=follow)
            info = reader.info
            network = network_from_dict(info.get("network_json") or {})
            task = info.get("task_json") or {}
            n_out = reader.steps["v_free"].shape[1]
        except (RunFileError, KeyError, ValueError, OSError) as exc:
            self.show_error(str(exc))
            return False
        self._close_reader()
        self.reader, self.mode, self.run_path = reader, "replay", Path(path)
        self.history = History(network.n_edges, n_out)
        self._set_network(network, task.get("input_nodes", ()), task.get("output_nodes", ()),
                          task.get("fixed_nodes", ()))
        self.free_setup = FreeSetup.from_run(self.netview.network, task,
                                             info.get("bench_json") or {})
        self._loaded = 0
        self._load_rows()
        self.follow_box.blockSignals(True)
        self.follow_box.setChecked(follow)
        self.follow_box.blockSignals(False)
        self.follow_box.setEnabled(True)
        self._show_file(Path(path))
        s = reader.settings
        self.statusBar().showMessage(
            f"replay {info.get('task')} p={s.get('p')} eta={s.get('eta')} seed={s.get('seed')}"
            f" ({'complete' if reader.complete else 'incomplete'})")
        self.slider.setEnabled(True)
        self.slider.setValue(max(self.history.total - 1, 0))
        self._force_redraw()
        self.show_step(self.slider.value())
        return True

    def _load_rows(self) -> None:
        """Read rows not yet loaded from the reader into the history, block by block."""
        reader, history = self.reader, self.history
        assert reader is not None and history is not None
        n = reader.n_steps
        cols = reader.steps
        names = ["step", "error", "positions", "v_free", "v_clamped", "v_desired"]
        if "update_mask" in cols:
            names.append("update_mask")
        for a in range(self._loaded, n, READ_BLOCK):
            b = min(a + READ_BLOCK, n)
            history.extend({k: cols[k][a:b] for k in names})
        if reader.n_tests > len(history.test_step):
            t_step = reader.tests["step"][len(history.test_step):]
            t_err = reader.tests["error"][len(history.test_step):]
            for s, e in zip(t_step.tolist(), t_err.tolist(), strict=True):
                history.add_test(s, e)
        at_end = self.slider.value() >= self.slider.maximum()
        self._loaded = n
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        if at_end:
            self.slider.setValue(max(n - 1, 0))
        self.slider.blockSignals(False)

    def _follow_toggled(self, on: bool) -> None:
        if self.mode == "replay" and self.run_path is not None:
            self.open_run(self.run_path, follow=on)

    def _close_reader(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def show_step(self, k: int) -> None:
        """Show the state at step ``k``: network codes + update mask, vertical lines."""
        row: dict[str, Any] | None = None
        if self.mode == "replay" and self.reader is not None and k < self.reader.n_steps:
            cols = self.reader.steps
            row = {"step": k, "positions": cols["positions"][k], "error": cols["error"][k],
                   "update_mask": cols["update_mask"][k] if "update_mask" in cols else None}
        elif self.history is not None and self.history.total:
            row = self.history.row_at(k)
        if row is None:
            return
        self.netview.set_state(row["positions"], row["update_mask"])
        self.netview.set_free_state(self.free_setup, lambda k=int(row["step"]): self.step_state(k))
        self._net_shown = None
        for line in self.vlines:
            line.setPos(float(row["step"]))
            line.setVisible(True)
        self.step_label.setText(f"step {int(row['step'])}, error {float(row['error']):.4g} V²")

    def step_state(self, k: int) -> StepState | None:
        """Step ``k`` as the network view's hover needs it: the codes its free state was
        measured with (those of step k - 1, before k's pulse, when stored), its applied
        inputs and measured V_F. From the run file in replay, else from the history (the
        nearest earlier stored step when ``k`` was decimated away)."""
        if self.mode == "replay" and self.reader is not None and k < self.reader.n_steps:
            cols = self.reader.steps
            after = cols["positions"][k]
            before: np.ndarray | None = cols["positions"][k - 1] if k > 0 else None
            if before is None and "update_mask" in cols and "direction" in cols:
                before = codes_before(after, cols["update_mask"][k], cols["direction"][k])
            return StepState(k, after if before is None else before, before is not None,
                             cols["inputs"][k], cols["v_free"][k])
        h = self.history
        row = h.row_at(k) if h is not None else None
        if row is None or h is None:
            return None
        k = int(row["step"])
        prev = h.row_at(k - 1) if k > 0 else None
        exact = prev is not None and int(prev["step"]) == k - 1
        codes = prev["positions"] if exact and prev is not None else row["positions"]
        return StepState(k, codes, exact, row["inputs"], row["v_free"])

    # -- timer -----------------------------------------------------------------------------
    def _tick(self) -> None:
        """Take the training process's batches or tail the followed file, then redraw if
        data changed. When frames get expensive the timer period is stretched so that the
        GUI thread's CPU time (redraw, painting, events since the last tick) stays near
        `GUI_BUDGET` of the period, leaving the thread idle for events."""
        cpu = time.thread_time()
        used, self._cpu_mark = cpu - self._cpu_mark, cpu
        period = min(max(FRAME_MS, 1e3 * used / GUI_BUDGET), MAX_FRAME_MS)
        if abs(period - self.timer.interval()) > 5:
            self.timer.setInterval(int(period))
        if self.mode == "live" and self.live is not None and self.history is not None:
            self._receive()
        elif self.mode == "replay" and self.follow_box.isChecked() and self.reader is not None:
            try:
                if self.reader.refresh() > self._loaded:
                    self._load_rows()
                    self.show_step(self.slider.value())
            except (OSError, RunFileError) as exc:
                self.statusBar().showMessage(f"follow: {exc}")
        self.redraw()

    def _force_redraw(self) -> None:
        self._drawn_version = -1
        self.redraw()

    def _range_changed(self, *_: object) -> None:
        """Zoom/pan by the user: re-decimate the visible range at the next tick."""
        if not self._in_redraw and not self.error_plot.getPlotItem().getViewBox() \
                .autoRangeEnabled()[0]:
            self._drawn_version = -1

    def _edge_toggled(self, item: QListWidgetItem) -> None:
        i = self.edge_list.row(item)
        self.trace_curves[i].setVisible(item.checkState() == Qt.CheckState.Checked)

    def redraw(self) -> None:
        """Redraw every panel from the history (skipped when nothing changed)."""
        h = self.history
        if h is None or h.version == self._drawn_version:
            return
        t0 = time.perf_counter()
        self._drawn_version = h.version
        self._in_redraw = True
        try:
            self._redraw(h)
        finally:
            self._in_redraw = False
        self.frame_count += 1
        self.frame_times.append(time.perf_counter() - t0)
        del self.frame_times[:-100]

    def display_points(self) -> int:
        """Points per plotted curve: two per pixel column of the widest plot, within
        [`MIN_DISPLAY_POINTS`, `DISPLAY_POINTS`]."""
        width = max(w.getPlotItem().getViewBox().width()
                    for w in (self.error_plot, self.trace_plot, self.output_plot))
        return int(min(max(2 * width, MIN_DISPLAY_POINTS), DISPLAY_POINTS))

    def _visible(self, step: np.ndarray) -> slice:
        """Rows of ``step`` inside the zoomed x range (+ one either side); all when the
        x axis auto-ranges."""
        box = self.error_plot.getPlotItem().getViewBox()
        if box.autoRangeEnabled()[0] or not len(step):
            return slice(None)
        lo, hi = box.viewRange()[0]
        a = max(int(np.searchsorted(step, lo)) - 1, 0)
        b = int(np.searchsorted(step, hi, side="right")) + 1
        return slice(a, b)

    def _redraw(self, h: History) -> None:
        snap = h.snapshot(("step", "error", "error_csum", "positions", "v_free", "v_clamped",
                            "v_desired"))
        x = snap.step
        if len(x):
            scale = 1.0
            if self.scaled_box.isChecked() and h.first_error > 0:
                scale = 1.0 / h.first_error
            log = self.log_box.isChecked()
            self.error_plot.getPlotItem().setLogMode(y=log)
            y = _smooth(x, snap.error, snap.error_csum, self.smooth_box.value()) * scale
            ty = np.asarray(h.test_error) * scale
            if log:
                y, ty = np.maximum(y, 1e-15), np.maximum(ty, 1e-15)
            view = self._visible(x)
            x, (y, codes, vf, vc, vd) = _peak(
                x[view], [y[view], snap.positions[view], snap.v_free[view],
                          snap.v_clamped[view], snap.v_desired[view]], self.display_points())
            self.error_curve.setData(x, y)
            tx, (ty,) = _peak(np.asarray(h.test_step, float), [ty], self.display_points() // 4)
            if self.test_curve.yData is None or not np.array_equal(self.test_curve.yData, ty):
                self.test_curve.setData(tx, ty)
            for i, curve in enumerate(self.trace_curves):
                curve.setData(x, codes[:, i])
            for j, (cf, cc, cd) in enumerate(self.output_curves):
                cf.setData(x, vf[:, j])
                cc.setData(x, vc[:, j])
                cd.setData(x, vd[:, j])
            for plot in (self.error_plot, self.trace_plot, self.output_plot):
                # auto-range now, not when painting: a range changed while painting makes
                # pyqtgraph paint the plot twice
                plot.getPlotItem().getViewBox().prepareForPaint()
        if h.last is not None:
            if self.mode == "live" and self.live is not None:
                at_end = self.slider.value() >= self.slider.maximum()
                self.slider.blockSignals(True)
                self.slider.setRange(0, max(h.total - 1, 0))
                if at_end:
                    self.slider.setValue(self.slider.maximum())
                self.slider.blockSignals(False)
                shown = (h.last["positions"].tobytes(), h.last["update_mask"].tobytes())
                if at_end and shown != self._net_shown:
                    self._net_shown = shown
                    self.netview.set_state(h.last["positions"], h.last["update_mask"])
                    self.netview.set_free_state(
                        self.free_setup, lambda k=int(h.last["step"]): self.step_state(k))
                now = time.monotonic()
                t_mark, n_mark = self._rate_mark
                if now - t_mark >= 0.5:
                    self._rate = (h.total - n_mark) / (now - t_mark)
                    self._rate_mark = (now, h.total)
                self.status_rate.setText(f"{self._rate:.0f} steps/s")
            elif self.mode == "replay":
                self.status_rate.setText(f"replay, {h.total} steps")
            self.status_step.setText(f"step {int(h.last['step'])}")
            self.status_error.setText(f"error {float(h.last['error']):.4g} V²")

    # -- export ----------------------------------------------------------------------------
    def plots(self) -> dict[str, pg.PlotWidget]:
        return {"error": self.error_plot, "codes": self.trace_plot,
                "outputs": self.output_plot, "network": self.netview}

    def export_png(self, directory: str | Path, width: int = 1200) -> list[Path]:
        """Save each panel as ``<directory>/<run>_<panel>.png``; returns the paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = self.run_path.stem if self.run_path else "twinlab"
        paths = []
        for name, widget in self.plots().items():
            exporter = pyqtgraph.exporters.ImageExporter(widget.getPlotItem())
            exporter.parameters()["width"] = width
            path = directory / f"{stem}_{name}.png"
            exporter.export(str(path))
            paths.append(path)
        return paths

    def export_csv(self, path: str | Path) -> int:
        """Write every step inside the visible step range as CSV: step, error (V^2), one
        code column per edge, V_F/V_C/V_D per output (V). In replay the rows come from the
        run file at full resolution (read block by block); live, from the history (full
        resolution for recent steps, decimated before). Returns the row count."""
        if self.history is None:
            raise ValueError("nothing to export: no run loaded")
        lo, hi = self.error_plot.getPlotItem().viewRange()[0]
        labels = self.netview.network.edge_labels()
        n_out = self.history.n_outputs
        outputs = [c[0].name().split()[-1] for c in self.output_curves] or \
            [str(j) for j in range(n_out)]
        header = (["step", "error"] + [f"code_{e}" for e in labels]
                  + [f"{v}_{o}" for o in outputs for v in ("v_free", "v_clamped", "v_desired")])
        fmt = ["%d", "%.9g"] + ["%d"] * len(labels) + ["%.9g"] * (3 * n_out)
        names = ("step", "error", "positions", "v_free", "v_clamped", "v_desired")

        def table(c: dict[str, np.ndarray]) -> np.ndarray:
            volts = np.stack([c["v_free"], c["v_clamped"], c["v_desired"]], axis=2)
            return np.column_stack([c["step"], c["error"], c["positions"],
                                    volts.reshape(len(c["step"]), 3 * n_out)])

        rows = 0
        with open(path, "w", newline="") as f:
            f.write(",".join(header) + "\n")
            if self.mode == "replay" and self.reader is not None:
                cols = self.reader.steps
                steps = cols["step"][: self.reader.n_steps]
                a = int(np.searchsorted(steps, lo, side="left"))
                b = int(np.searchsorted(steps, hi, side="right"))
                for start in range(a, b, READ_BLOCK):
                    stop = min(start + READ_BLOCK, b)
                    np.savetxt(f, table({k: cols[k][start:stop] for k in names}),
                               fmt=fmt, delimiter=",")
                rows = max(b - a, 0)
            else:
                snap = self.history.snapshot()
                keep = (snap.step >= lo) & (snap.step <= hi)
                np.savetxt(f, table({k: getattr(snap, k)[keep] for k in names}),
                           fmt=fmt, delimiter=",")
                rows = int(keep.sum())
        return rows

    def _open_dialog(self) -> None:
        folder = str(paths.runs_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Open run", folder, "runs (*.h5)")
        if path:
            self.open_run(path)

    def _png_dialog(self) -> None:
        directory = QFileDialog.getExistingDirectory(self, "Save plots to")
        if directory:
            paths = self.export_png(directory)
            self.statusBar().showMessage(f"saved {len(paths)} PNG files to {directory}")

    def _csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save visible data", "", "CSV (*.csv)")
        if path:
            try:
                n = self.export_csv(path)
            except (ValueError, OSError) as exc:
                self.show_error(str(exc))
                return
            self.statusBar().showMessage(f"saved {n} rows to {path}")

    # -- closing ---------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop a live run (bench safe, file marked incomplete) before closing."""
        self.timer.stop()
        if self.live is not None:
            self.stop_run()
        self._close_reader()
        super().closeEvent(event)
