"""How the window looks: readable colours, one tick style, legends beside the data.

* `luminance` / `contrast`: WCAG 2 relative luminance and contrast ratio of colours;
  every label colour the window draws keeps `MIN_CONTRAST` against its background.
* `edge_colours`: one colour per edge, readable on the plots' dark background *and* on
  the edge list's light one (relative luminance in [`LUM_LOW`, `LUM_HIGH`]).
* `StepAxis` / `ErrorAxis`: tick strings in one style (steps as 0, 50k, 1.5M; powers of
  ten as 10⁻⁴ and 2×10⁻⁵, never mixed with 0.0001), no SI-prefix scale factor
  ("step (x0.001)").
* `LegendPlot`: a `pg.PlotWidget` whose legend sits in its own column right of the
  plot, outside the data (exported with it).
* `ElidedLabel`: a label that shows a long text (a file's path) whole when it fits and
  elided in the middle when not, the whole text in its tooltip.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QResizeEvent
from PyQt6.QtWidgets import QLabel, QSizePolicy

__all__ = [
    "BACKGROUND",
    "FOREGROUND",
    "LUM_HIGH",
    "LUM_LOW",
    "MIN_CONTRAST",
    "ElidedLabel",
    "ErrorAxis",
    "LegendPlot",
    "StepAxis",
    "contrast",
    "edge_colours",
    "luminance",
    "node_colours",
]

#: The plots' background and text colours (dark theme of the window).
BACKGROUND = "#000000"
FOREGROUND = "#ffffff"
#: Lowest WCAG contrast ratio of any label colour against its background (large text
#: and graphics, WCAG 2.1 1.4.11).
MIN_CONTRAST = 3.0
#: Relative luminance range of trace colours: >= 3:1 against black (L >= 0.10) and
#: against white (L <= 0.30) alike.
LUM_LOW, LUM_HIGH = 0.11, 0.28


def luminance(colour: Any) -> float:
    """WCAG 2 relative luminance in [0, 1] of a colour (anything `pg.mkColor` takes)."""
    c = pg.mkColor(colour)
    rgb = np.array([c.redF(), c.greenF(), c.blueF()])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def contrast(a: Any, b: Any) -> float:
    """WCAG 2 contrast ratio (1..21) of two colours."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _at_luminance(hue: float, target: float) -> QColor:
    """The colour of ``hue`` (0..1), full saturation, whose luminance is ``target``."""
    lo, hi = 0.0, 1.0
    for _ in range(30):  # luminance grows with HSL lightness: bisect
        mid = (lo + hi) / 2
        if luminance(QColor.fromHslF(hue, 1.0, mid)) < target:
            lo = mid
        else:
            hi = mid
    return QColor.fromHslF(hue, 1.0, (lo + hi) / 2)


def edge_colours(n: int) -> list[QColor]:
    """``n`` distinct colours (evenly spaced hues, luminance alternating between two
    levels in [`LUM_LOW`, `LUM_HIGH`] so neighbours differ in lightness too), each with
    contrast >= `MIN_CONTRAST` on black and on white."""
    return [QColor(c) for c in _edge_colours(n)]


@functools.lru_cache(maxsize=16)
def _edge_colours(n: int) -> tuple[str, ...]:
    levels = (0.14, 0.25)
    return tuple(_at_luminance((i / max(n, 1)) % 1.0, levels[i % 2]).name()
                 for i in range(n))


