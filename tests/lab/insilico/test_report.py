"""Tests for lab.insilico.report and ``twinlab study report``: verdicts computed from
statistics (every status reachable from numbers), and the page built by a real
subprocess from study files without rerunning anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lab.insilico.report import (
    CLAIMS,
    DEPENDS,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    verdict,
)

ROOT = Path(__file__).resolve().parents[3]


def _summary(name: str, stats: dict) -> dict:
    return {"study": name, "description": "", "args": {}, "points": 1, "wall_s": 0.1,
            "figure": f"{name}.png", "statistics": stats}  # fmt: skip


def test_collapse_and_discrete_regression_verdicts_follow_their_numbers() -> None:
    good = {"spread_ratio": 8.0, "spread_ratio_ci95": [6.0, 11.0]}
    assert verdict("collapse", _summary("collapse", good)).status == REPRODUCED
    weak = {"spread_ratio": 2.0, "spread_ratio_ci95": [1.5, 3.0]}
    v = verdict("collapse", _summary("collapse", weak))
    assert v.status == NOT_REPRODUCED and "2" in v.reason
    trend = {
        "primary": {"slope_per_decade_p": 0.1, "slope_ci95": [0.05, 0.15], "page_p_value": 0.01}
    }
    assert verdict("discrete-regression", _summary("x", trend)).status == REPRODUCED
    scale = {
        **trend,
        "benefit_vs_input_scale": [
            {"v_max": 5, "benefit": 1.04, "benefit_ci95": [0.98, 1.1]},
            {"v_max": 200, "benefit": 2.1, "benefit_ci95": [1.6, 2.7]},
        ],
    }
    v = verdict("discrete-regression", _summary("x", scale))
    assert v.status == DEPENDS and "200 V" in v.reason and "applied-voltage" in v.reason


def test_discrete_regression_verdict_quotes_every_range_when_no_interval_is_above_one() -> None:
    """The shipped default run: no range's benefit interval lies above 1 (1.71 [0.84, 3.50]
    at 200 V); the verdict falls back to the primary arm and still quotes each range."""
    stats = {
        "primary": {"slope_per_decade_p": 0.003, "slope_ci95": [-0.006, 0.012],
                    "page_p_value": 0.016},
        "benefit_vs_input_scale": [
            {"v_max": 5, "benefit": 1.01, "benefit_ci95": [0.95, 1.08]},
            {"v_max": 200, "benefit": 1.71, "benefit_ci95": [0.84, 3.5]},
        ],
    }  # fmt: skip
    v = verdict("discrete-regression", _summary("x", stats))
    assert v.status == NOT_REPRODUCED
    assert "1.71 (0.84-3.5) at 200 V" in v.reason and "1.01 (0.95-1.08) at 5 V" in v.reason


def test_powerlaw_verdict_depends_on_gamma_when_only_some_intervals_cover_two_thirds() -> None:
    rows = [
        {"gamma": 0.0125, "alpha_p": 0.54, "alpha_p_ci95": [0.50, 0.58]},
        {"gamma": 0.05, "alpha_p": 0.67, "alpha_p_ci95": [0.62, 0.71]},
    ]
    v = verdict("powerlaw", _summary("powerlaw", {"alpha_vs_gamma": rows}))
    assert v.status == DEPENDS and "gamma 0.05" in v.reason
    low = [{**r, "alpha_p_ci95": [0.4, 0.6]} for r in rows]
    assert verdict("powerlaw", _summary("p", {"alpha_vs_gamma": low})).status == NOT_REPRODUCED
    old = {"exponents": {"p": {"alpha": 0.66, "ci95": [0.6, 0.7]}}}
    assert verdict("powerlaw", _summary("p", old)).status == REPRODUCED


def test_powerlaw_verdict_depends_on_inputs_outputs_when_one_family_rises() -> None:
    """``alpha_vs_gamma_by_family``: alpha_p rising with gamma (slope interval above 0) in
    the 1-in-1-out family and flat in the 2-in-2-out one -> depends on the task's number
    of inputs/outputs, quoting both slopes; both flat -> the gamma rule of the own rows."""
    flat_rows = [
        {"gamma": 0.0125, "alpha_p": 0.44, "alpha_p_ci95": [0.38, 0.50]},
        {"gamma": 0.05, "alpha_p": 0.49, "alpha_p_ci95": [0.40, 0.58]},
    ]
    rising_rows = [
        {"gamma": 0.0125, "alpha_p": 0.50, "alpha_p_ci95": [0.42, 0.58]},
        {"gamma": 0.05, "alpha_p": 0.72, "alpha_p_ci95": [0.52, 0.95]},
    ]
    flat = {"n_inputs": 2, "n_outputs": 2, "rows": flat_rows, "tasks": 10, "seeds": 2,
            "trend": {"slope": 0.026, "ci95": [-0.027, 0.079], "tasks": 10}}
    rising = {"n_inputs": 1, "n_outputs": 1, "rows": rising_rows, "tasks": 24, "seeds": 1,
              "trend": {"slope": 0.17, "ci95": [0.058, 0.31], "tasks": 24}}  # fmt: skip
    stats = {"alpha_vs_gamma": flat_rows,
             "alpha_vs_gamma_by_family": {"2in2out": flat, "1in1out": rising}}
    v = verdict("powerlaw", _summary("powerlaw", stats))
    assert v.status == DEPENDS
    assert v.reason.startswith("the task's number of inputs/outputs: alpha_p rises with gamma "
                               "for 1in1out and not for 2in2out")  # fmt: skip
    assert "0.17 (95 % CI 0.058-0.31)" in v.reason and "0.026 (95 % CI -0.027-0.079)" in v.reason
    assert "2/3 within the interval at gamma 0.05" in v.reason
    assert "2in2out (10 tasks): alpha_p 0.44, 0.49 at gamma 0.0125, 0.05" in v.reason
    assert "2/3 within the interval at no gamma" in v.reason
    both_flat = {**stats, "alpha_vs_gamma_by_family": {"2in2out": flat, "1in1out": flat}}
    v = verdict("powerlaw", _summary("powerlaw", both_flat))
    assert v.status == NOT_REPRODUCED and "no interval covers 2/3" in v.reason
    one = {**stats, "alpha_vs_gamma_by_family": {"1in1out": rising}}
    assert verdict("powerlaw", _summary("powerlaw", one)).status == NOT_REPRODUCED
    outputs_only = {**rising, "n_inputs": 2}
    v = verdict("powerlaw", _summary("powerlaw", {**stats, "alpha_vs_gamma_by_family": {
        "2in2out": flat, "2in1out": outputs_only}}))  # fmt: skip
    assert v.reason.startswith("the task's number of outputs:")


def test_experiment_verdict_quotes_its_power_when_negative() -> None:
    stats = {
        "tasks": 30,
        "reproduced": False,
        "pooled_p_below_1": {
            "geomean_ratio_to_sync": 1.02,
            "geomean_ratio_ci95": [0.9, 1.1],
            "wilcoxon_p_value": 0.6,
        },
        "power": {
            "detectable_ratio_at_run_tasks": 0.8,
            "paper_benefit_ratio": 0.5,
            "tasks_needed_paper_benefit_wilcoxon": 7,
            "underpowered": False,
        },
    }
    v = verdict("experiment-allostery", _summary("e", stats))
    assert v.status == NOT_REPRODUCED and "needs 7 tasks" in v.reason
    assert verdict("experiment-allostery", _summary("e", {**stats, "reproduced": True})).status == (
        REPRODUCED
    )


def _iris_stats(rows: list[dict]) -> dict:
    return {
        "paper_accuracy": 0.95,
        "parameters": {
            "eta": {"status": "stated"},
            "board": {"status": "model"},
            "sigma_max": {"status": "unstated"},
        },
        "choices": rows,
    }


def test_iris_verdict_counts_only_parameters_the_papers_leave_open() -> None:
    paper = {"choice": "papers", "varies": [], "accuracy_final": 0.86, "accuracy_best": 0.87,
             "best_epoch": 50}  # fmt: skip
    ideal = {"choice": "ideal", "varies": ["board"], "accuracy_final": 0.97,
             "accuracy_best": 0.97, "best_epoch": 200}  # fmt: skip
    v = verdict("iris", _summary("iris", _iris_stats([paper, ideal])))
    assert v.status == NOT_REPRODUCED  # the model's fidelity is not a parameter of the paper
    sigma = {"choice": "no offset", "varies": ["sigma_max"], "accuracy_final": 0.90,
             "accuracy_best": 0.955, "best_epoch": 15}  # fmt: skip
    v = verdict("iris", _summary("iris", _iris_stats([paper, ideal, sigma])))
    assert v.status == DEPENDS and "no offset" in v.reason and "epoch 15" in v.reason
    done = {**paper, "accuracy_final": 0.96}
    assert verdict("iris", _summary("iris", _iris_stats([done]))).status == REPRODUCED
    assert verdict("iris", None).status == NOT_RUN


def _twinlab(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_study_report_builds_one_page_from_the_files_without_rerunning(tmp_path) -> None:
    collapse = _summary("collapse", {"headline": "spread ratio 8", "spread_ratio": 8.0,
                                     "spread_ratio_ci95": [6.0, 11.0]})  # fmt: skip
    (tmp_path / "collapse.json").write_text(json.dumps(collapse))
    (tmp_path / "collapse.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = _twinlab("study", "report", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "report.html"])
    for name in CLAIMS:
        assert f"id='{name}'" in page
    assert "<img src='collapse.png'" in page
    assert page.count(">reproduced</span>") >= 1 and page.count(">not run</span>") >= 5
    assert "spread ratio 8" in page


def test_study_report_refuses_a_broken_file_and_a_missing_folder(tmp_path) -> None:
    (tmp_path / "powerlaw.json").write_text("{not json")
    r = _twinlab("study", "report", "--out", str(tmp_path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("twinlab: error: ") and "powerlaw.json" in lines[0]
    )
    assert not (tmp_path / "report.html").exists()
    r = _twinlab("study", "report", "--out", str(tmp_path / "nope"))
    assert r.returncode == 2 and "--out" in r.stderr


def _seed2_stats(accuracy: dict[str, float], ceiling: float) -> dict:
    """Seed-2 statistics with one matched figure, both line schemes on the ideal board's
    voltage rule (``accuracy``: system -> mean, 5 seeds, +-0.12 interval) and a ceiling."""
    schemes = []
    for system, a in accuracy.items():
        m = a - 0.5
        schemes.append({"system": system, "board": "ideal", "rule": "voltage", "accuracy": a,
                        "minus_chance": m, "minus_chance_ci95": [m - 0.12, m + 0.12],
                        "beats_chance": m - 0.12 > 0})  # fmt: skip
    return {
        "seed_figures": [{"system": "chain3-16", "board": "ideal", "seed_figure": 0.263,
                          "ours": 0.2665, "ours_is": "swing (peak to peak)", "matched": True}],
        "systems": [{"system": s, "board": "ideal", "rule": "voltage",
                     "test_accuracy": {"mean": a}} for s, a in accuracy.items()],
        "scheme_comparison": schemes,
        "ceiling": {"examples": 32, "readouts": {"affine": ceiling, "argmax": 0.8125},
                    "fit": {"accuracy": ceiling, "accuracy_codes": ceiling, "positions": 128}},
    }  # fmt: skip


def test_seed2_verdict_quotes_both_line_schemes_against_chance_and_the_ceiling() -> None:
    """Issue 15 item 7 / issue 17: the verdict quoted only the class-means accuracy; a
    reader must see both schemes with their intervals against chance, and the ceiling,
    so that training (not the network) is seen to be the limit."""
    stats = _seed2_stats({"lines": 0.59, "lines-patterns": 0.47}, ceiling=1.0)
    v = verdict("seed2", _summary("seed2", stats))
    assert v.status == REPRODUCED and "chain3-16 0.267 V" in v.reason
    r = v.reason
    assert "class-means 59 % (minus chance +9.0 points, 95 % CI -3.0 to +21.0)" in r, r
    assert "pattern-means 47 % (minus chance -3.0 points, 95 % CI -15.0 to +9.0)" in r, r
    assert "beats chance in 0 of 2" in r, r
    assert "ceiling 100 % (affine readout of the outputs" in r, r
    assert "the training, not the network, is the limit" in r, r
    # a network whose training reaches its ceiling is not said to be limited by training
    reached = _seed2_stats({"lines": 0.97, "lines-patterns": 0.96}, ceiling=1.0)
    r = verdict("seed2", _summary("seed2", reached)).reason
    assert "beats chance in 2 of 2" in r and "is the limit" not in r, r


def test_seed2_verdict_of_the_shipped_results_names_the_training_as_the_limit() -> None:
    summary = json.loads((ROOT / "docs/studies/results/seed2.json").read_text())
    r = verdict("seed2", summary).reason
    assert "class-means 59 %" in r and "pattern-means 48 %" in r, r
    assert "beats chance in 0 of 8" in r and "ceiling 100 %" in r, r
    assert "the training, not the network, is the limit" in r, r


def test_report_page_shows_the_args_but_not_the_machine_local_out_path(tmp_path) -> None:
    """The page quoted ``out: /tmp/...`` of whoever ran the study; it stays in the JSON."""
    from lab.insilico.report import render

    summary = _summary("collapse", {"spread_ratio": 8.0, "spread_ratio_ci95": [6.0, 11.0]})
    summary["args"] = {"tasks": 3, "out": "/tmp/someone/full", "workers": 2, "progress": False}
    text = json.dumps(summary)
    (tmp_path / "collapse.json").write_text(text)
    page = render(tmp_path)
    assert "/tmp/someone" not in page and "&quot;out&quot;" not in page
    assert "&quot;tasks&quot;: 3" in page and "&quot;workers&quot;: 2" in page
    assert (tmp_path / "collapse.json").read_text() == text
