"""The window's plot panels and their redraw within a frame budget.

`Plots` holds the error plot, the digipot-code traces, the output voltages and the
network view, and redraws them from a `History`. Where the codes come from (`set_codes`)
labels the traces: read back, "estimated" (with a shaded band of +- 1 standard deviation
around each shown edge's trace), or "codes unknown" (no traces drawn). The redraw is
min/max decimated to the plots' pixel columns (`peak`), only when the history changed or
the user zoomed. `FrameBudget`
stretches the redraw timer's period when frames get expensive, so that the GUI thread
never takes more than `GUI_BUDGET` of a core.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, QTimer
from PyQt6.QtGui import QFont, QFontMetrics
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QWidget

from gui.freestate import FreeSetup
from gui.look import ErrorAxis, LegendPlot, StepAxis, edge_colours, node_colours
from gui.model import History
from gui.netview import NetworkView
from lab.core.digipot import AD5220, Digipot
from lab.core.network import Network

__all__ = [
    "BAND_ALPHA",
    "CODE_TITLES",
    "DISPLAY_POINTS",
    "ESTIMATED",
    "FRAME_MS",
    "GUI_BUDGET",
    "MAX_FRAME_MS",
    "MIN_DISPLAY_POINTS",
    "UNITS",
    "DisplayOptions",
    "FrameBudget",
    "Plots",
    "peak",
    "smooth",
]

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

pg.setConfigOptions(antialias=False, background="k", foreground="w")

#: What the digipot panels' titles say of estimated codes (the traces' and the heat
#: map's: one wording).
ESTIMATED = "estimated"
#: The code panel's title by where the codes come from (`lab.acquire.records.Codes`).
CODE_TITLES = {
    "exact": "digipot codes vs step",
    "estimated": f"digipot codes vs step ({ESTIMATED}; band: ± 1 sd)",
    "unknown": "digipot codes unknown (no resistance probe)",
}
#: Opacity (of 255) of an estimated trace's +- 1 sd band, in the trace's own colour: at 90
#: the band was hard to see on the black plot; drawn under the trace (z -1), which stays on
#: top, and darker than it on black, so the trace still shows inside a wide band.
BAND_ALPHA = 150
#: Pixel size of the heat map's edge names (smaller than the other axes' ticks, so that
#: every edge can be named in a short panel).
HEAT_TICK_PX = 9


#: The digipot panels' units: key -> the switch's text.
UNITS = {"code": "codes", "kohm": "resistance (kΩ)"}
#: Line style and name of an output's free, clamped and desired voltage.
OUTPUT_STYLES = (("solid", "V_F (free)"), ("dash", "V_C (clamped)"), ("dot", "V_D (desired)"))
#: The output pens' dash patterns (in pen widths) and widths by style.
_DASHES = {"solid": None, "dash": [5.0, 3.0], "dot": [1.0, 2.0]}
_WIDTHS = {"solid": 1.0, "dash": 1.0, "dot": 2.0}


def output_pen(colour: Any, style: str, legend: bool = False) -> Any:
    """The pen of an output voltage drawn in ``style`` (`OUTPUT_STYLES`)."""
    pen = pg.mkPen(colour, width=_WIDTHS[style] + (1 if legend else 0))
    if _DASHES[style] is not None:
        pen.setDashPattern(_DASHES[style])
    return pen
#: Width of the legend column beside each plot and of the left axes, pixels.
SIDE_PX, AXIS_PX = 110, 60
#: "no data yet" colour (grey, contrast >= 3 on black).
EMPTY_COLOUR = "#a0a0a0"


def _axes(left: pg.AxisItem | None = None) -> dict[str, pg.AxisItem]:
    """The axis items of an x-y plot: steps at the bottom (`StepAxis`), ``left``."""
    axes: dict[str, pg.AxisItem] = {"bottom": StepAxis()}
    if left is not None:
        axes["left"] = left
    else:
        axes["left"] = pg.AxisItem("left")
        axes["left"].enableAutoSIPrefix(False)
    return axes


class EmptyText(pg.TextItem):
    """"no data yet", kept at the middle of a plot's data area (in the view box's pixels,
    not in data coordinates: it never moves a range)."""

    def __init__(self, plot: pg.PlotWidget) -> None:
        super().__init__("no data yet", color=EMPTY_COLOUR, anchor=(0.5, 0.5))
        box = plot.getPlotItem().getViewBox()
        self.setParentItem(box)
        self.setZValue(30)
        box.sigResized.connect(self.centre)  # a bound method: no reference cycle
        self.centre()

    def centre(self, *_: object) -> None:
        box = self.parentItem()
        if box is not None:
            self.setPos(box.rect().center())


def peak(x: np.ndarray, ys: list[np.ndarray], points: int
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


def smooth(step: np.ndarray, error: np.ndarray, csum: np.ndarray, window: int) -> np.ndarray:
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


@dataclass(frozen=True)
class DisplayOptions:
    """How the error is shown: log axis, scaled by the first error, trailing mean over
    ``smoothing`` steps (1 = off)."""

    log: bool = True
    scaled: bool = False
    smoothing: int = 1


class FrameBudget:
    """Keeps the GUI thread's CPU time (redraw, painting, events since the last tick)
    near `GUI_BUDGET` of ``timer``'s period: `FRAME_MS` while frames are cheap, stretched
    up to `MAX_FRAME_MS` when they get expensive, leaving the thread idle for events."""

    def __init__(self, timer: QTimer) -> None:
        self.timer = timer
        self._cpu_mark = time.thread_time()

    def reset(self) -> None:
        """Back to `FRAME_MS` (a new run), measuring from now."""
        self._cpu_mark = time.thread_time()
        self.timer.setInterval(FRAME_MS)

    def tick(self) -> None:
        """At each timer tick: set the period from the GUI CPU time used since the last."""
        cpu = time.thread_time()
        used, self._cpu_mark = cpu - self._cpu_mark, cpu
        period = min(max(FRAME_MS, 1e3 * used / GUI_BUDGET), MAX_FRAME_MS)
        if abs(period - self.timer.interval()) > 5:
            self.timer.setInterval(int(period))


class Plots(QSplitter):
    """The plot panels (error; digipots as traces and as an edges x steps heat map, in
    codes or kOhm; outputs; network view; x axes linked) and their redraw from a
    `History` (see the module doc)."""

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Vertical)
        self.drawn_version = -1  # the history version drawn (-1: redraw at the next call)
        self.frame_times: list[float] = []  # s per redraw, the last 100
        self.frame_count = 0  # redraws done (data changed)
        self._in_redraw = False
        #: the run's digipots and nominal parts (`set_parts`): the code range and kOhm
        self.digipot: Digipot = AD5220
        self.r_end_to_end, self.r_wiper = 100e3, 40.0  # Ohm
        #: the digipot panels' unit: "code" or "kohm" (`set_unit`)
        self.unit = "code"
        #: where the codes come from: "exact", "estimated" or "unknown" (`set_codes`)
        self.codes = "exact"
        self.error_plot = LegendPlot("error vs step", _axes(ErrorAxis()), legend_width=SIDE_PX)
        self.trace_plot = LegendPlot(self.code_title(), _axes(), legend_width=SIDE_PX)
        self.output_plot = LegendPlot("outputs vs step", _axes(), legend_width=SIDE_PX)
        self.heat_plot = pg.PlotWidget(title=self.heat_title(), axisItems=_axes())
        for w in (*self._xy(), self.heat_plot):
            item = w.getPlotItem()
            item.setDownsampling(auto=False)  # redraw() decimates (cheaper, once per frame)
            item.setClipToView(False)
            # no grid: pyqtgraph's grids cost 6-18 ms per live frame (regenerated on
            # every range change), more than all the curves together
            item.setLabel("bottom", "step")
            item.getAxis("left").setWidth(AXIS_PX)
        self.error_plot.getPlotItem().setLabel("left", "error (V²)")
        self.output_plot.getPlotItem().setLabel("left", "voltage (V)")
        self.heat_plot.getPlotItem().setLabel("left", "edge")
        self.error_plot.getPlotItem().sigXRangeChanged.connect(self._range_changed)
        self.trace_plot.setXLink(self.error_plot)
        self.trace_plot.getPlotItem().enableAutoRange(y=False)  # the code range: fixed
        self.output_plot.setXLink(self.error_plot)
        self.heat_plot.setXLink(self.error_plot)
        heat = self.heat_plot.getPlotItem()
        heat.enableAutoRange(y=False)
        heat.getViewBox().invertY(True)  # the first edge on top, as in the legend
        heat.setMouseEnabled(y=False)
        tick_font = QFont()
        tick_font.setPixelSize(HEAT_TICK_PX)
        heat.getAxis("left").setStyle(tickFont=tick_font)
        self._heat_labels: list[str] = []  # the edges' names, top to bottom
        heat.getViewBox().sigResized.connect(self._heat_ticks)
        #: the heat map: (columns, E) values at evenly spaced steps of the decimated
        #: history (set once per frame, `_draw_heat`)
        self.heat_image = pg.ImageItem(axisOrder="col-major")
        heat.addItem(self.heat_image)
        self.heat_bar = pg.ColorBarItem(values=(0, self.digipot.top), colorMap="viridis",
                                        interactive=False, width=12)
        self.heat_bar.setImageItem(self.heat_image, insert_in=heat)
        heat.layout.setColumnFixedWidth(5, SIDE_PX)  # as wide as the legends: the linked
        # x axes (aligned on screen by pyqtgraph) then show the same steps
        self.trace_plot.legend_resized.connect(self._legend_resized)
        # dynamicRangeLimit=None: else every range change re-processes the curve's data
        error_pen = pg.mkPen("#ff7f0e", width=1)
        self.error_curve = self.error_plot.plot(pen=error_pen, name="training",
                                                dynamicRangeLimit=None)
        test_style = {"pen": None, "symbol": "o", "symbolSize": 7, "symbolBrush": "#2ca02c"}
        self.test_curve = self.error_plot.plot(**test_style, name="test",
                                               dynamicRangeLimit=None)
        self.error_plot.set_legend([({"pen": error_pen}, "training"), (test_style, "test")])
        self.error_plot.getPlotItem().setLogMode(y=True)
        self.vlines = []
        for w in (*self._xy(), self.heat_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ffffff80"))
            line.setVisible(False)
            w.addItem(line)
            self.vlines.append(line)
        #: "no data yet" on every x-y plot and the heat map while the history is empty
        self.empty_texts = {name: EmptyText(w) for name, w in (
            ("error", self.error_plot), ("codes", self.trace_plot),
            ("heat", self.heat_plot), ("outputs", self.output_plot))}
        # PlotCurveItem, not PlotDataItem: setData costs 15 us instead of 180 us
        self.trace_curves: list[pg.PlotCurveItem] = []
        self.edge_shown: list[bool] = []  # per edge: its trace shown (the edge list)
        #: per edge, its +- 1 sd band (estimated codes only): one translucent vertical
        #: segment from code - sd to code + sd at each plotted step (``connect="pairs"``:
        #: as cheap as a trace; a filled polygon costs seconds on a noisy trace)
        self.bands: list[pg.PlotCurveItem] = []
        self.unknown_text = pg.TextItem("", color="#dddddd", anchor=(0.5, 0.5))
        self.unknown_text.setVisible(False)
        self.trace_plot.addItem(self.unknown_text, ignoreBounds=True)
        self.output_curves: list[tuple[pg.PlotCurveItem, ...]] = []
        self.netview = NetworkView(Network.twin16())
        #: the digipot panels' unit switch (`UNITS`)
        self.unit_box = QComboBox()
        for unit, text in UNITS.items():
            self.unit_box.addItem(text, unit)
        self.unit_box.setToolTip("show the digipots as codes or as their nominal "
                                 "resistance R_W + f(code) R_AB (kΩ)")
        self.unit_box.currentIndexChanged.connect(
            lambda _: self.set_unit(self.unit_box.currentData()))
        self._top = QSplitter(Qt.Orientation.Horizontal)
        self._top.addWidget(self.error_plot)
        self._top.addWidget(self.netview)
        digipots = QSplitter(Qt.Orientation.Vertical)
        head = QWidget()
        row = QHBoxLayout(head)
        row.setContentsMargins(4, 0, 4, 0)
        row.addWidget(QLabel("digipots in"))
        row.addWidget(self.unit_box)
        row.addStretch(1)
        head.setMaximumHeight(head.sizeHint().height())
        digipots.addWidget(head)
        digipots.addWidget(self.trace_plot)
        digipots.addWidget(self.heat_plot)
        digipots.setStretchFactor(1, 3)
        digipots.setStretchFactor(2, 2)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(digipots)
        bottom.addWidget(self.output_plot)
        self.addWidget(self._top)
        self.addWidget(bottom)
        self._code_axis()

    def _legend_resized(self, px: int) -> None:
        """The traces' legend is ``px`` wide (more columns for many edges): the error plot
        above and the heat map below get as wide a legend column, so that their linked x
        axes, which pyqtgraph lines up on screen, show the same steps."""
        self.heat_plot.getPlotItem().layout.setColumnFixedWidth(5, px)
        self.error_plot.grid.layout.setColumnFixedWidth(1, px)

    def _xy(self) -> tuple[pg.PlotWidget, pg.PlotWidget, pg.PlotWidget]:
        return self.error_plot, self.trace_plot, self.output_plot

    def panels(self) -> dict[str, Any]:
        """Every panel by name (figure export): error, codes, heat map, outputs, network."""
        return {"error": self.error_plot, "codes": self.trace_plot, "heatmap": self.heat_plot,
                "outputs": self.output_plot, "network": self.netview}

    # -- layout ----------------------------------------------------------------------------
    def set_network(self, network: Network, inputs: Sequence[int], outputs: Sequence[int],
                    fixed: Sequence[int]) -> None:
        """(Re)build the network view (only for another network), its node roles, one
        code trace per edge and the output curves."""
        old = self.netview.network
        if network.name != old.name or not np.array_equal(network.edges, old.edges) \
                or not np.array_equal(network.layout, old.layout):
            view = NetworkView(network)
            self._top.replaceWidget(1, view)
            self.netview.deleteLater()
            self.netview = view
        self.netview.set_roles(inputs, outputs, fixed)
        item = self.trace_plot.getPlotItem()
        for c in self.trace_curves:
            item.removeItem(c)
        self._remove_bands()
        self.trace_curves = []
        labels = network.edge_labels()
        self.edge_shown = [True] * len(labels)
        colours = edge_colours(len(labels))
        for colour, label in zip(colours, labels, strict=True):
            curve = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), name=label)
            item.addItem(curve)
            self.trace_curves.append(curve)
        self.trace_plot.set_legend([({"pen": pg.mkPen(c, width=2)}, label)
                                    for c, label in zip(colours, labels, strict=True)])
        n = len(labels)
        self._heat_labels = list(labels)
        self._heat_ticks()
        self.heat_plot.setYRange(0, max(n, 1), padding=0)
        self.heat_image.clear()
        self.set_codes(self.codes)
        self.set_outputs(list(outputs))

    def heat_tick_step(self) -> int:
        """Every how many edges the heat map's axis names one: 1 (every edge) when a
        row is as tall as a name's line, else the fewest rows that are."""
        n = len(self._heat_labels)
        row = self.heat_plot.getPlotItem().getViewBox().height() / max(n, 1)
        line = QFontMetrics(self.heat_plot.getPlotItem().getAxis("left").style["tickFont"]
                            ).height()
        return max(1, min(n, math.ceil(line / row))) if row > 0 else max(1, -(-n // 8))

    def _heat_ticks(self, *_: object) -> None:
        """Name the heat map's rows: every edge if its rows are tall enough for the
        names (`heat_tick_step`), else every other one (or fewer)."""
        step = self.heat_tick_step()
        labels = self._heat_labels
        self.heat_plot.getPlotItem().getAxis("left").setTicks(
            [[(i + 0.5, labels[i]) for i in range(0, len(labels), step)], []])

    def heat_title(self) -> str:
        """The heat map's title: its colour's unit, and "estimated" (the traces' wording,
        `ESTIMATED`) for estimated codes."""
        label = "code" if self.unit == "code" else "resistance (kΩ)"
        if self.codes == "estimated":
            return f"every edge vs step ({ESTIMATED}; colour: {label})"
        if self.codes == "unknown":
            return "every edge vs step (codes unknown)"
        return f"every edge vs step (colour: {label})"

    def _remove_bands(self) -> None:
        item = self.trace_plot.getPlotItem()
        for band in self.bands:
            item.removeItem(band)
        self.bands = []

    def set_codes(self, codes: str, note: str = "") -> None:
        """Where the run's codes come from ("exact", "estimated", "unknown"; ``note``: why
        unknown): the code panel's and the network view's titles, the +- 1 sd bands of
        estimated codes, and for unknown codes no traces but the words "codes unknown"."""
        self.codes = codes
        item = self.trace_plot.getPlotItem()
        item.setTitle(self.code_title())
        self.heat_plot.getPlotItem().setTitle(self.heat_title())
        unknown = codes == "unknown"
        for i, c in enumerate(self.trace_curves):
            c.setVisible(not unknown and self.edge_shown[i])
        self.trace_plot.legend.setVisible(not unknown)
        self.heat_image.setVisible(not unknown)
        text = "codes unknown"
        if note:
            text += "\n" + note.replace(": ", ":\n", 1)
        self.unknown_text.setText(text)
        self.unknown_text.setVisible(unknown)
        self._remove_bands()
        if codes == "estimated":
            n = len(self.trace_curves)
            for i in range(n):
                colour = pg.mkColor(self.edge_colour(i, n))
                colour.setAlpha(BAND_ALPHA)
                band = pg.PlotCurveItem(pen=self._band_pen(colour, 1), connect="pairs")
                band.setZValue(-1)  # under the traces
                band.setVisible(self.edge_shown[i])
                item.addItem(band)
                self.bands.append(band)
        self.netview.set_codes(codes, note)
        self.invalidate()

    def _draw_bands(self, snap: Any, view: slice, points: int) -> None:
        """The +- 1 sd band of every shown edge: at each plotted step a segment from
        code - sd to code + sd (min/max decimated like the traces)."""
        shown = [i for i, on in enumerate(self.edge_shown) if on]
        if not shown:
            return
        codes = snap.positions[view][:, shown].astype(np.float32)
        sd = np.nan_to_num(snap.positions_sd[view][:, shown], nan=0.0)
        x, (lo, hi) = peak(snap.step[view], [codes - sd, codes + sd], points)
        lo, hi = self._code_values(np.maximum(lo, 0)), self._code_values(hi)
        xx = np.repeat(x, 2)
        width = self.band_px(x)
        for j, i in enumerate(shown):
            yy = np.empty(2 * len(x), np.float32)
            yy[0::2], yy[1::2] = lo[:, j], hi[:, j]
            band = self.bands[i]
            if band.opts["pen"].widthF() != width:
                band.setPen(self._band_pen(band.opts["pen"].color(), width))
            band.setData(xx, yy, connect="pairs")

    def band_px(self, x: np.ndarray) -> float:
        """The bands' segment width, px: as wide as the gap between two plotted steps
        ``x`` on screen (at least 1), so that the segments of a zoomed-in run close up
        into one band instead of a row of thin ticks."""
        if len(x) < 2:
            return 1.0
        if self.whole_run():
            lo, hi = float(x[0]), float(x[-1])
        else:
            lo, hi = self.step_range()
        box = self.trace_plot.getPlotItem().getViewBox().width()
        gap = float(np.median(np.diff(x)))
        return max(1.0, gap * box / (hi - lo)) if hi > lo and gap > 0 else 1.0

    @staticmethod
    def _band_pen(colour: Any, width: float) -> Any:
        """A band's pen: flat ends (its segment spans code - sd .. code + sd, no more)."""
        pen = pg.mkPen(colour, width=width)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        return pen

    @staticmethod
    def edge_colour(i: int, n: int) -> Any:
        """The colour of edge ``i`` of ``n`` (its trace and its entry in the edge list;
        `gui.look.edge_colours`: readable on the plots' black and the list's white)."""
        return edge_colours(n)[i]

    def set_outputs(self, outputs: list[int]) -> None:
        """One V_F / V_C / V_D curve triple per output node: one colour per node, the
        three by line style (`OUTPUT_STYLES`); V_D on top, wider, so it shows where it
        coincides with V_F. The legend (beside the plot) names the nodes by colour and
        the voltages by style."""
        item = self.output_plot.getPlotItem()
        for curves in self.output_curves:
            for c in curves:
                item.removeItem(c)
        self.output_curves = []
        colours = node_colours(len(outputs))
        for colour, node in zip(colours, outputs, strict=True):
            curves = []
            for k, (style, name) in enumerate(OUTPUT_STYLES):
                curve = pg.PlotCurveItem(pen=output_pen(colour, style),
                                         name=f"{name.split()[0]} {node}")
                curve.setZValue(k)
                item.addItem(curve)
                curves.append(curve)
            self.output_curves.append(tuple(curves))
        grey = "#b0b0b0"
        self.output_plot.set_legend(
            [({"pen": pg.mkPen(c, width=3)}, f"node {node}")
             for c, node in zip(colours, outputs, strict=True)]
            + [({"pen": output_pen(grey, style, legend=True)}, name)
               for style, name in OUTPUT_STYLES])

    # -- units -----------------------------------------------------------------------------
    def set_parts(self, setup: FreeSetup | None) -> None:
        """The run's digipot (positions, spacing) and nominal parts (None: the AD5220 on the
        emulator's defaults): the code range of the panels and the kOhm conversion."""
        if setup is None:
            digipot, r_ab, r_w = AD5220, 100e3, 40.0
        else:
            digipot, r_ab, r_w = setup.digipot, setup.r_end_to_end, setup.r_wiper
        if (digipot, r_ab, r_w) == (self.digipot, self.r_end_to_end, self.r_wiper):
            return
        self.digipot, self.r_end_to_end, self.r_wiper = digipot, r_ab, r_w
        self.netview.set_digipot(digipot)
        self._code_axis()
        self.invalidate()

    def set_unit(self, unit: str) -> None:
        """Show the digipots as ``"code"`` or as nominal resistance ``"kohm"`` (kOhm)."""
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
        self.unit = unit
        i = self.unit_box.findData(unit)
        if i != self.unit_box.currentIndex():
            self.unit_box.setCurrentIndex(i)  # emits: back here once, then equal
            return
        self._code_axis()
        self.invalidate()

    def code_title(self) -> str:
        """The code panel's title: `CODE_TITLES` for where the codes come from, in kOhm
        "digipot resistance vs step ..."."""
        title = CODE_TITLES.get(self.codes, CODE_TITLES["exact"])
        return title if self.unit == "code" else title.replace("codes vs", "resistance vs")

    def _code_values(self, codes: Any) -> Any:
        """Codes (any shape) in the panels' unit: unchanged, or nominal resistance
        R_W + f(code) R_AB in kOhm (`lab.core.digipot.Digipot.resistance`)."""
        if self.unit == "code":
            return codes
        r = self.digipot.resistance(np.asarray(codes), self.r_end_to_end, self.r_wiper)
        return (r / 1e3).astype(np.float32)

    def _code_axis(self) -> None:
        """The digipot panels' y range, axis label, heat-map levels for the unit."""
        lo, hi = (float(self._code_values(c)) for c in (0, self.digipot.top))
        label = "code" if self.unit == "code" else "resistance (kΩ)"
        self.trace_plot.getPlotItem().setLabel("left", label)
        self.trace_plot.getPlotItem().setTitle(self.code_title())
        self.trace_plot.setYRange(lo, hi, padding=0.02)
        self.heat_bar.setLevels((lo, hi))
        self.heat_bar.axis.setLabel(label)
        self.heat_plot.getPlotItem().setTitle(self.heat_title())
        self.unknown_text.setPos(0, (lo + hi) / 2)

    def _draw_heat(self, x: np.ndarray, codes: np.ndarray, points: int) -> None:
        """The heat map from the decimated codes ``codes`` (n, E) at steps ``x`` (n,): one
        column per evenly spaced step (at most ``points // 2``), one row per edge."""
        n = len(x)
        cols = max(1, min(n, points // 2))
        grid = np.linspace(float(x[0]), float(x[-1]), cols)
        idx = np.clip(np.searchsorted(x, grid, side="right") - 1, 0, n - 1)
        image = np.asarray(self._code_values(codes[idx]), dtype=np.float32)
        self.heat_image.setImage(image, autoLevels=False)
        width = float(x[-1] - x[0]) * cols / max(cols - 1, 1) if cols > 1 else 1.0
        self.heat_image.setRect(QRectF(float(x[0]) - width / cols / 2, 0.0, width,
                                       float(codes.shape[1])))

    def output_names(self) -> list[str]:
        """The output nodes' labels, as the curves name them."""
        return [c[0].name().split()[-1] for c in self.output_curves]

    def set_edge_visible(self, i: int, visible: bool) -> None:
        """Show or hide edge ``i``'s trace (and its uncertainty band)."""
        self.edge_shown[i] = visible
        self.trace_curves[i].setVisible(visible and self.codes != "unknown")
        if i < len(self.bands):
            self.bands[i].setVisible(visible)

    def _set_empty(self, empty: bool) -> None:
        """Show "no data yet" on the plots (the digipot panels: not for unknown codes)."""
        for name, text in self.empty_texts.items():
            text.setVisible(empty and (name in ("error", "outputs") or self.codes != "unknown"))

    def set_cursor(self, step: float) -> None:
        """The vertical line of the shown step, on every x-y plot."""
        for line in self.vlines:
            line.setPos(step)
            line.setVisible(True)

    def clear_data(self) -> None:
        """Forget the shown run's data: every curve empty, no cursor, x axis automatic."""
        curves = [self.error_curve, self.test_curve, *self.trace_curves, *self.bands,
                  *(c for group in self.output_curves for c in group)]
        for c in curves:
            c.setData([], [])
        for line in self.vlines:
            line.setVisible(False)
        self.follow_window(0.0, 0.0)
        self.invalidate()

    def follow_window(self, step: float, half: float) -> None:
        """Show steps ``step - half .. step + half`` on the linked x axes; ``half`` 0: the
        whole run (auto range, the decimated overview)."""
        item = self.error_plot.getPlotItem()
        if half > 0:
            item.setXRange(step - half, step + half, padding=0)
        elif not self.whole_run():
            item.enableAutoRange(x=True)
            self.invalidate()  # the curves hold the zoomed rows only: redraw them all

    def whole_run(self) -> bool:
        """Whether the linked x axes show the whole run (auto range), not a zoom."""
        return bool(self.error_plot.getPlotItem().getViewBox().autoRangeEnabled()[0])

    def step_range(self) -> tuple[float, float]:
        """The visible step range (x axis of the linked plots)."""
        lo, hi = self.error_plot.getPlotItem().viewRange()[0]
        return float(lo), float(hi)

    # -- redraw ----------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Redraw at the next `redraw` even if the history has not changed."""
        self.drawn_version = -1

    def _range_changed(self, *_: object) -> None:
        """Zoom/pan by the user: re-decimate the visible range at the next tick."""
        if not self._in_redraw and not self.error_plot.getPlotItem().getViewBox() \
                .autoRangeEnabled()[0]:
            self.drawn_version = -1

    def display_points(self) -> int:
        """Points per plotted curve: two per pixel column of the widest plot, within
        [`MIN_DISPLAY_POINTS`, `DISPLAY_POINTS`]."""
        width = max(w.getPlotItem().getViewBox().width() for w in self._xy())
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

    def redraw(self, h: History, options: DisplayOptions) -> bool:
        """Redraw every curve from ``h`` (skipped when nothing changed); True if drawn."""
        if h.version == self.drawn_version:
            return False
        t0 = time.perf_counter()
        self.drawn_version = h.version
        self._in_redraw = True
        try:
            self._redraw(h, options)
        finally:
            self._in_redraw = False
        self.frame_count += 1
        self.frame_times.append(time.perf_counter() - t0)
        del self.frame_times[:-100]
        return True

    def _redraw(self, h: History, options: DisplayOptions) -> None:
        snap = h.snapshot(("step", "error", "error_csum", "positions", "positions_sd",
                           "v_free", "v_clamped", "v_desired"))
        x = snap.step
        self._set_empty(not len(x))
        if not len(x):
            return
        scale = 1.0
        if options.scaled and h.first_error > 0:
            scale = 1.0 / h.first_error
        log = options.log
        self.error_plot.getPlotItem().setLogMode(y=log)
        y = smooth(x, snap.error, snap.error_csum, options.smoothing) * scale
        ty = np.asarray(h.test_error) * scale
        if log:
            y, ty = np.maximum(y, 1e-15), np.maximum(ty, 1e-15)
        view = self._visible(x)
        points = self.display_points()
        x, (y, codes, vf, vc, vd) = peak(
            x[view], [y[view], snap.positions[view], snap.v_free[view],
                      snap.v_clamped[view], snap.v_desired[view]], points)
        self.error_curve.setData(x, y)
        tx, (ty,) = peak(np.asarray(h.test_step, float), [ty], points // 4)
        if self.test_curve.yData is None or not np.array_equal(self.test_curve.yData, ty):
            self.test_curve.setData(tx, ty)
        if self.codes != "unknown":
            values = self._code_values(codes)
            for i, curve in enumerate(self.trace_curves):
                curve.setData(x, values[:, i])
            self._draw_heat(x, codes, points)
        if self.bands and snap.positions_sd is not None:
            self._draw_bands(snap, view, points)
        for j, (cf, cc, cd) in enumerate(self.output_curves):
            cf.setData(x, vf[:, j])
            cc.setData(x, vc[:, j])
            cd.setData(x, vd[:, j])
        for plot in (*self._xy(), self.heat_plot):
            # auto-range now, not when painting: a range changed while painting makes
            # pyqtgraph paint the plot twice
            plot.getPlotItem().getViewBox().prepareForPaint()
