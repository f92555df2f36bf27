"""``twinlab study report``: one HTML page over every study's ``NAME.json`` and ``NAME.png``
in a studies directory (`lab.paths.studies_dir`), built without rerunning anything.

For each study (`CLAIMS`, in order): the paper's claim, a one-line verdict computed from
the study's statistics by that study's function in `VERDICTS`, the headline, the figure,
the key statistics and the whole ``statistics`` object (folded). A verdict is a
`Verdict`: ``status`` one of `STATUSES` and a ``reason`` quoting the numbers it rests
on. A study with no JSON file is listed as ``not run``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPRODUCED = "reproduced"
DEPENDS = "depends on an unstated parameter"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run"
STATUSES = (REPRODUCED, DEPENDS, NOT_REPRODUCED, NOT_RUN)
#: The paper's exponent (Wycoff et al. eqs. 8-9).
TWO_THIRDS = 2.0 / 3.0
#: The collapse study's own target for the spread ratio (its headline: "target >= 5").
COLLAPSE_TARGET = 5.0

#: study name -> the paper's claim (PHYSICS.md, "Published results to reproduce").
CLAIMS: dict[str, str] = {
    "collapse": "Wycoff et al. Fig. 1B: with the continuous rule on the 143-edge network, test "
    "error vs (training steps x p) collapses onto one curve for p from 0.1 to 1.",
    "powerlaw": "Wycoff et al. Fig. 2A/B, eqs. 8-9: on the 16-edge network, the distance from "
    "the synchronous full-batch solution grows as (1 - x)^(2/3) for x = p, b and p = b.",
    "discrete-regression": "Wycoff et al. Fig. 4E: with the discrete rule on the 143-edge "
    "network, the final regression error falls as p falls.",
    "discrete-allostery": "Wycoff et al. Fig. 4D: with the discrete rule, the benefit of low p "
    "shrinks as the number of inputs/outputs O grows.",
    "experiment-allostery": "Wycoff et al. Fig. 4C: on the 16-edge board, 2-in 2-out "
    "allostery ends lower for p < 1 than for p = 1 (averaged over tasks).",
    "iris": "Dillavou et al. 2022: Iris classification on the 16-edge board reaches over 95 % "
    "test accuracy with eta = 1.",
    "seed2": "The second seed (circuit simulators): the three-edge chain's output oscillates "
    "+-0.263 V around its target with 16-position digipots (+-0.1 V with 128), the five-edge "
    "network is within +-0.14 V after three steps; lines are told apart; the power rule "
    "(CircuitLab) learns as the voltage rule does.",
}


@dataclass(frozen=True)
class Verdict:
    """A study's verdict: ``status`` in `STATUSES`; ``reason`` the numbers behind it."""

    status: str
    reason: str


