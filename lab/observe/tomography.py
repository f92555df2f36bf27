"""Resync by tomography: every conductance of both twins from node voltages, clock idle.

Method (one definition):

1. Patterns. Per twin, a sequence of boundary conditions applied through its drive
   channels, each driven node at its channel's low or high limit (inset by
   ``settings.inset`` of the span, so every request stays strictly inside the limits).
   The sequence is chosen greedily, per DAQ transaction, to minimise the summed variance
   of the codes (A-optimal design on the current conductance estimate): the first pattern
   is two nodes (one high, one low) or the bench's current drive state; each later move
   drives one more node, releases one, flips one between its limits (2 transactions with
   the read) or reads again (1). Both twins run in lockstep, each move one DAQ call
   per kind for both twins together (`Bench.release_twins`, `drive_twins`,
   `sense_twins`: a DAQ takes any list of its channels in one message), so each twin's
   plan has the whole budget (a call per twin read each twin half as often: 9-10 reads
   in 40 transactions against about 19 now); the budget includes restoring the drive state
   found at the start (which nodes were driven at which volts; the rest released). The
   clock is never pulsed.
   Trouble (`_trouble`, only in `tomography`, which has the digipot model): when the
   first round's fit puts one or two edges below ``NEAR_SHORT`` = 2 codes (or the prior
   does), those near-shorts' neighbours are seen only as parallel sums (the short's
   ends sit at one voltage). Then each twin first spends up to ``ADAPT_BUDGET`` = 6
   transactions on an adaptive round (`_adaptive_round`): patterns over the shorts'
   ends and their neighbours that drive both ends of a short with one moved in by the
   voltage ``max_current`` takes through it at code 0 (a part 30 % under nominal), so
   the ends sit 0.1-0.2 V apart and the neighbours' split shows; chosen greedily on the
   voltage-likelihood Fisher information of both twins together (they share the codes)
   to lower sum_e v_e^2 (v_e the code variances, the near-shorts' own left out: below
   ``NEAR_SHORT`` a code is told by a one-sided bound the linearised variance does not
   see) per transaction, every candidate held to ``max_current`` per edge at the fitted
   conductances. Only the near-shorts' own ends-apart patterns are candidates (not those
   of every edge stiff enough to bind the limit), and with a prior an edge the first
   round sees worse than the prior (a near-short's neighbour pair, fitted a factor of 3
   apart either way) is designed at the prior's conductance: at the first fit's the
   information comes out a factor of 10 off and the round went to the wrong patterns.
   The ordinary round then spends what is left.
   Current limit (`_Limit`; the blind round's at any codes, `blind_load`): every state read, and the
   state between a jump's release and drive calls, puts at most ``max_current`` through
   every edge, and at most its channel's limit (``channel_limits``) through every driven
   node's drive channel (the sum of its edges' currents), at conductances taken
   conservatively (`_limit_conductance`: codes lowered by
   ``LIMIT_SD`` = 2 sd, at the part floor `DigipotModel.lowest`: 35 Ohm, 0.68 of each step): a
   calibration's known codes; a resync's prior, and after the first round also the
   fit where it finds a near-short the prior does not (`_fit_limit`: a near-short's
   neighbour pair each at the pair's fitted sum); with no prior a blind round
   (``BLIND_BUDGET`` transactions within `_blind_span` = 0.16 V, every edge safe at
   any codes, every drive channel held per pattern at any codes, `blind_load`),
   then a ramp refitted every ``RAMP_STEP`` transactions whose patterns are scaled down
   about their middle volts to the limit (`_Designer.realize`) on the part floor of the
   most conductive edge (`_floor_limit`) until the integers pin the scale
   (`_ramp_limit`). Otherwise a pattern beyond the limit is modified, not dropped or
   scaled (`_Designer._repair`: a node across the short set to its other end's volts,
   or floated, the rest at full span); with known codes one no modification fixes is
   scaled down, with a prior it is left out. `measure` without known codes is not
   limited (the bench check passes the power-up codes).
   Bad minima (`tomography`): a final fit far off the prior (`_suspect`) is refitted
   from the prior's conductances (`_refit_from`); one that is not sound (`_sound`) is
   flagged, ``TomographyResult.ok`` False, and the prior's codes stand.
2. Fit. Every read gives one Kirchhoff row per sensed floating node whose neighbours
   are known (`lab.observe.model.Topology`); driven nodes take their requested volts.
   Rows are weighted by their noise (read noise ``settings.noise`` propagated through
   the current conductances) and the homogeneous system is solved by total least
   squares (smallest right singular vector), twice re-weighted. Each twin's conductances
   come out up to one factor (fixed here at geometric mean 1); their relative
   uncertainty is the gauge-projected inverse of the weighted normal matrix, scaled up
   by chi^2 per degree of freedom when that exceeds 1. After an adaptive round the
   likelihood refinement also starts from the first round's fit and, left above
   ``REFIT_CHI2``, is refitted longer (patterns around a near-short leave it a second
   minimum).
3. Codes. With the digipot model (R = R_W + code g, g per part), each twin's codes are
   c = (lambda / k - R_W) / g with one unknown factor lambda per twin. lambda comes from
   the prior codes when there are some (the tracker's, or 64 at power-up): a robust
   (Huber) weighted least-squares fit of lambda to them; one factor against 16 codes,
   so a few wrong prior codes do not move it. Without a prior, lambda is the one that
   makes both twins' codes closest to common integers (a scan over the mean code).
   The two twins' continuous codes are averaged by their variances and, with a prior,
   with the prior's codes where they agree within ``PRIOR_GATE`` combined sd
   (`with_prior`: the resync's posterior; a lost tracker's far-off prior is not
   averaged), then rounded.
4. Per-part scale (`calibrate`): at a known state (power-up: every code 64, or codes
   otherwise known) the same measurement gives each part's step resistance
   g = (lambda / k - R_W) / code, each twin in its own unit (lambda such that the twin's
   mean g is the nominal 100 kOhm / 128). This calibrates the +-2 % part mismatch;
   the +-30 % lot tolerance is common to every part and does not affect the codes (node
   voltages cannot see it; resistances are reported in the nominal-lot unit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from lab.hal import TWINS, Bench, Twin, Wiring
from lab.observe.model import LIMIT_SD, TOP, WIPER_FLOOR, DigipotModel, Topology

log = logging.getLogger(__name__)

_BIG = 1e9  # weight that pins the gauge direction in the design's covariance


@dataclass(frozen=True)
class TomographySettings:
    """``budget``: DAQ transactions (drive, release and sense calls), both twins, the
    restore included; ``noise``: assumed rms read noise, V; ``inset``: fraction of each
    channel's span kept inside its limits; ``max_current``: the most current, A, any
    transaction may put through any edge (at conductances taken conservatively: the
    codes lowered 2 sd on the part floor). 5 mA: a USB DAQ's analog output drives a few
    mA, and Analog Devices rates the terminal current of the AD5220's siblings (AD5245,
    AD5247, AD8400) at +-5 mA continuous, +-20 mA pulsed (the AD5220's own sheet is not
    in the repo); a near-short (40-100 Ohm) across the full 7 V span would take 70-170
    mA (docs/physics.md, section 6.2, which maps the tomography against this limit:
    `bench/bench_estimator.py --only tomo --max-current MA`). Every round of
    `tomography` and `calibrate` is held to it (module docstring, step 1); `measure`
    without known codes is not.
    ``channel_limits``: {twin: {node label: A}} the most current each drive channel may
    source or sink, at the same conservative conductances (`bench_limited`: the bench's
    `lab.hal.currents.CurrentLimits`, per channel); None: the bench's own limits, taken
    in `_measure` the same way (`channel_limits`).
    ``adaptive``: run the adaptive round when the first fit flags near-shorts."""

    budget: int = 40
    noise: float = 0.5e-3
    inset: float = 0.01
    max_current: float = 5e-3
    channel_limits: Mapping[str, Mapping[int, float]] | None = None
    adaptive: bool = True


def channel_limits(bench: Bench) -> dict[str, dict[int, float]]:
    """{twin: {node label: A}}: each drive channel's current limit, from the bench's
    `CurrentLimits` (`CurrentLimits.node_limits`, its per-channel entries by name)."""
    out: dict[str, dict[int, float]] = {}
    for twin in TWINS:
        names = {ch.node: ch.name for ch in bench.channels
                 if ch.kind == "drive" and ch.twin == twin}
        idx, amps = bench.currents.node_limits(names, names)
        out[twin] = {int(i) + 1: float(a) for i, a in zip(idx, amps, strict=True)}
    return out


def bench_limited(settings: TomographySettings, bench: Bench) -> TomographySettings:
    """``settings`` held to ``bench``'s current limits: ``max_current`` its edge limit,
    ``channel_limits`` its drive channels' (`channel_limits`)."""
    return replace(settings, max_current=bench.currents.edge,
                   channel_limits=channel_limits(bench))


@dataclass
class TwinFit:
    """One twin's fit: ``conductance`` (E,) relative (geometric mean 1), ``rel_sd`` (E,)
    relative standard deviations, ``chi2`` per degree of freedom, ``n_rows`` equations."""

    conductance: np.ndarray
    rel_sd: np.ndarray
    chi2: float
    n_rows: int


@dataclass
class TomographyResult:
    """``codes`` (E,) int16 in [0, 127]; ``code_float`` (2, E) each twin's continuous
    codes; ``code_sd`` (E,) uncertainty of the combined code, code steps; ``scale`` (2,)
    the factor lambda per twin; ``fits`` per twin; ``transactions`` DAQ calls made;
    ``seconds`` controller + instrument time; ``code_mean`` (E,) the combined continuous
    code (both twins' parts share it; with a prior, averaged with it where they agree:
    `with_prior`), before rounding. ``ok`` False: the fit is not one
    to adopt (`_sound`: non-finite, codes far outside 0..127, or chi^2 far above the
    noise; without a prior also `_unresolved`: an edge's code not fixed, or the twins'
    codes apart beyond their sd); then, with a prior, ``codes`` / ``code_sd`` are the
    prior's (nothing moves) and ``code_float`` / ``code_mean`` the failed fit's; a
    tracker treats it as a failed resync (still lost). ``reason``: why not ok, one line
    ("" when ok)."""

    codes: np.ndarray
    code_float: np.ndarray
    code_sd: np.ndarray
    scale: np.ndarray
    fits: tuple[TwinFit, TwinFit]
    transactions: int
    seconds: float = 0.0
    reads: list[tuple[str, dict[int, float], np.ndarray]] = field(default_factory=list, repr=False)
    code_mean: np.ndarray | None = None
    ok: bool = True
    reason: str = ""

    def resistance(self, model: DigipotModel) -> np.ndarray:
        """Resistances (2, E), Ohm in each twin's nominal-lot unit: the digipot model at
        the combined code, so each twin's part gets the code both twins' fits agree on
        (a twin's own fit leaves a near-short's neighbours seen only as a parallel sum,
        and an edge next to a near-short is resolved by the other twin or the prior)."""
        if self.code_mean is None:
            return self.scale[:, None] / np.stack([f.conductance for f in self.fits])
        return model.resistance(self.code_mean)

    @property
    def chi2(self) -> float:
        return max(f.chi2 for f in self.fits)


# ----------------------------------------------------------------------------- design
@dataclass
class _TwinPlan:
    """What one twin offers: sensed nodes (labels), drive limits per node (inset)."""

    twin: Twin
    sensed: tuple[int, ...]
    low: dict[int, float]
    high: dict[int, float]

    @classmethod
    def of(cls, bench: Bench | Wiring, twin: Twin, inset: float) -> _TwinPlan:
        sensed = tuple(
            sorted(ch.node for ch in bench.channels if ch.kind == "sense" and ch.twin == twin)
        )
        low, high = {}, {}
        for ch in bench.channels:
            if ch.kind == "drive" and ch.twin == twin:
                lo, hi = ch.limits
                margin = inset * (hi - lo)
                low[ch.node], high[ch.node] = lo + margin, hi - margin
        return cls(twin, sensed, low, high)

    def window(self, span: float) -> tuple[float, float]:
        """(low, high) V: the ``span`` V window about the middle of the common range of
        the drive limits (of the median low limit when they have none in common)."""
        lo, hi = max(self.low.values()), min(self.high.values())
        mid = (lo + hi) / 2 if hi >= lo else float(np.median(list(self.low.values())))
        return mid - span / 2, mid + span / 2

    def narrowed(self, span: float) -> _TwinPlan:
        """The same channels driven only within ``span`` V: a window around the middle of
        the common range of the drive limits; nodes whose limits miss it are dropped."""
        if not self.low:
            return self
        a, b = self.window(span)
        keep = [n for n in self.low if self.low[n] <= a and b <= self.high[n]]
        return _TwinPlan(self.twin, self.sensed, {n: a for n in keep}, {n: b for n in keep})


