"""`lab.tasks.lines.readout_ceilings` on hand-worked cases."""

from __future__ import annotations

import numpy as np

from lab.tasks.lines import READOUTS, readout_ceilings


def test_separable_points_reach_one_in_every_family_that_can() -> None:
    # class 0 brighter on pixel 1, class 1 on pixel 2: V_1 - V_2 > 0 tells them apart
    x = np.array([[3.0, 1.0], [4.0, 1.0], [1.0, 3.0], [1.0, 5.0]])
    y = np.array([0, 0, 1, 1])
    r = readout_ceilings(x, y)
    assert set(r) == set(READOUTS)
    assert r["affine"] == r["difference"] == r["argmax"] == 1.0
    # one output (non-negative weights): pixel 1 alone, threshold 2 V
    assert r["one output"] == 1.0


def test_xor_is_three_quarters_for_an_affine_test() -> None:
    x = np.array([[1.0, 1.0], [3.0, 3.0], [1.0, 3.0], [3.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    r = readout_ceilings(x, y)
    assert r["affine"] == 0.75
    # sum-zero weights, no threshold: u (x1 - x2) is 0 on both class-0 points (a tie is
    # no decision) and of opposite signs on the class-1 points: 1 of 4
    assert r["argmax"] == 0.25


def test_brightness_alone_is_a_one_output_test() -> None:
    # class 0 dim, class 1 bright, on the same pixels: one output with a threshold works,
    # the difference of two outputs (sum u = 0) sees nothing of a uniform image
    x = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [5.0, 5.0]])
    y = np.array([0, 0, 1, 1])
    r = readout_ceilings(x, y)
    assert r["one output"] == 1.0 and r["affine"] == 1.0
    assert r["difference"] == 0.5  # a threshold alone: one class
    assert r["argmax"] == 0.0  # every point a tie
