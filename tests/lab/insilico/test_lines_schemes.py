"""The seed-2 line-classification target schemes (`lab.insilico.studies.seed2`: the
``lines-map``): what each scheme asks of the outputs, the symmetry that keeps the two
outputs equal, what the output edges do on the board, and the paired statistic."""

from __future__ import annotations

import numpy as np
import pytest

from lab.insilico.studies.seed2 import (
    MAP_SCHEMES,
    _continuous_map_run,
    _map_task,
    map_targets,
    run_map_point,
    scheme_map,
)

# two classes, two patterns each; a linear "network": V = x @ W (no ground: rows sum to 1)
W = np.array([[0.5, 0.1], [0.2, 0.3], [0.2, 0.2], [0.1, 0.4]])
X = np.array([[1, 2, 0, 0], [3, 0, 1, 0], [2, 0, 0, 5], [0, 4, 1, 0]], dtype=float)
LABELS = np.array([0, 0, 1, 1])
GROUPS = np.array([0, 1, 2, 3])


def free(x: np.ndarray) -> np.ndarray:
    return np.asarray(x) @ W


def test_nudge_asks_the_own_output_up_and_the_other_down_from_the_free_response() -> None:
    desired, readout = map_targets("nudge-0.2", X, LABELS, GROUPS, free)
    v = free(X)
    assert desired - v == pytest.approx(np.array([[0.2, -0.2], [0.2, -0.2],
                                                  [-0.2, 0.2], [-0.2, 0.2]]))  # fmt: skip
    r = readout(X, v)
    assert set(r) == {"higher output", "nearest centroid"}
    assert np.array_equal(r["higher output"], v.argmax(axis=1))
    # the training examples' own free outputs are nearest their own class centroid here
    assert np.array_equal(r["nearest centroid"], LABELS)


def test_scaled_targets_follow_the_example_brightness_class_means_do_not() -> None:
    bright = np.vstack([X, 2 * X[:1]])  # example 0 twice as bright, same class
    labels = np.r_[LABELS, 0]
    scaled, _ = map_targets("scaled", bright, labels, None, free)
    fixed, _ = map_targets("class-means", bright, labels, None, free)
    assert scaled[4] == pytest.approx(2 * scaled[0])
    assert fixed[4] == pytest.approx(fixed[0])
    # both classes' targets per volt come from the class means' free responses
    means = np.stack([bright[labels == c].mean(axis=0) for c in (0, 1)])
    per_volt = free(means) / means.sum(axis=1, keepdims=True)
    assert scaled == pytest.approx(per_volt[labels] * bright.sum(axis=1, keepdims=True))


def test_margin_and_pattern_targets() -> None:
    plain, _ = map_targets("class-means", X, LABELS, GROUPS, free)
    margin, _ = map_targets("class-means+0.5", X, LABELS, GROUPS, free)
    assert margin - plain == pytest.approx(0.5 * np.eye(2)[LABELS])
    pats, readout = map_targets("pattern-means", X, LABELS, GROUPS, free)
    assert pats == pytest.approx(free(X))  # one example per pattern: its own response
    assert np.array_equal(readout(X, free(X))["nearest target"], LABELS)
    assert set(MAP_SCHEMES) >= {"class-means", "pattern-means", "scaled", "normalised"}


def test_normalised_task_has_equal_brightness() -> None:
    task = _map_task("normalised", seed=0)
    for x in (task.train_inputs, task.test_inputs):
        assert x.sum(axis=1) == pytest.approx(6.0)
    plain = _map_task("class-means", seed=0)
    assert not np.allclose(plain.train_inputs.sum(axis=1), 6.0)


def test_uniform_start_keeps_the_two_outputs_equal_under_the_continuous_rule() -> None:
    # swapping the hidden nodes maps network, start and targets onto themselves: the
    # nudges ask V_7 and V_8 apart, yet from the uniform start they stay equal
    task = _map_task("nudge-0.2", seed=0)
    sym = _continuous_map_run(task, "nudge-0.2", steps=30, seed=0, spread=0.0)
    assert sym["v7_v8_max"] < 1e-9
    broken = _continuous_map_run(task, "nudge-0.2", steps=30, seed=0, spread=0.1)
    assert broken["v7_v8_max"] > 1e-4


def test_board_class_means_steps_every_output_edge_up_in_the_first_epoch() -> None:
    # the measured cause of the collapse: at mid-scale the output edges carry no free
    # drop, every clamped one is larger, so all four step up (16 pulses each)
    out = run_map_point({"system": "lines-map", "scheme": "class-means", "board": "ideal",
                         "seed": 0, "steps": 16})  # fmt: skip
    assert out["up_first_epoch"] == 1.0
    assert out["output_codes"] == [64 + 16] * 4


def _rec(scheme: str, seed: int, acc: float) -> dict:
    readout = "higher output" if scheme.startswith("nudge") else "nearest target"
    return {"point": {"system": "lines-map", "scheme": scheme, "board": "full", "seed": seed},
            "result": {"accuracy": {readout: acc}, "output_codes": [127, 127, 127, 120],
                       "up_first_epoch": 1.0, "v7_v8_max": 0.01}}  # fmt: skip


def test_scheme_map_pairs_with_class_means_by_seed() -> None:
    base = [0.5, 0.6, 0.55, 0.5, 0.45]
    better = [0.75, 0.8, 0.8, 0.7, 0.75]  # +0.2 to +0.3 on every seed
    records = [_rec("class-means", s, a) for s, a in enumerate(base)]
    records += [_rec("nudge-0.2", s, a) for s, a in enumerate(better)]
    records += [_rec("scaled", s, a) for s, a in enumerate(reversed(base))]
    rows = {(r["scheme"], r["readout"]): r for r in scheme_map(records)}
    nudge = rows[("nudge-0.2", "higher output")]
    assert nudge["minus_class_means"] == pytest.approx(np.mean(better) - np.mean(base))
    lo, hi = nudge["minus_class_means_ci95"]
    assert 0 < lo < nudge["minus_class_means"] < hi and nudge["beats_class_means"] is True
    scaled = rows[("scaled", "nearest target")]  # same values, other seeds: not above 0
    assert scaled["minus_class_means"] == pytest.approx(0.0, abs=1e-9)
    assert scaled["beats_class_means"] is False
    assert "minus_class_means" not in rows[("class-means", "nearest target")]
    assert nudge["output_code_mean"] == pytest.approx(125.25)
