"""Tests for lab.insilico.studies.power: the power statement of experiment-allostery
(tasks needed against textbook values and a Monte Carlo of the test it stands for), and
that the registered study's statistics carry it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lab.insilico.studies import STUDIES
from lab.insilico.studies.power import (
    PAPER_BENEFIT,
    detectable_effect,
    power_at,
    power_statement,
    tasks_needed,
)

P_EXP = np.array([0.1, 0.25, 0.5, 0.75, 1.0])


def test_tasks_needed_matches_the_textbook_paired_t_sample_size() -> None:
    # one-sided alpha 0.05, power 0.8, effect 0.5 sd: n = 27 (Cohen's tables)
    assert tasks_needed(1.0, 0.5) == 27
    assert tasks_needed(2.0, -1.0) == 27  # sign-free, scale-free
    assert tasks_needed(1.0, 0.5, wilcoxon=True) == math.ceil(27 * math.pi / 3)
    assert tasks_needed(1.0, 1.0) < tasks_needed(1.0, 0.5) < tasks_needed(1.0, 0.25)
    assert tasks_needed(1.0, 0.0) is None
    assert tasks_needed(float("nan"), 0.5) is None


def test_tasks_needed_gives_the_stated_power_in_a_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    sd, effect = 0.3, -0.12  # log10 ratios: a benefit
    n = tasks_needed(sd, effect)
    sims = rng.normal(effect, sd, (4000, n))
    t = sims.mean(axis=1) / (sims.std(axis=1, ddof=1) / math.sqrt(n))
    found = np.mean(t < stats.t.ppf(0.05, n - 1))
    assert 0.77 <= found <= 0.86  # 0.8 by construction (n is rounded up: a little above)
    fewer = rng.normal(effect, sd, (4000, n // 2))
    t2 = fewer.mean(axis=1) / (fewer.std(axis=1, ddof=1) / math.sqrt(n // 2))
    assert np.mean(t2 < stats.t.ppf(0.05, n // 2 - 1)) < 0.65


def test_detectable_effect_is_the_effect_found_with_the_stated_power() -> None:
    for n in (5, 30, 100):
        assert power_at(0.2, detectable_effect(0.2, n), n) == pytest.approx(0.8, abs=0.02)
    assert math.isnan(detectable_effect(0.2, 1))


def test_power_statement_reads_the_spread_of_per_task_log_ratios() -> None:
    rng = np.random.default_rng(3)
    tasks = 40
    sync = 10 ** rng.normal(-1, 0.5, tasks)  # errors spanning decades across tasks
    lr = rng.normal(-0.1, 0.25, tasks)  # p < 1 ends lower by 10^-0.1 on average
    final = np.column_stack([sync * 10**lr] * 4 + [sync])
    s = power_statement(final, P_EXP)
    assert s["tasks"] == tasks
    assert s["sd_log10_ratio"] == pytest.approx(np.std(lr, ddof=1), rel=1e-3)
    assert s["observed_ratio"] == pytest.approx(10 ** np.mean(lr), rel=1e-3)
    sd = np.std(lr, ddof=1)
    assert s["tasks_needed_paper_benefit_wilcoxon"] == tasks_needed(
        sd, math.log10(PAPER_BENEFIT), wilcoxon=True
    )
    needed = s["tasks_needed_by_ratio_wilcoxon"]
    assert needed["0.95"] > needed["0.8"] > needed["0.5"]
    assert s["tasks_needed_observed_effect_wilcoxon"] is not None
    assert s["underpowered"] is False  # 40 tasks at sd 0.25 find a halving easily
    assert 10 ** np.mean(lr) < 1 and s["detectable_ratio_at_run_tasks"] < 1
    # a harmful p < 1 has no "tasks needed to show its benefit"
    worse = power_statement(np.column_stack([sync * 2] * 4 + [sync]), P_EXP)
    assert worse["tasks_needed_observed_effect_wilcoxon"] is None
    with pytest.raises(ValueError, match="last p"):
        power_statement(final, P_EXP[::-1])


def test_experiment_allostery_statistics_state_their_power(tmp_path) -> None:
    rng = np.random.default_rng(5)
    records = []
    for t in range(6):
        final = np.repeat(10 ** rng.normal(-1, 0.3, 5), 2).tolist()  # p-major, 2 boards
        records.append({
            "point": {"p": P_EXP.tolist(), "steps": 100, "boards": 2, "task_seed": t},
            "result": {
                "final": final, "p_observed": np.repeat(P_EXP, 2).tolist(),
                "curve": [[1.0, 0.5]] * 10, "curve_steps": [25, 75],
            },
        })  # fmt: skip
    study = STUDIES["experiment-allostery"]
    out = study.summarize(records, None, tmp_path)
    assert out["power"]["tasks"] == 6
    assert (tmp_path / "experiment-allostery.png").is_file()
    assert "reproduced" in out and "by_p" in out  # the study's own statistics are kept
