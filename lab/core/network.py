"""Resistor-network topology and the Kirchhoff solve of free and clamped states.

Node labels are 1-based in every public API (the papers number the 16-edge
board's nodes 1..9); internally node ``label`` lives at index ``label - 1``.
A state is defined by a set of *fixed* nodes held at given voltages; the other
(floating) nodes take the voltages that minimise dissipated power, i.e. solve
the reduced weighted graph-Laplacian system ``L_ff V_f = -L_fc V_c``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

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

#: Drawing coordinates of twin16's nodes 1..9 (arbitrary units): a planar drawing of ours
#: (no two edges cross, edge lengths within a factor 2.1), twice as wide as tall for the
#: window's wide network panel. Nodes 1, 4, 6 (degree 5) form the middle triangle; 5 and 8
#: lie left of edge 1-6, 3 below 4-6, 7, 2 and 9 right of 1-4. It is not the paper's inset
#: drawing (whose node positions the papers do not give), only its topology.
TWIN16_LAYOUT: tuple[tuple[float, float], ...] = (
    (0.0, 1.0), (2.9, 0.0), (1.7, -1.2), (1.3, 0.0), (-2.0, 0.0),
    (0.0, -1.0), (1.7, 1.2), (-0.9, 0.0), (3.0, 1.2),
)  # fmt: skip

FixedSpec = Mapping[int, float] | tuple[Sequence[int] | np.ndarray, np.ndarray | Sequence[float]]


# ----------------------------------------------------------------------------- sparse Cholesky
#
# One direct solver for every size: L_ff is symmetric positive definite (a grounded weighted
# Laplacian), so after a fill-reducing order (SuperLU's minimum degree on A + A^T) its Cholesky
# factor has a fixed sparsity pattern that depends only on the topology and the fixed set.
# The pattern is worked out once per Solver (`CholeskyPattern`); each solve assembles the
# values straight into the factor's slots, factors left-looking and substitutes, all in one
# compiled kernel. On the 143-edge network this is ~15x fewer flops than a dense Cholesky;
# at 1e4 edges it is several times faster than SuperLU, which has no numeric-only refactor.


@dataclass(frozen=True)
class CholeskyPattern:
    """Symbolic Cholesky factor of L_ff (lower triangle, compressed by column).

    ``order`` (nf,): factor row of each floating-block position. ``colptr`` (nf+1,),
    ``rowidx`` (nnz,): row indices of each column, the diagonal first, then ascending.
    ``rowptr`` (nf+1,), ``rowcol``/``rowpos`` (nnz - nf,): for each row j, the columns
    k < j with L[j, k] != 0 and the slot of L[j, k]. ``edge_slots`` (E, 3): slots of an
    edge's (a, a), (b, b) and off-diagonal entries, -1 where that entry is not in L_ff.
    ``rhs_row``/``rhs_node`` (E,): for an edge with exactly one floating end, the factor
    row of that end and the node index of the fixed end (-1 otherwise).
    """

    order: np.ndarray
    colptr: np.ndarray
    rowidx: np.ndarray
    rowptr: np.ndarray
    rowcol: np.ndarray
    rowpos: np.ndarray
    edge_slots: np.ndarray
    rhs_row: np.ndarray
    rhs_node: np.ndarray
    factor_out: np.ndarray  # (nf,) node index of each factor row

    @property
    def nnz(self) -> int:
        return len(self.rowidx)

    @classmethod
    def build(cls, edges: np.ndarray, is_fixed: np.ndarray) -> CholeskyPattern:
        """Order and symbolically factor L_ff for ``edges`` (E, 2) and ``is_fixed`` (N,)."""
        n_nodes = len(is_fixed)
        free_idx = np.flatnonzero(~is_fixed)
        nf = len(free_idx)
        block = np.full(n_nodes, -1, dtype=np.int64)
        block[free_idx] = np.arange(nf)
        a, b = block[edges[:, 0]], block[edges[:, 1]]
        both = (a >= 0) & (b >= 0)
        order = _fill_reducing_order(a[both], b[both], nf)
        row = np.full(n_nodes, -1, dtype=np.int64)
        row[free_idx] = order
        ra, rb = row[edges[:, 0]], row[edges[:, 1]]
        # symbolic factorisation: pattern(L[:, j]) = lower adjacency of j united with the
        # patterns of j's children in the elimination tree (minus the children themselves)
        lower: list[set[int]] = [set() for _ in range(nf)]
        lo, hi = np.minimum(ra, rb)[both].tolist(), np.maximum(ra, rb)[both].tolist()
        for p, q in zip(lo, hi, strict=True):
            lower[p].add(q)
        children: list[list[int]] = [[] for _ in range(nf)]
        cols: list[list[int]] = []
        for j in range(nf):
            pattern = lower[j]
            for c in children[j]:
                pattern.update(cols[c][2:] if len(cols[c]) > 1 else ())
            below = sorted(pattern)
            cols.append([j, *below])
            if below:
                children[below[0]].append(j)
            lower[j] = set()  # free the memory
        # `cols[c][2:]` skips the diagonal and the parent (which is j itself)
        counts = np.array([len(c) for c in cols], dtype=np.int64)
        colptr = np.zeros(nf + 1, dtype=np.int64)
        np.cumsum(counts, out=colptr[1:])
        rowidx = np.fromiter((i for c in cols for i in c), dtype=np.int64, count=int(colptr[-1]))
        colof = np.repeat(np.arange(nf), counts)
        off = rowidx != colof
        by_row = np.lexsort((colof[off], rowidx[off]))
        rowcol = colof[off][by_row]
        rowpos = np.flatnonzero(off)[by_row]
        rowptr = np.zeros(nf + 1, dtype=np.int64)
        np.cumsum(np.bincount(rowidx[off], minlength=nf), out=rowptr[1:])
        slot = {(int(i), int(j)): s for s, (i, j) in enumerate(zip(rowidx, colof, strict=True))}
        edge_slots = np.full((len(edges), 3), -1, dtype=np.int64)
        for e in range(len(edges)):
            pa, pb = int(ra[e]), int(rb[e])
            if pa >= 0:
                edge_slots[e, 0] = slot[pa, pa]
            if pb >= 0:
                edge_slots[e, 1] = slot[pb, pb]
            if pa >= 0 and pb >= 0:
                edge_slots[e, 2] = slot[max(pa, pb), min(pa, pb)]
        one = (ra >= 0) != (rb >= 0)
        rhs_row = np.where(one, np.maximum(ra, rb), -1)
        rhs_node = np.where(one, np.where(ra >= 0, edges[:, 1], edges[:, 0]), -1)
        factor_out = np.empty(nf, dtype=np.int64)
        factor_out[order] = free_idx
        return cls(
            order, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots,
            rhs_row.astype(np.int64), rhs_node.astype(np.int64), factor_out,
        )  # fmt: skip

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """The arrays the compiled kernels take, in their order."""
        return (
            self.colptr, self.rowidx, self.rowptr, self.rowcol, self.rowpos,
            self.edge_slots, self.rhs_row, self.rhs_node, self.factor_out,
        )  # fmt: skip


def _fill_reducing_order(a: np.ndarray, b: np.ndarray, nf: int) -> np.ndarray:
    """Factor row of each of ``nf`` block positions joined by pairs (a, b): minimum degree.

    Uses SuperLU's multiple-minimum-degree ordering on A + A^T (scipy), computed from a
    unit-weight Laplacian; tiny systems keep their natural order.
    """
    if nf <= 3:
        return np.arange(nf, dtype=np.int64)
    deg = np.bincount(np.concatenate([a, b]), minlength=nf).astype(float) + 1.0
    lap = sp.csc_matrix(
        (np.concatenate([deg, -np.ones(2 * len(a))]),
         (np.concatenate([np.arange(nf), a, b]), np.concatenate([np.arange(nf), b, a]))),
        shape=(nf, nf),
    )  # fmt: skip
    lu = splu(lap, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})  # fmt: skip
    return np.asarray(lu.perm_c, dtype=np.int64)


@nb.njit(cache=True, nogil=True)
def _assemble(k, v_nodes, edge_slots, rhs_row, rhs_node, vals, rhs):
    """L_ff values into the factor's slots ``vals`` (nnz,) and -L_fc V_c into ``rhs`` (nf,)."""
    vals[:] = 0.0
    rhs[:] = 0.0
    for e in range(len(k)):
        ke = k[e]
        s = edge_slots[e, 0]
        if s >= 0:
            vals[s] += ke
        s = edge_slots[e, 1]
        if s >= 0:
            vals[s] += ke
        s = edge_slots[e, 2]
        if s >= 0:
            vals[s] -= ke
        r = rhs_row[e]
        if r >= 0:
            rhs[r] += ke * v_nodes[rhs_node[e]]


