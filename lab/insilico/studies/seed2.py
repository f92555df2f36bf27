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
  128 positions, eta 1, class-means targets): the test accuracy at the end, over seeds;
  ``lines-patterns``: the same with ``targets = "pattern-means"`` (one target per
  pattern, the nearest pattern target's class wins). ``scheme_comparison``: each
  scheme's accuracy against chance (1/2) and pattern-means against class-means, paired
  by seed (the same split and board), with 95 % t intervals over seeds. ``ceiling``:
  what any setting of the network could reach (`ceiling`).
- ``lines-map``: the map of target schemes (issue 17 item 2, `MAP_SCHEMES`), voltage
  rule, on the ideal and the full board and with the continuous rule (eq. 7, the
  studies' batch rule, the same symmetric mid-scale start) as the reference of what a
  gradient-like rule reaches with each scheme. Per run: the scheme's test accuracy, and
  what the output edges do (`MapTrainer`: their final codes, the fraction of their
  pulses that stepped up in the first and the last epoch, the largest |V_7 - V_8| over
  the test images). ``scheme_map``: each scheme's accuracy and its difference from
  class-means paired by seed, 95 % t intervals over seeds.

A seed figure is matched (`matches`) when ours lies within `TOLERANCE` of it
(relative). The seed does not say what its "+-" measures, so each figure is compared
with every reading (``all_readings``: the amplitude, the swing, the largest |V_F - V_D|
after convergence, and for bridge5 after three steps) and the closest is reported as
``ours`` with its name ``ours_is``: a match says which reading of the seed agrees.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from lab.insilico.studies.base import Study, StudyArgs, figure, mean_ci, rounded, study_bench

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
    "lines-patterns": {"task": "lines", "positions": 128, "eta": 1.0, "steps": 1600,
                       "targets": "pattern-means"},
}
#: The line systems: classification, their readings the test accuracy.
LINES = ("lines", "lines-patterns")
#: Chance accuracy of the two balanced classes.
CHANCE = 0.5
#: The target-scheme map (``lines-map``): scheme -> its parameters. "class-means" and
#: "pattern-means" as the trainer (`TARGETS`); "+m" a `class_margin` of m V; "scaled":
#: each class's target per volt of brightness (the free response to the class's mean
#: input over that input's pixel sum), times the example's own pixel sum, the nearest
#: scaled class target wins; "normalised": class-means on the examples scaled to equal
#: brightness (`MAP_BRIGHTNESS` V pixel sum, train and test); "nudge-d": each example's
#: own free response at the epoch's start, its class's output + d V and the other - d V
#: (read out by the higher output, and by the nearest class centroid of the training
#: free outputs).
MAP_SCHEMES: dict[str, dict[str, Any]] = {
    "class-means": {}, "class-means+0.5": {"margin": 0.5}, "pattern-means": {},
    "scaled": {}, "normalised": {},
    "nudge-0.05": {"delta": 0.05}, "nudge-0.2": {"delta": 0.2}, "nudge-1": {"delta": 1.0},
}  # fmt: skip
#: Where the map runs: two emulated boards (voltage rule) and the continuous rule.
MAP_BOARDS = ("ideal", "full", "continuous")
#: Default length of a map run: discrete steps (100 epochs of 16), continuous full-batch steps.
MAP_STEPS = {"discrete": 1600, "continuous": 400}
#: The continuous rule's gamma per example, R_mid^3 / V^2 (resistances in units of the
#: mid-scale resistance, clipped to the digipot's span).
MAP_GAMMA = 0.005
#: The continuous reference's start: mid-scale times exp(U[-this, +this]) per edge.
MAP_START_SPREAD = 0.1
#: "normalised": every example's pixel sum, V (two lit pixels at the mean level 3 V).
MAP_BRIGHTNESS = 6.0
#: The output edges of layer4x2x2 (0-based edge indices: 5-7, 5-8, 6-7, 6-8).
OUTPUT_EDGES = (8, 9, 10, 11)


def _bench(board: str, seed: int, positions: int, rule: str, network: str):
    from lab.emulator.backend import emulator_bench
    from lab.emulator.config import EmulatorConfig

    values: dict[str, Any] = dict(seed=seed, positions=positions, rule=rule, network=network)
    if board == "ideal":
        return study_bench(emulator_bench(EmulatorConfig.ideal(**values)))
    if board == "full":
        return study_bench(emulator_bench(EmulatorConfig(**values)))
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

    if point["system"] == "lines-map":
        return run_map_point(point)
    t0 = time.perf_counter()
    system = SYSTEMS[point["system"]]
    task = load_task(system["task"], seed=point["seed"])
    if "targets" in system:
        task = dataclasses.replace(task, targets=system["targets"])
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


def _map_task(scheme: str, seed: int):
    """The lines task of ``seed`` for map ``scheme`` (its targets; "normalised": every
    example scaled to a pixel sum of `MAP_BRIGHTNESS` V)."""
    from lab.tasks import load_task

    task = load_task("lines", seed=seed)
    targets = "pattern-means" if scheme == "pattern-means" else "class-means"
    task = dataclasses.replace(task, targets=targets)
    if scheme == "normalised":
        def norm(x: np.ndarray) -> np.ndarray:
            return x * (MAP_BRIGHTNESS / x.sum(axis=1, keepdims=True))

        task = dataclasses.replace(task, train_inputs=norm(task.train_inputs),
                                   test_inputs=norm(task.test_inputs))  # fmt: skip
    return task


def map_targets(scheme: str, x: np.ndarray, labels: np.ndarray, groups: np.ndarray | None,
                free) -> tuple[np.ndarray, Any]:
    """Desired outputs (M, 2) V of map ``scheme`` for training inputs ``x`` (M, 4) V with
    ``labels`` and pattern ``groups`` (M,), given ``free``: input rows (K, 4) V -> free
    outputs (K, 2) V; and the readout: a function of test (inputs, free outputs) ->
    {readout name: class indices}. Shared by the board (`MapTrainer`) and the
    continuous reference, so both train and read out the same scheme."""
    params = MAP_SCHEMES[scheme]
    classes = np.arange(2)

    def nearest(v: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return ((v[:, None, :] - targets[None]) ** 2).sum(-1).argmin(axis=1)

    if scheme.startswith("nudge"):
        v = free(x)
        sign = np.where(classes[None] == labels[:, None], 1.0, -1.0)
        centroids = np.stack([v[labels == c].mean(axis=0) for c in classes])
        return v + params["delta"] * sign, lambda xt, vt: {
            "higher output": vt.argmax(axis=1), "nearest centroid": nearest(vt, centroids)}
    if scheme == "pattern-means":
        assert groups is not None
        present = np.unique(groups)
        targets = free(np.stack([x[groups == g].mean(axis=0) for g in present]))
        owner = np.array([labels[groups == g][0] for g in present])
        return targets[np.searchsorted(present, groups)], lambda xt, vt: {
            "nearest target": owner[nearest(vt, targets)]}
    means = np.stack([x[labels == c].mean(axis=0) for c in classes])
    targets = free(means) + params.get("margin", 0.0) * np.eye(2)
    if scheme == "scaled":
        per_volt = targets / means.sum(axis=1, keepdims=True)
        return per_volt[labels] * x.sum(axis=1, keepdims=True), lambda xt, vt: {
            "nearest target": ((vt[:, None, :] - per_volt[None] * xt.sum(axis=1)[:, None, None])
                               ** 2).sum(-1).argmin(axis=1)}  # fmt: skip
    return targets[labels], lambda xt, vt: {"nearest target": nearest(vt, targets)}


@functools.cache
def _map_trainer() -> type:
    from lab.acquire.trainer import Trainer

    class MapTrainer(Trainer):
        """The product trainer with a map scheme's targets (`map_targets`) re-set every
        epoch in place of its own; records what the output edges do."""

        scheme = "class-means"

        def _retarget(self) -> None:
            t = self.task
            self.desired, self.readout = map_targets(
                self.scheme, t.train_inputs, t.train_labels, t.train_groups,
                self._free_response)  # fmt: skip

    return MapTrainer


def run_map_point(point: dict) -> dict:
    """One ``lines-map`` run: the scheme's test accuracy by each of its readouts, the
    output edges' final codes (or resistances, continuous), the fraction of their pulses
    that stepped up in the first and last epoch (discrete), the largest |V_7 - V_8| over
    the test images (V)."""
    t0 = time.perf_counter()
    task = _map_task(point["scheme"], point["seed"])
    if point["board"] == "continuous":
        out = _continuous_map_run(task, point["scheme"], point["steps"], point["seed"])
    else:
        out = _board_map_run(task, point)
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    return out


def _board_map_run(task, point: dict) -> dict:
    from lab.acquire.records import Observer
    from lab.acquire.settings import settings_from

    class Record(Observer):
        def __init__(self) -> None:
            self.up: list[float] = []  # per epoch: fraction of output-edge pulses up
            self._cur: list[np.ndarray] = []

        def step(self, record) -> None:
            if record.direction is not None:
                self._cur.append(record.direction[list(OUTPUT_EDGES)])
            if (record.step + 1) % task.n_train == 0 and self._cur:
                self.up.append(float(np.mean(np.asarray(self._cur) > 0)))
                self._cur = []

    settings = settings_from(task="lines", p=1.0, eta=SYSTEMS["lines"]["eta"],
                             steps=point["steps"], seed=point["seed"], test_every=0)  # fmt: skip
    bench = _bench(point["board"], point["seed"], SYSTEMS["lines"]["positions"], "voltage",
                   task.network)  # fmt: skip
    rec = Record()
    trainer = _map_trainer()(bench, task, settings, [rec])
    trainer.scheme = point["scheme"]
    try:
        trainer.run()
        trainer._retarget()  # the readout of the final network
        v = trainer._free_response(task.test_inputs)
        codes = np.asarray(bench.probe.positions())[list(OUTPUT_EDGES)]
    finally:
        bench.close()
    return {
        "accuracy": {k: float(np.mean(c == task.test_labels))
                     for k, c in trainer.readout(task.test_inputs, v).items()},
        "output_codes": codes.astype(int).tolist(),
        "up_first_epoch": rounded(rec.up[0], 4) if rec.up else None,
        "up_last_epoch": rounded(rec.up[-1], 4) if rec.up else None,
        "v7_v8_max": rounded(float(np.abs(v[:, 0] - v[:, 1]).max()), 6),
    }


def _continuous_map_run(task, scheme: str, steps: int, seed: int,
                        spread: float = MAP_START_SPREAD) -> dict:
    """The continuous rule (eq. 7: the sum of eq. 2 over the 16 training examples each
    step, eta as the board's), full batch, targets re-set every step; resistances in
    units of the mid-scale resistance, clipped to the digipot span, starting at mid-scale
    times exp(U[-spread, +spread]) per edge (from ``seed``). From the exactly uniform
    start (``spread = 0``) the rule keeps V_5 = V_6 and V_7 = V_8 for ever: swapping the
    hidden nodes maps the network, the start and every target onto themselves; on a
    board only the comparator offsets and the parts' mismatch break that symmetry."""
    from lab.core.digipot import Digipot
    from lab.core.learning import clamped_outputs, continuous_batch_update
    from lab.core.network import Network
    from lab.emulator.config import EmulatorConfig

    net = Network.from_name(task.network)
    cfg = EmulatorConfig()
    pot = Digipot(SYSTEMS["lines"]["positions"])
    r_mid = float(pot.resistance(np.array(pot.positions // 2), cfg.r_end_to_end, cfg.r_wiper))
    r_lo, r_hi = (float(pot.resistance(np.array(c), cfg.r_end_to_end, cfg.r_wiper)) / r_mid
                  for c in (0, pot.top))  # fmt: skip
    out_idx = net.index_of(task.output_nodes)
    inputs, both = list(task.input_nodes), list(task.input_nodes) + list(task.output_nodes)
    eta = SYSTEMS["lines"]["eta"]
    r = np.exp(np.random.default_rng([seed, 17]).uniform(-spread, spread, net.n_edges))

    def solve(x: np.ndarray, nodes: list[int], r: np.ndarray) -> np.ndarray:
        return net.solve(np.broadcast_to(1.0 / r, (len(x), net.n_edges)), (nodes, x))

    x, labels, groups = task.train_inputs, task.train_labels, task.train_groups
    for _ in range(steps):
        desired, _readout = map_targets(scheme, x, labels, groups,
                                        lambda xx, r=r: solve(xx, inputs, r)[:, out_idx])
        v_free = solve(x, inputs, r)
        v_c = clamped_outputs(v_free[:, out_idx], desired, eta)
        v_clamped = solve(np.c_[x, v_c], both, r)
        r = np.clip(r + continuous_batch_update(r, net.drops(v_clamped), net.drops(v_free),
                                                MAP_GAMMA), r_lo, r_hi)  # fmt: skip
    _, readout = map_targets(scheme, x, labels, groups,
                             lambda xx: solve(xx, inputs, r)[:, out_idx])
    v = solve(task.test_inputs, inputs, r)[:, out_idx]
    return {
        "accuracy": {k: float(np.mean(c == task.test_labels))
                     for k, c in readout(task.test_inputs, v).items()},
        "output_resistance": rounded(r[list(OUTPUT_EDGES)] * r_mid, 4),
        "at_top": int(np.sum(r[list(OUTPUT_EDGES)] >= r_hi * (1 - 1e-9))),
        "v7_v8_max": rounded(float(np.abs(v[:, 0] - v[:, 1]).max()), 6),
    }


def scheme_map(records: list[dict]) -> list[dict[str, Any]]:
    """Per ``lines-map`` scheme x board x readout, over seeds: the test accuracy, its
    difference from class-means paired by seed (the same split and board; class-means'
    own readout), 95 % t intervals; and the output edges' mean final code (boards) or the
    number at the top resistance (continuous), and the mean largest |V_7 - V_8| (V)."""
    runs: dict[tuple[str, str], dict[int, dict]] = {}
    for rec in records:
        p = rec["point"]
        if p["system"] == "lines-map":
            runs.setdefault((p["scheme"], p["board"]), {})[p["seed"]] = rec["result"]
    rows: list[dict[str, Any]] = []
    for (scheme, board), by_seed in runs.items():
        seeds = sorted(by_seed)
        base = runs.get(("class-means", board), {})
        for readout in by_seed[seeds[0]]["accuracy"]:
            acc = [by_seed[s]["accuracy"][readout] for s in seeds]
            row: dict[str, Any] = {"scheme": scheme, "board": board, "readout": readout,
                                   "test_accuracy": _stat(acc)}  # fmt: skip
            paired = [s for s in seeds if s in base]
            if scheme != "class-means" and len(paired) >= 2:
                diff = [by_seed[s]["accuracy"][readout] - base[s]["accuracy"]["nearest target"]
                        for s in paired]  # fmt: skip
                m, lo, hi = mean_ci(np.asarray(diff))
                row.update({"minus_class_means": rounded(m, 4),
                            "minus_class_means_ci95": rounded([lo, hi], 4),
                            "beats_class_means": bool(lo > 0)})  # fmt: skip
            res = [by_seed[s] for s in seeds]
            if board == "continuous":
                row["output_edges_at_top"] = rounded(float(np.mean([r["at_top"] for r in res])), 3)
            else:
                row["output_code_mean"] = rounded(
                    float(np.mean([r["output_codes"] for r in res])))
                row["up_first_epoch"] = rounded(
                    float(np.mean([r["up_first_epoch"] for r in res])), 3)
            row["v7_v8_max_mean"] = rounded(float(np.mean([r["v7_v8_max"] for r in res])), 4)
            rows.append(row)
    return rows


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
    ] + [
        {"study": "seed2", "system": "lines-map", "scheme": scheme, "board": board,
         "rule": "voltage", "seed": s,
         "steps": args.size("steps", *[MAP_STEPS["continuous" if board == "continuous"
                                                 else "discrete"]] * 2)}
        for scheme in MAP_SCHEMES for board in MAP_BOARDS for s in range(seeds)
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
        if p["system"] != "lines-map":
            groups.setdefault((p["system"], p["board"], p["rule"]), []).append(rec)
    table: list[dict[str, Any]] = []
    per_seed: dict[tuple[str, str, str], list[float]] = {}
    curves: dict[tuple[str, str, str], np.ndarray] = {}
    for (system, board, rule), recs in groups.items():
        recs = sorted(recs, key=lambda r: r["point"]["seed"])
        row: dict[str, Any] = {"system": system, "board": board, "rule": rule,
                               "steps": recs[0]["point"]["steps"]}  # fmt: skip
        if system in LINES:
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
        what = "test accuracy" if system in LINES else "oscillation amplitude (V)"
        m, lo, hi = mean_ci(powr - volt)
        comparison.append({
            "system": system, "board": board, "quantity": what,
            "voltage": rounded(volt.mean(), 4), "power": rounded(powr.mean(), 4),
            "power_minus_voltage": rounded(m, 4), "ci95": rounded([lo, hi], 4),
            "identical_runs": int(np.sum(powr == volt)), "runs": len(volt),
        })  # fmt: skip

    schemes: list[dict[str, Any]] = []
    for (system, board, rule), acc in per_seed.items():
        if system not in LINES:
            continue
        a = np.asarray(acc)
        m, lo, hi = mean_ci(a - CHANCE)
        entry: dict[str, Any] = {
            "system": system, "board": board, "rule": rule, "accuracy": rounded(a.mean(), 4),
            "minus_chance": rounded(m, 4), "minus_chance_ci95": rounded([lo, hi], 4),
            "beats_chance": bool(lo > 0),
        }  # fmt: skip
        base = per_seed.get(("lines", board, rule))
        if system != "lines" and base is not None:
            m, lo, hi = mean_ci(a - np.asarray(base))
            entry.update({"minus_class_means": rounded(m, 4),
                          "minus_class_means_ci95": rounded([lo, hi], 4),
                          "beats_class_means": bool(lo > 0)})  # fmt: skip
        schemes.append(entry)

    lines = [r for r in table if r["system"] in LINES]
    headline = "; ".join(
        f"{f['system']} ({f['board']}): {_num(f['ours']):.3g} V ({f['ours_is']}) vs the "
        f"seed's {f['seed_figure']:g} V" for f in figures if f["board"] == "ideal"
    )
    if lines:
        headline += "; " + "; ".join(
            f"{system} accuracy " + ", ".join(
                f"{r['board']}/{r['rule']} {_num(r['test_accuracy']['mean']):.0%}"
                for r in lines if r["system"] == system)
            for system in LINES if any(r["system"] == system for r in lines)
        )  # fmt: skip
    mapped = scheme_map(records)
    _plot(curves, table, mapped, out_dir / "seed2.png")
    return {
        "headline": headline,
        "tolerance": TOLERANCE,
        "seed_figures": figures,
        "systems": table,
        "rule_comparison": comparison,
        "scheme_comparison": schemes,
        "ceiling": ceiling() if lines else {},
        "scheme_map": mapped,
    }


def ceiling(task: str = "lines", positions: int = 128, starts: int = 6) -> dict[str, Any]:
    """What any setting of the layered network could reach on the line data set.

    ``readouts``: the best accuracy of each readout family over all examples
    (`lab.tasks.lines.readout_ceilings`; the outputs are linear in the pixels). ``fit``:
    resistances fitted within the digipot's span (the emulator's nominal part: wiper to
    wiper + R_AB top / positions, Ohm) by the layered network's own solver, an affine
    test of (V_7, V_8) fitted with them (logistic loss, Powell, ``starts`` random starts
    from a fixed seed): its accuracy over all examples, with continuous resistances and
    rounded to the nearest code."""
    from scipy.optimize import minimize

    from lab.core.digipot import Digipot
    from lab.core.network import Network
    from lab.emulator.config import EmulatorConfig
    from lab.tasks import load_task
    from lab.tasks.lines import readout_ceilings

    t = load_task(task, seed=0)
    x = np.concatenate([t.train_inputs, t.test_inputs])
    y = np.concatenate([t.train_labels, t.test_labels])
    s = np.where(y == 0, 1.0, -1.0)
    net = Network.from_name(t.network)
    cfg = EmulatorConfig()
    pot = Digipot(positions)
    r_lo = float(pot.resistance(np.array(0), cfg.r_end_to_end, cfg.r_wiper))
    r_hi = float(pot.resistance(np.array(pot.top), cfg.r_end_to_end, cfg.r_wiper))
    out_idx = net.index_of(t.output_nodes)
    fixed = (list(t.input_nodes), x)

    def outputs(r: np.ndarray) -> np.ndarray:
        g = np.broadcast_to(1.0 / r, (len(x), net.n_edges))
        return net.solve(g, fixed)[:, out_idx]

    def resist(p: np.ndarray) -> np.ndarray:
        return np.exp(np.clip(p[: net.n_edges], np.log(r_lo), np.log(r_hi)))

    def loss(p: np.ndarray) -> float:
        f = outputs(resist(p)) @ p[net.n_edges : -1] + p[-1]
        return float(np.mean(np.logaddexp(0.0, -5.0 * s * f)))

    def accuracy(r: np.ndarray, p: np.ndarray) -> float:
        f = outputs(r) @ p[net.n_edges : -1] + p[-1]
        return float(np.mean((f > 0) == (s > 0)))

    rng = np.random.default_rng(17)
    best: tuple[float, float, Any] = (-1.0, -1.0, None)
    for _ in range(starts):
        p0 = np.r_[rng.uniform(np.log(r_lo), np.log(r_hi), net.n_edges),
                   rng.normal(size=t.n_outputs + 1)]  # fmt: skip
        p = minimize(loss, p0, method="Powell",
                     options={"maxiter": 4000, "xtol": 1e-3, "ftol": 1e-6}).x  # fmt: skip
        r = resist(p)
        codes = np.clip(np.rint(pot.code(r, cfg.r_end_to_end, cfg.r_wiper)), 0, pot.top)
        r_codes = pot.resistance(codes, cfg.r_end_to_end, cfg.r_wiper)
        best = max(best, (accuracy(r, p), accuracy(r_codes, p), codes.astype(int).tolist()),
                   key=lambda b: b[:2])  # fmt: skip
    return {
        "examples": len(x),
        "readouts": readout_ceilings(x, y),
        "fit": {"accuracy": best[0], "accuracy_codes": best[1], "codes": best[2],
                "positions": positions, "starts": starts},
    }


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _plot(curves: dict, table: list[dict], mapped: list[dict], path: Path) -> None:
    """The free output of the first seed's run of each oscillating system (ideal board),
    both rules; the lines accuracy per scheme, board and rule; and the map of target
    schemes (`scheme_map`: one readout per scheme, the nudges' nearest centroid), mean
    and 95 % interval over seeds per board."""
    fig, axes = figure(15.0, 5)
    for ax, system in zip(axes[:3], ("chain3-16", "chain3-128", "bridge5"), strict=True):
        for rule, style in (("voltage", "-"), ("power", "--")):
            v = curves.get((system, "ideal", rule))
            if v is not None:
                ax.plot(v, style, lw=1, label=rule)
        ax.set_title(f"{system} (ideal board)")
        ax.set_xlabel("step")
        ax.set_ylabel("V_F (V)")
        ax.legend(fontsize=7)
    rows = [r for r in table if r["system"] in LINES]
    labels = [f"{'patterns' if r['system'] == 'lines-patterns' else 'classes'} "
              f"{r['board']}/{r['rule']}" for r in rows]  # fmt: skip
    axes[3].barh(labels, [_num(r["test_accuracy"]["mean"]) for r in rows])
    axes[3].axvline(CHANCE, color="k", lw=0.8, ls=":")
    axes[3].set_xlim(0, 1)
    axes[3].tick_params(axis="y", labelsize=7)
    axes[3].set_title("lines: final test accuracy")
    ax = axes[4]
    shown = [r for r in mapped if r["readout"] in ("nearest target", "nearest centroid")]
    schemes = list(dict.fromkeys(r["scheme"] for r in shown))
    for k, board in enumerate(MAP_BOARDS):
        ys, xs, err = [], [], []
        for r in shown:
            if r["board"] != board:
                continue
            m, (lo, hi) = _num(r["test_accuracy"]["mean"]), r["test_accuracy"]["ci95"]
            ys.append(schemes.index(r["scheme"]) + (k - 1) * 0.27)
            xs.append(m)
            err.append([m - _num(lo), _num(hi) - m])
        if xs:
            ax.barh(ys, xs, height=0.27, xerr=np.asarray(err).T, label=board,
                    error_kw={"lw": 0.8})  # fmt: skip
    ax.set_yticks(range(len(schemes)), schemes, fontsize=7)
    ax.axvline(CHANCE, color="k", lw=0.8, ls=":")
    ax.set_xlim(0, 1)
    ax.set_xlabel("test accuracy")
    ax.set_title("lines: target schemes")
    ax.legend(fontsize=7)
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
