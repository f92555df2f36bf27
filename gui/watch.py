"""What users watch during a run (issue 16, item 9): a small panel of three readings.

* **effective p**: the fraction of edges that updated at each step (the run's recorded
  ``update_mask``; estimated on a bench whose codes are estimated), as a mean over bins
  of steps against the set p. An estimated mask says which codes moved, so there an edge
  held at a rail in its direction (enabled or not, it stays) is left out
  (`told_updates`). Unavailable when the run records no updates (a bench
  without a resistance probe and without the estimator).
* **bias**: the bias voltage V_B the run set for its p (``bias_volts`` of the run's
  settings, `lab.acquire.trainer.Trainer._info`; constant over a run).
* **learning signal** of the shown step, per edge: |dV_C| - |dV_F| (V), the clamped
  drop's size minus the free drop's, each edge's drive in the discrete rule
  (`lab.core.learning.discrete_direction`: +1 when |dV_C| + sigma > |dV_F|). A run file
  records only the output voltages, so both states are solved here (`learning_signal`)
  from the codes the step's free state was measured with, nominal parts, as the hover's
  free state is (`gui.freestate`). Unavailable when the codes are unknown; from the
  estimated codes when they are estimated.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.freestate import FreeSetup, StepState, solve_free_state
from gui.model import History

__all__ = ["P_BINS", "P_RANGE", "P_TITLE", "REDRAW_S", "SIGNAL_TITLE", "WatchPanel", "effective_p",
           "learning_signal", "told_updates"]

#: The panel's height at most, px (a strip below the plots).
HEIGHT = 190
#: Seconds between two redraws of the effective-p curve at most (while a run grows).
REDRAW_S = 0.25
#: Bins of the effective-p curve (each the mean over its steps and edges).
P_BINS = 400
#: The effective-p plot's y range (fraction updated), with room below 0 and above 1.
P_RANGE = (-0.04, 1.1)


def effective_p(step: np.ndarray, mask: np.ndarray, bins: int = P_BINS,
                counted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of edges updated, ``mask`` (n, E) bool, over the (step, edge) pairs
    ``counted`` (n, E) bool, every update among them (every pair when None), pooled over
    at most ``bins`` bins of
    consecutive rows: (first step of each bin (m,), fraction (m,) in [0, 1], NaN for a
    bin with no pair counted)."""
    n = len(step)
    if not n:
        return np.empty(0), np.empty(0)
    mask = np.asarray(mask, dtype=bool)
    hits = np.zeros(n, np.float64)  # edge by edge: each column is contiguous (History)
    pairs = np.zeros(n, np.float64)
    for j in range(mask.shape[1]):  # an update is always counted (`told_updates`)
        hits += mask[:, j]
        pairs += 1.0 if counted is None else counted[:, j]
    k = -(-n // bins)
    m = -(-n // k)
    pad = m * k - n
    hits = np.concatenate([hits, np.zeros(pad)]).reshape(m, k).sum(axis=1)
    pairs = np.concatenate([pairs, np.zeros(pad)]).reshape(m, k).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return step[::k].astype(np.float64), np.where(pairs > 0, hits / pairs, np.nan)


def told_updates(mask: np.ndarray, positions: np.ndarray, direction: np.ndarray,
                 top: int) -> np.ndarray:
    """(n, E) bool: the (step, edge) pairs whose estimated ``mask`` (n, E) (moved or not)
    tells whether the edge was enabled: it moved, or it was not held at a rail in its
    ``direction`` (n, E) (code ``top`` and +1, or 0 and -1, after the pulse:
    ``positions`` (n, E)). A held edge stays whether enabled or not, and the estimator,
    which sees codes, reports it not moved; counting it took the effective p of a
    probe-less bench with most codes at a rail to 0.05 at p = 0.5."""
    held = ((positions >= top) & (direction > 0)) | ((positions <= 0) & (direction < 0))
    return np.asarray(mask, dtype=bool) | ~held


def learning_signal(setup: FreeSetup, codes: np.ndarray, inputs: np.ndarray,
                    v_clamped: np.ndarray) -> np.ndarray:
    """|dV_C| - |dV_F| (E,) V of every edge: the free state with ``inputs`` (n_in,) V
    applied, the clamped one with the outputs also held at ``v_clamped`` (n_out,) V, both
    for digipot ``codes`` (E,) with nominal parts (`gui.freestate.solve_free_state`)."""
    net = setup.network
    v_free = solve_free_state(setup, codes, inputs)
    resistance = setup.resistance(codes)
    held = dict(zip(setup.input_nodes, np.asarray(inputs, float).tolist(), strict=True))
    held.update(zip(setup.fixed_nodes, setup.fixed_volts.tolist(), strict=True))
    held.update(zip(setup.output_nodes, np.asarray(v_clamped, float).tolist(), strict=True))
    v_clamp = net.solve(1.0 / resistance, held)
    return np.abs(net.drops(v_clamp)) - np.abs(net.drops(v_free))


#: The effective-p plot's title; the set p and bias V_B follow it once known (so the
#: exported figure carries them).
P_TITLE = "effective p: fraction of edges updated"
#: The learning-signal plot's title; the shown step follows it.
SIGNAL_TITLE = "learning signal |dV_C| - |dV_F| per edge"


class WatchPanel(QWidget):
    """The three readings of the module doc. `set_run` when a run is shown (or its
    metadata arrives), `redraw` with its history, `show_step` with the shown step.

    ``strip`` (one pyqtgraph scene) holds the effective-p plot, titled with the bias, and
    the learning-signal plot: the figure `gui.export` saves as the "watch" panel. The
    notes beside it are the screen's only."""

    def __init__(self) -> None:
        super().__init__()
        self.setMaximumHeight(HEIGHT)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.strip = pg.GraphicsLayoutWidget()
        self.strip.ci.setContentsMargins(0, 0, 0, 0)
        self.p_plot = self.strip.addPlot(row=0, col=0, title=P_TITLE)
        self.p_plot.setLabel("bottom", "step")
        self.p_plot.setLabel("left", "fraction updated")
        # room above 1: at p = 1 every edge updates every step, and the curve at 1 would
        # lie on the plot's top edge
        self.p_plot.setYRange(*P_RANGE, padding=0)
        self.p_plot.enableAutoRange(y=False)
        self.p_curve = self.p_plot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.p_set = pg.InfiniteLine(angle=0, movable=False,
                                     pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine))
        self.p_plot.addItem(self.p_set)
        # the curve over the dashed set p: where they coincide (p = 1, or an effective p
        # on target) the set line drawn over it hid the whole curve
        self.p_set.setZValue(0)
        self.p_curve.setZValue(1)
        self.p_note = QLabel("")
        self.bias_label = QLabel("bias: -")
        self.signal_plot = self.strip.addPlot(row=0, col=1, title=SIGNAL_TITLE)
        for col in (0, 1):  # side by side, equal widths
            self.strip.ci.layout.setColumnStretchFactor(col, 1)
        self.signal_plot.setLabel("bottom", "edge")
        self.signal_plot.setLabel("left", "|dV_C| - |dV_F|", units="V")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#2ca02c")
        self.signal_plot.addItem(self.bars)
        self.signal_note = QLabel("")
        for label in (self.p_note, self.signal_note):
            label.setWordWrap(True)
        notes = QVBoxLayout()
        for label in (self.bias_label, self.p_note, self.signal_note):
            label.setMaximumWidth(260)
            notes.addWidget(label)
        notes.addStretch(1)
        lay.addWidget(self.strip, 1)
        lay.addLayout(notes)
        self.has_updates, self.codes, self.setup = True, "exact", None
        self.signal: np.ndarray | None = None  # the shown step's, (E,) V
        self.signal_step: int | None = None
        self._drawn: object = None  # (history, version, steps) of the curve drawn
        self._drawn_at = 0.0
        #: the step range the plots show (`follow_steps`); None: the whole run
        self.steps: tuple[float, float] | None = None
        self.set_run({}, True, "exact", "", None)

    def set_run(self, settings: dict, has_updates: bool, codes: str, codes_note: str,
                setup: FreeSetup | None) -> None:
        """A run is shown: its ``settings`` (p, ``bias_volts``), whether it records
        updates, where its codes come from (and why unknown), its free-state setup."""
        self.has_updates, self.codes, self.setup = has_updates, codes, setup
        self._drawn, self._drawn_at = None, 0.0
        self.p_curve.setData([], [])
        p = settings.get("p")
        self.p_set.setVisible(p is not None)
        if p is not None:
            self.p_set.setPos(float(p))
        if not has_updates:
            why = codes_note or "no resistance probe"
            self.p_note.setText(f"effective p unavailable: this run records no updates ({why})")
        else:
            est = (" (estimated from node voltages; edges held at a rail, which the "
                   "estimate cannot tell, left out)" if codes == "estimated" else "")
            self.p_note.setText(f"set p {p} (dashed){est}" if p is not None else est)
        bias = settings.get("bias_volts")
        self.bias_label.setText(f"bias V_B = {float(bias):.4g} V (set for p = {p})"
                                if bias is not None else "bias: not recorded yet")
        self.p_plot.setTitle(P_TITLE if bias is None
                             else f"effective p; set p = {p} at bias V_B = {float(bias):.4g} V")
        self.bars.setOpts(x=[], height=[])
        self.signal_plot.setTitle(SIGNAL_TITLE)
        if setup is not None:  # every other edge's label under its bar (room)
            labels = setup.network.edge_labels()
            self.signal_plot.getAxis("bottom").setTicks(
                [[(i, labels[i]) for i in range(0, len(labels), 2)]])
        self.signal, self.signal_step = None, None
        if codes == "unknown":
            self.signal_note.setText("learning signal unavailable: the codes are unknown ("
                                     f"{codes_note or 'no resistance probe'})")
        else:
            self.signal_note.setText("no step shown yet")

    def follow_steps(self, lo: float, hi: float, whole: bool) -> None:
        """Show steps ``lo .. hi`` on the effective-p plot's x axis, the range the other
        plots show (zoom, pan, the replay's follow window); ``whole``: they show the whole
        run (then the plot's own auto range: the whole run too). A zoomed range is re-binned
        at its next `redraw` (`P_BINS` bins over the visible steps, not over the run)."""
        if whole:
            self.p_plot.enableAutoRange(x=True)
        else:
            self.p_plot.setXRange(lo, hi, padding=0)
        steps = None if whole else (float(lo), float(hi))
        if steps != self.steps:
            self.steps = steps
            self._drawn = None

    def redraw(self, h: History, force: bool = False) -> None:
        """The effective-p curve from ``h`` over the shown steps (`follow_steps`): skipped
        when neither changed, and (unless ``force``) at most every `REDRAW_S` seconds: a
        curve of bin means needs no 30 Hz, and the window's core is shared with the
        training process."""
        key = (id(h), h.version, self.steps)
        if not self.has_updates or key == self._drawn:
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < REDRAW_S:
            return
        self._drawn, self._drawn_at = key, now
        estimated = self.codes == "estimated" and self.setup is not None
        snap = h.snapshot(("step", "update_mask", "positions", "direction") if estimated
                          else ("step", "update_mask"))  # fmt: skip
        step, mask = snap.step, snap.update_mask
        positions, direction = snap.positions, snap.direction
        if self.steps is not None and len(step):  # the visible rows, one either side
            a = max(int(np.searchsorted(step, self.steps[0])) - 1, 0)
            b = int(np.searchsorted(step, self.steps[1], side="right")) + 1
            step, mask = step[a:b], mask[a:b]
            positions, direction = positions[a:b], direction[a:b]
        counted = None
        if estimated and len(direction) == len(step):  # what the estimate can tell
            counted = told_updates(mask, positions, direction, self.setup.digipot.top)
        self.p_curve.setData(*effective_p(step, mask, counted=counted))
        self.p_plot.getViewBox().prepareForPaint()  # auto-range now, as `gui.plots` does

    def show_step(self, state: StepState | None) -> None:
        """The learning signal of ``state``'s step (its codes, inputs and V_C)."""
        if self.codes == "unknown" or self.setup is None or state is None \
                or state.v_clamped is None or np.any(np.asarray(state.codes) < 0):
            return
        signal = learning_signal(self.setup, state.codes, state.inputs, state.v_clamped)
        self.signal, self.signal_step = signal, state.step
        self.bars.setOpts(x=np.arange(len(signal)), height=signal)
        self.signal_plot.setTitle(f"learning signal |dV_C| - |dV_F| at step {state.step}")
        which = "codes before the step's pulse" if state.before else \
            "codes after the step's pulse (those before it are not stored)"
        est = "estimated " if self.codes == "estimated" else ""
        self.signal_note.setText(f"step {state.step}: solved from the {est}{which}, "
                                 "nominal parts; > 0: the code steps up (+1) at an enabled pulse "
                                 "(up to the edge's comparator offset)")