@nb.njit(cache=True, nogil=True)
def factor(colptr, rowidx, rowptr, rowcol, rowpos, vals, work):
    """Left-looking Cholesky in place on ``vals``; False if L_ff is not positive definite."""
    for j in range(len(colptr) - 1):
        for p in range(colptr[j], colptr[j + 1]):
            work[rowidx[p]] = vals[p]
        for q in range(rowptr[j], rowptr[j + 1]):
            k = rowcol[q]
            pk = rowpos[q]
            ljk = vals[pk]
            for p in range(pk, colptr[k + 1]):
                work[rowidx[p]] -= vals[p] * ljk
        d = work[j]
        if not d > 0.0:
            return False
        d = np.sqrt(d)
        vals[colptr[j]] = d
        for p in range(colptr[j] + 1, colptr[j + 1]):
            vals[p] = work[rowidx[p]] / d
    return True


@nb.njit(cache=True, nogil=True)
def _substitute(colptr, rowidx, vals, x):
    """Solve L L^T x = b in place on ``x`` (nf,) with the factor in ``vals``."""
    n = len(colptr) - 1
    for j in range(n):  # forward: L y = b
        xj = x[j] / vals[colptr[j]]
        x[j] = xj
        for p in range(colptr[j] + 1, colptr[j + 1]):
            x[rowidx[p]] -= vals[p] * xj
    for j in range(n - 1, -1, -1):  # back: L^T x = y
        s = x[j]
        for p in range(colptr[j] + 1, colptr[j + 1]):
            s -= vals[p] * x[rowidx[p]]
        x[j] = s / vals[colptr[j]]