def _num(x: Any) -> float:
    """``x`` as a float; NaN for None or anything not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _ci_covers(ci: Any, value: float) -> bool:
    lo, hi = (_num(v) for v in (ci or [None, None])[:2])
    return lo <= value <= hi


def _ci_above(ci: Any, value: float) -> bool:
    return _num((ci or [None])[0]) > value


def verdict_collapse(s: dict[str, Any]) -> Verdict:
    """Reproduced when the spread ratio (uncollapsed / collapsed) reaches the study's
    target and its interval lies above 1."""
    ratio, ci = _num(s.get("spread_ratio")), s.get("spread_ratio_ci95")
    text = f"spread ratio {ratio:.3g} (95 % CI {_ci_text(ci)}), target >= {COLLAPSE_TARGET:g}"
    if ratio >= COLLAPSE_TARGET and _ci_above(ci, 1.0):
        return Verdict(REPRODUCED, text)
    return Verdict(NOT_REPRODUCED, text)


def _family_trends(families: dict[str, Any]) -> Verdict | None:
    """From ``alpha_vs_gamma_by_family`` ({name: {n_inputs, n_outputs, rows, trend, tasks}}):
    depends on the task's number of inputs/outputs (those of its fields that differ among
    the families) when alpha_p rises with gamma in some family (the interval of ``trend``,
    d alpha_p / d ln gamma, above 0: issue 15's rise) and not in another; None otherwise."""
    if len(families) < 2:
        return None
    rising = {n: _ci_above((f.get("trend") or {}).get("ci95"), 0.0) for n, f in families.items()}
    if all(rising.values()) or not any(rising.values()):
        return None
    differ = [w for w, k in (("inputs", "n_inputs"), ("outputs", "n_outputs"))
              if len({f.get(k) for f in families.values()}) > 1]  # fmt: skip
    what = f"the task's number of {'/'.join(differ)}" if differ else "the task family"

    def text(name: str) -> str:
        f = families[name]
        rows, t = f.get("rows") or [], f.get("trend") or {}
        alphas = ", ".join(f"{_num(r.get('alpha_p')):.2f}" for r in rows)
        at = ", ".join(f"{_num(r.get('gamma')):g}" for r in rows)
        covers = ", ".join(f"{_num(r.get('gamma')):g}" for r in rows
                           if _ci_covers(r.get("alpha_p_ci95"), TWO_THIRDS))  # fmt: skip
        covers = f"at gamma {covers}" if covers else "at no gamma"
        return (f"{name} ({f.get('tasks')} tasks): alpha_p {alphas} at gamma {at}, d alpha_p / "
                f"d ln gamma {_num(t.get('slope')):.3g} (95 % CI {_ci_text(t.get('ci95'))}); "
                f"2/3 within the interval {covers}")  # fmt: skip

    up = [n for n, r in rising.items() if r]
    flat = [n for n, r in rising.items() if not r]
    head = f"{what}: alpha_p rises with gamma for {', '.join(up)} and not for {', '.join(flat)}"
    return Verdict(DEPENDS, f"{head}; " + "; ".join(text(n) for n in families))


def verdict_powerlaw(s: dict[str, Any]) -> Verdict:
    """With ``alpha_vs_gamma_by_family`` (issue 15's task-family axis): depends on the
    task's number of inputs/outputs if alpha_p rises with gamma in one family and not in
    another (`_family_trends`). Else with ``alpha_vs_gamma`` (issue 15): reproduced if
    every gamma's alpha_p interval covers 2/3, depends on gamma if some do, else not
    reproduced. Without it: per variant of ``exponents``, whether its interval covers 2/3."""
    by_family = _family_trends(s.get("alpha_vs_gamma_by_family") or {})
    if by_family is not None:
        return by_family
    rows = s.get("alpha_vs_gamma")
    if rows:
        covers = [_ci_covers(r.get("alpha_p_ci95"), TWO_THIRDS) for r in rows]
        text = "alpha_p " + ", ".join(
            f"{_num(r.get('alpha_p')):.2f} at gamma {_num(r.get('gamma')):g}" for r in rows
        )
        if all(covers):
            return Verdict(REPRODUCED, f"{text}: every interval covers 2/3")
        if any(covers):
            at = ", ".join(
                f"{_num(r.get('gamma')):g}" for r, c in zip(rows, covers, strict=True) if c
            )
            return Verdict(DEPENDS, f"the learning rate gamma (2/3 only at gamma {at}); {text}")
        return Verdict(NOT_REPRODUCED, f"{text}: no interval covers 2/3")
    exps = s.get("exponents") or {}
    if not exps:
        return Verdict(NOT_RUN, "no exponents in the statistics")
    covers = {n: _ci_covers(e.get("ci95"), TWO_THIRDS) for n, e in exps.items()}
    text = ", ".join(f"{n} {_num(e.get('alpha')):.2f}" for n, e in exps.items())
    if all(covers.values()):
        return Verdict(REPRODUCED, f"alpha {text}: every interval covers 2/3")
    return Verdict(
        NOT_REPRODUCED,
        f"alpha {text}; intervals covering 2/3: "
        f"{', '.join(n for n, c in covers.items() if c) or 'none'} (one gamma only)",
    )


def _benefit_vs_scale(rows: list[dict], what: str) -> Verdict | None:
    """From ``benefit_vs_input_scale`` rows {v_max, benefit, benefit_ci95}: reproduced if
    the benefit's interval lies above 1 at every input range, depends on the input
    range if at some, None if at none (the caller decides)."""
    if not rows:
        return None
    above = [_ci_above(r.get("benefit_ci95"), 1.0) for r in rows]
    text = ", ".join(f"{_num(r.get('benefit')):.2f} at {_num(r.get('v_max')):g} V" for r in rows)
    if all(above):
        return Verdict(REPRODUCED, f"{what} {text}: above 1 at every input range")
    if any(above):
        at = ", ".join(f"{_num(r.get('v_max')):g} V" for r, a in zip(rows, above, strict=True) if a)
        return Verdict(DEPENDS, f"the applied-voltage range (benefit > 1 only at {at}); "
                                f"{what} {text}")  # fmt: skip
    return None


def verdict_discrete_regression(s: dict[str, Any]) -> Verdict:
    """``benefit_vs_input_scale`` if present (see `_benefit_vs_scale`), else the
    primary arm's trend: slope per decade of p above 0 and Page's p < 0.05 (the reason
    then also quotes the benefit at each input range, if there are any)."""
    rows = s.get("benefit_vs_input_scale") or []
    by_scale = _benefit_vs_scale(rows, "E(p=1)/E(p_min)")
    if by_scale is not None:
        return by_scale
    prim = s.get("primary") or {}
    slope, ci, page = (
        prim.get("slope_per_decade_p"),
        prim.get("slope_ci95"),
        prim.get("page_p_value"),
    )
    text = (
        f"slope of final error per decade of p {_num(slope):.3g} (95 % CI {_ci_text(ci)}), "
        f"Page p = {_num(page):.3g}"
    )
    if rows:  # no range's interval above 1: say so with the numbers
        text += "; E(p=1)/E(p_min) " + ", ".join(
            f"{_num(r.get('benefit')):.2f} ({_ci_text(r.get('benefit_ci95'))}) at "
            f"{_num(r.get('v_max')):g} V" for r in rows
        )  # fmt: skip
    if _ci_above(ci, 0.0) and _num(page) < 0.05:
        return Verdict(REPRODUCED, text)
    return Verdict(NOT_REPRODUCED, text)


def verdict_discrete_allostery(s: dict[str, Any]) -> Verdict:
    """Reproduced when the primary arm's benefit at the smallest O lies above 1 and the
    slope of log benefit against log2 O lies below 0; ``benefit_vs_input_scale`` (if
    present) can make it depend on the input range."""
    prim = s.get("primary") or {}
    by_o = prim.get("by_O") or {}
    if not by_o:
        return Verdict(NOT_RUN, "no primary arm in the statistics")
    o_min = min(by_o, key=int)
    b = by_o[o_min]
    trend = prim.get("benefit_vs_log2_O") or {}
    text = (
        f"benefit at O = {o_min} {_num(b.get('benefit_ratio')):.2f} (95 % CI "
        f"{_ci_text(b.get('benefit_ratio_ci95'))}); slope vs log2 O "
        f"{_num(trend.get('slope')):.3g} (95 % CI {_ci_text(trend.get('slope_ci95'))})"
    )
    shrinks = _num((trend.get("slope_ci95") or [None, None])[1]) < 0
    if _ci_above(b.get("benefit_ratio_ci95"), 1.0) and shrinks:
        return Verdict(REPRODUCED, text)
    by_scale = _benefit_vs_scale(s.get("benefit_vs_input_scale") or [], "benefit")
    if by_scale is not None and by_scale.status == DEPENDS:
        return Verdict(DEPENDS, f"{by_scale.reason}; {text}")
    return Verdict(NOT_REPRODUCED, text)


def verdict_experiment(s: dict[str, Any]) -> Verdict:
    """The study's own test (pooled p < 1 below p = 1, Wilcoxon p < 0.05); a negative
    result quotes the power statement (``power``)."""
    pooled = s.get("pooled_p_below_1") or {}
    text = (
        f"pooled p < 1 / p = 1 geometric-mean ratio {_num(pooled.get('geomean_ratio_to_sync')):.3g}"
        f" (95 % CI {_ci_text(pooled.get('geomean_ratio_ci95'))}), Wilcoxon p = "
        f"{_num(pooled.get('wilcoxon_p_value')):.3g} over {s.get('tasks')} tasks"
    )
    if s.get("reproduced"):
        return Verdict(REPRODUCED, text)
    power = s.get("power") or {}
    if power:
        need = power.get("tasks_needed_paper_benefit_wilcoxon")
        text += (
            f"; power: detectable ratio {_num(power.get('detectable_ratio_at_run_tasks')):.3g}, "
            f"a ratio of {_num(power.get('paper_benefit_ratio')):g} needs {need} tasks"
            + (" (this run is underpowered)" if power.get("underpowered") else "")
        )
    return Verdict(NOT_REPRODUCED, text)


def verdict_iris(s: dict[str, Any]) -> Verdict:
    """Reproduced if the papers' configuration ends at or above the published accuracy;
    depends on an unstated parameter if a choice that changes only parameters the papers
    leave open (``parameters[k].status == "unstated"``; the number of epochs counts, read
    at the best epoch) reaches it; else not reproduced."""
    target = _num(s.get("paper_accuracy"))
    rows = s.get("choices") or []
    params = s.get("parameters") or {}
    paper = next((r for r in rows if not r.get("varies")), None)
    if paper is None:
        return Verdict(NOT_RUN, "no run of the papers' configuration")
    text = f"papers' configuration {_num(paper['accuracy_final']):.1%} (paper > {target:.0%})"
    if _num(paper["accuracy_final"]) >= target:
        return Verdict(REPRODUCED, text)
    found = []
    for r in rows:
        unstated = all(params.get(k, {}).get("status") == "unstated" for k in r.get("varies", []))
        if not unstated:
            continue
        if _num(r["accuracy_final"]) >= target:
            found.append((r["accuracy_final"], f"{r['choice']!r} {_num(r['accuracy_final']):.1%}"))
        elif _num(r.get("accuracy_best")) >= target:
            found.append((
                r["accuracy_best"],
                f"{r['choice']!r} {_num(r['accuracy_best']):.1%} at epoch {r.get('best_epoch')} "
                "(the number of epochs)",
            ))  # fmt: skip
    if found:
        found.sort(reverse=True)
        return Verdict(DEPENDS, f"{'; '.join(f for _, f in found)}; {text}")
    best = max(rows, key=lambda r: _num(r.get("accuracy_best")))
    return Verdict(
        NOT_REPRODUCED,
        f"{text}; best {best['choice']!r} {_num(best.get('accuracy_best')):.1%} at epoch "
        f"{best.get('best_epoch')}",
    )


#: seed-2 line system -> the name of its classification scheme (its task's ``targets``).
LINE_SCHEMES = {"lines": "class-means", "lines-patterns": "pattern-means"}


def _pct(x: Any) -> str:
    """A fraction as a whole percentage: 0.5875 -> '59 %'."""
    return f"{_num(x):.0%}"[:-1] + " %"


def _lines_text(s: dict[str, Any]) -> str:
    """Line classification in the seed-2 verdict: each scheme's accuracy on the ideal
    board with the voltage rule, minus chance with its 95 % interval (percentage points),
    how many scheme x board x rule runs beat chance, and the ``ceiling`` (the affine
    readout's, and the fitted setting's at its digipot codes). When no scheme's interval
    reaches the ceiling, it says the training, not the network, is the limit. Without a
    ``scheme_comparison`` (older results): the class-means accuracy from ``systems``."""
    schemes = s.get("scheme_comparison") or []
    if not schemes:
        lines = [r for r in s.get("systems") or [] if r.get("system") == "lines"
                 and r.get("board") == "ideal" and r.get("rule") == "voltage"]  # fmt: skip
        return f"lines accuracy {_pct(lines[0]['test_accuracy'].get('mean'))}" if lines else ""
    shown, chosen = [], []
    for system in dict.fromkeys(r.get("system") for r in schemes):
        rows = [r for r in schemes if r.get("system") == system]
        row = next((r for r in rows if (r.get("board"), r.get("rule")) == ("ideal", "voltage")),
                   rows[0])  # fmt: skip
        chosen.append(row)
        lo, hi = (100 * _num(v) for v in ((row.get("minus_chance_ci95") or []) + [None] * 2)[:2])
        shown.append(
            f"{LINE_SCHEMES.get(str(system), system)} {_pct(row.get('accuracy'))} (minus chance "
            f"{100 * _num(row.get('minus_chance')):+.1f} points, 95 % CI {lo:+.1f} to {hi:+.1f})"
        )
    first = chosen[0]
    wins = sum(bool(r.get("beats_chance")) for r in schemes)
    text = (
        f"line classification ({first.get('board')} board, {first.get('rule')} rule): "
        f"{', '.join(shown)}; beats chance in {wins} of {len(schemes)} scheme x board x rule runs"
    )
    ceiling = s.get("ceiling") or {}
    affine = _num((ceiling.get("readouts") or {}).get("affine"))
    fit = ceiling.get("fit") or {}
    if not math.isfinite(affine):
        return text
    text += f"; ceiling {_pct(affine)} (affine readout of the outputs"
    if fit:
        text += (f"; a setting fitted in the digipot span {_pct(fit.get('accuracy_codes'))} "
                 f"at its {fit.get('positions')}-position codes")  # fmt: skip
    text += ")"
    # each run's accuracy interval's top: chance (accuracy - minus_chance) + the CI's top
    tops = [_num(r.get("accuracy")) - _num(r.get("minus_chance"))
            + _num((r.get("minus_chance_ci95") or [None, None])[1]) for r in schemes]  # fmt: skip
    if all(math.isfinite(t) and t < affine for t in tops):
        text += ": the training, not the network, is the limit"
    return text


def verdict_seed2(s: dict[str, Any]) -> Verdict:
    """From ``seed_figures`` on the ideal board (the seed simulated ideal parts): reproduced
    if every seed figure is matched (ours within the study's tolerance), depends on an
    unstated parameter if some are (the seed's networks and readings are partly ours:
    the five-edge figure, the meaning of "+-"), else not reproduced. The reason also
    quotes line classification (`_lines_text`: both schemes against chance, and the
    ceiling) and the largest power-minus-voltage difference."""
    figures = [f for f in s.get("seed_figures") or [] if f.get("board") == "ideal"]
    if not figures:
        return Verdict(NOT_RUN, "no seed figures in the statistics")
    text = "; ".join(
        f"{f.get('system')} {_num(f.get('ours')):.3g} V ({f.get('ours_is')}) vs "
        f"{_num(f.get('seed_figure')):g} V" for f in figures
    )
    lines = _lines_text(s)
    if lines:
        text += f"; {lines}"
    diffs = [abs(_num(c.get("power_minus_voltage"))) for c in s.get("rule_comparison") or []]
    diffs = [d for d in diffs if math.isfinite(d)]
    if diffs:
        text += f"; power - voltage at most {max(diffs):.3g}"
    matched = [bool(f.get("matched")) for f in figures]
    if all(matched):
        return Verdict(REPRODUCED, text)
    if any(matched):
        return Verdict(DEPENDS, f"the reading of the seed's figures ({text})")
    return Verdict(NOT_REPRODUCED, text)


#: study name -> its verdict from its ``statistics``.
VERDICTS: dict[str, Callable[[dict[str, Any]], Verdict]] = {
    "collapse": verdict_collapse,
    "powerlaw": verdict_powerlaw,
    "discrete-regression": verdict_discrete_regression,
    "discrete-allostery": verdict_discrete_allostery,
    "experiment-allostery": verdict_experiment,
    "iris": verdict_iris,
    "seed2": verdict_seed2,
}


def _ci_text(ci: Any) -> str:
    lo, hi = (_num(v) for v in ((ci or [None, None]) + [None, None])[:2])
    return f"{lo:.3g}-{hi:.3g}" if math.isfinite(lo) and math.isfinite(hi) else "n/a"


def verdict(name: str, summary: dict[str, Any] | None) -> Verdict:
    """The verdict of study ``name`` from its ``NAME.json`` contents (None: not run)."""
    if summary is None:
        return Verdict(NOT_RUN, "no statistics file")
    fn = VERDICTS.get(name)
    if fn is None:
        return Verdict(NOT_RUN, "no verdict rule for this study")
    return fn(summary.get("statistics") or {})


def load_summaries(folder: Path) -> dict[str, dict[str, Any] | None]:
    """Every study of `CLAIMS` (and any other ``*.json`` with a ``study`` key) in
    ``folder``: name -> the parsed ``NAME.json``, or None if absent. A file that is not
    JSON raises ValueError naming it."""
    out: dict[str, dict[str, Any] | None] = {name: None for name in CLAIMS}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON file ({exc.msg}, line {exc.lineno})") from None
        if isinstance(data, dict) and data.get("study") == path.stem:
            out[path.stem] = data
    return out


def _key_rows(stats: dict[str, Any], limit: int = 14) -> list[tuple[str, str]]:
    """Up to ``limit`` top-level scalar or short-list statistics, as text."""
    rows = []
    for k, v in stats.items():
        if k == "headline":
            continue
        if isinstance(v, bool | int | float | str) or v is None:
            rows.append((k, str(v)))
        elif isinstance(v, list) and len(v) <= 6 and all(not isinstance(x, dict | list) for x in v):
            rows.append((k, ", ".join(str(x) for x in v)))
        if len(rows) >= limit:
            break
    return rows


def _iris_table(stats: dict[str, Any]) -> str:
    rows = stats.get("choices") or []
    head = ("choice", "varies", "runs", "before", "final (95 % CI)", "best (epoch)")
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["choice"], ", ".join(r.get("varies") or []) or "-", r.get("runs"),
            f"{_num(r.get('accuracy_before')):.1%}",
            f"{_num(r.get('accuracy_final')):.1%} ({_ci_text(r.get('accuracy_final_ci95'))})",
            f"{_num(r.get('accuracy_best')):.1%} ({r.get('best_epoch')})",
        )) + "</tr>"
        for r in rows
    )  # fmt: skip
    ths = "".join(f"<th>{h}</th>" for h in head)
    return f"<table class='k'><tr>{ths}</tr>{body}</table>"


