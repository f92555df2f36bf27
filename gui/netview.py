"""The network view: nodes at `Network.layout`, edges coloured by digipot code.

Any network is drawn: a built-in network at its own layout, a network file at its
``[coordinates]`` or, without them, at the automatic layout computed once when the file
is loaded (`lab.core.layout.auto_layout`); a run file's network at the layout it records.

Edges that updated on the shown step are drawn thick with a bright outline; input, output
and fixed (ground) nodes get different symbols. Hovering a node shows the shown step's
free-state node voltage, solved from the digipot positions (`gui.freestate`), and the
measured V_F at output nodes; hovering an edge shows its code ("code 87 ± 0.4
(estimated)" for estimated codes). Unknown codes (-1, a bench without a probe) are drawn
grey with "?" and the title says "codes unknown". Estimated codes read "87±0.7" where
uncertain (the standard deviation in code steps). Before any data every edge reads "-" and is drawn
grey. A colour bar (0..the run's top code, `set_digipot`) and a compact legend of the node
roles sit beside the drawing, which keeps an equal aspect where that fills the view;
else (a square drawing in a wide panel) it is stretched to fill it, up to `MAX_STRETCH`.

Code labels (`place_labels`, on every resize and range change) are placed in the view's
pixels: each at the first point of its edge (`ALONG`, then beside the edge) where its box
covers no node marker, no other label and, if it can, no other edge; a label with no such
point is hidden (its code stays in the edge's hover text). Nodes are drawn above labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QEvent, QPointF, QRectF
from PyQt6.QtGui import QFont, QFontMetricsF, QMouseEvent

from gui.freestate import FreeSetup, StepState, hover_text, solve_free_state
from gui.look import LegendPlot, contrast
from lab.core.digipot import AD5220, Digipot
from lab.core.layout import auto_layout
from lab.core.network import Network

#: A node is hovered when the pointer is within this many pixels of its centre.
HOVER_PX = 16
#: Node marker size (px); code label and node number font sizes (pt).
NODE_PX = 20
LABEL_PT = 8
#: Where a code label may sit along its edge (fraction from the first node), in order of
#: preference; then the same points beside the edge.
ALONG = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74)
#: Clearance (px) kept between a code label and a node marker or another label.
GAP_PX = 2
#: The title's font size (pt) and row height (px).
TITLE_PT, TITLE_PX = 9, 20
#: Width (px) of the role legend's column.
LEGEND_PX = 78
#: The drawing's pixels per unit may differ between x and y by at most this factor: where
#: an equal aspect would leave the view's longer side emptier than `EQUAL_FILL` times the
#: other (a square drawing in a wide panel: a 30-edge automatic layout), the drawing is
#: stretched along it (an affine map: edges stay straight, crossings as drawn).
MAX_STRETCH = 2.0
EQUAL_FILL = 1 / 1.25

#: Node symbols by role (pyqtgraph symbol names).
SYMBOLS = {"input": "t1", "output": "s", "fixed": "d", "free": "o"}
ROLE_COLOURS = {"input": "#e6550d", "output": "#3182bd", "fixed": "#636363", "free": "#f0f0f0"}
#: Marker size of each role relative to `NODE_PX` (a triangle or diamond fills less of its
#: square than a disc).
ROLE_SCALE = {"input": 1.3, "output": 1.0, "fixed": 1.25, "free": 1.0}
#: The role legend's names.
ROLE_NAMES = {"input": "input", "output": "output", "fixed": "ground", "free": "free"}
#: An estimated code's standard deviation (code steps) from which its edge label shows it.
SD_SHOWN = 0.5
#: An edge's label before any data.
NO_DATA = "-"

#: The view's title by where the codes come from (`lab.acquire.records.Codes`).
TITLES = {
    "exact": "network (colour: code; red outline: updated)",
    "estimated": "network (estimated codes; red: updated)",
    "unknown": "network: codes unknown (no resistance probe)",
}
#: Colour of an edge whose code is unknown.
UNKNOWN_COLOUR = "#606060"


def network_from_dict(d: dict) -> Network:
    """The `Network` a run file describes (``network_json``: name, n_nodes, 1-based edges,
    and for a network file its ``layout``); else the layout of the named network when its
    edges match, else the automatic layout."""
    edges = np.asarray(d.get("edges", []), dtype=np.intp).reshape(-1, 2) - 1
    name = str(d.get("name", "network"))
    n = int(d.get("n_nodes", int(edges.max()) + 1 if edges.size else 0))
    layout = np.asarray(d.get("layout", []), dtype=float)
    if layout.shape == (n, 2) and np.isfinite(layout).all():
        return Network(name, n, edges, layout)
    try:
        net = Network.from_name(name)
        if net.edges.shape == edges.shape and np.array_equal(net.edges, edges):
            return net
    except ValueError:
        pass
    return Network(name, n, edges, auto_layout(n, edges))


class NetworkView(LegendPlot):
    """Draws one network state: ``codes`` (E,) digipot codes, ``mask`` (E,) bool updated
    (`set_state`); ``has_data`` False until the first state."""

    def __init__(self, network: Network, parent: object = None) -> None:
        super().__init__(legend_width=LEGEND_PX)
        if parent is not None:
            self.setParent(parent)
        self.network = network
        self.digipot: Digipot = AD5220
        self.has_data = False
        self.cmap = pg.colormap.get("viridis")
        self.codes = np.zeros(network.n_edges, dtype=np.int16)
        self.mask = np.zeros(network.n_edges, dtype=bool)
        self.sd: np.ndarray | None = None  # (E,) code steps of estimated codes, or None
        self.codes_kind = "exact"  # where the codes come from (`set_codes`)
        self._shown: tuple[np.ndarray, np.ndarray] | None = None  # (codes, mask) drawn
        self.roles: dict[int, str] = {}
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setAspectLocked(True)
        item.setMenuEnabled(False)
        item.getViewBox().setDefaultPadding(0.0)  # the markers' own pixel padding suffices
        self._title(TITLES["exact"])
        font = QFont()
        font.setPointSizeF(LABEL_PT)
        self._font = font
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
            text = pg.TextItem("", color="w", anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 200))
            text.setFont(font)
            text.textItem.document().setDocumentMargin(1)
            text.setZValue(5)
            text.setPos(float(x.mean()), float(y.mean()))
            item.addItem(text, ignoreBounds=True)
            self._labels.append(text)
        self._nodes = pg.ScatterPlotItem(size=NODE_PX, pen=pg.mkPen("k", width=1.5))
        self._nodes.setZValue(8)  # above the code labels
        item.addItem(self._nodes)
        self._numbers: list[pg.TextItem] = []  # node numbers, on the markers
        for i, (x, y) in enumerate(xy.tolist()):
            label = pg.TextItem(str(i + 1), color="k", anchor=(0.5, 0.5))
            label.setFont(font)
            label.setPos(x, y)
            label.setZValue(10)
            item.addItem(label, ignoreBounds=True)
            self._numbers.append(label)
        self.hover_label = pg.TextItem("", color="w", anchor=(0, 1),
                                       fill=pg.mkBrush(20, 20, 20, 220),
                                       border=pg.mkPen("#aaaaaa"))
        self.hover_label.setZValue(20)
        self.hover_label.setVisible(False)
        item.addItem(self.hover_label, ignoreBounds=True)
        self.hovered: int | None = None  # 1-based label of the hovered node
        self.hovered_edge: int | None = None  # index of the hovered edge
        self.setup: FreeSetup | None = None
        self._source: Callable[[], StepState | None] | None = None
        self._state: tuple[StepState | None, np.ndarray | None] | None = None
        #: the code colour scale, right of the drawing (0..`Digipot.top`)
        self.colour_bar = pg.ColorBarItem(values=(0, self.digipot.top), colorMap=self.cmap,
                                          interactive=False, label="code", width=12)
        self.colour_bar.setImageItem([], insert_in=item)
        self.set_legend([({"pen": None, "symbol": SYMBOLS[r], "symbolSize": 12,
                           "symbolBrush": ROLE_COLOURS[r], "symbolPen": "k"}, ROLE_NAMES[r])
                         for r in ("input", "output", "fixed", "free")])
        self.set_roles((), (), ())
        self.clear_state()
        self._room = np.zeros(network.n_edges)  # (E,) label widths (px) placed for
        self._placing = False
        box = item.getViewBox()
        box.sigResized.connect(self.fit_drawing)
        box.sigResized.connect(self.place_labels)
        box.sigRangeChanged.connect(self.place_labels)

    def stretch(self) -> float:
        """The drawing's x : y pixels per unit for the view's size now: 1 (equal aspect)
        where that fills both directions within `EQUAL_FILL` of each other, else as much
        as fills the view, within 1 / `MAX_STRETCH` .. `MAX_STRETCH`."""
        box = self.getPlotItem().getViewBox()
        pad = NODE_PX * max(ROLE_SCALE.values()) + 2 * GAP_PX  # px: the markers at the rim
        width, height = box.width() - pad, box.height() - pad
        if width <= 1 or height <= 1:
            return 1.0
        w, h = np.ptp(np.asarray(self.network.layout, float), axis=0).tolist()
        if w <= 0 and h <= 0:
            return 1.0
        ratio = (width * h) / (height * w) if w > 0 and h > 0 else (
            MAX_STRETCH if h <= 0 else 1 / MAX_STRETCH)  # (px per unit x) / (px per unit y)
        if EQUAL_FILL <= ratio <= 1 / EQUAL_FILL:
            return 1.0
        return float(np.clip(ratio, 1 / MAX_STRETCH, MAX_STRETCH))

    def fit_drawing(self) -> None:
        """Lock the drawing's aspect at `stretch` (at every resize of the view)."""
        self.getPlotItem().getViewBox().setAspectLocked(True, ratio=self.stretch())

    def _title(self, text: str) -> None:
        """The title, in a row of `TITLE_PX` (pyqtgraph's own is 30 px of the panel)."""
        item = self.getPlotItem()
        item.setTitle(text, size=f"{TITLE_PT}pt")
        item.titleLabel.setMaximumHeight(TITLE_PX)
        item.layout.setRowFixedHeight(0, TITLE_PX)

    def set_digipot(self, digipot: Digipot) -> None:
        """The run's digipot: edge colours and the colour bar span codes 0..top."""
        if digipot == self.digipot:
            return
        self.digipot = digipot
        self.colour_bar.setLevels((0, digipot.top))
        if self.has_data:
            self._shown = None
            self.set_state(self.codes, self.mask, self.sd)

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
             "brush": pg.mkBrush(ROLE_COLOURS[role]), "size": NODE_PX * ROLE_SCALE[role]}
            for n, role in roles.items()
        ]
        self._nodes.setData(spots)
        for n, role in roles.items():  # black or white, whichever reads better on the fill
            fill = ROLE_COLOURS[role]
            self._numbers[n - 1].setColor("k" if contrast("k", fill) >= contrast("w", fill)
                                          else "w")

    def set_codes(self, kind: str, note: str = "") -> None:
        """Where the codes come from: "exact", "estimated" or "unknown" (the title; the
        edge hover says "estimated"); ``note``: why unknown (the title's tooltip)."""
        self.codes_kind = kind
        self._title(TITLES.get(kind, TITLES["exact"]))
        self.setToolTip(note if kind == "unknown" else "")
        for i, label in enumerate(self._labels):  # "87±0.4" or "87"
            label.setText(self.label_text(i))
        self.place_labels()
        if self.hovered_edge is not None:
            self.hover_edge(self.hovered_edge)

    def clear_state(self) -> None:
        """No state (yet): every edge grey and reading "-" (a run before its first step)."""
        self.has_data, self.sd, self._shown = False, None, None
        self.codes = np.zeros(self.network.n_edges, dtype=np.int16)
        self.mask = np.zeros(self.network.n_edges, dtype=bool)
        for i in range(self.network.n_edges):
            self._edges[i].setPen(pg.mkPen(UNKNOWN_COLOUR, width=4))
            self._halo[i].setVisible(False)
            self._labels[i].setText(NO_DATA)
        if self.hovered_edge is not None:
            self.hover_edge(self.hovered_edge)

    def set_state(self, codes: np.ndarray, mask: np.ndarray | None,
                  sd: np.ndarray | None = None) -> None:
        """Show digipot ``codes`` (E,) (-1: unknown), the step's ``mask`` (E,) bool (None:
        unknown) and, for estimated codes, each code's standard deviation ``sd`` (E,) in
        code steps."""
        self.has_data = True
        self.sd = None if sd is None else np.asarray(sd, dtype=float).reshape(-1).copy()
        codes = np.asarray(codes).astype(np.int16).reshape(-1)
        mask = (np.zeros(len(codes), bool) if mask is None
                else np.asarray(mask, dtype=bool).reshape(-1))
        shown = self._shown  # redraw only the edges that changed
        estimated = self.sd is not None and self.codes_kind == "estimated"
        changed = (np.ones(len(codes), bool) if shown is None or estimated
                   else (codes != shown[0]) | (mask != shown[1]))
        self.codes, self.mask = codes.copy(), mask.copy()
        self._shown = (self.codes, self.mask)
        top = self.digipot.top
        colours = self.cmap.map(np.clip(codes, 0, top) / top, mode="qcolor")
        for i in np.flatnonzero(changed).tolist():
            hot = bool(mask[i])
            colour = colours[i] if codes[i] >= 0 else UNKNOWN_COLOUR
            self._edges[i].setPen(pg.mkPen(colour, width=7 if hot else 4))
            self._halo[i].setVisible(hot)
            self._labels[i].setText(self.label_text(i))
        if any(self._labels[i].boundingRect().width() > self._room[i]
               for i in np.flatnonzero(changed).tolist()):
            self.place_labels()  # a label grew beyond the room it was placed with
        if self.hovered_edge is not None:
            self.hover_edge(self.hovered_edge)

    def place_labels(self) -> None:
        """Place every code label where it covers no node marker and no other label
        (module doc), in the view's pixels at its current size; hide those without room.
        Each label is placed with room for the widest of its text and the run's top code,
        so changing codes do not move labels."""
        if self._placing:
            return
        box = self.getPlotItem().getViewBox()
        area = box.sceneBoundingRect()
        if area.width() < 2 or area.height() < 2:
            return
        self._placing = True
        try:
            self._place(box, area)
        finally:
            self._placing = False

    def _place(self, box: pg.ViewBox, area: QRectF) -> None:
        xy = np.asarray(self.network.layout, float)
        pts = np.array([[q.x(), q.y()] for q in
                        (box.mapViewToScene(QPointF(x, y)) for x, y in xy.tolist())])
        if not np.isfinite(pts).all():
            return
        half = (NODE_PX * max(ROLE_SCALE.values()) / 2 + GAP_PX)
        taken = [np.column_stack([pts - half, pts + half])]  # (k, 4) x0 y0 x1 y1 boxes
        edges = self.network.edges
        start, step = pts[edges[:, 0]], pts[edges[:, 1]] - pts[edges[:, 0]]
        length = np.hypot(step[:, 0], step[:, 1])
        count = np.clip(np.ceil(length / 3).astype(int) + 1, 2, 200)  # a point every <= 3 px
        owner = np.repeat(np.arange(len(edges)), count)  # (P,) edge of each point
        first = np.cumsum(count) - count
        t = (np.arange(len(owner)) - first[owner]) / (count[owner] - 1)
        samples = (owner, start[owner] + t[:, None] * step[owner])  # (P,), (P, 2) px
        bounds = (area.left(), area.top(), area.right(), area.bottom())
        metrics = QFontMetricsF(self._font)
        widest = metrics.horizontalAdvance(str(self.digipot.top)) + 2
        for i in np.argsort(length, kind="stable").tolist():  # short edges have least room
            label = self._labels[i]
            rect = label.boundingRect()
            w, h = max(rect.width(), widest), rect.height()
            self._room[i] = w
            at = self._spot(i, pts, w, h, np.concatenate(taken), samples, bounds)
            label.setVisible(at is not None)
            if at is None:
                continue
            x, y = at
            taken.append(np.array([[x - w / 2 - GAP_PX, y - h / 2 - GAP_PX,
                                    x + w / 2 + GAP_PX, y + h / 2 + GAP_PX]]))
            view = box.mapSceneToView(QPointF(x, y))
            label.setPos(view.x(), view.y())

    def _spot(self, i: int, pts: np.ndarray, w: float, h: float, taken: np.ndarray,
              samples: tuple[np.ndarray, np.ndarray],
              bounds: tuple[float, float, float, float]
              ) -> tuple[float, float] | None:
        """The scene point (px) for edge ``i``'s label of ``w`` x ``h`` px: the first
        candidate clear of ``taken`` boxes (k, 4) and inside ``bounds``, preferring one that
        covers no other edge's ``samples`` (owning edge (P,), points (P, 2) px); beside the
        edge only where the label is nearer its own edge than any other (so it reads as
        that edge's); None without room."""
        a, b = self.network.edges[i].tolist()
        u, v = pts[a], pts[b]
        d = v - u
        n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9)
        side = 0.5 * (abs(n[0]) * w + abs(n[1]) * h) + 3  # beside the line, clear of it
        offs = np.repeat([0.0, side, -side], len(ALONG))  # on the edge first, then beside
        c = u + np.tile(ALONG, 3)[:, None] * d + offs[:, None] * n  # (C, 2) candidate centres
        x0, y0, x1, y1 = c[:, 0] - w / 2, c[:, 1] - h / 2, c[:, 0] + w / 2, c[:, 1] + h / 2
        ok = (x0 >= bounds[0]) & (y0 >= bounds[1]) & (x1 <= bounds[2]) & (y1 <= bounds[3])
        ok &= ~np.any((taken[None, :, 0] < x1[:, None]) & (taken[None, :, 2] > x0[:, None])
                      & (taken[None, :, 1] < y1[:, None]) & (taken[None, :, 3] > y0[:, None]),
                      axis=1)
        if not ok.any():
            return None
        c, offs = c[ok], offs[ok]
        x0, y0, x1, y1 = x0[ok], y0[ok], x1[ok], y1[ok]
        ok = np.ones(len(c), dtype=bool)
        reach = 0.5 * max(w, h) + 2 * side + 1  # only points this near a candidate matter
        lo, hi = c.min(axis=0) - reach, c.max(axis=0) + reach
        owner, points = samples
        others = points[(owner != i) & np.all((points > lo) & (points < hi), axis=1)]
        crossed = np.zeros(len(c), dtype=bool)
        if len(others):
            px, py = others[None, :, 0], others[None, :, 1]
            crossed = np.any((px > x0[:, None]) & (px < x1[:, None])
                             & (py > y0[:, None]) & (py < y1[:, None]), axis=1)
            near = np.hypot(px - c[:, :1], py - c[:, 1:]).min(axis=1) < 2 * side
            ok &= (offs == 0) | ~(crossed | near)  # beside its edge only where no other is near
        for wanted in (ok & ~crossed, ok):
            if wanted.any():
                k = int(np.argmax(wanted))
                return float(c[k, 0]), float(c[k, 1])
        return None

    def label_text(self, i: int) -> str:
        """The label drawn on edge ``i``: "-" before data, "?" unknown, "87", or for an
        estimated code whose standard deviation reaches `SD_SHOWN` code steps "87±0.7"
        (smaller ones only in the hover text: 16 labels "87±0.0" overlap in a small view)."""
        if not self.has_data:
            return NO_DATA
        code = int(self.codes[i])
        if code < 0:
            return "?"
        sd = self.sd[i] if self.sd is not None and i < len(self.sd) else float("nan")
        if self.codes_kind == "estimated" and np.isfinite(sd) and sd >= SD_SHOWN:
            return f"{code}±{sd:.1f}"
        return str(code)

    def edge_text(self, i: int) -> str:
        """Hover text of edge ``i`` for the shown state: "edge 1-2: code 87",
        "edge 1-2: code 87 ± 0.4 (estimated)" or "edge 1-2: code unknown"."""
        label = self.network.edge_labels()[i]
        if not self.has_data:
            return f"edge {label}: no data yet"
        code = int(self.codes[i])
        if code < 0 or self.codes_kind == "unknown":
            return f"edge {label}: code unknown"
        if self.codes_kind != "estimated":
            return f"edge {label}: code {code}"
        sd = self.sd[i] if self.sd is not None and i < len(self.sd) else float("nan")
        spread = f" ± {sd:.2g}" if np.isfinite(sd) else ""  # 0.02, 0.7, 1.3: not "± 0.0"
        return f"edge {label}: code {code}{spread} (estimated)"

    # -- node voltages on hover ------------------------------------------------------------
    def set_free_state(self, setup: FreeSetup | None,
                       source: StepState | Callable[[], StepState | None] | None) -> None:
        """The shown step for hovering: a `StepState` or a callable giving it when first
        needed (solved lazily, once per state)."""
        self.setup = setup
        self._source = source if callable(source) or source is None else (lambda: source)
        self._state = None
        if self.hovered is not None:
            self.hover_node(self.hovered)

    def step_state(self) -> tuple[StepState | None, np.ndarray | None]:
        """(shown step, its solved node voltages (N,) V), computed on first use."""
        if self._state is None:
            state = self._source() if self._source is not None else None
            volts = None
            if state is not None and self.setup is not None and np.all(state.codes >= 0):
                volts = solve_free_state(self.setup, state.codes, state.inputs)
            self._state = (state, volts)
        return self._state

    def node_text(self, node: int) -> str:
        """Hover text of 1-based ``node`` for the shown step."""
        if self.setup is None:
            return f"node {node}\nno run loaded"
        state, volts = self.step_state()
        return hover_text(self.setup, state, node, volts)

    def node_at(self, scene_pos: QPointF) -> int | None:
        """1-based label of the node within `HOVER_PX` pixels of ``scene_pos``, or None."""
        box = self.getPlotItem().getViewBox()
        best, best_d = None, float(HOVER_PX)
        for i, (x, y) in enumerate(np.asarray(self.network.layout, float).tolist()):
            p = box.mapViewToScene(QPointF(x, y))
            d = float(np.hypot(p.x() - scene_pos.x(), p.y() - scene_pos.y()))
            if d <= best_d:
                best, best_d = i + 1, d
        return best

    def edge_at(self, scene_pos: QPointF) -> int | None:
        """Index of the edge whose middle third passes within `HOVER_PX` pixels of
        ``scene_pos``, or None."""
        box = self.getPlotItem().getViewBox()
        xy = np.asarray(self.network.layout, float)
        p = np.array([scene_pos.x(), scene_pos.y()])
        best, best_d = None, float(HOVER_PX)
        for i, (a, b) in enumerate(self.network.edges.tolist()):
            pa, pb = (box.mapViewToScene(QPointF(*xy[n].tolist())) for n in (a, b))
            u, v = np.array([pa.x(), pa.y()]), np.array([pb.x(), pb.y()])
            t = float(np.clip(np.dot(p - u, v - u) / max(np.dot(v - u, v - u), 1e-9),
                              1 / 3, 2 / 3))
            d = float(np.hypot(*(u + t * (v - u) - p)))
            if d <= best_d:
                best, best_d = i, d
        return best

    def hover_edge(self, i: int | None) -> None:
        """Show (or, for None, hide) the hover text of edge ``i`` at its middle."""
        self.hovered_edge = i
        if i is None:
            if self.hovered is None:
                self.hover_label.setVisible(False)
            return
        xy = np.asarray(self.network.layout, float)
        a, b = self.network.edges[i].tolist()
        x, y = ((xy[a] + xy[b]) / 2).tolist()
        cx, cy = xy.mean(axis=0).tolist()
        self.hover_label.setAnchor((0 if x <= cx else 1, 1 if y <= cy else 0))
        self.hover_label.setText(self.edge_text(i))
        self.hover_label.setPos(x, y)
        self.hover_label.setVisible(True)

    def hover_node(self, node: int | None) -> None:
        """Show (or, for None, hide) the hover text of ``node``."""
        self.hovered = node
        if node is None:
            self.hover_label.setVisible(False)
            return
        layout = np.asarray(self.network.layout, float)
        x, y = layout[node - 1].tolist()
        cx, cy = layout.mean(axis=0).tolist()  # open towards the middle of the drawing
        self.hover_label.setAnchor((0 if x <= cx else 1, 1 if y <= cy else 0))
        self.hover_label.setText(self.node_text(node))
        self.hover_label.setPos(x, y)
        self.hover_label.setVisible(True)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        """Every pointer move (the scene's own signal drops moves above 60 Hz, which could
        leave a stale text when the pointer stops)."""
        super().mouseMoveEvent(ev)
        pos = self.mapToScene(ev.position().toPoint())
        node = self.node_at(pos)
        if node != self.hovered:
            self.hover_node(node)
        edge = None if node is not None else self.edge_at(pos)
        if edge != self.hovered_edge:
            self.hovered_edge = None
            if edge is not None or node is None:
                self.hover_edge(edge)

    def leaveEvent(self, ev: QEvent) -> None:
        super().leaveEvent(ev)
        self.hovered_edge = None
        self.hover_node(None)
