"""The Qt-free model of the live window: the bounded decimating history."""

from __future__ import annotations

import numpy as np
import pytest

from gui.model import History


def synthetic(start: int, n: int, n_edges: int = 16) -> dict[str, np.ndarray]:
    """n rows whose every column is a known function of the step number."""
    step = np.arange(start, start + n, dtype=np.int64)
    return {
        "step": step,
        "error": 1.0 / (1.0 + step),
        "positions": (step[:, None] + np.arange(n_edges)) % 128,
        "v_free": step[:, None] * 1e-3,
        "v_clamped": step[:, None] * 2e-3,
        "v_desired": np.full((n, 1), 4.0),
        "update_mask": (step[:, None] + np.arange(n_edges)) % 3 == 0,
    }


def check_consistent(h: History) -> None:
    snap = h.snapshot()
    assert np.all(np.diff(snap.step) > 0)
    np.testing.assert_array_equal(snap.positions, (snap.step[:, None] + np.arange(16)) % 128)
    np.testing.assert_allclose(snap.error, 1.0 / (1.0 + snap.step))
    np.testing.assert_allclose(snap.v_clamped[:, 0], snap.step * 2e-3)


@pytest.mark.parametrize("batch", [1, 7, 333, 5000])
def test_history_is_bounded_and_keeps_recent_steps_in_full(batch: int) -> None:
    h = History(16, 1, recent=100, archive=50)
    nbytes = h.nbytes
    total = 20_000 if batch > 1 else 3000
    for start in range(0, total, batch):
        h.extend(synthetic(start, min(batch, total - start)))
    assert h.total == total
    assert h.nbytes == nbytes  # preallocated, never grows
    assert len(h) <= 150
    snap = h.snapshot()
    assert len(snap) == len(h)
    np.testing.assert_array_equal(snap.step[-100:], np.arange(total - 100, total))
    old = snap.step[:-100]
    assert old[0] == 0 and np.all(old % h.stride == 0)  # every k-th step, k a power of 2
    assert h.stride & (h.stride - 1) == 0 and h.stride > 1
    check_consistent(h)
    assert h.first_error == 1.0
    assert h.last is not None and h.last["step"] == total - 1


def test_history_of_a_million_steps_stays_small() -> None:
    h = History(16, 1)
    for start in range(0, 1_000_000, 100_000):
        h.extend(synthetic(start, 100_000))
    assert len(h) <= h.recent + h.archive
    assert h.nbytes < 20_000_000
    check_consistent(h)


def test_row_at_gives_exact_or_nearest_earlier_row() -> None:
    h = History(16, 1, recent=10, archive=8)
    h.extend(synthetic(0, 100))
    assert h.row_at(95)["step"] == 95
    row = h.row_at(33)
    assert row is not None and row["step"] <= 33
    np.testing.assert_array_equal(row["positions"], (row["step"] + np.arange(16)) % 128)


def test_tests_are_kept_in_full_and_bump_the_version() -> None:
    h = History(16, 1, recent=10, archive=8)
    h.extend(synthetic(0, 100))
    version = h.version
    h.add_test(0, 0.25)
    h.add_test(50, 0.125)
    assert h.test_step == [0, 50] and h.test_error == [0.25, 0.125]
    assert h.version == version + 2
    h.clear()
    assert h.test_step == [] and h.total == 0 and h.snapshot().step.size == 0