def _volts_vector(n_nodes: int, driven: dict[int, float], sensed_volts: dict[int, float]):
    """Full node vector (N,) and floating mask (N,) from a read."""
    v = np.zeros(n_nodes)
    floating = np.ones(n_nodes, dtype=bool)
    for node, x in sensed_volts.items():
        v[node - 1] = x
    for node, x in driven.items():
        v[node - 1] = x
        floating[node - 1] = False
    return v, floating


class _Designer:
    """Greedy A-optimal choice of the next move for one twin (see the module docstring)."""

    def __init__(self, topo: Topology, plan: _TwinPlan, k: np.ndarray, weight: np.ndarray,
                 noise: float, limit: _Limit | _BlindLimit | None = None,
                 scale: bool = False, rescue: bool = False) -> None:  # fmt: skip
        self.topo, self.plan, self.k, self.noise = topo, plan, k, noise
        # every state read (and the one between a jump's calls) within ``limit``: a
        # pattern beyond it is scaled down (``scale``: the blind ramp), else modified
        # (`_repair`), else scaled (``rescue``: known codes, where a limit tight on every
        # edge leaves no modification) or left out
        self.limit, self.scale, self.rescue = limit, scale, rescue
        n = topo.network.n_nodes
        self.sensed = np.zeros(n, dtype=bool)
        self.sensed[[s - 1 for s in plan.sensed]] = True
        e = len(k)
        self.weight = weight  # (E,) code per relative conductance change
        self.info = _BIG * np.ones((e, e)) / e + np.eye(e)  # prior: 100 % relative sd
        self._cache: dict[tuple, np.ndarray] = {}
        self._repaired: dict[tuple, dict[int, float]] = {}

    def realize(self, driven: dict[int, float]) -> dict[int, float]:
        """The volts applied for the pattern ``driven``: the pattern itself, or, when it
        would put more than the limit's current through an edge or a driven node's
        channel (`_Limit.load` above 1), the pattern modified
        (`_repair`: a node across the short set to its other end's volts, or floated;
        not in the blind ramp, ``scale``) or, in the ramp and (``rescue``) when no
        modification brings it within the limit, the pattern scaled about its middle
        volts until it does not
        (currents and drops scale with it; every volt stays between the pattern's own,
        so within the channels' limits)."""
        if self.limit is None:
            return driven
        load = self.limit.load(driven)
        if load <= 1.0:
            return driven
        if not self.scale:
            repaired = self._repair(driven)  # modified, not scaled
            if repaired or not self.rescue:
                return repaired  # ({}: left out, `move_cost`)
        s = 0.95 / load
        vals = list(driven.values())
        mid = (max(vals) + min(vals)) / 2
        return {n: mid + s * (v - mid) for n, v in driven.items()}

    def _repair(self, driven: dict[int, float]) -> dict[int, float]:
        """``driven`` modified, not scaled, until it is within the limit: current through
        an edge is large only where a stiff path joins two driven nodes at different
        volts, so, while the most loaded edge is over the limit, one driven node is set to
        another of the pattern's volts (the node across the short's) or released, the
        change that brings the peak within the limit with the most information (else the
        lowest peak) taken; every other node keeps its volts, so the pattern keeps its
        span and SNR. {} when no such change brings it within the limit."""
        key = tuple(sorted(driven.items()))
        got = self._repaired.get(key)
        if got is not None:
            return got
        limit, state = self.limit, dict(driven)
        assert limit is not None
        out: dict[int, float] = {}
        for _ in range(len(driven)):
            levels = sorted(set(state.values()))
            options = []
            for node, v in state.items():
                rest = {n: x for n, x in state.items() if n != node}
                options.append(rest)
                options += [{**state, node: x} for x in levels if x != v]
            options = [o for o in options if len(o) >= 2 and len(set(o.values())) >= 2]
            if not options:
                break
            peaks = [limit.load(o) for o in options]
            fine = [o for o, p in zip(options, peaks, strict=True) if p <= 1.0]
            if fine:
                out = min(fine, key=lambda o: self.cost(self.info + self.pattern_info_exact(o)))
                break
            state = options[int(np.argmin(peaks))]
        self._repaired[key] = out
        return out

    def move_cost(self, current: dict[int, float], new: dict[int, float]) -> int | None:
        """DAQ transactions from the applied ``current`` to pattern ``new`` (realized), the
        read included; None when the state between the calls breaks the limit."""
        real = self.realize(new)
        if not real or (self.limit is not None and not self.limit.ok(real, current)):
            return None
        return _set_cost(current, real)

    def pattern_info(self, driven: dict[int, float]) -> np.ndarray:
        """Information (E, E) on the relative conductances from one read of ``driven``
        as realized (`realize`: modified, or scaled)."""
        if self.limit is not None:
            real = self.realize(driven)
            if not real:
                return np.zeros((len(self.k), len(self.k)))
            return self.pattern_info_exact(real)  # modified or scaled, as applied
        return self.pattern_info_exact(driven)

    def pattern_info_exact(self, driven: dict[int, float]) -> np.ndarray:
        """Information (E, E) of one read of ``driven`` exactly as given."""
        key = tuple(sorted(driven.items()))
        got = self._cache.get(key)
        if got is not None:
            return got
        vals = set(driven.values())
        e = len(self.k)
        try:
            volts = None if len(driven) < 2 or len(vals) < 2 else self.topo.network.solve(
                self.k, driven
            )
        except np.linalg.LinAlgError:  # a floating node tied to nothing (a star fitted 0)
            volts = None
        if volts is None:
            info = np.zeros((e, e))
        else:
            floating = np.ones(len(volts), dtype=bool)
            floating[[d - 1 for d in driven]] = False
            nodes = self.topo.equation_nodes(floating, self.sensed)
            rows = self.topo.rows(volts, nodes) * self.k[None, :]
            var = self.topo.row_variance(self.k, nodes, floating & self.sensed, self.noise)
            info = rows.T @ (rows / var[:, None])
        self._cache[key] = info
        return info

    def cost(self, info: np.ndarray) -> float:
        cov = np.linalg.inv(info)
        return float(np.sum(np.diag(cov) * self.weight**2))

    def moves(self, driven: dict[int, float]) -> list[tuple[str, int, float, dict[int, float]]]:
        """(kind, node, volts, new state) for every allowed move from ``driven``."""
        out = [("read", 0, 0.0, driven)]
        plan = self.plan
        for node in plan.low:
            if node in driven:
                other = plan.high[node] if driven[node] == plan.low[node] else plan.low[node]
                out.append(("flip", node, other, {**driven, node: other}))
                if len(driven) > 2:
                    rest = {n: v for n, v in driven.items() if n != node}
                    out.append(("release", node, 0.0, rest))
            else:
                for v in (plan.low[node], plan.high[node]):
                    out.append(("drive", node, v, {**driven, node: v}))
        return out

    def first(self, start: dict[int, float]) -> list[tuple[int, dict[int, float]]]:
        """(cost in transactions, state) candidates for the first pattern."""
        plan = self.plan
        nodes = sorted(plan.low)
        out = []
        if len(start) >= 2 and len(set(start.values())) >= 2:
            out.append((1, dict(start)))
        for a in nodes:
            for b in nodes:
                if a == b:
                    continue
                state = {a: plan.high[a], b: plan.low[b]}
                release = any(n not in state for n in start)
                out.append((2 + int(release), state))
        if self.limit is not None:
            out = [(c, st) for c, st in out if self.move_cost(start, st) is not None]
        return out


def _limit_conductance(
    model: DigipotModel, codes: np.ndarray, sd: np.ndarray | float
) -> np.ndarray:
    """(2, E) S: the conductances the current limit is checked at: the parts' lowest
    resistances at codes (E,) lowered by ``LIMIT_SD`` of their ``sd`` (code steps)
    (`DigipotModel.lowest`, the one definition the trainer's checks take too)."""
    c = np.asarray(codes, dtype=float) - LIMIT_SD * np.asarray(sd, dtype=float)
    c = np.where(np.isfinite(c), np.clip(c, 0.0, float(TOP)), 0.0)
    return 1.0 / model.lowest(c)


def _blind_span(model: DigipotModel, max_current: float) -> float:
    """V: the span a pattern may have when nothing is known of the codes: every edge at
    code 0 on the part floor carries at most span / R (the maximum principle bounds every
    drop by the span), held to 0.9 of ``max_current`` (0.1575 V at 5 mA).

    What it bounds: every EDGE's current, at any codes. A drive channel's is bounded
    per pattern by `blind_load` (a node of degree d with every edge on the floor may
    source up to d x span / ``WIPER_FLOOR``: 22.5 mA at 5 mA on degree 5); the blind
    round's patterns that break it are scaled down about their middle volts
    (`blind_designers`; docs/architecture.md, "Still open", item 3)."""
    return 0.9 * max_current * WIPER_FLOOR


def blind_load(
    topo: Topology, state: dict[int, float], max_current: float,
    channel: Mapping[int, float] | None = None,
) -> float:  # fmt: skip
    """The largest current ``state`` {node label: V} (the rest floating) can put through
    an edge or a driven node's channel at ANY codes, as a fraction of its limit (every
    edge's of ``max_current`` A, a driven node's of ``channel`` {label: A}, a node
    missing there held to ``max_current``; None: the channels not checked).

    Every floating node lies within [min, max] of the driven volts (maximum principle)
    and no edge conducts more than 1 / ``WIPER_FLOOR``, so an edge's current is at most
    its worst drop / ``WIPER_FLOOR``: the known drop between two driven ends, the
    farther of min and max from a driven end's volts, the span between two floating
    ends. A driven node's channel carries at most the sum of its edges' (degree d at
    volts V: at most d x max(|V - min|, |V - max|) / ``WIPER_FLOOR``, less where a
    neighbour is driven too). A two-level state (the blind round's) is bounded more
    sharply, by solves with every edge at ``WIPER_FLOOR``: a high node's channel carries
    no more than it would with the other high nodes floating (driving them raises every
    floating node), which is its effective conductance to the low nodes times the span,
    growing with every conductance (Rayleigh), so at most its value at the floor (the
    same for a low node); and no channel or edge carries more than the whole flow from
    the high nodes to the low (every high node sources), at most its floor value too."""
    vals = list(state.values())
    if len(state) < 2 or max(vals) == min(vals):
        return 0.0
    lo, hi = min(vals), max(vals)
    net = topo.network
    v = np.full(net.n_nodes, np.nan)
    for node, x in state.items():
        v[node - 1] = x
    va, vb = v[net.edges.T]
    worst_a, worst_b = (np.maximum(np.abs(x - lo), np.abs(hi - x)) for x in (va, vb))
    drop = np.where(np.isnan(va), np.where(np.isnan(vb), hi - lo, worst_b),
                    np.where(np.isnan(vb), worst_a, np.abs(va - vb)))  # fmt: skip
    amps = drop / WIPER_FLOOR  # (E,) A, the most each edge can carry
    inc = np.abs(topo.incident).astype(float)
    out = {node: float(inc[node - 1] @ amps) for node in state}  # A, each channel's most
    if len(set(vals)) == 2:
        k = np.full(net.n_edges, 1.0 / WIPER_FLOOR)

        def sourced(drive: dict[int, float], node: int | None) -> float | None:
            """A: ``node``'s channel current (None: the whole flow) with ``drive`` at the floor."""
            try:
                current = k * net.drops(net.solve(k, drive))
            except np.linalg.LinAlgError:  # not tied together: the first bound alone
                return None
            if node is not None:
                return abs(float(topo.incident[node - 1] @ current))
            return sum(max(float(topo.incident[n - 1] @ current), 0.0) for n in drive)

        flow = sourced(state, None)
        if flow is not None:
            amps = np.minimum(amps, flow)
            out = {node: min(a, flow) for node, a in out.items()}
        for node, x in state.items():
            alone = sourced({n: y for n, y in state.items() if n == node or y != x}, node)
            if alone is not None:
                out[node] = min(out[node], alone)
    load = float(amps.max()) / max_current
    if channel is not None:
        for node, a in out.items():
            load = max(load, a / channel.get(node, max_current))
    return load


class _BlindLimit:
    """`_Limit`'s checks (``load``, ``ok``) at ANY codes (`blind_load`): the blind
    round's, nothing known of the codes."""

    def __init__(self, topo: Topology, max_current: float,
                 channel: Mapping[int, float] | None = None) -> None:  # fmt: skip
        self.topo, self.max_current = topo, max_current
        self.channel = None if channel is None else dict(channel)
        self._cache: dict[tuple, float] = {}

    def load(self, state: dict[int, float]) -> float:
        """`blind_load` of ``state`` (cached): 1 at the limit, scales with the pattern."""
        key = tuple(sorted(state.items()))
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = blind_load(self.topo, state, self.max_current,
                                                self.channel)  # fmt: skip
        return got

    def ok(self, state: dict[int, float], current: dict[int, float] | None = None) -> bool:
        """``state`` (and, from ``current``, the state between the calls) within the limit."""
        if current is not None and self.load(_via(current, state)) > 1.0:
            return False
        return self.load(state) <= 1.0


