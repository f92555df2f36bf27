"""Export what the window shows: each panel as a figure (PNG, SVG; the screen's dark look
or the light theme for papers), the visible steps as CSV."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters
from PyQt6.QtCore import QRectF
from PyQt6.QtGui import QPainter
from PyQt6.QtSvg import QSvgGenerator

from gui.sources import RunSource
from lab.runs.schema import ColumnSpec, StepSchema

__all__ = ["CSV_COLUMNS", "FORMATS", "THEMES", "csv_header", "export_csv", "export_figures",
           "export_png", "themed"]

#: Figure themes: name -> (background, foreground: axes, ticks, titles, legend text), or
#: None for the screen's own colours.
THEMES: dict[str, tuple[str, str] | None] = {"screen": None, "light": ("#ffffff", "#000000")}
#: Figure formats.
FORMATS = ("png", "svg")


def _figure(widget: Any) -> Any:
    """The scene item a panel is exported from: a `gui.look.LegendPlot`'s whole grid (the
    plot and its legend), a `pg.GraphicsLayoutWidget`'s whole layout (the watch strip),
    else the plot item (with an inserted colour bar)."""
    grid = getattr(widget, "grid", None)
    if grid is None and isinstance(widget, pg.GraphicsLayoutWidget):
        grid = widget.ci
    return grid if grid is not None else widget.getPlotItem()


@contextmanager
def themed(widget: Any, theme: str) -> Iterator[str | None]:
    """Within the block, ``widget`` (a pyqtgraph PlotWidget) drawn in ``theme`` (`THEMES`):
    axes, tick labels, axis labels, title and legend text in the theme's foreground;
    yields the background for the exporter (None: the widget's). Restored after."""
    colours = THEMES[theme]
    if colours is None:
        yield None
        return
    background, foreground = colours
    with ExitStack() as undo:
        scene_items = widget.scene().items()
        for axis in (i for i in scene_items if isinstance(i, pg.AxisItem)):
            pen, text_pen = pg.mkPen(axis.pen()), pg.mkPen(axis.textPen())
            undo.callback(axis.setTextPen, text_pen)
            undo.callback(axis.setPen, pen)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
        for label in (i for i in scene_items if isinstance(i, pg.LabelItem)):
            old = dict(label.opts)
            undo.callback(label.setText, label.text, **old)
            label.setText(label.text, **{**old, "color": foreground})
        for legend in (i for i in scene_items if isinstance(i, pg.LegendItem)):
            undo.callback(legend.setLabelTextColor, legend.labelTextColor())
            legend.setLabelTextColor(foreground)
        yield background


def export_figures(panels: dict[str, Any], directory: str | Path, stem: str,
                   formats: Sequence[str] = FORMATS, theme: str = "light",
                   width: int = 1200) -> list[Path]:
    """Save each panel (a pyqtgraph PlotWidget or GraphicsLayoutWidget, by name) as
    ``<directory>/<stem>_<name>.<format>`` for each of ``formats`` (`FORMATS`), drawn in
    ``theme`` (`THEMES`; "light": black on white, for papers); PNG ``width`` pixels wide.
    Returns the paths. ValueError for an unknown theme or format (nothing written)."""
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"formats must be among {', '.join(FORMATS)}, got {bad[0]!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, widget in panels.items():
        with themed(widget, theme) as background:
            for fmt in formats:
                item = _figure(widget)
                if fmt == "png":
                    exporter = pyqtgraph.exporters.ImageExporter(item)
                    exporter.parameters()["width"] = width
                    if background is not None:
                        exporter.parameters()["background"] = pg.mkColor(background)
                path = directory / f"{stem}_{name}.{fmt}"
                if fmt == "png":
                    exporter.export(str(path))
                else:
                    _export_svg(item, path, background or widget.backgroundBrush().color())
                paths.append(path)
    return paths


def _export_svg(item: Any, path: Path, background: Any) -> None:
    """``item``'s part of its scene as an SVG file (vector; images embedded) on
    ``background``. Qt's own SVG writer: pyqtgraph's SVGExporter cannot parse the paths
    Qt 6 writes."""
    rect = item.sceneBoundingRect()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(rect.size().toSize())
    generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
    generator.setTitle(path.stem)
    painter = QPainter(generator)
    try:
        target = QRectF(0, 0, rect.width(), rect.height())
        painter.fillRect(target, pg.mkColor(background))
        item.scene().render(painter, target, rect)
    finally:
        painter.end()


def export_png(panels: dict[str, Any], directory: str | Path, stem: str,
               width: int = 1200) -> list[Path]:
    """Save each panel as ``<directory>/<stem>_<name>.png`` as the screen shows it
    (`export_figures` in the "screen" theme), ``width`` pixels wide; returns the paths."""
    return export_figures(panels, directory, stem, ("png",), "screen", width)


#: The step columns a CSV export holds, in order (`lab.runs.schema`): scalars, then the
#: per-edge codes (and, for estimated codes, their standard deviations), then the
#: per-output voltages interleaved output by output.
CSV_COLUMNS = ("step", "error", "positions", "positions_sd", "v_free", "v_clamped",
               "v_desired")
#: CSV name of a per-edge column's values (code_<edge>, code_sd_<edge>)
_LABEL = {"positions": "code", "positions_sd": "code_sd"}


def _csv_specs(n_edges: int, n_outputs: int,
               uncertainty: bool = False) -> tuple[ColumnSpec, ...]:
    return StepSchema(0, n_outputs, n_edges, has_updates=False,
                      has_uncertainty=uncertainty).specs(CSV_COLUMNS)


def _csv_layout(edge_labels: list[str], outputs: list[str],
                uncertainty: bool = False) -> tuple[list[str], list[str]]:
    """(header, np.savetxt formats) of the CSV: one entry per CSV column."""
    specs = _csv_specs(len(edge_labels), len(outputs), uncertainty)
    header: list[str] = []
    fmt: list[str] = []

    def add(names: list[str], c: ColumnSpec) -> None:
        header.extend(names)
        fmt.extend(["%d" if c.dtype.kind in "biu" else "%.9g"] * len(names))

    for c in specs:
        if c.axis is None:
            add([c.name], c)
        elif c.axis == "n_edges":
            add([f"{_LABEL.get(c.name, c.name)}_{e}" for e in edge_labels], c)
    per_output = [c for c in specs if c.axis == "n_outputs"]
    for o in outputs:
        for c in per_output:
            add([f"{c.name}_{o}"], c)
    return header, fmt


def csv_header(edge_labels: list[str], outputs: list[str],
               uncertainty: bool = False) -> list[str]:
    """``step``, ``error`` (V^2), ``code_<edge>`` per edge, with ``uncertainty`` (estimated
    codes) ``code_sd_<edge>`` per edge (code steps), then per output ``v_free_<o>``,
    ``v_clamped_<o>``, ``v_desired_<o>`` (V): `CSV_COLUMNS` laid out."""
    return _csv_layout(edge_labels, outputs, uncertainty)[0]


def _csv_table(c: dict[str, np.ndarray], specs: tuple[ColumnSpec, ...]) -> np.ndarray:
    """The CSV rows of one block of columns, in `_csv_layout`'s order."""
    n = len(c["step"])
    parts = [np.reshape(c[s.name], (n, -1)) for s in specs if s.axis != "n_outputs"]
    volts = [c[s.name] for s in specs if s.axis == "n_outputs"]
    if volts:
        parts.append(np.stack(volts, axis=2).reshape(n, -1))
    return np.column_stack(parts)


def export_csv(path: str | Path, source: RunSource, step_range: tuple[float, float],
               edge_labels: list[str], outputs: list[str]) -> int:
    """Write every step of ``source`` inside ``step_range`` (lo, hi, inclusive) as CSV
    (`csv_header`): a replay at the file's full resolution, read block by block; a live
    run from its history (full resolution for recent steps, decimated before). ``outputs``
    names the output nodes (empty: numbered 0..); estimated codes bring their standard
    deviations. Returns the row count."""
    lo, hi = step_range
    n_out = source.history.n_outputs
    outputs = outputs or [str(j) for j in range(n_out)]
    sd = source.history.has_uncertainty
    header, fmt = _csv_layout(edge_labels, outputs, sd)
    specs = _csv_specs(len(edge_labels), n_out, sd)
    rows = 0
    with open(path, "w", newline="") as f:
        f.write(",".join(header) + "\n")
        for c in source.blocks(lo, hi):
            np.savetxt(f, _csv_table(c, specs), fmt=fmt, delimiter=",")
            rows += len(c["step"])
    return rows
