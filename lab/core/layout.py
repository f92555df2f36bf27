"""Automatic drawing coordinates for a network that brings none (no built-in layout, no
``[coordinates]`` in its network file).

`auto_layout` is stress majorization (SMACOF, the method behind Kamada-Kawai-style
layouts): node distances on the drawing approach their graph distances (hops), weighted
by distance^-2, starting from classical multidimensional scaling. It is deterministic
(no random start), so a network is drawn the same way every time, and for planar graphs
of a few dozen nodes (lattices, chains, layered networks) it draws few or no crossings.
Written with numpy/scipy alone (no networkx: the project needs nothing else from it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

#: Above this many nodes the O(N^2) stress layout gives way to a spectral layout.
STRESS_MAX_NODES = 1500


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
    v = np.diag(w.sum(axis=1)) - w
    v_pinv = np.linalg.pinv(v)
    for _ in range(iterations):
        dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))
        ratio = np.zeros_like(d)
        np.divide(w * d, dist, out=ratio, where=dist > 1e-12)
        b = -ratio
        b[np.diag_indices(n)] = ratio.sum(axis=1)
        new = v_pinv @ (b @ x)
        if np.abs(new - x).max() < 1e-7:
            x = new
            break
        x = new
    return _normalise(x)


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