@nb.njit(cache=True, nogil=True)
def substitute_many(colptr, rowidx, vals, x, n_rhs):
    """`_substitute` for the first ``n_rhs`` columns of ``x`` (nf, M) at once (one pass
    over the factor for all right-hand sides)."""
    n = len(colptr) - 1
    for j in range(n):
        d = vals[colptr[j]]
        for c in range(n_rhs):
            x[j, c] /= d
        for p in range(colptr[j] + 1, colptr[j + 1]):
            i = rowidx[p]
            lij = vals[p]
            for c in range(n_rhs):
                x[i, c] -= lij * x[j, c]
    for j in range(n - 1, -1, -1):
        for p in range(colptr[j] + 1, colptr[j + 1]):
            i = rowidx[p]
            lij = vals[p]
            for c in range(n_rhs):
                x[j, c] -= lij * x[i, c]
        d = vals[colptr[j]]
        for c in range(n_rhs):
            x[j, c] /= d


@nb.njit(cache=True, nogil=True)
def _solve_into(k, v_nodes, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, rhs_row,
                rhs_node, factor_out, out):  # fmt: skip
    """Node voltages ``out`` (N,) for conductances ``k`` (E,) and the fixed nodes' volts in
    ``v_nodes`` (N,) (other entries ignored). False if L_ff is singular."""
    nf = len(colptr) - 1
    vals = np.empty(len(rowidx))
    x = np.empty(nf)
    _assemble(k, v_nodes, edge_slots, rhs_row, rhs_node, vals, x)
    out[:] = v_nodes
    if not factor(colptr, rowidx, rowptr, rowcol, rowpos, vals, np.empty(nf)):
        return False
    _substitute(colptr, rowidx, vals, x)
    for i in range(nf):
        out[factor_out[i]] = x[i]
    return True


@nb.njit(cache=True, nogil=True)
def _solve_one_kernel(k, v_nodes, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, rhs_row,
                      rhs_node, factor_out):  # fmt: skip
    out = np.empty(len(v_nodes))
    if not _solve_into(k, v_nodes, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, rhs_row,
                       rhs_node, factor_out, out):  # fmt: skip
        out[:] = np.nan
    return out


@nb.njit(cache=True, nogil=True)
def _solve_serial_kernel(k, v_nodes, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots,
                         rhs_row, rhs_node, factor_out, out):  # fmt: skip
    """`_solve_batch_kernel` on the calling thread: a few networks (a board's two twins)
    without launching numba's thread pool, whose idle OpenMP workers spin."""
    for i in range(k.shape[0]):
        if not _solve_into(k[i], v_nodes[i], colptr, rowidx, rowptr, rowcol, rowpos, edge_slots,
                           rhs_row, rhs_node, factor_out, out[i]):  # fmt: skip
            out[i, :] = np.nan


#: Batches of fewer networks than this are solved on the calling thread
#: (`_solve_serial_kernel`): one-network paths (the emulator, the trainer, the live
#: process, the window's hover) never launch the thread pool; batched simulation keeps it.
PARALLEL_MIN_BATCH = 64


