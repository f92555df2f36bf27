"""Resistor-network topology and the Kirchhoff solve of free and clamped states.

Node labels are 1-based in every public API (the papers number the 16-edge
board's nodes 1..9); internally node ``label`` lives at index ``label - 1``.
A state is defined by a set of *fixed* nodes held at given voltages; the other
(floating) nodes take the voltages that minimise dissipated power, i.e. solve
the reduced weighted graph-Laplacian system ``L_ff V_f = -L_fc V_c``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numba as nb
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.sparse.linalg import splu
from scipy.spatial import Delaunay

#: Edge list of the 16-edge, 9-node twin board (1-based labels), read from the
#: network-structure inset reproduced in Wycoff et al., "Desynchronous learning in a
#: physics-driven learning network" (2022), Fig. 4b, checked against the lab photo and
#: circuit schematic of Dillavou et al., Phys. Rev. Applied 18, 014040 (2022).
TWIN16_EDGES: tuple[tuple[int, int], ...] = (
    (1, 4), (1, 5), (1, 6), (1, 7), (1, 8), (2, 4), (2, 7), (2, 9),
    (3, 4), (3, 6), (4, 6), (4, 7), (5, 6), (5, 8), (6, 8), (7, 9),
)  # fmt: skip

#: Above this many floating nodes the solver uses sparse LU instead of a dense solve.
DENSE_MAX_FLOATING = 400
#: Up to this many floating nodes the dense solve is an in-kernel Cholesky, above it LAPACK.
SMALL_SYSTEM = 48

FixedSpec = Mapping[int, float] | tuple[Sequence[int] | np.ndarray, np.ndarray | Sequence[float]]


@nb.njit(cache=True, nogil=True)
def _cholesky_solve(a, b):
    """Solve a x = b for a small SPD matrix in place (a, b overwritten); returns x (n,).

    Hand-written because LAPACK through numba costs ~1 us of copying per call, ten times
    the arithmetic at this size. Falls back to LAPACK (which raises) if a is not SPD.
    """
    n = len(b)
    for j in range(n):
        d = a[j, j]
        for m in range(j):
            d -= a[j, m] * a[j, m]
        if d <= 0.0:
            return np.linalg.solve(a, b)  # not SPD (a zero conductance): let LAPACK decide
        d = np.sqrt(d)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for m in range(j):
                s -= a[i, m] * a[j, m]
            a[i, j] = s / d
    for i in range(n):  # forward: L y = b
        s = b[i]
        for m in range(i):
            s -= a[i, m] * b[m]
        b[i] = s / a[i, i]
    for i in range(n - 1, -1, -1):  # back: L^T x = y
        s = b[i]
        for m in range(i + 1, n):
            s -= a[m, i] * b[m]
        b[i] = s / a[i, i]
    return b


@nb.njit(cache=True, nogil=True)
def _solve_into(k, v_nodes, topo, free_idx, out):
    """Assemble L_ff V_f = -L_fc V_c edge by edge, solve it, write node voltages ``out`` (N,).

    ``v_nodes`` (N,) holds the fixed nodes' voltages (other entries are ignored).
    ``topo`` (4, E): for each edge end, its position in the floating block if rows 2/3
    say that end floats, else its node index.
    """
    nf = len(free_idx)
    lap = np.zeros((nf, nf))
    rhs = np.zeros(nf)
    for e in range(len(k)):
        ke = k[e]
        pa = topo[0, e]
        pb = topo[1, e]
        if topo[2, e]:
            lap[pa, pa] += ke
            if topo[3, e]:
                lap[pb, pb] += ke
                lap[pa, pb] -= ke
                lap[pb, pa] -= ke
            else:
                rhs[pa] += ke * v_nodes[pb]
        elif topo[3, e]:
            lap[pb, pb] += ke
            rhs[pb] += ke * v_nodes[pa]
    x = _cholesky_solve(lap, rhs) if nf <= SMALL_SYSTEM else np.linalg.solve(lap, rhs)
    out[:] = v_nodes
    for i in range(nf):
        out[free_idx[i]] = x[i]


@nb.njit(cache=True, nogil=True)
def _solve_one_kernel(k, v_nodes, topo, free_idx):
    out = np.empty(len(v_nodes))
    _solve_into(k, v_nodes, topo, free_idx, out)
    return out


@nb.njit(cache=True, parallel=True)
def _solve_batch_kernel(k, v_nodes, topo, free_idx, out):
    """``k`` (B, E), ``v_nodes`` (B, N) -> ``out`` (B, N), networks in parallel."""
    for i in nb.prange(k.shape[0]):
        _solve_into(k[i], v_nodes[i], topo, free_idx, out[i])


class DisconnectedError(ValueError):
    """Some floating nodes are connected to no fixed node, so their voltage is undefined."""


@dataclass(frozen=True)
class Network:
    """A resistor network: ``n_nodes`` nodes and ``edges`` (E, 2) of 0-based node indices.

    ``layout`` (N, 2) holds drawing coordinates (arbitrary units).
    """

    name: str
    n_nodes: int
    edges: np.ndarray
    layout: np.ndarray
    _solvers: dict[tuple[int, ...], Solver] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.intp)
        if edges.ndim != 2 or edges.shape[1] != 2:
            raise ValueError(f"edges must have shape (E, 2), got {edges.shape}")
        if edges.size and (edges.min() < 0 or edges.max() >= self.n_nodes):
            raise ValueError(f"edges name nodes outside 0..{self.n_nodes - 1}")
        if np.any(edges[:, 0] == edges[:, 1]):
            raise ValueError("edges must join two different nodes")
        edges.setflags(write=False)
        object.__setattr__(self, "edges", edges)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def twin16(cls) -> Network:
        """The 16-edge, 9-node network of the twin board (see `TWIN16_EDGES`)."""
        edges = np.array(TWIN16_EDGES) - 1
        angle = 2 * np.pi * np.arange(9) / 9
        layout = np.column_stack([np.sin(angle), np.cos(angle)])
        return cls("twin16", 9, edges, layout)

    @classmethod
    def random_planar(cls, n_edges: int, n_nodes: int | None = None, seed: int = 0) -> Network:
        """A connected planar network with exactly ``n_edges`` edges on random points.

        Points are uniform in the unit square; edges are a random spanning tree of their
        Delaunay triangulation plus randomly chosen further Delaunay edges. The default
        node count gives mean degree 4.5 (64 nodes for 143 edges; our choice, the papers
        do not state theirs).
        """
        n_nodes = n_nodes if n_nodes is not None else max(4, round(n_edges / 2.25))
        if n_edges < n_nodes - 1:
            raise ValueError(
                f"{n_edges} edges cannot connect {n_nodes} nodes (need >= {n_nodes - 1})"
            )
        rng = np.random.default_rng(seed)
        points = rng.random((n_nodes, 2))
        tri = Delaunay(points)
        simplices = tri.simplices
        pairs = np.concatenate([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]])
        pairs = np.unique(np.sort(pairs, axis=1), axis=0)
        if n_edges > len(pairs):
            raise ValueError(
                f"{n_nodes} random points allow at most {len(pairs)} planar edges; "
                f"ask for fewer edges or more nodes"
            )
        weights = rng.random(len(pairs)) + 1e-3  # random spanning tree
        graph = sp.coo_matrix((weights, (pairs[:, 0], pairs[:, 1])), shape=(n_nodes, n_nodes))
        tree = minimum_spanning_tree(graph).tocoo()
        tree_pairs = np.sort(np.column_stack([tree.row, tree.col]), axis=1)
        in_tree = np.zeros(len(pairs), dtype=bool)
        index = {tuple(pq): i for i, pq in enumerate(pairs.tolist())}
        in_tree[[index[tuple(pq)] for pq in tree_pairs.tolist()]] = True
        extra = rng.permutation(np.flatnonzero(~in_tree))[: n_edges - in_tree.sum()]
        chosen = np.sort(np.concatenate([np.flatnonzero(in_tree), extra]))
        return cls(f"planar{n_edges}", n_nodes, pairs[chosen], points)

    @classmethod
    def lattice(cls, rows: int, cols: int) -> Network:
        """A square ``rows`` x ``cols`` lattice (nodes row-major)."""
        idx = np.arange(rows * cols).reshape(rows, cols)
        horizontal = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
        vertical = np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])
        yy, xx = np.divmod(np.arange(rows * cols), cols)
        layout = np.column_stack([xx, -yy]).astype(float)
        return cls(
            f"lattice{rows}x{cols}", rows * cols, np.concatenate([horizontal, vertical]), layout
        )

    @classmethod
    def from_name(cls, name: str, seed: int = 0) -> Network:
        """``twin16``, ``planar<E>`` (e.g. ``planar143``) or ``lattice<R>x<C>``."""
        if name == "twin16":
            return cls.twin16()
        if m := re.fullmatch(r"planar(\d+)", name):
            return cls.random_planar(int(m.group(1)), seed=seed)
        if m := re.fullmatch(r"lattice(\d+)x(\d+)", name):
            return cls.lattice(int(m.group(1)), int(m.group(2)))
        raise ValueError(
            f"unknown network {name!r}; "
            "expected 'twin16', 'planar<edges>' or 'lattice<rows>x<cols>'"
        )

    # -- basic facts -----------------------------------------------------------------------
    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def labels(self) -> np.ndarray:
        """Node labels (N,), 1-based."""
        return np.arange(1, self.n_nodes + 1)

    def edge_labels(self) -> list[str]:
        """Edge names such as ``'1-4'`` (1-based), in edge order."""
        return [f"{a + 1}-{b + 1}" for a, b in self.edges.tolist()]

    def index_of(self, nodes: Sequence[int] | np.ndarray) -> np.ndarray:
        """0-based indices of 1-based node labels; ValueError naming a node that does not exist."""
        labels = np.asarray(nodes, dtype=np.intp).reshape(-1)
        bad = (labels < 1) | (labels > self.n_nodes)
        if bad.any():
            raise ValueError(
                f"node {int(labels[bad][0])} does not exist "
                f"(network {self.name!r} has nodes 1..{self.n_nodes})"
            )
        return labels - 1

    @cached_property
    def incidence(self) -> sp.csr_matrix:
        """Signed incidence matrix (E, N): +1 at an edge's first node, -1 at its second."""
        e = np.arange(self.n_edges)
        data = np.concatenate([np.ones(self.n_edges), -np.ones(self.n_edges)])
        return sp.csr_matrix(
            (data, (np.concatenate([e, e]), self.edges.T.ravel())),
            shape=(self.n_edges, self.n_nodes),
        )

    def to_dict(self) -> dict:
        """JSON-able description (edges as 1-based label pairs)."""
        return {"name": self.name, "n_nodes": self.n_nodes, "edges": (self.edges + 1).tolist()}

    # -- physics ---------------------------------------------------------------------------
    def drops(self, voltages: np.ndarray) -> np.ndarray:
        """Voltage drop across every edge, V[first] - V[second]: (..., N) -> (..., E)."""
        return voltages[..., self.edges[:, 0]] - voltages[..., self.edges[:, 1]]

    def power(self, conductance: np.ndarray, voltages: np.ndarray) -> np.ndarray:
        """Dissipated power sum_e k_e dV_e^2 (W for S and V): (..., E), (..., N) -> (...)."""
        return np.sum(conductance * self.drops(voltages) ** 2, axis=-1)

    def solver(self, fixed_nodes: Sequence[int] | np.ndarray) -> Solver:
        """A solver prepared (and cached) for one set of fixed nodes (1-based labels)."""
        key = tuple(int(n) for n in np.asarray(fixed_nodes).reshape(-1))
        solver = self._solvers.get(key)
        if solver is None:
            solver = Solver(self, self.index_of(key))
            self._solvers[key] = solver
        return solver

    def solve(self, conductance: np.ndarray, fixed: FixedSpec) -> np.ndarray:
        """Node voltages (..., N) for conductances (..., E) (S) and fixed node voltages.

        ``fixed`` is a mapping ``{node label: volts}`` or a pair ``(labels (F,), volts
        (..., F))``; leading dimensions of ``conductance`` and ``volts`` broadcast.
        """
        if isinstance(fixed, Mapping):
            labels = list(fixed.keys())
            volts = np.array([fixed[n] for n in labels], dtype=float)
        else:
            labels, volts = fixed
            volts = np.asarray(volts, dtype=float)
        return self.solver(labels)(np.asarray(conductance, dtype=float), volts)


