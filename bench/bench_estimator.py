"""The estimator's figures of issue 14, as JSON lines.

    python bench/bench_estimator.py [--boards 5] [--states 3] [--steps 2000] [--seeds 3]
        [--tasks ii,iv,regression] [--ps 1,0.5,0.1] [--resync-every 100[,200,0...]]
        [--only tomo|track]

Emulator with every non-ideality on (EmulatorConfig defaults), the wiring
`emulator_bench` gives (every node of both twins driven and sensed, limits -1..6 V),
the probe hidden from the controller. The truth (``board.codes``) is read only here,
for scoring.

- ``tomography``: per board, a calibration at power-up (codes 64), then per random code
  state (uniform 0..127, set on the board) a resync with a prior = the truth with a
  +-2 error on every edge (what a drifting tracker hands over) and one without a prior.
  Figures: resistance error in code steps with each twin's common scale taken from the
  truth (what tomography itself resolves: node voltages cannot see the +-30 % lot), the
  continuous code error, exact codes, DAQ transactions, and the max edge current, mA:
  the most current through any edge of either twin after every drive / release call of
  the resync (and of the calibration), from the emulator's truth; ``ok`` whether the
  resync called its fit sound (`TomographyResult.ok`: False, the tracker must not adopt
  it; ``reason``: why not). A ``tomography-summary`` line per prior kind counts the rows
  that reach issue 14's target (every edge within one code step, rms <= 0.3, <= 40
  transactions); with ``--states 8`` it is the pass rate over 40 states (one row's
  outcome is chaotic in the reads' microvolts). ``p_within_one``: the row's chance of
  every edge within one code step given the reads it chose, apart from their noise draw:
  each twin's code sd at the true conductances (`reads_code_sd`, the Cramer-Rao bound),
  both twins and the prior (uniform +-2: variance 2) combined per edge, prod_e erf(1 /
  (sd_e sqrt 2)) over the edges at code 2 or more (a near-short's code is bounded
  one-sidedly, which that bound does not see); the summary's ``expected_passing`` is its
  sum, the statistic to compare designs by.
- ``tracking``: the real `Trainer` with `EstimatedProbe` over task x p x board; codes
  within +-1 / exact on edge-steps, each code's step-to-step change right, resyncs,
  extra DAQ transactions and controller time per step. ``--resync-every`` takes a
  list (0 = only when lost): every N is run over the same cells, for the sweep that
  chose `EstimatorSettings.resync_every`. Controller time is CPU time
  (``time.process_time``) in the probe's hooks less the CPU time inside the emulated
  instruments' calls (sense, drive, release), so it does not count other processes
  sharing the cores; ``wall_ms_per_step`` is the hooks' wall time, instruments included.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from lab.acquire.records import Observer
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard, PeakCurrent
from lab.observe.probe import EstimatedProbe, EstimatorSettings
from lab.observe.tomography import (
    NEAR_SHORT,
    TomographySettings,
    calibrate,
    reads_code_sd,
    tomography,
)
from lab.tasks import load_task

#: the variance, code steps^2, of the benchmark's prior: the truth plus a uniform integer
#: error in -2..2 on every edge
PRIOR_VAR = 2.0


def p_within_one(code_sd: np.ndarray, codes: np.ndarray, prior_var: float | None) -> float:
    """The chance that every edge's combined code is within one code step of the truth:
    ``code_sd`` (2, E) each twin's code sd, ``codes`` (E,) the true codes (edges below
    ``NEAR_SHORT`` left out), ``prior_var`` the prior's variance (None: no prior)."""
    info = np.sum(1.0 / np.asarray(code_sd, dtype=float) ** 2, axis=0)
    if prior_var is not None:
        info = info + 1.0 / prior_var
    sd = 1.0 / np.sqrt(info[np.asarray(codes) >= NEAR_SHORT])
    return float(np.prod([math.erf(1.0 / (s * math.sqrt(2.0))) for s in sd]))


