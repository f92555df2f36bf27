"""Export what the window shows: each panel as a PNG, the visible steps as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph.exporters

from gui.sources import RunSource

__all__ = ["csv_header", "export_csv", "export_png"]


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


def csv_header(edge_labels: list[str], outputs: list[str]) -> list[str]:
    """``step``, ``error`` (V^2), ``code_<edge>`` per edge, then per output
    ``v_free_<o>``, ``v_clamped_<o>``, ``v_desired_<o>`` (V)."""
    return (["step", "error"] + [f"code_{e}" for e in edge_labels]
            + [f"{v}_{o}" for o in outputs for v in ("v_free", "v_clamped", "v_desired")])


def export_csv(path: str | Path, source: RunSource, step_range: tuple[float, float],
               edge_labels: list[str], outputs: list[str]) -> int:
    """Write every step of ``source`` inside ``step_range`` (lo, hi, inclusive) as CSV
    (`csv_header`): a replay at the file's full resolution, read block by block; a live
    run from its history (full resolution for recent steps, decimated before). ``outputs``
    names the output nodes (empty: numbered 0..). Returns the row count."""
    lo, hi = step_range
    n_out = source.history.n_outputs
    outputs = outputs or [str(j) for j in range(n_out)]
    fmt = ["%d", "%.9g"] + ["%d"] * len(edge_labels) + ["%.9g"] * (3 * n_out)
    rows = 0
    with open(path, "w", newline="") as f:
        f.write(",".join(csv_header(edge_labels, outputs)) + "\n")
        for c in source.blocks(lo, hi):
            n = len(c["step"])
            volts = np.stack([c["v_free"], c["v_clamped"], c["v_desired"]], axis=2)
            table = np.column_stack([c["step"], c["error"], c["positions"],
                                     volts.reshape(n, 3 * n_out)])
            np.savetxt(f, table, fmt=fmt, delimiter=",")
            rows += n
    return rows
