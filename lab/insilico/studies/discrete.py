"""Discrete-rule studies (PHYSICS.md, "Published results to reproduce" 3 and 4).

- ``discrete-regression`` (Wycoff et al. Fig. 4E): the discrete rule of the board (eq. 10:
  128 codes from mid-scale, comparator offsets sigma ~ U[0, 0.05] V, one random training
  example per step) on ``planar143``, 2-in 2-out regression, final scaled test error vs p.
- ``discrete-allostery`` (Fig. 4D): the same rule, random allostery with O inputs, O outputs
  and max(1, O/2) grounds for several O; final scaled error vs p and O.
- ``experiment-allostery`` (Fig. 4C analogue): the emulated 16-edge board with all its
  non-idealities, trained through the HAL by the `lab.acquire.trainer.Trainer`; p is set by the
  bias through a calibration measured on that board (as ``twinlab calibrate`` does).

Runs are compared at equal numbers of steps, as in the paper. "Final" error is the mean
scaled error (error / error at step 0) over the last `FINAL_FRACTION` of training, which
averages out the step-to-step jitter of the +-1-code updates. A point is one task with
every p value x seed (or x board) in it, so comparisons across p are paired by task and
share each seed's comparator offsets.

The comparator offset makes every enabled edge step up whenever |dV_C| and |dV_F| differ
by less than sigma, so codes drift up and most of them saturate at the top code after
~64 / p steps (PHYSICS.md: "the offset makes resistances drift upward"); the result
records the fraction of codes at the top. The two in-silico studies also run a control
arm with sigma = 0 (``sigma_max`` in the point) on the same tasks, to separate the effect
of desynchrony on a discrete state space from that drift.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from lab.core.learning import N_POSITIONS, SIGMA_MAX
from lab.insilico.studies.base import Study, StudyArgs, figure, mean_ci, rounded, study_bench

#: Update probabilities of the in-silico studies (ascending; the last is synchronous).
P_VALUES = (0.05, 0.1, 0.2, 0.5, 1.0)
#: Update probabilities of the board study (ascending; the last is synchronous).
P_EXPERIMENT = (0.1, 0.25, 0.5, 0.75, 1.0)
#: Numbers of inputs (= outputs) of the allostery study.
O_VALUES = (1, 2, 4, 8)
#: Comparator offset bound of the control arm (no offset: no drift).
CONTROL_SIGMA = 0.0
#: "Final" error: mean over this last fraction of training.
FINAL_FRACTION = 0.1
#: Nudge of the discrete studies (the experiment's eta for allostery, PHYSICS.md).
ETA = 0.5
NETWORK = "planar143"  # the paper's (StudyArgs.network replaces it)
#: Input ranges [0, v_max] V of the input-scale axis (the board's is 5 V; the paper does
#: not give its simulations'). sigma = 0 is scale-free, so the control arm runs at 5 V only.
V_MAX_VALUES = (5.0, 20.0, 50.0, 200.0)
#: The input range of the statistics that have no input-scale axis (the board's).
V_REFERENCE = 5.0
#: The allostery study runs the input-scale axis at this O only (the board's 2-in 2-out).
O_INPUT_SCALE = 2


# ----------------------------------------------------------------------------- helpers


def final_window(scaled: np.ndarray, eval_steps: np.ndarray, steps: int) -> np.ndarray:
    """Mean of ``scaled`` (T, B) over the evaluations in the last `FINAL_FRACTION` of
    ``steps`` (at least the last one): (B,)."""
    eval_steps = np.asarray(eval_steps)
    keep = eval_steps >= (1.0 - FINAL_FRACTION) * steps
    keep[-1] = True
    return np.asarray(scaled)[keep].mean(axis=0)


def _at_time(scaled: np.ndarray, eval_steps: np.ndarray, t: int) -> np.ndarray:
    """Like `final_window` for a run stopped at step ``t``: (B,)."""
    eval_steps = np.asarray(eval_steps)
    keep = (eval_steps <= t) & (eval_steps >= (1.0 - FINAL_FRACTION) * t)
    if not keep.any():
        keep = eval_steps == eval_steps[eval_steps <= t].max()
    return np.asarray(scaled)[keep].mean(axis=0)


def trend_statistics(final: np.ndarray, p_values: np.ndarray) -> dict[str, Any]:
    """Does the final error fall as p falls? ``final`` (tasks, P), columns in ascending p.

    Per task, the least-squares slope of final error vs log10 p (positive: error falls as
    p decreases), averaged over tasks with a 95 % t interval and a two-sided one-sample t
    test; Page's trend test with tasks as blocks, predicting error ranks that rise with p
    (one-sided p-value); the mean error per p with 95 % intervals.
    """
    final = np.asarray(final, dtype=float)
    p_values = np.asarray(p_values, dtype=float)
    if np.any(np.diff(p_values) <= 0):
        raise ValueError("p_values must be strictly ascending")
    x = np.log10(p_values)
    slopes = np.polyfit(x, final.T, 1)[0] if len(final) else np.array([])
    mean, lo, hi = mean_ci(slopes)
    t_p = float(stats.ttest_1samp(slopes, 0.0).pvalue) if len(slopes) > 1 else float("nan")
    if len(final) >= 2 and final.shape[1] >= 3:
        page = stats.page_trend_test(final)
        page_l, page_p = float(page.statistic), float(page.pvalue)
    else:
        page_l = page_p = float("nan")
    by_p = [mean_ci(final[:, j]) for j in range(final.shape[1])]
    return {
        "tasks": len(final),
        "p": rounded(p_values),
        "mean_final_by_p": rounded([b[0] for b in by_p]),
        "ci95_final_by_p": rounded([[b[1], b[2]] for b in by_p]),
        "slope_per_decade_p": rounded(mean),
        "slope_ci95": rounded([lo, hi]),
        "slope_t_p_value": rounded(t_p, 3),
        "page_L": rounded(page_l),
        "page_p_value": rounded(page_p, 3),
        "fraction_tasks_lowest_p_better": rounded(float(np.mean(final[:, 0] < final[:, -1]))),
    }


def _linregress(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Slope of y on x with its 95 % interval and two-sided p-value; Spearman's rho."""
    if len(np.unique(x)) < 2:
        return {"slope": None, "slope_ci95": [None, None], "p_value": None}
    fit = stats.linregress(x, y)
    half = float(stats.t.ppf(0.975, len(x) - 2) * fit.stderr) if len(x) > 2 else float("nan")
    rho = stats.spearmanr(x, y)
    return {
        "slope": rounded(fit.slope),
        "slope_ci95": rounded([fit.slope - half, fit.slope + half]),
        "p_value": rounded(fit.pvalue, 3),
        "spearman_rho": rounded(rho.statistic, 3),
        "spearman_p_value": rounded(rho.pvalue, 3),
    }


