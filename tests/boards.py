"""Boards for tests: emulated boards set up so that a clock pulse really steps edges."""

from __future__ import annotations

import numpy as np

from lab.emulator import EmulatedBoard, EmulatorConfig
from lab.emulator.board import CLAMPED, FREE


def learning_board(seed: int = 7) -> EmulatedBoard:
    """A board whose edges do step on a pulse: inputs on both twins, the clamped twin's
    output nudged, the bias where about half the edges are enabled."""
    board = EmulatedBoard(EmulatorConfig(seed=seed))
    nodes = np.array([0, 4, 8])
    board.drive(FREE, nodes, [1.0, 0.0, 0.0])
    board.drive(CLAMPED, nodes, [1.0, 0.0, 0.3])
    board.bias = 0.5 * (board.config.osc_low + board.config.osc_high)
    return board
