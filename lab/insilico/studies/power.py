"""The power statement of ``experiment-allostery`` (issue 15, item 5): from the measured
spread of the per-task effect, how many tasks a benefit of a given size needs.

The effect of a task is the log10 ratio of its final scaled error, averaged over every
p < 1, to its final error at p = 1 (the quantity `paired_statistics` tests:
``pooled_p_below_1``; negative is a benefit of desynchrony). With the sd of that effect
over tasks, a one-sided paired test at level ``alpha`` detects a mean log ratio ``d`` with
probability ``power`` once ``t_{1-alpha, n-1} + t_{power, n-1} <= |d| sqrt(n) / sd``
(the paired t test; the Wilcoxon signed-rank test the study reports needs about
pi / 3 times as many tasks for normal effects, its asymptotic relative efficiency 3 / pi).

The size of the paper's benefit: the sources (PHYSICS.md, published result 4) give only
its direction for Fig. 4C, no number. `PAPER_BENEFIT` is therefore ours, a ratio of 0.5
(desynchronised runs end at half the synchronous error, the order of the benefit of
Fig. 4D/E), and the statement also gives the smallest ratio the run could detect and the
tasks needed for each ratio of `RATIOS`, so any other reading of the figure can be
looked up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from lab.insilico.studies.base import Study, StudyArgs

#: Error ratio E(p < 1) / E(p = 1) taken as the paper's benefit (ours; see the docstring).
PAPER_BENEFIT = 0.5
#: Ratios for which the tasks needed are tabulated.
RATIOS = (0.95, 0.9, 0.8, 0.7, 0.5, 0.3)
ALPHA = 0.05
POWER = 0.8
#: Asymptotic relative efficiency of the Wilcoxon signed-rank test to the t test.
WILCOXON_ARE = 3.0 / math.pi
MAX_TASKS = 10**6


def tasks_needed(
    sd: float, effect: float, alpha: float = ALPHA, power: float = POWER, wilcoxon: bool = False
) -> int | None:
    """Smallest number of tasks n >= 2 at which a one-sided paired t test at level
    ``alpha`` detects a mean effect ``effect`` (any sign; same units as ``sd``, the sd of
    the per-task effect) with probability ``power``; with ``wilcoxon``, that n divided by
    3 / pi (rounded up). None if no n up to `MAX_TASKS` suffices (``effect`` 0)."""
    if not (sd > 0 and math.isfinite(sd)):
        return 2 if sd == 0 and effect != 0 else None
    d = abs(effect) / sd
    if d == 0:
        return None

    def enough(n: int) -> bool:
        return stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(power, n - 1) <= d * math.sqrt(n)

    if not enough(MAX_TASKS):
        return None
    lo, hi = 2, 2
    while not enough(hi):
        lo, hi = hi, hi * 2
    while lo < hi:  # smallest n with enough(n); enough is monotone in n
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    n = max(2, min(hi, MAX_TASKS))
    return math.ceil(n / WILCOXON_ARE) if wilcoxon else n


def detectable_effect(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest |mean effect| a one-sided paired t test over ``n`` tasks detects with
    probability ``power`` at level ``alpha`` (units of ``sd``; NaN if n < 2)."""
    if n < 2:
        return float("nan")
    return float((stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def power_at(sd: float, effect: float, n: int, alpha: float = ALPHA) -> float:
    """Probability that a one-sided paired t test over ``n`` tasks at level ``alpha``
    finds a true mean effect ``effect`` (a benefit: its sign is ignored), noncentral t."""
    if n < 2 or not sd > 0:
        return float("nan")
    nc = abs(effect) / sd * math.sqrt(n)
    return float(stats.nct.sf(stats.t.ppf(1 - alpha, n - 1), n - 1, nc))


def power_statement(final: np.ndarray, p_values: np.ndarray) -> dict[str, Any]:
    """The power of the paired comparison p < 1 vs p = 1. ``final`` (tasks, P) final
    scaled errors, columns in ascending p, the last p = 1 (as `paired_statistics`)."""
    final = np.asarray(final, dtype=float)
    if p_values[-1] != 1.0:
        raise ValueError("the last p must be 1")
    tiny = 1e-300
    lr = np.log10(np.maximum(final[:, :-1].mean(axis=1), tiny)) - np.log10(
        np.maximum(final[:, -1], tiny)
    )
    n = len(lr)
    sd = float(np.std(lr, ddof=1)) if n > 1 else float("nan")
    mean = float(np.mean(lr)) if n else float("nan")
    paper_d = math.log10(PAPER_BENEFIT)
    detect = detectable_effect(sd, n)

    def r(x: float, digits: int = 4) -> float | None:
        return float(f"{x:.{digits}g}") if math.isfinite(x) else None

    observed_is_benefit = math.isfinite(mean) and mean < 0
    return {
        "effect": "log10 of (mean final error over p < 1) / (final error at p = 1), per task",
        "tasks": n,
        "alpha": ALPHA,
        "power": POWER,
        "sd_log10_ratio": r(sd),
        "mean_log10_ratio": r(mean),
        "observed_ratio": r(10**mean) if math.isfinite(mean) else None,
        "paper_benefit_ratio": PAPER_BENEFIT,
        "paper_benefit_source": "ours: the sources give the direction of Fig. 4C, not its size",
        "tasks_needed_paper_benefit_t": tasks_needed(sd, paper_d),
        "tasks_needed_paper_benefit_wilcoxon": tasks_needed(sd, paper_d, wilcoxon=True),
        "power_at_run_tasks_paper_benefit": r(power_at(sd, paper_d, n), 3),
        # too few tasks to find a benefit of the paper's size (t-test power below POWER)
        "underpowered": bool(not power_at(sd, paper_d, n) >= POWER),
        "detectable_ratio_at_run_tasks": r(10 ** (-detect)) if math.isfinite(detect) else None,
        "tasks_needed_observed_effect_wilcoxon": (
            tasks_needed(sd, mean, wilcoxon=True) if observed_is_benefit else None
        ),
        "tasks_needed_by_ratio_wilcoxon": {
            f"{q:g}": tasks_needed(sd, math.log10(q), wilcoxon=True) for q in RATIOS
        },
    }


def with_power(study: Study) -> Study:
    """``experiment-allostery`` whose statistics gain ``power`` (`power_statement`)."""
    from lab.insilico.studies.discrete import per_task

    def summarize(records: list[dict], args: StudyArgs, out_dir: Path) -> dict:
        result = study.summarize(records, args, out_dir)
        ps = np.asarray(records[0]["point"]["p"], dtype=float)
        final = np.array([per_task(rec) for rec in records])
        result["power"] = power_statement(final, ps)
        return result

    return Study(study.name, study.description, study.points, study.run_point, summarize)
