"""The network view: nodes at `Network.layout`, edges coloured by digipot code.

Edges that updated on the shown step are drawn thick with a bright outline; input, output
and fixed (ground) nodes get different symbols.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

from lab.network import Network

#: Digipot codes run 0..CODE_MAX.
CODE_MAX = 127

#: Node symbols by role (pyqtgraph symbol names).
SYMBOLS = {"input": "t1", "output": "s", "fixed": "d", "free": "o"}
ROLE_COLOURS = {"input": "#e6550d", "output": "#3182bd", "fixed": "#636363", "free": "#f0f0f0"}


def network_from_dict(d: dict) -> Network:
    """The `Network` a run file describes (``network_json``: name, n_nodes, 1-based edges);
    layout from the named network when its edges match, else nodes on a circle."""
    edges = np.asarray(d.get("edges", []), dtype=np.intp).reshape(-1, 2) - 1
    name = str(d.get("name", "network"))
    try:
        net = Network.from_name(name)
        if net.edges.shape == edges.shape and np.array_equal(net.edges, edges):
            return net
    except ValueError:
        pass
    n = int(d.get("n_nodes", int(edges.max()) + 1 if edges.size else 0))
    angle = 2 * np.pi * np.arange(n) / max(n, 1)
    return Network(name, n, edges, np.column_stack([np.sin(angle), np.cos(angle)]))


class NetworkView(pg.PlotWidget):
    """Draws one network state: ``codes`` (E,) digipot codes, ``mask`` (E,) bool updated."""

    def __init__(self, network: Network, parent: object = None) -> None:
        super().__init__(parent=parent)
        self.network = network
        self.cmap = pg.colormap.get("viridis")
        self.codes = np.zeros(network.n_edges, dtype=np.int16)
        self.mask = np.zeros(network.n_edges, dtype=bool)
        self.roles: dict[int, str] = {}
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setAspectLocked(True)
        item.setMenuEnabled(False)
        item.setTitle("network (edge colour: digipot code; red outline: updated this step)")
        xy = np.asarray(network.layout, dtype=float)
        self._halo: list[pg.PlotDataItem] = []
        self._edges: list[pg.PlotDataItem] = []
        self._labels: list[pg.TextItem] = []
        for a, b in network.edges.tolist():
            x, y = xy[[a, b], 0], xy[[a, b], 1]
            halo = pg.PlotDataItem(x, y, pen=pg.mkPen("#ff2050", width=13))
            halo.setVisible(False)
            item.addItem(halo)
            self._halo.append(halo)
            line = pg.PlotDataItem(x, y, pen=pg.mkPen("w", width=4))
            item.addItem(line)
            self._edges.append(line)
            text = pg.TextItem("", color="w", anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 170))
            text.setZValue(5)
            text.setPos(float(x.mean()), float(y.mean()))
            item.addItem(text)
            self._labels.append(text)
        self._nodes = pg.ScatterPlotItem(size=22, pen=pg.mkPen("k", width=1.5))
        item.addItem(self._nodes)
        for i, (x, y) in enumerate(xy.tolist()):
            label = pg.TextItem(str(i + 1), color="k", anchor=(0.5, 0.5))
            label.setPos(x, y)
            label.setZValue(10)
            item.addItem(label)
        self.set_roles((), (), ())
        self.set_state(self.codes, None)

    def set_roles(self, inputs: Sequence[int], outputs: Sequence[int],
                  fixed: Sequence[int]) -> None:
        """Mark 1-based node labels as input / output / fixed (ground) nodes."""
        roles = {n: "free" for n in range(1, self.network.n_nodes + 1)}
        for role, nodes in (("input", inputs), ("output", outputs), ("fixed", fixed)):
            for n in nodes:
                roles[int(n)] = role
        self.roles = roles
        xy = np.asarray(self.network.layout, dtype=float)
        spots = [
            {"pos": (float(xy[n - 1, 0]), float(xy[n - 1, 1])), "symbol": SYMBOLS[role],
             "brush": pg.mkBrush(ROLE_COLOURS[role])}
            for n, role in roles.items()
        ]
        self._nodes.setData(spots)

    def set_state(self, codes: np.ndarray, mask: np.ndarray | None) -> None:
        """Show digipot ``codes`` (E,) and the step's ``mask`` (E,) bool (None: unknown)."""
        codes = np.asarray(codes).astype(np.int16).reshape(-1)
        mask = (np.zeros(len(codes), bool) if mask is None
                else np.asarray(mask, dtype=bool).reshape(-1))
        self.codes, self.mask = codes.copy(), mask.copy()
        colours = self.cmap.map(np.clip(codes, 0, CODE_MAX) / CODE_MAX, mode="qcolor")
        for i, (line, halo, text) in enumerate(
                zip(self._edges, self._halo, self._labels, strict=True)):
            hot = bool(mask[i])
            line.setPen(pg.mkPen(colours[i], width=7 if hot else 4))
            halo.setVisible(hot)
            text.setText(str(int(codes[i])) if codes[i] >= 0 else "?")
