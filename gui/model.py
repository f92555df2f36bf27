"""Qt-free data model of the live window: a bounded step history.

`History` keeps the last ``recent`` steps at full resolution in a ring and, for everything
older, every k-th step in a decimated archive whose stride k doubles each time it fills,
so memory stays bounded (``recent + archive`` rows) however long the run. The live window
feeds it with the batches its training process sends (`lab.acquire.live`) and, in replay, with
the columns of a run file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.runs.schema import LIVE_COLUMNS, StepSchema

__all__ = ["History", "Snapshot"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Plot-ready columns of a `History`, oldest first, strictly increasing ``step``.

    Shapes (2-D columns are column-major views): ``step`` (n,) int64, ``error`` (n,) V^2,
    ``positions`` (n, E) int16 codes,
    ``v_free``/``v_clamped``/``v_desired`` (n, n_out) V, ``update_mask`` (n, E) bool,
    ``direction`` (n, E) int8 in {-1, 0, +1} (0 where the run records none),
    ``inputs`` (n, n_in) V applied, ``error_csum`` (n,) V^2: sum of the error of every
    step appended up to and including this one (exact even where rows were decimated);
    ``positions_sd`` (n, E) float32, the estimated codes' standard deviation in code steps
    (NaN for rows that had none), or None when the run has no uncertainties.
    """

    step: np.ndarray
    error: np.ndarray
    positions: np.ndarray
    v_free: np.ndarray
    v_clamped: np.ndarray
    v_desired: np.ndarray
    update_mask: np.ndarray
    direction: np.ndarray
    inputs: np.ndarray
    error_csum: np.ndarray
    positions_sd: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.step)


#: The history keeps the live batch columns (`lab.runs.schema.LIVE_COLUMNS`, with
#: ``update_mask`` always kept, ``positions_sd`` from the first batch that has it) and
#: the running error sum. ``_SD``: the column kept only once a batch carries it (memory:
#: 4 bytes x E per row).
_SD = "positions_sd"


class _Table:
    """Preallocated column arrays of ``capacity`` rows, dtypes and widths from the run's
    `StepSchema`. 2-D columns are stored column-major ((width, capacity) arrays seen through
    ``.T``): a per-edge min/max over many rows then reads contiguous memory."""

    def __init__(self, capacity: int, schema: StepSchema) -> None:
        self.cols: dict[str, np.ndarray] = {}
        self.capacity = capacity
        for c in schema.specs(LIVE_COLUMNS):
            self.add(c.name, c.shape, c.dtype)
        self.cols["error_csum"] = np.zeros(capacity, np.float64)

    def add(self, name: str, shape: tuple[int, ...], dtype: np.dtype,
            fill: float = 0) -> None:
        """One more column, every row ``fill``."""
        if shape:
            self.cols[name] = np.full((*shape, self.capacity), fill, dtype).T
        else:
            self.cols[name] = np.full(self.capacity, fill, dtype)

    def put(self, where: np.ndarray | slice, rows: dict[str, np.ndarray],
            pick: np.ndarray | slice) -> None:
        for name, col in self.cols.items():
            col[where] = rows[name][pick]

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.cols.values())


