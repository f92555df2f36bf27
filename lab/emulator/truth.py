"""The emulator's truth for scoring a rehearsal: every clock pulse's codes and updates.

`TruthWriter` is an `EmulatedBoard.on_pulse` callback writing an HDF5 file (SWMR, so a
scorer may read it while the emulator runs) with one row per clock pulse, in order:

- ``positions`` (P, E) int16: the digipot codes after the pulse. One code per edge for
  both twins: an edge's free and clamped digipots share their up/down and increment
  lines, so both hold this code (their resistances differ by their parts' R_AB, R_W);
- ``update_mask`` (P, E) bool: which edges stepped (enabled, and not a stuck edge);
- ``direction`` (P, E) int8: the rule's decision in {-1, 0, +1} per edge (also where
  the edge was not enabled).

Root attributes: ``network``, ``seed``, ``edges`` (E, 2) 1-based labels, ``initial_positions``
(E,) the codes before the first pulse, ``faults`` (the specs), and on close ``pulses`` and
``complete = True``. Training makes exactly one pulse per step, so row k is step k of a
run on a fresh emulator. Rows are buffered in memory and written and flushed by a
background thread at least every `FLUSH_EVERY` s, and on `close` (the file then is
intact: `twinlab emulate` closes it on SIGINT, SIGTERM and SIGHUP).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from lab.errors import ConfigError
from lab.paths import check_output_file

if TYPE_CHECKING:
    from lab.emulator.board import EmulatedBoard

#: most seconds between writes of the buffered rows to the file
FLUSH_EVERY = 0.5
#: datasets, dtypes
DATASETS = {"positions": np.int16, "update_mask": np.bool_, "direction": np.int8}
CHUNK_ROWS = 4096


def check_truth_path(path: str | Path, what: str = "--truth") -> Path:
    """``path`` as a Path if a new truth file can be created there; `ConfigError` in one
    line otherwise (`lab.paths.check_output_file`; an existing file is refused: a truth
    file is never overwritten)."""
    return check_output_file(path, what, never="a truth file is never overwritten")


class TruthWriter:
    """Records every clock pulse of ``board`` in a new HDF5 file at ``path`` (see module)."""

    def __init__(
        self, board: EmulatedBoard, path: str | Path, faults: tuple[str, ...] = ()
    ) -> None:
        self.path = check_truth_path(path)
        self.board = board
        n_edges = len(board.codes)
        try:
            self._file = h5py.File(self.path, "w", libver="latest")
        except OSError as exc:
            raise ConfigError(f"--truth {self.path}: cannot create ({exc})") from None
        f = self._file
        f.attrs["network"] = board.network.name
        f.attrs["seed"] = int(board.config.seed)
        f.attrs["edges"] = (board.network.edges + 1).astype(np.int32)
        f.attrs["initial_positions"] = board.codes.astype(np.int16)
        f.attrs["faults"] = json.dumps(list(faults))
        f.attrs["pulses"] = 0  # set on close
        f.attrs["complete"] = False
        shape, most, chunks = (0, n_edges), (None, n_edges), (CHUNK_ROWS, n_edges)
        self._sets = {
            name: f.create_dataset(name, shape, dtype=dtype, maxshape=most, chunks=chunks)
            for name, dtype in DATASETS.items()
        }
        f.swmr_mode = True
        self.rows = 0
        self._buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._lock = threading.Lock()  # the buffer and the file
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._flusher, name="truth-writer", daemon=True)
        self._thread.start()
        board.on_pulse.append(self.record)

    def record(self, board: EmulatedBoard) -> None:
        """One pulse's row (an `EmulatedBoard.on_pulse` callback; copies, so cheap)."""
        row = (board.codes.copy(), board.last_mask.copy(), board.last_direction.copy())
        with self._lock:
            if not self._closed:
                self._buffer.append(row)

    def _flusher(self) -> None:
        while not self._stop.wait(FLUSH_EVERY):
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows and flush the file (readers see them)."""
        with self._lock:
            if self._closed:
                return
            rows, self._buffer = self._buffer, []
            if rows:
                n, m = self.rows, self.rows + len(rows)
                for i, (name, dtype) in enumerate(DATASETS.items()):
                    data = self._sets[name]
                    data.resize(m, axis=0)
                    data[n:m] = np.array([r[i] for r in rows], dtype=dtype)
                self.rows = m
            self._file.flush()

    def close(self) -> None:
        """Stop recording, write every row, mark the file complete and close it (idempotent)."""
        if self._closed:
            return
        if self.record in self.board.on_pulse:
            self.board.on_pulse.remove(self.record)
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        with self._lock:
            self._closed = True
            self._file.close()
        with h5py.File(self.path, "r+", locking=False) as f:  # SWMR mode cannot set attrs
            f.attrs["pulses"] = self.rows
            f.attrs["complete"] = True


__all__ = ["DATASETS", "FLUSH_EVERY", "TruthWriter", "check_truth_path"]
