"""Continuous-rule studies: the collapse of Fig. 1B and the power law of Fig. 2A/B.

Both use `lab.insilico.batch.train_batch` (one call trains every p value and seed of one task at
once) and the continuous rule of eq. 2, resistances in Ohm from 1 Ohm.

``collapse`` (Wycoff et al. Fig. 1B). 143-edge planar network, 2-in 2-out random linear
regression (`lab.tasks.regression_task`, 16 train / 64 test examples), p in
{0.1, 0.2, 0.3, 0.5, 0.7, 1}, gamma = 0.05 / 16 per example (16 summed), eta = 0.5
(small enough steps that the p = 1 curve is smooth on this network), every network
trained the same T steps. For
each p the curve is the geometric mean over tasks and seeds of the scaled test error
(error / error at step 0). Spread statistic: on a grid of 40 log-spaced x values from
the first evaluation (``eval_every`` steps) to p_min T -- the range every curve covers in
both coordinates -- interpolate each curve's log error (linearly in log x) at step = x
(uncollapsed) and at step x p = x (collapsed); the spread at x is the standard deviation
over p of those log errors; the statistic is its mean over the grid. Headline: the ratio
uncollapsed / collapsed, with a 95 % bootstrap interval over tasks.

``powerlaw`` (Fig. 2A/B, eqs. 8-9). 16-edge twin network, full-batch regression with
B = 16 training examples. The task is *realisable*: its desired outputs are the response
of a teacher network (same edges, resistances log-uniform on [0.5, 2] Ohm) to random
inputs, with the input, output and ground nodes of `regression_task`. A random linear
map is usually not realisable on 16 edges, and then some resistances run off toward
r_max without end (no converged solution to measure a distance from); a realisable task
has a manifold of exact solutions, which is what the paper's argument is about. Every
network starts at 1 Ohm on every edge. Reference: synchronous full batch (p = b = 1).
For each x in ``1 - k/16`` (k = 1, 2, 3, 4, 6, 8, 11, 14; round(16 x) edges or examples
exactly, so the fixed-fraction variants are exact) six variants are trained: p = x
(b = 1), b = x (p = 1), p = b = x, each with Bernoulli masks and with fixed-fraction
masks; all networks of a task (reference included) run the same T steps. The learning
rate is an axis (issue 15): gamma in `POWERLAW_GAMMAS` (per example; eq. 7 sums the 16
examples of a step), every gamma at the same scaled time gamma x T (`POWERLAW_TAU`,
long enough for p = 1/8 to converge); the Fig. 2A/B panels use the median gamma.
Distance: the L2 norm of R(variant) - R(reference), Ohm, at the end and at a fixed
scaled time before convergence (`POWERLAW_TAU_EARLY`, to the reference at that step).
Fit: per task, the least-squares slope of ln(geometric mean over seeds of the distance)
against ln(1 - x); alpha = the mean slope over tasks (the same as a pooled fit with one
intercept per task), 95 % bootstrap interval over tasks; r2 of the line on the task-mean
curve (`curve_r2`). The same fit of the seed-mean shift |mean_s R - R_ref| and of the
seeds' rms spread around their mean separates the systematic and the random parts of
the distance. Convergence is checked, not assumed: every network is trained in legs
(to the early time, to 3/4, to the end) and the statistics report the drift
||R(end) - R(3/4)|| relative to the distance measured, and the final scaled train error.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from lab.insilico.studies.base import Study, StudyArgs, rounded

# ----------------------------------------------------------------------------- shared


def _r(x: float) -> float | None:
    """`rounded` to the 4 significant digits of this module's statistics."""
    return rounded(x, 4)


def _seed(*parts: int) -> int:
    """A 62-bit seed from integer parts (distinct parts -> independent streams; room for
    the +1 of a second leg within int64)."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(2))


def _bootstrap(values: np.ndarray, stat, n_boot: int = 2000, seed: int = 12345) -> list[float]:
    """95 % percentile interval of ``stat(values[idx])`` over resampled first indices."""
    n = len(values)
    if n < 2:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    draws = np.array([stat(values[rng.integers(0, n, n)]) for _ in range(n_boot)])
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return [float(lo), float(hi)]


def _ci_text(ci: list[float | None]) -> str:
    """``[lo, hi]`` of a 95 % interval with 2 decimals; ``[n/a]`` when it is undefined
    (one task gives no spread to bootstrap)."""
    if any(c is None for c in ci):
        return "[n/a]"
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _task_points(study: str, args: StudyArgs, network: str, *, tasks: tuple[int, int],
                 seeds: tuple[int, int], **fields) -> list[dict]:  # fmt: skip
    """One point per task seed (16 train / 64 test examples each): ``tasks`` and ``seeds``
    are (default, paper) sizes, ``network`` the study's own, ``fields`` the rest."""
    common = {"study": study, "network": args.network_or(network), "n_train": 16,
              "n_test": 64, "seeds": args.size("seeds", *seeds), **fields}  # fmt: skip
    return [{**common, "task_seed": t} for t in range(args.size("tasks", *tasks))]


def _sizes(records: list[dict]) -> dict:
    """What a summary reports of how its study was run: network, sizes and rule."""
    pt = records[0]["point"]
    return {"network": pt["network"], "tasks": len(records),
            **{k: pt[k] for k in ("seeds", "steps", "gamma", "eta")}}  # fmt: skip


# ----------------------------------------------------------------------------- collapse

