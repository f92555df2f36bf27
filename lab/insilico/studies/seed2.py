"""``twinlab study seed2``: the second seed's reported figures on its own networks and
resolutions, and the voltage rule against the power rule on the same tasks.

Every run goes through the product path (an emulated `Bench` and the
`lab.acquire.trainer.Trainer`), p = 1, on two boards: ``ideal`` (`EmulatorConfig.ideal`:
identical twins, exact converters; the comparator offsets sigma ~ U[0, 0.05] V remain)
and ``full`` (every non-ideality, the twins' parts mismatched by up to 2 %). The board is
built with the rule (`EmulatorConfig.rule`). A point is one system x board x rule x seed
(the seed is the board's and the run's: parts, noise, example order, training split).

Systems (`SYSTEMS`), each with the seed's figure (`SEED_FIGURES`):

- ``chain3-16`` / ``chain3-128``: the three-edge chain (``data/tasks/chain3.toml``, eta 1)
  with 16- and 128-position digipots. The seed: the output oscillates +-0.263 V around
  the target after four steps (16), +-0.1 V (a comparable 128-position network). Ours:
  the free output V_F over the final window (the last quarter of the steps, at least
  `MIN_WINDOW`, "after convergence"): its peak-to-peak swing (max - min) and half of it
  (the amplitude), and the largest |V_F - V_D|.
- ``bridge5``: the five-edge network in our reading (``data/tasks/bridge5.toml``, eta 1,
  16 positions as the chain). The seed: +-0.14 V after three steps. Ours: the largest
  |V_F - V_D| over both outputs after three steps (the fourth free measurement), and the
  same readings after convergence as the chain.
- ``lines``: line classification on the layered network (``data/tasks/lines.toml``,
  128 positions, eta 1, class-means targets): the test accuracy at the end, over seeds.

A seed figure is matched (`matches`) when ours lies within `TOLERANCE` of it
(relative). The seed does not say what its "+-" measures, so each figure is compared
with every reading (``all_readings``: the amplitude, the swing, the largest |V_F - V_D|
after convergence, and for bridge5 after three steps) and the closest is reported as
``ours`` with its name ``ours_is``: a match says which reading of the seed agrees.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from lab.insilico.studies.base import Study, StudyArgs, figure, mean_ci, rounded

#: The seed's figures, V.
SEED_FIGURES: dict[str, float] = {"chain3-16": 0.263, "chain3-128": 0.1, "bridge5": 0.14}
#: A seed figure is matched when ours lies within this fraction of it.
TOLERANCE = 0.3
#: The shortest final window, steps.
MIN_WINDOW = 20
RULES = ("voltage", "power")
BOARDS = ("ideal", "full")
#: system -> task, digipot positions, eta, default steps (lines: epochs x 16 examples).
SYSTEMS: dict[str, dict[str, Any]] = {
    "chain3-16": {"task": "chain3", "positions": 16, "eta": 1.0, "steps": 200},
    "chain3-128": {"task": "chain3", "positions": 128, "eta": 1.0, "steps": 600},
    "bridge5": {"task": "bridge5", "positions": 16, "eta": 1.0, "steps": 200},
    "lines": {"task": "lines", "positions": 128, "eta": 1.0, "steps": 1600},
}


def _bench(board: str, seed: int, positions: int, rule: str, network: str):
    from lab.emulator.backend import emulator_bench
    from lab.emulator.config import EmulatorConfig

    values: dict[str, Any] = dict(seed=seed, positions=positions, rule=rule, network=network)
    if board == "ideal":
        return emulator_bench(EmulatorConfig.ideal(**values))
    if board == "full":
        return emulator_bench(EmulatorConfig(**values))
    raise ValueError(f"unknown board {board!r}")


def run_point(point: dict) -> dict:
    """One run: the free outputs V_F (steps, n_out) and desired V_D of every step, and
    for classification the test accuracy of every evaluation."""
    from lab.acquire.records import Observer
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.tasks import load_task

    class Record(Observer):
        def __init__(self) -> None:
            self.v_free: list[list[float]] = []
            self.v_desired: list[list[float]] = []
            self.accuracy: list[float] = []

        def step(self, record) -> None:
            self.v_free.append(record.v_free.tolist())
            self.v_desired.append(record.v_desired.tolist())

        def test(self, record) -> None:
            self.accuracy.append(float(record.accuracy))

    t0 = time.perf_counter()
    system = SYSTEMS[point["system"]]
    task = load_task(system["task"], seed=point["seed"])
    classify = task.kind == "classification"
    settings = settings_from(
        task=system["task"], p=1.0, eta=system["eta"], steps=point["steps"],
        seed=point["seed"], test_every=task.n_train if classify else 0, rule=point["rule"],
    )  # fmt: skip
    bench = _bench(point["board"], point["seed"], system["positions"], point["rule"],
                   task.network)  # fmt: skip
    rec = Record()
    try:
        Trainer(bench, task, settings, [rec]).run()
    finally:
        bench.close()
    out: dict[str, Any] = {"wall_s": round(time.perf_counter() - t0, 2)}
    if classify:
        out["accuracy"] = rounded(rec.accuracy, 4)
    else:
        out["v_free"] = rounded(np.asarray(rec.v_free), 6)
        out["v_desired"] = rounded(np.asarray(rec.v_desired[0]), 6)
    return out


def oscillation(v_free: np.ndarray, v_desired: np.ndarray) -> dict[str, float]:
    """Of the final window of free outputs ``v_free`` (steps, n_out) V against
    ``v_desired`` (n_out,): the largest peak-to-peak swing over outputs (V), its half
    (the amplitude), and the largest |V_F - V_D| (V)."""
    v = np.asarray(v_free, dtype=float)
    window = v[-max(MIN_WINDOW, len(v) // 4) :]
    swing = float((window.max(axis=0) - window.min(axis=0)).max())
    return {
        "swing_pp": swing,
        "amplitude": swing / 2,
        "max_abs_error": float(np.abs(window - np.asarray(v_desired)).max()),
    }


def matches(ours: float, seed: float) -> bool:
    """True when ``ours`` lies within `TOLERANCE` (relative) of the seed's figure."""
    return math.isfinite(ours) and abs(ours - seed) <= TOLERANCE * seed