def bench_tomography(boards: int, states: int, max_current: float = 5e-3) -> None:
    """``max_current``: every transaction's edge current limit, A (the bench's
    ``currents.edge``; 5 mA by default)."""
    settings = TomographySettings(max_current=max_current)
    passing = {"tracker+-2": [], "none": []}  # the target: every edge within one
    # code step, rms <= 0.3 code step, at most 40 transactions
    expected = {"tracker+-2": 0.0, "none": 0.0}  # sum of each row's p_within_one
    for seed in range(boards):
        board = EmulatedBoard(EmulatorConfig(seed=seed))
        bench = emulator_bench(board=board)
        bench.probe = None
        peak = PeakCurrent(board)
        model, cal = calibrate(bench, settings=TomographySettings(budget=120,
                                                                max_current=max_current))
        cal_peak, peak.peak = peak.peak, 0.0
        rng = np.random.default_rng([seed, 14])
        step = board.pots.r_end_to_end / 128
        for state in range(states):
            codes = rng.integers(0, 128, bench.network.n_edges)
            board.set_codes(codes)
            for prior_kind in ("tracker+-2", "none"):
                prior = None
                if prior_kind != "none":
                    prior = np.clip(codes + rng.integers(-2, 3, len(codes)), 0, 127)
                peak.peak = 0.0
                t0 = time.perf_counter()
                res = tomography(bench, model, prior, 2.0, settings)
                seconds = time.perf_counter() - t0
                true_r = board.resistance()
                est_r = res.resistance(model)
                factor = np.median(true_r / est_r, axis=1, keepdims=True)  # robust to a short
                r_err = (est_r * factor - true_r) / step
                c_err = res.code_mean - codes  # the combined code both twins share
                code_sd = reads_code_sd(bench, res.reads, 1.0 / true_r, step, settings.noise)
                chance = p_within_one(code_sd, codes, None if prior is None else PRIOR_VAR)
                expected[prior_kind] += chance
                passing[prior_kind].append(bool(
                    np.abs(r_err).max() <= 1.0 and np.sqrt(np.mean(r_err**2)) <= 0.3
                    and res.transactions <= 40
                ))  # fmt: skip
                print(json.dumps({
                    "bench": "tomography", "board": seed, "state": state, "prior": prior_kind,
                    "max_current_mA": 1e3 * max_current,
                    "calibration_transactions": cal.transactions,
                    "transactions": res.transactions,
                    "r_err_max_steps": round(float(np.abs(r_err).max()), 3),
                    "r_err_rms_steps": round(float(np.sqrt(np.mean(r_err**2))), 3),
                    "code_err_max": round(float(np.abs(c_err).max()), 3),
                    "code_err_rms": round(float(np.sqrt(np.mean(c_err**2))), 3),
                    "codes_exact": float(np.mean(res.codes == codes)),
                    "ok": bool(res.ok),
                    "reason": res.reason,
                    "p_within_one": round(chance, 3),
                    "min_true_code": int(codes.min()),
                    "max_edge_current_mA": round(1e3 * peak.peak, 2),
                    "calibration_max_edge_current_mA": round(1e3 * cal_peak, 2),
                    "seconds": round(seconds, 4),
                }), flush=True)  # fmt: skip
    for prior_kind, rows in passing.items():
        print(json.dumps({
            "bench": "tomography-summary", "prior": prior_kind, "max_current_mA": 1e3 * max_current,
            "passing": int(sum(rows)), "rows": len(rows),
            "expected_passing": round(expected[prior_kind], 2),
        }), flush=True)  # fmt: skip


class _InstrumentClock:
    """CPU seconds spent inside a bench's instrument calls (the emulated DAQ's work,
    which a real bench does in the instrument, not the controller)."""

    def __init__(self, bench) -> None:
        self.seconds = 0.0
        for name in ("sense", "drive", "release"):
            setattr(bench, name, self._timed(getattr(bench, name)))

    def _timed(self, call):
        def timed(*args, **kwargs):
            t0 = time.process_time()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - t0

        return timed


