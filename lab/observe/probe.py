"""`EstimatedProbe`: the `lab.hal.ResistanceProbe` of a bench that has none.

Hooks the trainer calls (the whole contract):

- ``start(bench)`` once before the first pulse: calibrates each part's step resistance
  by tomography at the known power-up state (every code ``settings.initial_codes``,
  default 64; `lab.observe.tomography.calibrate`), 120 DAQ transactions by default.
  A calibration whose node voltages do not fit the network (`MiswiredBench`: a twin's
  chi^2 per dof above `MISWIRED_CHI2`, or not finite) stops the run there, before any
  pulse: a swapped, dead or mis-assigned channel, which only `twinlab check` would
  otherwise name.

  Per-part R_AB scale calibration (the method, once): at that known state every code c
  is known, so each twin's relative conductances k_e (a 120-transaction tomography,
  three times the resync's) give each part's step g_e = (lambda / k_e - R_W) / c with
  R_W = 70 Ohm; lambda, one per twin, is fixed so that the twin's mean g is the
  nominal 100 kOhm / 128. This calibrates the part-to-part mismatch (+-2 %: without it
  a code near 127 would be off by up to 2.5 codes); the lot's common +-30 % is
  invisible to node voltages and needs no calibration (codes depend only on ratios).
  Resistances are reported in that nominal-lot unit. At 0.5 mV noise the calibrated
  g are good to about 0.1-0.3 % per part (code error <= 0.4 at code 127).
- ``before_pulse(bench)`` after the step's boundary conditions are applied (clamped
  outputs driven) and right before ``bench.pulse()``: the pre-pulse node voltages that
  give each edge's rule direction. With ``sense_before`` it reads both twins (1 DAQ
  transaction); otherwise (default) it predicts them from the last post-pulse read
  and the model (0 transactions; the first step reads once).
- ``after_pulse(bench)`` right after ``bench.pulse()``: reads every sensed node of both
  twins (1 transaction, `Bench.sense_twins`), decides the pulse
  (`lab.observe.tracking.Tracker`) and, every
  ``resync_every`` pulses or when the tracker is lost, resyncs by tomography
  (<= ``tomography.budget`` transactions, drive state restored).

``positions()`` and ``last_update()`` then answer for the pulse just made;
``uncertainty()`` gives each code's standard deviation in code steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from lab.errors import ConfigError
from lab.hal import DRIVES_NOTHING, TWINS, Bench, BenchError, Channel, LimitError, channel_what
from lab.observe.model import WIPER_FLOOR, DigipotModel, Topology
from lab.observe.tomography import (
    BAD_CHI2,
    TomographyResult,
    TomographySettings,
    bench_limited,
    calibrate,
    tomography,
)
from lab.observe.tracking import Decision, Read, Tracker, TrackerSettings

#: The power-up calibration's chi^2 per dof above which the bench is miswired
#: (`MiswiredBench`): the tomography's own bound on a sound fit (`BAD_CHI2`, 10). Measured
#: on the rehearsal bench (`twinlab emulate`, 120 transactions): good boards (seeds 0-4)
#: 0.92-1.32; a swapped sense or drive pair, a dead sense channel: 9e5-9e6 on the twin
#: wired wrong. (A dead drive channel or an open edge fits, chi^2 ~1: the power-up check
#: of the parts, `EstimatedProbe._check_power_up`, stops those.)
MISWIRED_CHI2 = BAD_CHI2


class MiswiredBench(ConfigError):
    """The power-up calibration's node voltages do not fit the bench's network: a
    configuration error (exit 2), raised before any pulse (its message says so).
    ``chi2`` per dof, on ``twin``; `for_file` names the bench file in the advice."""

    def __init__(self, chi2: float, twin: str, bench_file: str | None = None) -> None:
        self.chi2, self.twin, self.bench_file = chi2, twin, bench_file
        run = (f"run 'twinlab check --bench {bench_file}'" if bench_file else
               "run 'twinlab check --bench' on its bench file")  # fmt: skip
        super().__init__(
            f"the bench's node voltages do not fit its network (chi^2 per dof = {chi2:.3g} "
            f"on the {twin} twin): a swapped, dead or mis-assigned channel? {run}; "
            "nothing was pulsed"
        )

    def for_file(self, bench_file: str) -> MiswiredBench:
        """The same error advising ``twinlab check`` on ``bench_file``."""
        return MiswiredBench(self.chi2, self.twin, bench_file)


def check_wiring(result: TomographyResult, limit: float = MISWIRED_CHI2) -> None:
    """`MiswiredBench` when a twin's fit of ``result`` (the power-up calibration) has a
    chi^2 per dof above ``limit`` or not finite (the worse twin is named)."""
    chi2 = [f.chi2 for f in result.fits]
    worst = max(range(len(chi2)), key=lambda t: chi2[t] if np.isfinite(chi2[t]) else np.inf)
    if not (np.isfinite(chi2[worst]) and chi2[worst] <= limit):
        raise MiswiredBench(float(chi2[worst]), TWINS[worst])


@dataclass(frozen=True)
class EstimatorSettings:
    """``resync_every``: pulses between tomographies (0 = only when lost). The default
    100 is from ``bench/bench_estimator.py --only track`` (3 boards x 2000 steps, the 9
    task x p cells, docs/physics.md 6.3): at 100 every cell meets issue 14's targets; at
    400 regression at p = 0.5 gets 96.95 % of the code changes right (target 97 %)
    against 97.27 % at 100, and in an earlier sweep (2 boards x 500 steps) regression at
    p = 0.1 fell from 98.4 / 96.1 % (within +-1 / exact) at 100 to 97.3 / 93.2 % at 400.
    Each periodic resync costs 40 DAQ transactions (the restore included) and ~0.1 s of
    controller CPU: 0.4 transactions and about 1 ms a step at 100. 0 (only when the
    residual says the tracker is lost) would miss a drift the residual cannot see (an
    edge no read sees on a bench with fewer sense channels, a digipot that missed a
    step);
    ``sense_before``: read both twins before each pulse too (1 more transaction per
    step); ``disambiguate``: when some edge's -2 log posterior odds fall below it, one
    extra pattern that best separates the two likeliest explanations is applied to one
    twin, read and undone (3 transactions; 0 = never), up to ``rounds`` times a pulse
    (4: at 3, regression at p = 0.5 got 96.93 % of the code changes right on one machine's
    BLAS kernels and 97.57 % on another's, on the target's edge; at 4 98.06 % and 97.80 %,
    5 98.19 %, 6 98.17 %; 11.6 extra transactions and 38 ms of controller a step there,
    against 9.9 and 27; docs/physics.md 6.3);
    ``initial_codes``: the known
    codes at `EstimatedProbe.start`;
    ``calibration_budget``: DAQ transactions of that calibration;
    ``part_mismatch``: the most a part's calibrated step may differ from its twin's median
    (relative) before the calibration says the board is not at ``initial_codes`` (0.08:
    four times the emulator's +-2 % part mismatch, which calibrates to at most 2.1 %; one
    code off by 6 of 64 gives about 10 %, a trained board 60-77 %; raise it for parts that
    match less well)."""

    resync_every: int = 100
    sense_before: bool = False
    disambiguate: float = 8.0
    rounds: int = 4
    initial_codes: int = 64
    calibration_budget: int = 120
    part_mismatch: float = 0.08
    tomography: TomographySettings = field(default_factory=TomographySettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)


class EstimatedProbe:
    """Digipot codes and updates estimated from node voltages; ``estimated = True``.

    Counters: ``transactions`` (DAQ calls the estimator made), ``resyncs`` (of which
    ``failed_resyncs`` were not adopted),
    ``seconds`` (controller + instrument time spent in the hooks).
    """

    estimated = True

    def __init__(
        self,
        bench: Bench,
        p: float,
        settings: EstimatorSettings = EstimatorSettings(),
    ) -> None:
        # every tomography round holds its edges and drive channels to the bench's limits
        settings = replace(settings, tomography=bench_limited(settings.tomography, bench))
        self.settings = settings
        self.p = float(p)
        self.topo = Topology.of(bench.network)
        e, n = bench.network.n_edges, bench.network.n_nodes
        self.sensed = np.zeros((2, n), dtype=bool)
        self._sense_nodes: list[tuple[int, ...]] = []
        for t, twin in enumerate(TWINS):
            nodes = tuple(
                sorted(ch.node for ch in bench.channels if ch.kind == "sense" and ch.twin == twin)
            )
            self._sense_nodes.append(nodes)
            self.sensed[t, [x - 1 for x in nodes]] = True
        self.model = DigipotModel.nominal(e)
        self.tracker = Tracker(
            self.topo, self.model, np.full(e, settings.initial_codes), p, settings.tracker
        )
        # the nodes `_disambiguate` can drive: the tracker's trigger counts an edge as
        # informable by an extra read only through them (`Tracker._informable`)
        driveable = np.zeros((2, n), dtype=bool)
        for ch in bench.channels:
            if ch.kind == "drive":
                driveable[TWINS.index(ch.twin), ch.node - 1] = True
        self.tracker.driveable = driveable
        self.transactions = 0
        self.resyncs = 0
        self.failed_resyncs = 0  # resyncs whose fit was not adopted (`resync`)
        self.disambiguations = 0
        self._plans: dict[str, dict[int, tuple[float, float]]] = {}
        self.seconds = 0.0
        self._since = 0
        self._last_post: np.ndarray | None = None  # (2, N) V
        self._last_bc: list[dict[int, float]] | None = None
        self._started = False
        self._updated = False

    # -- ResistanceProbe -------------------------------------------------------------------
    def positions(self) -> np.ndarray:
        """Estimated codes (E,) int16 (a new array each call)."""
        return self.tracker.codes.copy()

    def last_update(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(moved (E,) bool, direction (E,) int8) of the last pulse; at a rail an enabled
        edge cannot be told from a disabled one and is reported as not moved."""
        if not self._updated:
            return None
        t = self.tracker
        return t.last_change != 0, t.last_direction.copy()

    def uncertainty(self) -> np.ndarray:
        """Standard deviation of each estimated code (E,), code steps."""
        return np.sqrt(self.tracker.variance)

    # -- hooks -----------------------------------------------------------------------------
    def start(self, bench: Bench) -> None:
        """Calibrate at the known initial codes (see the module docstring); `MiswiredBench`
        if the calibration does not fit the network, BenchError if the board is not at
        its power-up codes (both before any pulse)."""
        t0 = time.perf_counter()
        s = self.settings
        budget = TomographySettings(
            budget=s.calibration_budget, noise=s.tomography.noise, inset=s.tomography.inset,
            max_current=s.tomography.max_current, channel_limits=s.tomography.channel_limits,
        )
        self.model, result = calibrate(bench, s.initial_codes, budget)
        self.transactions += result.transactions
        check_wiring(result)  # a wiring fault first: it also spoils the parts' steps
        self._check_power_up(bench)
        self.tracker.model = self.model
        self._started = True
        self.seconds += time.perf_counter() - t0

    def _check_power_up(self, bench: Bench) -> None:
        """BenchError (one line, before any pulse) when a part's calibrated resistance at
        ``settings.initial_codes`` is off its twin's median by more than
        ``settings.part_mismatch``: the calibration took the codes as ``initial_codes``, so
        the board is not at them (trained since power-up), and every estimate would be off
        while its sd says it is exact. (A board with every code at one other value looks
        like power-up to node voltages.) The median over the finite parts, not the mean
        (which the calibration's unit is): an open edge (a step hundreds of times the
        others, or not finite: taken as off) would move the mean so far that every part
        of its twin looked off. Both twins' parts of an edge sit at one code, so a moved
        code moves both alike: one twin's part alone off (the pair disagreeing) is that
        twin's fault, as is a part beyond what any code gives over another (whatever the
        codes); both beyond it, an open edge both twins share. Every edge of a node with a
        drive channel beyond it on one twin alone is that node floating there: its drive
        channel is named, as ``twinlab check`` names a dead one. Faults are told before a
        moved code (a power cycle would not cure them); a beyond-any-code part is said so
        in words, not as a percentage (which would be noise)."""
        s = self.settings
        tol = s.part_mismatch
        # each twin's parts in its own unit (the calibration's lot scale, which an open
        # edge can even make negative: flipped back by the sign of the median)
        r = self.model.resistance(np.full(self.model.step.shape[1], float(s.initial_codes)))
        rel = np.full(r.shape, np.inf)
        centre = np.full(2, np.nan)  # each twin's median part, > 0
        for t in range(2):
            finite = np.isfinite(r[t])
            c = np.median(r[t, finite]) if finite.any() else np.nan
            if np.isfinite(c) and c != 0:
                ok = finite & (r[t] / c > 0)
                rel[t, ok] = r[t, ok] / c
                centre[t] = abs(c)
        signed = rel - 1.0
        off = ~(np.abs(signed) <= tol)
        # the most any code gives over the twin's median whatever the codes (trained
        # since power-up, the median part may be at code 0): the top code of a part
        # ``tol`` over, over code 0 at the lowest wiper (`WIPER_FLOOR`)
        digipot = self.model.digipot
        top = digipot.positions - 1
        nominal = DigipotModel.nominal(1, digipot)
        reach = float(digipot.resistance(top, (1.0 + tol) * nominal.step[0, 0] * digipot.positions,
                                         self.model.r_wiper)
                      / ((1.0 - tol) * WIPER_FLOOR))
        beyond = ~(rel <= reach)
        # the twins' parts of an edge, in their units (~Ohm of the nominal lot when no
        # part is beyond: the one-twin test that needs it): the pair differs by ``tol``
        # of a part's step and by its wipers (~R_W each, which dominate near code 0)
        r_pos = rel * centre[:, None]
        with np.errstate(invalid="ignore"):
            pair = ~(np.abs(r_pos - r_pos[::-1])
                     <= tol * np.maximum(r_pos, r_pos[::-1]) + 2 * self.model.r_wiper)
        alone = (off & ~off[::-1] & pair) | (beyond & ~beyond[::-1])
        if not off.any():
            return
        labels = bench.network.edge_labels()

        def worst(mask: np.ndarray) -> tuple[int, int]:
            t, e = np.unravel_index(int(np.argmax(np.where(mask, np.abs(signed), -1.0))),
                                    mask.shape)
            return int(t), int(e)

        def pct(t: int, e: int) -> str:
            """How far the part is off its twin's median: a percentage within what a code
            gives, else in words (a figure there would be noise, not a resistance)."""
            if not np.isfinite(rel[t, e]):
                return "open (no current)"
            if beyond[t, e]:
                return f"beyond any code (over {reach:.0f} times its twin's median)"
            return f"{100 * signed[t, e]:+.0f} % off its twin's median"

        dead = self._floating_node(bench, beyond)
        if dead is not None:
            t, ch, edges = dead
            other = TWINS[1 - t]
            raise BenchError(
                f"estimator: {channel_what(ch)} {DRIVES_NOTHING}: calibrated at the power-up "
                f"codes all of node {ch.node}'s edges ({', '.join(labels[e] for e in edges)}) "
                f"read open on the {TWINS[t]} twin, beyond any code (over {reach:.0f} times "
                f"their twin's median), as a floating node's do, while the {other} twin's "
                f"conduct as their codes do; run 'twinlab check' on the bench; nothing was "
                "pulsed"
            )
        both = beyond & beyond[::-1]
        if both.any():
            t, e = worst(both)
            raise BenchError(
                f"estimator: edge {labels[e]} conducts on neither twin as any code does: "
                f"calibrated at the power-up codes its parts come out {rel[0, e]:.2g} (free) "
                f"and {rel[1, e]:.2g} (clamped) times their twins' medians, more than the "
                f"{reach:.0f} times any code gives over another; an open edge (a broken "
                "connection or part both twins share)? run 'twinlab check' on the bench; "
                "nothing was pulsed"
            )
        if alone.any():
            t, e = worst(alone)
            other = 1 - t
            raise BenchError(
                f"estimator: edge {labels[e]} on the {TWINS[t]} twin does not conduct as its "
                f"code does on the {TWINS[other]} twin: calibrated at the power-up codes "
                f"its part comes out {pct(t, e)}, the {TWINS[other]} twin's "
                f"{pct(other, e)} (the pair steps "
                "together); an open edge, a dead drive channel or a bad part on the "
                f"{TWINS[t]} twin? run 'twinlab check' on the bench; nothing was pulsed"
            )
        t, e = worst(off)
        raise BenchError(
            f"estimator: the board is not at its power-up codes "
            f"({s.initial_codes}): calibrated there, edge {labels[e]}'s part on "
            f"the {TWINS[t]} twin comes out {pct(t, e)} "
            f"(parts match within {100 * tol:g} %), so its code "
            "is not the power-up one; power-cycle the board (its digipots power up at "
            "mid-scale) and start again (if it was just powered up: a fault both twins "
            "share? run 'twinlab check' on the bench); nothing was pulsed"
        )

    @staticmethod
    def _floating_node(
        bench: Bench, beyond: np.ndarray
    ) -> tuple[int, Channel, list[int]] | None:
        """(twin index, its drive channel, the node's edges) of a node with a drive channel
        whose every edge is ``beyond`` (2, E) what any code gives on that twin alone: what
        a floating node (a dead drive channel) calibrates to; None if no node is."""
        ends = bench.network.edges  # (E, 2), node indices
        for t, twin in enumerate(TWINS):
            for ch in bench.channels:
                if ch.kind != "drive" or ch.twin != twin:
                    continue
                edges = np.flatnonzero((ends == ch.node - 1).any(axis=1))
                if (edges.size and beyond[t, edges].all()
                        and not beyond[1 - t, edges].any()):  # fmt: skip
                    return t, ch, edges.tolist()
        return None

    def before_pulse(self, bench: Bench) -> None:
        t0 = time.perf_counter()
        if not self._started:
            self.start(bench)
        bc = [bench.drive_state(twin) for twin in TWINS]
        if self.settings.sense_before or self._last_post is None:
            volts = self._read(bench, bc)
        else:
            volts = self._predict(bc)
        self.tracker.begin(volts)
        self._pre_bc = bc
        self.seconds += time.perf_counter() - t0

    def after_pulse(self, bench: Bench) -> None:
        t0 = time.perf_counter()
        bc = self._pre_bc
        volts = self._read(bench, bc)
        floating = np.ones_like(self.sensed)
        for t in range(2):
            floating[t, [n - 1 for n in bc[t]]] = False
        post = Read(volts, floating, self.sensed)
        decision = self.tracker.decide([post])
        threshold, reads = self.settings.disambiguate, [post]
        for _ in range(self.settings.rounds):
            if not threshold or decision.odds_cost.min() >= threshold:
                break
            extra = self._disambiguate(bench, bc, decision)
            if extra is None:
                break
            reads.append(extra)
            decision = self.tracker.decide(reads)
        self.tracker.commit(decision)
        self._updated = True
        self._last_post, self._last_bc = volts, bc
        self._since += 1
        every = self.settings.resync_every
        if self.tracker.lost or (every and self._since >= every):
            self.resync(bench)
        self.seconds += time.perf_counter() - t0

    def resync(self, bench: Bench) -> None:
        """Tomography now; the tracker adopts its codes and uncertainties, unless the fit
        failed (`TomographyResult.ok` False: non-finite, a residual far above the noise or
        codes far outside 0..127): then the tracker keeps its own and stays lost if it was
        (the next pulse tries again), counted in ``failed_resyncs``."""
        t = self.tracker
        result = tomography(
            bench, self.model, t.codes, np.sqrt(t.variance) + 0.5, self.settings.tomography
        )
        self.transactions += result.transactions
        if result.ok:
            t.resync(result.codes, result.code_sd**2)
        else:
            self.failed_resyncs += 1
        self.resyncs += 1
        self._since = 0
        self.last_tomography = result

    # -- helpers ---------------------------------------------------------------------------
    def _disambiguate(self, bench: Bench, bc: list[dict[int, float]], d: Decision) -> Read | None:
        """Apply the one-node change of one twin's boundary conditions (drive one more
        node at a limit, or release one) under which the decision and its alternative
        differ most in the sensed voltages; read that twin; undo. None if no pattern
        separates them by more than 2 noise units. Only a pattern within the bench's
        current limits (`Bench.check_currents`) at the lowest resistances the parts may
        have at the tracker's codes (`DigipotModel.lowest`, codes lowered by 2 sd, as the
        trainer's own drive states) is a candidate: a node driven at a channel limit next
        to an edge at code 0 would put tens of mA through it."""
        net = self.topo.network
        codes = self.tracker.codes.astype(int)
        k1 = self.model.conductance(np.clip(codes + d.change, 0, 127))
        k2 = self.model.conductance(np.clip(codes + d.alternative, 0, 127))
        sd = np.sqrt(self.tracker.variance)
        r_low = self.model.lowest(codes, sd)  # (2, E) Ohm
        noise = self.settings.tracker.noise
        inset = self.settings.tomography.inset
        best = (2.0**2, None)
        for t, twin in enumerate(TWINS):
            safe = bench.safe_spread(twin, 1.0 / r_low[t])
            plan = self._plans.get(twin)
            if plan is None:
                plan = self._plans[twin] = _drive_limits(bench, twin, inset)
            options: list[tuple[str, int, float, dict[int, float]]] = []
            for node, (lo, hi) in plan.items():
                if node in bc[t]:
                    rest = {n: v for n, v in bc[t].items() if n != node}
                    if len(set(rest.values())) >= 2:
                        options.append(("release", node, 0.0, rest))
                else:
                    for v in (lo, hi):
                        options.append(("drive", node, v, {**bc[t], node: v}))
            for kind, node, v, new in options:
                if max(new.values()) - min(new.values()) > safe:  # else proved safe
                    try:
                        bench.check_currents(twin, new, r_low[t], what="a disambiguation read",
                                             codes=codes, code_sd=sd)  # fmt: skip
                    except LimitError:
                        continue
                solver = net.solver(tuple(new))  # prepared once per node set, then cached
                fixed = np.zeros(net.n_nodes)
                fixed[solver.fixed_idx] = list(new.values())
                v1, v2 = solver.solve_nodes(k1[t], fixed), solver.solve_nodes(k2[t], fixed)
                obs = self.sensed[t].copy()
                obs[solver.fixed_idx] = False
                sep = float(np.sum(((v1 - v2)[obs] / noise) ** 2))
                if sep > best[0]:
                    best = (sep, (t, twin, kind, node, v, new))
        if best[1] is None:
            return None
        t, twin, kind, node, v, new = best[1]
        if kind == "release":
            bench.release(twin, (node,))
        else:
            bench.drive(twin, (node,), np.array([v]))
        self.transactions += 1
        try:
            volts = np.zeros((2, net.n_nodes))
            nodes = self._sense_nodes[t]
            volts[t, [x - 1 for x in nodes]] = bench.sense(twin, nodes)
            self.transactions += 1
        finally:
            if kind == "release":
                bench.drive(twin, (node,), np.array([bc[t][node]]))
            else:
                bench.release(twin, (node,))
            self.transactions += 1
        for n_, x in new.items():
            volts[t, n_ - 1] = x
        floating = np.ones_like(self.sensed)
        floating[t, [n_ - 1 for n_ in new]] = False
        sensed = np.zeros_like(self.sensed)
        sensed[t] = self.sensed[t]
        self.disambiguations += 1
        return Read(volts, floating, sensed)

    def _read(self, bench: Bench, bc: list[dict[int, float]]) -> np.ndarray:
        """Both twins' node voltages (2, N): sensed nodes read (one transaction for both
        twins, `Bench.sense_twins`), driven nodes at their requested volts, unsensed
        floating nodes predicted."""
        n = bench.network.n_nodes
        volts = np.zeros((2, n))
        which = [t for t in range(2) if self._sense_nodes[t]]
        if which:
            got = bench.sense_twins([(TWINS[t], self._sense_nodes[t]) for t in which])
            self.transactions += 1
            for t, v in zip(which, got, strict=True):
                volts[t, [x - 1 for x in self._sense_nodes[t]]] = v
        for t in range(2):
            if not self.sensed[t].all() and bc[t]:
                model = self._model_volts(t, bc[t])
                missing = ~self.sensed[t]
                volts[t, missing] = model[missing]
            for node, v in bc[t].items():
                volts[t, node - 1] = v
        return volts

    def _model_volts(self, t: int, bc: dict[int, float]) -> np.ndarray:
        k = self.model.conductance(self.tracker.codes)[t]
        return self.topo.network.solve(k, bc)

    def _predict(self, bc: list[dict[int, float]]) -> np.ndarray:
        """Pre-pulse voltages from the last post-pulse read: the same read where the
        boundary conditions are unchanged, else the model's response to the change
        added to it."""
        assert self._last_post is not None and self._last_bc is not None
        volts = self._last_post.copy()
        for t in range(2):
            if bc[t] == self._last_bc[t]:
                continue
            if not bc[t]:
                volts[t] = 0.0
                continue
            now = self._model_volts(t, bc[t])
            if self._last_bc[t] and set(bc[t]) == set(self._last_bc[t]):
                volts[t] = self._last_post[t] + now - self._model_volts(t, self._last_bc[t])
            else:
                volts[t] = now
            for node, v in bc[t].items():
                volts[t, node - 1] = v
        return volts


def _drive_limits(bench: Bench, twin: str, inset: float) -> dict[int, tuple[float, float]]:
    """{node: (low, high)} of ``twin``'s drive channels, inset by ``inset`` of the span."""
    out = {}
    for ch in bench.channels:
        if ch.kind == "drive" and ch.twin == twin:
            lo, hi = ch.limits
            out[ch.node] = (lo + inset * (hi - lo), hi - inset * (hi - lo))
    return out