COLLAPSE_PS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
COLLAPSE_RULE = {"eta": 0.5, "gamma": 0.05 / 16}  # per example; 16 summed a step
COLLAPSE_EVALS = 200  # evaluations per run (eval_every = steps // 200)
COLLAPSE_GRID = 40  # x values of the spread statistic
COLLAPSE_NETWORK = "planar143"  # the paper's (StudyArgs.network replaces it)
#: The fewest steps with a spread grid: p_min x steps above the first evaluated step.
COLLAPSE_MIN_STEPS = next(
    s for s in range(1, 10**6) if min(COLLAPSE_PS) * s > max(1, s // COLLAPSE_EVALS)
)


def _collapse_points(args: StudyArgs) -> list[dict]:
    steps = args.size("steps", 4000, 10000, least=COLLAPSE_MIN_STEPS,
                      why=f" (the smallest p, {min(COLLAPSE_PS):g}, x steps must pass the first "
                      "evaluated step)")
    (gamma,) = args.values("gamma", (COLLAPSE_RULE["gamma"],), most=1)
    return _task_points(
        "collapse", args, COLLAPSE_NETWORK, tasks=(16, 64), seeds=(2, 4), steps=steps,
        ps=list(COLLAPSE_PS), eval_every=max(1, steps // COLLAPSE_EVALS),
        **{**COLLAPSE_RULE, "gamma": gamma},
    )  # fmt: skip


def run_collapse_point(point: dict) -> dict:
    """One task: every p x seed trained at once; scaled test error curves (T, P, S)."""
    from lab.core.network import Network
    from lab.insilico.batch import Rule, train_batch
    from lab.tasks import regression_task

    net = Network.from_name(point["network"])
    task = regression_task(point["network"], seed=point["task_seed"], n_train=point["n_train"],
                           n_test=point["n_test"])  # fmt: skip
    ps = np.asarray(point["ps"], dtype=float)
    n_seeds = point["seeds"]
    seeds = [_seed(1, point["task_seed"], i, s) for i in range(len(ps)) for s in range(n_seeds)]
    res = train_batch(
        net, task, steps=point["steps"],
        rule=Rule("continuous", eta=point["eta"], gamma=point["gamma"]),
        p=np.repeat(ps, n_seeds), seeds=np.array(seeds), eval_every=point["eval_every"],
    )  # fmt: skip
    scaled = res.scaled("test").reshape(len(res.eval_steps), len(ps), n_seeds)
    return {
        "eval_steps": res.eval_steps.tolist(),
        "initial_test_error": float(res.test_error[0, 0]),
        "log_scaled_test": np.round(np.log(scaled), 6).tolist(),  # (T, P, S)
        "final_scaled_train": np.round(res.scaled("train")[-1], 6).tolist(),
    }


def collapse_spread(
    steps: np.ndarray, log_err: np.ndarray, ps: np.ndarray, grid: np.ndarray
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Spread of the curves ``log_err`` (T, P) evaluated at ``steps`` (T,) for each p.

    Returns (uncollapsed, collapsed, spread(x) uncollapsed, spread(x) collapsed): the
    standard deviation over p of each curve interpolated (linear in log x) at ``grid``
    with x = steps, resp. x = steps * p, and its mean over the grid. Step 0 is left out
    (log 0); the grid must lie within every curve's range.
    """
    pos = steps > 0
    out = []
    for collapsed in (False, True):
        ys = []
        for j, p in enumerate(ps):
            x = np.log(steps[pos] * (p if collapsed else 1.0))
            if np.log(grid[0]) < x[0] - 1e-9 or np.log(grid[-1]) > x[-1] + 1e-9:
                raise ValueError(f"grid {grid[0]:g}..{grid[-1]:g} outside the curve of p={p:g}")
            ys.append(np.interp(np.log(grid), x, log_err[pos, j]))
        out.append(np.std(ys, axis=0))
    return float(out[0].mean()), float(out[1].mean()), out[0], out[1]


def _collapse_summary(records: list[dict], args: StudyArgs, out_dir: Path) -> dict:
    pt = records[0]["point"]
    ps = np.asarray(pt["ps"])
    steps = np.asarray(records[0]["result"]["eval_steps"])
    # (tasks, T, P): mean log scaled error over seeds of each task
    per_task = np.array([np.mean(r["result"]["log_scaled_test"], axis=2) for r in records])
    per_task = np.maximum(per_task, -700.0)  # an exact 0 error would be log 0
    lo = float(steps[steps > 0][0])
    hi = float(ps.min() * steps[-1])
    if hi <= lo:
        raise ValueError(
            f"collapse: steps {int(steps[-1])} too few for a grid (p_min * steps <= {lo:g}); "
            "raise --steps"
        )
    grid = np.geomspace(lo, hi, COLLAPSE_GRID)
    mean_log = per_task.mean(axis=0)
    unc, col, unc_x, col_x = collapse_spread(steps, mean_log, ps, grid)
    ratio = unc / col if col > 0 else float("inf")

    def ratio_of(sample: np.ndarray) -> float:
        u, c, _, _ = collapse_spread(steps, sample.mean(axis=0), ps, grid)
        return u / c if c > 0 else float("nan")

    ci = _bootstrap(per_task, ratio_of, n_boot=1000)
    final = {f"{p:g}": _r(math.exp(mean_log[-1, j])) for j, p in enumerate(ps)}
    stats = {
        "headline": (
            f"spread uncollapsed / collapsed = {ratio:.1f} (95% CI {ci[0]:.1f}-{ci[1]:.1f}, "
            f"over {len(records)} tasks); target >= 5"
        ),
        "spread_ratio": _r(ratio),
        "spread_ratio_ci95": [_r(c) for c in ci],
        "spread_uncollapsed": _r(unc),
        "spread_collapsed": _r(col),
        "spread_definition": (
            "mean over 40 log-spaced x in [first eval, p_min*steps] of the std over p of "
            "ln(geometric-mean scaled test error), interpolated linearly in ln x at "
            "step = x (uncollapsed) or step*p = x (collapsed)"
        ),
        "grid": [_r(g) for g in grid],
        "spread_uncollapsed_at_grid": [_r(v) for v in unc_x],
        "spread_collapsed_at_grid": [_r(v) for v in col_x],
        "ps": ps.tolist(),
        **_sizes(records),
        "eval_steps": steps.tolist(),
        "geomean_scaled_test_error": {
            f"{p:g}": [_r(math.exp(v)) for v in mean_log[:, j]] for j, p in enumerate(ps)
        },
        "final_scaled_test_error": final,
    }
    _collapse_figure(out_dir / "collapse.png", steps, mean_log, ps, grid, stats)
    return stats


def _collapse_figure(path: Path, steps, mean_log, ps, grid, stats) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    pos = steps > 0
    colors = [f"C{i}" for i in range(len(ps))]
    for ax, collapsed in zip(axes, (False, True), strict=True):
        for j, p in enumerate(ps):
            x = steps[pos] * (p if collapsed else 1.0)
            ax.loglog(x, np.exp(mean_log[pos, j]), color=colors[j], label=f"p = {p:g}")
        ax.axvspan(grid[0], grid[-1], color="0.9", zorder=0)
        ax.set_xlabel("training steps x p" if collapsed else "training steps")
        spread = stats["spread_collapsed" if collapsed else "spread_uncollapsed"]
        ax.set_title(f"{'collapsed' if collapsed else 'uncollapsed'}: spread {spread:.3g}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("scaled test error (geometric mean)")
    axes[1].legend(fontsize=8)
    fig.suptitle(
        f"collapse (Fig. 1B): {stats['network']}, {stats['tasks']} tasks x {stats['seeds']} seeds, "
        f"gamma {stats['gamma']:g}; spread ratio {stats['spread_ratio']:.3g} "
        "(shaded: statistic's range)",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)


# ----------------------------------------------------------------------------- powerlaw

POWERLAW_KS = (1, 2, 3, 4, 6, 8, 11, 14)  # 1 - x = k / 16
POWERLAW_RULE = {"eta": 0.5}
#: learning rates of the gamma axis, Ohm^3 / V^2 per example (16 summed a step): 5.6x span,
#: the median (0.025) in the list, up to 0.07, where the first desynchronised networks
#: diverge (``diverged_fraction_p``; at 0.1 a reference does not converge either)
POWERLAW_GAMMAS = (0.0125, 0.0177, 0.025, 0.035, 0.05, 0.07)
#: a network whose final train error exceeds its initial one has diverged
POWERLAW_DIVERGED = 1.0
#: scaled time gamma x steps of every run (enough for p = 1/8 to converge at any gamma)
POWERLAW_TAU = 150.0
POWERLAW_TAU_PAPER = 300.0
#: the "before convergence" measurement, at this scaled time gamma x step: past the fast
#: modes (the reference's train error ~1e-4 of its start) while the slow modes along the
#: near-solution directions still move and p = 1/8 has not converged
POWERLAW_TAU_EARLY = 5.0
POWERLAW_TEACHER = (0.5, 2.0)  # teacher resistances, log-uniform, Ohm
POWERLAW_NETWORK = "twin16"  # the paper's (StudyArgs.network replaces it)
#: variant name -> (mask mode, which of p and b equal x)
VARIANTS: dict[str, tuple[str, str]] = {
    "p": ("bernoulli", "p"),
    "b": ("bernoulli", "b"),
    "p=b": ("bernoulli", "pb"),
    "p fixed": ("fixed", "p"),
    "b fixed": ("fixed", "b"),
    "p=b fixed": ("fixed", "pb"),
}


def teacher_task(network_name: str, seed: int, n_train: int = 16, n_test: int = 64,
                 r_range: tuple[float, float] = POWERLAW_TEACHER, n_inputs: int = 2,
                 n_outputs: int = 2):  # fmt: skip
    """A realisable regression task: `regression_task`'s nodes and inputs (``n_inputs`` in,
    ``n_outputs`` out, 1 ground), desired outputs the free response of a teacher network
    with resistances log-uniform on ``r_range`` (Ohm).

    Returns (task, teacher resistances (E,) Ohm).
    """
    from lab.core.network import Network
    from lab.tasks import regression_task

    net = Network.from_name(network_name)
    task = regression_task(network_name, seed=seed, n_train=n_train, n_test=n_test,
                           n_inputs=n_inputs, n_outputs=n_outputs)  # fmt: skip
    rng = np.random.default_rng([seed, 7])
    r = np.exp(rng.uniform(np.log(r_range[0]), np.log(r_range[1]), net.n_edges))
    fixed = (*task.input_nodes, *task.fixed_nodes)
    out = net.index_of(task.output_nodes)

    def response(x: np.ndarray) -> np.ndarray:
        volts = np.column_stack(
            [x, np.broadcast_to(task.fixed_volts, (len(x), len(task.fixed_volts)))]
        )
        return net.solve(1.0 / r, (fixed, volts))[:, out]

    task = dataclasses.replace(
        task,
        name="teacher-regression",
        train_desired=response(task.train_inputs),
        test_desired=response(task.test_inputs),
        description=f"{task.description} (desired = teacher network's response)",
        source=f"teacher_task({network_name!r}, seed={seed}, r_range={r_range})",
    )
    return task, r


#: task families of the powerlaw study (issue 15's unstated choice of task): ``teacher``
#: (the default, `teacher_task`), ``regression`` (`regression_task`'s random linear map,
#: usually not realisable on 16 edges), ``allostery`` (`random_allostery`, one example,
#: targets inside the applied range, not guaranteed realisable), ``teacher-allostery``
#: (`teacher_task` with one example: realisable allostery). With one example the b variants
#: are trivial (the one example always joins)
POWERLAW_FAMILIES = ("teacher", "regression", "allostery", "teacher-allostery")
#: 1 - x = k / POWERLAW_GRID (16: the twin16 edges and the 16 examples)
POWERLAW_GRID = 16


def powerlaw_task(point: dict):
    """The task of a powerlaw point: ``point["family"]`` (default ``teacher``) of
    `POWERLAW_FAMILIES`, with ``n_inputs``/``n_outputs`` (default 2) for the regression
    families and ``n_io`` for allostery. Returns a `lab.tasks.Task`."""
    from lab.tasks import random_allostery, regression_task

    family = point.get("family", "teacher")
    net, seed = point["network"], point["task_seed"]
    n_in, n_out = point.get("n_inputs", 2), point.get("n_outputs", 2)
    if family == "teacher":
        return teacher_task(net, seed, point["n_train"], point["n_test"],
                            tuple(point["teacher_r"]), n_in, n_out)[0]  # fmt: skip
    if family == "teacher-allostery":
        return teacher_task(net, seed, 1, 1, tuple(point["teacher_r"]), n_in, n_out)[0]
    if family == "regression":
        return regression_task(net, seed=seed, n_train=point["n_train"],
                               n_test=point["n_test"], n_inputs=n_in, n_outputs=n_out)  # fmt: skip
    if family == "allostery":
        return random_allostery(net, point.get("n_io", 2), seed=seed)
    raise ValueError(f"powerlaw: field 'family': expected one of {POWERLAW_FAMILIES}, "
                     f"got {family!r}")  # fmt: skip


def powerlaw_family(point: dict) -> str:
    """The task-family axis name of a powerlaw point: ``NinMout`` from its ``n_inputs``
    and ``n_outputs`` (default 2 each: the study's own family is ``2in2out``)."""
    return f"{point.get('n_inputs', 2)}in{point.get('n_outputs', 2)}out"


def _powerlaw_study_points(args: StudyArgs) -> list[dict]:
    """The study's points: its own family's (``2in2out``, `_powerlaw_points`), then those
    of each other family of ``args.family`` (None: `POWERLAW_DEFAULT_FAMILIES`; names in
    `POWERLAW_TASK_FAMILIES`, `ConfigError` naming the field for another)."""
    points = _powerlaw_points(args)
    family = POWERLAW_DEFAULT_FAMILIES if args.family is None else args.family
    for name in dict.fromkeys(family):
        if name == POWERLAW_OWN_FAMILY:
            continue
        if name not in POWERLAW_TASK_FAMILIES:
            from lab.errors import ConfigError

            raise ConfigError(
                f"field 'family' (--family): expected names from {POWERLAW_OWN_FAMILY} (the "
                f"study's own, always run), {', '.join(POWERLAW_TASK_FAMILIES)}; got {name!r}"
            )
        spec = POWERLAW_TASK_FAMILIES[name]
        sub = dataclasses.replace(
            args,
            tasks=spec["tasks"] if args.tasks is None else args.tasks,
            seeds=spec["seeds"] if args.seeds is None else args.seeds,
            gamma=POWERLAW_CHOICE_GAMMAS if args.gamma is None else args.gamma,
            family=None,
        )
        points += _choice_points(spec["choice"], sub)
    return points


def _powerlaw_points(args: StudyArgs) -> list[dict]:
    """One point per task and learning rate; every gamma runs the same scaled time
    gamma x steps (``--steps``: the steps at the median gamma)."""
    gammas = args.values("gamma", POWERLAW_GAMMAS)
    median = gammas[(len(gammas) - 1) // 2]
    tau = POWERLAW_TAU_PAPER if args.paper else POWERLAW_TAU
    steps_median = args.size("steps", round(tau / median), round(tau / median))
    points = []
    for gamma in gammas:
        steps = max(4, round(steps_median * median / gamma))
        points += _task_points(
            "powerlaw", args, POWERLAW_NETWORK, tasks=(10, 64), seeds=(2, 8), steps=steps,
            early_steps=min(steps, max(1, round(POWERLAW_TAU_EARLY / gamma))),
            teacher_r=list(POWERLAW_TEACHER), ks=list(POWERLAW_KS), gamma=gamma,
            median_gamma=median, **POWERLAW_RULE,
        )  # fmt: skip
    return points


def _legs(net, task, rule, cuts: list[int], p, b, seeds: np.ndarray, mode: str,
          initial: np.ndarray | None = None):  # fmt: skip
    """Train from ``initial`` (E,) Ohm (None: 1 Ohm) to each step count of ``cuts``
    (ascending) in legs, each leg with fresh seeds (the same Markov chain): (R (B, E) at
    each cut, train error (B,) at each cut, initial train error (B,))."""
    from lab.insilico.batch import train_batch

    kw = {"rule": rule, "p": p, "b": b, "p_mode": mode, "b_mode": mode}
    states, errors, done, err0 = [], [], 0, None
    r = None if initial is None else np.broadcast_to(initial, (len(seeds), len(initial))).copy()
    for i, cut in enumerate(cuts):
        if cut > done:
            res = train_batch(net, task, steps=cut - done, seeds=seeds + i, initial=r,
                              eval_every=cut - done, **kw)  # fmt: skip
            r, done = res.resistance, cut
            err0 = res.train_error[0] if err0 is None else err0
            err = res.train_error[-1]
        states.append(r)
        errors.append(err)
    return states, errors, err0


def powerlaw_initial(point: dict, n_edges: int) -> np.ndarray | None:
    """The initial resistances (E,) Ohm of a powerlaw point, shared by the reference and
    every variant: ``point["initial_r"]`` absent -> None (1 Ohm, `train_batch`'s default);
    a number -> that many Ohm on every edge; ``[lo, hi]`` -> log-uniform on [lo, hi] Ohm,
    drawn per task (``default_rng([task_seed, 11])``)."""
    spec = point.get("initial_r")
    if spec is None:
        return None
    if np.ndim(spec) == 0:
        if not float(spec) > 0:
            raise ValueError(f"powerlaw: field 'initial_r': expected > 0 Ohm, got {spec!r}")
        return np.full(n_edges, float(spec))
    lo, hi = (float(v) for v in spec)
    if not 0 < lo <= hi:
        raise ValueError(f"powerlaw: field 'initial_r': expected 0 < lo <= hi Ohm, got {spec!r}")
    rng = np.random.default_rng([point["task_seed"], 11])
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n_edges))


def run_powerlaw_point(point: dict) -> dict:
    """One task at one gamma: for each mask mode one batch of the reference (p = b = 1)
    and every variant x value x seed, all trained ``steps`` steps from `powerlaw_initial`
    (1 Ohm by default); distances to the reference end point, drifts over the last quarter,
    final scaled train errors; and the distances at ``early_steps`` (a fixed scaled time
    before convergence) to the reference at the same step. With ``quarter_samples`` = n
    (> 1) the last quarter is also sampled at n equally spaced steps (3/4 ... end) and
    ``distance_quarter`` is the mean over them of the distance to the reference's end
    point (the time average over the last quarter; the extra legs draw other masks, so
    ``distance`` is then not the same realisation as without)."""
    from lab.core.network import Network
    from lab.insilico.batch import Rule

    net = Network.from_name(point["network"])
    task = powerlaw_task(point)
    rule = Rule("continuous", eta=point["eta"], gamma=point["gamma"])
    xs = np.array([1.0 - k / POWERLAW_GRID for k in point["ks"]])
    steps, n_seeds, tseed = point["steps"], point["seeds"], point["task_seed"]
    n_x = len(xs)
    x_rep = np.repeat(xs, n_seeds)  # (X * S,) x-major
    ones = np.ones_like(x_rep)
    out: dict = {"x": xs.tolist(), "variants": {}}
    for mi, mode in enumerate(("bernoulli", "fixed")):
        names = [n for n, (m, _) in VARIANTS.items() if m == mode]
        p = [1.0]
        b = [1.0]
        for name in names:
            which = VARIANTS[name][1]
            p.append(ones if which == "b" else x_rep)
            b.append(ones if which == "p" else x_rep)
        p_arr, b_arr = np.hstack(p), np.hstack(b)
        seeds = np.array([_seed(3, tseed, mi, i) for i in range(len(p_arr))], dtype=np.int64)
        early_steps = point.get("early_steps", steps)
        n_q = int(point.get("quarter_samples", 0))
        quarter = sorted({max(1, (3 * steps) // 4) + round(j * (steps - (3 * steps) // 4)
                                                              / (n_q - 1))
                          for j in range(n_q)}) if n_q > 1 else []  # fmt: skip
        cuts = sorted({min(early_steps, steps), max(1, (3 * steps) // 4), steps, *quarter})
        states, errs, err0 = _legs(net, task, rule, cuts, p_arr, b_arr, seeds, mode,
                                   initial=powerlaw_initial(point, net.n_edges))  # fmt: skip
        early = states[cuts.index(min(early_steps, steps))]
        early_err = errs[cuts.index(min(early_steps, steps))]
        mid = states[cuts.index(max(1, (3 * steps) // 4))]
        end, err = states[-1], errs[-1]
        r_ref = end[0]
        if mi == 0:
            out["reference"] = {
                "scaled_train_error": float(err[0] / err0[0]),
                "drift": float(np.linalg.norm(end[0] - mid[0])),
                "r_min": float(r_ref.min()),
                "r_max": float(r_ref.max()),
                "scaled_train_error_early": float(early_err[0] / err0[0]),
            }
        shape = (len(names), n_x, n_seeds)
        diff = (end[1:] - r_ref).reshape(*shape, -1)
        dist = np.linalg.norm(diff, axis=-1)
        drift = np.linalg.norm(end[1:] - mid[1:], axis=-1).reshape(shape)
        scaled = (err[1:] / err0[1:]).reshape(shape)
        mean = diff.mean(axis=2)  # (V, X, E): seed-mean end point - reference
        spread = np.sqrt(np.mean(np.sum((diff - mean[:, :, None]) ** 2, axis=-1), axis=2))
        dist_early = np.linalg.norm(early[1:] - early[0], axis=-1).reshape(shape)
        dist_quarter = (np.mean([np.linalg.norm(states[cuts.index(c)][1:] - r_ref, axis=-1)
                                 for c in quarter], axis=0).reshape(shape)
                        if quarter else None)  # fmt: skip
        for vi, name in enumerate(names):
            out["variants"][name] = {
                "distance": dist[vi].tolist(),  # (X, S) Ohm
                "drift": drift[vi].tolist(),  # (X, S) ||R(end) - R(3/4 steps)||, Ohm
                "scaled_train_error": scaled[vi].tolist(),  # (X, S)
                "shift": np.linalg.norm(mean[vi], axis=-1).tolist(),  # (X,)
                "spread": spread[vi].tolist(),  # (X,) rms distance from the seed mean
                "distance_early": dist_early[vi].tolist(),  # (X, S) Ohm, at early_steps
            }
            if dist_quarter is not None:  # (X, S) Ohm, mean over the last quarter's samples
                out["variants"][name]["distance_quarter"] = dist_quarter[vi].tolist()
    return out


def fit_exponent(
    one_minus_x: np.ndarray, dist: np.ndarray
) -> tuple[float, list[float], np.ndarray]:
    """Power-law exponent of ``dist`` (tasks, X, seeds) in ``one_minus_x`` (X,).

    Per task: least-squares slope of ln(geometric mean over seeds) against ln(1 - x).
    Returns (mean slope over tasks, 95 % bootstrap interval over tasks, slopes (tasks,)).
    """
    logd = np.log(np.maximum(dist, 1e-300)).mean(axis=2)  # (tasks, X)
    lx = np.log(one_minus_x)
    lxc = lx - lx.mean()
    slopes = (logd - logd.mean(axis=1, keepdims=True)) @ lxc / (lxc @ lxc)
    return float(slopes.mean()), _bootstrap(slopes, np.mean), slopes


def _powerlaw_exponents(records: list[dict]) -> tuple[dict, dict, dict]:
    """Exponents, curves and convergence diagnostics of one gamma's records."""
    xs = np.asarray(records[0]["result"]["x"])
    u = 1.0 - xs
    half = (len(u) + 1) // 2
    exponents, curves, diag = {}, {}, {}
    for name in VARIANTS:
        dist = np.array([r["result"]["variants"][name]["distance"] for r in records])
        alpha, ci, slopes = fit_exponent(u, dist)
        shift = np.array([r["result"]["variants"][name]["shift"] for r in records])
        spread = np.array([r["result"]["variants"][name]["spread"] for r in records])
        shift_alpha, ci_shift, _ = fit_exponent(u, shift[..., None])
        spread_alpha, ci_spread, _ = fit_exponent(u, spread[..., None])
        drift = np.array([r["result"]["variants"][name]["drift"] for r in records])
        rel = drift / np.maximum(dist, 1e-300)
        err = np.array([r["result"]["variants"][name]["scaled_train_error"] for r in records])
        logd = np.log(np.maximum(dist, 1e-300)).mean(axis=2)  # (tasks, X)
        norm = logd - logd.mean(axis=1, keepdims=True)  # task intercepts removed
        exponents[name] = {
            "alpha": _r(alpha),
            "ci95": [_r(c) for c in ci],
            "within_0.1_of_2/3": bool(abs(alpha - 2 / 3) <= 0.1),
            "per_task_sd": _r(slopes.std(ddof=1)) if len(slopes) > 1 else None,
            "alpha_seed_mean_shift": _r(shift_alpha),
            "alpha_seed_mean_shift_ci95": [_r(c) for c in ci_shift],
            "alpha_seed_spread": _r(spread_alpha),
            "alpha_seed_spread_ci95": [_r(c) for c in ci_spread],
            # a power law has one slope: fit the small and the large half of 1 - x apart
            "alpha_small_half": _r(fit_exponent(u[:half], dist[:, :half])[0]),
            "alpha_large_half": _r(fit_exponent(u[half - 1 :], dist[:, half - 1 :])[0]),
        }
        curves[name] = {
            "geomean_distance_ohm": [_r(math.exp(v)) for v in logd.mean(axis=0)],
            "normalised_log_distance_mean": [_r(v) for v in norm.mean(axis=0)],
            "normalised_log_distance_sd": [_r(v) for v in norm.std(axis=0)],
        }
        diag[name] = {
            "relative_drift_last_quarter_median": _r(np.median(rel)),
            "relative_drift_last_quarter_max": _r(rel.max()),
            "converged_fraction": _r(np.mean(rel < 0.05)),
            "not_converged_per_x": (rel >= 0.05).sum(axis=(0, 2)).tolist(),  # drift >= 5 %
            "scaled_train_error_median": _r(np.median(err)),
            "scaled_train_error_max": _r(err.max()),
        }
    ref = [r["result"]["reference"] for r in records]
    diag["reference"] = {
        "scaled_train_error_max": _r(max(r["scaled_train_error"] for r in ref)),
        "drift_max_ohm": _r(max(r["drift"] for r in ref)),
        "r_min": _r(min(r["r_min"] for r in ref)),
        "r_max": _r(max(r["r_max"] for r in ref)),
    }
    return exponents, curves, diag


def _spearman(x, y) -> float:
    """Spearman's rank correlation of two sequences (NaN for fewer than 3 values)."""
    if len(x) < 3:
        return float("nan")
    from scipy import stats as sps

    return float(sps.spearmanr(x, y).statistic)


def curve_r2(one_minus_x: np.ndarray, dist: np.ndarray) -> float:
    """Coefficient of determination of the log-log line fit on the curve an exponent of
    `fit_exponent` comes from: the mean over tasks of ln(geometric mean over seeds of
    ``dist`` (tasks, X, seeds)), each task's mean removed, against ln(1 - x)."""
    logd = np.log(np.maximum(dist, 1e-300)).mean(axis=2)
    curve = (logd - logd.mean(axis=1, keepdims=True)).mean(axis=0)  # (X,)
    lx = np.log(one_minus_x)
    slope, icpt = np.polyfit(lx, curve, 1)
    ss_res = float(np.sum((curve - (slope * lx + icpt)) ** 2))
    ss_tot = float(np.sum((curve - curve.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def alpha_vs_gamma(records: list[dict]) -> list[dict]:
    """The exponents of p and b (Bernoulli masks, Fig. 2A) at each learning rate:
    ``[{gamma, alpha_p, alpha_p_ci95, alpha_b, alpha_b_ci95, r2_p, r2_b, alpha_p_early,
    alpha_p_early_ci95, alpha_b_early, alpha_b_early_ci95, r2_p_early, r2_b_early,
    diverged_fraction_p, diverged_fraction_b, tasks, steps, early_steps}]``, ascending
    gamma; ``diverged_fraction``: of the variant's networks, those whose final scaled train
    error exceeds `POWERLAW_DIVERGED` (their distances are in the fit: they show where
    gamma is too large). alpha from `fit_exponent` (95 %
    bootstrap over tasks), r2 from `curve_r2`; ``_early``: the same on the distances at
    ``early_steps`` (the same scaled time gamma x step at every gamma, before convergence)."""
    by_gamma: dict[float, list[dict]] = {}
    for rec in records:
        by_gamma.setdefault(float(rec["point"]["gamma"]), []).append(rec)
    rows = []
    for gamma in sorted(by_gamma):
        recs = by_gamma[gamma]
        u = 1.0 - np.asarray(recs[0]["result"]["x"])
        row: dict = {"gamma": gamma}
        for late, suffix in (("distance", ""), ("distance_early", "_early")):
            for name in ("p", "b"):
                dist = np.array([r["result"]["variants"][name][late] for r in recs])
                alpha, ci, _ = fit_exponent(u, dist)
                row[f"alpha_{name}{suffix}"] = _r(alpha)
                row[f"alpha_{name}{suffix}_ci95"] = [_r(c) for c in ci]
                row[f"r2_{name}{suffix}"] = _r(curve_r2(u, dist))
        for name in ("p", "b"):  # scaled train error > POWERLAW_DIVERGED: unstable at gamma
            err = np.array([r["result"]["variants"][name]["scaled_train_error"] for r in recs])
            row[f"diverged_fraction_{name}"] = _r(np.mean(err > POWERLAW_DIVERGED))
        row.update(tasks=len(recs), steps=recs[0]["point"]["steps"],
                   early_steps=recs[0]["point"].get("early_steps"))  # fmt: skip
        row["reference_scaled_train_error_early_median"] = _r(np.median(
            [r["result"]["reference"]["scaled_train_error_early"] for r in recs]))  # fmt: skip
        rows.append(row)
    return rows


def alpha_trend(records: list[dict], variant: str = "p", key: str = "distance") -> dict:
    """The trend of alpha (``variant``'s Bernoulli exponent, fitted on ``key``) against the
    learning rate: the least-squares slope of alpha(gamma) against ln gamma, d alpha / d ln
    gamma, with a 95 % bootstrap interval over tasks, paired (a task's slopes at every
    gamma are resampled together; every gamma has the same task seeds). Returns
    ``{slope, ci95, tasks}``; slope NaN for fewer than 2 gammas or no common task."""
    by_gamma: dict[float, dict[int, dict]] = {}
    for rec in records:
        by_gamma.setdefault(float(rec["point"]["gamma"]), {})[rec["point"]["task_seed"]] = rec
    gammas = sorted(by_gamma)
    common = sorted(set.intersection(*(set(v) for v in by_gamma.values()))) if gammas else []
    if len(gammas) < 2 or not common:
        return {"slope": None, "ci95": [None, None], "tasks": len(common)}
    u = 1.0 - np.asarray(records[0]["result"]["x"])
    slopes = np.column_stack([
        fit_exponent(u, np.array([by_gamma[g][t]["result"]["variants"][variant][key]
                                  for t in common]))[2]
        for g in gammas
    ])  # (tasks, G) per-task exponents  # fmt: skip
    lg = np.log(gammas)
    lgc = lg - lg.mean()

    def trend(rows: np.ndarray) -> float:
        return float(rows.mean(axis=0) @ lgc / (lgc @ lgc))

    return {"slope": _r(trend(slopes)), "ci95": [_r(c) for c in _bootstrap(slopes, trend)],
            "tasks": len(common)}  # fmt: skip


#: the unstated choices mapped against alpha_p(gamma) (issue 15; docs/studies/powerlaw.md):
#: name -> point fields replaced, with ``gamma_mult`` (gamma x this, the same steps),
#: ``steps_mult`` (steps x this, the same gamma) and ``fixed_steps`` (this many steps at
#: every gamma: not the same scaled time)
POWERLAW_CHOICES: dict[str, dict] = {
    "teacher_eta0.5": {},
    "teacher_eta1": {"eta": 1.0},
    "teacher_eta1_halfgamma": {"eta": 1.0, "gamma_mult": 0.5},
    "teacher_1out_eta0.5": {"n_outputs": 1},
    "teacher_wide_eta0.5": {"teacher_r": [0.2, 5.0]},
    "teacher_tau50_eta0.5": {"steps_mult": 1 / 3},
    "regression_eta0.5": {"family": "regression"},
    "allostery_eta0.5": {"family": "allostery"},
    "allostery_eta1": {"family": "allostery", "eta": 1.0},
    "tallostery_eta0.5": {"family": "teacher-allostery"},
    "tallostery_g4_eta0.5": {"family": "teacher-allostery", "gamma_mult": 4},
    "tallostery_g4_eta1": {"family": "teacher-allostery", "gamma_mult": 4, "eta": 1.0},
    "teacher_r0rand_eta0.5": {"initial_r": [0.5, 2.0]},
    "teacher_r02_eta0.5": {"initial_r": 2.0},
    "teacher_3in_eta0.5": {"n_inputs": 3},
    "teacher_3in_tau300_eta0.5": {"n_inputs": 3, "steps_mult": 2},
    "teacher_1in1out_eta0.5": {"n_inputs": 1, "n_outputs": 1},
    "teacher_steps3000_eta0.5": {"fixed_steps": 3000},
    "teacher_quarter_eta0.5": {"quarter_samples": 9},
}
POWERLAW_CHOICE_GAMMAS = (0.0125, 0.025, 0.035, 0.05)  # 4x, below the instability (0.07)
#: the study's own task family (`powerlaw_family` of its points): 2 inputs, 2 outputs
POWERLAW_OWN_FAMILY = "2in2out"
#: the task-family axis (issue 15: alpha_p rises with gamma at 1 input 1 output, not at 2 x
#: 2; docs/studies/powerlaw.md): ``--family`` name -> the `POWERLAW_CHOICES` entry whose
#: points it runs, at `POWERLAW_CHOICE_GAMMAS` (``--gamma`` replaces them) and these
#: default sizes (``--tasks``/``--seeds`` replace them)
POWERLAW_TASK_FAMILIES: dict[str, dict] = {
    "1in1out": {"choice": "teacher_1in1out_eta0.5", "tasks": 24, "seeds": 1},
}
#: the families a run without ``--family`` adds to its own: 24 x 4 points, about 170 CPU-s
#: on top of the own family's 280 (both together under 4 min on 2 quiet cores);
#: ``--family 2in2out`` runs the own family alone
POWERLAW_DEFAULT_FAMILIES: tuple[str, ...] = ("1in1out",)
#: a network has converged when its drift over the last quarter is below this fraction
#: of its distance
POWERLAW_CONVERGED_DRIFT = 0.05


def powerlaw_choice_points(
    choice: str, tasks: int = 6, seeds: int = 1,
    gammas: tuple[float, ...] = POWERLAW_CHOICE_GAMMAS,
) -> list[dict]:  # fmt: skip
    """The study's points at ``gammas`` (the same scaled time gamma x steps each) with the
    fields of ``POWERLAW_CHOICES[choice]`` replaced."""
    return _choice_points(choice, StudyArgs(tasks=tasks, seeds=seeds, gamma=gammas))


def _choice_points(choice: str, args: StudyArgs) -> list[dict]:
    """`_powerlaw_points` of ``args`` with the fields of ``POWERLAW_CHOICES[choice]``
    replaced (see `powerlaw_choice_points`)."""
    fields = dict(POWERLAW_CHOICES[choice])
    g_mult, s_mult = fields.pop("gamma_mult", 1.0), fields.pop("steps_mult", 1.0)
    fixed = fields.pop("fixed_steps", None)
    out = []
    for p in _powerlaw_points(args):
        steps = max(4, round(p["steps"] * s_mult)) if fixed is None else int(fixed)
        out.append({**p, **fields, "gamma": p["gamma"] * g_mult, "steps": steps,
                    "early_steps": min(steps, p["early_steps"])})  # fmt: skip
    return out


def powerlaw_choice_map(choice: str, tasks: int = 6, seeds: int = 1,
                        out: Path | None = None) -> dict:  # fmt: skip
    """Run `powerlaw_choice_points` (resumable from ``out/CHOICE_TxS.jsonl`` if given) and
    print and return ``{choice, rows: alpha_vs_gamma, trend, trend_early, trend_p_fixed,
    trend_quarter, converged_p}``: the slope of alpha_p against ln gamma (`alpha_trend`;
    ``trend_p_fixed``: of the fixed-fraction ``p fixed`` variant; ``trend_quarter``: on
    ``distance_quarter``, None without ``quarter_samples``) and, per gamma, the fraction of
    p networks whose drift over the last quarter is < 5 % of their distance."""
    import json

    path = None if out is None else Path(out) / f"{choice}_{tasks}x{seeds}.jsonl"
    records = ([json.loads(line) for line in path.read_text().splitlines()]
               if path is not None and path.exists() else [])  # fmt: skip
    done = {(r["point"]["gamma"], r["point"]["task_seed"]) for r in records}
    for point in powerlaw_choice_points(choice, tasks, seeds):
        if (point["gamma"], point["task_seed"]) not in done:
            records.append({"point": point, "result": run_powerlaw_point(point)})
            if path is not None:
                with path.open("a") as fh:
                    fh.write(json.dumps(records[-1]) + "\n")
    res = {"choice": choice, "rows": alpha_vs_gamma(records), "trend": alpha_trend(records),
           "trend_early": alpha_trend(records, key="distance_early"),
           "trend_p_fixed": alpha_trend(records, variant="p fixed"),
           "trend_quarter": (alpha_trend(records, key="distance_quarter")
                             if all("distance_quarter" in r["result"]["variants"]["p"]
                                    for r in records) else None),
           "converged_p": converged_p(records)}  # fmt: skip
    t, te, tf = res["trend"], res["trend_early"], res["trend_p_fixed"]
    print(f"{choice}: d alpha_p / d ln gamma {t['slope']} {t['ci95']}; early {te['slope']} "
          f"{te['ci95']}; p fixed {tf['slope']} {tf['ci95']}")  # fmt: skip
    if res["trend_quarter"] is not None:
        tq = res["trend_quarter"]
        print(f"  last-quarter time average: {tq['slope']} {tq['ci95']}")
    for row in res["rows"]:
        print(f"  gamma {row['gamma']:g}: alpha_p {row['alpha_p']} {row['alpha_p_ci95']} r2_p "
              f"{row['r2_p']} diverged {row['diverged_fraction_p']} converged "
              f"{res['converged_p'][row['gamma']]} early {row['alpha_p_early']}")  # fmt: skip
    return res


def converged_p(records: list[dict]) -> dict[float, float | None]:
    """Per gamma (ascending), the fraction of the Bernoulli p networks whose drift over the
    last quarter is below `POWERLAW_CONVERGED_DRIFT` of their distance."""
    conv: dict[float, list[float]] = {}
    for rec in records:
        v = rec["result"]["variants"]["p"]
        rel = np.array(v["drift"]) / np.maximum(np.array(v["distance"]), 1e-300)
        conv.setdefault(float(rec["point"]["gamma"]), []).append(
            float(np.mean(rel < POWERLAW_CONVERGED_DRIFT)))  # fmt: skip
    return {g: _r(np.mean(c)) for g, c in sorted(conv.items())}


def alpha_vs_gamma_by_family(records: list[dict]) -> dict[str, dict]:
    """The task-family axis: records split by `powerlaw_family`, the study's own family
    first, then by name; per family ``{n_inputs, n_outputs, rows: alpha_vs_gamma, trend:
    alpha_trend (d alpha_p / d ln gamma), tasks, seeds, converged_p: {gamma: fraction}}``."""
    by: dict[str, list[dict]] = {}
    for rec in records:
        by.setdefault(powerlaw_family(rec["point"]), []).append(rec)
    order = sorted(by, key=lambda n: (n != POWERLAW_OWN_FAMILY, n))
    out = {}
    for name in order:
        recs = by[name]
        pt = recs[0]["point"]
        out[name] = {
            "n_inputs": pt.get("n_inputs", 2), "n_outputs": pt.get("n_outputs", 2),
            "rows": alpha_vs_gamma(recs), "trend": alpha_trend(recs),
            "tasks": len({r["point"]["task_seed"] for r in recs}), "seeds": pt["seeds"],
            "converged_p": {f"{g:g}": c for g, c in converged_p(recs).items()},
        }  # fmt: skip
    return out


def _family_text(by_family: dict[str, dict]) -> str:
    """``d alpha_p / d ln gamma: NAME slope [lo, hi] (T tasks), ...`` of the headline."""
    return "d alpha_p / d ln gamma: " + ", ".join(
        f"{n} {_num_text(f['trend']['slope'])} {_ci_text(f['trend']['ci95'])} ({f['tasks']} tasks)"
        for n, f in by_family.items()
    )


def _num_text(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _powerlaw_summary(records: list[dict], args: StudyArgs, out_dir: Path) -> dict:
    by_family = alpha_vs_gamma_by_family(records)
    records = [r for r in records if powerlaw_family(r["point"]) == POWERLAW_OWN_FAMILY]
    gammas = sorted({float(r["point"]["gamma"]) for r in records})
    median = float(records[0]["point"].get("median_gamma", gammas[(len(gammas) - 1) // 2]))
    at_median = [r for r in records if float(r["point"]["gamma"]) == median]
    exponents, curves, diag = _powerlaw_exponents(at_median)
    u = 1.0 - np.asarray(at_median[0]["result"]["x"])
    by_gamma = alpha_vs_gamma(records)
    rising = [row["alpha_p"] for row in by_gamma]
    mid = next(row for row in by_gamma if row["gamma"] == median)
    head = ", ".join(
        f"{n} {e['alpha']:.2f} {_ci_text(e['ci95'])}"
        for n, e in exponents.items()
    )
    stats = {
        "headline": (
            f"alpha_p at gamma {', '.join(f'{g:g}' for g in gammas)}: "
            f"{', '.join(f'{a:.2f}' for a in rising)} (paper 2/3); at gamma {median:g}: {head}; "
            f"{_family_text(by_family)}"
        ),
        "alpha_vs_gamma": by_gamma,
        # the task-family axis (issue 15): 2in2out is the rows above, others by --family
        "alpha_vs_gamma_by_family": by_family,
        "alpha_p_spearman_vs_gamma": _r(_spearman(gammas, rising)),
        # d alpha_p / d ln gamma, paired bootstrap over tasks: converged and early
        "alpha_p_trend_vs_log_gamma": alpha_trend(records),
        "alpha_p_early_trend_vs_log_gamma": alpha_trend(records, key="distance_early"),
        "median_gamma": median,
        "median_gamma_alpha_b": mid["alpha_b"],
        "median_gamma_r2_b": mid["r2_b"],
        "exponents": exponents,
        "one_minus_x": [_r(v) for v in u],
        "curves": curves,
        "convergence": diag,
        **_sizes(at_median),
        "gammas": gammas,
        "steps_by_gamma": {f"{row['gamma']:g}": row["steps"] for row in by_gamma},
        "definition": (
            "distance = ||R(variant) - R(p=b=1)||_2 (Ohm), same task and initial state; alpha "
            "= mean over tasks of the least-squares slope of ln(geometric mean over seeds) vs "
            "ln(1-x); CI = 95% bootstrap over tasks. alpha_seed_mean_shift / "
            "alpha_seed_spread: the same fit for |mean over seeds of R - R_ref| (it keeps "
            "1/sqrt(seeds) of the random part) and for the rms spread of the seeds' end points "
            "around their mean; alpha_small_half / alpha_large_half: the fit on the smaller / "
            "larger half of the 1-x values. Error bars in the figure: task-to-task sd of ln "
            "distance after removing each task's mean. exponents, curves, convergence: at "
            "the median gamma. alpha_vs_gamma: per gamma, alpha of the Bernoulli p and b "
            "variants at the end and at early_steps (the same scaled time gamma x steps for "
            "every gamma, before convergence; distance to the reference at that step); r2: "
            "coefficient of determination of the line fit on the task-mean normalised "
            "log-log curve. gamma: Ohm^3/V^2 per example, eq. 7 sums the 16 examples. "
            "alpha_vs_gamma_by_family: the task-family axis (number of inputs x outputs of "
            "the teacher task; 2in2out = own, = alpha_vs_gamma; the others: --family, "
            "default 1in1out, their own tasks x seeds at their own gammas): per family the "
            "alpha_vs_gamma rows, trend = d alpha_p / d ln gamma (paired bootstrap over "
            "tasks) and converged_p = per gamma, the fraction of p networks whose drift over "
            "the last quarter is < 5 % of their distance."
        ),
    }
    _powerlaw_figure(out_dir / "powerlaw.png", u, curves, exponents, stats)
    return stats


def _powerlaw_figure(path: Path, u, curves, exponents, stats) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(15, 5.6), layout="constrained")
    axes = fig.subplots(1, 3)
    axes[1].sharey(axes[0])
    _alpha_gamma_axes(axes[2], stats["alpha_vs_gamma"], stats["alpha_vs_gamma_by_family"])
    groups = (("p", "b", "p=b"), ("p fixed", "b fixed", "p=b fixed"))
    titles = ("Bernoulli masks (Fig. 2A)", "fixed fractions (Fig. 2B)")
    for ax, names, title in zip(axes[:2], groups, titles, strict=True):
        for i, name in enumerate(names):
            c = curves[name]
            y = np.array(c["geomean_distance_ohm"], dtype=float)
            sd = np.array(c["normalised_log_distance_sd"], dtype=float)  # task-to-task
            e = exponents[name]
            ax.errorbar(u, y, yerr=[y - y * np.exp(-sd), y * np.exp(sd) - y], fmt="o",
                        color=f"C{i}", ms=4, capsize=2,
                        label=f"{name}: alpha {e['alpha']:.2f} {_ci_text(e['ci95'])}")
            lx, ly = np.log(u), np.log(y)
            ax.plot(u, np.exp(e["alpha"] * (lx - lx.mean()) + ly.mean()), color=f"C{i}", lw=1)
            if i == 0:
                ax.plot(u, np.exp(2 / 3 * (lx - lx.mean()) + ly.mean()), "k--", lw=1,
                        label="slope 2/3 (paper)")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(u, [f"{round(v * 16)}/16" for v in u], fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("1 - x  (x = p, b or p = b)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("|R - R(p=b=1)| (Ohm), geometric mean over tasks")
    fig.suptitle(
        f"powerlaw: {stats['network']}, {stats['tasks']} realisable tasks x {stats['seeds']} "
        f"seeds, eta {stats['eta']:g}; left: gamma {stats['gamma']:g} (the median), "
        f"{stats['steps']} steps; right: alpha against gamma (same scaled time gamma x steps) "
        "by task family: "
        + ", ".join(f"{n} {f['tasks']} x {f['seeds']}"
                    for n, f in stats["alpha_vs_gamma_by_family"].items()),
        fontsize=10,
    )
    fig.savefig(path, dpi=110)


def _alpha_gamma_axes(ax, rows: list[dict], by_family: dict[str, dict] | None = None) -> None:
    """alpha_p and alpha_b (end and early) of the study's own family (``rows``) against
    gamma, and alpha_p (converged) of every other family of ``by_family``
    (`alpha_vs_gamma_by_family`), 95 % intervals, slope d alpha_p / d ln gamma in the
    legend, 2/3 marked."""
    own = next(iter(by_family or {POWERLAW_OWN_FAMILY: None}))
    series = [("p", "", "C0", "o-", rows, own), ("b", "", "C1", "s-", rows, own),
              ("p", "_early", "C0", "o:", rows, own), ("b", "_early", "C1", "s:", rows, own)]
    for i, (name, fam) in enumerate(list((by_family or {}).items())[1:]):
        series.append(("p", "", f"C{i + 2}", "D-", fam["rows"], name))
    trends = {n: f["trend"] for n, f in (by_family or {}).items()}
    g_all: set[float] = set()
    for i, (name, suffix, color, fmt, rs, fam) in enumerate(series):
        g = np.array([row["gamma"] for row in rs], dtype=float) * (1.0 if i < 4 else 1.02)
        g_all.update(row["gamma"] for row in rs)
        a = np.array([row[f"alpha_{name}{suffix}"] for row in rs], dtype=float)
        ci = np.array([row[f"alpha_{name}{suffix}_ci95"] for row in rs], dtype=float)
        ci = np.where(np.isfinite(ci), ci, a[:, None])
        when = "end" if not suffix else "early (fixed gamma x t)"
        label = f"alpha_{name} {when}, {fam}"
        if name == "p" and not suffix and fam in trends:
            t = trends[fam]
            label += f": d/d ln gamma {_num_text(t['slope'])} {_ci_text(t['ci95'])}"
        ax.errorbar(g, a, yerr=[a - ci[:, 0], ci[:, 1] - a], fmt=fmt, color=color, ms=4,
                    capsize=2, label=label)  # fmt: skip
    ax.axhline(2 / 3, color="k", ls="--", lw=1, label="2/3 (paper)")
    ax.set_xscale("log")
    g = np.array(sorted(g_all))
    ax.set_xticks(g, [f"{v:g}" for v in g], fontsize=7)
    ax.set_xticks([], minor=True)
    ax.set_xlabel("gamma (Ohm^3/V^2 per example; 16 summed a step)")
    ax.set_ylabel("exponent alpha")
    ax.set_title("exponents against the learning rate", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))


# ----------------------------------------------------------------------------- registry

STUDIES: list[Study] = [
    Study(
        name="collapse",
        description="Fig. 1B: continuous rule, planar143, 2-in 2-out regression; scaled test "
        "error vs steps and vs steps x p for p in 0.1..1; spread collapsed vs uncollapsed",
        points=_collapse_points,
        run_point=run_collapse_point,
        summarize=_collapse_summary,
        axes=("gamma",),
    ),
    Study(
        name="powerlaw",
        description="Fig. 2A/B: continuous rule, twin16, full-batch regression (B = 16); "
        "distance from the synchronous full-batch solution vs 1-p, 1-b, p=b (Bernoulli and "
        "fixed-fraction masks); fitted exponents (paper: 2/3) against the learning rate "
        "gamma (--gamma) and the task family (--family: 2in2out, 1in1out)",
        points=_powerlaw_study_points,
        run_point=run_powerlaw_point,
        summarize=_powerlaw_summary,
        axes=("gamma", "family"),
    ),
]