def blind_designers(
    bench: Bench, topo: Topology, inset: float, k: np.ndarray, weight: np.ndarray,
    noise: float, max_current: float, channels: Mapping[str, Mapping[int, float]],
) -> tuple[list[_TwinPlan], list[_Designer]]:  # fmt: skip
    """The blind round's plans and designers, both twins (the tomography's with no codes
    known and the bench check's, one definition): each twin's drive channels narrowed to
    `_blind_span` (every edge held at any codes), every state read and the one between a
    jump's calls held by `_BlindLimit` (every drive channel too, ``channels`` {twin:
    {label: A}}, `channel_limits`), a pattern beyond it scaled about its middle volts
    (`_Designer.realize`; the greedy design then prefers patterns that keep a high-degree
    node's neighbours at its own level). ``k`` (2, E) S the design's conductances."""
    span = _blind_span(DigipotModel.nominal(bench.network.n_edges), max_current)
    plans = [_TwinPlan.of(bench, twin, inset).narrowed(span) for twin in TWINS]
    designers = [
        _Designer(topo, plans[t], k[t], weight, noise,
                  _BlindLimit(topo, max_current, channels.get(TWINS[t], {})), scale=True)
        for t in range(2)
    ]  # fmt: skip
    return plans, designers


def _via(current: dict[int, float], new: dict[int, float]) -> dict[int, float]:
    """The drive state between the two calls of a jump from ``current`` to ``new``
    (`_execute`: first the release of what ``new`` does not drive, then one drive)."""
    return {n: v for n, v in current.items() if n in new}


class _Limit:
    """Checks a drive state against ``max_current`` A through every edge and, with
    ``channel`` {node label: A}, each driven node's channel limit on the current its
    channel sources or sinks (the sum of its edges' currents), at the conductances ``k``
    (E,) S (`_limit_conductance`, taken conservatively). A driven node missing from
    ``channel`` (a channel the bench does not drive) is held to ``max_current``."""

    def __init__(self, topo: Topology, k: np.ndarray, max_current: float,
                 channel: Mapping[int, float] | None = None) -> None:  # fmt: skip
        # an edge fitted as open still conducts a little (the solve needs every node tied)
        k = np.where(np.isfinite(k), np.asarray(k, dtype=float), 1.0 / WIPER_FLOOR)
        self.topo, self.k, self.max_current = topo, np.maximum(k, 1e-8), max_current
        self.channel = None if channel is None else dict(channel)
        self._cache: dict[tuple, tuple[float, float]] = {}

    def peak(self, state: dict[int, float]) -> float:
        """The most current through any edge, A, with ``state`` driven (the rest floating)."""
        return self._solved(state)[0]

    def load(self, state: dict[int, float]) -> float:
        """The largest current with ``state`` driven (the rest floating) as a fraction of
        its limit: every edge's of ``max_current``, every driven node's channel's of its
        channel limit (currents scale with the pattern, so a pattern scaled about its
        middle volts by s has load s x this)."""
        return self._solved(state)[1]

    def _solved(self, state: dict[int, float]) -> tuple[float, float]:
        """(`peak`, `load`) of ``state``, by one solve (cached)."""
        if len(state) < 2 or len(set(state.values())) < 2:
            return 0.0, 0.0
        key = tuple(sorted(state.items()))
        got = self._cache.get(key)
        if got is None:
            net = self.topo.network
            try:
                volts = net.solve(self.k, state)
                current = self.k * net.drops(volts)  # (E,) A, first end to second
                peak = float(np.abs(current).max())
                load = peak / self.max_current
                if self.channel is not None:
                    inc = self.topo.incident
                    for node in state:
                        out = float(inc[node - 1] @ current)  # what its channel sources
                        limit = self.channel.get(node, self.max_current)
                        load = max(load, abs(out) / limit)
                got = (peak, load)
            except np.linalg.LinAlgError:
                got = (np.inf, np.inf)  # not to be checked: not to be applied
            self._cache[key] = got
        return got

    def ok(self, state: dict[int, float], current: dict[int, float] | None = None) -> bool:
        """``state`` (and, from ``current``, the state between the calls) within the limit."""
        if current is not None and self.load(_via(current, state)) > 1.0:
            return False
        return self.load(state) <= 1.0


def _restore_calls(current: dict[int, float], start: dict[int, float]) -> tuple[bool, bool]:
    """Whether the return from ``current`` to ``start`` needs a release, and a drive."""
    release = any(n not in start for n in current)
    drive = any(current.get(n) != v for n, v in start.items())
    return release, drive


def _restore_cost(current: dict[int, float], start: dict[int, float]) -> int:
    return sum(_restore_calls(current, start))


def _plan_twin(
    designer: _Designer,
    start: dict[int, float],
    budget: int,
    current: tuple[dict[int, float], int, list[dict[int, float]]] | None = None,
) -> list[tuple]:
    """The greedy sequence of states for one twin: [(kind, node, volts, state), ...],
    within ``budget`` transactions including the return to ``start``. From scratch the
    first entry is ("set", ...) with the first state; ``current`` = (state, transactions
    used, states already read) continues a sequence. With a current limit on the
    designer every entry is ("set", 0, 0.0, the volts applied) (`_Designer.realize`)."""
    real = designer.realize
    limited = designer.limit is not None
    if current is None:
        best = None
        for cost, state in designer.first(start):
            if cost + 1 + _restore_cost(real(state), start) > budget:
                continue
            c = designer.cost(designer.info + designer.pattern_info(state))
            if best is None or c < best[0]:
                best = (c, cost, state)
        if best is None:
            return []
        _, used, state = best
        used += 1
        seq: list[tuple] = [("set", 0, 0.0, real(state))]
        info = designer.info + designer.pattern_info(state)
    else:
        state, used, done = current
        seq = []
        info = designer.info + sum(
            (designer.pattern_info(d) for d in done), np.zeros_like(designer.info)
        )
    now = designer.cost(info)
    while True:
        options = []
        for kind, node, volts, new in designer.moves(state):
            cost = 1 if kind == "read" else 2
            if limited:
                got = designer.move_cost(real(state), new)
                if got is None:  # the state between the release and the drive
                    continue
                cost = got
            if used + cost + _restore_cost(real(new), start) > budget:
                continue
            c = designer.cost(info + designer.pattern_info(new))
            options.append(((now - c) / cost, kind, node, volts, new, c, cost))
        if not options:
            break
        gain, kind, node, volts, new, c, cost = max(options, key=lambda o: o[0])
        if gain <= 0:
            break
        seq.append(("set", 0, 0.0, real(new)) if limited else (kind, node, volts, new))
        info = info + designer.pattern_info(new)
        now, state, used = c, new, used + cost
    return seq


def planned_rel_sd(designer: _Designer, seq: list[tuple]) -> tuple[np.ndarray, int]:
    """What one twin's planned sequence ``seq`` (`_plan_twin`) would fix, before anything
    is applied: (rel_sd (E,), rank). rel_sd: each edge's relative conductance sd from
    the reads' information alone at the design's conductances and noise (the common
    factor projected out; the designer's own 100 % start prior left out), inf for an
    edge along a direction the reads leave unfixed; rank: of that information on the
    E - 1 conductance ratios."""
    e = len(designer.k)
    info = sum((designer.pattern_info(step[3]) for step in seq), np.zeros((e, e)))
    proj = np.eye(e) - np.ones((e, e)) / e
    w, v = np.linalg.eigh(proj @ info @ proj)
    fixed = w > 1e-9 * max(np.abs(info).max(), 1.0)
    var = (v[:, fixed] ** 2 / w[fixed]).sum(axis=1)
    # the unfixed directions other than the common factor (in proj's null space)
    loose = proj @ v[:, ~fixed]
    basis = np.linalg.svd(loose, full_matrices=False)[0][:, : max(e - 1 - int(fixed.sum()), 0)]
    unfixed = (basis**2).sum(axis=1) > 1e-9
    return np.where(unfixed, np.inf, np.sqrt(var)), int(fixed.sum())


def reads_code_sd(
    bench: Bench,
    reads: list[tuple[str, dict[int, float], np.ndarray]],
    k: np.ndarray,
    step: np.ndarray,
    noise: float,
) -> np.ndarray:
    """(2, E) code steps: each twin's code sd that the ``reads`` (`measure`'s: twin,
    driven {node: V}, volts) fix at conductances ``k`` (2, E) S, parts of step resistance
    ``step`` (2, E) Ohm and read noise ``noise`` V rms. The Cramer-Rao bound of the
    voltage likelihood (`_read_info`; the volts read are not used), each twin's common
    factor pinned on its code-weighted mean of log k (`_gauge_info`) as the prior's or
    the integers' scale pins it. Given the truth, it scores a design apart from its noise
    draw (bench/bench_estimator.py: each resync's chance of every edge within one code)."""
    topo = Topology.of(bench.network)
    k = np.asarray(k, dtype=float)
    weight = 1.0 / (k * np.asarray(step, dtype=float))  # codes per relative change
    out = np.empty_like(k)
    for t, twin in enumerate(TWINS):
        sensed = _TwinPlan.of(bench, twin, 0.0).sensed
        info = _gauge_info(weight[t])
        for tw, driven, _ in reads:
            if tw != twin:
                continue
            got = _read_info(
                topo, sensed, k[t], np.array(list(driven), dtype=int), [list(driven.values())],
                noise,
            )  # fmt: skip
            if got is not None:
                info = info + got[0][0]
        out[t] = np.sqrt(np.diag(np.linalg.inv(info))) * weight[t]
    return out


# ----------------------------------------------------------------------------- fit
def fit_twin(
    topo: Topology,
    reads: list[tuple[dict[int, float], dict[int, float]]],
    k0: np.ndarray,
    noise: float,
    starts: tuple[np.ndarray, ...] = (),
    refit: bool = False,
) -> TwinFit:
    """Fit one twin's relative conductances from ``reads`` [(driven {node: V}, sensed
    {node: V}), ...] by weighted total least squares, starting from ``k0`` (E,); the
    likelihood refinement also starts from each of ``starts`` (E,) and keeps the best,
    and with ``refit`` a fit left above ``REFIT_CHI2`` is refitted longer."""
    n = topo.network.n_nodes
    blocks = []
    for driven, sensed in reads:
        v, floating = _volts_vector(n, driven, sensed)
        is_sensed = np.zeros(n, dtype=bool)
        is_sensed[[s - 1 for s in sensed]] = True
        nodes = topo.equation_nodes(floating, is_sensed)
        if len(nodes):
            blocks.append((topo.rows(v, nodes), nodes, floating & is_sensed))
    e = len(k0)
    if not blocks:
        return TwinFit(k0 / np.exp(np.mean(np.log(k0))), np.full(e, np.inf), np.inf, 0)
    rows = np.concatenate([b[0] for b in blocks])
    k = np.asarray(k0, dtype=float).copy()
    if not (np.abs(rows) > 1e-9).any(axis=0).all():  # some edge is in no equation
        return TwinFit(k / np.exp(np.mean(np.log(k))), np.full(e, np.inf), np.inf, len(rows))
    for _ in range(3):
        var = np.concatenate([topo.row_variance(k, b[1], b[2], noise) for b in blocks])
        weighted = rows * k[None, :] / np.sqrt(var)[:, None]  # in relative units theta
        _, sv, vt = np.linalg.svd(weighted, full_matrices=False)
        rel = vt[-1] * np.sign(vt[-1].sum())
        rel = np.where(rel > 0, rel, np.abs(rel) + 1e-12)
        k = k * rel
        k /= np.exp(np.mean(np.log(k)))
    if np.linalg.matrix_rank(weighted, tol=sv[0] * 1e-10) < e - 1:
        return TwinFit(k, np.full(e, np.inf), np.inf, len(rows))  # some edge is unseen
    # refine from the TLS solution and from the design's guess; keep the better one. A
    # start can leave a free node tied to nothing (a star fitted or designed at 0): that
    # start is skipped (every refinement path, the longer refit included)
    def refine(start: np.ndarray, iterations: int = 20) -> tuple | None:
        try:
            return _refine(topo, reads, start, noise, iterations=iterations)
        except np.linalg.LinAlgError:
            return None

    def better(best: tuple | None, got: tuple | None) -> tuple | None:
        if got is None:
            return best
        return got if best is None or got[2] < best[2] else best

    best = None
    for start in (k, np.asarray(k0, dtype=float)):
        best = better(best, refine(start))
    if refit and (best is None or best[2] > REFIT_CHI2):
        # a bad minimum (seen next to near-shorts): more iterations from every start
        for start in ((best[0],) if best is not None else ()) + (k, np.asarray(k0, float)):
            best = better(best, refine(start, REFIT_ITERATIONS))
    for start in starts:
        x = np.asarray(start, dtype=float)
        if not (np.isfinite(x).all() and (x > 0).all()):
            continue
        x = np.clip(x / np.exp(np.mean(np.log(x))), 1e-4, 1e4)  # a digipot's range
        best = better(best, refine(x))
    if best is None:  # no start could be refined
        return TwinFit(k, np.full(e, np.inf), np.inf, len(rows))
    return TwinFit(*best)


