"""Tests for lab.insilico.studies.discrete: the statistics on synthetic records with known answers,
each study's run_point at tiny sizes (with physics that must hold there), and that
run_study writes the figure and the statistics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lab.insilico.studies import STUDIES, StudyArgs, run_study
from lab.insilico.studies.discrete import (
    allostery_points,
    allostery_statistics,
    benefit_vs_input_scale,
    final_window,
    monotonicity_in_p,
    paired_statistics,
    regression_points,
    run_allostery_point,
    run_experiment_point,
    run_regression_point,
    trend_statistics,
)

PS = np.array([0.05, 0.1, 0.2, 0.5, 1.0])


def test_final_window_averages_the_last_tenth() -> None:
    steps = np.arange(0, 1001, 50)  # 21 evaluations; the last 10 % are steps 900, 950, 1000
    scaled = np.tile(np.arange(21.0)[:, None], (1, 3))
    np.testing.assert_allclose(final_window(scaled, steps, 1000), [19.0, 19.0, 19.0])


def test_trend_statistics_recovers_a_known_slope_and_its_direction() -> None:
    rng = np.random.default_rng(0)
    tasks = 12
    # error = 0.3 + 0.05 log10 p + noise: falls as p falls, 0.05 per decade
    final = 0.3 + 0.05 * np.log10(PS)[None, :] + rng.normal(0, 0.01, (tasks, len(PS)))
    s = trend_statistics(final, PS)
    lo, hi = s["slope_ci95"]
    assert lo < 0.05 < hi and hi - lo < 0.03
    assert s["slope_per_decade_p"] == pytest.approx(0.05, abs=0.01)
    assert s["page_p_value"] < 1e-3 and s["slope_t_p_value"] < 1e-3
    assert s["fraction_tasks_lowest_p_better"] == 1.0
    # the opposite trend: negative slope, Page test not significant
    r = trend_statistics(final[:, ::-1].copy(), PS)
    assert r["slope_per_decade_p"] == pytest.approx(-0.05, abs=0.01)
    assert r["page_p_value"] > 0.5
    # no trend: the interval covers 0
    flat = 0.3 + rng.normal(0, 0.01, (tasks, len(PS)))
    f = trend_statistics(flat, PS)
    assert f["slope_ci95"][0] < 0 < f["slope_ci95"][1]
    with pytest.raises(ValueError, match="ascending"):
        trend_statistics(final, PS[::-1])


def test_allostery_statistics_benefit_per_o_and_its_shrinking_trend() -> None:
    rng = np.random.default_rng(1)
    true_benefit = {1: 10.0, 2: 4.0, 4: 1.5, 8: 1.0}  # E(p=1) / E(p=0.05)
    log_final = {}
    for o, b in true_benefit.items():
        # log10 E linear in log10 p, from -2 at p = 0.05 to -2 + log10(b) at p = 1
        x = (np.log10(PS) - np.log10(PS[0])) / -np.log10(PS[0])
        rows = -2.0 + math.log10(b) * x[None, :] + rng.normal(0, 0.02, (10, len(PS)))
        log_final[o] = rows
    s = allostery_statistics(log_final, PS)
    for o, b in true_benefit.items():
        got = s["by_O"][str(o)]
        assert got["benefit_ratio"] == pytest.approx(b, rel=0.1)
        lo, hi = got["benefit_ratio_ci95"]
        assert lo < b < hi
    assert s["by_O"]["8"]["spread_log10"] < 0.05 < s["by_O"]["1"]["spread_log10"]
    trend = s["benefit_vs_log2_O"]
    assert trend["slope"] < 0 and trend["slope_ci95"][1] < 0 and trend["p_value"] < 1e-3
    assert s["spread_vs_log2_O"]["slope"] < 0


def test_paired_statistics_detects_lower_error_below_p_1() -> None:
    rng = np.random.default_rng(2)
    ps = np.array([0.1, 0.5, 1.0])
    sync = rng.uniform(0.1, 0.5, 15)
    final = np.column_stack([sync * 0.7, sync, sync])  # p = 0.1: 30 % lower, p = 0.5: same
    s = paired_statistics(final, ps)
    assert s["by_p"]["0.1"]["wilcoxon_p_value"] < 1e-3
    assert s["by_p"]["0.1"]["fraction_tasks_lower"] == 1.0
    assert s["by_p"]["0.1"]["mean_minus_sync"] == pytest.approx(-0.3 * sync.mean(), rel=1e-3)
    assert s["by_p"]["0.1"]["geomean_ratio_to_sync"] == pytest.approx(0.7, rel=1e-4)
    assert s["by_p"]["0.1"]["wilcoxon_log_p_value"] < 1e-3
    assert s["by_p"]["0.5"]["wilcoxon_p_value"] == 1.0  # identical: nothing to detect
    assert s["pooled_p_below_1"]["mean"] == pytest.approx(0.85 * sync.mean(), rel=1e-3)
    assert s["mean_final_sync"] == pytest.approx(sync.mean(), rel=1e-4)
    worse = paired_statistics(np.column_stack([sync * 1.3, sync, sync]), ps)
    assert worse["by_p"]["0.1"]["wilcoxon_p_value"] > 0.5
    assert worse["by_p"]["0.1"]["wilcoxon_log_p_value"] > 0.5


#: the in-silico studies' network here: planar143's kind, 27 nodes (O = 8 allostery needs 20)
SMALL = "planar60"
BATCH = {
    "study": "test", "network": SMALL, "seeds": 1, "eta": 0.5, "n_positions": 128,
    "sigma_max": 0.05,
}  # fmt: skip


def test_regression_point_short_runs_learn_faster_at_high_p() -> None:
    """At equal (short) steps, error falls faster the more edges update per step: the
    trend statistic must see that direction, and the offset drift must scale with p."""
    point = {**BATCH, "p": [0.05, 0.2, 1.0], "steps": 300, "evals": 30, "n_inputs": 2,
             "n_outputs": 2, "n_train": 16, "n_test": 64}  # fmt: skip
    finals, tops = [], []
    for seed in range(5):
        res = run_regression_point({**point, "task_seed": seed})
        assert len(res["eval_steps"]) == 31 and np.shape(res["scaled"]) == (31, 3)
        assert res["scaled"][0] == [1.0, 1.0, 1.0]
        assert all(np.isfinite(res["final"]))
        finals.append(res["final"])
        tops.append(res["codes_at_top"])
    finals = np.array(finals)
    s = trend_statistics(finals, np.array(point["p"]))
    assert s["slope_ci95"][1] < 0  # error rises as p falls, at 300 steps
    assert trend_statistics(-finals, np.array(point["p"]))["page_p_value"] < 0.05
    tops = np.array(tops)
    # p = 0.05: ~15 updates, cannot climb from code 64 to 127; p = 1: drifted there
    assert np.all(tops[:, 0] == 0) and np.all(tops[:, 2] > 0.3)


def test_allostery_point_shapes_and_learning() -> None:
    point = {**BATCH, "p": [0.5, 1.0], "seeds": 2, "steps": 200, "evals": 20, "n_io": 2,
             "task_seed": 0}  # fmt: skip
    res = run_allostery_point(point)
    assert res["p"] == [0.5, 0.5, 1.0, 1.0] and len(res["seed"]) == 4
    assert res["seed"][:2] == res["seed"][2:]  # paired offsets across p
    assert np.shape(res["scaled"]) == (21, 4)
    assert max(res["final"]) < 1.0  # learning lowers the error


def test_experiment_point_sets_p_through_the_calibrated_bias() -> None:
    point = {
        "study": "test", "bench": "emulator", "network": "twin16", "n_io": 2,
        "p": [0.25, 1.0], "boards": 1, "steps": 200, "eta": 0.5, "calibration_points": 6,
        "calibration_pulses": 200, "task_seed": 1,
    }  # fmt: skip
    res = run_experiment_point(point)
    assert res["p"] == [0.25, 1.0] and res["board"] == [0, 0]
    assert res["p_observed"][0] == pytest.approx(0.25, abs=0.05)
    assert res["p_observed"][1] == 1.0
    assert len(res["curve"][0]) == 100 and res["curve"][0][0] <= 1.0 + 1e-9
    assert max(res["final"]) < 0.2  # task 1 is learnable on board 0


def test_the_network_argument_replaces_planar143_and_the_board_study_refuses_it() -> None:
    for name in ("discrete-regression", "discrete-allostery"):
        points = STUDIES[name].points
        assert {p["network"] for p in points(StudyArgs(tasks=1))} == {"planar143"}
        assert {p["network"] for p in points(StudyArgs(tasks=1, network=SMALL))} == {SMALL}
    board = STUDIES["experiment-allostery"].points
    assert {p["network"] for p in board(StudyArgs(tasks=1, network="twin16"))} == {"twin16"}
    with pytest.raises(ValueError, match=r"field 'network'.*twin16"):
        board(StudyArgs(tasks=1, network=SMALL))


@pytest.mark.parametrize("name", ["discrete-regression", "discrete-allostery",
                                  "experiment-allostery"])  # fmt: skip
def test_run_study_writes_figure_and_statistics(name: str, tmp_path) -> None:
    network = None if name == "experiment-allostery" else SMALL  # the board is twin16
    args = StudyArgs(tasks=2, seeds=1, steps=60, network=network, out=tmp_path, workers=1,
                     progress=False)  # fmt: skip
    summary = run_study(STUDIES[name], args)
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["statistics"] == json.loads(json.dumps(summary["statistics"]))
    stats_ = saved["statistics"]
    if name == "experiment-allostery":
        assert set(stats_["by_p"]) == {"0.1", "0.25", "0.5", "0.75", "1"}
        assert isinstance(stats_["reproduced"], bool)
    else:
        assert "primary" in stats_ and "control_sigma_0" in stats_
        if name == "discrete-allostery":
            assert set(stats_["primary"]["by_O"]) == {"1", "2", "4", "8"}
        else:
            assert stats_["primary"]["tasks"] == 2 and "slope_ci95" in stats_["primary"]
    lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
    assert len(lines) == summary["points"]


# ----------------------------------------------------------------------------- input scale


def test_monotonicity_in_p_finds_a_reversal_and_passes_a_monotone_curve() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.02, (16, len(PS)))
    falling = np.log10(PS)[None, :] * 0.3 + noise  # lower p, lower error
    m = monotonicity_in_p(falling, PS)
    assert m["monotone"] and m["ordered"] and m["best_p"] == 0.05 and not m["reversals"]
    assert len(m["neighbours"]) == len(PS) - 1
    assert all(q["ratio"] < 1 for q in m["neighbours"])
    dip = np.array([0.3, 0.1, 0.0, 0.2, 0.4])[None, :] + noise  # p = 0.2 beats 0.05
    m = monotonicity_in_p(dip, PS)
    assert not m["monotone"] and not m["ordered"] and m["best_p"] == 0.2
    assert [(q["p_lo"], q["p_hi"]) for q in m["reversals"]] == [(0.05, 0.1), (0.1, 0.2)]
    assert m["reversals"][0]["ratio"] == pytest.approx(10**0.2, rel=0.05)
    assert m["reversals"][0]["t_p_value"] < 1e-6


def _scale_record(v_max: float, task: int, final_by_p: list[float], rail: float) -> dict:
    ps = [0.05, 0.2, 1.0]
    return {
        "point": {"sigma_max": 0.05, "v_max": v_max, "p": ps, "task_seed": task},
        "result": {"final": [f for f in final_by_p for _ in range(2)],  # 2 seeds, p-major
                   "codes_at_top": [rail] * 6, "codes_at_bottom": [0.0] * 6},
    }  # fmt: skip


def test_benefit_vs_input_scale_on_known_records() -> None:
    """Benefit 1 at 5 V (every p alike, 90 % codes at the top), 4 at 200 V (p = 1 four
    times worse), sorted by v_max whatever the record order; control arm ignored."""
    recs = []
    for t in range(4):
        wobble = 1.0 + 0.01 * t
        recs.append(_scale_record(200.0, t, [0.01 * wobble, 0.008, 0.04 * wobble], 0.3))
        recs.append(_scale_record(5.0, t, [0.2 * wobble, 0.2, 0.2 * wobble], 0.9))
    control = _scale_record(5.0, 0, [1.0, 1.0, 9.0], 0.0)
    control["point"]["sigma_max"] = 0.0
    rows = benefit_vs_input_scale([*recs, control])
    assert [r["v_max"] for r in rows] == [5.0, 200.0]
    assert rows[0]["benefit"] == pytest.approx(1.0) and rows[1]["benefit"] == pytest.approx(4.0)
    assert rows[1]["benefit_ci95"][0] == pytest.approx(4.0, rel=1e-6)  # the same every task
    assert rows[0]["fraction_codes_at_rail"] == pytest.approx(0.9)
    assert rows[1]["fraction_codes_at_rail_by_p"] == [0.3, 0.3, 0.3]
    assert rows[1]["monotone_in_p"]["best_p"] == 0.2 and not rows[1]["monotone_in_p"]["ordered"]
    assert rows[0]["tasks"] == 4


def test_the_input_scale_axis_points() -> None:
    pts = regression_points(StudyArgs(tasks=2))
    primary = sorted({p["v_max"] for p in pts if p["sigma_max"] > 0})
    assert primary[0] == 5.0 and primary[-1] >= 200.0 and len(primary) >= 4
    assert {p["v_max"] for p in pts if p["sigma_max"] == 0} == {5.0}  # sigma = 0: scale-free
    pts = allostery_points(StudyArgs(tasks=1, v_max=(50.0, 10.0)))
    by_o = {o: sorted({p["v_max"] for p in pts if p["n_io"] == o}) for o in (1, 2, 4, 8)}
    assert by_o == {1: [10.0], 2: [10.0, 50.0], 4: [10.0], 8: [10.0]}  # no 5 V: the smallest


def test_larger_inputs_free_the_codes_and_bring_a_benefit() -> None:
    """planar143 regression, 3 tasks x 2 seeds, 4000 steps, p in {0.2, 1}: at 0-5 V the
    comparator offset pins ~80 % of the codes at a rail whatever p is and there is no
    benefit (measured 0.99); at 0-200 V under half are (0.43) and p = 1 ends worse than
    p = 0.2 (benefit 1.79). Tolerances: about half the measured gaps."""
    pts = regression_points(StudyArgs(tasks=3, seeds=2, steps=4000, v_max=(5.0, 200.0)))
    recs = [{"point": dict(p, p=[0.2, 1.0])} for p in pts if p["sigma_max"] > 0]
    for rec in recs:
        rec["result"] = run_regression_point(rec["point"])
    low, high = benefit_vs_input_scale(recs)
    assert (low["v_max"], high["v_max"]) == (5.0, 200.0)
    assert low["fraction_codes_at_rail"] > 0.65
    assert high["fraction_codes_at_rail"] < low["fraction_codes_at_rail"] - 0.2
    assert 0.85 < low["benefit"] < 1.15
    assert high["benefit"] > 1.3 * low["benefit"]
