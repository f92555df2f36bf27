"""Automatic drawing coordinates for a network that brings none (no built-in layout, no
``[coordinates]`` in its network file).

`auto_layout` is stress majorization (SMACOF, the method behind Kamada-Kawai-style
layouts): node distances on the drawing approach their graph distances (hops), weighted
by distance^-2, starting from classical multidimensional scaling; then a crossing
reduction moves one node at a time to a nearby point (around its neighbours' barycentre or
around a neighbour) wherever that lowers the number of crossing edges, keeping nodes apart.
It is deterministic (no random start), so a network is drawn the same way every time;
lattices, chains and layered networks come out without crossings, random planar networks
of 30 edges with few.
Written with numpy/scipy alone (no networkx: the project needs nothing else from it, and
its planar straight-line embedding crowds nodes into a sliver of the drawing).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

#: Above this many nodes the O(N^2) stress layout gives way to a spectral layout.
STRESS_MAX_NODES = 1500
#: Above this many edges the crossing reduction (O(E) per candidate point) is skipped.
UNCROSS_MAX_EDGES = 1000
#: A node is not moved closer than this many median edge lengths to another node.
GAP = 0.45


def auto_layout(n_nodes: int, edges: np.ndarray, iterations: int = 300) -> np.ndarray:
    """Coordinates (N, 2) in [-1, 1] for ``n_nodes`` nodes joined by 0-based ``edges``
    (E, 2); unconnected parts are placed at one hop more than the longest distance."""
    edges = np.asarray(edges, dtype=np.intp).reshape(-1, 2)
    n = int(n_nodes)
    if n <= 1:
        return np.zeros((n, 2))
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    if n > STRESS_MAX_NODES:
        return _normalise(_spectral(adj.tocsr()))
    d = shortest_path(adj.tocsr(), directed=False, unweighted=True)
    finite = np.isfinite(d)
    d[~finite] = (d[finite].max() if finite.any() else 0.0) + 1.0
    x = _classical_mds(d)
    w = np.zeros_like(d)
    off = d > 0
    w[off] = d[off] ** -2.0
    v_pinv = np.linalg.pinv(np.diag(w.sum(axis=1)) - w)
    x = _majorize(x, d, w, v_pinv, iterations)
    if len(edges) <= UNCROSS_MAX_EDGES:
        x = _uncross(x, edges)
        # relax the moved nodes again, one majorization step at a time, while no step
        # adds a crossing
        count = _count_crossings(x, edges)
        for _ in range(iterations):
            new = _majorize(x, d, w, v_pinv, 1)
            if _count_crossings(new, edges) > count or np.abs(new - x).max() < 1e-7:
                break
            x = new
    return _normalise(x)


def _crossing(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Whether segments p-q (k, 2) properly cross segments r-s (m, 2): (k, m) bool."""

    def orient(a, b, c):
        return np.sign((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
                       - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))  # fmt: skip

    p, q = p[:, None, :], q[:, None, :]
    r, s = r[None, :, :], s[None, :, :]
    return (orient(p, q, r) * orient(p, q, s) < 0) & (orient(r, s, p) * orient(r, s, q) < 0)