class _CpuProbe(EstimatedProbe):
    """`EstimatedProbe` with the CPU time of its hooks counted (``cpu``, s)."""

    cpu = 0.0

    def before_pulse(self, bench) -> None:
        t0 = time.process_time()
        try:
            super().before_pulse(bench)
        finally:
            self.cpu += time.process_time() - t0

    def after_pulse(self, bench) -> None:
        t0 = time.process_time()
        try:
            super().after_pulse(bench)
        finally:
            self.cpu += time.process_time() - t0


class _Score(Observer):
    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board
        self.true: list[np.ndarray] = []
        self.est: list[np.ndarray] = []

    def step(self, record) -> None:
        self.true.append(self.board.codes.copy())
        self.est.append(np.asarray(record.positions).copy())


def bench_tracking(
    tasks: list[str], ps: list[float], seeds: int, steps: int, settings: EstimatorSettings
) -> None:
    for task in tasks:
        for p in ps:
            rows = []
            for seed in range(seeds):
                board = EmulatedBoard(EmulatorConfig(seed=seed))
                bench = emulator_bench(board=board)
                bench.probe = None
                train = settings_from(task=task, p=p, steps=steps, seed=seed, test_every=0)
                trainer = Trainer(bench, load_task(task, seed=seed), train)
                probe = _CpuProbe(bench, p, settings)
                trainer.probe = probe
                clock = _InstrumentClock(bench)
                score = _Score(board)
                trainer.observers = [score]
                t0 = time.perf_counter()
                trainer.run()
                wall = time.perf_counter() - t0
                true, est = np.array(score.true), np.array(score.est)
                start = np.full((1, true.shape[1]), 64)
                d_true = np.diff(np.concatenate([start, true]), axis=0)
                d_est = np.diff(np.concatenate([start, est]), axis=0)
                row = {
                    "bench": "tracking", "task": task, "p": p, "board": seed, "steps": steps,
                    "resync_every": settings.resync_every,
                    "within1": float(np.mean(np.abs(true - est) <= 1)),
                    "exact": float(np.mean(true == est)),
                    "change_right": float(np.mean(d_true == d_est)),
                    "resyncs": probe.resyncs,
                    "disambiguations_per_step": probe.disambiguations / steps,
                    "extra_transactions_per_step": probe.transactions / steps,
                    "controller_ms_per_step": 1e3 * (probe.cpu - clock.seconds) / steps,
                    "instrument_cpu_ms_per_step": 1e3 * clock.seconds / steps,
                    "wall_ms_per_step": 1e3 * probe.seconds / steps,
                    "wall_s": wall,
                }  # fmt: skip
                rows.append(row)
                print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                  for k, v in row.items()}), flush=True)  # fmt: skip
            keys = ("within1", "exact", "change_right", "resyncs",
                    "extra_transactions_per_step", "controller_ms_per_step")  # fmt: skip
            summary = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}
            print(json.dumps({"bench": "tracking-summary", "task": task, "p": p,
                              "resync_every": settings.resync_every,
                              "boards": seeds, "steps": steps, **summary}), flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boards", type=int, default=5)
    ap.add_argument("--states", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tasks", default="ii,iv,regression")
    ap.add_argument("--ps", default="1,0.5,0.1")
    ap.add_argument(
        "--resync-every",
        default=str(EstimatorSettings().resync_every),
        help="pulses between resyncs, a comma list to sweep (0 = only when lost)",
    )
    ap.add_argument("--only", choices=("tomo", "track"))
    ap.add_argument("--max-current", type=float, default=5.0,
                    help="tomography's edge current limit, mA (the bench's currents.edge)")
    args = ap.parse_args()
    if args.only != "track":
        bench_tomography(args.boards, args.states, args.max_current * 1e-3)
    if args.only != "tomo":
        ps = [float(x) for x in args.ps.split(",")]
        for every in (int(x) for x in args.resync_every.split(",")):
            settings = EstimatorSettings(resync_every=every)
            bench_tracking(args.tasks.split(","), ps, args.seeds, args.steps, settings)


if __name__ == "__main__":
    main()