class History:
    """Bounded history of training steps (see module doc).

    ``recent`` rows at full resolution (a ring) plus at most ``archive`` decimated rows
    (every ``stride``-th step, stride doubling when full). Memory is preallocated and fixed:
    `nbytes` does not grow with the number of steps appended. Test evaluations (few) are
    kept in full as (step, error V^2) lists. ``n_inputs``: width of the ``inputs`` column.
    ``schema``: the columns' dtypes and widths (`lab.runs.schema.StepSchema`); the
    ``positions_sd`` column is kept from the first batch that carries it
    (`has_uncertainty`), NaN for rows appended before or without it.
    """

    def __init__(self, n_edges: int, n_outputs: int, n_inputs: int = 0, *,
                 recent: int = 65536, archive: int = 65536) -> None:
        if recent < 1 or archive < 2:
            raise ValueError("recent must be >= 1 and archive >= 2")
        self.n_edges, self.n_outputs = int(n_edges), int(n_outputs)
        self.n_inputs = int(n_inputs)
        self.recent, self.archive = int(recent), int(archive)
        self.schema = StepSchema(self.n_inputs, self.n_outputs, self.n_edges,
                                 has_updates=True, has_uncertainty=True)
        rows = StepSchema(self.n_inputs, self.n_outputs, self.n_edges, has_updates=True)
        self._ring = _Table(self.recent, rows)
        self._arch = _Table(self.archive, rows)
        self.clear()

    @property
    def has_uncertainty(self) -> bool:
        """True once a batch carried ``positions_sd`` (the history keeps it since)."""
        return _SD in self._ring.cols

    def _keep_uncertainty(self) -> None:
        spec = self.schema.spec(_SD)
        for table in (self._ring, self._arch):
            table.add(_SD, spec.shape, spec.dtype, np.nan)

    def clear(self) -> None:
        """Forget every step and test (capacity kept)."""
        self.total = 0          # steps ever appended
        self._head = 0          # next ring slot
        self._n_ring = 0        # rows held in the ring
        self._n_arch = 0        # rows held in the archive
        self.stride = 1         # archive keeps appended steps whose index % stride == 0
        self.test_step: list[int] = []
        self.test_error: list[float] = []
        self.version = 0        # bumps on every change (redraw only when it moved)
        self.last: dict[str, np.ndarray] | None = None
        self.first_error = float("nan")  # error of the first step appended, V^2
        self.error_sum = 0.0    # sum of the error of every step appended, V^2

    # -- feeding ---------------------------------------------------------------------------
    def extend(self, rows: dict[str, np.ndarray]) -> None:
        """Append columns of n consecutive steps (keys as in `Snapshot`; ``update_mask``,
        ``direction`` and ``inputs`` may be missing, ``error_csum`` is computed here)."""
        n = len(rows["step"])
        if n == 0:
            return
        rows = dict(rows)
        if rows.get(_SD) is not None and not self.has_uncertainty:
            self._keep_uncertainty()
        if self.has_uncertainty and rows.get(_SD) is None:
            rows[_SD] = np.full((n, self.n_edges), np.nan, np.float32)
        for name in ("update_mask", "direction"):
            if rows.get(name) is None:
                rows |= self.schema.empty(n, (name,))
        if rows.get("inputs") is None or self.n_inputs == 0:
            rows |= self.schema.empty(n, ("inputs",))
        for name in ("v_free", "v_clamped", "v_desired"):
            rows[name] = np.asarray(rows[name], np.float64).reshape(n, self.n_outputs)
        csum = np.cumsum(np.asarray(rows["error"], np.float64)) + self.error_sum
        rows["error_csum"] = csum
        self.error_sum = float(csum[-1])
        if self.total == 0:
            self.first_error = float(rows["error"][0])
        self._archive_rows(rows, n)
        self._ring_rows(rows, n)
        self.total += n
        self.version += 1
        self.last = {name: np.array(rows[name][-1]) for name in self._ring.cols}

    def _ring_rows(self, rows: dict[str, np.ndarray], n: int) -> None:
        cap = self.recent
        if n >= cap:  # only the last cap rows survive
            self._ring.put(slice(0, cap), rows, slice(n - cap, n))
            self._head, self._n_ring = 0, cap
            return
        first = min(n, cap - self._head)
        self._ring.put(slice(self._head, self._head + first), rows, slice(0, first))
        if first < n:
            self._ring.put(slice(0, n - first), rows, slice(first, n))
        self._head = (self._head + n) % cap
        self._n_ring = min(cap, self._n_ring + n)

    def _archive_rows(self, rows: dict[str, np.ndarray], n: int) -> None:
        index = self.total + np.arange(n)  # running index of each new row
        while True:
            pick = np.flatnonzero(index % self.stride == 0)
            room = self.archive - self._n_arch
            if len(pick) <= room:
                break
            # take what fits, then halve the archive (keep every other row) and double k
            if room:
                fit = pick[:room]
                self._arch.put(slice(self._n_arch, self._n_arch + room), rows, fit)
                self._n_arch += room
                index, rows = index[fit[-1] + 1:], {k: v[fit[-1] + 1:] for k, v in rows.items()}
            for col in self._arch.cols.values():
                kept = col[0:self._n_arch:2]
                col[: len(kept)] = kept
            self._n_arch = (self._n_arch + 1) // 2
            self.stride *= 2
        if len(pick):
            self._arch.put(slice(self._n_arch, self._n_arch + len(pick)), rows, pick)
            self._n_arch += len(pick)

    def add_test(self, step: int, error: float) -> None:
        """One test evaluation (taken before training step ``step``), error in V^2."""
        self.test_step.append(int(step))
        self.test_error.append(float(error))
        self.version += 1

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        """Rows a `snapshot` returns (bounded by ``recent + archive``)."""
        if not self._n_ring:
            return 0
        oldest = self._oldest_ring_step()
        return int(np.count_nonzero(self._arch.cols["step"][: self._n_arch] < oldest)) \
            + self._n_ring

    @property
    def nbytes(self) -> int:
        """Preallocated bytes (constant)."""
        return self._ring.nbytes + self._arch.nbytes

    def _oldest_ring_step(self) -> int:
        start = (self._head - self._n_ring) % self.recent
        return int(self._ring.cols["step"][start])

    def snapshot(self, names: tuple[str, ...] | None = None) -> Snapshot:
        """Decimated old steps followed by the recent full-resolution ring, oldest first.
        ``names``: only these columns are copied (the others are empty)."""
        cols = self._ring.cols
        if not self._n_ring or names is not None:
            empty = {k: v[:0].copy() for k, v in cols.items()}
            if not self._n_ring:
                return Snapshot(**empty)
        start = (self._head - self._n_ring) % self.recent
        steps_a = self._arch.cols["step"][: self._n_arch]
        n_old = int(np.searchsorted(steps_a, self._oldest_ring_step()))
        out = {}
        for name, col in cols.items():
            if names is not None and name not in names:
                out[name] = empty[name]
                continue
            if start + self._n_ring <= self.recent:
                parts = [col[start:start + self._n_ring]]
            else:
                parts = [col[start:], col[: self._head]]
            parts.insert(0, self._arch.cols[name][:n_old])
            if col.ndim == 2:  # keep 2-D columns column-major (see _Table)
                out[name] = np.concatenate([p.T for p in parts], axis=1).T
            else:
                out[name] = np.concatenate(parts)
        return Snapshot(**out)

    def row_at(self, step: int) -> dict[str, np.ndarray] | None:
        """The stored row of training step ``step`` or, if decimated away, the nearest
        earlier stored one (None before the first). O(log n), no copy of the history."""
        if not self._n_ring:
            return None
        start = (self._head - self._n_ring) % self.recent
        ring = self._ring.cols["step"]
        if start + self._n_ring <= self.recent:
            segments = [(start, start + self._n_ring)]
        else:
            segments = [(start, self.recent), (0, self._head)]
        for a, b in reversed(segments):  # newest rows first
            i = int(np.searchsorted(ring[a:b], step, side="right")) - 1
            if i >= 0:
                return {name: col[a + i].copy() for name, col in self._ring.cols.items()}
        arch = self._arch.cols["step"][: self._n_arch]
        i = min(int(np.searchsorted(arch, step, side="right")),
                int(np.searchsorted(arch, ring[start]))) - 1
        if i < 0:
            return None
        return {name: col[i].copy() for name, col in self._arch.cols.items()}
