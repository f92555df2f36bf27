"""The twinlab main window: live training and replay of run files, composed of parts.

* `gui.controls`: the run panel (settings, run buttons, display options, edges shown) and
  the timeline (step slider, follow mode);
* `gui.plots`: the plot panels and the network view, redrawn within a frame budget;
* `gui.sources`: the run shown, live (`LiveSource`: the trainer in its own process,
  `lab.acquire.live`, sending batches at most ~30 times a second) or from a file
  (`ReplaySource`: read lazily, tailed in follow mode), behind one interface;
* `gui.export`: PNG and CSV export;
* `gui.watch`: what users watch (effective p, bias, each edge's learning signal), a
  strip below the plots.

A ~30 Hz `QTimer` polls the source (batches into its bounded `History`) and redraws. The
window and the trainer do not share a GIL, so painting never slows training. Hovering a
node of the network view shows the shown step's free-state node voltages, solved from
the digipot positions (`gui.freestate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent
from PyQt6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from gui import export
from gui.controls import Controls, Timeline
from gui.freestate import FreeSetup
from gui.look import ElidedLabel
from gui.model import History
from gui.plots import FRAME_MS, FrameBudget, Plots
from gui.sources import (
    STOP_TIMEOUT,
    Ended,
    Grew,
    Layout,
    LiveSource,
    Relayout,
    ReplaySource,
    RunSource,
    Status,
    default_run_path,
)
from gui.watch import WatchPanel
from lab import paths
from lab.acquire.live import LiveRun, LiveSpec
from lab.acquire.records import RunSummary
from lab.acquire.trainer import check_task_wiring
from lab.core.network import Network
from lab.hal import Bench
from lab.hal.benchfile import check_bench
from lab.runs import RunFileError
from lab.signals import interrupted_by
from lab.tasks import load_task

__all__ = ["MainWindow"]


class MainWindow(QMainWindow):
    """Live training / replay window (see module doc): `controls`, `timeline`, `plots`,
    and the `source` shown (None before the first run or file).

    ``bench`` is a `load_bench` spec (None = emulator); ``bench_factory`` replaces
    `load_bench`: a picklable callable (module-level function) returning a `Bench`, called
    in the training process. ``out`` is the first live run's file (later runs get default
    names); ``settings`` preset the controls.
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
        self.source: RunSource | None = None
        self.last_message = ""
        self.message_box: QMessageBox | None = None
        #: (signal, the live run it stopped or None) once `close_on_signal` closed it
        self.stopped_by: tuple[int, LiveSource | None] | None = None
        self._close_reason: str | None = None  # the run's stop reason when closed
        self._rate, self._rate_mark = 0.0, (time.monotonic(), 0)
        self._net_shown: tuple[bytes, bytes] | None = None
        #: the follow window's own history (replay of a decimated run) and its key
        self._window: tuple[tuple[int, int, int], History | None] | None = None

        self.controls = Controls(settings)
        dock = QDockWidget("run", self)
        dock.setWidget(self.controls)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        c = self.controls
        c.start_button.clicked.connect(self.start_run)
        c.pause_button.clicked.connect(self.pause_run)
        c.resume_button.clicked.connect(self.resume_run)
        c.stop_button.clicked.connect(self.stop_run)
        c.display_changed.connect(self._force_redraw)

        self.plots = Plots()
        c.edge_toggled.connect(self.plots.set_edge_visible)
        self.timeline = Timeline()
        self.timeline.slider.valueChanged.connect(self.show_step)
        self.timeline.follow_box.toggled.connect(self._follow_toggled)
        self.timeline.window_box.valueChanged.connect(self._window_changed)
        self.watch = WatchPanel()
        # the watch strip's step axis shows the plots' steps (zoom, pan, follow window)
        self.plots.error_plot.getPlotItem().sigXRangeChanged.connect(self._steps_shown)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(self.plots, 1)
        lay.addWidget(self.watch)
        lay.addWidget(self.timeline)
        self.setCentralWidget(central)
        self._set_layout(Layout(Network.twin16()))

        # the run as a whole; the shown step's readout is the timeline's (one readout)
        self.status_step, self.status_rate = QLabel("no steps"), QLabel("- steps/s")
        #: the run file's whole path (elided in the middle when long; whole in the tooltip)
        self.status_file = ElidedLabel("no run file")
        for w, width in ((self.status_step, 110), (self.status_rate, 160),
                         (self.status_file, self.status_file.min_px)):
            w.setMinimumWidth(width)
            self.statusBar().addPermanentWidget(w)

        menu = self.menuBar().addMenu("&File")
        for text, slot in (("&Open run…", self._open_dialog),
                           ("Export plots as &PNG…", self._png_dialog),
                           ("Export &figures (light, PNG + SVG)…", self._figures_dialog),
                           ("Export visible data as &CSV…", self._csv_dialog)):
            action = QAction(text, self)
            action.triggered.connect(slot)
            menu.addAction(action)

        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._tick)
        self.budget = FrameBudget(self.timer)
        self.timer.start()

    # -- the shown run (read-only views of the source) -------------------------------------
    @property
    def mode(self) -> str:
        """"idle" (nothing shown yet), "live" or "replay"."""
        return self.source.kind if self.source is not None else "idle"

    @property
    def history(self) -> History | None:
        return self.source.history if self.source is not None else None

    @property
    def live(self) -> LiveRun | None:
        """The training process of the live run while it runs, else None."""
        s = self.source
        return s.run if isinstance(s, LiveSource) and s.running else None

    @property
    def run_path(self) -> Path | None:
        return self.source.path if self.source is not None else None

    @property
    def summary(self) -> RunSummary | None:
        """How the last live run ended (None before its end, or in replay)."""
        return self.source.summary if isinstance(self.source, LiveSource) else None

    @property
    def run_seconds(self) -> float:
        """Wall time of the last live run's `Trainer.run`, s (NaN before its end)."""
        s = self.source
        return s.run_seconds if isinstance(s, LiveSource) else float("nan")

    @property
    def free_setup(self) -> FreeSetup | None:
        return self.source.free_setup if self.source is not None else None

    # -- layout ----------------------------------------------------------------------------
    def _set_layout(self, layout: Layout) -> None:
        """Panels, traces and the edge list for ``layout``'s network and roles."""
        self.plots.set_network(layout.network, layout.inputs, layout.outputs, layout.fixed)
        labels = layout.network.edge_labels()
        self.controls.set_edges(labels, [Plots.edge_colour(i, len(labels))
                                         for i in range(len(labels))])

    def _attach(self, source: RunSource) -> None:
        """Show ``source`` (the previous one closed; a live one must have ended). Nothing
        of the previous run stays: its curves, cursors, timeline, readouts and network
        state are cleared; a replayed run's own settings show in the run panel."""
        if self.source is not None:
            self.source.close()
        self.source = source
        self._set_layout(source.layout)
        self.plots.clear_data()
        self.timeline.reset()
        view = self.plots.netview
        view.clear_state()  # "-" until the run's first step
        view.set_free_state(None, None)
        self._net_shown = None
        self._window = None
        self.status_step.setText("no steps")
        self.status_rate.setText("- steps/s")
        self.controls.show_run_settings(source.settings if source.kind == "replay" else None)
        self._watch_run(source)

    def _watch_run(self, source: RunSource) -> None:
        self.watch.set_run(source.settings, source.has_updates, source.codes,
                           source.codes_note, source.free_setup)
        self.status_file.set_full_text(str(source.path.resolve()))
        self.statusBar().showMessage(source.title)
        self._show_codes(source)

    def _show_codes(self, source: RunSource) -> None:
        """Label the code panels with where ``source``'s codes come from; for unknown
        codes the status line says why; the run's digipot sets the code range and kOhm."""
        self.plots.set_parts(source.free_setup)
        self.plots.set_codes(source.codes, source.codes_note)
        if source.codes == "unknown":
            note = source.codes_note or "no resistance probe"
            head = source.title if source.kind == "replay" else "running"
            self.statusBar().showMessage(f"{head}; codes unknown: {note}")

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
    def start_run(self) -> bool:
        """Validate the controls (settings, task, bench file, run file) and start training
        in a new process. False (and the CLI's message) when anything is wrong: nothing is
        applied then; a bench file's channel limits are checked here too
        (`check_task_wiring`). What only the bench can check (its instruments; the channel
        limits of a bench built otherwise) is checked in the training process, before any
        voltage is applied (a rule the bench's board does not implement, `Trainer._check`,
        too); its message arrives as the window's one-line error, with no run file
        written."""
        if self.live is not None:
            return False
        try:
            settings = self.controls.settings()
            task = load_task(settings.task, seed=settings.seed)
            if self._bench_factory is None:  # as the process will: say so now
                check_bench(self.bench_spec, seed=self.bench_seed, network=task.network,
                            rule=self.controls.rule_asked(),
                            check=lambda path, wiring: check_task_wiring(path, wiring, task,
                                                                         settings))  # fmt: skip
            out = self._next_out or default_run_path(settings)
            if out.exists():
                raise RunFileError(f"{out}: exists; {paths.RUN_FILE_NEVER}")  # as the terminal's
            values = settings.model_dump()
            if self.controls.rule_asked() is None:  # the bench's own: the process takes it
                del values["rule"]
            spec = LiveSpec(settings=values, out=str(out),
                            bench=self.bench_spec, bench_seed=self.bench_seed,
                            bench_factory=self._bench_factory)
            source = LiveSource(spec, task)
        except Exception as exc:  # every bad input: one message, nothing started
            self.show_error(str(exc) or type(exc).__name__)
            return False
        self._next_out = None
        self._attach(source)
        t = self.timeline
        t.slider.setRange(0, 0)
        t.slider.setEnabled(True)  # usable while training; at its end it follows the run
        t.follow_box.setEnabled(False)
        self._rate_mark, self._rate = (time.monotonic(), 0), 0.0
        self.budget.reset()
        self.controls.set_running(True)
        return True

    def pause_run(self) -> None:
        if isinstance(self.source, LiveSource) and self.source.running:
            self.source.pause()
            self.controls.set_paused(True)
            self.statusBar().showMessage("paused")

    def resume_run(self) -> None:
        if isinstance(self.source, LiveSource) and self.source.running:
            self.source.resume()
            self.controls.set_paused(False)
            self.statusBar().showMessage("running")

    def stop_run(self) -> None:
        """Stop the run after the current step and wait (bounded) for the training process
        to put the bench in its safe state and close the run file (the Stop button)."""
        self._stop(None)

    def _stop(self, reason: str | None) -> None:
        """`stop_run` with ``reason``: what the run's message starts with (None: stopped
        on request)."""
        if isinstance(self.source, LiveSource) and self.source.running:
            self.source.stop(STOP_TIMEOUT, reason)
            self._tick()

    def note_signal(self, signum: int) -> None:
        """SIGINT, SIGTERM or SIGHUP arrived (`close_on_signal` follows at the event loop's
        next turn): `stopped_by` says which signal and which run it stops (None: none was
        running), as things stand now. Touches no widget (it runs in a signal handler)."""
        running = isinstance(self.source, LiveSource) and self.source.running
        self.stopped_by = (signum, self.source if running else None)

    def close_on_signal(self, signum: int) -> None:
        """Close as the close button does, on SIGINT, SIGTERM or SIGHUP: a live run stops
        with its message naming the signal (as ``twinlab train``'s); `stopped_by` as
        `note_signal` left it (that run may have ended itself since: the signal went to
        the process group)."""
        if self.stopped_by is None:
            self.note_signal(signum)
        self._close_reason = interrupted_by(signum)
        self.close()

    def _ended(self, notice: Ended) -> None:
        """The live run's process is gone: say how the run ended, show its last step."""
        if notice.failed:
            self.show_error(notice.text)
        else:
            self.statusBar().showMessage(notice.text)
        self.controls.set_running(False)
        source = self.source
        assert isinstance(source, LiveSource)
        if source.rate() > 0:
            self.status_rate.setText(f"{source.rate():.0f} steps/s (mean)")
        h = source.history
        if not h.total:  # no step was taken: no codes to show, maybe no run file
            self._no_steps(source)
        if h.total:
            s = self.timeline.slider
            s.setRange(0, h.total - 1)
            s.setValue(h.total - 1)
            s.setEnabled(True)
            self._force_redraw()
            self.show_step(s.value())

    def _no_steps(self, source: LiveSource) -> None:
        """A live run ended before its first step: the network view says "codes
        unknown" (not code 0 everywhere) and the status bar names no run file unless
        one was written."""
        source.codes, source.codes_note = "unknown", "no step was taken"
        view = self.plots.netview
        view.set_state(np.full(view.network.n_edges, -1, np.int16), None)
        self.plots.set_codes(source.codes, source.codes_note)
        if not source.path.exists():
            self.status_file.set_full_text("no run file", tooltip="")

    # -- replay mode -----------------------------------------------------------------------
    def open_run(self, path: str | Path, follow: bool = False) -> bool:
        """Open a run file for replay (``follow``: tail it while it is written)."""
        if self.live is not None:
            self.show_error("stop the live run before opening a run file")
            return False
        try:
            source = ReplaySource(path, follow=follow)
        except (RunFileError, KeyError, ValueError, OSError) as exc:
            self.show_error(str(exc))
            return False
        self._attach(source)
        self.timeline.extend(source.history.total)
        self.timeline.set_follow(follow, enabled=True)
        self.timeline.slider.setEnabled(True)
        self.timeline.slider.setValue(max(source.history.total - 1, 0))
        self._force_redraw()
        self.show_step(self.timeline.slider.value())
        return True

    def _follow_toggled(self, on: bool) -> None:
        if isinstance(self.source, ReplaySource):
            self.open_run(self.source.path, follow=on)

    # -- the shown step --------------------------------------------------------------------
    def show_step(self, k: int) -> None:
        """Show the state at step ``k``: network codes + update mask, vertical lines."""
        row = self.source.row(k) if self.source is not None else None
        if row is None:
            return
        view = self.plots.netview
        view.set_state(row["positions"], row["update_mask"], row.get("positions_sd"))
        # the source's method, not the window's: nothing the window owns may point back at
        # it (a cycle leaves a dropped window to the cyclic collector, which may run inside
        # one of its paints and delete it mid-paint: a segfault)
        view.set_free_state(self.free_setup, partial(self.source.step_state, int(row["step"])))
        self._net_shown = None
        self.plots.set_cursor(float(row["step"]))
        self.plots.follow_window(float(row["step"]), self.timeline.window_box.value())
        self.timeline.show_readout(int(row["step"]), float(row["error"]))
        self.watch.show_step(self.source.step_state(int(row["step"])))

    def _steps_shown(self, *_: object) -> None:
        """The plots' step range changed: the watch strip follows it."""
        lo, hi = self.plots.step_range()
        self.watch.follow_steps(lo, hi, self.plots.whole_run())

    def _window_changed(self, half: int) -> None:
        """The follow window changed: around the shown step now (0: the whole run)."""
        if self.source is not None and self.history is not None and self.history.total:
            self.show_step(self.timeline.slider.value())
        else:
            self.plots.follow_window(0.0, 0.0)

    # -- timer -----------------------------------------------------------------------------
    def _tick(self) -> None:
        """Keep the frame budget, take what the source has, then redraw if data changed."""
        self.budget.tick()
        source = self.source
        if source is not None:
            for notice in source.poll():
                match notice:
                    case Status(text=text):
                        self.statusBar().showMessage(text)
                    case Relayout(network_changed=changed):
                        if changed:
                            self._set_layout(source.layout)
                        self._show_codes(source)
                        self._watch_run(source)
                        self._net_shown = None  # the next frame hands the view its hover
                    case Grew():
                        self.timeline.extend(source.history.total)
                        self.show_step(self.timeline.slider.value())
                    case Ended():
                        self._ended(notice)
        self.redraw()

    def _force_redraw(self) -> None:
        self.plots.invalidate()
        self.redraw()

    def _drawn(self, source: RunSource) -> History:
        """What the plots draw: the run's history, or, in replay with a follow window
        where that history is decimated, the window's steps at full resolution from the
        file (`RunSource.window_history`, rebuilt when the window moves)."""
        h, half = source.history, self.timeline.window_box.value()
        if source.kind != "replay" or half <= 0 or h.stride == 1:
            self._window = None
            return h
        k = self.timeline.slider.value()
        key = (k - half, k + half, h.total)
        if self._window is None or self._window[0] != key:
            self._window = (key, source.window_history(k - half, k + half))
            self.plots.invalidate()
        return self._window[1] or h

    def redraw(self) -> None:
        """Redraw every panel from the source's history (skipped when nothing changed)."""
        source = self.source
        if source is None:
            return
        drawn = self._drawn(source)
        if not self.plots.redraw(drawn, self.controls.options()):
            return
        h = source.history
        self.watch.redraw(drawn, force=not source.running)
        if h.last is None:
            return
        if source.running:
            at_end = self.timeline.extend(h.total)
            shown = (h.last["positions"].tobytes(), h.last["update_mask"].tobytes())
            if at_end:  # the readout and the follow window keep up with the run
                last = int(h.last["step"])
                self.timeline.show_readout(last, float(h.last["error"]))
                self.plots.set_cursor(float(last))
                self.plots.follow_window(float(last), self.timeline.window_box.value())
            if at_end and shown != self._net_shown:
                self._net_shown = shown
                view = self.plots.netview
                view.set_state(h.last["positions"], h.last["update_mask"],
                               h.last.get("positions_sd"))
                view.set_free_state(self.free_setup,
                                    partial(source.step_state, int(h.last["step"])))
                self.watch.show_step(source.step_state(int(h.last["step"])))
            now = time.monotonic()
            t_mark, n_mark = self._rate_mark
            if now - t_mark >= 0.5:
                self._rate = (h.total - n_mark) / (now - t_mark)
                self._rate_mark = (now, h.total)
            self.status_rate.setText(f"{self._rate:.0f} steps/s")
        elif source.kind == "replay":
            self.status_rate.setText("replay")
        self.status_step.setText(f"{h.total} steps")

    # -- export ----------------------------------------------------------------------------
    def panels(self) -> dict[str, Any]:
        """Every figure the window exports, by name: the plots' panels (`Plots.panels`)
        and the watch strip ("watch": effective p with the bias, the learning signal)."""
        return self.plots.panels() | {"watch": self.watch.strip}

    def export_png(self, directory: str | Path, width: int = 1200) -> list[Path]:
        """Save each panel (`panels`) as ``<directory>/<run>_<panel>.png``; returns the
        paths."""
        stem = self.run_path.stem if self.run_path else "twinlab"
        return export.export_png(self.panels(), directory, stem, width)

    def export_figures(self, directory: str | Path, theme: str = "light") -> list[Path]:
        """Save each panel (`panels`) as ``<directory>/<run>_<panel>.png`` and ``.svg`` in
        ``theme`` (`gui.export.export_figures`; "light": for papers); returns the paths."""
        stem = self.run_path.stem if self.run_path else "twinlab"
        return export.export_figures(self.panels(), directory, stem, theme=theme)

    def export_csv(self, path: str | Path) -> int:
        """Write every step inside the visible step range as CSV (`gui.export.export_csv`);
        returns the row count. ValueError when no run is shown."""
        if self.source is None:
            raise ValueError("nothing to export: no run loaded")
        return export.export_csv(path, self.source, self.plots.step_range(),
                                 self.plots.netview.network.edge_labels(),
                                 self.plots.output_names())

    def _open_dialog(self) -> None:
        folder = str(paths.runs_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Open run", folder, "runs (*.h5)")
        if path:
            self.open_run(path)

    def _png_dialog(self) -> None:
        directory = QFileDialog.getExistingDirectory(self, "Save plots to")
        if directory:
            saved = self.export_png(directory)
            self.statusBar().showMessage(f"saved {len(saved)} PNG files to {directory}")

    def _figures_dialog(self) -> None:
        directory = QFileDialog.getExistingDirectory(self, "Save figures to")
        if directory:
            saved = self.export_figures(directory)
            self.statusBar().showMessage(f"saved {len(saved)} figure files to {directory}")

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
        self._stop(self._close_reason)
        if self.source is not None:
            self.source.close()
        super().closeEvent(event)