def allostery_statistics(log_final: dict[int, np.ndarray], p_values: np.ndarray) -> dict[str, Any]:
    """Benefit of low p per O and its trend with O.

    ``log_final`` maps O to (tasks, P) log10 final scaled errors (mean over seeds),
    columns in ascending p. Per O: the benefit, 10^(mean over tasks of log10 E(p=1) -
    log10 E(p_min)) (> 1: the lowest p ends lower) with a 95 % interval; the spread of
    the p curves, the mean over tasks of the sd across p of log10 E (0: collapsed); a
    Page trend test. Across O: the slopes of per-task log10 benefit and spread vs log2 O
    (negative: shrinking) with 95 % intervals, p-values and Spearman's rho.
    """
    per_o: dict[str, Any] = {}
    xs, benefits, spreads = [], [], []
    for o in sorted(log_final):
        lf = np.asarray(log_final[o], dtype=float)
        benefit = lf[:, -1] - lf[:, 0]
        spread = lf.std(axis=1, ddof=0)
        m, lo, hi = mean_ci(benefit)
        trend = trend_statistics(lf, p_values)
        per_o[str(o)] = {
            "tasks": len(lf),
            "geomean_final_by_p": rounded(10 ** lf.mean(axis=0)),
            "benefit_ratio": rounded(10**m),
            "benefit_ratio_ci95": rounded([10**lo, 10**hi]),
            "spread_log10": rounded(float(spread.mean())),
            "page_p_value": trend["page_p_value"],
            "fraction_tasks_lowest_p_better": trend["fraction_tasks_lowest_p_better"],
        }
        xs += [math.log2(o)] * len(lf)
        benefits += benefit.tolist()
        spreads += spread.tolist()
    x = np.array(xs)
    return {
        "by_O": per_o,
        "benefit_vs_log2_O": _linregress(x, np.array(benefits)),
        "spread_vs_log2_O": _linregress(x, np.array(spreads)),
    }