_CSS = """
body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:1.6em;border-top:1px solid #ccc;padding-top:.6em}
.v{padding:.25em .6em;border-radius:4px;font-weight:bold;display:inline-block}
.reproduced{background:#c8f0c8} .depends{background:#fbe7a8}
.not-reproduced{background:#f6c4c4} .not-run{background:#ddd}
table.k{border-collapse:collapse;font-size:.85em;margin:.4em 0}
table.k td,table.k th{border:1px solid #ccc;padding:2px 6px;text-align:left}
img{max-width:100%;border:1px solid #eee} pre{font-size:.75em;max-height:30em;overflow:auto}
.claim{font-style:italic} .small{font-size:.85em;color:#555}
"""


#: ``args`` of a ``NAME.json`` the page leaves out (kept in the JSON): the progress bar,
#: and ``out``, a path local to the machine that ran the study.
HIDDEN_ARGS = ("progress", "out")


def _status_class(status: str) -> str:
    return {REPRODUCED: "reproduced", DEPENDS: "depends", NOT_REPRODUCED: "not-reproduced"}.get(
        status, "not-run"
    )


def render(folder: Path) -> str:
    """The report page (HTML) of the studies in ``folder``; figures linked relatively."""
    summaries = load_summaries(folder)
    names = list(CLAIMS) + [n for n in summaries if n not in CLAIMS]
    verdicts = {n: verdict(n, summaries.get(n)) for n in names}
    index = "".join(
        f"<tr><td><a href='#{n}'>{n}</a></td><td><span class='v {_status_class(v.status)}'>"
        f"{html.escape(v.status)}</span></td></tr>"
        for n, v in verdicts.items()
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>twinlab studies</title>",
        f"<style>{_CSS}</style></head><body><h1>twinlab in-silico studies: report</h1>",
        f"<p class='small'>Built from the study files in {html.escape(str(folder))} "
        "(nothing rerun). Verdicts are computed from each study's statistics "
        "(lab/insilico/report.py).</p>",
        f"<table class='k'><tr><th>study</th><th>verdict</th></tr>{index}</table>",
    ]
    for n in names:
        s, v = summaries.get(n), verdicts[n]
        parts.append(f"<h2 id='{n}'>{html.escape(n)}</h2>")
        parts.append(f"<p class='claim'>{html.escape(CLAIMS.get(n, '(no claim on record)'))}</p>")
        parts.append(
            f"<p><span class='v {_status_class(v.status)}'>{html.escape(v.status)}</span> "
            f"{html.escape(v.reason)}</p>"
        )
        if s is None:
            parts.append(f"<p class='small'>Run it: <code>twinlab study {n}</code></p>")
            continue
        stats = s.get("statistics") or {}
        if stats.get("headline"):
            parts.append(f"<p><b>{html.escape(str(stats['headline']))}</b></p>")
        shown = {k: v for k, v in (s.get("args") or {}).items()
                 if v is not None and k not in HIDDEN_ARGS}  # fmt: skip
        parts.append(
            f"<p class='small'>{s.get('points')} points, {s.get('wall_s')} s; args "
            f"{html.escape(json.dumps(shown))}</p>"
        )
        fig = folder / str(s.get("figure") or f"{n}.png")
        if fig.is_file():
            parts.append(f"<img src='{html.escape(fig.name)}' alt='{html.escape(n)} figure'>")
        if n == "iris":
            parts.append(_iris_table(stats))
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(val)}</td></tr>"
            for k, val in _key_rows(stats)
        )
        if rows:
            parts.append(f"<table class='k'>{rows}</table>")
        parts.append(
            "<details><summary>all statistics</summary><pre>"
            f"{html.escape(json.dumps(stats, indent=1))}</pre></details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(folder: Path, out: Path | None = None) -> Path:
    """Write the report page of ``folder`` to ``out`` (default ``folder/report.html``)."""
    out = folder / "report.html" if out is None else out
    out.write_text(render(folder))
    return out