@nb.njit(cache=True, parallel=True)
def _solve_batch_kernel(k, v_nodes, colptr, rowidx, rowptr, rowcol, rowpos, edge_slots, rhs_row,
                        rhs_node, factor_out, out):  # fmt: skip
    """``k`` (B, E), ``v_nodes`` (B, N) -> ``out`` (B, N), networks in parallel (NaN rows
    where singular)."""
    for i in nb.prange(k.shape[0]):
        if not _solve_into(k[i], v_nodes[i], colptr, rowidx, rowptr, rowcol, rowpos, edge_slots,
                           rhs_row, rhs_node, factor_out, out[i]):  # fmt: skip
            out[i, :] = np.nan


class DisconnectedError(ValueError):
    """Some floating nodes are connected to no fixed node, so their voltage is undefined."""


class _TooFewPlanarEdges(ValueError):
    """`Network.random_planar`: the draw's triangulation has fewer edges than asked for."""


@dataclass(frozen=True)
class Network:
    """A resistor network: ``n_nodes`` nodes and ``edges`` (E, 2) of 0-based node indices.

    ``layout`` (N, 2) holds drawing coordinates (arbitrary units). A network read from a
    network file (`lab.core.netfile`) also has its per-edge ``parts`` (name -> (E,) values,
    `lab.core.netfile.PARTS`), its ``description`` and its ``source`` (absolute path).
    """

    name: str
    n_nodes: int
    edges: np.ndarray
    layout: np.ndarray
    _solvers: dict[tuple[int, ...], Solver] = field(default_factory=dict, repr=False, compare=False)
    parts: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    description: str = field(default="", compare=False)
    source: str = field(default="", compare=False)

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
        """The 16-edge, 9-node network of the twin board (see `TWIN16_EDGES`), drawn at
        `TWIN16_LAYOUT`."""
        edges = np.array(TWIN16_EDGES) - 1
        return cls("twin16", 9, edges, np.array(TWIN16_LAYOUT, dtype=float))

    @classmethod
    def random_planar(cls, n_edges: int, n_nodes: int | None = None, seed: int = 0) -> Network:
        """A connected planar network with exactly ``n_edges`` edges on random points.

        Points are uniform in the unit square; edges are a random spanning tree of their
        Delaunay triangulation plus randomly chosen further Delaunay edges. The default
        node count gives mean degree 4.5 (64 nodes for 143 edges; our choice, the papers
        do not state theirs); where that draw's triangulation has fewer than ``n_edges``
        edges (few points: a triangulation of n points has 3n - 3 - hull edges, e.g. 29 for
        planar30 at seed 0 on 13 points), the default takes the next node count whose draw
        allows them, so every ``planar<E>`` with E >= 3 exists at every seed.
        """
        if n_nodes is None:
            n_nodes = max(4, round(n_edges / 2.25))
            while True:
                try:
                    return cls.random_planar(n_edges, n_nodes, seed)
                except _TooFewPlanarEdges:
                    n_nodes += 1
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
            raise _TooFewPlanarEdges(
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
    def from_name(cls, name: str, seed: int = 0, base: str | Path | None = None) -> Network:
        """``twin16``, ``planar<E>`` (e.g. ``planar143``), ``lattice<R>x<C>``, the stem of a
        shipped network file (``data/networks``) or a path to a network file, relative to
        ``base`` (a directory; None: the working directory); see `lab.core.netfile`. A name
        (from a bench, task or study setting) that names no network is a `ConfigError`."""
        from lab.errors import ConfigError  # pydantic: only when there is an error to report

        if name == "twin16":
            return cls.twin16()
        try:
            if m := re.fullmatch(r"planar(\d+)", name):
                return cls.random_planar(int(m.group(1)), seed=seed)
            if m := re.fullmatch(r"lattice(\d+)x(\d+)", name):
                return cls.lattice(int(m.group(1)), int(m.group(2)))
        except ConfigError:
            raise
        except ValueError as exc:  # sizes the generators refuse (e.g. planar1)
            raise ConfigError(f"network {name!r}: {exc}") from None
        from lab.core import netfile

        if netfile.is_file_ref(name):
            ref = netfile.network_ref(name, base)
            path = netfile.shipped_path(ref) or Path(ref)
            return netfile.load_network_file(path, name=ref)
        if (path := netfile.shipped_path(name)) is not None:
            return netfile.load_network_file(path, name=name)
        shipped = "".join(f", {n!r}" for n in netfile.list_networks())
        raise ConfigError(
            f"unknown network {name!r}; expected 'twin16', 'planar<edges>', "
            f"'lattice<rows>x<cols>'{shipped} or a path to a network .toml file"
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
        out: dict = {"name": self.name, "n_nodes": self.n_nodes, "edges": (self.edges + 1).tolist()}
        if self.source:  # a network file: what is needed to draw and export it without it
            out["layout"] = np.asarray(self.layout, dtype=float).tolist()
            out["parts"] = {k: np.asarray(v).tolist() for k, v in self.parts.items()}
        return out

    # -- physics ---------------------------------------------------------------------------
    def drops(self, voltages: np.ndarray) -> np.ndarray:
        """Voltage drop across every edge, V[first] - V[second]: (..., N) -> (..., E)."""
        return voltages[..., self.edges[:, 0]] - voltages[..., self.edges[:, 1]]

    def power(self, conductance: np.ndarray, voltages: np.ndarray) -> np.ndarray:
        """Dissipated power sum_e k_e dV_e^2 (W for S and V): (..., E), (..., N) -> (...)."""
        return np.sum(conductance * self.drops(voltages) ** 2, axis=-1)

    def solver(self, fixed_nodes: Sequence[int] | np.ndarray) -> Solver:
        """A solver for fixed nodes given as 1-based labels; its fixed volts are taken in
        this order. Prepared once per node set (the same set in another order shares the
        prepared factorisation pattern) and cached per order."""
        key = tuple(int(n) for n in np.asarray(fixed_nodes).reshape(-1))
        solver = self._solvers.get(key)
        if solver is None:
            canon = tuple(sorted(key))
            solver = self._solvers.get(canon)
            if solver is None:
                solver = self._solvers[canon] = Solver(self, self.index_of(canon))
            if canon != key:
                solver = self._solvers[key] = solver.in_order(self.index_of(key))
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

    The sparsity pattern of the Cholesky factor of L_ff is worked out at construction
    (`CholeskyPattern`); every solve then assembles, factors and substitutes in one
    compiled kernel, one network or a batch in parallel, for any network size.
    """

    def __init__(self, network: Network, fixed_idx: np.ndarray) -> None:
        n = network.n_nodes
        fixed_idx = np.asarray(fixed_idx, dtype=np.intp)
        if len(np.unique(fixed_idx)) != len(fixed_idx):
            raise ValueError("a node is fixed twice")
        is_fixed = np.zeros(n, dtype=bool)
        is_fixed[fixed_idx] = True
        _check_connected(network, is_fixed)
        self.network = network
        self.fixed_idx = fixed_idx
        self.free_idx = np.flatnonzero(~is_fixed)
        self.n_free, self.n_fixed = len(self.free_idx), len(fixed_idx)
        self.pattern = CholeskyPattern.build(network.edges, is_fixed)
        self._args = self.pattern.kernel_args()

    def in_order(self, fixed_idx: np.ndarray) -> Solver:
        """This solver with its fixed volts taken in another order of the same fixed
        nodes ``fixed_idx`` (F,) 0-based; shares the prepared pattern (no new build)."""
        fixed_idx = np.asarray(fixed_idx, dtype=np.intp)
        if not np.array_equal(np.sort(fixed_idx), np.sort(self.fixed_idx)):
            raise ValueError("in_order needs the same fixed nodes")
        other = copy.copy(self)
        other.fixed_idx = fixed_idx
        return other

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
        out = self._solve(k, vc)
        if np.isnan(out).any():
            raise np.linalg.LinAlgError(
                f"singular network {self.network.name!r}: some floating node is connected to "
                "no fixed node through non-zero conductances"
            )
        return out

    def _solve(self, k: np.ndarray, vc: np.ndarray) -> np.ndarray:
        n_nodes, n_edges = self.network.n_nodes, k.shape[-1]
        if k.ndim == 1 and vc.ndim == 1:
            v_nodes = np.zeros(n_nodes)
            v_nodes[self.fixed_idx] = vc
            return self.solve_nodes(k, v_nodes)
        lead = np.broadcast_shapes(k.shape[:-1], vc.shape[:-1])
        k = np.ascontiguousarray(np.broadcast_to(k, (*lead, n_edges))).reshape(-1, n_edges)
        v_nodes = np.zeros((len(k), n_nodes))
        v_nodes[:, self.fixed_idx] = np.broadcast_to(vc, (*lead, self.n_fixed)).reshape(
            -1, self.n_fixed
        )
        out = np.empty_like(v_nodes)
        kernel = _solve_batch_kernel if len(k) >= PARALLEL_MIN_BATCH else _solve_serial_kernel
        kernel(k, v_nodes, *self._args, out)
        return out.reshape(*lead, n_nodes)

    def solve_nodes(self, k: np.ndarray, v_nodes: np.ndarray) -> np.ndarray:
        """Unbatched fast path, no input checks: conductances k (E,) S and ``v_nodes`` (N,)
        holding the fixed nodes' voltages (others ignored) -> node voltages (N,) V (NaN if
        the network is singular)."""
        return _solve_one_kernel(k, v_nodes, *self._args)


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