def monotonicity_in_p(log_final: np.ndarray, p_values: np.ndarray) -> dict[str, Any]:
    """Is the final error monotone in p (lower p never worse)? Tested, not assumed.

    ``log_final`` (tasks, P) log10 final scaled errors, columns in ascending p. For each
    pair of neighbouring p values the geometric-mean ratio E(p_lo) / E(p_hi) over tasks
    with its 95 % t interval and a two-sided paired t-test p-value. ``monotone``: no pair
    has an interval wholly above 1 (no significant reversal); ``ordered``: the point
    estimates themselves are non-increasing as p falls; ``best_p``: the p of the lowest
    geometric-mean error; the reversals found (pairs with the ratio's interval above 1).
    """
    lf = np.asarray(log_final, dtype=float)
    pairs = []
    for j in range(lf.shape[1] - 1):
        d = lf[:, j] - lf[:, j + 1]  # log10 E(p_lo) - log10 E(p_hi): < 0 when lower p is better
        m, lo, hi = mean_ci(d)
        testable = len(d) > 1 and np.ptp(d) > 0
        t_p = float(stats.ttest_1samp(d, 0.0).pvalue) if testable else float("nan")
        pairs.append({
            "p_lo": rounded(p_values[j]), "p_hi": rounded(p_values[j + 1]),
            "ratio": rounded(10**m), "ratio_ci95": rounded([10**lo, 10**hi]),
            "t_p_value": rounded(t_p, 3),
        })  # fmt: skip
    reversals = [q for q in pairs if q["ratio_ci95"][0] is not None and q["ratio_ci95"][0] > 1]
    geo = lf.mean(axis=0)
    return {
        "monotone": not reversals,
        "ordered": bool(np.all(np.diff(geo) >= 0)),
        "best_p": rounded(p_values[int(np.argmin(geo))]),
        "neighbours": pairs,
        "reversals": reversals,
    }


def benefit_vs_input_scale(records: list[dict]) -> list[dict[str, Any]]:
    """The benefit of desynchrony against the applied-voltage scale (primary arm).

    ``records`` of one study (one O for allostery) with ``v_max`` in their points; per input
    range [0, v_max] V, ascending: ``benefit`` = E(p=1) / E(p_min), the geometric mean over
    tasks of the ratio of seed-mean final scaled errors, with its 95 % t interval
    (``benefit_ci95``); the fraction of codes at either rail (0 or the top) at the end,
    overall and by p; and `monotonicity_in_p` of the final errors.
    """
    by_v: dict[float, list[dict]] = {}
    for rec in records:
        if rec["point"]["sigma_max"] == SIGMA_MAX:
            by_v.setdefault(float(rec["point"].get("v_max", V_REFERENCE)), []).append(rec)
    rows = []
    for v_max in sorted(by_v):
        recs = by_v[v_max]
        ps = np.asarray(recs[0]["point"]["p"], dtype=float)
        lf = np.array([per_task(r, log=True) for r in recs])  # (tasks, P)
        m, lo, hi = mean_ci(lf[:, -1] - lf[:, 0])
        rail = np.array([per_task(r, "codes_at_top") + per_task(r, "codes_at_bottom")
                         for r in recs])  # fmt: skip
        rows.append({
            "v_max": v_max,
            "benefit": rounded(10**m),
            "benefit_ci95": rounded([10**lo, 10**hi]),
            "tasks": len(recs),
            "fraction_codes_at_rail": rounded(float(rail.mean()), 3),
            "fraction_codes_at_rail_by_p": rounded(rail.mean(axis=0), 3),
            "geomean_final_by_p": rounded(10 ** lf.mean(axis=0)),
            "monotone_in_p": monotonicity_in_p(lf, ps),
        })  # fmt: skip
    return rows


def _input_scale_axes(ax, rows: list[dict], control: float | None, title: str) -> None:
    """Benefit E(p=1)/E(p_min) against v_max with 95 % intervals; the fraction of codes at
    a rail on a second axis; the sigma = 0 benefit (the large-v_max limit) dashed."""
    v = np.array([r["v_max"] for r in rows], dtype=float)
    b = np.array([r["benefit"] for r in rows], dtype=float)
    ci = np.array([r["benefit_ci95"] for r in rows], dtype=float)
    ci = np.where(np.isfinite(ci), ci, b[:, None])
    ax.errorbar(v, b, yerr=[b - ci[:, 0], ci[:, 1] - b], fmt="o-", capsize=3, color="C3",
                label=f"sigma_max = {SIGMA_MAX:g} V")  # fmt: skip
    if control is not None:
        ax.axhline(control, color="C3", ls="--", lw=1, label="sigma = 0 (scale-free)")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="input range v_max (inputs on [0, v_max] V)",
           ylabel=f"benefit E(p=1) / E(p={P_VALUES[0]:g})", title=title)  # fmt: skip
    ax.set_xticks(v, [f"{x:g}" for x in v])
    ax.set_xticks([], minor=True)
    ax.legend(fontsize=8, loc="upper left")
    twin = ax.twinx()
    twin.plot(v, [r["fraction_codes_at_rail"] for r in rows], "s:", color="0.4", ms=4)
    twin.set_ylim(0, 1)
    twin.set_ylabel("fraction of codes at a rail (squares)", fontsize=8)