def _uncross(x: np.ndarray, edges: np.ndarray, sweeps: int = 12) -> np.ndarray:
    """Move single nodes to nearby points where that lowers the crossing count, (N, 2)."""
    x = x.copy()
    n = len(x)
    if not len(edges):
        return x
    length = float(np.median(np.hypot(*(x[edges[:, 0]] - x[edges[:, 1]]).T)))
    if not length > 0:
        return x
    gap = GAP * length
    neighbours = [np.concatenate([edges[edges[:, 0] == i, 1], edges[edges[:, 1] == i, 0]])
                  for i in range(n)]  # fmt: skip
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.column_stack([np.cos(angles), np.sin(angles)])

    def crossings(i: int, points: np.ndarray) -> np.ndarray:
        """Crossings of node i's edges, with i at each of ``points`` (K, 2): (K,)."""
        nb = neighbours[i]
        away = (edges[:, 0] != i) & (edges[:, 1] != i)
        r, s = x[edges[away, 0]], x[edges[away, 1]]
        total = np.zeros(len(points), dtype=np.int64)
        for j in nb.tolist():  # an edge i-j never counts as crossing edges at j
            keep = (edges[away, 0] != j) & (edges[away, 1] != j)
            c = _crossing(points, np.broadcast_to(x[j], points.shape), r[keep], s[keep])
            total += c.sum(axis=1)
        return total

    for _ in range(sweeps):
        moved = False
        for i in range(n):
            nb = neighbours[i]
            if not len(nb):
                continue
            now = int(crossings(i, x[i : i + 1])[0])
            if now == 0:
                continue
            centre = x[nb].mean(axis=0)
            cands = [centre[None, :]]
            cands += [centre + f * length * ring for f in (0.3, 0.6)]
            cands += [x[j] + length * ring for j in nb.tolist()]
            points = np.concatenate(cands)
            others = np.delete(x, i, axis=0)
            room = np.hypot(*(points[:, None, :] - others[None, :, :]).transpose(2, 0, 1))
            points = points[room.min(axis=1) >= gap]
            if not len(points):
                continue
            count = crossings(i, points)
            best = int(np.argmin(count))
            if count[best] < now:
                x[i] = points[best]
                moved = True
        if not moved:
            break
    return x


def _majorize(
    x: np.ndarray, d: np.ndarray, w: np.ndarray, v_pinv: np.ndarray, iterations: int
) -> np.ndarray:
    """SMACOF (Guttman transform) iterations on positions ``x`` (N, 2) towards the
    distances ``d`` (N, N) with weights ``w``; ``v_pinv`` the weighted Laplacian's
    pseudo-inverse."""
    n = len(x)
    for _ in range(iterations):
        dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))
        ratio = np.zeros_like(d)
        np.divide(w * d, dist, out=ratio, where=dist > 1e-12)
        b = -ratio
        b[np.diag_indices(n)] = ratio.sum(axis=1)
        new = v_pinv @ (b @ x)
        if np.abs(new - x).max() < 1e-7:
            return new
        x = new
    return x


def _count_crossings(x: np.ndarray, edges: np.ndarray) -> int:
    """Pairs of edges without a common node whose segments cross."""
    a, b = edges[:, 0], edges[:, 1]
    cross = _crossing(x[a], x[b], x[a], x[b])
    shared = (a[:, None] == a[None, :]) | (a[:, None] == b[None, :]) \
        | (b[:, None] == a[None, :]) | (b[:, None] == b[None, :])  # fmt: skip
    return int(np.triu(cross & ~shared, 1).sum())


def _classical_mds(d: np.ndarray) -> np.ndarray:
    """2-d classical scaling of distances ``d`` (N, N); a line (a chain) gets a small
    deterministic second coordinate so the majorization can leave it."""
    n = len(d)
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ (d**2) @ j
    vals, vecs = np.linalg.eigh(b)
    top = np.argsort(vals)[::-1][:2]
    x = vecs[:, top] * np.sqrt(np.maximum(vals[top], 0.0))
    if x.shape[1] < 2:
        x = np.column_stack([x, np.zeros(n)])
    scale = max(float(np.abs(x).max()), 1.0)
    x[:, 1] += 1e-3 * scale * np.sin(np.arange(n) * 2.399963)  # golden angle, not random
    return x


def _spectral(adj: sp.csr_matrix) -> np.ndarray:
    """The Laplacian's 2nd and 3rd eigenvectors as coordinates (large networks)."""
    from scipy.sparse.linalg import eigsh

    sym = ((adj + adj.T) > 0).astype(float)
    lap = sp.diags(np.asarray(sym.sum(axis=1)).ravel()) - sym
    _, vecs = eigsh(lap.tocsc(), k=3, sigma=-1e-3, which="LM")
    return vecs[:, 1:3]


def _normalise(x: np.ndarray) -> np.ndarray:
    """Centre on the origin and scale the larger extent to [-1, 1]."""
    x = x - (x.max(axis=0) + x.min(axis=0)) / 2
    span = float(np.abs(x).max())
    return x / span if span > 0 else x
