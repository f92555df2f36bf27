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

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
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

#: Above this many floating nodes the solver uses sparse LU instead of dense LAPACK.
DENSE_MAX_FLOATING = 400
#: Batched solves run in blocks of this many networks (keeps temporaries in cache).
BATCH_BLOCK = 4096
#: Above this many entries in the dense Laplacian scatter matrix, assemble it sparsely.
DENSE_SCATTER_MAX = 4_000_000

FixedSpec = Mapping[int, float] | tuple[Sequence[int] | np.ndarray, np.ndarray | Sequence[float]]


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

    Assembling the reduced Laplacian is one matrix product with a precomputed scatter
    matrix (no Python loop per step); small systems use LAPACK Cholesky (single) or
    batched ``numpy.linalg.solve``; large ones a sparse LU per network.
    """

    def __init__(self, network: Network, fixed_idx: np.ndarray) -> None:
        n = network.n_nodes
        fixed_idx = np.asarray(fixed_idx, dtype=np.intp)
        if len(np.unique(fixed_idx)) != len(fixed_idx):
            raise ValueError("a node is fixed twice")
        is_fixed = np.zeros(n, dtype=bool)
        is_fixed[fixed_idx] = True
        free_idx = np.flatnonzero(~is_fixed)
        self.network = network
        self.fixed_idx = fixed_idx
        self.free_idx = free_idx
        nf, nc = len(free_idx), len(fixed_idx)
        self.n_free, self.n_fixed = nf, nc
        _check_connected(network, is_fixed)

        # position of every node within the floating (or fixed) block, -1 if not in it
        pos_free = np.full(n, -1)
        pos_free[free_idx] = np.arange(nf)
        pos_fixed = np.full(n, -1)
        pos_fixed[fixed_idx] = np.arange(nc)
        a, b = network.edges[:, 0], network.edges[:, 1]
        e = np.arange(network.n_edges)
        # L = sum_e k_e (u_a - u_b)(u_a - u_b)^T: entries (a,a),(b,b) +k, (a,b),(b,a) -k
        rows, cols, sign, edge = [], [], [], []
        for r, c, s in ((a, a, 1.0), (b, b, 1.0), (a, b, -1.0), (b, a, -1.0)):
            rows.append(r), cols.append(c), sign.append(np.full(len(e), s)), edge.append(e)
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        sign, edge = np.concatenate(sign), np.concatenate(edge)

        ff = (pos_free[rows] >= 0) & (pos_free[cols] >= 0)
        fc = (pos_free[rows] >= 0) & (pos_fixed[cols] >= 0)
        ff_flat = pos_free[rows[ff]] * nf + pos_free[cols[ff]]
        fc_flat = pos_free[rows[fc]] * nc + pos_fixed[cols[fc]]
        # scatter matrices: (k @ S) is the flattened block
        self._scatter_ff = sp.csr_matrix(
            (sign[ff], (edge[ff], ff_flat)), shape=(network.n_edges, nf * nf)
        )
        self._scatter_fc = sp.csr_matrix(
            (sign[fc], (edge[fc], fc_flat)), shape=(network.n_edges, nf * nc)
        )
        self.dense = nf <= DENSE_MAX_FLOATING
        if self.dense and network.n_edges * nf * nf <= DENSE_SCATTER_MAX:
            # both blocks from one product: k @ [S_ff | S_fc]
            self._dense: np.ndarray | None = sp.hstack(
                [self._scatter_ff, self._scatter_fc]
            ).toarray()
        else:
            self._dense = None
        # sparse pattern of L_ff for the large-network path
        self._sp_rows = pos_free[rows[ff]]
        self._sp_cols = pos_free[cols[ff]]
        self._sp_sign = sign[ff]
        self._sp_edge = edge[ff]

    def _blocks(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L_ff (..., nf, nf) and L_fc (..., nf, nc) for conductances k (..., E)."""
        nf, nc = self.n_free, self.n_fixed
        if self._dense is not None:
            both = k @ self._dense
            lff, lfc = both[..., : nf * nf], both[..., nf * nf :]
        else:
            flat = k.reshape(-1, k.shape[-1])
            lff = np.asarray((self._scatter_ff.T @ flat.T).T)
            lfc = np.asarray((self._scatter_fc.T @ flat.T).T)
        lead = k.shape[:-1]
        return lff.reshape(*lead, nf, nf), lfc.reshape(*lead, nf, nc)

    def __call__(self, conductance: np.ndarray, fixed_volts: np.ndarray) -> np.ndarray:
        """Node voltages (..., N) for conductances (..., E) and fixed volts (..., F)."""
        k = np.asarray(conductance, dtype=float)
        vc = np.asarray(fixed_volts, dtype=float)
        if vc.shape[-1] != self.n_fixed or k.shape[-1] != self.network.n_edges:
            raise ValueError(
                f"expected conductances (..., {self.network.n_edges}) and fixed volts "
                f"(..., {self.n_fixed}), got {k.shape} and {vc.shape}"
            )
        if k.ndim == 1 and vc.ndim == 1 and self.dense:
            return self.solve_one(k, vc)
        lead = np.broadcast_shapes(k.shape[:-1], vc.shape[:-1])
        k = np.broadcast_to(k, (*lead, k.shape[-1])).reshape(-1, k.shape[-1])
        vc = np.broadcast_to(vc, (*lead, self.n_fixed)).reshape(-1, self.n_fixed)
        out = np.empty((len(k), self.network.n_nodes))
        out[:, self.fixed_idx] = vc
        if self.n_free:
            if self.dense:
                for i in range(0, len(k), BATCH_BLOCK):  # cache-sized blocks
                    out[i : i + BATCH_BLOCK, self.free_idx] = self._solve_dense(
                        k[i : i + BATCH_BLOCK], vc[i : i + BATCH_BLOCK]
                    )
            else:
                out[:, self.free_idx] = self._solve_sparse(k, vc)
        return out.reshape(*lead, self.network.n_nodes)

    def solve_one(self, k: np.ndarray, vc: np.ndarray) -> np.ndarray:
        """Unbatched fast path: k (E,), vc (F,) -> node voltages (N,). No input checks."""
        out = np.empty(self.network.n_nodes)
        out[self.fixed_idx] = vc
        if self.n_free:
            lff, lfc = self._blocks(k)
            _, free, info = lapack.dposv(lff, lfc @ -vc)
            out[self.free_idx] = free if info == 0 else np.linalg.solve(lff, lfc @ -vc)
        return out

    def _solve_dense(self, k: np.ndarray, vc: np.ndarray) -> np.ndarray:
        """Batched LAPACK solve: k (B, E), vc (B, F) -> floating voltages (B, nf)."""
        lff, lfc = self._blocks(k)
        rhs = np.matmul(lfc, -vc[:, :, None])
        return np.linalg.solve(lff, rhs)[:, :, 0]

    def _solve_sparse(self, k: np.ndarray, vc: np.ndarray) -> np.ndarray:
        """Sparse LU per network, for large networks: k (B, E), vc (B, F) -> (B, nf)."""
        nf, nc = self.n_free, self.n_fixed
        out = np.empty((len(k), nf))
        for i, (ki, vi) in enumerate(zip(k, vc, strict=True)):
            lff = sp.csc_matrix(
                (ki[self._sp_edge] * self._sp_sign, (self._sp_rows, self._sp_cols)), shape=(nf, nf)
            )
            rhs = -((self._scatter_fc.T @ ki).reshape(nf, nc) @ vi)
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