def _wilcoxon_less(d: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value that the paired differences ``d`` are
    below 0; 1 if all are 0, NaN if scipy cannot test (too few tasks)."""
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():  # a few tasks, ties: scipy warns, we return NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return float(stats.wilcoxon(d, alternative="less").pvalue)
        except ValueError:
            return float("nan")


def paired_statistics(final: np.ndarray, p_values: np.ndarray) -> dict[str, Any]:
    """Final error at p < 1 vs p = 1, paired by task. ``final`` (tasks, P), last column
    p = 1. Per p: mean +- sem over tasks, geometric mean, the mean difference to p = 1
    with a 95 % interval and a one-sided Wilcoxon signed-rank test (alternative: lower
    than at p = 1); since errors span decades across tasks, also the geometric-mean ratio
    to p = 1 with its interval and the same test on log ratios (each task weighs alike).
    The same for the per-task mean over every p < 1."""
    final = np.asarray(final, dtype=float)
    if p_values[-1] != 1.0:
        raise ValueError("the last p must be 1")
    sync = final[:, -1]
    tiny = 1e-300

    def compare(x: np.ndarray) -> dict[str, Any]:
        d = x - sync
        lr = np.log10(np.maximum(x, tiny)) - np.log10(np.maximum(sync, tiny))
        m, lo, hi = mean_ci(d)
        lm, llo, lhi = mean_ci(lr)
        return {
            "mean": rounded(float(x.mean())),
            "sem": rounded(float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1
                           else float("nan")),
            "geomean": rounded(float(10 ** np.log10(np.maximum(x, tiny)).mean())),
            "mean_minus_sync": rounded(m),
            "mean_minus_sync_ci95": rounded([lo, hi]),
            "fraction_tasks_lower": rounded(float(np.mean(d < 0))),
            "wilcoxon_p_value": rounded(_wilcoxon_less(d), 3),
            "geomean_ratio_to_sync": rounded(10**lm),
            "geomean_ratio_ci95": rounded([10**llo, 10**lhi]),
            "wilcoxon_log_p_value": rounded(_wilcoxon_less(lr), 3),
        }

    by_p = {f"{p:g}": compare(final[:, j]) for j, p in enumerate(p_values)}
    return {
        "tasks": len(final),
        "by_p": by_p,
        "mean_final_sync": by_p["1"]["mean"],
        "pooled_p_below_1": compare(final[:, :-1].mean(axis=1)),
    }


def _arms(records: list[dict]) -> dict[float, list[dict]]:
    """Records at the reference input range grouped by ``sigma_max``, primary arm first."""
    ref = reference_v_max({r["point"].get("v_max", V_REFERENCE) for r in records})
    records = [r for r in records if r["point"].get("v_max", V_REFERENCE) == ref]
    arms: dict[float, list[dict]] = {}
    for rec in sorted(records, key=lambda r: -r["point"]["sigma_max"]):
        arms.setdefault(rec["point"]["sigma_max"], []).append(rec)
    return arms


def per_task(rec: dict, key: str = "final", log: bool = False) -> np.ndarray:
    """(P,) mean over seeds of a record's per-network ``key`` values (P x S, p-major)."""
    vals = np.asarray(rec["result"][key], dtype=float)
    n_p = len(rec["point"]["p"])
    vals = vals.reshape(n_p, -1)
    return np.log10(vals).mean(axis=1) if log else vals.mean(axis=1)


# ----------------------------------------------------------------------------- batched runs


def _seeds(point: dict) -> np.ndarray:
    """Per-network seeds (P x S, p-major): the same S seeds at every p (paired offsets)."""
    base = 1000 * point["task_seed"] + np.arange(point["seeds"])
    return np.tile(base, len(point["p"]))


def _run_batch(point: dict, task) -> dict[str, Any]:
    from lab.core.network import Network
    from lab.insilico.batch import Rule, train_batch

    t0 = time.perf_counter()
    network = Network.from_name(point["network"])
    ps = np.asarray(point["p"], dtype=float)
    steps = point["steps"]
    rule = Rule(
        "discrete", eta=point["eta"], sigma_max=point["sigma_max"],
        n_positions=point.get("n_positions", N_POSITIONS),
        spacing=point.get("spacing", "linear"),
    )  # fmt: skip
    res = train_batch(
        network, task, steps=steps, rule=rule, p=np.repeat(ps, point["seeds"]),
        seeds=_seeds(point), eval_every=max(1, steps // point["evals"]),
    )  # fmt: skip
    scaled = res.scaled("test")
    top = rule.n_positions - 1
    return {
        "p": rounded(np.repeat(ps, point["seeds"])),
        "seed": _seeds(point).tolist(),
        "eval_steps": res.eval_steps.tolist(),
        "scaled": rounded(scaled, 4),
        "final": rounded(final_window(scaled, res.eval_steps, steps)),
        "initial_error": rounded(res.test_error[0]),
        "codes_at_top": rounded((res.codes == top).mean(axis=1), 3),
        "codes_at_bottom": rounded((res.codes == 0).mean(axis=1), 3),
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def _batch_points(name: str, args: StudyArgs, tasks: int, extra: dict,
                  v_maxes: tuple[float, ...] = (V_REFERENCE,)) -> list[dict]:  # fmt: skip
    """Points of an in-silico study: the primary arm (sigma = SIGMA_MAX) at every input
    range of ``v_maxes`` and the control arm (sigma = 0, scale-free) at the reference range
    (`reference_v_max`), each on ``tasks`` tasks (the same task seeds: the same nodes and
    the same inputs scaled, so ranges are paired by task)."""
    seeds = args.size("seeds", 3, 5)
    steps = args.size("steps", 10_000, 20_000)
    common = {
        "study": name, "network": args.network_or(NETWORK), "p": list(P_VALUES), "seeds": seeds,
        "steps": steps, "eta": ETA, "n_positions": N_POSITIONS, **extra,
    }  # fmt: skip
    points = []
    for v_max in v_maxes:
        points += [{**common, "sigma_max": SIGMA_MAX, "v_max": v_max, "task_seed": t}
                   for t in range(tasks)]  # fmt: skip
    points += [{**common, "sigma_max": CONTROL_SIGMA, "v_max": reference_v_max(v_maxes),
                "task_seed": t} for t in range(tasks)]  # fmt: skip
    return points


def reference_v_max(v_maxes) -> float:
    """The input range of the statistics without an input-scale axis: `V_REFERENCE` if
    it is among ``v_maxes``, else the smallest."""
    v_maxes = sorted(float(v) for v in v_maxes)
    return V_REFERENCE if V_REFERENCE in v_maxes else v_maxes[0]


def _mean_curves(recs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(T,) eval steps and (P, T) geometric mean over tasks and seeds of scaled error."""
    steps = np.asarray(recs[0]["result"]["eval_steps"])
    n_p = len(recs[0]["point"]["p"])
    logs = [
        np.log10(np.maximum(np.asarray(r["result"]["scaled"], float), 1e-12))
        .reshape(len(steps), n_p, -1).mean(axis=2)
        for r in recs
    ]  # fmt: skip
    return steps, 10 ** np.mean(logs, axis=0).T


# ----------------------------------------------------------------------------- regression


def regression_points(args: StudyArgs) -> list[dict]:
    tasks = args.size("tasks", 16, 100)
    extra = {"n_inputs": 2, "n_outputs": 2, "n_train": 16, "n_test": 64, "evals": 50}
    v_maxes = args.values("v_max", V_MAX_VALUES)
    return _batch_points("discrete-regression", args, tasks, extra, v_maxes)


def run_regression_point(point: dict) -> dict:
    """One regression task, every p x seed in one batch."""
    from lab.tasks import regression_task

    task = regression_task(
        point["network"], n_inputs=point["n_inputs"], n_outputs=point["n_outputs"],
        n_train=point["n_train"], n_test=point["n_test"], seed=point["task_seed"],
        v_range=(0.0, point.get("v_max", V_REFERENCE)),
    )  # fmt: skip
    return _run_batch(point, task)


def _arm_regression(recs: list[dict]) -> dict[str, Any]:
    ps = np.asarray(recs[0]["point"]["p"], dtype=float)
    steps = recs[0]["point"]["steps"]
    final = np.array([per_task(r) for r in recs])
    out = trend_statistics(final, ps)
    out["steps"] = steps
    out["updates_per_edge_at_lowest_p"] = rounded(steps * ps[0])
    # the same statistic had training stopped earlier (equal steps, shorter runs)
    by_time = {}
    for frac in (0.1, 0.25, 0.5):
        t = round(frac * steps)
        f = np.array([
            _at_time(np.asarray(r["result"]["scaled"]), r["result"]["eval_steps"], t)
            .reshape(len(ps), -1).mean(axis=1)
            for r in recs
        ])  # fmt: skip
        s = trend_statistics(f, ps)
        by_time[str(t)] = {k: s[k] for k in ("mean_final_by_p", "slope_per_decade_p",
                                             "slope_ci95", "page_p_value")}  # fmt: skip
    out["at_earlier_steps"] = by_time
    out["fraction_codes_at_top_by_p"] = rounded(np.mean([per_task(r, "codes_at_top") for r in recs],
                                                   axis=0), 3)  # fmt: skip
    return out


def _control_benefit(arms: dict[float, list[dict]]) -> float | None:
    """E(p=1) / E(p_min) of the sigma = 0 arm (geometric mean over tasks), if run."""
    recs = arms.get(CONTROL_SIGMA)
    if not recs:
        return None
    lf = np.array([per_task(r, log=True) for r in recs])
    return rounded(10 ** float(np.mean(lf[:, -1] - lf[:, 0])))


def _input_scale_summary(rows: list[dict], control: float | None) -> dict[str, Any]:
    """`benefit_vs_input_scale` rows and what they show: does the benefit at the largest
    range exceed the one at the smallest (point estimates, and the paired intervals)?"""
    out: dict[str, Any] = {"benefit_vs_input_scale": rows, "benefit_sigma_0": control}
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        out["benefit_largest_over_smallest_range"] = rounded(hi["benefit"] / lo["benefit"])
        out["benefit_rises_with_input_range"] = bool(hi["benefit"] > lo["benefit"])
    return out


def summarize_regression(records: list[dict], args: StudyArgs, out_dir: Path) -> dict:
    arms = _arms(records)
    result: dict[str, Any] = {}
    for sigma, recs in arms.items():
        key = "primary" if sigma == SIGMA_MAX else f"control_sigma_{sigma:g}"
        result[key] = {"sigma_max": sigma, **_arm_regression(recs)}
    prim = result.get("primary")
    if prim is not None:
        result["reproduced"] = bool(
            prim["slope_ci95"][0] is not None and prim["slope_ci95"][0] > 0
            and prim["page_p_value"] is not None and prim["page_p_value"] < 0.05
        )  # fmt: skip
    control = _control_benefit(arms)
    result.update(_input_scale_summary(benefit_vs_input_scale(records), control))
    fig, axes = figure(16, 3)
    _input_scale_axes(axes[2], result["benefit_vs_input_scale"], control,
                      "benefit of low p against the input range")  # fmt: skip
    for (sigma, recs), style in zip(arms.items(), ("-", "--"), strict=False):
        ps = np.asarray(recs[0]["point"]["p"])
        final = np.array([per_task(r) for r in recs])
        if sigma == SIGMA_MAX:
            for row in final:
                axes[0].plot(ps, row, color="0.8", lw=0.6)
        stat = trend_statistics(final, ps)
        lo, hi = np.array(stat["ci95_final_by_p"], dtype=float).T
        m = np.array(stat["mean_final_by_p"], dtype=float)
        axes[0].errorbar(ps, m, yerr=[m - lo, hi - m], fmt="o" + style, capsize=3,
                         label=f"sigma_max = {sigma:g} V ({len(recs)} tasks)")  # fmt: skip
        steps, curves = _mean_curves(recs)
        for j, p in enumerate(ps):
            axes[1].plot(steps, curves[j], style, color=f"C{j}",
                         label=f"p = {p:g}" if sigma == SIGMA_MAX else None)  # fmt: skip
    axes[0].set(xscale="log", xlabel="update probability p", ylabel="final scaled test error",
                title=f"discrete rule, {records[0]['point']['network']}, "
                      "2-in 2-out regression")  # fmt: skip
    axes[0].legend(fontsize=8)
    axes[1].set(yscale="log", xlabel="training step", ylabel="scaled test error (geo. mean)",
                title="solid: sigma_max = 0.05 V; dashed: sigma = 0")  # fmt: skip
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "discrete-regression.png", dpi=120)
    return result


# ----------------------------------------------------------------------------- allostery


def allostery_points(args: StudyArgs) -> list[dict]:
    """Every O at the reference range; O = `O_INPUT_SCALE` at every input range too."""
    tasks = args.size("tasks", 8, 25)
    v_maxes = args.values("v_max", V_MAX_VALUES)
    points = []
    for o in O_VALUES:
        ranges = v_maxes if o == O_INPUT_SCALE else (reference_v_max(v_maxes),)
        points += _batch_points("discrete-allostery", args, tasks, {"n_io": o, "evals": 100},
                                ranges)  # fmt: skip
    return points


def run_allostery_point(point: dict) -> dict:
    """One random allostery task with O = ``n_io``, every p x seed in one batch."""
    from lab.tasks import random_allostery

    task = random_allostery(point["network"], n_io=point["n_io"], seed=point["task_seed"],
                            v_range=(0.0, point.get("v_max", V_REFERENCE)))  # fmt: skip
    return _run_batch(point, task)


def summarize_allostery(records: list[dict], args: StudyArgs, out_dir: Path) -> dict:
    arms = _arms(records)
    result: dict[str, Any] = {}
    fig, axes = figure(20, 4)
    scale_recs = [r for r in records if r["point"]["n_io"] == O_INPUT_SCALE]
    control_recs = [r for r in arms.get(CONTROL_SIGMA, []) if r["point"]["n_io"] == O_INPUT_SCALE]
    control = _control_benefit({CONTROL_SIGMA: control_recs})
    result.update(_input_scale_summary(benefit_vs_input_scale(scale_recs), control))
    result["input_scale_O"] = O_INPUT_SCALE
    _input_scale_axes(axes[3], result["benefit_vs_input_scale"], control,
                      f"O = {O_INPUT_SCALE}: benefit against the input range")  # fmt: skip
    for sigma, recs in arms.items():
        key = "primary" if sigma == SIGMA_MAX else f"control_sigma_{sigma:g}"
        ps = np.asarray(recs[0]["point"]["p"], dtype=float)
        by_o: dict[int, list[np.ndarray]] = {}
        tops: dict[int, list[np.ndarray]] = {}
        for r in recs:
            o = r["point"]["n_io"]
            by_o.setdefault(o, []).append(per_task(r, log=True))
            tops.setdefault(o, []).append(per_task(r, "codes_at_top"))
        log_final = {o: np.array(v) for o, v in by_o.items()}
        stat = allostery_statistics(log_final, ps)
        for o in log_final:
            stat["by_O"][str(o)]["fraction_codes_at_top_by_p"] = rounded(
                np.mean(tops[o], axis=0), 3)
        result[key] = {"sigma_max": sigma, "steps": recs[0]["point"]["steps"], **stat}
        ax = axes[0] if sigma == SIGMA_MAX else axes[1]
        for i, o in enumerate(sorted(log_final)):
            ax.plot(ps, stat["by_O"][str(o)]["geomean_final_by_p"], "o-", color=f"C{i}",
                    label=f"O = {o}")  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="update probability p",
               ylabel="final scaled error (geo. mean over tasks)",
               title=f"discrete allostery, {recs[0]['point']['network']}, "
                     f"sigma_max = {sigma:g} V")  # fmt: skip
        ax.legend(fontsize=8)
        os_ = sorted(log_final)
        ratio = np.array([stat["by_O"][str(o)]["benefit_ratio"] for o in os_], dtype=float)
        ci = np.array([stat["by_O"][str(o)]["benefit_ratio_ci95"] for o in os_], dtype=float).T
        axes[2].errorbar(os_, ratio, yerr=[ratio - ci[0], ci[1] - ratio], fmt="o-", capsize=3,
                         label=f"sigma_max = {sigma:g} V")  # fmt: skip
    axes[2].axhline(1.0, color="0.5", lw=0.8)
    axes[2].set(xscale="log", yscale="log", xlabel="O (inputs = outputs)",
                ylabel=f"E(p=1) / E(p={P_VALUES[0]:g})", title="benefit of low p")  # fmt: skip
    axes[2].set_xticks(list(O_VALUES), [str(o) for o in O_VALUES])
    axes[2].set_xticks([], minor=True)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "discrete-allostery.png", dpi=120)
    return result


# ----------------------------------------------------------------------------- experiment


def experiment_points(args: StudyArgs) -> list[dict]:
    if args.network not in (None, "twin16"):
        raise ValueError(
            f"field 'network': the experiment runs on the emulated twin16 board, "
            f"not {args.network!r}"
        )
    tasks = args.size("tasks", 30, 100)
    boards = args.size("seeds", 2, 3)
    steps = args.size("steps", 5_000, 10_000)
    common = {
        "study": "experiment-allostery", "bench": "emulator", "network": "twin16", "n_io": 2,
        "p": list(P_EXPERIMENT), "boards": boards, "steps": steps, "eta": ETA,
        "calibration_points": 21, "calibration_pulses": 400,
    }  # fmt: skip
    return [{**common, "task_seed": t} for t in range(tasks)]


@functools.lru_cache(maxsize=8)
def _measured_calibration(board_seed: int, points: int, pulses: int):
    """p(bias) measured on emulated board ``board_seed`` (`lab.hal.calibration.sweep`, as
    ``twinlab calibrate``), on a bench that is then discarded (the sweep moves the pots)."""
    from lab.hal.benchfile import load_bench
    from lab.procedures.calibration import sweep

    bench = study_bench(load_bench(None, seed=board_seed))
    try:
        lo, hi = bench.bias_limits
        measured = sweep(bench, np.linspace(lo, hi, points), pulses)
    finally:
        bench.close()
    return measured.fit(f"sweep of board {board_seed}: {points} biases x {pulses} pulses")


def run_experiment_point(point: dict) -> dict:
    """One 2-in 2-out random allostery task on twin16, trained on the emulated board
    (seeds 0 .. boards-1, fresh at power-on codes for each run) at every p; p is set by
    the bias through the board's measured calibration. Returns per run (p-major, then
    board) the final scaled error, the p the probe observed, and a 100-bin error curve."""
    from lab.acquire.records import Observer
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.hal.benchfile import load_bench
    from lab.tasks import random_allostery

    class _Enables(Observer):
        def __init__(self) -> None:
            self.on = 0
            self.seen = 0
            self.errors: list[float] = []  # the whole curve (the trainer keeps a bounded trace)

        def step(self, record) -> None:
            self.errors.append(record.error)
            if record.update_mask is not None:
                self.on += int(np.count_nonzero(record.update_mask))
                self.seen += record.update_mask.size

    t0 = time.perf_counter()
    task = random_allostery(point["network"], n_io=point["n_io"], seed=point["task_seed"])
    steps = point["steps"]
    bins = min(100, steps)
    out: dict[str, list] = {"p": [], "board": [], "p_observed": [], "final": [],
                            "initial_error": [], "curve": []}  # fmt: skip
    for p in point["p"]:
        for board in range(point["boards"]):
            cal = _measured_calibration(
                board, point["calibration_points"], point["calibration_pulses"]
            )
            bench = study_bench(load_bench(None, seed=board))
            bench.calibration = cal
            enables = _Enables()
            settings = settings_from(
                task=task.name, p=p, eta=point["eta"], steps=steps, seed=board, test_every=0
            )
            try:
                trainer = Trainer(bench, task, settings, [enables])
                trainer.run()
            finally:
                bench.close()
            err = np.asarray(enables.errors)
            scaled = err / err[0]
            out["p"].append(p)
            out["board"].append(board)
            out["p_observed"].append(rounded(enables.on / max(enables.seen, 1), 4))
            n_last = max(1, round(FINAL_FRACTION * steps))
            out["final"].append(rounded(scaled[-n_last:].mean()))
            out["initial_error"].append(rounded(err[0]))
            curve = scaled[: bins * (steps // bins)].reshape(bins, -1).mean(axis=1)
            out["curve"].append(rounded(curve, 4))
    return {**out, "curve_steps": rounded((np.arange(bins) + 0.5) * (steps // bins)),
            "wall_s": round(time.perf_counter() - t0, 2)}  # fmt: skip


def summarize_experiment(records: list[dict], args: StudyArgs, out_dir: Path) -> dict:
    ps = np.asarray(records[0]["point"]["p"], dtype=float)
    final = np.array([per_task(r) for r in records])
    result = paired_statistics(final, ps)
    result["steps"] = records[0]["point"]["steps"]
    result["boards"] = records[0]["point"]["boards"]
    p_obs = np.array([per_task(r, "p_observed") for r in records]).mean(axis=0)
    result["p_observed"] = rounded(p_obs, 3)
    pooled = result["pooled_p_below_1"]
    result["reproduced"] = bool(
        pooled["mean"] is not None and pooled["mean"] < result["mean_final_sync"]
        and pooled["wilcoxon_p_value"] is not None and pooled["wilcoxon_p_value"] < 0.05
    )  # fmt: skip
    fig, axes = figure(11, 2)
    for row in final:
        axes[0].plot(ps, row, color="0.85", lw=0.6)
    m = np.array([result["by_p"][f"{p:g}"]["mean"] for p in ps], dtype=float)
    sem = np.array([result["by_p"][f"{p:g}"]["sem"] for p in ps], dtype=float)
    axes[0].errorbar(ps, m, yerr=sem, fmt="o-", capsize=3, color="C3",
                     label=f"mean over {len(final)} tasks (+- sem)")  # fmt: skip
    axes[0].set(yscale="log", xlabel="update probability p (set by the bias)",
                ylabel="final scaled error",
                title="emulated 16-edge board, 2-in 2-out allostery")  # fmt: skip
    axes[0].legend(fontsize=8)
    x = np.asarray(records[0]["result"]["curve_steps"])
    n_p = len(ps)
    curves = np.array([
        np.log10(np.maximum(np.asarray(r["result"]["curve"], float), 1e-12))
        .reshape(n_p, -1, len(x)).mean(axis=1)
        for r in records
    ])  # fmt: skip
    for j, p in enumerate(ps):
        axes[1].plot(x, 10 ** curves[:, j].mean(axis=0), label=f"p = {p:g}")
    axes[1].set(yscale="log", xlabel="training step", ylabel="scaled error (geo. mean)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "experiment-allostery.png", dpi=120)
    return result


STUDIES: list[Study] = [
    Study(
        "discrete-regression",
        "Fig. 4E: discrete rule on planar143, 2-in 2-out regression; final scaled test "
        "error vs p (slope per decade of p, Page trend test across tasks); control arm "
        "with sigma = 0; benefit E(p=1)/E(p=0.05) against the input range 5..200 V",
        regression_points,
        run_regression_point,
        summarize_regression,
        ("v_max",),
    ),
    Study(
        "discrete-allostery",
        "Fig. 4D: discrete rule on planar143, random allostery with O = 1, 2, 4, 8; "
        "benefit of low p, E(p=1)/E(p=0.05), per O and its trend with O; spread of the p "
        "curves; control arm with sigma = 0; at O = 2 the benefit against the input range",
        allostery_points,
        run_allostery_point,
        summarize_allostery,
        ("v_max",),
    ),
    Study(
        "experiment-allostery",
        "Fig. 4C analogue: the emulated 16-edge board (all non-idealities, p set by the "
        "bias via a measured calibration), 2-in 2-out random allostery; final scaled "
        "error at p < 1 vs p = 1, paired by task (--seeds: emulated boards per task)",
        experiment_points,
        run_experiment_point,
        summarize_experiment,
    ),
]