class Solver:
    """The Kirchhoff solve for one set of fixed nodes, prepared once and reused.

    Up to `DENSE_MAX_FLOATING` floating nodes a compiled kernel assembles the reduced
    Laplacian edge by edge (O(E), no Python loop) and solves it with LAPACK, one network
    or a batch in parallel; above that, scipy's sparse LU per network.
    """

    def __init__(self, network: Network, fixed_idx: np.ndarray) -> None:
        n = network.n_nodes
        fixed_idx = np.asarray(fixed_idx, dtype=np.intp)
        if len(np.unique(fixed_idx)) != len(fixed_idx):
            raise ValueError("a node is fixed twice")
        is_fixed = np.zeros(n, dtype=bool)
        is_fixed[fixed_idx] = True
        _check_connected(network, is_fixed)
        free_idx = np.flatnonzero(~is_fixed)
        self.network = network
        self.fixed_idx = fixed_idx
        self.free_idx = free_idx
        self.n_free, self.n_fixed = len(free_idx), len(fixed_idx)
        # position of every node within the floating or the fixed block
        position = np.empty(n, dtype=np.intp)
        position[free_idx] = np.arange(self.n_free)
        position[fixed_idx] = np.arange(self.n_fixed)
        # kernel addressing: floating ends by block position, fixed ends by node index
        kernel_pos = np.where(is_fixed, np.arange(n), position)
        a, b = network.edges[:, 0], network.edges[:, 1]
        topo = np.stack([kernel_pos[a], kernel_pos[b], ~is_fixed[a], ~is_fixed[b]]).astype(np.int64)
        self._topo, self._free_idx = topo, free_idx.astype(np.int64)
        self.dense = self.n_free <= DENSE_MAX_FLOATING
        if not self.dense:
            self._sparse_setup(a, b, ~is_fixed, position)

    def __call__(self, conductance: np.ndarray, fixed_volts: np.ndarray) -> np.ndarray:
        """Node voltages (..., N) for conductances (..., E) S and fixed volts (..., F) V."""
        k = np.asarray(conductance, dtype=float)
        vc = np.asarray(fixed_volts, dtype=float)
        if vc.shape[-1:] != (self.n_fixed,) or k.shape[-1:] != (self.network.n_edges,):
            raise ValueError(
                f"expected conductances (..., {self.network.n_edges}) and fixed volts "
                f"(..., {self.n_fixed}), got {k.shape} and {vc.shape}"
            )
        if not (k.size and k.min() >= 0 and np.isfinite(k).all()):
            raise ValueError("conductances must be finite and >= 0 S (0 S is an open edge)")
        try:
            return self._solve(k, vc)
        except (SystemError, np.linalg.LinAlgError):  # a kernel's LAPACK call found L_ff singular
            raise np.linalg.LinAlgError(
                f"singular network {self.network.name!r}: some floating node is connected to "
                "no fixed node through non-zero conductances"
            ) from None

    def _solve(self, k: np.ndarray, vc: np.ndarray) -> np.ndarray:
        n_nodes, n_edges = self.network.n_nodes, k.shape[-1]
        if k.ndim == 1 and vc.ndim == 1 and self.dense:
            v_nodes = np.zeros(n_nodes)
            v_nodes[self.fixed_idx] = vc
            return self.solve_nodes(k, v_nodes)
        lead = np.broadcast_shapes(k.shape[:-1], vc.shape[:-1])
        k = np.ascontiguousarray(np.broadcast_to(k, (*lead, n_edges))).reshape(-1, n_edges)
        v_nodes = np.zeros((len(k), n_nodes))
        v_nodes[:, self.fixed_idx] = np.broadcast_to(vc, (*lead, self.n_fixed)).reshape(
            -1, self.n_fixed
        )
        if self.dense:
            out = np.empty_like(v_nodes)
            _solve_batch_kernel(k, v_nodes, self._topo, self._free_idx, out)
        else:
            out = v_nodes
            out[:, self.free_idx] = self._solve_sparse(k, v_nodes[:, self.fixed_idx])
        return out.reshape(*lead, n_nodes)

    def solve_nodes(self, k: np.ndarray, v_nodes: np.ndarray) -> np.ndarray:
        """Unbatched fast path, no input checks: conductances k (E,) S and ``v_nodes`` (N,)
        holding the fixed nodes' voltages (others ignored) -> node voltages (N,) V."""
        return _solve_one_kernel(k, v_nodes, self._topo, self._free_idx)

    # -- large networks --------------------------------------------------------------------
    def _sparse_setup(
        self, a: np.ndarray, b: np.ndarray, free: np.ndarray, pos: np.ndarray
    ) -> None:
        """Index pattern of L_ff (COO with duplicates) and of -L_fc for conductance vectors."""
        e = np.arange(self.network.n_edges)
        rows, cols, sign, edge = [], [], [], []
        for r, c, sgn in ((a, a, 1.0), (b, b, 1.0), (a, b, -1.0), (b, a, -1.0)):
            keep = free[r] & free[c]
            rows.append(pos[r][keep]), cols.append(pos[c][keep])
            sign.append(np.full(keep.sum(), sgn)), edge.append(e[keep])
        self._sp_rows, self._sp_cols = np.concatenate(rows), np.concatenate(cols)
        self._sp_sign, self._sp_edge = np.concatenate(sign), np.concatenate(edge)
        # rhs_f = sum over edges (f free, c fixed) of k_e V_c
        f_end = np.concatenate([a[free[a] & ~free[b]], b[free[b] & ~free[a]]])
        c_end = np.concatenate([b[free[a] & ~free[b]], a[free[b] & ~free[a]]])
        self._rhs_edge = np.concatenate([e[free[a] & ~free[b]], e[free[b] & ~free[a]]])
        self._rhs_row, self._rhs_fixed = pos[f_end], pos[c_end]

    def _solve_sparse(self, k: np.ndarray, vc: np.ndarray) -> np.ndarray:
        """Sparse LU per network, for large networks: k (B, E), vc (B, F) -> (B, nf)."""
        nf = self.n_free
        out = np.empty((len(k), nf))
        for i, (ki, vi) in enumerate(zip(k, vc, strict=True)):
            lff = sp.csc_matrix(
                (ki[self._sp_edge] * self._sp_sign, (self._sp_rows, self._sp_cols)), shape=(nf, nf)
            )
            rhs = np.bincount(
                self._rhs_row, weights=ki[self._rhs_edge] * vi[self._rhs_fixed], minlength=nf
            )
            out[i] = splu(lff).solve(rhs)
        return out


def _check_connected(network: Network, is_fixed: np.ndarray) -> None:
    """Raise DisconnectedError if a floating node has no path to a fixed node."""
    if not is_fixed.any():
        raise DisconnectedError("no node is fixed: node voltages are undefined")
    n = network.n_nodes
    a, b = network.edges[:, 0], network.edges[:, 1]
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    grounded = np.unique(comp[is_fixed])
    lost = ~np.isin(comp, grounded)
    if lost.any():
        raise DisconnectedError(
            f"node(s) {', '.join(str(i + 1) for i in np.flatnonzero(lost))} of network "
            f"{network.name!r} are connected to no fixed node"
        )