def points(args: StudyArgs) -> list[dict]:
    seeds = args.size("seeds", 5, 5)
    return [
        {"study": "seed2", "system": name, "board": board, "rule": rule, "seed": s,
         "steps": args.size("steps", sys_["steps"], sys_["steps"])}
        for name, sys_ in SYSTEMS.items() for board in BOARDS for rule in RULES
        for s in range(seeds)
    ]  # fmt: skip


def _stat(x: list[float]) -> dict[str, Any]:
    m, lo, hi = mean_ci(np.asarray(x, dtype=float))
    return {"mean": rounded(m, 4), "ci95": rounded([lo, hi], 4), "min": rounded(min(x), 4),
            "max": rounded(max(x), 4), "runs": len(x)}  # fmt: skip


def summarize(records: list[dict], args: StudyArgs, out_dir: Path) -> dict:
    """Per system x board x rule, over seeds: the oscillation after convergence (and for
    bridge5 the error after three steps), or the final test accuracy; each seed figure
    against ours; the power rule against the voltage rule (paired by seed)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for rec in records:
        p = rec["point"]
        groups.setdefault((p["system"], p["board"], p["rule"]), []).append(rec)
    table: list[dict[str, Any]] = []
    per_seed: dict[tuple[str, str, str], list[float]] = {}
    curves: dict[tuple[str, str, str], np.ndarray] = {}
    for (system, board, rule), recs in groups.items():
        recs = sorted(recs, key=lambda r: r["point"]["seed"])
        row: dict[str, Any] = {"system": system, "board": board, "rule": rule,
                               "steps": recs[0]["point"]["steps"]}  # fmt: skip
        if system == "lines":
            acc = [r["result"]["accuracy"][-1] for r in recs]
            row["test_accuracy"] = _stat(acc)
            per_seed[(system, board, rule)] = acc
        else:
            osc = [oscillation(np.asarray(r["result"]["v_free"]), r["result"]["v_desired"])
                   for r in recs]  # fmt: skip
            for key in ("swing_pp", "amplitude", "max_abs_error"):
                row[key] = _stat([o[key] for o in osc])
            per_seed[(system, board, rule)] = [o["amplitude"] for o in osc]
            curves[(system, board, rule)] = np.asarray(recs[0]["result"]["v_free"])
            if system == "bridge5":
                after3 = []
                for r in recs:
                    v = np.asarray(r["result"]["v_free"])
                    k = min(3, len(v) - 1)
                    after3.append(float(np.abs(v[k] - np.asarray(r["result"]["v_desired"])).max()))
                row["error_after_3_steps"] = _stat(after3)
        table.append(row)

    figures: list[dict[str, Any]] = []
    for row in table:
        if row["system"] not in SEED_FIGURES or row["rule"] != "voltage":
            continue
        seed_value = SEED_FIGURES[row["system"]]
        reading = {"amplitude (swing / 2)": row["amplitude"]["mean"],
                   "swing (peak to peak)": row["swing_pp"]["mean"],
                   "largest |V_F - V_D| after convergence": row["max_abs_error"]["mean"]}
        if row["system"] == "bridge5":
            reading["largest |V_F - V_D| after 3 steps"] = row["error_after_3_steps"]["mean"]
        name, ours = min(reading.items(), key=lambda kv: abs(_num(kv[1]) - seed_value))
        figures.append({
            "system": row["system"], "board": row["board"], "seed_figure": seed_value,
            "ours": ours, "ours_is": name, "all_readings": reading,
            "matched": matches(_num(ours), seed_value),
        })  # fmt: skip

    comparison: list[dict[str, Any]] = []
    for (system, board, rule), vals in per_seed.items():
        if rule != "power" or (system, board, "voltage") not in per_seed:
            continue
        volt = np.asarray(per_seed[(system, board, "voltage")])
        powr = np.asarray(vals)
        what = "test accuracy" if system == "lines" else "oscillation amplitude (V)"
        m, lo, hi = mean_ci(powr - volt)
        comparison.append({
            "system": system, "board": board, "quantity": what,
            "voltage": rounded(volt.mean(), 4), "power": rounded(powr.mean(), 4),
            "power_minus_voltage": rounded(m, 4), "ci95": rounded([lo, hi], 4),
            "identical_runs": int(np.sum(powr == volt)), "runs": len(volt),
        })  # fmt: skip

    lines = [r for r in table if r["system"] == "lines"]
    headline = "; ".join(
        f"{f['system']} ({f['board']}): {_num(f['ours']):.3g} V ({f['ours_is']}) vs the "
        f"seed's {f['seed_figure']:g} V" for f in figures if f["board"] == "ideal"
    )
    if lines:
        headline += "; lines accuracy " + ", ".join(
            f"{r['board']}/{r['rule']} {_num(r['test_accuracy']['mean']):.0%}" for r in lines
        )
    _plot(curves, table, out_dir / "seed2.png")
    return {
        "headline": headline,
        "tolerance": TOLERANCE,
        "seed_figures": figures,
        "systems": table,
        "rule_comparison": comparison,
    }


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _plot(curves: dict, table: list[dict], path: Path) -> None:
    """The free output of the first seed's run of each oscillating system (ideal board),
    both rules; and the lines accuracy per board and rule."""
    fig, axes = figure(12.0, 4)
    for ax, system in zip(axes[:3], ("chain3-16", "chain3-128", "bridge5"), strict=True):
        for rule, style in (("voltage", "-"), ("power", "--")):
            v = curves.get((system, "ideal", rule))
            if v is not None:
                ax.plot(v, style, lw=1, label=rule)
        ax.set_title(f"{system} (ideal board)")
        ax.set_xlabel("step")
        ax.set_ylabel("V_F (V)")
        ax.legend(fontsize=7)
    rows = [r for r in table if r["system"] == "lines"]
    axes[3].bar([f"{r['board']}\n{r['rule']}" for r in rows],
                [_num(r["test_accuracy"]["mean"]) for r in rows])  # fmt: skip
    axes[3].set_ylim(0, 1)
    axes[3].set_title("lines: final test accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


STUDIES = [
    Study(
        "seed2",
        "The second seed's figures on its networks (three-edge chain with 16 and 128 "
        "positions, five-edge network, line classification) on the ideal and full emulated "
        "board, voltage rule vs power rule; --seeds runs per configuration, --steps steps",
        points,
        run_point,
        summarize,
    )
]
