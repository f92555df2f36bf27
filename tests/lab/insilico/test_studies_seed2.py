"""``twinlab study seed2`` on a small configuration: the seed-2 figures, voltage vs power
rule, its JSON read by the report; and the batch Rule's ``compare``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab.insilico.report import STATUSES, verdict
from lab.insilico.studies import STUDIES, StudyArgs, run_study
from lab.insilico.studies.seed2 import matches, oscillation


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("seed2")
    args = StudyArgs(seeds=2, steps=48, out=out, workers=1, progress=False)
    result = run_study(STUDIES["seed2"], args)
    assert (out / "seed2.png").stat().st_size > 0
    assert json.loads((out / "seed2.json").read_text())["statistics"] == result["statistics"]
    return result


def _row(stats: dict, system: str, board: str, rule: str) -> dict:
    return next(r for r in stats["systems"]
                if (r["system"], r["board"], r["rule"]) == (system, board, rule))  # fmt: skip


def test_chain_oscillation_by_resolution(summary: dict) -> None:
    stats = summary["statistics"]
    # 16 positions: V_F alternates between two codes' outputs, 1.400 / 1.667 V (ideal board)
    chain16 = _row(stats, "chain3-16", "ideal", "voltage")
    assert chain16["swing_pp"]["mean"] == pytest.approx(0.267, abs=0.01)
    assert chain16["max_abs_error"]["max"] < 0.2
    # 128 positions: one code step moves V_F far less, so the swing is far smaller
    chain128 = _row(stats, "chain3-128", "ideal", "voltage")
    assert chain128["swing_pp"]["max"] < 0.05 < chain16["swing_pp"]["min"]
    fig16 = next(f for f in stats["seed_figures"]
                 if f["system"] == "chain3-16" and f["board"] == "ideal")  # fmt: skip
    assert fig16["ours_is"] == "swing (peak to peak)" and fig16["matched"] is True


def test_bridge_error_after_three_steps_and_lines_accuracy(summary: dict) -> None:
    stats = summary["statistics"]
    bridge = _row(stats, "bridge5", "ideal", "voltage")
    assert 0 < bridge["error_after_3_steps"]["mean"] < 0.5  # both start 0.5 V off
    fig = next(f for f in stats["seed_figures"]
               if f["system"] == "bridge5" and f["board"] == "ideal")  # fmt: skip
    assert set(fig["all_readings"]) == {
        "amplitude (swing / 2)", "swing (peak to peak)", "largest |V_F - V_D| after convergence",
        "largest |V_F - V_D| after 3 steps",
    }  # fmt: skip
    assert fig["ours"] == min(fig["all_readings"].values(), key=lambda x: abs(x - 0.14))
    for system in ("lines", "lines-patterns"):
        for board in ("ideal", "full"):
            for rule in ("voltage", "power"):
                acc = _row(stats, system, board, rule)["test_accuracy"]
                assert acc["runs"] == 2 and 0 <= acc["min"] <= acc["max"] <= 1
                assert acc["min"] * 16 == pytest.approx(round(acc["min"] * 16))  # 16 tests


def test_identical_twins_make_the_power_rule_the_voltage_rule(summary: dict) -> None:
    comparison = summary["statistics"]["rule_comparison"]
    assert {(c["system"], c["board"]) for c in comparison} == {
        (s, b) for s in ("chain3-16", "chain3-128", "bridge5", "lines", "lines-patterns")
        for b in ("ideal", "full")
    }  # fmt: skip
    for c in comparison:
        if c["board"] == "ideal":  # R_C = R_F: the same decisions, the same runs
            assert c["identical_runs"] == c["runs"] == 2 and c["power_minus_voltage"] == 0


def test_schemes_are_compared_with_chance_and_each_other_paired_by_seed(summary: dict) -> None:
    stats = summary["statistics"]
    entries = {(e["system"], e["board"], e["rule"]): e for e in stats["scheme_comparison"]}
    assert set(entries) == {(s, b, r) for s in ("lines", "lines-patterns")
                            for b in ("ideal", "full") for r in ("voltage", "power")}  # fmt: skip
    for (system, board, rule), e in entries.items():
        mean = _row(stats, system, board, rule)["test_accuracy"]["mean"]
        assert e["accuracy"] == pytest.approx(mean, abs=1e-3)
        assert e["minus_chance"] == pytest.approx(mean - 0.5, abs=1e-3)
        lo, _ = e["minus_chance_ci95"]
        assert e["beats_chance"] == (lo is not None and lo > 0)
        if system == "lines":
            assert "minus_class_means" not in e
            continue
        base = _row(stats, "lines", board, rule)["test_accuracy"]["mean"]
        assert e["minus_class_means"] == pytest.approx(mean - base, abs=1e-3)
        lo, _ = e["minus_class_means_ci95"]
        assert e["beats_class_means"] == (lo is not None and lo > 0)


def test_ceiling_any_network_setting_separates_the_lines(summary: dict) -> None:
    ceiling = summary["statistics"]["ceiling"]
    assert ceiling["examples"] == 32
    r = ceiling["readouts"]
    # an affine test of the outputs (the nearest of two targets) can be perfect ...
    assert r["affine"] == 1.0
    # ... and the network reaches it within the digipots' span, to the code
    assert ceiling["fit"]["accuracy"] == ceiling["fit"]["accuracy_codes"] == 1.0
    codes = np.asarray(ceiling["fit"]["codes"])
    assert codes.shape == (12,) and codes.min() >= 0 and codes.max() <= 127
    # comparing the two outputs (weights summing to zero, no threshold) cannot
    assert r["argmax"] < r["difference"] <= 1.0 and r["argmax"] < 1.0
    assert r["one output"] < 1.0


def test_report_verdict_quotes_the_figures(summary: dict) -> None:
    v = verdict("seed2", summary)
    assert v.status in STATUSES and v.status != "not run"
    assert "chain3-16 0.26" in v.reason and "vs 0.263 V" in v.reason
    assert verdict("seed2", {"statistics": {}}).status == "not run"


def test_oscillation_and_matching_by_hand() -> None:
    # 20 steps converging from 1.0 V, then V_F alternating 1.400 / 1.667 V for 40 steps:
    # the final window (the last max(20, 60 // 4) = 20 steps) sees only the alternation
    v = np.array([[1.0 + 0.02 * i] for i in range(20)] + [[1.4], [1.667]] * 20)
    osc = oscillation(v, np.array([1.5]))
    assert osc["swing_pp"] == pytest.approx(0.267)
    assert osc["amplitude"] == pytest.approx(0.1335)
    assert osc["max_abs_error"] == pytest.approx(0.167)
    assert matches(0.267, 0.263) and not matches(0.03, 0.1) and not matches(float("nan"), 1)


def test_batch_rule_compare_power_equals_voltage_with_identical_twins() -> None:
    from lab.core.network import Network
    from lab.insilico.batch import Rule, train_batch
    from lab.tasks import load_task

    task = load_task("chain3")
    net = Network.from_name(task.network)
    runs = {
        c: train_batch(net, task, steps=31, rule=Rule("discrete", eta=1.0, n_positions=16,
                                                      compare=c), seeds=np.arange(3))
        for c in ("voltage", "power")
    }  # fmt: skip
    assert np.array_equal(runs["voltage"].codes, runs["power"].codes)
    errors = runs["voltage"].train_error  # (T, 3): the codes moved (the error changed)
    assert np.array_equal(errors, runs["power"].train_error)
    assert np.ptp(errors, axis=0).min() > 0
    with pytest.raises(ValueError, match="rule field 'compare'"):
        Rule("discrete", compare="current")  # type: ignore[arg-type]


def test_study_args_out_is_respected(summary: dict) -> None:
    assert Path(summary["args"]["out"]).name.startswith("seed2")