def node_colours(n: int) -> list[QColor]:
    """Colours of ``n`` output nodes: few, far-apart hues (orange, sky blue, pink, ...) at
    luminance 0.25, readable on black and white."""
    hues = (0.08, 0.55, 0.9, 0.33, 0.75, 0.15)
    return [_at_luminance(hues[j % len(hues)] + 0.03 * (j // len(hues)), 0.25)
            for j in range(n)]


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(value: float) -> str:
    """``value`` > 0 as 10ⁿ or m×10ⁿ (one significant digit of mantissa)."""
    if not value > 0 or not math.isfinite(value):
        return ""
    e = math.floor(math.log10(value) + 1e-9)
    m = round(value / 10.0 ** e)
    if m >= 10:
        m, e = 1, e + 1
    exp = f"10{str(e).translate(_SUPERSCRIPT)}"
    return exp if m == 1 else f"{m}×{exp}"


class ErrorAxis(pg.AxisItem):
    """A log axis whose every tick reads 10ⁿ or m×10ⁿ (one style); linear ticks as usual."""

    def __init__(self, orientation: str = "left", **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def logTickStrings(self, values: list[float], scale: float,
                       spacing: float) -> list[str]:
        return [power_of_ten(10.0 ** float(v) * scale) for v in values]


class StepAxis(pg.AxisItem):
    """A step axis: integer ticks in one style for the whole axis (123, 50k, 1.5M), no
    scale factor in the label."""

    def __init__(self, orientation: str = "bottom", **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: list[float], scale: float,
                    spacing: float) -> list[str]:
        if not values or spacing < 1:
            return super().tickStrings(values, scale, spacing)
        top = max(abs(v) for v in values)
        div, suffix = (1e6, "M") if top >= 1e6 else (1e3, "k") if top >= 1e4 else (1, "")
        return [f"{v / div:g}{suffix}" if v else "0" for v in values]


#: legend entries in one column at most; more go in two or more (`LegendPlot.fit_legend`)
LEGEND_ROWS = 8
#: the legend's entry sizes, largest first: (label font, sample square px, the label's
#: text margin px, the rows' spacing px); and the share of its plot's width the legend may
#: take before a smaller size is tried (`LegendPlot.fit_legend`)
LEGEND_SIZES = (("9pt", 20, 4, -4), ("8pt", 16, 2, -2), ("7pt", 12, 1, 0))
LEGEND_SHARE = 0.5


class LegendSample(pg.ItemSample):
    """A legend sample drawn in a ``px`` x ``px`` square (pyqtgraph's: 20 px, fixed)."""

    def __init__(self, item: Any) -> None:
        super().__init__(item)
        self.px = 20

    def set_px(self, px: int) -> None:
        if px != self.px:
            self.prepareGeometryChange()
            self.px = px
            self.setFixedWidth(px)
            self.setFixedHeight(px)
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.px, self.px)

    def paint(self, p: Any, *args: Any) -> None:
        p.scale(self.px / 20, self.px / 20)  # pyqtgraph paints in 20 x 20
        super().paint(p, *args)


class LegendPlot(pg.PlotWidget):
    """A plot with its legend (``legend``, a `pg.LegendItem`) in a column of its own right
    of the plot item, in the same scene (exported together: ``centralWidget``).

    ``axisItems``/``title`` go to the `pg.PlotItem`; `set_legend` fills the legend with
    (pen or symbol options, name) samples. The legend never runs past the plot's bottom:
    `fit_legend` (at every resize) gives it as many columns as its entries need at the
    plot's height, and its column is as wide as they are (at least ``legend_width`` px);
    `legend_resized` tells that width (px)."""

    legend_resized = pyqtSignal(int)

    def __init__(self, title: str = "", axisItems: dict[str, pg.AxisItem] | None = None,
                 legend_width: int = 110) -> None:
        super().__init__(title=title, axisItems=axisItems)
        grid = pg.GraphicsLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        self.setCentralItem(grid)
        grid.addItem(self.plotItem, 0, 0)
        self.legend = pg.LegendItem(labelTextColor=FOREGROUND, verSpacing=-4,
                                    sampleType=LegendSample)
        # fixed height (its rows' own): else the layout spreads the entries over the plot's
        # height
        self.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        grid.addItem(self.legend, 0, 1)
        grid.layout.setColumnStretchFactor(0, 1)
        grid.layout.setColumnFixedWidth(1, legend_width)
        grid.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop)
        self.grid = grid
        self.legend_width = legend_width  # px, the legend column's least width
        self.legend_px = legend_width  # px, its width now (`fit_legend`)
        self._samples: list[pg.PlotDataItem] = []  # the legend's sample items (not drawn)

    def set_legend(self, entries: Sequence[tuple[dict[str, Any], str]]) -> None:
        """Replace the legend's entries: ``(PlotDataItem options, name)`` each, e.g.
        ``({"pen": pen}, "V_F")`` or ``({"pen": None, "symbol": "o", ...}, "test")``.
        More than `LEGEND_ROWS` entries go in two columns (16 edges in a 230 px panel), or
        more where the plot is too short for them (`fit_legend`)."""
        self.legend.clear()
        self._samples = [pg.PlotDataItem(**opts) for opts, _ in entries]
        for sample, (_, name) in zip(self._samples, entries, strict=True):
            self.legend.addItem(sample, name)
        self.fit_legend()

    def fit_legend(self) -> None:
        """Columns enough for every entry to lie inside the plot's height (at least one,
        two above `LEGEND_ROWS` entries), row-major as pyqtgraph fills them; the legend's
        column as wide as its entries. Where that would take more than `LEGEND_SHARE` of
        the widget's width, or the room the plot leaves at its minimum width, the entries get
        smaller (`LEGEND_SIZES`, down to the last)."""
        items = self.legend.items
        if not items:
            return
        room = self.width() - self.plotItem.effectiveSizeHint(
            Qt.SizeHint.MinimumSize).width() - 8  # px beside the plot at its narrowest
        for size, px, margin, spacing in LEGEND_SIZES:
            if self.legend.labelTextSize() != size:
                self.legend.opts["labelTextSize"] = size
                self.legend.layout.setVerticalSpacing(spacing)
                for sample, label in items:
                    sample.set_px(px)
                    label.item.document().setDocumentMargin(margin)
                    label.setText(label.text, size=size)
            # the text's own height: a label's may be stretched while the layout settles
            text = max(label.item.boundingRect().height() for _, label in items)
            pitch = max(max(text, px) + spacing, 1.0)  # px per row
            rows = max(1, int((self.height() - abs(spacing)) // pitch))
            columns = max(1 if len(items) <= LEGEND_ROWS else 2, -(-len(items) // rows))
            self.legend.setColumnCount(min(columns, len(items)))
            self.legend.updateSize()
            width = max(self.legend_width, int(np.ceil(self.legend.width())) + 2)
            if width <= min(LEGEND_SHARE * self.width(), room):
                break
        self.legend.updateGeometry()  # its new size hint: the grid lays out again, at the
        self.grid.setGeometry(self.range)  # view's size (clamped to the old legend's before)
        if width != self.legend_px:
            self.legend_px = width
            self.grid.layout.setColumnFixedWidth(1, width)
            self.legend_resized.emit(width)

    def resizeEvent(self, ev: QResizeEvent | None) -> None:
        if "grid" in self.__dict__:  # not while pyqtgraph builds the widget
            self.fit_legend()  # first: the grid is fitted to the view within its minimum
        super().resizeEvent(ev)

    def legend_names(self) -> list[str]:
        """The legend's entry names, in order."""
        return [label.text for _, label in self.legend.items]


class ElidedLabel(QLabel):
    """A one-line label for a long text such as a file's path (`set_full_text`): whole when
    it fits, else elided in the middle ("/work/data/…/run.h5": both ends stay, the file's
    name with them); the whole text in the tooltip. It asks for room for the whole text,
    up to ``max_px``, and shrinks to ``min_px``."""

    def __init__(self, text: str = "", min_px: int = 200, max_px: int = 560) -> None:
        super().__init__()
        self.min_px, self.max_px = min_px, max_px
        self._full = ""
        self.setMinimumWidth(min_px)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def full_text(self) -> str:
        """The whole text (`text` is what is shown: elided when it does not fit)."""
        return self._full

    def set_full_text(self, text: str, tooltip: str | None = None) -> None:
        """Show ``text`` (elided in the middle if too wide); ``tooltip`` (None: ``text``,
        "" none)."""
        self._full = text
        self.setToolTip(text if tooltip is None else tooltip)
        self._elide()
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        width = self.fontMetrics().horizontalAdvance(self._full) + 8
        return QSize(max(self.min_px, min(width, self.max_px)), hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.min_px, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = max(self.contentsRect().width(), 1)
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle,
                                                   room))