#: a likelihood fit whose chi^2 per dof exceeds this is refitted (`fit_twin`)
REFIT_CHI2 = 3.0
#: iterations of that refit
REFIT_ITERATIONS = 200


def _refine(
    topo: Topology,
    reads: list[tuple[dict[int, float], dict[int, float]]],
    k: np.ndarray,
    noise: float,
    iterations: int = 20,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Maximum likelihood on the voltages: x = log k, residuals (measured - Kirchhoff
    prediction) / noise at every sensed floating node of every read, Levenberg-Marquardt
    from the TLS solution (which mis-weights near-short edges, whose drops are below the
    noise). Returns (k, relative sd (E,), chi^2 per dof, residual count)."""
    net = topo.network
    n, e = net.n_nodes, net.n_edges
    inc = topo.incident.astype(float)  # (N, E)
    prepared = []
    for driven, sensed in reads:
        is_fixed = np.zeros(n, dtype=bool)
        is_fixed[[d - 1 for d in driven]] = True
        free = np.flatnonzero(~is_fixed)
        v_fixed = np.zeros(n)
        for node, volts in driven.items():
            v_fixed[node - 1] = volts
        obs_nodes = np.array([s - 1 for s in sensed if not is_fixed[s - 1]], dtype=int)
        obs = np.array([sensed[s + 1] for s in obs_nodes])
        where = np.searchsorted(free, obs_nodes)
        prepared.append((free, v_fixed, where, obs))
    n_res = sum(len(p[3]) for p in prepared)

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kk = np.exp(x)
        lap = (inc * kk) @ inc.T  # (N, N) weighted Laplacian
        res, jac = [], []
        for free, v_fixed, where, obs in prepared:
            lff = lap[np.ix_(free, free)]
            rhs = -lap[free] @ v_fixed + lap[np.ix_(free, free)] @ v_fixed[free]
            vf = np.linalg.solve(lff, rhs)
            v = v_fixed.copy()
            v[free] = vf
            drops = net.drops(v)  # (E,)
            # dV_f / dlog k_e = -L_ff^-1 (inc_f[:, e] * drop_e) * k_e
            dj = -np.linalg.solve(lff, inc[free] * (drops * kk)[None, :])
            res.append((obs - vf[where]) / noise)
            jac.append(dj[where] / noise)  # d(pred)/dx; the residual's is minus this
        return np.concatenate(res), np.concatenate(jac)

    x = np.log(k)
    gauge = np.full((1, e), 1.0 / e) * 1e3
    damping = 1e-3
    r, j = evaluate(x)
    cost = float(r @ r)
    for _ in range(iterations):
        a = j.T @ j + gauge.T @ gauge
        g = j.T @ r - gauge.T @ (gauge @ x)
        step = np.linalg.solve(a + damping * np.diag(np.diag(a) + 1e-9), g)
        step = np.clip(step, -1.0, 1.0)  # a factor e per iteration at most
        try:
            r_new, j_new = evaluate(x + step)
            new = float(r_new @ r_new)
        except np.linalg.LinAlgError:
            new = np.inf
        if not np.isfinite(new):
            damping *= 10.0
            continue
        if new < cost:
            x, r, j, cost = x + step, r_new, j_new, new
            damping *= 0.3
            if np.max(np.abs(step)) < 1e-7:
                break
        else:
            damping *= 10.0
    dof = max(n_res - (e - 1), 1)
    chi2 = cost / dof
    proj = np.eye(e) - np.ones((e, e)) / e
    cov = np.linalg.pinv(proj @ (j.T @ j) @ proj, rcond=1e-12)
    # gauge: the precision-weighted mean of log k, so that a few poorly seen edges (the
    # neighbours of a near-short) do not spread their uncertainty over every edge
    w = 1.0 / np.maximum(np.diag(cov), 1e-30)
    w /= w.sum()
    move = np.eye(e) - np.outer(np.ones(e), w)
    cov = move @ cov @ move.T
    rel_sd = np.sqrt(np.clip(np.diag(cov), 0, None) * max(chi2, 1.0))
    k = np.exp(x - x.mean())
    return k, rel_sd, chi2, n_res


def codes_from_fits(
    fits: tuple[TwinFit, TwinFit],
    model: DigipotModel,
    prior: np.ndarray | None = None,
    prior_sd: np.ndarray | float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes (E,) int16, code_float (2, E), code_sd (E,), scale (2,), code_mean (E,)):
    the codes of the
    digipot model for each twin's relative conductances (method 3 of the module)."""
    g, rw = model.step, model.r_wiper
    inv_k = np.stack([1.0 / f.conductance for f in fits])  # (2, E)
    rel = np.stack([f.rel_sd for f in fits])
    a, b = inv_k / g, rw / g  # code = lambda * a - b
    if prior is not None:
        c0 = np.asarray(prior, dtype=float)
        s0 = np.broadcast_to(np.asarray(prior_sd, dtype=float), c0.shape)
        scale = np.empty(2)
        for t in range(2):
            # each edge's own lambda, (c0 + b) / a, on a log scale, where every edge has
            # the same leverage: a robust (Huber) mean from the median. In lambda itself
            # an edge fitted as open (huge 1/k) has a lever of thousands and pulled every
            # other code to 0 (the least-squares start, and the Huber refits after it)
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.log((c0 + b[t]) / a[t])
                sx = np.sqrt((s0**2 + 0.05) / (c0 + b[t]) ** 2 + rel[t] ** 2)
            use = np.isfinite(x) & np.isfinite(sx)
            if not use.any():
                scale[t] = float(np.median((c0 + b[t]) / a[t]))
                continue
            x, sx = x[use], sx[use]
            mu = float(np.median(x))
            for _ in range(10):  # Huber-weighted refits
                r = (x - mu) / sx
                w = np.minimum(1.0, 1.5 / np.maximum(np.abs(r), 1e-12)) / sx**2
                mu = float(np.sum(w * x) / np.sum(w))
            scale[t] = np.exp(mu)
        scale = scale * _integer_factor(a, b, rel, scale)
    else:
        scale = _integer_scale(a, b, rel)
    code_float = scale[:, None] * a - b
    var = (scale[:, None] * a * rel) ** 2 + 1e-6
    unseen = ~np.isfinite(var).any(axis=0)  # neither twin saw the edge: the prior stays
    fallback = np.full(len(unseen), 64.0) if prior is None else np.asarray(prior, float)
    code_float[:, unseen] = fallback[unseen]
    var = np.where(np.isfinite(var), var, 1e12)
    var[:, unseen] = 1e6
    # the model's range: a near-short (code 0-1, drop below the noise) can come out as a
    # negative code, an open-looking edge beyond the top
    code_float = np.clip(code_float, 0.0, float(TOP))
    if prior is not None:
        # the twins share the codes: where they disagree far beyond their uncertainty one
        # twin's fit is wrong there (e.g. a node's edges fitted as open); the twin nearer
        # the prior decides, the other's value is dropped for that edge
        c0 = np.asarray(prior, dtype=float)
        s0 = np.broadcast_to(np.asarray(prior_sd, dtype=float), c0.shape)
        gap = np.abs(code_float[0] - code_float[1])
        conflict = gap > 3.0 + 4.0 * np.sqrt(var[0] + var[1]) + 2.0 * s0
        worse = np.argmax(np.abs(code_float - c0[None, :]), axis=0)  # (E,) twin index
        var[worse[conflict], np.flatnonzero(conflict)] = 1e12
        code_float[worse[conflict], np.flatnonzero(conflict)] = code_float[
            1 - worse[conflict], np.flatnonzero(conflict)
        ]
    wsum = np.sum(1.0 / var, axis=0)
    mean = np.sum(code_float / var, axis=0) / wsum
    # the twins must agree: their disagreement beyond the noise widens the uncertainty
    spread = np.abs(code_float[0] - code_float[1]) / 2
    sd = np.sqrt(1.0 / wsum + np.maximum(spread**2 - 1.0 / wsum, 0.0))
    codes = np.clip(np.rint(mean), 0, TOP).astype(np.int16)
    return codes, code_float, sd, scale, np.clip(mean, 0.0, float(TOP))


def _integer_factor(
    a: np.ndarray, b: np.ndarray, rel: np.ndarray, scale: np.ndarray, common_sd: float = 3.0
) -> float:
    """The factor f on both twins' lambda near 1 that puts every code nearest a common
    integer, against a Gaussian prior of ``common_sd`` codes on the mean code's shift.
    The prior codes fix lambda only as well as their common offset is known (a tracker
    drifts there first: scaling every code alike leaves the voltages almost unchanged),
    the integers fix it whenever the codes are spread."""
    f = np.arange(0.8, 1.2, 0.0002)
    lam = scale[:, None] * f[None, :]  # (2, M)
    codes = lam[:, :, None] * a[:, None, :] - b[:, None, :]  # (2, M, E)
    var = (lam[:, :, None] * a[:, None, :] * rel[:, None, :]) ** 2 + 1e-4
    var = np.where(np.isfinite(var), var, 1e6)
    mean = np.sum(codes / var, axis=0) / np.sum(1.0 / var, axis=0)  # (M, E)
    nearest = np.clip(np.rint(mean), 0, TOP)
    cost = np.sum(np.minimum((codes - nearest[None]) ** 2 / var, 25.0), axis=(0, 2))
    base = scale[:, None] * a - b
    with np.errstate(invalid="ignore"):  # an edge at conductance 0: inf - inf
        shift = (codes - base[:, None, :]).mean(axis=(0, 2))
    cost = cost + (shift / common_sd) ** 2
    # Clustered codes (e.g. most at a rail) also sit near integers at other factors
    # (127, 66, 32 -> 123, 64, 31): leave the prior's neighbourhood only on strong evidence.
    near = np.abs(shift) <= 0.5
    cost = np.where(np.isfinite(cost), cost, np.inf)
    if not np.isfinite(cost).any():
        return 1.0  # nothing to go on (e.g. an edge fitted at conductance 0): the prior's
    best = int(np.argmin(cost))
    if not near.any():  # the shift is NaN, or jumps over the window: the best overall
        return float(f[best])
    local = int(np.flatnonzero(near)[np.argmin(cost[near])])
    return float(f[local] if cost[local] - cost[best] < 10.0 else f[best])


def _integer_scale(a: np.ndarray, b: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """lambda (2,) without a prior: the twins aligned on a common mean code mu, mu
    scanned over the code range for the one that puts every code nearest an integer.
    The alignment is on the median edge: a mean is dominated by an edge fitted as open
    (huge 1/k), which then put every other code at 0."""
    mus = np.arange(1.0, TOP, 0.005)
    a_mid = np.median(np.where(np.isfinite(a), a, np.inf), axis=1)
    lam = (mus[None, :] + np.median(b, axis=1)[:, None]) / a_mid[:, None]  # (2, M)
    codes = lam[:, :, None] * a[:, None, :] - b[:, None, :]  # (2, M, E)
    var = (lam[:, :, None] * a[:, None, :] * rel[:, None, :]) ** 2 + 1e-4
    var = np.where(np.isfinite(var), var, 1e6)
    mean = np.sum(codes / var, axis=0) / np.sum(1.0 / var, axis=0)  # (M, E)
    nearest = np.clip(np.rint(mean), 0, TOP)
    cost = np.sum((codes - nearest[None]) ** 2 / var, axis=(0, 2))
    return lam[:, int(np.argmin(cost))]


# ----------------------------------------------------------------------------- adaptive
#: most candidate patterns enumerated per twin (3^n for n driveable nodes; above this a
#: fixed pseudo-random sample of that many)
_MAX_CANDIDATES = 25000


@dataclass
class _Candidates:
    """Every pattern the adaptive round may jump to, with its Fisher information.

    ``states`` [{node: V}, ...] (M,): each driveable node floating or at its low or high
    (inset) limit, at least one low and one high; and, for every edge the fit sees so
    stiff that the full span would push more than ``max_current`` through it (a
    near-short), the patterns that drive both its ends alike with one end moved inwards
    by 0.9 of the voltage that current would take: a near-short's neighbours are told
    apart by the difference of its ends' volts, which driving both makes hundreds of mV
    instead of the tens a floating end shows. Patterns whose current through any edge
    exceeds ``max_current`` at the fitted conductances are left out. ``info`` (M, E, E):
    the information on the relative conductances (log k) from one read (`_read_info`).
    """

    nodes: np.ndarray  # (n,) the driveable nodes' labels
    volts: np.ndarray  # (M, n) V, NaN where the node floats
    info: np.ndarray

    def state(self, i: int) -> dict[int, float]:
        """Candidate ``i`` as {node: V}."""
        row = self.volts[i]
        return {int(d): float(v) for d, v in zip(self.nodes, row, strict=True) if v == v}

    def cost(self, current: dict[int, float]) -> np.ndarray:
        """(M,) DAQ transactions from ``current`` to each candidate, its read included:
        one release for every node it frees, one drive for every node it sets."""
        now = np.array([current.get(int(d), np.nan) for d in self.nodes])
        floating = np.isnan(self.volts)
        release = (~np.isnan(now)[None, :] & floating).any(axis=1)
        drive = (~floating & ~(self.volts == now[None, :])).any(axis=1)
        extra = any(n not in set(self.nodes.tolist()) for n in current)  # not driveable here
        return (release | extra).astype(int) + drive.astype(int) + 1

    def restore_cost(self, start: dict[int, float]) -> np.ndarray:
        """(M,) DAQ transactions from each candidate back to ``start`` (`_restore_cost`)."""
        want = np.array([start.get(int(d), np.nan) for d in self.nodes])
        driven = ~np.isnan(self.volts)
        release = (driven & np.isnan(want)[None, :]).any(axis=1)
        drive = (~np.isnan(want)[None, :] & ~(self.volts == want[None, :])).any(axis=1)
        extra = any(n not in set(self.nodes.tolist()) for n in start)
        return release.astype(int) + (drive | extra).astype(int)

    @classmethod
    def merge(cls, parts: list[_Candidates], e: int) -> _Candidates:
        """One candidate set of every part's patterns, on the union of their nodes."""
        nodes = np.array(sorted({int(d) for c in parts for d in c.nodes}), dtype=int)
        volts = [np.full((0, len(nodes)), np.nan)]
        for c in parts:
            v = np.full((len(c.volts), len(nodes)), np.nan)
            v[:, np.searchsorted(nodes, c.nodes)] = c.volts
            volts.append(v)
        info = [np.zeros((0, e, e))] + [c.info for c in parts]
        return cls(nodes, np.concatenate(volts), np.concatenate(info))

    @classmethod
    def of(
        cls,
        topo: Topology,
        plan: _TwinPlan,
        k: np.ndarray,
        noise: float,
        max_current: float,
        only: set[int] | None = None,
        variants_only: bool = False,
        k_limit: np.ndarray | None = None,
        stiff: set[int] | None = None,
        channel: Mapping[int, float] | None = None,
    ) -> _Candidates:
        """``k`` (E,) conductances, S (the fit in the nominal-lot unit); ``max_current`` A;
        ``channel`` {node label: A} each drive channel's limit (`_Limit`; none: edges only);
        ``only`` the driveable nodes (labels) the patterns may drive (the rest float), all
        of them when None; ``variants_only``: only the near-short patterns (ends apart);
        ``k_limit`` (E,) S the conductances the current limit is checked at (``k`` when
        None)."""
        k_limit = k if k_limit is None else np.asarray(k_limit, dtype=float)
        net = topo.network
        nodes = np.array(sorted(n for n in plan.low if only is None or n in only), dtype=int)
        empty = cls(nodes, np.zeros((0, len(nodes))), np.zeros((0, net.n_edges, net.n_edges)))
        if len(nodes) < 2:  # no pattern can put a node between two driven voltages
            return empty
        col = {int(d): i for i, d in enumerate(nodes)}
        assign = _assignments(len(nodes))  # (M, n_drive) 0 floating, 1 low, 2 high
        lo = np.array([plan.low[d] for d in nodes])
        hi = np.array([plan.high[d] for d in nodes])
        volts = np.where(assign == 1, lo, np.where(assign == 2, hi, np.nan))  # (M, n)
        extra = []
        for e in np.flatnonzero(k_limit * np.min(hi - lo) > max_current):
            if stiff is not None and int(e) not in stiff:
                continue
            ends = [col.get(int(x) + 1) for x in net.edges[e]]
            if None in ends:
                continue
            i, j = ends
            alike = (assign[:, i] == assign[:, j]) & (assign[:, i] > 0)
            step = 0.9 * max_current / k_limit[e]
            for end in (i, j):
                moved = volts[alike].copy()
                moved[:, end] += np.where(assign[alike, end] == 1, step, -step)
                extra.append(moved)
        if variants_only and not extra:  # no stiff edge with both ends driveable here
            return empty
        volts = np.concatenate(extra if variants_only else [volts, *extra])
        if not len(volts):
            return empty
        rows, infos = [], []
        masks, inverse = np.unique(~np.isnan(volts), axis=0, return_inverse=True)
        for g, mask in enumerate(masks):
            v = volts[inverse.reshape(-1) == g][:, mask]  # (m, F)
            got = _read_info(topo, plan.sensed, k, nodes[mask], v, noise)
            if got is None:
                continue
            info, current = got
            current = current / k * k_limit  # the drops at the limit's conductances
            ok = np.abs(current).max(axis=1) <= max_current
            if channel is not None:  # what each driven node's channel sources or sinks
                fixed = nodes[mask]
                out = current @ topo.incident[fixed - 1].T.astype(float)  # (m, F)
                amps = np.array([channel.get(int(d), max_current) for d in fixed])
                ok &= (np.abs(out) <= amps[None, :]).all(axis=1)
            infos.append(info[ok])
            full = np.full((int(ok.sum()), len(nodes)), np.nan)
            full[:, mask] = v[ok]
            rows.append(full)
        if not infos:
            return empty
        return cls(nodes, np.concatenate(rows), np.concatenate(infos))


def _read_info(
    topo: Topology,
    sensed: tuple[int, ...],
    k: np.ndarray,
    fixed: np.ndarray,
    volts: np.ndarray,
    noise: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Fisher information (m, E, E) on log k (E,) of one read of each of m patterns that
    drive the nodes ``fixed`` (F,) (labels) at ``volts`` (m, F) V, read noise ``noise`` V
    rms on every sensed floating node (the voltage likelihood `_refine` maximises, so a
    near-short's neighbours get what the small drops really carry), and the currents
    (m, E) through the edges, A for ``k`` in S; None if the free nodes' system is
    singular."""
    net = topo.network
    n = net.n_nodes
    inc = topo.incident.astype(float)  # (N, E)
    lap = (inc * k) @ inc.T
    idx = np.asarray(fixed, dtype=int) - 1
    is_fixed = np.zeros(n, dtype=bool)
    is_fixed[idx] = True
    free = np.flatnonzero(~is_fixed)
    is_sensed = np.zeros(n, dtype=bool)
    is_sensed[[s - 1 for s in sensed]] = True
    obs = np.flatnonzero(is_sensed[free])
    volts = np.atleast_2d(np.asarray(volts, dtype=float))
    v = np.zeros((len(volts), n))
    v[:, idx] = volts
    green = np.zeros((0, net.n_edges))
    if len(free):
        lff = lap[np.ix_(free, free)]
        try:
            v[:, free] = -np.linalg.solve(lff, lap[np.ix_(free, idx)] @ volts.T).T
            green = np.linalg.solve(lff, inc[free])[obs]  # (n_obs, E)
        except np.linalg.LinAlgError:
            return None
    drops = v @ inc  # (m, E)
    # dV_f / dlog k_e = -L_ff^-1 inc_f[:, e] drop_e k_e (the sign drops out of J^T J)
    jac = green[None, :, :] * (drops * k)[:, None, :] / noise  # (m, n_obs, E)
    return np.einsum("mie,mif->mef", jac, jac), drops * k


def _assignments(n: int) -> np.ndarray:
    """(M, n) int8: each of n driveable nodes floating (0), low (1) or high (2), at least
    one low and one high; every such pattern, or a fixed sample when there are many."""
    if 3**n <= _MAX_CANDIDATES:
        grid = np.indices((3,) * n).reshape(n, -1).T.astype(np.int8)
    else:
        grid = np.random.default_rng(14).integers(0, 3, (_MAX_CANDIDATES, n)).astype(np.int8)
    ok = (grid == 1).any(axis=1) & (grid == 2).any(axis=1)
    return grid[ok]


def _gauge_info(weight: np.ndarray) -> np.ndarray:
    """Information (E, E) before any read: 100 % relative sd on every conductance, and
    the one unobservable factor pinned on the code-weighted mean of log k (the codes'
    scale comes from the prior or integers, set by the edges that carry codes; a
    near-short's poorly known conductance must not spread onto every edge)."""
    u = weight / weight.sum()
    return _BIG * np.outer(u, u) + np.eye(len(weight))


def _adapt(
    cands: _Candidates,
    prior_info: np.ndarray,
    weight: np.ndarray,
    state: dict[int, float],
    used: int,
    start: dict[int, float],
    budget: int,
    shortlist: int = 200,
    limit: _Limit | None = None,
) -> tuple[list[tuple], np.ndarray]:
    """The adaptive round for one twin: greedily, the pattern (any candidate, or reading
    the current state again) that most lowers sum_e v_e^2 per DAQ transaction, v_e =
    w_e^2 cov_ee the code variances (so the worst edges lead), until ``budget`` (the
    restore to ``start`` included) is spent or no pattern helps. Each step ranks every
    candidate by the first-order change and evaluates the best ``shortlist`` exactly.
    ``prior_info`` (E, E) what the reads so far give, gauge pinned; ``weight`` (E,)
    codes per relative conductance change; ``limit`` (if any) also holds the state
    between a jump's two calls (the candidates themselves are within it). Returns
    ([("set", 0, 0.0, state), ...], the information (E, E) those reads add)."""
    if not len(cands.volts):
        return [], np.zeros_like(prior_info)
    info = prior_info.copy()
    w2 = weight**2
    restore = cands.restore_cost(start)

    def objective(m: np.ndarray) -> np.ndarray:
        var = np.diagonal(np.linalg.inv(m), axis1=-2, axis2=-1) * w2  # code^2
        return np.sum(var**2, axis=-1)

    now = float(objective(info))
    seq: list[tuple] = []
    while True:
        cost = cands.cost(state)
        idx = np.flatnonzero(used + cost + restore <= budget)
        if not len(idx):
            break
        cov = np.linalg.inv(info)
        var = np.diag(cov) * w2
        # d(sum v^2) = -2 sum_e v_e w_e^2 (C I C)_ee for a small added information I
        lead = (cov * (var * w2)[None, :]) @ cov  # C diag(v w^2) C
        first = cands.info[idx].reshape(len(idx), -1) @ lead.ravel()
        short = idx[np.argsort(-first / cost[idx])[:shortlist]]
        new = objective(info[None] + cands.info[short])
        gain = (np.log(now) - np.log(new)) / cost[short]
        if limit is not None:  # the state between the release and the drive
            for j in np.argsort(-gain):
                if gain[j] <= 1e-6 or limit.ok(cands.state(int(short[j])), state):
                    break
                gain[j] = -np.inf
        best = int(np.argmax(gain))
        if gain[best] <= 1e-6:
            break
        i = int(short[best])
        state = cands.state(i)
        seq.append(("set", 0, 0.0, dict(state)))
        info = info + cands.info[i]
        now, used = float(new[best]), used + int(cost[i])
    return seq, info - prior_info


# ----------------------------------------------------------------------------- bench
def measure(
    bench: Bench,
    k_design: np.ndarray,
    settings: TomographySettings = TomographySettings(),
    weight: np.ndarray | None = None,
    known: np.ndarray | None = None,
) -> tuple[list[tuple[str, dict[int, float], np.ndarray]], int]:
    """`_measure` without a digipot model (so no adaptive round): the reads and the DAQ
    transactions; ``known`` (E,) codes, the lowest the board's may be (a calibration;
    the bench check's tomographies: the power-up codes, later its fit lowered by the
    pulses since), hold every transaction to ``settings.max_current`` at them. Without
    ``known`` the design is NOT current-limited (docs/physics.md, section 6.2): every
    caller in lab/ passes it."""
    reads, calls, _ = _measure(bench, k_design, settings, weight, known=known,
                               limited=known is not None)  # fmt: skip
    return reads, calls


def _measure(
    bench: Bench,
    k_design: np.ndarray,
    settings: TomographySettings = TomographySettings(),
    weight: np.ndarray | None = None,
    model: DigipotModel | None = None,
    prior: np.ndarray | None = None,
    prior_sd: np.ndarray | float = 1.0,
    known: np.ndarray | None = None,
    limited: bool = True,
) -> tuple[list[tuple[str, dict[int, float], np.ndarray]], int, np.ndarray | None]:
    """Apply the designed patterns to both twins (clock idle), read every sensed node,
    restore the drive state found at the start. ``k_design`` (2, E) conductances the
    design assumes; ``weight`` (E,) codes per relative conductance change. With a
    ``model`` (and the resync's ``prior`` codes (E,) / ``prior_sd``, if any) the first
    round's codes are checked for trouble (`_trouble`) and, when there is some, the rest
    of the budget goes to the adaptive round (`_adapt`) instead of the ordinary one.

    Current limit: every state read, and the one between a jump's two calls, puts at
    most ``settings.max_current`` through every edge at conductances taken
    conservatively (`_limit_conductance`): ``known`` codes (a calibration) as they are,
    else the ``prior`` lowered by ``LIMIT_SD`` sd, else (nothing known) a blind round of
    ``BLIND_BUDGET`` transactions within `_blind_span` (safe at any codes)
    fitted first; after the first round the limit is re-planned on its fit
    (`_fit_limit`). The restore's intermediate state is a part of the start state.
    ``limited`` False: no current limit at all (`measure` without known codes).

    Returns the reads [(twin, driven {node: V}, sensed volts (n_sensed,))], the
    transactions and, when the adaptive round ran or the current limit bound some
    pattern (an edge it may take below the full span's current), the first round's
    conductances
    (2, E) (a further start for the final fit, refitted longer when bad: patterns
    around a near-short can leave the likelihood a second minimum), else None."""
    topo = Topology.of(bench.network)
    e = bench.network.n_edges
    weight = np.full(e, 64.0) if weight is None else weight
    limit_model = model if model is not None else DigipotModel.nominal(e)
    plans = [_TwinPlan.of(bench, twin, settings.inset) for twin in TWINS]
    starts = [bench.drive_state(twin) for twin in TWINS]
    chans = settings.channel_limits
    if chans is None:
        chans = channel_limits(bench)
    chan = [dict(chans.get(twin, {})) for twin in TWINS]
    # every move is one joint transaction set for both twins (`_execute`): each twin's
    # plan has the whole budget, and ``calls`` counts the joint transactions
    whole = settings.budget
    first = max(whole - whole * 2 // 5, 4)  # the rest is designed on the first round's fit
    if known is not None:
        k_limit = _limit_conductance(limit_model, known, 0.0)
    elif prior is not None:
        k_limit = _limit_conductance(limit_model, prior, prior_sd)
    else:
        k_limit = None
    if not limited:
        k_limit = np.zeros_like(k_design)  # nothing is held back
    blind = k_limit is None  # nothing known: the first round's patterns are scaled down
    rescue = known is not None  # known codes: what no modification fixes is scaled down
    reads: list[tuple[str, dict[int, float], np.ndarray]] = []
    calls = 0
    states = [dict(s) for s in starts]
    adapted = False

    def done() -> list[list[dict[int, float]]]:
        return [[d for tw, d, _ in reads if tw == TWINS[t]] for t in range(2)]

    def go_on(t: int, designer: _Designer, budget: int) -> list[tuple]:
        seen = done()[t]
        current = (states[t], calls, seen) if seen else None
        return _plan_twin(designer, starts[t], budget, current)

    try:
        if k_limit is None:  # nothing known: a blind round at a span safe at any codes
            blind_plans, designers = blind_designers(
                bench, topo, settings.inset, k_design, weight, settings.noise,
                settings.max_current, {tw: chan[t] for t, tw in enumerate(TWINS)},
            )  # fmt: skip
            blind_budget = min(BLIND_BUDGET, whole)
            seqs = [_plan_twin(designers[t], starts[t], blind_budget) for t in range(2)]
            calls = _execute(bench, blind_plans, seqs, states, reads, starts, blind_budget)
            blind_fits = fit_reads(bench, reads, k_design, settings.noise)
            k_limit = _floor_limit(blind_fits, limit_model)
        cap = max(first, calls + first // 2)
        # blind: a ramp, refitted every ``RAMP_STEP`` transactions, the limit re-planned
        # on each fit (`_ramp_limit`); else the first round in one go
        while True:
            limits = [_Limit(topo, k_limit[t], settings.max_current, chan[t]) for t in range(2)]
            designers = [
                _Designer(topo, plan, k_design[t], weight, settings.noise, limits[t],
                          blind, rescue)
                for t, plan in enumerate(plans)
            ]
            upto = min(cap, calls + RAMP_STEP) if blind else cap
            seqs = [go_on(t, designers[t], upto) for t in range(2)]
            got = _execute(bench, plans, seqs, states, reads, starts, whole - calls)
            calls += got
            fits = fit_reads(bench, reads, k_design, settings.noise)
            if not blind or upto >= cap or not got:
                break
            k_limit = _ramp_limit(topo, fits, limit_model, k_limit)
        if limited and known is None:  # known codes need no fit to be known
            k_fit_limit = _fit_limit(topo, fits, limit_model, prior, prior_sd, k_limit)
            if prior is None:
                k_limit = k_fit_limit
            elif k_fit_limit is not k_limit:
                # with a prior the fit may only add caution, and only where it finds a
                # near-short the prior does not (a lost tracker): a poorly seen edge's
                # wide sd must not bind the design
                mean = codes_from_fits(fits, limit_model, prior, prior_sd)[4]
                k_limit = np.where(
                    mean < NEAR_SHORT + 1, np.maximum(k_limit, k_fit_limit), k_limit
                )
        limits = [_Limit(topo, k_limit[t], settings.max_current, chan[t]) for t in range(2)]
        shorts = []
        if settings.adaptive and model is not None:
            shorts = _trouble(fits, model, prior, prior_sd)
        seen = done()
        seqs = []
        if shorts and all(seen):
            seqs = _adaptive_round(
                topo, plans, fits, k_design, _short_conductance(model), weight, settings, shorts,
                [(states[t], calls, seen[t]) for t in range(2)], starts, whole, limits,
                None if prior is None else np.broadcast_to(np.asarray(prior_sd, dtype=float), (e,)),
            )  # fmt: skip
            if seqs:
                adapted = True
                for t in range(2):
                    state, spent, mine = states[t], calls, list(seen[t])
                    for _, _, _, new in seqs[t]:
                        spent += _set_cost(state, new)
                        state = new
                        mine.append(new)
                    second = _Designer(
                        topo, plans[t], _design_k(fits[t], k_design[t]), weight,
                        settings.noise, limits[t], rescue=rescue,
                    )  # fmt: skip
                    seqs[t] = seqs[t] + _plan_twin(second, starts[t], whole, (state, spent, mine))
        if not seqs:
            for t in range(2):
                second = _Designer(
                    topo, plans[t], _design_k(fits[t], k_design[t]), weight, settings.noise,
                    limits[t], rescue=rescue,
                )  # fmt: skip
                seqs.append(go_on(t, second, whole))
        calls += _execute(bench, plans, seqs, states, reads, starts, whole - calls)
    except BaseException:
        _restore_after_error(bench, [p.twin for p in plans], starts)
        raise
    calls += _restore(bench, [p.twin for p in plans], states, starts)
    spans = [max(p.high[n] - p.low[n] for n in p.low) if p.low else 0.0 for p in plans]
    inc = np.abs(topo.incident).astype(float)  # a driven node's channel: its edges' sum
    bound = any(
        (lim.k * spans[t] > settings.max_current).any()
        or any(inc[n - 1] @ lim.k * spans[t] > amps for n, amps in chan[t].items())
        for t, lim in enumerate(limits)
    )
    return reads, calls, np.stack([f.conductance for f in fits]) if adapted or bound else None


#: transactions (both twins in each) between the refits of the ramp after the blind round
RAMP_STEP = 3


def _ramp_limit(
    topo: Topology, fits: tuple[TwinFit, TwinFit], model: DigipotModel, previous: np.ndarray
) -> np.ndarray:
    """(2, E) S: the limit during the ramp (no codes known): the codes' integer scale
    (`_fit_limit`) once the fit pins it (chi^2 within ``LIMIT_CHI2``, median code sd
    within ``RAMP_SD``), else the part floor on the most conductive edge
    (`_floor_limit`), never above ``previous``'s conductance on an edge it had at the
    floor's... (the floor is the one bound that holds at any codes)."""
    ok = all(np.isfinite(f.conductance).all() and f.chi2 <= LIMIT_CHI2 for f in fits)
    if ok:
        sd = codes_from_fits(fits, model)[2]
        if float(np.median(sd)) <= RAMP_SD:
            return _fit_limit(topo, fits, model, None, 1.0, previous)
    return _floor_limit(fits, model)


#: median code sd (code steps) below which the ramp trusts the codes' integer scale
RAMP_SD = 0.5
#: transactions of the blind round, both twins together (no codes known: every
#: pattern within `_blind_span`): enough equations for a first fit of twin16
BLIND_BUDGET = 16


def _design_k(fit: TwinFit, k_design: np.ndarray) -> np.ndarray:
    """(E,) S: a fit's conductances in the design's unit (``k_design`` when it failed)."""
    k_fit = fit.conductance if np.isfinite(fit.chi2) else k_design
    return k_fit * (k_design / k_fit).mean()


#: the relative sd within which the blind round's fit of an edge bounds its conductance
BLIND_TRUST = 0.1
#: a fit worse than this (chi^2 per dof, either twin) does not set the current limit
LIMIT_CHI2 = 5.0


def _floor_limit(fits: tuple[TwinFit, TwinFit], model: DigipotModel) -> np.ndarray:
    """(2, E) S: the limit's conductances from a fit with no code known (the blind
    round's): node voltages give the conductances only up to one factor per twin, and
    the one bound on it that holds at any codes is that no edge is below the part floor
    at code 0 (``WIPER_FLOOR`` Ohm). So the most conductive edge (at its fit less
    ``LIMIT_SD`` sd) is taken at that floor, and every edge at its fit plus ``LIMIT_SD``
    sd in that unit, none above the floor's conductance; an edge seen worse than
    ``BLIND_TRUST`` (or not at all) at the floor; a twin whose fit is worse than
    ``LIMIT_CHI2`` every edge at the floor."""
    floor = 1.0 / WIPER_FLOOR
    out = np.full(model.step.shape, floor)
    for t, f in enumerate(fits):
        if not f.chi2 <= LIMIT_CHI2:
            continue
        rel = np.where(np.isfinite(f.rel_sd), f.rel_sd, np.inf)
        # a blind fit can sit in a wrong basin (a near-short fitted as open, with a
        # linearised sd of 40 %): only an edge seen within ``BLIND_TRUST`` counts
        rel = np.where(rel <= BLIND_TRUST, rel, np.inf)
        k = np.where(np.isfinite(f.conductance), f.conductance, np.inf)
        low = k * np.clip(1.0 - LIMIT_SD * rel, 0.0, 1.0)
        if not np.isfinite(low).any() or np.nanmax(low[np.isfinite(low)]) <= 0:
            continue  # nothing seen well: every edge at the floor
        high = np.where(np.isfinite(rel), k * (1.0 + LIMIT_SD * rel), np.inf)
        unit = floor / np.max(low[np.isfinite(low)])
        out[t] = np.minimum(np.where(np.isfinite(high), high * unit, floor), floor)
    return out


def _fit_limit(
    topo: Topology,
    fits: tuple[TwinFit, TwinFit],
    model: DigipotModel,
    prior: np.ndarray | None,
    prior_sd: np.ndarray | float,
    previous: np.ndarray | None,
) -> np.ndarray:
    """(2, E) S: the limit's conductances from a fit: its combined codes lowered by
    ``LIMIT_SD`` sd (`_limit_conductance`), except that the edges from a near-short's
    ends to a common neighbour, seen only as a parallel sum, are each taken at that
    (fitted, part-floor) sum when that is lower (the conservative split); ``previous``
    (2, E) when the fit failed, disagrees with the ``prior`` at large (median gap above
    2 codes + 2 median sd), or either twin's chi^2 per dof exceeds ``LIMIT_CHI2`` (a
    first fit gone to a bad minimum puts codes anywhere), every code 0 when there is
    none."""
    ok = all(np.isfinite(f.conductance).all() and f.chi2 <= LIMIT_CHI2 for f in fits)
    if not ok:
        if previous is not None:
            return previous
        return _limit_conductance(model, np.zeros(model.step.shape[1]), 0.0)
    _, _, sd, _, mean = codes_from_fits(fits, model, prior, prior_sd)
    if prior is not None and previous is not None:
        gap = np.abs(mean - np.asarray(prior, dtype=float))
        if np.median(gap) > 2.0 + 2.0 * float(np.median(prior_sd)):
            return previous  # a fit this far from the prior at large is not one to trust
    k = _limit_conductance(model, mean, sd)
    k_at = _limit_conductance(model, mean, 0.0)  # (2, E) the fitted codes, part floor
    for pair in topo.parallel_pairs(np.flatnonzero(mean < NEAR_SHORT)):
        total = k_at[:, pair].sum(axis=1, keepdims=True)  # (2, 1)
        k[:, pair] = np.minimum(k[:, pair], total)
    return k


def _short_conductance(model: DigipotModel) -> np.ndarray:
    """(2, E) S: what a near-short is taken to conduct when currents are limited. Its
    fitted conductance is barely known (its drop is below the noise), so code 0 on a
    part whose wiper is half the model's (R_W 70 Ohm nominal: 35 Ohm, below the
    emulator's 40-100 Ohm and the AD5220's typical 40 Ohm, so the limit holds on the
    lowest part)."""
    return 2.0 * model.conductance(np.zeros(model.step.shape[1]))


#: a first-round code below this (code steps) flags a near-short (`_trouble`)
NEAR_SHORT = 2.0
#: at most this many near-shorts are taken as trouble (`_trouble`)
MAX_SHORTS = 2


def _trouble(
    fits: tuple[TwinFit, TwinFit],
    model: DigipotModel,
    prior: np.ndarray | None,
    prior_sd: np.ndarray | float,
) -> list[int]:
    """Edges (indices) the first round's fit puts below ``NEAR_SHORT`` codes: near-shorts,
    whose neighbours the ordinary design sees only as parallel sums, and those the
    ``prior`` puts there; [] when there are none or more than ``MAX_SHORTS``."""
    if not all(np.isfinite(f.conductance).all() for f in fits):
        return []
    mean = codes_from_fits(fits, model, prior, prior_sd)[4]
    shorts = {int(i) for i in np.flatnonzero(mean < NEAR_SHORT)}
    # more than MAX_SHORTS is a first fit gone wrong (e.g. a node's whole star fitted
    # stiff), not shorts: then only the prior's near-shorts count
    if len(shorts) > MAX_SHORTS:
        shorts = set()
    if prior is not None:
        shorts |= {int(i) for i in np.flatnonzero(np.asarray(prior) < NEAR_SHORT)}
    return sorted(shorts) if len(shorts) <= MAX_SHORTS else []


def _adaptive_round(
    topo: Topology,
    plans: list[_TwinPlan],
    fits: tuple[TwinFit, TwinFit],
    k_design: np.ndarray,
    k_short: np.ndarray,
    weight: np.ndarray,
    settings: TomographySettings,
    shorts: list[int],
    current: list[tuple[dict[int, float], int, list[dict[int, float]]]],
    starts: list[dict[int, float]],
    budget: int,
    limits: list[_Limit] | None = None,
    prior_sd: np.ndarray | None = None,
) -> list[list[tuple]]:
    """Both twins' adaptive rounds around the near-shorts ``shorts`` (edge indices).

    Candidates (`_Candidates`): per near-short, patterns of its ends and their neighbours
    (every other node floating), so only the trouble's neighbourhood is evaluated. The
    twins share the codes, so the design is joint: the information (on log k, the twins'
    conductances alike up to the +-2 % part mismatch) of both twins' reads so far is
    summed, twin 0's round is chosen on it (`_adapt`), then twin 1's on that plus twin
    0's choice; each within ``budget`` transactions from ``current[t]`` = (state,
    transactions used, states already read), the restore to ``starts[t]`` included.
    ``k_short`` (2, E) S, the conductance each near-short is assumed to have at least
    in the design; ``limits`` per twin, the conductances the candidates (and the state
    between a jump's calls) are held to ``settings.max_current`` at (`_fit_limit`: a
    near-short's neighbour pair each at the pair's fitted sum), by default the design's
    conductances with the near-shorts at ``k_short``.
    Returns both twins' sequences, or [] when either twin has no candidate."""
    e = topo.network.n_edges
    ks, ws, infos, cands = [], [], [], []
    for t, plan in enumerate(plans):
        k_fit = fits[t].conductance if np.isfinite(fits[t].chi2) else k_design[t]
        # in the design's unit (the median: robust to an edge fitted as open), and
        # within what a digipot can be (a few reads can leave a node's star unscaled)
        k_fit = k_fit * np.median(k_design[t] / k_fit)
        k_fit = np.clip(k_fit, k_design[t].min() / 3, k_design[t].max() * 1e3)
        if prior_sd is not None:
            # an edge the first round sees worse than the prior (a near-short's neighbour
            # pair, fitted a factor of 3 apart either way) is designed at the prior's
            # conductance (``k_design``): the round is for that edge's split, and at the
            # wrong conductance its information comes out a factor of 10 off
            seen_sd = fits[t].rel_sd * weight * k_design[t] / k_fit  # code steps
            k_fit = np.where(~(seen_sd <= prior_sd), k_design[t], k_fit)
        # codes per relative change at the fitted conductances; a near-short's code
        # hardly moves with its conductance (R_W is 0.1 code step)
        ws.append(np.maximum(weight * k_design[t] / k_fit, 0.1))
        k_fit[shorts] = np.maximum(k_fit[shorts], k_short[t][shorts])
        ks.append(k_fit)
        info = np.zeros((e, e))
        for d in current[t][2]:
            nodes = np.array(list(d), dtype=int)
            got = _read_info(topo, plan.sensed, k_fit, nodes, [list(d.values())], settings.noise)
            if got is not None:
                info = info + got[0][0]
        infos.append(info)
        parts = []
        for i in shorts:
            ends = {int(x) + 1 for x in topo.network.edges[i]}
            near = set(ends)
            for n in ends:
                near |= {int(m) + 1 for m in np.flatnonzero(topo.neighbours[n - 1])}
            k_lim = k_fit if limits is None else limits[t].k
            parts.append(
                _Candidates.of(
                    topo, plan, k_fit, settings.noise, settings.max_current, near, True, k_lim,
                    {i}, None if limits is None else limits[t].channel,
                )
            )
        cands.append(_Candidates.merge(parts, e))
    if not all(len(c.volts) for c in cands):
        return []
    w = np.sqrt((ws[0] ** 2 + ws[1] ** 2) / 2)
    known = _gauge_info(w) + infos[0] + infos[1]
    # the aim leaves out the near-shorts' own codes: below ``NEAR_SHORT`` their code is
    # told by a one-sided bound the linearised variance does not see (a relative sd of
    # hundreds is still code 0), and counting it spends the round on the short itself
    aim = w.copy()
    aim[shorts] = 0.0
    seqs = []
    for t in range(2):
        state, used, _ = current[t]
        cap = min(budget, used + ADAPT_BUDGET)
        limit = None if limits is None else limits[t]
        seq, added = _adapt(cands[t], known, aim, state, used, starts[t], cap, limit=limit)
        seqs.append(seq)
        known = known + added
    return seqs


#: transactions the adaptive round may take (both twins in each); the ordinary design
#: spends the rest. Mapped over 5 boards x 8 states (`bench/bench_estimator.py --only
#: tomo --states 8`, resyncs passing): 6 -> 36, 12 -> 35, 18 -> 35 of 40
ADAPT_BUDGET = 6


def _set_cost(current: dict[int, float], new: dict[int, float]) -> int:
    """DAQ transactions of a "set" move from ``current`` to ``new``, its read included."""
    release = any(n not in new for n in current)
    drive = any(current.get(n) != v for n, v in new.items())
    return int(release) + int(drive) + 1


def _joint_restore_cost(states: list[dict[int, float]], starts: list[dict[int, float]]) -> int:
    """DAQ transactions of both twins' return to their ``starts`` (`_restore`)."""
    calls = [_restore_calls(state, start) for state, start in zip(states, starts, strict=True)]
    return int(any(c[0] for c in calls)) + int(any(c[1] for c in calls))


def _execute(
    bench: Bench,
    plans: list[_TwinPlan],
    seqs: list[list[tuple]],
    states: list[dict[int, float]],
    reads: list[tuple[str, dict[int, float], np.ndarray]],
    starts: list[dict[int, float]] | None = None,
    budget: int | None = None,
) -> int:
    """Run both twins' sequences in lockstep, reading after every move; ``states`` and
    ``reads`` are updated in place (so a failure leaves them right for the restore).
    Each lockstep move is at most three DAQ transactions for both twins together
    (`Bench.release_twins`, `Bench.drive_twins`, `Bench.sense_twins`); with a ``budget``
    the sequences stop where the next move and the return to ``starts`` would exceed it
    (the twins' own plans may differ in kind, so together they may cost more than each).
    Returns the DAQ transactions made."""
    calls = 0
    for i in range(max((len(s) for s in seqs), default=0)):
        active = [t for t in range(len(plans)) if i < len(seqs[t])]
        news = {t: seqs[t][i][3] for t in active}
        gone = {t: tuple(n for n in states[t] if n not in news[t]) for t in active}
        drives = {
            t: {n: v for n, v in news[t].items() if states[t].get(n) != v} for t in active
        }
        cost = int(any(gone.values())) + int(any(drives.values())) + 1
        if budget is not None:
            after = [news.get(t, states[t]) for t in range(len(plans))]
            if calls + cost + _joint_restore_cost(after, starts) > budget:
                break
        if any(gone.values()):
            bench.release_twins([(plans[t].twin, gone[t]) for t in active if gone[t]])
            calls += 1
            for t in active:
                states[t] = {n: v for n, v in states[t].items() if n in news[t]}
        if any(drives.values()):
            bench.drive_twins([
                (plans[t].twin, tuple(d), np.array(list(d.values())))
                for t, d in drives.items() if d
            ])  # fmt: skip
            calls += 1
        for t in active:
            states[t] = dict(news[t])
        volts = bench.sense_twins([(plans[t].twin, plans[t].sensed) for t in active])
        calls += 1
        for t, v in zip(active, volts, strict=True):
            reads.append((plans[t].twin, dict(news[t]), v))
    return calls


def _restore(
    bench: Bench, twins: list[Twin], states: list[dict[int, float]],
    starts: list[dict[int, float]],
) -> int:
    """Both twins back to their ``starts``: release what a start did not drive, drive
    what it did, each one DAQ call for both twins. Returns calls."""
    calls = 0
    gone = [(tw, tuple(n for n in cur if n not in st))
            for tw, cur, st in zip(twins, states, starts, strict=True)]  # fmt: skip
    gone = [(tw, nodes) for tw, nodes in gone if nodes]
    if gone:
        bench.release_twins(gone)
        calls += 1
    drive = [(tw, tuple(st), np.array([st[n] for n in st]))
             for tw, cur, st in zip(twins, states, starts, strict=True)
             if _restore_calls(cur, st)[1]]  # fmt: skip
    if drive:
        bench.drive_twins(drive)
        calls += 1
    return calls


def _restore_after_error(bench: Bench, twins: list[Twin], starts: list[dict[int, float]]) -> None:
    """Both twins back to their ``starts`` after a tomography call raised, whatever the
    bookkeeping says: a DAQ may have acted on a write or release and then raised (a
    transport error), leaving ``states`` and `Bench.drive_state` stale. Every drive channel
    of ``twins`` that a start does not drive is released, and every start is driven
    again (`_restore` from an unknown state); an error of its own is logged, so that the
    caller re-raises the first one."""
    unknown = [{ch.node: float("nan") for ch in bench.channels
                if ch.kind == "drive" and ch.twin == tw} for tw in twins]  # fmt: skip
    try:
        _restore(bench, twins, unknown, starts)
    except Exception:  # the bench's safe state follows; the first error is the one to report
        log.debug("the drive state could not be restored after an error", exc_info=True)


def fit_reads(
    bench: Bench,
    reads: list[tuple[str, dict[int, float], np.ndarray]],
    k0: np.ndarray,
    noise: float,
    starts: tuple[np.ndarray, ...] = (),
    refit: bool = False,
) -> tuple[TwinFit, TwinFit]:
    """Both twins' fits from the reads of `measure`; ``k0`` (2, E) starting conductances,
    ``starts`` further (2, E) starts and ``refit`` for the refinement (`fit_twin`)."""
    topo = Topology.of(bench.network)
    fits = []
    for t, twin in enumerate(TWINS):
        sensed = tuple(
            sorted(ch.node for ch in bench.channels if ch.kind == "sense" and ch.twin == twin)
        )
        mine = [
            (driven, dict(zip(sensed, volts.tolist(), strict=True)))
            for tw, driven, volts in reads
            if tw == twin
        ]
        fits.append(fit_twin(topo, mine, k0[t], noise, tuple(x[t] for x in starts), refit))
    return fits[0], fits[1]


def tomography(
    bench: Bench,
    model: DigipotModel,
    prior: np.ndarray | None = None,
    prior_sd: np.ndarray | float = 1.0,
    settings: TomographySettings = TomographySettings(),
) -> TomographyResult:
    """Resync: measure both twins (within every limit, clock idle, drive state restored)
    and estimate every code. ``prior`` (E,) codes (e.g. the tracker's) fix the common
    scale, and the answer (``codes``, ``code_sd``, ``code_mean``) is the fit and the prior
    together (`with_prior`); without one the scale comes from integrality (module
    docstring)."""
    t0 = time.perf_counter()
    guess = np.full(bench.network.n_edges, 64) if prior is None else np.asarray(prior)
    k_design = model.conductance(guess)
    weight = np.maximum(model.resistance(guess).mean(axis=0) / model.step.mean(axis=0), 1.0)
    reads, calls, first = _measure(bench, k_design, settings, weight, model, prior, prior_sd)
    starts = () if first is None else (first,)
    fits = fit_reads(bench, reads, k_design, settings.noise, starts, first is not None)
    codes, code_float, sd, scale, mean = codes_from_fits(fits, model, prior, prior_sd)
    if prior is not None and _suspect(fits, mean, sd, prior, prior_sd):
        # a bad minimum: refitted longer from the prior's conductances, the better kept
        again = _refit_from(bench, reads, fits, k_design, settings.noise)
        if again is not fits:
            fits = again
            codes, code_float, sd, scale, mean = codes_from_fits(fits, model, prior, prior_sd)
    labels = bench.network.edge_labels()
    reason = _unsound(fits, scale, model, labels)
    if not reason and prior is None:  # with a prior, `with_prior` fills what is unseen
        reason = _unresolved(fits, scale, code_float, sd, model, labels)
    ok = not reason
    if not ok and prior is not None:  # not adopted: the prior stands
        codes = np.clip(np.rint(np.asarray(prior, dtype=float)), 0, TOP).astype(np.int16)
        sd = np.broadcast_to(np.asarray(prior_sd, dtype=float), codes.shape).copy()
    elif prior is not None:  # the resync's answer: the fit and the prior together
        mean, sd = with_prior(mean, sd, prior, prior_sd)
        codes = np.clip(np.rint(mean), 0, TOP).astype(np.int16)
    return TomographyResult(
        codes, code_float, sd, scale, fits, calls, time.perf_counter() - t0, reads, mean, ok,
        reason,
    )


#: a fitted code further than ``PRIOR_GATE`` combined sd from the prior's is not averaged
#: with it (`with_prior`): there the prior is taken as wrong (a lost tracker's)
PRIOR_GATE = 3.0


def with_prior(
    mean: np.ndarray, sd: np.ndarray, prior: np.ndarray, prior_sd: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sd) (E,) code steps: each edge's fitted code ``mean`` / ``sd`` and the
    ``prior``'s (the tracker's codes and sd) as two Gaussian measurements of one code,
    averaged by their variances, where they agree within ``PRIOR_GATE`` combined sd;
    elsewhere the fit alone (a lost tracker's prior must not pull the resync). Next to a
    near-short, where the fit sees an edge to a few codes, this halves the worst errors
    (bench/bench_estimator.py --only tomo --states 8: worst edge 4.98 -> 1.40 code steps on
    board 2 state 5)."""
    m = np.asarray(mean, dtype=float)
    v = np.maximum(np.asarray(sd, dtype=float), 1e-6) ** 2
    p = np.asarray(prior, dtype=float)
    w = np.maximum(np.broadcast_to(np.asarray(prior_sd, dtype=float), m.shape), 1e-6) ** 2
    agree = np.abs(m - p) <= PRIOR_GATE * np.sqrt(v + w)
    post_v = 1.0 / (1.0 / v + 1.0 / w)
    post_m = post_v * (m / v + p / w)
    out_m = np.clip(np.where(agree, post_m, m), 0.0, float(TOP))
    return out_m, np.sqrt(np.where(agree, post_v, v))


#: a fit off the prior by more than ``SUSPECT_SD`` combined sd on at least
#: ``SUSPECT_EDGES`` edges, or with chi^2 per dof above ``SUSPECT_CHI2``, is suspect
#: (`_suspect`): refitted from the prior's conductances
SUSPECT_SD = 4.0
SUSPECT_EDGES = 3
SUSPECT_CHI2 = 3.0
#: a fit is not sound (`_sound`) with chi^2 per dof above ``BAD_CHI2`` or a code more than
#: ``BAD_SD`` sd + ``BAD_MARGIN`` codes outside 0..127 on the twin that sees it best
BAD_CHI2 = 10.0
BAD_SD = 4.0
BAD_MARGIN = 2.0


def _suspect(
    fits: tuple[TwinFit, TwinFit],
    mean: np.ndarray,
    sd: np.ndarray,
    prior: np.ndarray,
    prior_sd: np.ndarray | float,
) -> bool:
    """Whether the final fit looks like a bad minimum: off the ``prior`` (E,) codes by
    more than ``SUSPECT_SD`` combined sd (``sd`` (E,) and ``prior_sd``) on
    ``SUSPECT_EDGES`` edges or more, or either twin's chi^2 per dof above
    ``SUSPECT_CHI2`` (the noise gives ~1)."""
    if not all(np.isfinite(f.chi2) and f.chi2 <= SUSPECT_CHI2 for f in fits):
        return True
    gap = np.abs(np.asarray(mean, dtype=float) - np.asarray(prior, dtype=float))
    width = np.sqrt(np.asarray(sd, dtype=float) ** 2 + np.asarray(prior_sd, dtype=float) ** 2)
    return int(np.sum(~(gap <= SUSPECT_SD * width))) >= SUSPECT_EDGES


def _refit_from(
    bench: Bench,
    reads: list[tuple[str, dict[int, float], np.ndarray]],
    fits: tuple[TwinFit, TwinFit],
    k_start: np.ndarray,
    noise: float,
) -> tuple[TwinFit, TwinFit]:
    """Each twin's likelihood refitted for ``REFIT_ITERATIONS`` from ``k_start`` (2, E)
    (the prior's conductances); per twin the lower chi^2 of that and ``fits`` kept.
    Returns ``fits`` itself when neither refit is better."""
    topo = Topology.of(bench.network)
    out, changed = list(fits), False
    for t, twin in enumerate(TWINS):
        sensed = tuple(
            sorted(ch.node for ch in bench.channels if ch.kind == "sense" and ch.twin == twin)
        )
        mine = [(d, dict(zip(sensed, v.tolist(), strict=True))) for tw, d, v in reads if tw == twin]
        x = np.asarray(k_start[t], dtype=float)
        if not mine or not (np.isfinite(x).all() and (x > 0).all()):
            continue
        try:
            got = _refine(topo, mine, x / np.exp(np.mean(np.log(x))), noise, REFIT_ITERATIONS)
        except np.linalg.LinAlgError:
            continue
        if np.isfinite(got[2]) and not got[2] >= fits[t].chi2:
            out[t], changed = TwinFit(*got), True
    return (out[0], out[1]) if changed else fits


def _sound(fits: tuple[TwinFit, TwinFit], scale: np.ndarray, model: DigipotModel) -> bool:
    """Whether a fit may be adopted (`_unsound` finds nothing)."""
    return not _unsound(fits, scale, model)


def _unsound(
    fits: tuple[TwinFit, TwinFit],
    scale: np.ndarray,
    model: DigipotModel,
    labels: list[str] | None = None,
) -> str:
    """Why a fit may not be adopted, "" if it may: finite, both twins' chi^2 per dof
    within ``BAD_CHI2``, and on every edge the code of the twin that sees it best (the
    smaller sd) within ``BAD_SD`` sd + ``BAD_MARGIN`` codes of 0..127 (unclipped: a fit
    in a bad minimum puts codes at thousands). ``labels`` (E,) name the edges (default:
    their index)."""
    if not all(np.isfinite(f.chi2) and f.chi2 <= BAD_CHI2 for f in fits):
        chi2 = max(f.chi2 for f in fits)
        return f"chi^2 per dof {chi2:.3g} (the noise gives ~1; above {BAD_CHI2:g} not sound)"
    k = np.stack([f.conductance for f in fits])
    if not (np.isfinite(k).all() and (k > 0).all() and np.isfinite(scale).all()):
        return "a conductance or the scale non-finite or not positive"
    raw = scale[:, None] / (k * model.step) - model.r_wiper / model.step  # (2, E) codes
    sd = np.abs(scale[:, None] / (k * model.step)) * np.stack([f.rel_sd for f in fits])
    sd = np.where(np.isfinite(sd), sd, np.inf)
    best = np.argmin(sd, axis=0)
    cols = np.arange(k.shape[1])
    c, s = raw[best, cols], sd[best, cols]
    room = BAD_SD * s + BAD_MARGIN
    out = ~(np.isfinite(c) & (c >= -room) & (c <= TOP + room))
    if out.any():
        e = int(np.flatnonzero(out)[0])
        name = labels[e] if labels else str(e)
        return f"edge {name}'s code {c[e]:.4g} +- {s[e]:.2g} far outside 0..{TOP}"
    return ""


#: without a prior a fit is not resolved (`_unresolved`) with an edge's combined code sd
#: above ``UNRESOLVED_SD`` code steps, or with the twins' codes apart by a chi^2 per edge
#: above ``TWIN_CHI2``, each twin's code variance taken with ``TWIN_FLOOR`` code steps
#: of the model's own error per part added
UNRESOLVED_SD = 5.0
TWIN_CHI2 = 4.0
TWIN_FLOOR = 0.25


def _unresolved(
    fits: tuple[TwinFit, TwinFit],
    scale: np.ndarray,
    code_float: np.ndarray,
    code_sd: np.ndarray,
    model: DigipotModel,
    labels: list[str] | None = None,
) -> str:
    """Why a fit without a prior does not fix the codes, "" if it does. ``code_float``
    (2, E) and ``code_sd`` (E,) code steps as `codes_from_fits` gives them (no prior);
    ``labels`` (E,) name the edges (default: their index).

    - An edge with ``code_sd`` above ``UNRESOLVED_SD``: its code is a range of tens of
      codes (a near-short's neighbour pair is seen only as its parallel sum), and without
      a prior nothing fills it in (`with_prior` does with one).
    - The twins apart: their parts hold the same code on every edge, so with the right
      common scale their codes agree within their sd (+ ``TWIN_FLOOR`` per twin: the
      wiper modelled at one value, 40-100 Ohm per part, and the calibrated step at the
      top codes). A chi^2 per edge both twins see above ``TWIN_CHI2`` says the integer
      scan aligned them on a wrong scale (the noise gives ~1)."""
    sd = np.asarray(code_sd, dtype=float)
    wide = ~(sd <= UNRESOLVED_SD)
    if wide.any():
        e = int(np.argmax(np.where(np.isfinite(sd), sd, np.inf)))
        name = labels[e] if labels else str(e)
        return (f"no prior and {int(wide.sum())} edge(s) unresolved: edge {name}'s code sd "
                f"{sd[e]:.3g} code steps (above {UNRESOLVED_SD:g})")  # fmt: skip
    k = np.stack([f.conductance for f in fits])
    rel = np.stack([f.rel_sd for f in fits])
    twin_sd = np.abs(scale[:, None] / (k * model.step)) * rel  # (2, E) code steps
    var = twin_sd**2 + TWIN_FLOOR**2
    with np.errstate(invalid="ignore", divide="ignore"):
        z2 = (code_float[0] - code_float[1]) ** 2 / (var[0] + var[1])
    both = np.isfinite(z2)
    if both.any():
        chi2 = float(np.mean(z2[both]))
        if chi2 > TWIN_CHI2:
            return (f"no prior and the twins' codes apart: chi^2 per edge {chi2:.3g} "
                    f"(above {TWIN_CHI2:g}: a twin's scale, or its fit, wrong)")  # fmt: skip
    return ""


def calibrate(
    bench: Bench,
    codes: np.ndarray | int = 64,
    settings: TomographySettings = TomographySettings(budget=120),
    model: DigipotModel | None = None,
) -> tuple[DigipotModel, TomographyResult]:
    """Each part's step resistance from a tomography at known ``codes`` (default 64, the
    power-up state): method 4 of the module docstring. Returns the model and the
    measurement (its ``codes`` are the known ones)."""
    e = bench.network.n_edges
    known = np.broadcast_to(np.asarray(codes, dtype=float), (e,))
    base = model or DigipotModel.nominal(e)
    t0 = time.perf_counter()
    k_design = base.conductance(known)
    reads, calls = measure(bench, k_design, settings, np.maximum(known, 1.0), known)
    fits = fit_reads(bench, reads, k_design, settings.noise)
    step = np.empty((2, e))
    rw = base.r_wiper
    for t, f in enumerate(fits):
        inv_k = 1.0 / f.conductance
        # g = (lambda / k - R_W) / code with lambda such that mean g is nominal
        nominal = base.step[t].mean()
        c = np.maximum(known, 1.0)
        lam = (nominal + rw * np.mean(1.0 / c)) / np.mean(inv_k / c)
        step[t] = (lam * inv_k - rw) / c
    calibrated = DigipotModel(step, rw)
    sd = np.sqrt(np.sum(np.stack([known * f.rel_sd for f in fits]) ** 2, axis=0) / 4)
    result = TomographyResult(
        known.astype(np.int16).copy(),
        np.stack([known, known]),
        sd,
        np.ones(2),
        fits,
        calls,
        time.perf_counter() - t0,
        reads,
    )
    return calibrated, result
