"""Export what the window shows: each panel as a PNG, the visible steps as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph.exporters

from gui.sources import RunSource
from lab.runs.schema import ColumnSpec, StepSchema

__all__ = ["CSV_COLUMNS", "csv_header", "export_csv", "export_png"]


def export_png(panels: dict[str, Any], directory: str | Path, stem: str,
               width: int = 1200) -> list[Path]:
    """Save each panel (a pyqtgraph PlotWidget, by name) as ``<directory>/<stem>_<name>.png``,
    ``width`` pixels wide; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, widget in panels.items():
        exporter = pyqtgraph.exporters.ImageExporter(widget.getPlotItem())
        exporter.parameters()["width"] = width
        path = directory / f"{stem}_{name}.png"
        exporter.export(str(path))
        paths.append(path)
    return paths


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
