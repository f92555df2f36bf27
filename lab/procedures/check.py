"""The first-day bench check (``twinlab check``): headless, through the HAL only.

Sections, in order (each needs the ones before it; a failed section stops the rest,
except that a channel map the check can explain is corrected and the rest runs on it,
a dead channel is left out and the rest runs on the others, and an open or shorted
edge is left out of the clock and bias sections, so that every other fault is still
found; a skipped item ``not checked`` says what each section could not check):

1. ``identify``: the DAQ's and the clock board's identity strings.
2. ``channels``: every drive output of both twins at a base level (0 V clipped into its
   limits), one at a time stepped by ``test_volts``; every sense input read. A drive
   channel must move exactly the sense channel of its own node (twin and node) by more
   than half the step. No response at all is a dead drive (its node, floating, still
   follows its neighbours a little); an input that never moves is a dead sense channel;
   two channels answering for each other's nodes are a swapped pair (drive-drive and
   sense-sense swaps look alike here; the tomography of each explanation decides: the
   right one fits Kirchhoff's law, chi^2 ~ 1).
   ``start codes`` (an item of the tomography section, `blind_round` and
   `power_up_verdict`): before anything above the safe span, a blind round within
   `lab.observe.tomography._blind_span`, every drive channel held by
   `lab.observe.tomography.blind_load` (both safe at any codes) must find every judged
   edge's conductance within ``1 + PART_SPREAD + BLIND_SIGMAS * rel_sd`` of its twin's
   median (the spread of a power-up board: the +-2 % part mismatch, and the round's own
   sd); otherwise (a board trained since power-up: an edge at code 0 is 35-100 Ohm, and
   limits at code 64 would let 130-150 mA through it) the check stops there, one FAIL
   line, nothing more applied (``CheckSettings.start_codes``: other codes known).
3. ``tomography`` (`lab.observe.tomography.measure` and ``fit_reads``, clock idle): each
   twin's conductances up to one factor; an edge below 1/``open_ratio`` of the median
   conductance is open, above ``open_ratio`` times it shorted (or at code 0); twin
   mismatch: the twins' median-normalised conductances differing beyond ``mismatch``.
   Codes come from the conductances through the nominal digipot model with the common
   factor set so that the median code is ``initial_code`` (64 at power-up): node
   voltages cannot see that factor, so every code figure is relative to it. A twin whose
   reads leave some conductances fixed only in combination (a node without a drive
   channel: `_unseen`) is fitted with those held at the other twin's fit
   (`_fit_with_reference`); those edges are judged on the other twin alone.
4. ``clock``: at p = 1 every enabled edge steps each pulse, up if |dV_C| + sigma >
   |dV_F|, else down (sigma in [0, sigma_max]). Node voltages cannot see every code
   moving alike (one common factor), so the check uses a pair of boundary conditions
   (F, C), predicted on the measured conductances, that sends some edges up and the
   others down with a ``margin`` beyond both thresholds, then the same pair with the
   twins exchanged, which reverses every edge: ``pulses`` pulses each, so the board
   ends where it started. A tomography after each half measures every edge's
   displacement in codes, the codes' level and each tomography's common factor fitted
   (`clock_fit`); an edge the first half pushes into a rail (code 127 or 0) moves less
   and is "at a rail" (a passing item), one that a half moved more than ``pulses`` / 2
   codes from every move it could make is stuck; the end state must be the start
   within one code (at a rail: where it could end). The per-pulse tracker
   (`lab.observe.tracking.Tracker`) runs alongside; its agreement with the planned
   moves is a figure, not a verdict.
   An open or shorted edge (no measurable conductance change: its moves are invisible)
   is left out of the patterns' score, the offset and the verdicts, and named.
5. ``bias``: ``bias_pulses`` pulses at each of two p values (the bench calibration's
   bias), the first under the first half's patterns, the second under the other
   (going back). Each stepping edge moves Binomial(m, p) codes in its known direction
   d_e, so with the codes c0 before and c1 after (each tomography's common factor fixed
   by its median), c1 s - c0 = d p m is fitted by least squares for p and the factor s
   between the two tomographies; it passes within ``p_tolerance`` (or
   3 binomial standard errors) of the calibration. The board does not end exactly where
   it started here (a random walk of about sqrt(2 m p (1 - p)) codes per edge).

Every voltage is checked against the channel limits before anything is written
(`plan` raises `ConfigError` when the limits leave no room for the test voltages, or
hold the channel-map step below what the read noise lets it see, `min_step`); the
bench goes to its safe state at the end, on an error and on a stop signal (a stop
records the section it cut short and those not run, `CheckReport.stop_at`, and the
clock pulses sent so far, `CheckReport.pulses_sent`).

Currents (the bench's ``[currents]`` limits, `lab.hal.currents`). Before the tomography
the codes are unknown, so the channel-map step is held to what the worst case allows
(`safe_step`): every edge at code 0 of a part at the wiper floor
(`lab.observe.model.WIPER_FLOOR`, 35 Ohm), so that no edge carries more than
``step / 35 Ohm`` and no channel more than its node's degree times that (every node's
voltage lies between the driven ones), each within its limit. The tomography holds its
patterns to the edge limit itself (`TomographySettings.max_current`, set from the
bench) at the start codes, which the blind round vouched for first (above). The clock and bias
patterns are checked at the tomography's fit (each code on the lowest part,
`DigipotModel.lowest`) before they are applied; one that would exceed a limit fails the
section and is not applied. The JSON has each section's largest predicted current
(``max_current_a``, A).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np

from lab.core.learning import SIGMA_MAX
from lab.errors import ConfigError
from lab.hal import (
    DRIVES_NOTHING,
    TWINS,
    Bench,
    Channel,
    LimitError,
    Twin,
    predict_currents,
)
from lab.hal import channel_what as _what
from lab.observe.model import (
    NOMINAL_STEP,
    R_WIPER,
    TOP,
    WIPER_FLOOR,
    DigipotModel,
    Topology,
)
from lab.observe.requirements import check_supports_estimation
from lab.observe.tomography import (
    LIMIT_CHI2,
    TomographySettings,
    TwinFit,
    _blind_span,
    _Designer,
    _execute,
    _plan_twin,
    _restore,
    _restore_after_error,
    _TwinPlan,
    bench_limited,
    blind_designers,
    channel_limits,
    fit_reads,
    measure,
    planned_rel_sd,
)
from lab.observe.tracking import Tracker, TrackerSettings

Pattern = dict[int, float]  # {node label: volts} of one twin


@dataclass(frozen=True)
class CheckSettings:
    """``test_volts``: the channel-map step, V; ``pulses``: per half of the clock check;
    ``bias_p``: the two p values of the bias check, ``bias_pulses`` pulses each;
    ``margin``: V beyond sigma_max (and beyond 0) the predicted drops keep;
    ``open_ratio``: conductance ratio to the median that is open (1/x shorted);
    ``mismatch``: relative twin mismatch allowed (an edge fails when its measured
    mismatch exceeds it by more than `MISMATCH_SIGMAS` of its own sd); ``p_tolerance``: absolute;
    ``inset``: fraction of each channel's span kept inside its limits;
    ``candidates``: random patterns per search; ``seed``: of that search;
    ``tomography_budget``: DAQ transactions per tomography (twice that when a dead
    channel is left out; a second round of as many when the patterns leave some
    conductances fixed only in combination, `_tomography`); ``initial_code``: the
    codes' common level assumed at the start (node voltages cannot see it; the AD5220
    powers up at midscale, 64); ``start_codes``: (E,) the board's codes at the start
    when they are known otherwise (None: the power-up codes, every one
    ``initial_code``); the blind round must find the board consistent with them
    (`power_up_verdict`), else nothing above the safe span is applied."""

    test_volts: float = 0.5
    pulses: int = 3
    bias_p: tuple[float, float] = (0.5, 0.25)
    bias_pulses: int = 12
    margin: float = 0.03
    open_ratio: float = 20.0
    mismatch: float = 0.1
    p_tolerance: float = 0.1
    inset: float = 0.01
    candidates: int = 300
    seed: int = 0
    initial_code: int = 64
    tomography_budget: int = 40
    start_codes: tuple[int, ...] | None = None


# ----------------------------------------------------------------------------- faults
#: The kinds of `CheckFault` (the JSON's ``items[].faults[].kind``): one constant each.
NO_IDENTITY = "no-identity"  # an instrument gave no identity string
DEAD_DRIVE = "dead-drive-channel"  # a drive channel moves no sensed node
DEAD_SENSE = "dead-sense-channel"  # a sense channel never moves
SWAPPED = "swapped-channels"  # two nodes' drive (or sense) channels swapped
MISWIRED = "miswired-channel"  # a drive channel reaches nodes no swap explains
BAD_FIT = "bad-fit"  # node voltages that do not fit the network (wiring, channel map)
NOT_AT_START = "not-at-start-codes"  # the blind round: the board moved since power-up
BLIND_COARSE = "blind-round-coarse"  # the blind round too coarse to vouch for the codes
OPEN_EDGE = "open-edge"  # conductance below 1/open_ratio of the median
SHORTED_EDGE = "shorted-edge"  # above open_ratio x the median, and no clock move
TWIN_MISMATCH = "twin-mismatch"  # the twins' conductances differ beyond ``mismatch``
#: How many of its sd an edge's twin mismatch must exceed ``mismatch`` by to fail (a
#: false alarm on a good edge about 1 in 700 per edge, one-sided).
MISMATCH_SIGMAS = 3.0

#: The unit of every figure of the JSON that has one (``figures.<section>.<key>``; a key
#: ending in ``_a``, ``_ohm`` or ``_volts`` says its own too); the JSON carries it as
#: ``units``. A ratio is "1".
FIGURE_UNITS: dict[str, str] = {
    "channels.test_volts": "V",
    "channels.response": "1: each sense input's move over the drive channel's step",
    "channels.max_current_a": "A", "channels.max_channel_current_a": "A",
    "power_up.ratio_to_median": "1", "power_up.tolerance": "1: relative (-1: not judged)",
    "power_up.worst_score": "1: the worst edge's misfit over its tolerance (pass <= 1)",
    "tomography.resistance_ohm": "Ohm", "tomography.nominal_ohm": "Ohm",
    "tomography.codes": "code", "tomography.twin_mismatch": "1: relative",
    "tomography.twin_mismatch_sd": "1: relative", "tomography.max_current_a": "A",
    "clock.score_volts": "V: the worst edge's margin past the rule's thresholds, both ways",
    "clock.level_code": "code", "clock.tomography_moves": "code",
    "clock.possible_moves": "code", "clock.end_minus_start": "code", "clock.end_sd": "code",
    "clock.move_sd": "code", "clock.tracker_agreement": "1: fraction",
    "clock.max_current_a": "A", "clock.patterns": "V by node label",
    "bias.bias_volts": "V", "bias.p": "1: probability", "bias.expected": "1: probability",
    "bias.measured": "1: probability", "bias.tolerance": "1: absolute, on p",
    "bias.moves": "code", "bias.max_current_a": "A", "final.codes": "code",
}  # fmt: skip
NO_PATTERNS = "no-clock-patterns"  # no clock patterns fit the limits
OVER_LIMIT = "over-current-limit"  # a section's patterns would exceed a current limit
STUCK_EDGE = "stuck-edge"  # an edge that did not step under the clock
NOT_BACK = "not-back-at-start"  # an edge that did not end where the clock started it
BIAS_OFF = "bias-off"  # p measured away from the calibration's
NOT_CHECKED = "not-checked"  # a skipped item: what the check could not check
FAULT_KINDS = (NO_IDENTITY, DEAD_DRIVE, DEAD_SENSE, SWAPPED, MISWIRED, BAD_FIT,
               NOT_AT_START, BLIND_COARSE, OPEN_EDGE, SHORTED_EDGE, TWIN_MISMATCH,
               NO_PATTERNS, OVER_LIMIT, STUCK_EDGE, NOT_BACK, BIAS_OFF, NOT_CHECKED)  # fmt: skip


@dataclass(frozen=True)
class CheckFault:
    """One fault an item names, for a script: ``kind`` (one of `FAULT_KINDS`);
    ``twin`` ("free", "clamped", None: not one twin's); ``channels``: the bench file's
    channel names; ``nodes``: node labels on ``twin``; ``edges``: edge labels ("I-J");
    ``reached``: the sensed nodes a miswired drive channel moved ("twin:node", as
    ``figures.channels.cols``); ``detail``: the sentence (the table's)."""

    kind: str
    detail: str
    twin: Twin | None = None
    channels: tuple[str, ...] = ()
    nodes: tuple[int, ...] = ()
    edges: tuple[str, ...] = ()
    reached: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: every field, always present (lists, never missing)."""
        return {"kind": self.kind, "twin": self.twin, "channels": list(self.channels),
                "nodes": list(self.nodes), "edges": list(self.edges),
                "reached": list(self.reached), "detail": self.detail}  # fmt: skip


@dataclass
class Item:
    """One line of the table: ``section``, ``name``, ``ok`` (None: not run), ``figure``
    (short text), ``detail`` (what failed, naming channels, nodes or edges), ``faults``
    (the same, one `CheckFault` each: empty when it passed; a skipped item's default is one
    `NOT_CHECKED` of its ``detail``, `CheckReport.add`); ``info``: a row that states what
    the check found rather than judging it (``ok`` True; the table's ``info``, its
    ``detail`` the action)."""

    section: str
    name: str
    ok: bool | None
    figure: str = ""
    detail: str = ""
    faults: list[CheckFault] = field(default_factory=list)
    info: bool = False


#: The check's sections, in order (`run_check`; module docstring).
SECTIONS = ("identify", "channels", "tomography", "clock", "bias")


@dataclass
class CheckReport:
    """Every item and every figure (``data``, JSON-able); ``passed`` when every item that
    ran passed and none was skipped. On a stop (``should_stop``): ``cut_short``, the
    section it came in, ``not_run`` the sections after it; ``pulses_sent`` counts the
    clock pulses the check sent (each moves a code by at most one), stopped or not."""

    items: list[Item] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    unsafe: list[str] = field(default_factory=list)
    cut_short: str | None = None
    not_run: list[str] = field(default_factory=list)
    pulses_sent: int = 0
    #: the section running (`_sections` sets it): the one a stop cuts short
    running: str = SECTIONS[0]

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(i.ok is True for i in self.items)

    @property
    def stopped(self) -> bool:
        """A stop came before the check's end (some section cut short)."""
        return self.cut_short is not None

    def stop_at(self, section: str) -> None:
        """Record a stop during ``section``: a skipped item for it and for each section
        after it (``not run``)."""
        self.cut_short = section
        self.not_run = list(SECTIONS[SECTIONS.index(section) + 1:])
        self.add(section, "cut short", None, "stopped",
                 f"stopped during the {section} section, before its end")  # fmt: skip
        for later in self.not_run:
            self.add(later, "not run", None, "stopped", "stopped before it")

    def verdict(self) -> str:
        """The table's last line: PASS, FAIL, or STOPPED naming the signal
        (``data["stopped_by"]``), the section cut short and those not run."""
        if not self.stopped:
            return "bench check: " + ("PASS" if self.passed else "FAIL")
        by = self.data.get("stopped_by")
        failed = "FAIL, then " if any(i.ok is False for i in self.items) else ""
        rest = f"; {', '.join(self.not_run)} not run" if self.not_run else ""
        return (f"bench check: {failed}STOPPED{f' by {by}' if by else ''} during "
                f"{self.cut_short} (cut short){rest}")  # fmt: skip

    def where_left(self) -> str | None:
        """Where the check left the digipots, a clause for the power-cycle note (None:
        it sent no clock pulse): the bias section's end (the largest code away from the
        start, clock and bias moves summed), the clock section's, or, stopped part-way,
        the bound the pulses set."""
        if not self.pulses_sent:
            return None
        clock = self.data.get("clock") or {}
        moved = np.array([np.nan if v is None else v
                          for v in clock.get("end_minus_start", [])], dtype=float)  # fmt: skip
        bias = [b["moves"] for b in self.data.get("bias") or []]
        for moves in bias:
            moved = moved + np.array([np.nan if v is None else v for v in moves], dtype=float)
        worst = float(np.nanmax(np.abs(moved))) if np.isfinite(moved).any() else 0.0
        if self.cut_short in ("clock", "bias"):  # measured so far, and the pulses since
            since = self.pulses_sent - 2 * clock.get("pulses", 0) - sum(
                b["pulses"] for b in self.data.get("bias") or [])
            return (f"up to {worst + since:.0f} code(s) from where it found them (stopped "
                    f"part-way through the {self.cut_short} section; {since} pulse(s) since "
                    "the last tomography, each moving a code by one at most)")  # fmt: skip
        if bias:
            return (f"where the bias section moved them, up to {worst:.0f} code(s) from "
                    "where it found them (the JSON's figures.bias.moves)")
        return (f"where the clock section left them, up to {worst:.1f} code(s) from where "
                "it found them (the JSON's figures.clock.end_minus_start)")

    def add(self, section: str, name: str, ok: bool | None, figure: str = "",
            detail: str = "", faults: list[CheckFault] | None = None,
            info: bool = False) -> Item:  # fmt: skip
        """Add an item; ``faults`` what it names when it does not pass (none when it
        passes; a skipped item without them: one `NOT_CHECKED` of ``detail``); ``info``:
        `Item.info` (it passes). An item of a section already in the report goes after
        that section's last item: a section's rows stay together."""
        if info:
            ok = True
        if ok is True:
            faults = []
        elif faults is None:
            faults = [CheckFault(NOT_CHECKED, detail)] if ok is None else []
        item = Item(section, name, ok, figure, detail, list(faults), info)
        mine = [n for n, i in enumerate(self.items) if i.section == section]
        self.items.insert(mine[-1] + 1 if mine else len(self.items), item)
        return item

    def failures(self) -> list[str]:
        """One line per failed or skipped item."""
        return [f"{i.section}: {i.name}: {i.detail or i.figure}" for i in self.items
                if i.ok is not True]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The JSON: every item (``detail`` and ``faults``, `CheckFault.to_dict`, only where
        it did not pass: they say what failed, as the table does), the figures and the
        unsafe lines."""
        failed = any(i.ok is False for i in self.items)
        return {
            "passed": None if self.stopped and not failed else self.passed,
            "cut_short": self.cut_short,
            "not_run": list(self.not_run),
            "pulses_sent": self.pulses_sent,
            "items": [{"section": i.section, "name": i.name, "ok": i.ok, "info": i.info,
                       "figure": i.figure,
                       "detail": i.detail if i.ok is not True or i.info else "",
                       "faults": [f.to_dict() for f in i.faults] if i.ok is not True else []}
                      for i in self.items],
            "figures": self.data,
            "units": {k: u for k, u in FIGURE_UNITS.items() if k.split(".")[0] in self.data},
            "unsafe": list(self.unsafe),
        }

    def table(self) -> str:
        """The terminal table: section, check, PASS/FAIL/skip/info, figure; details below."""
        rows = [("section", "check", "result", "figure")]
        for i in self.items:
            word = "info" if i.info else {True: "PASS", False: "FAIL", None: "skip"}[i.ok]
            rows.append((i.section, i.name, word, i.figure))
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
            for r in rows
        ]
        for i in self.items:
            if (i.ok is not True or i.info) and i.detail:
                lines.append(f"  {i.section} {i.name}: {i.detail}")
        lines.append(self.verdict())
        return "\n".join(lines)


# ----------------------------------------------------------------------------- planning
def _span(ch: Channel, inset: float) -> tuple[float, float]:
    lo, hi = ch.limits
    m = inset * (hi - lo)
    return lo + m, hi - m


def channel_levels(ch: Channel, volts: float, inset: float) -> tuple[float, float] | None:
    """(base, test) V of a drive channel for the channel-map check: base 0 V clipped into
    its inset limits, test ``volts`` above (or below) it; None if neither fits."""
    lo, hi = _span(ch, inset)
    base = min(max(0.0, lo), hi)
    if base + volts <= hi:
        return base, base + volts
    if base - volts >= lo:
        return base, base - volts
    return None


def _degrees(bench: Bench) -> np.ndarray:
    """(N,) how many edges meet at each node (index: node label - 1)."""
    network = bench.network
    return np.bincount(network.edges.ravel(), minlength=network.n_nodes)


def channel_step_bound(bench: Bench) -> tuple[float, str | None]:
    """The largest channel-map step, V, that keeps every drive channel within its current
    limit when every edge is at the wiper floor (`WIPER_FLOOR` Ohm: the codes are not
    known yet): a stepped node's channel carries its degree times step / 35 Ohm (every
    other node held), so limit x 35 Ohm / degree; with the channel that sets it (None: no
    drive channel meets an edge)."""
    degree = _degrees(bench)
    bounds = [(bench.currents.channel_limit(ch.name) * WIPER_FLOOR / degree[ch.node - 1], ch.name)
              for ch in bench.channels if ch.kind == "drive" and degree[ch.node - 1]]
    return min(bounds) if bounds else (float("inf"), None)


def safe_step(bench: Bench, settings: CheckSettings) -> float:
    """The channel-map step, V: ``settings.test_volts``, lowered so that with every edge
    at the wiper floor (`WIPER_FLOOR` Ohm, code 0: the codes are not known yet) no edge
    carries more than the bench's edge limit and no stepped node's channel more than its
    own limit (`channel_step_bound`: 35 mV at 5 mA on a node of degree 5)."""
    return min(settings.test_volts, bench.currents.edge * WIPER_FLOOR,
               channel_step_bound(bench)[0])


MAX_REPEATS = 16  # reads averaged per channel-map state, at most
READ_NOISE = TomographySettings().noise  # V rms of one read: what the check assumes
MAP_SIGMAS = 5.0  # the channel map's half step, in its response's noise sd, at least


def _repeats(settings: CheckSettings, step: float) -> int:
    """Reads averaged per channel-map state: as many as keep the 0.5 V step's
    signal-to-noise ratio at a smaller ``step`` (at most `MAX_REPEATS`)."""
    return int(min(MAX_REPEATS, max(1, np.ceil((settings.test_volts / step) ** 2 - 1e-9))))


def min_step() -> float:
    """The smallest channel-map step, V, the check can read (1.77 mV). A response is the
    difference of two means of at most `MAX_REPEATS` reads, noise sqrt(2 / 16) x
    `READ_NOISE` (0.18 mV rms); the map decides "reaches" at half the step (`hit`: a
    reached node moves by the step, another by 0), so the half step must be
    `MAP_SIGMAS` (5) of those sd: one false reach in ~3e6 decisions (a 16 x 16 map has 256)."""
    return 2.0 * MAP_SIGMAS * READ_NOISE * np.sqrt(2.0 / MAX_REPEATS)


@dataclass
class _Channels:
    """The bench's channels by twin: drive and sense node labels, and the channels."""

    drive: dict[Twin, dict[int, Channel]]
    sense: dict[Twin, dict[int, Channel]]

    @classmethod
    def of(cls, channels: list[Channel] | tuple[Channel, ...]) -> _Channels:
        drive: dict[Twin, dict[int, Channel]] = {t: {} for t in TWINS}
        sense: dict[Twin, dict[int, Channel]] = {t: {} for t in TWINS}
        for ch in channels:
            (drive if ch.kind == "drive" else sense)[ch.twin][ch.node] = ch
        return cls(drive, sense)


def _candidates(bench: Bench, k: np.ndarray, settings: CheckSettings) -> tuple[list, np.ndarray]:
    """Random boundary conditions: [(nodes, volts)] with their drops (2, M, E), V, in
    each twin's conductances ``k`` (2, E); each leaves >= 2 sensed nodes floating."""
    rng = np.random.default_rng(settings.seed)
    chans = _Channels.of(list(bench.channels))
    common = sorted(set(chans.drive["free"]) & set(chans.drive["clamped"]))
    spans = {n: (_span(chans.drive["free"][n], settings.inset),
                 _span(chans.drive["clamped"][n], settings.inset)) for n in common}  # fmt: skip
    sensed = set(chans.sense["free"]) & set(chans.sense["clamped"])
    net = bench.network
    patterns, drops = [], []
    if len(common) < 2:
        return [], np.zeros((2, 0, net.n_edges))
    for _ in range(settings.candidates):
        size = int(rng.integers(2, max(3, len(common) - 1)))
        nodes = sorted(rng.choice(common, size=min(size, len(common)), replace=False).tolist())
        if len(sensed - set(nodes)) < 2:
            continue
        ends = rng.integers(0, 2, len(nodes))
        if ends.min() == ends.max():
            ends[0] = 1 - ends[0]
        # both twins' spans: the level must suit either twin (the pair is exchanged)
        volts = [max(spans[n][0][0], spans[n][1][0]) if e == 0 else
                 min(spans[n][0][1], spans[n][1][1]) for n, e in zip(nodes, ends, strict=True)]
        fixed = dict(zip(nodes, volts, strict=True))
        patterns.append(fixed)
        drops.append([net.drops(net.solve(k[t], fixed)) for t in range(2)])
    return patterns, np.transpose(np.asarray(drops), (1, 0, 2))


def clock_patterns(
    bench: Bench, k: np.ndarray, settings: CheckSettings, use: np.ndarray | None = None
) -> tuple[Pattern, Pattern, np.ndarray, float] | None:
    """(F, C, direction (E,) int8 of the first half, score V): the pair of patterns for the
    clock check (module docstring, 4) on conductances ``k`` (2, E); None if no candidate
    keeps every edge's drops ``margin`` beyond the rule's thresholds both ways. ``use``
    (E,) bool: the edges the check can observe (default all); the others (open, or
    unseen by a tomography) are left out of the score and may move either way."""
    patterns, d = _candidates(bench, k, settings)
    if not patterns:
        return None
    if use is not None:
        d = d[:, :, use]
    a = np.abs(d)  # (2, M, E)
    g1 = a[0][:, None, :] - a[1][None, :, :]  # (F, C, E): |dF| - |dC| with F free, C clamped
    g2 = a[0][None, :, :] - a[1][:, None, :]  # exchanged: C on the free twin, F clamped
    hi = SIGMA_MAX + settings.margin
    m = settings.margin
    up = np.minimum(-g1 - m, g2 - hi)  # first half up, second down
    down = np.minimum(g1 - hi, -g2 - m)
    score_e = np.maximum(up, down)
    score = score_e.min(axis=2)
    ups = (up > down).sum(axis=2)
    e = d.shape[2]
    score = np.where((ups > 0) & (ups < e), score, -np.inf)  # both directions present
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    if not np.isfinite(score[i, j]) or score[i, j] <= 0:
        return None
    direction = np.where(up[i, j] > down[i, j], 1, -1).astype(np.int8)
    if use is not None:  # the unobserved edges' direction is not known: 0
        full = np.zeros(len(use), dtype=np.int8)
        full[use] = direction
        direction = full
    return patterns[i], patterns[j], direction, float(score[i, j])


def _channel_item(bench: Bench, ch: Channel) -> int | None:
    """The 1-based ``[[channels]]`` entry of the bench file that gave ``ch`` its limits;
    None when there is none (one ``limits`` pair for every channel, the emulator bench's)."""
    entries = bench.config.get("channels")
    if isinstance(entries, list):
        for item, entry in enumerate(entries, start=1):
            if isinstance(entry, dict) and entry.get("name") == ch.name:
                return item
    return None


def _limits_field(bench: Bench, *channels: Channel) -> str:
    """The bench file field that gave ``channels`` their limits, as the lines of bad bench
    files name it: ``'channels', item n, entry 'limits'`` (``items n, m, ...`` for several
    ``[[channels]]`` entries), else ``'limits'`` (the emulator bench's one pair)."""
    items = [i for i in (_channel_item(bench, ch) for ch in channels) if i is not None]
    if not items:
        return "'limits'"
    if len(items) == 1:
        return f"'channels', item {items[0]}, entry 'limits'"
    return f"'channels', items {', '.join(map(str, items))}, entry 'limits'"


def _bias_fields(bench: Bench) -> tuple[str, str]:
    """(the bench file field of the bias limits, that of the calibration), as a line
    names them: ``'bias.limits'`` and ``'calibration'`` (an instruments bench), else the
    ``[emulator]`` table that sets both (the emulated board's oscillators)."""
    if not isinstance(bench.config.get("bias"), dict):
        return ("'emulator' (its osc_high + 0.5 V is the top of the bias limits)",
                "'emulator' (its oscillators)")  # fmt: skip
    calibration = bench.config.get("calibration")
    cal = f"'calibration' (the file {calibration!r})" if isinstance(calibration, str) else (
        "'calibration'")
    return "'bias.limits'", cal


#: The widest common range of the drive channels, V, `_clock_range_needed` tries.
CLOCK_RANGE_MAX = 20.0


def _clock_range_needed(bench: Bench, settings: CheckSettings, k: np.ndarray) -> float | None:
    """The least width, V (to 1 %), of a common range of every drive channel (both twins,
    from the lowest low limit they share) in which `clock_patterns` finds a pair on
    conductances ``k`` (2, E); None if not even `CLOCK_RANGE_MAX` does."""
    drives = [ch for ch in bench.channels if ch.kind == "drive"]
    low = max(ch.limits[0] for ch in drives)

    def fits(width: float) -> bool:
        wide = [replace(ch, limits=(low, low + width)) if ch.kind == "drive" else ch
                for ch in bench.channels]  # fmt: skip
        return clock_patterns(_with_channels(bench, wide), k, settings) is not None

    if not fits(CLOCK_RANGE_MAX):
        return None
    lo, hi = 0.0, CLOCK_RANGE_MAX
    while hi - lo > 0.01 * hi:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def plan(bench: Bench, settings: CheckSettings = CheckSettings(),
         where: str | None = None) -> None:  # fmt: skip
    """Refuse (`ConfigError`, one line) a bench the check cannot run on, before anything
    is applied: too few channels, a channel-map step the edge limit holds below
    `min_step`, a drive channel with no room for the test step, an edge limit that holds
    the blind round too small to vouch for the codes (`blind_tolerance`, beyond
    ``PLAN_MARGIN`` x ``MAX_TOLERANCE``), limits that allow no clock patterns, or a bias
    outside the bias limits. Each bench refusal names the bench file field to change and
    what to give (where the edge limit is the cause, one that does for every step), after
    ``where`` (the bench file's path, when given: ``"B.toml: check: ..."``)."""
    if settings.pulses < 1 or settings.bias_pulses < 1:
        raise ConfigError("check: pulses and bias pulses must be >= 1")
    room = min(settings.initial_code, TOP - settings.initial_code)
    if settings.start_codes is None and settings.pulses > room:
        # from the power-up codes every edge would reach a rail, and the check could not
        # see any step the rest (known start codes: the rails are judged, `clock_fit`)
        raise ConfigError(
            f"check: pulses = {settings.pulses} would step every code from "
            f"{settings.initial_code} past a rail (0..{TOP}): give at most {room}"
        )
    try:
        _refuse_bench(bench, settings)
    except ConfigError as err:  # every bench refusal names the file, in this one place
        if where is None:
            raise
        raise ConfigError(f"{where}: {err}") from None


def _refuse_bench(bench: Bench, settings: CheckSettings) -> None:
    """`plan`'s refusals of the bench (its file's fields), without the file's path."""
    why = check_supports_estimation(bench)
    if why is not None:
        raise ConfigError(f"check: the bench cannot support the estimator: {why}")
    step = safe_step(bench, settings)
    least = min_step()
    if step < least * (1 - 1e-9):
        bound, channel = channel_step_bound(bench)
        if step < settings.test_volts and step == bound:  # a channel's limit lowered it
            limit = bench.currents.channel_limit(channel)
            own = channel in bench.currents.channels
            field = f"'currents.channels', key {channel!r}" if own else "'currents.channel'"
            degree = round(limit * WIPER_FLOOR / bound)
            what = (f"bench file field {field} = {limit * 1e3:g} mA allows a channel-map "
                    f"step of only {step * 1e3:.3g} mV (channel {channel!r}: its node's "
                    f"{degree} edges at code 0, {WIPER_FLOOR:g} Ohm each)")
            fix = f"give it >= {least / WIPER_FLOOR * degree * 1e3:.3g} mA"
        elif step < settings.test_volts:  # the edge limit lowered it (`safe_step`)
            what = (f"bench file field 'currents.edge' = {bench.currents.edge * 1e3:g} mA "
                    f"allows a channel-map step of only {step * 1e3:.3g} mV (an edge at "
                    f"code 0, {WIPER_FLOOR:g} Ohm)")
            # the blind round (below) needs far more (about 1 mA against 0.05 mA): the
            # limit named does for both
            fix = float(np.nanmax([least / WIPER_FLOOR, _edge_limit_needed(bench, settings)]))
            fix = f"give currents.edge >= {fix * 1e3:.3g} mA"
        else:
            what = f"the check's test_volts {step * 1e3:.3g} mV"
            fix = f"give test_volts >= {least * 1e3:.3g} mV"
        raise ConfigError(
            f"check: {what}, below the {least * 1e3:.3g} mV the check needs to see a "
            f"channel move ({MAP_SIGMAS:g} x the noise of its {MAX_REPEATS}-read averaged "
            f"response each side of half the step, {READ_NOISE * 1e3:g} mV rms per read); {fix}"
        )
    for ch in bench.channels:
        if ch.kind == "drive" and channel_levels(ch, step, settings.inset) is None:
            lo, hi = ch.limits
            raise ConfigError(
                f"check: bench file field {_limits_field(bench, ch)} = [{lo:g}, {hi:g}] V "
                f"(channel {ch.name!r}, {ch.twin} twin node {ch.node}) leaves no room for "
                f"the check's {step:g} V test step"
            )
    bases = [channel_levels(ch, step, settings.inset) for ch in bench.channels
             if ch.kind == "drive"]
    spread = max(b[0] for b in bases if b) - min(b[0] for b in bases if b) if bases else 0.0
    bound = channel_step_bound(bench)[0]
    if spread + step > min(bench.currents.edge * WIPER_FLOOR, bound) * (1 + 1e-9):
        which = ("edge current limit", "'currents.edge'")
        if bound < bench.currents.edge * WIPER_FLOOR:
            which = ("channel current limits", "'currents.channel'")
        raise ConfigError(
            f"check: the drive channels' base levels are {spread:g} V apart (0 V clipped "
            "into each channel's limits): with the edges at code 0 "
            f"({WIPER_FLOOR:g} Ohm) that is more than the bench's {which[0]} allow "
            f"(bench file field {which[1]}); give every drive channel limits that include 0 V"
        )
    # after the channels' room (a window narrower than the blind span is theirs to fix)
    span = _blind_span(DigipotModel.nominal(bench.network.n_edges), bench.currents.edge)
    for twin in TWINS:
        twin_plan = _TwinPlan.of(bench, twin, settings.inset)
        if len(twin_plan.narrowed(span).low) < 2:
            drives = [ch for ch in bench.channels if ch.kind == "drive" and ch.twin == twin]
            a, b = twin_plan.window(span)
            raise ConfigError(
                f"check: bench file field {_limits_field(bench, *drives)} (the {twin} "
                f"twin's drive channels): fewer than two contain the blind round's "
                f"{span * 1e3:.3g} mV window [{a:.4g}, {b:.4g}] V (about the middle of their "
                f"common range, each inset by {100 * settings.inset:g} % of its span): give "
                "at least two of them limits that contain it"
            )
    coarse = blind_tolerance(bench, settings)
    if not coarse <= PLAN_MARGIN * MAX_TOLERANCE:
        need = _edge_limit_needed(bench, settings)
        raise ConfigError(
            f"check: bench file field 'currents.edge' = {bench.currents.edge * 1e3:g} mA "
            f"holds the blind round to {span * 1e3:.3g} mV (an edge at code 0, "
            f"{WIPER_FLOOR:g} Ohm, may carry no more), where it would "
            + (f"fix the conductances only to +-{100 * coarse:.3g} % (median; "
               if np.isfinite(coarse) else "leave most edges' conductances unfixed (")
            + f"the check needs +-{100 * MAX_TOLERANCE:g} % to vouch for the board's codes); give "
            + (f"currents.edge of about {need * 1e3:.2g} mA or more" if np.isfinite(need)
               else "a larger currents.edge")
        )
    e = bench.network.n_edges
    k = DigipotModel.nominal(e).conductance(np.full(e, 64))
    if clock_patterns(bench, k, settings) is None:
        drives = [ch for ch in bench.channels if ch.kind == "drive"]
        lo, hi = max(ch.limits[0] for ch in drives), min(ch.limits[1] for ch in drives)
        need = _clock_range_needed(bench, settings, k)
        fix = (f"a common range at least {need:.2g} V wide" if need is not None
               else "a wider common range")
        raise ConfigError(
            f"check: bench file field {_limits_field(bench, *drives)} (the drive channels "
            f"of both twins) = [{lo:g}, {hi:g}] V leaves no room for the clock check's test "
            f"voltages (every edge's drops {SIGMA_MAX + settings.margin:g} V apart between "
            f"the twins): give the drive channels of both twins {fix}"
        )
    ps = (1.0, *settings.bias_p)
    volts = [float(bench.calibration.volts_for(p)) for p in ps]
    for p, v in zip(ps, volts, strict=True):
        if v not in bench.bias_limits:  # NaN too
            limits_field, cal_field = _bias_fields(bench)
            lo, hi = bench.bias_limits
            raise ConfigError(
                f"check: bench file field {limits_field} = [{lo:g}, {hi:g}] V leaves out the "
                f"bias {v:.4g} V that field {cal_field} sets for p = {p:g} (the check "
                f"biases p = {', '.join(f'{q:g}' for q in ps)}): give it a range that contains "
                f"[{min(volts):.4g}, {max(volts):.4g}] V, or recalibrate"
            )


# ----------------------------------------------------------------------------- helpers
class _Stopped(Exception):
    """``should_stop`` said stop (a stop signal): end the check between two steps."""


def _stop_point(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise _Stopped


def _apply(bench: Bench, twin: Twin, pattern: Pattern) -> None:
    """Drive ``twin`` at ``pattern`` exactly: release what it does not name."""
    now = bench.drive_state(twin)
    gone = tuple(n for n in now if n not in pattern)
    if gone:
        bench.release(twin, gone)
    if pattern and any(now.get(n) != v for n, v in pattern.items()):
        nodes = tuple(pattern)
        bench.drive(twin, nodes, np.array([pattern[n] for n in nodes]))


def _with_channels(bench: Bench, channels: list[Channel]) -> Bench:
    """The same instruments under another channel map (a corrected one)."""
    return Bench(network=bench.network, daq=bench.daq, bias=bench.bias, clock=bench.clock,
                 channels=channels, calibration=bench.calibration, probe=None,
                 bias_limits=bench.bias_limits, config=bench.config,
                 rule=bench.rule, currents=bench.currents)  # fmt: skip


def _digits(value: float, digits: int = 2) -> str:
    """``value`` to ``digits`` significant digits, never in exponent notation (an sd of
    0.02 % reads 0.02, not 0.0)."""
    return np.format_float_positional(value, precision=digits, unique=False,
                                      fractional=False, trim="-")


def _edge_faults(kind: str, detail: str, labels: list[str], mask: np.ndarray,
                 twin: Twin | None = None) -> list[CheckFault]:  # fmt: skip
    """One `CheckFault` of ``kind`` naming the edges ``mask`` (E,) bool, [] if none."""
    if not np.any(mask):
        return []
    return [CheckFault(kind, detail, twin, edges=tuple(labels[i] for i in np.flatnonzero(mask)))]


# ----------------------------------------------------------------------------- sections
def check_channels(bench: Bench, settings: CheckSettings, report: CheckReport,
                   should_stop: Callable[[], bool] | None = None) -> list[list[Channel]]:
    """Section 2. Returns the channel maps that explain what was seen (the bench's own
    first when it is right; several when a swap could be either kind), [] if none."""
    chans = _Channels.of(list(bench.channels))
    test_volts = safe_step(bench, settings)
    levels = {(t, n): channel_levels(ch, test_volts, settings.inset)
              for t in TWINS for n, ch in chans.drive[t].items()}  # fmt: skip
    base = {t: {n: levels[t, n][0] for n in chans.drive[t]} for t in TWINS}  # type: ignore[index]
    sensed = {t: tuple(sorted(chans.sense[t])) for t in TWINS}
    cols = [(t, n) for t in TWINS for n in sensed[t]]

    repeats = _repeats(settings, test_volts)

    def read() -> np.ndarray:
        return np.mean([np.concatenate([bench.sense(t, sensed[t]) for t in TWINS if sensed[t]])
                        for _ in range(repeats)], axis=0)

    for t in TWINS:
        _apply(bench, t, base[t])
    baseline = read()
    rows = [(t, n) for t in TWINS for n in sorted(chans.drive[t])]
    response = np.zeros((len(rows), len(cols)))
    step = np.zeros(len(rows))
    for r, (t, n) in enumerate(rows):
        _stop_point(should_stop)
        b, v = levels[t, n]  # type: ignore[misc]
        bench.drive(t, (n,), np.array([v]))
        response[r] = read() - baseline
        bench.drive(t, (n,), np.array([b]))
        step[r] = v - b
    for t in TWINS:
        bench.release(t, tuple(base[t]))
    rel = response / step[:, None]  # 1 where a drive reaches a sense channel's node
    hit = rel > 0.5
    # a tenth of the step, and above the column's own noise: a dead input reads
    # pick-up (5 mV rms on the rehearsal bench, 10x a live one), which a step held low by
    # the current limits (35 mV) would otherwise see as a faint reach; the noise is the
    # column's median response (a drive moves its own node's input only, the rest hold)
    noise_sd = 1.4826 * np.median(np.abs(response), axis=0)
    faint = (np.abs(rel) > 0.1) & (np.abs(response) > MAP_SIGMAS * noise_sd[None, :])
    col_of = {key: i for i, key in enumerate(cols)}
    problems: list[CheckFault] = []
    dead_sense = [c for c in range(len(cols)) if not faint[:, c].any()]
    dead_drive = [r for r, key in enumerate(rows) if not hit[r].any()
                  and col_of.get(key) is not None and col_of[key] not in dead_sense]
    floating = [col_of[rows[r]] for r in dead_drive]  # undriven: follows its neighbours
    hit[:, floating] = False
    moved = {}
    for r, key in enumerate(rows):
        c = col_of.get(key)
        got = np.flatnonzero(hit[r])
        if r in dead_drive or (c is not None and c in dead_sense):
            continue
        if c is None or got.tolist() != [c]:
            moved[r] = [cols[g] for g in got]
    map_list = list(bench.channels)
    fixed = list(map_list)
    for c in dead_sense:
        ch = chans.sense[cols[c][0]][cols[c][1]]
        problems.append(CheckFault(DEAD_SENSE, f"{_what(ch)} reads nothing (dead or not wired)",
                              ch.twin, (ch.name,), (ch.node,)))
        fixed.remove(ch)
    for r in dead_drive:
        ch = chans.drive[rows[r][0]][rows[r][1]]
        problems.append(CheckFault(DEAD_DRIVE, f"{_what(ch)} {DRIVES_NOTHING}",
                              ch.twin, (ch.name,), (ch.node,)))
        fixed.remove(ch)
    explanations: list[list[Channel]] = []
    done: set[int] = set()
    unexplained: list[CheckFault] = []
    for r, got in moved.items():
        if r in done:
            continue
        partner = next((q for q, g in moved.items() if q != r and q not in done
                        and g == [rows[r]] and got == [rows[q]]), None)  # fmt: skip
        if partner is None:
            ch = chans.drive[rows[r][0]][rows[r][1]]
            reached = ", ".join(f"{t} twin node {n}" for t, n in got) or "no sensed node"
            unexplained.append(CheckFault(MISWIRED, f"{_what(ch)} reaches {reached}", ch.twin,
                                     (ch.name,), (ch.node,),
                                     reached=tuple(f"{t}:{n}" for t, n in got)))
            continue
        done |= {r, partner}
        da, db = (chans.drive[rows[x][0]][rows[x][1]] for x in (r, partner))
        sa, sb = chans.sense[da.twin][da.node], chans.sense[db.twin][db.node]
        problems.append(CheckFault(
            SWAPPED,
            f"{da.twin} twin nodes {da.node} and {db.node} are swapped: drive channels "
            f"{da.name!r}, {db.name!r} or sense channels {sa.name!r}, {sb.name!r} reach "
            "each other's nodes",
            da.twin, (da.name, db.name, sa.name, sb.name), (da.node, db.node),
        ))
        explanations.append([("drive", da, db), ("sense", sa, sb)])  # type: ignore[list-item]
    problems += unexplained
    report.data["channels"] = {
        "rows": [f"{t}:{n}" for t, n in rows], "cols": [f"{t}:{n}" for t, n in cols],
        "response": np.round(rel, 4).tolist(),
        "dead": [f.detail for f in problems if f.kind in (DEAD_DRIVE, DEAD_SENSE)],
        "problems": [f.detail for f in problems],
        "test_volts": test_volts, "reads_averaged": repeats,
        # worst case (codes unknown): an edge at code 0 on the wiper floor across the step
        # and the base levels' spread (every node lies between the driven voltages)
        "max_current_a": _spread(levels) / WIPER_FLOOR,
        # the same worst case on each drive channel (its node's degree edges at once)
        "max_channel_current_a": _spread(levels) / WIPER_FLOOR * int(max(
            (_degrees(bench)[n - 1] for t in TWINS for n in chans.drive[t]), default=0)),
    }  # fmt: skip
    report.add("channels", "channel map", not problems,
               f"{len(rows)} outputs x {len(cols)} inputs, {len(problems)} problem(s)",
               "; ".join(f.detail for f in problems), problems)  # fmt: skip
    if unexplained:
        return []
    maps = [fixed]
    for options in explanations:  # every combination of the swaps' two readings
        new_maps = []
        for m in maps:
            for _, a, b in options:  # type: ignore[misc]
                swapped = [replace(c, node=b.node, twin=b.twin) if c is a else
                           replace(c, node=a.node, twin=a.twin) if c is b else c for c in m]
                new_maps.append(swapped)
        maps = new_maps
    return maps


def _spread(levels: dict[tuple[str, int], tuple[float, float] | None]) -> float:
    """The widest voltage difference, V, between any two drive levels of the channel map."""
    values = [v for pair in levels.values() if pair for v in pair]
    return max(values) - min(values) if values else 0.0


def _max_current(bench: Bench, resistance: np.ndarray,
                 states: list[tuple[int, dict[int, float]]]) -> float:  # fmt: skip
    """The largest predicted edge current, A, of drive ``states`` [(twin index, {node:
    V})] at ``resistance`` (2, E) Ohm (by the one solver, `lab.hal.predict_currents`)."""
    worst = 0.0
    for t, state in states:
        if state:
            edge = predict_currents(bench.network, resistance[t], state).edge
            worst = max(worst, float(np.abs(edge).max()))
    return worst


def _check_patterns(bench: Bench, resistance: np.ndarray,
                    halves: tuple[tuple[Pattern, Pattern], ...], what: str) -> float:
    """LimitError (`Bench.check_currents`) if a (free, clamped) pattern pair of ``halves``
    would exceed the bench's current limits at ``resistance`` (2, E) Ohm; else the
    largest predicted edge current, A. Applies nothing."""
    worst = 0.0
    for pats in halves:
        for t, twin in enumerate(TWINS):
            bench.check_currents(twin, dict(pats[t]), resistance[t], what=what)
    for pats in halves:
        worst = max(worst, _max_current(bench, resistance, list(enumerate(pats))))
    return worst



def _most_pulses(bench: Bench, most: int, least: int,
                 lowest: Callable[[int], np.ndarray],
                 halves: tuple[tuple[Pattern, Pattern], ...], what: str) -> tuple[int, float]:
    """(n, the largest predicted edge current, A): the most pulses n, from ``most`` down to
    ``least``, whose patterns ``halves`` stay within the bench's current limits at
    ``lowest(n)`` (2, E) Ohm, the lowest resistances n pulses can leave (`_check_patterns`;
    an edge near code 0 that the patterns hold across two driven nodes may carry too much
    after many). The first LimitError (at ``most``) if none does. Applies nothing."""
    first: LimitError | None = None
    for n in range(most, least - 1, -1):
        try:
            return n, _check_patterns(bench, lowest(n), halves, what)
        except LimitError as err:
            first = first or err
    assert first is not None  # most >= least: at least one count was tried
    raise first

@dataclass
class Tomo:
    """One tomography of the check: each twin's fit (`TwinFit`: relative conductances,
    geometric mean 1) and the DAQ transactions it took."""

    fits: tuple[TwinFit, TwinFit]
    transactions: int
    seen: np.ndarray | None = None  # (2, E) bool: the twin's reads fix the edge; None: all
    #: the reads: [(twin, {node: V} driven, sensed volts)] (`measure`)
    reads: list = field(default_factory=list)

    @property
    def seen_by(self) -> np.ndarray:
        """(2, E) bool: which twin's reads fix each edge's conductance (`_unseen`)."""
        if self.seen is None:
            return np.ones((2, len(self.fits[0].conductance)), dtype=bool)
        return self.seen

    @property
    def conductance(self) -> np.ndarray:
        """(2, E) relative conductances."""
        return np.stack([f.conductance for f in self.fits])

    @property
    def chi2(self) -> float:
        return max(f.chi2 for f in self.fits)


def _tomography(bench: Bench, settings: CheckSettings, design: np.ndarray | None = None,
                should_stop: Callable[[], bool] | None = None,
                known: np.ndarray | None = None) -> Tomo:  # fmt: skip
    """`lab.observe.tomography.measure` + `fit_reads` (clock idle, drive state restored),
    designed on ``design`` (2, E) conductances, S (default: every code 64): the last
    measurement, so that an open edge does not spoil the design of the next. ``known``
    (E,) codes, where the board's are known (before anything moved: the power-up
    codes, once the blind round finds the board can be there, `power_up_verdict`), hold
    every transaction to the edge limit at them (`measure`).

    When the patterns leave some conductances fixed only in combination (`_unseen`: a
    node without a drive channel, or an open edge that cuts the equations tying a group
    of edges to the rest), a second measurement designed on the first's fit is added
    (its reads fitted with the first's); what stays unseen on one twin is fitted with
    the other twin's values (`_fit_with_reference`) and marked in ``seen``."""
    _stop_point(should_stop)
    e = bench.network.n_edges
    budget = bench_limited(
        TomographySettings(budget=settings.tomography_budget, inset=settings.inset), bench)
    topo = Topology.of(bench.network)
    reads: list = []
    calls = 0
    for attempt in range(2):
        k_design = _design(settings, e, design)
        got, used = measure(bench, k_design, budget, known=known)
        reads, calls = reads + got, calls + used
        fits = list(fit_reads(bench, reads, k_design, budget.noise))
        # what the patterns could see, structurally: on nominal conductances with every
        # edge cut that the fits of the twins that see it find open (an open edge's
        # current is no equation; a fit's value along an unseen direction means nothing)
        k_fit = np.stack([f.conductance for f in fits])
        k_struct = _design(settings, e, None).copy()  # (2, E)
        first = [_unseen(bench, topo, twin, reads, k_struct[t]) for t, twin in enumerate(TWINS)]
        sees = np.stack([_support(first[t], k_struct[t]) == 0 for t in range(2)])
        low = k_fit < 0.05 * np.median(k_fit, axis=1, keepdims=True)
        cut = sees.any(axis=0) & (low | ~sees).all(axis=0)
        k_struct[:, cut] = 0.0
        unseen = [_unseen(bench, topo, twin, reads, k_struct[t]) for t, twin in enumerate(TWINS)]
        wiring = [_unseen(bench, topo, twin, _every_pattern(bench, twin), k_struct[t]).shape[1]
                  for t, twin in enumerate(TWINS)]  # fmt: skip
        if all(u.shape[1] <= w for u, w in zip(unseen, wiring, strict=True)) or attempt == 1:
            break  # nothing more to see, or what is left no pattern of this wiring sees
        _stop_point(should_stop)
        # the next design: each twin's fit, or the other's where its own is unfixed
        design = np.stack([k_fit[1 - t] if unseen[t].shape[1] and not unseen[1 - t].shape[1]
                           else k_fit[t] for t in range(2)])  # fmt: skip
    seen = np.ones((2, e), dtype=bool)
    for t, twin in enumerate(TWINS):
        if unseen[t].shape[1] == 0:
            continue
        seen[t] = _support(unseen[t], k_struct[t]) == 0
        other = fits[1 - t]
        ref = other.conductance if unseen[1 - t].shape[1] == 0 and np.isfinite(other.chi2) \
            else k_struct[t]  # fmt: skip
        fits[t] = _fit_with_reference(bench, topo, twin, reads, ref,
                                      _unseen(bench, topo, twin, reads, ref), budget.noise)
    return Tomo((fits[0], fits[1]), calls, None if seen.all() else seen, reads)


def _start_codes(settings: CheckSettings, e: int) -> np.ndarray:
    """(E,) float: the codes the board is taken to be at before anything moved them:
    ``settings.start_codes``, else every one at ``initial_code`` (power-up)."""
    if settings.start_codes is None:
        return np.full(e, float(settings.initial_code))
    return np.asarray(settings.start_codes, dtype=float)


#: DAQ transactions of the check's blind round (`blind_round`), both twins in each: 44
#: (20 before its drive channels were held, `blind_load`, whose scaled patterns left
#: the emulate bench's predicted tolerance +-45 % in 20; +-23.6 % in 44, +-24.0 % before)
BLIND_CHECK = 44


@dataclass
class Blind:
    """The blind round (`blind_round`): each twin's fit, its reads and DAQ transactions."""

    fits: tuple[TwinFit, TwinFit]
    reads: list
    transactions: int

    @property
    def chi2(self) -> float:
        return max(f.chi2 for f in self.fits)


def _blind_design(
    bench: Bench, settings: CheckSettings, starts: list[dict[int, float]]
) -> tuple[list[_TwinPlan], list[list[tuple]], list[_Designer], np.ndarray]:
    """The blind round's plans (`blind_designers`: narrowed to `_blind_span`, every
    channel held by `blind_load`), both twins' sequences from ``starts``, their
    designers and the design's conductances k (2, E) S."""
    e = bench.network.n_edges
    topo = Topology.of(bench.network)
    # designed and fitted from every code at ``initial_code`` even when other start codes
    # are given: a fit started at a near-short's conductance went to a wrong basin
    k = _design(settings, e, None)  # (2, E) S
    weight = np.full(e, float(settings.initial_code))
    plans, designers = blind_designers(bench, topo, settings.inset, k, weight, READ_NOISE,
                                       bench.currents.edge, channel_limits(bench))
    seqs = [_plan_twin(designers[t], starts[t], BLIND_CHECK) for t in range(2)]
    return plans, seqs, designers, k


def blind_tolerance(bench: Bench, settings: CheckSettings = CheckSettings()) -> float:
    """The median tolerance (relative, `power_up_verdict`) the blind round would reach on
    a power-up board, predicted from its design before anything is applied
    (`planned_rel_sd`: the planned patterns' covariance at the design's conductances and
    `READ_NOISE`); inf when its patterns would leave the median edge unfixed."""
    _, seqs, designers, _ = _blind_design(bench, settings, [{}, {}])
    tolerances = []
    for designer, seq in zip(designers, seqs, strict=True):
        rel_sd = planned_rel_sd(designer, seq)[0]
        tolerances.append(float(np.median(PART_SPREAD + BLIND_SIGMAS * rel_sd)))
    return min(tolerances)


#: `plan` refuses a bench whose predicted blind tolerance (`blind_tolerance`) exceeds
#: ``MAX_TOLERANCE`` by this factor; between the two the blind round runs and decides
#: (the prediction ran 15-35 % above the fit's own on good boards: 1.04 vs 0.85 at 1 mA)
PLAN_MARGIN = 1.5


def _edge_limit_needed(bench: Bench, settings: CheckSettings) -> float:
    """A, the least edge limit (on a x1.25 grid up from the bench's, at most 1 A, the
    most a `CurrentLimits` takes) whose blind round `blind_tolerance` predicts within
    ``MAX_TOLERANCE``; nan if none (e.g. channel limits narrower than its span). The
    greedy design itself changes with the span, so the sd does not simply scale as
    1 / span."""
    edge = bench.currents.edge
    while edge * 1.25 <= 1.0:
        edge *= 1.25
        trial = replace(bench, currents=replace(bench.currents, edge=edge))
        if blind_tolerance(trial, settings) <= MAX_TOLERANCE:
            return edge
    return float("nan")


def blind_round(bench: Bench, settings: CheckSettings,
                should_stop: Callable[[], bool] | None = None) -> Blind:  # fmt: skip
    """Before anything above the safe span: ``BLIND_CHECK`` transactions of the
    tomography's patterns (`lab.observe.tomography._Designer`, designed on the power-up
    codes; both twins in each) within `_blind_span` (every edge at code 0 on the part
    floor carries at most span / 35 Ohm) and each pattern scaled so that no drive
    channel can carry more than its limit (`blind_load`): safe at any codes; the drive
    state restored, fitted (`fit_reads`)."""
    _stop_point(should_stop)
    starts = [bench.drive_state(twin) for twin in TWINS]
    plans, seqs, _, k = _blind_design(bench, settings, starts)
    states = [dict(x) for x in starts]
    reads: list = []
    calls = 0
    try:
        calls += _execute(bench, plans, seqs, states, reads, starts, BLIND_CHECK)
    except BaseException:  # the bookkeeping may be stale (a DAQ that acted, then raised)
        _restore_after_error(bench, list(TWINS), starts)
        raise
    calls += _restore(bench, list(TWINS), states, starts)
    return Blind(fit_reads(bench, reads, k, READ_NOISE), reads, calls)


#: the spread of two power-up edges' conductances: the edge's and the median's part,
#: +-2 % each (the AD5220's R_AB mismatch, `lab.observe.model`)
PART_SPREAD = 0.04
#: blind-fit standard deviations (the edge's relative sd) added to ``PART_SPREAD``: on
#: good boards (seeds 0-9, 5 mA) edges sit up to 4.5 sd off (the DAC's and ADC's steps
#: on a 0.16 V span add a bias of their own), so 8 leaves room
BLIND_SIGMAS = 8.0
#: a blind round whose median tolerance exceeds this (it could not tell an edge at twice
#: the median: the edge limit holds its span too small) cannot vouch for the codes
MAX_TOLERANCE = 1.0


@dataclass(frozen=True)
class PowerUp:
    """The blind round's verdict: ``power_up`` True when the board can be at its power-up
    codes (every judged edge within a factor ``1 + tolerance`` of its twin's median,
    either way; ``figures["worst_score"]``: the largest |log ratio| / log(1 + tolerance));
    ``why`` the one line when not; ``figures`` for the JSON."""

    power_up: bool
    why: str
    figures: dict[str, Any]
    #: what it names when not (``detail`` the bare ``why``): `CheckReport`'s item
    fault: CheckFault | None = None


def power_up_verdict(bench: Bench, settings: CheckSettings, blind: Blind) -> PowerUp:
    """Can the board be at its power-up codes? Node voltages cannot see the codes' common
    level, but they do see their spread: at power-up every conductance is the median's
    within the part mismatch, so an edge off its twin's median by more than the
    tolerance ``PART_SPREAD + BLIND_SIGMAS * rel_sd`` (rel_sd: the blind fit's own
    relative sd of that edge) says the board was moved since (trained). An edge below
    1/``open_ratio`` of the median is open (the tomography names it; it conducts less
    than at power-up, not more) and not judged, nor is one the reads do not fix (sd
    inf, or fixed only in combination, `_unseen`: a node without a drive channel). An
    edge off on one twin alone (its other twin's part within tolerance, not shorted) is
    that twin's part or wiring, not a moved code (both parts share the code): not judged
    here, the twin mismatch names it. A blind fit worse than ``LIMIT_CHI2`` (wiring)
    cannot vouch for anything."""
    labels = bench.network.edge_labels()
    figures: dict[str, Any] = {"transactions": int(blind.transactions),
                               "chi2": [float(f.chi2) for f in blind.fits]}  # fmt: skip
    # what the blind patterns leave fixed only in combination (`_unseen`: a node without
    # a drive channel) is not judged on that twin: a fit's value along it means nothing
    topo = Topology.of(bench.network)
    k_struct = _design(settings, bench.network.n_edges, None)
    seen = [_support(_unseen(bench, topo, twin, blind.reads, k_struct[t]), k_struct[t]) == 0
            for t, twin in enumerate(TWINS)]  # fmt: skip
    tol_all = [np.where(seen[t] & np.isfinite(f.rel_sd),
                        PART_SPREAD + BLIND_SIGMAS * f.rel_sd, np.inf)
               for t, f in enumerate(blind.fits)]  # fmt: skip
    coarse = min(float(np.median(x)) for x in tol_all)
    if not np.isfinite(blind.chi2) or not coarse <= MAX_TOLERANCE:
        span = _blind_span(DigipotModel.nominal(bench.network.n_edges), bench.currents.edge)
        # an open edge leaves its neighbours unobservable and the fit's gauge spreads that
        # over every edge: the fault to name, not the limit
        open_at = sorted({labels[i] for f in blind.fits if np.isfinite(f.conductance).all()
                          for i in np.flatnonzero(f.conductance / np.median(f.conductance)
                                                  < 1.0 / settings.open_ratio)})  # fmt: skip
        if np.isfinite(blind.chi2) and open_at:
            why = (f"edge(s) {', '.join(open_at)} look open in the blind round (below "
                   f"1/{settings.open_ratio:g} of the median conductance): an open edge? It "
                   f"leaves the blind round too coarse (+-{100 * coarse:.3g} %, median "
                   "tolerance) to vouch for the board's codes")  # fmt: skip
            return PowerUp(False, why, {**figures, "power_up": False, "open": open_at},
                           CheckFault(OPEN_EDGE, why, edges=tuple(open_at)))
        why = (f"the blind round (patterns within {span * 1e3:.3g} mV, where an edge at code "
               f"0 carries at most the bench's edge limit {bench.currents.edge * 1e3:g} mA, "
               "bench file field 'currents.edge') fixes the conductances only to "
               f"+-{100 * coarse:.3g} % (median tolerance), too coarse to vouch for the "
               "board's codes: give a larger currents.edge")  # fmt: skip
        # a limit to name only where the design says the bench's own is too small (a
        # fit that failed for another reason would be sent to a larger limit in vain)
        if blind_tolerance(bench, settings) > MAX_TOLERANCE:
            need = _edge_limit_needed(bench, settings)
            if np.isfinite(need):
                why += f" (about {need * 1e3:.2g} mA or more)"
        return PowerUp(False, why, {**figures, "power_up": False}, CheckFault(BLIND_COARSE, why))
    if not blind.chi2 <= LIMIT_CHI2:
        why = (f"the blind round's node voltages do not fit the network (chi2 per dof "
               f"{blind.chi2:.3g}), so the board's codes cannot be vouched for: check the "
               "wiring and the channel map")  # fmt: skip
        return PowerUp(False, why, {**figures, "power_up": False}, CheckFault(BAD_FIT, why))
    worst, worst_at, worst_r = 0.0, (0, 0), 1.0
    ratios, tols, scores = [], [], []
    e = bench.network.n_edges
    expected = DigipotModel.nominal(e).conductance(_start_codes(settings, e))  # (2, E)
    floor = _start_codes(settings, e) < 2
    pairs = topo.parallel_pairs(np.flatnonzero(floor))
    for t, f in enumerate(blind.fits):
        r = f.conductance / expected[t]
        tol = tol_all[t].copy()
        for pair in pairs:  # seen only as their parallel sum: judged by it
            r[pair] = f.conductance[pair].sum() / expected[t, pair].sum()
            tol[pair] = tol[pair].max()
        r = r / np.median(r)
        judged = (r >= 1.0 / settings.open_ratio) & np.isfinite(tol)
        score = np.where(judged, np.abs(np.log(np.maximum(r, 1e-300))) / np.log1p(tol), 0.0)
        # a near-short's fitted conductance is bounded below only (its drop is under the
        # noise: a huge linearised sd); above ``open_ratio`` x the median it is shorted
        # or at code 0 whatever its sd, the very edge the limits at the start codes miss
        score = np.where((r > settings.open_ratio) & np.isfinite(tol), np.inf, score)
        # an edge taken at code 0 or 1 is already at the floor in every limit: conducting
        # more than its code says (a near-short, seen only from below) is not judged
        score = np.where(floor & (r > 1.0), 0.0, score)
        scores.append(score)
        ratios.append(r)
        tols.append(np.round(np.where(np.isfinite(tol), tol, -1.0), 4).tolist())
    # both twins' parts of an edge sit at one code, so a code moved since power-up moves
    # both: an edge off on one twin alone, within tolerance on the other (and no short),
    # is that twin's part or wiring, for the tomography's twin mismatch to name; the
    # other twin vouches for its code
    one_twin = [(scores[t] > 1.0) & np.isfinite(scores[t]) & (scores[1 - t] <= 1.0)
                & (ratios[1 - t] >= 1.0 / settings.open_ratio) for t in range(2)]
    for t in range(2):
        score = np.where(one_twin[t], 0.0, scores[t])
        i = int(np.argmax(score))
        if score[i] > worst:
            worst, worst_at, worst_r = float(score[i]), (t, i), float(ratios[t][i])
    figures.update(ratio_to_median=[np.round(r, 4).tolist() for r in ratios], tolerance=tols,
                   worst_score=worst if np.isfinite(worst) else None,
                   one_twin_only=[labels[i] for i in np.flatnonzero(one_twin[0] | one_twin[1])])
    if worst <= 1.0:
        return PowerUp(True, "", {**figures, "power_up": True})
    t, i = worst_at
    r = worst_r
    # a near-short's fit is bounded from below only: beyond 1000x the figure means nothing
    how = ("over 1000x the median" if r > 1e3 else f"{r:.3g}x the median" if r >= 1
           else f"1/{1 / max(r, 1e-3):.3g} of the median")  # fmt: skip
    where = "its power-up codes" if settings.start_codes is None else "the codes given"
    why = (f"the board is not at {where} (edge {labels[i]} conducts {how}): power-cycle "
           "the board before the bench check")  # fmt: skip
    figures["worst"] = {"twin": TWINS[t], "edge": labels[i], "ratio_to_median": r}
    return PowerUp(False, why, {**figures, "power_up": False},
                   CheckFault(NOT_AT_START, why, TWINS[t], edges=(labels[i],)))


def _every_pattern(bench: Bench, twin: Twin) -> list[tuple[str, dict[int, float], None]]:
    """Reads (no volts) of every pattern with two drive channels of ``twin`` at 1 and 0 V
    and of every one with all but one driven: with `_unseen`, what the wiring itself
    leaves unseen, whatever the patterns."""
    nodes = sorted(c.node for c in bench.channels if c.kind == "drive" and c.twin == twin)
    out: list[tuple[str, dict[int, float], None]] = []
    for a in nodes:
        out += [(twin, {a: 1.0, b: 0.0}, None) for b in nodes if b != a]
        rest = [n for n in nodes if n != a]
        out += [(twin, {n: float(n == b) for n in rest}, None) for b in rest]
    return out


def _design(settings: CheckSettings, e: int, design: np.ndarray | None) -> np.ndarray:
    """(2, E) conductances, S, to design a tomography on: every code at
    ``initial_code``, or the measured ratios ``design`` (2, E) at that level (an open
    edge kept regular, at 1 %)."""
    k0 = DigipotModel.nominal(e).conductance(np.full(e, settings.initial_code))
    if design is None:
        return k0
    mid = np.median(design, axis=1, keepdims=True)
    ratios = np.clip(design / mid, 1e-2, 1e2)
    return ratios * k0 / np.exp(np.log(ratios).mean(axis=1, keepdims=True))


def _twin_reads(bench: Bench, twin: Twin, reads: list) -> tuple[np.ndarray, list]:
    """(sensed (N,) bool, [(driven {node: V}, volts (N,), floating (N,) bool)]) of one
    twin's reads from `measure`."""
    n = bench.network.n_nodes
    sensed_nodes = sorted(c.node for c in bench.channels if c.kind == "sense" and c.twin == twin)
    sensed = np.zeros(n, dtype=bool)
    sensed[[x - 1 for x in sensed_nodes]] = True
    out = []
    for tw, driven, volts in reads:
        if tw != twin:
            continue
        v = np.zeros(n)
        if volts is not None:
            v[[x - 1 for x in sensed_nodes]] = volts
        floating = np.ones(n, dtype=bool)
        for node, x in driven.items():
            v[node - 1] = x
            floating[node - 1] = False
        out.append((driven, v, floating))
    return sensed, out


def _unseen(bench: Bench, topo: Topology, twin: Twin, reads: list,
            k: np.ndarray) -> np.ndarray:  # fmt: skip
    """(E, m) orthonormal directions theta of conductance change k -> k + s theta (s =
    `_floor` (k), the common factor k / s removed) that ``twin``'s patterns in ``reads``
    cannot see, found noise-free on ``k`` (E,). E.g. a node that is never driven, with
    two edges into a triangle, leaves the triangle's three conductances fixed only in two
    combinations; an open edge can leave a group of edges whose common scale no
    equation ties to the rest. m = 0: every edge is fixed."""
    sensed, mine = _twin_reads(bench, twin, reads)
    e = len(k)
    med = float(np.median(k))
    s = _floor(np.where(k > 0, k, 0.0))
    k_solve = np.where(k < 0.05 * med, 1e-9 * med, k)  # an open edge stays open
    info = np.zeros((e, e))
    for driven in {tuple(sorted(d.items())) for d, _, _ in mine}:
        if len({v for _, v in driven}) < 2:
            continue
        volts = bench.network.solve(k_solve, dict(driven))
        floating = np.ones(len(volts), dtype=bool)
        floating[[d - 1 for d, _ in driven]] = False
        rows = topo.rows(volts, topo.equation_nodes(floating, sensed)) * s[None, :]
        info += rows.T @ rows
    gauge = k_solve / s
    gauge /= np.linalg.norm(gauge)
    proj = np.eye(e) - np.outer(gauge, gauge)
    w, v = np.linalg.eigh(proj @ info @ proj)
    null = proj @ v[:, w <= 1e-9 * max(float(w.max()), 1e-300)]
    u, sv, _ = np.linalg.svd(null, full_matrices=False)
    return u[:, sv > 1e-6]


def _floor(k: np.ndarray) -> np.ndarray:
    """(E,) ``k`` with every edge at least 1 % of the median: the unit of a relative
    change that an open edge (k ~ 0) can still make."""
    return np.maximum(np.asarray(k, dtype=float), 1e-2 * np.median(k))


def _support(directions: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(E,) int: how many of the unseen ``directions`` (E, m) (`_unseen` on ``k`` (E,))
    move each edge against the rest: against the level most edges share (the common
    factor moves them together). An open edge (below 5 % of the median) is judged by its
    absolute conductance, which they do not move, so it never counts."""
    e, m = directions.shape
    count = np.zeros(e, dtype=int)
    regular = np.asarray(k) >= 0.05 * np.median(k)
    for j in range(m):
        v = directions[:, j]
        tol = 0.1 * float(np.abs(v).max())
        near = np.abs(v[:, None] - v[None, :]) <= tol
        level = v[int(np.argmax((near & regular[None, :]).sum(axis=1) * regular))]
        count += (np.abs(v - level) > tol) & regular
    return count


def _fit_with_reference(bench: Bench, topo: Topology, twin: Twin, reads: list,
                        k_ref: np.ndarray, unseen: np.ndarray,
                        noise: float) -> TwinFit:  # fmt: skip
    """One twin's fit when its reads leave the ``unseen`` directions (E, m) open: the
    conductances k = k_ref + s theta (s = `_floor` (k_ref); linear in theta, exact) with
    theta orthogonal to the unseen directions and to the common factor, by weighted
    least squares on the Kirchhoff rows; what the reads cannot see stays at the
    reference ``k_ref`` (E,) (the other twin's fit: the twins share codes). Those edges
    get ``rel_sd`` inf."""
    sensed, mine = _twin_reads(bench, twin, reads)
    e = len(k_ref)
    base = _floor(k_ref)  # the unit of `_unseen`'s directions
    fixed = np.column_stack([np.asarray(k_ref) / base, unseen])
    basis = np.linalg.svd(np.eye(e) - fixed @ np.linalg.pinv(fixed), full_matrices=False)[0]
    basis = basis[:, : e - fixed.shape[1]]  # (E, E - 1 - m): the directions fitted
    k = np.asarray(k_ref, dtype=float).copy()
    blocks = []
    for _, v, floating in mine:
        nodes = topo.equation_nodes(floating, sensed)
        if len(nodes):
            blocks.append((topo.rows(v, nodes), nodes, floating & sensed))
    if not blocks:
        return TwinFit(base / np.exp(np.mean(np.log(base))), np.full(e, np.inf), np.inf, 0)
    rows = np.concatenate([b[0] for b in blocks])
    cov = np.zeros((basis.shape[1], basis.shape[1]))
    for _ in range(3):
        var = np.concatenate([topo.row_variance(np.abs(k), b[1], b[2], noise) for b in blocks])
        sd = np.sqrt(var)
        a = rows * base[None, :] / sd[:, None]  # rows . k / sd, per unit theta
        design = a @ basis
        phi, *_ = np.linalg.lstsq(design, -(rows @ k_ref) / sd, rcond=None)
        k = k_ref + base * (basis @ phi)
        cov = np.linalg.pinv(design.T @ design)
    k = np.maximum(k, 1e-12 * np.abs(base).max())
    var = np.concatenate([topo.row_variance(k, b[1], b[2], noise) for b in blocks])
    resid = (rows @ k) / np.sqrt(var)
    dof = max(len(rows) - basis.shape[1], 1)
    rel_sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", basis, cov, basis), 0.0))
    rel_sd = np.where(_support(unseen, k_ref) > 0, np.inf, rel_sd * base / k)
    scale = np.exp(np.mean(np.log(k)))
    return TwinFit(k / scale, rel_sd, float(resid @ resid / dof), len(rows))


def check_tomography(bench: Bench, settings: CheckSettings, report: CheckReport,
                     result: Tomo) -> np.ndarray:  # fmt: skip
    """Section 3 on a measured ``result``. Returns the edges the later sections can
    observe (E,) bool: conducting, and fixed by at least one twin's reads. An edge one
    twin's reads leave open (``result.seen``: a node without a drive channel) is judged
    open or shorted on the other twin alone, with no twin mismatch (a skipped item
    says which and why)."""
    labels = bench.network.edge_labels()
    model = DigipotModel.nominal(bench.network.n_edges)
    seen = result.seen_by
    k = np.stack([f.conductance for f in result.fits])  # (2, E) relative
    ratio = k / np.stack([np.median(k[t, seen[t]]) for t in range(2)])[:, None]
    open_on = (ratio < 1.0 / settings.open_ratio) & seen  # (2, E): on which twin
    is_open = open_on.any(axis=0)
    shorted = ((ratio > settings.open_ratio) & seen).any(axis=0) & ~is_open
    codes = _codes(result, ~is_open & ~shorted, settings.initial_code)
    resistance = model.resistance(codes)
    conducting = ~is_open & ~shorted
    both = conducting & seen.all(axis=0)
    norm = k / np.stack([np.median(k[t, both]) for t in range(2)])[:, None]
    mismatch = np.where(both, np.abs(norm[1] / norm[0] - 1.0), 0.0)
    # its sd: the two fits' relative sds in quadrature (an edge in parallel with a
    # near-short is fixed only to a few %, where noise alone can pass 10 %)
    rel_sd = np.stack([f.rel_sd for f in result.fits])
    mismatch_sd = np.where(both, np.hypot(rel_sd[0], rel_sd[1]) * (1.0 + mismatch), 0.0)
    bad_twins = (mismatch - MISMATCH_SIGMAS * mismatch_sd > settings.mismatch) & both
    report.data["tomography"] = {
        "edges": labels,
        "resistance_ohm": np.round(resistance, 1).tolist(),
        "nominal_ohm": float(R_WIPER + 64 * model.step.mean()),
        "codes": np.round(codes, 2).tolist(),
        "twin_mismatch": np.round(mismatch, 4).tolist(),
        "twin_mismatch_sd": np.round(mismatch_sd, 6).tolist(),  # the table's 0.025 %
        "chi2": [float(f.chi2) for f in result.fits],
        "transactions": int(result.transactions),
        "open": [labels[i] for i in np.flatnonzero(is_open)],
        "shorted": [labels[i] for i in np.flatnonzero(shorted)],
        # its patterns at the fit, each code on the lowest part (after the fact: the
        # tomography holds its rounds to the edge limit itself)
        "max_current_a": _max_current(
            bench, model.lowest(np.clip(codes, 0, TOP)),
            [(TWINS.index(tw), dict(d)) for tw, d, _ in result.reads]),
    }
    name = ", ".join
    bad_fit = ("the node voltages do not fit the network (chi2 per dof "
               f"{result.chi2:.1f}): wiring or channel map")  # fmt: skip
    chi2 = ", ".join(f"{f.chi2:.2f} {t}" for t, f in zip(TWINS, result.fits, strict=True))
    report.add("tomography", "fit", bool(result.chi2 < 10.0),
               f"chi2/dof {chi2}, {result.transactions} transactions", bad_fit,
               [CheckFault(BAD_FIT, bad_fit)])  # fmt: skip
    faults = _open_faults(labels, open_on, seen, settings.open_ratio)
    report.add("tomography", "open edges", not is_open.any(), f"{int(is_open.sum())} open",
               "; ".join(f.detail for f in faults), faults)  # fmt: skip
    detail = (f"edge(s) {name(labels[i] for i in np.flatnonzero(shorted))} shorted or at "
              f"code 0 (conductance above {settings.open_ratio:g}x the median)")  # fmt: skip
    report.add("tomography", "shorted edges", not shorted.any(),
               f"{int(shorted.sum())} shorted", detail,
               _edge_faults(SHORTED_EDGE, detail, labels, shorted))  # fmt: skip
    worst = int(np.argmax(np.where(both, mismatch, -1.0)))
    figure = (f"worst {100 * mismatch[worst]:.1f} % +- {_digits(100 * mismatch_sd[worst])} % "
              f"({labels[worst]})" if both.any() else "no edge seen on both twins")
    detail = (f"edge(s) {name(labels[i] for i in np.flatnonzero(bad_twins))}: the twins "
              f"differ by more than {100 * settings.mismatch:g} % (beyond "
              f"{MISMATCH_SIGMAS:g} sd of the fits)")  # fmt: skip
    report.add("tomography", "twin mismatch", not bad_twins.any(), figure, detail,
               _edge_faults(TWIN_MISMATCH, detail, labels, bad_twins))  # fmt: skip
    gaps = []
    chans = _Channels.of(list(bench.channels))
    for t, twin in enumerate(TWINS):
        if seen[t].all():
            continue
        undriven = [n for n in range(1, bench.network.n_nodes + 1) if n not in chans.drive[twin]]
        where = ", ".join(f"{twin} twin node {n}" for n in undriven)
        other = TWINS[1 - t]
        alone = (f"open/shorted on the {other} twin alone, no twin mismatch"
                 if seen[1 - t][~seen[t]].all() else "on neither twin")  # fmt: skip
        gap = (f"the {twin} twin's reads fix edge(s) "
               f"{name(labels[i] for i in np.flatnonzero(~seen[t]))} only in "
               f"combination ({where} without a working drive channel, never driven): "
               f"checked {alone}")  # fmt: skip
        gaps.append(CheckFault(NOT_CHECKED, gap, twin, nodes=tuple(undriven),
                          edges=tuple(labels[i] for i in np.flatnonzero(~seen[t]))))
    report.data["tomography"]["seen"] = seen.tolist()
    if gaps:
        report.add("tomography", "not checked", None, f"{int((~seen).sum())} twin-edge(s)",
                   "; ".join(g.detail for g in gaps), gaps)  # fmt: skip
    return conducting & seen.any(axis=0)


def _open_faults(labels: list[str], open_on: np.ndarray, seen: np.ndarray,
                 open_ratio: float) -> list[CheckFault]:  # fmt: skip
    """One `OPEN_EDGE` fault per set of twins the edges ``open_on`` (2, E) bool are open
    on (``twin`` None: both), each sentence saying which (a twin whose reads do not fix
    the edge, ``seen`` (2, E), named as such)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i in np.flatnonzero(open_on.any(axis=0)):
        groups.setdefault(tuple(np.flatnonzero(open_on[:, i]).tolist()), []).append(int(i))
    faults = []
    for on, edges in groups.items():
        if len(on) == 2:
            where = "both twins"
        else:
            other = 1 - on[0]
            blind = not seen[other, edges].all()
            where = f"the {TWINS[on[0]]} twin" + (
                f" (the {TWINS[other]} twin's reads do not fix it)" if blind else "")
        detail = (f"edge(s) {', '.join(labels[i] for i in edges)} open on {where} "
                  f"(conductance below 1/{open_ratio:g} of the median)")  # fmt: skip
        faults.append(CheckFault(OPEN_EDGE, detail, TWINS[on[0]] if len(on) == 1 else None,
                                 edges=tuple(labels[i] for i in edges)))  # fmt: skip
    return faults


def _codes(result: Tomo, conducts: np.ndarray | None, level: float) -> np.ndarray:
    """Continuous codes (2, E) of each twin's measured conductances through the nominal
    digipot model, the common factor set so that the median code of the ``conducts``
    edges is ``level`` (node voltages cannot see that factor; an open or shorted edge
    must not set it, which is why this does not use the tomography's own codes). The
    median is over the edges both twins see, so that an edge one twin cannot see takes
    the other twin's code on the same level."""
    k = np.stack([f.conductance for f in result.fits])
    seen = result.seen_by
    use = np.ones(k.shape[1], dtype=bool) if conducts is None else conducts
    g = DigipotModel.nominal(k.shape[1]).step
    inv = 1.0 / np.maximum(k, 1e-300)
    both = use & seen.all(axis=0)  # one set for both twins: the same common level
    pin = [both if both.any() else use & seen[t] for t in range(2)]
    lam = np.array([(level * g[t, 0] + R_WIPER) / np.median(inv[t, pin[t]])
                    for t in range(2)])  # fmt: skip
    codes = (lam[:, None] * inv - R_WIPER) / g
    for t in range(2):  # an edge one twin cannot see: the other twin's code (shared)
        codes[t] = np.where(~seen[t] & seen[1 - t], codes[1 - t], codes[t])
    return codes


def _model_of(codes: np.ndarray) -> tuple[DigipotModel, np.ndarray]:
    """(per-part model, integer codes (E,)) that reproduce continuous ``codes`` (2, E)."""
    nominal = DigipotModel.nominal(codes.shape[1]).step
    whole = np.clip(np.rint(codes.mean(axis=0)), 0, TOP).astype(np.int16)
    step = nominal * codes / np.maximum(whole, 1)
    ok = np.isfinite(step) & (step > 0.2 * nominal) & (step < 5 * nominal)
    return DigipotModel(np.where(ok, step, nominal), R_WIPER), whole


class _Pulser:
    """Pulses under two-twin patterns with the tracker deciding each pulse's moves."""

    def __init__(self, bench: Bench, tracker: Tracker,
                 should_stop: Callable[[], bool] | None) -> None:  # fmt: skip
        self.bench, self.tracker, self.should_stop = bench, tracker, should_stop
        n = bench.network.n_nodes
        chans = _Channels.of(list(bench.channels))
        self.sense_nodes = [tuple(sorted(chans.sense[t])) for t in TWINS]
        self.sensed = np.zeros((2, n), dtype=bool)
        for t in range(2):
            self.sensed[t, [x - 1 for x in self.sense_nodes[t]]] = True

    def _read(self, patterns: tuple[Pattern, Pattern]) -> tuple[np.ndarray, np.ndarray]:
        n = self.bench.network.n_nodes
        volts = np.zeros((2, n))
        floating = np.ones((2, n), dtype=bool)
        for t, twin in enumerate(TWINS):
            if self.sense_nodes[t]:
                volts[t, [x - 1 for x in self.sense_nodes[t]]] = self.bench.sense(
                    twin, self.sense_nodes[t])
            for node, v in patterns[t].items():
                volts[t, node - 1] = v
                floating[t, node - 1] = False
        return volts, floating

    def pulse(self, patterns: tuple[Pattern, Pattern]) -> np.ndarray:
        """One pulse under (free, clamped) ``patterns``; returns the seen moves (E,) int8."""
        _stop_point(self.should_stop)
        for t, twin in enumerate(TWINS):
            _apply(self.bench, twin, patterns[t])
        pre, _ = self._read(patterns)
        self.tracker.begin(pre)
        self.bench.pulse()
        post, floating = self._read(patterns)
        change, _ = self.tracker.end(post, floating, self.sensed)
        return change.copy()


def _moves(before: Tomo, after: Tomo, conducts: np.ndarray,
           level: float) -> np.ndarray:  # fmt: skip
    """Each edge's code change (E,) between two tomographies (both twins averaged), up to
    the common offset node voltages cannot see."""
    return (_codes(after, conducts, level) - _codes(before, conducts, level)).mean(axis=0)


def _aligned(moved: np.ndarray, want: np.ndarray, use: np.ndarray) -> np.ndarray:
    """``moved`` (E,) with the common offset that best explains ``want`` removed (median
    over the edges ``use``, so that a stuck edge does not move it)."""
    offset = float(np.median((moved - want)[use])) if use.any() else 0.0
    return moved - offset


def _figure(values: np.ndarray, keep: np.ndarray) -> list:
    """``values`` (..., E) rounded to 0.01 as JSON lists, None where ``keep`` (E,) is
    False (an edge the check cannot observe: its figure would mean nothing)."""
    out = np.round(values, 2).astype(object)
    out[..., ~keep] = None
    return out.tolist()


#: Per-edge spread, as a fraction of the code, of a code the tomography infers (the
#: parts' 2 % mismatch and the fit's noise): how far from a rail an edge may be and still
#: be at it.
RAIL_SPREAD = 0.025
#: Levels (median true code) the clock fit tries (`clock_fit`).
LEVELS = 80


@dataclass
class ClockFit:
    """The clock section's moves in true codes (`clock_fit`): ``level``, the median code
    of the observed edges at the start (node voltages cannot see it; the magnitudes of
    the moves fix it: n steps change an edge's resistance by n / code); ``moves`` (2, E)
    each half's move, codes; ``expected`` (2, 2, E) the [low, high] move each half could
    make, codes (narrower than +-n only at a rail); ``rail`` (E,) int8, +1 where the first
    half pushed the edge into the top rail (code `TOP`), -1 into code 0, else 0;
    ``stuck`` (E,) bool: did not move in a direction it could have; ``codes`` (E,) the
    start's codes at that level; ``use`` (E,) bool the edges fitted."""

    level: float
    moves: np.ndarray
    expected: np.ndarray
    rail: np.ndarray
    stuck: np.ndarray
    codes: np.ndarray
    use: np.ndarray


def _log_ratio(before: Tomo, after: Tomo, use: np.ndarray) -> np.ndarray:
    """ln(R_after / R_before) (E,) of each edge, both twins averaged where both see it,
    each twin's common factor removed by its median over ``use`` (one common offset
    remains, fitted by `clock_fit`)."""
    y = np.log(before.conductance) - np.log(after.conductance)  # (2, E)
    y = y - np.median(y[:, use], axis=1, keepdims=True)
    seen = before.seen_by & after.seen_by
    return np.where(seen.any(axis=0),
                    (y * seen).sum(axis=0) / np.maximum(seen.sum(axis=0), 1), 0.0)


def clock_fit(tomos: tuple[Tomo, Tomo, Tomo], direction: np.ndarray, n: int,
              use: np.ndarray) -> ClockFit:  # fmt: skip
    """The clock section's verdict per edge from its three tomographies (start, after the
    first half, after the second), honest about the rails. A code at `TOP` (0) cannot
    step up (down): the first half may push an edge into a rail and move it fewer than
    ``n`` codes (or none), the second then moves it ``n`` the other way (the first half's
    codes are within ``n`` of a rail only at that one, so the second half is never held
    by a rail). An edge is stuck when a half moved it more than ``n`` / 2 codes from every
    move it could make. Node voltages cannot see the codes' common level or each
    tomography's common factor: both are fitted, the level on a grid (`LEVELS` values up
    to the one that puts the highest code at the top rail), the factors by the median
    over the edges whose move is known. ``direction`` (E,) the first half's planned
    direction, ``use`` (E,) bool the observed edges."""
    d = direction.astype(float)
    y1 = _log_ratio(tomos[0], tomos[1], use)
    y2 = _log_ratio(tomos[1], tomos[2], use)
    w = R_WIPER / NOMINAL_STEP  # the wiper, codes
    base = _codes(tomos[0], use, float(TOP) / 2).mean(axis=0) + w
    top = float(base[use].max(initial=1.0))
    # the level's factor: codes (+ wiper) scale with it; up to the highest code at TOP
    factors = np.geomspace(2.0 / top, (TOP * (1 + RAIL_SPREAD) + w) / top, LEVELS)
    best: tuple[float, ClockFit] | None = None
    for f in factors:
        c0 = np.maximum(base * f - w, 0.0)
        spread = 1.0 + RAIL_SPREAD * c0
        ends = [np.clip(np.clip(c0 + s, 0, TOP) + d * n, 0, TOP) - np.clip(c0 + s, 0, TOP)
                for s in (-spread, spread)]
        lo1, hi1 = np.minimum(*ends), np.maximum(*ends)
        free = use & np.isclose(lo1, hi1) & np.isclose(lo1, d * n)  # no rail in reach
        pick = free if free.any() else use
        o1 = float(np.median((y1 - np.log(np.maximum(1.0 + d * n / (c0 + w), 1e-6)))[pick]))
        m1 = (c0 + w) * np.expm1(y1 - o1)
        c1 = np.clip(c0 + m1, 0, TOP)
        arg = np.maximum(1.0 - d * n / (c1 + w), 1e-6)
        o2 = float(np.median((y2 - np.log(arg))[use]))
        m2 = (c1 + w) * np.expm1(y2 - o2)
        miss1 = np.maximum(lo1 - m1, 0) + np.maximum(m1 - hi1, 0)
        # each edge costs its squared misfit in units of the verdict's n / 2, at most 1
        # (stuck, or not explained): the level that explains the most edges wins (a
        # level that makes every move look like none explains none)
        work = (miss1**2 + (m2 + d * n) ** 2) / (n / 2) ** 2
        score = float(np.minimum(work, 1.0)[use].sum())
        stuck = use & ((miss1 > n / 2) | (np.abs(m2 + d * n) > n / 2))
        rail = np.where(use & (hi1 - lo1 > 1e-9) & (np.abs(m1 - d * n) > n / 2) & ~stuck,
                        np.sign(d), 0).astype(np.int8)
        fit = ClockFit(float(np.median(c0[use])) if use.any() else 0.0,
                       np.stack([m1, m2]), np.stack([np.stack([lo1, hi1]),
                                                     np.stack([-d * n, -d * n])]),
                       rail, stuck, c0, use)  # fmt: skip
        if best is None or score < best[0] - 1e-12:
            best = (score, fit)
    assert best is not None
    return best[1]


def _end_sd(start: Tomo, end: Tomo, codes: np.ndarray) -> np.ndarray:
    """(E,) sd, codes, of an edge's displacement between two tomographies at ``codes``
    (E,): each twin's relative sds of both combined, the twins by inverse variance."""
    var = sum(np.stack([f.rel_sd for f in t.fits]) ** 2 for t in (start, end))
    var = np.where(np.isfinite(var) & (var > 0), var, np.inf)
    rel = 1.0 / np.sqrt(np.maximum((1.0 / var).sum(axis=0), 1e-300))
    return (np.asarray(codes) + R_WIPER / NOMINAL_STEP) * rel


def _release_all(bench: Bench) -> None:
    for t in TWINS:
        now = tuple(bench.drive_state(t))
        if now:
            bench.release(t, now)


def check_clock(bench: Bench, settings: CheckSettings, report: CheckReport,
                start: Tomo, conducts: np.ndarray,
                should_stop: Callable[[], bool] | None) -> _Clock | None:  # fmt: skip
    """Section 4. Returns what the bias section needs (None: it cannot run)."""
    labels = bench.network.edge_labels()
    k = np.stack([f.conductance for f in start.fits])
    found = clock_patterns(bench, k, settings, conducts)
    if found is None:
        why = "no boundary conditions move every edge both ways within the limits"
        report.add("clock", "patterns", False, "none", why, [CheckFault(NO_PATTERNS, why)])
        return None
    f_pat, c_pat, direction, score = found
    level = settings.initial_code
    model, codes0 = _model_of(_codes(start, conducts, level))
    halves = ((f_pat, c_pat), (c_pat, f_pat))
    # before anything is applied, at the lowest codes the pulses can reach (a pulse moves
    # a code by at most one): n below the start for an edge the first half moves down (or
    # whose direction is not known); one it moves up comes back to the start, or, stopped
    # at the top rail, n below the rail; on the part floor. An edge near code 0 that the
    # patterns hold across two driven nodes may carry too much there: fewer pulses then
    # (each way; an edge at a rail moves one way only, `clock_fit`)
    c0, up = np.asarray(codes0, dtype=float), np.asarray(direction) > 0

    def lowest(n: int) -> np.ndarray:
        reach = np.where(up, np.minimum(c0, np.minimum(c0 + n, TOP) - n), c0 - n)
        return model.lowest(np.maximum(reach, 0.0))

    try:
        n, top_current = _most_pulses(bench, settings.pulses, 1, lowest, halves,
                                      "the clock check's patterns")  # fmt: skip
    except LimitError as err:
        report.add("clock", "currents", False, "over the limit", str(err),
                   [CheckFault(OVER_LIMIT, str(err))])
        return None
    bench.set_probability(1.0)
    tracker = Tracker(Topology.of(bench.network), model, codes0, 1.0, TrackerSettings())
    pulser = _Pulser(bench, tracker, should_stop)
    seen = np.zeros((2, len(codes0)), dtype=int)
    tomos = [start]
    want = np.stack([direction * n, -direction * n])
    for half, pats in enumerate(halves):
        for _ in range(n):
            seen[half] += pulser.pulse(pats)
            report.pulses_sent += 1
        _release_all(bench)
        # the codes are within n of codes0 (a pulse moves each by at most one step)
        tomos.append(_tomography(bench, settings, tomos[-1].conductance, should_stop,
                                 known=np.maximum(codes0.astype(int) - n, 0)))
    before = tomos[-1]
    # an edge whose moves the tomographies fix only to more than n / 6 codes (sd: next to
    # a near-short, seen mostly in parallel with it) cannot be judged (3 sd is n / 2),
    # and is left out of the fit of the level (its huge errors would steer it)
    uncertain = np.zeros_like(conducts)
    for _ in range(2):
        fit = clock_fit((tomos[0], tomos[1], tomos[2]), direction, n, conducts & ~uncertain)
        move_sd = np.stack([_end_sd(a, b, fit.codes) for a, b in pairwise(tomos)])
        uncertain = uncertain | (conducts & (move_sd.max(axis=0) > n / UNCERTAIN_DIVISOR))
        if not (uncertain & ~fit.use).any():
            break
    moved, stuck, rail = fit.moves, fit.stuck & ~uncertain, fit.rail
    end = moved.sum(axis=0)
    # the board ends where it started, but for an edge the first half pushed into a
    # rail: it ends the rest of its second-half move away from it
    expected_end = np.clip(moved[0], fit.expected[0, 0], fit.expected[0, 1]) - direction * n
    expected_end = np.where(rail != 0, expected_end, 0.0)
    end_sd = _end_sd(tomos[0], tomos[-1], fit.codes)
    back = (np.abs(end - expected_end) <= 1.0) | ~conducts | uncertain
    agree = float(np.mean(seen == want))
    at_rail = {labels[i]: ("top" if rail[i] > 0 else "bottom") for i in np.flatnonzero(rail)}
    report.data["clock"] = {
        "pulses": n, "score_volts": score, "direction_first": direction.tolist(),
        "patterns": [{str(k_): v for k_, v in p.items()} for p in (f_pat, c_pat)],
        "level_code": round(fit.level, 2), "tomography_moves": _figure(moved, conducts),
        "possible_moves": _figure(fit.expected, conducts), "at_rail": at_rail,
        "tracker_moves": seen.tolist(),
        "tracker_agreement": agree, "end_minus_start": _figure(end, conducts),
        "end_sd": _figure(end_sd, conducts), "move_sd": _figure(move_sd, conducts),
        "uncertain": [labels[i] for i in np.flatnonzero(uncertain)],
        "stuck": [labels[i] for i in np.flatnonzero(stuck)],
        "not_observable": [labels[i] for i in np.flatnonzero(~conducts)],
        "max_current_a": top_current,
    }  # fmt: skip
    name = ", ".join
    one = int(stuck.sum()) == 1
    detail = (f"edge(s) {name(labels[i] for i in np.flatnonzero(stuck))} stuck (did not "
              f"move {n} codes each way): check {'its' if one else 'their'} digipots' CLK, "
              f"U/D and CS wiring or replace the part{'' if one else 's'}")  # fmt: skip
    report.add("clock", "every edge steps", not stuck.any(),
               (f"{int(stuck.sum())} of {int(conducts.sum())} edges stuck after "
                if stuck.any() else "")
               + f"{n} pulses up and {n} down at p = 1"
               + (f" ({settings.pulses} asked: the current limit)" if n < settings.pulses else ""),
               detail, _edge_faults(STUCK_EDGE, detail, labels, stuck))  # fmt: skip
    low = _at_code_zero(report, labels, tomos, conducts)
    report.data["clock"]["at_code_0"] = [labels[i] for i in np.flatnonzero(low)]
    for side, code, way in ((1, TOP, "up"), (-1, 0, "down")):
        there = np.flatnonzero((rail == side) | (low if side < 0 else False))
        if there.size:
            back_way = "down" if way == "up" else "up"
            report.add("clock", f"at a rail (code {code})", True,
                       f"{there.size} edge(s): {name(labels[i] for i in there)}",
                       f"could not step {way}: moved {back_way} {n} and ends there")
    detail = (f"edge(s) {name(labels[i] for i in np.flatnonzero(~back))} more than "
              "one code from the start (or, at a rail, from where it could end)")
    report.add("clock", "up then down returns", bool(back.all()),
               f"worst {float(np.abs((end - expected_end)[conducts]).max(initial=0.0)):.2f} "
               "code", detail, _edge_faults(NOT_BACK, detail, labels, ~back))
    if uncertain.any():
        worst = float(move_sd[:, uncertain].max())
        detail = (f"edge(s) {name(labels[i] for i in np.flatnonzero(uncertain))}: the "
                  f"tomographies fix their moves only to +-{worst:.2g} codes (sd; more than "
                  f"{n}/{UNCERTAIN_DIVISOR:g}: next to a near-short, seen mostly in parallel "
                  "with it), so whether they step is not checked")  # fmt: skip
        report.add("clock", "too uncertain", None, f"{int(uncertain.sum())} edge(s)", detail,
                   _edge_faults(NOT_CHECKED, detail, labels, uncertain))
    # an edge at code 0 was seen to move (`_at_code_zero`): checked, not left out
    _not_checked(report, "clock", labels, ~conducts & ~low)
    return _Clock(halves, direction, conducts & ~stuck & ~uncertain, before, conducts,
                  fit.level + float(np.median(end[conducts])) if conducts.any() else fit.level,
                  low)  # fmt: skip


#: An edge whose per-half move the tomographies fix only to more than pulses / this
#: codes (sd) is not judged stuck or stepping (3 sd would exceed the verdict's pulses / 2).
UNCERTAIN_DIVISOR = 6.0
#: The least conductance change (factor) of a "shorted" edge between two of the clock
#: section's tomographies that makes it a digipot at code 0 instead (0 -> 3 codes is
#: about x30; a short does not change), and the least in its fits' sd.
LOW_RAIL_FACTOR = 4.0
LOW_RAIL_SIGMAS = 5.0


def _at_code_zero(report: CheckReport, labels: list[str], tomos: list[Tomo],
                  conducts: np.ndarray) -> np.ndarray:  # fmt: skip
    """(E,) bool: the edges the tomography called shorted (conductance above
    ``open_ratio`` x the median: a short, or a digipot at codes 0-3) whose conductance
    one half of the clock section changed, on both twins, by more than
    `LOW_RAIL_FACTOR` and `LOW_RAIL_SIGMAS` sd: a digipot at the bottom rail, which
    moves, not a short, which does not. The tomography's ``shorted edges`` item is
    corrected (it passes when every such edge moved); their moves are not scored (a
    near-short's code is too coarse for the tomography), only named."""
    tomo = report.data.get("tomography", {})
    shorted = [labels.index(x) for x in tomo.get("shorted", [])]
    low = np.zeros(len(labels), dtype=bool)
    if not shorted or not conducts.any():
        return low
    for a, b in pairwise(tomos):
        y = np.log(b.conductance) - np.log(a.conductance)  # (2, E)
        y = y - np.median(y[:, conducts], axis=1, keepdims=True)
        sd = np.sqrt(np.stack([f.rel_sd for f in a.fits]) ** 2
                     + np.stack([f.rel_sd for f in b.fits]) ** 2)  # fmt: skip
        big = (np.abs(y) > np.maximum(np.log(LOW_RAIL_FACTOR), LOW_RAIL_SIGMAS * sd))
        big &= a.seen_by & b.seen_by
        low[shorted] |= big[:, shorted].all(axis=0)
    if low.any():
        rest = [labels[i] for i in shorted if not low[i]]
        tomo["shorted"], tomo["at_code_0"] = rest, [labels[i] for i in np.flatnonzero(low)]
        item = next(i for i in report.items
                    if i.section == "tomography" and i.name == "shorted edges")  # fmt: skip
        item.ok = not rest
        item.figure = f"{len(rest)} shorted ({int(low.sum())} at code 0: the clock moved them)"
        item.detail = (f"edge(s) {', '.join(rest)} shorted (conductance above the others' "
                       "and no change under the clock's pulses)")  # fmt: skip
        item.faults = _edge_faults(SHORTED_EDGE, item.detail, labels,
                                   np.isin(labels, rest))  # fmt: skip
    return low


def _not_checked(report: CheckReport, section: str, labels: list[str],
                 left_out: np.ndarray) -> None:  # fmt: skip
    """A skipped item naming the edges (E,) bool ``section`` left out, and why."""
    if not left_out.any():
        return
    tomo = report.data.get("tomography", {})
    stuck = set(report.data.get("clock", {}).get("stuck", [])) if section == "bias" else set()
    why = {**{x: "open: no measurable conductance, its code moves are invisible"
              for x in tomo.get("open", [])},
           **{x: "shorted: its code moves are invisible" for x in tomo.get("shorted", [])},
           **{x: "at code 0: a near-short, its moves too coarse to score"
              for x in tomo.get("at_code_0", [])},
           **{x: "stuck" for x in stuck},
           **{x: "too uncertain in the clock section" for x in
              (report.data.get("clock", {}).get("uncertain", []) if section == "bias" else [])},
           }  # fmt: skip
    groups: dict[str, list[str]] = {}
    for i in np.flatnonzero(left_out):
        groups.setdefault(why.get(labels[i], "fixed by neither twin's reads"), []).append(
            labels[i])
    faults = [CheckFault(NOT_CHECKED, f"edge(s) {', '.join(g)} left out ({w})", edges=tuple(g))
              for w, g in groups.items()]  # fmt: skip
    report.add(section, "not checked", None, f"{int(left_out.sum())} edge(s)",
               "; ".join(f.detail for f in faults), faults)  # fmt: skip


@dataclass
class _Clock:
    """The clock section's patterns (two halves of (free, clamped)), the first half's
    direction per edge, the edges that step, and the last tomography."""

    halves: tuple[tuple[Pattern, Pattern], tuple[Pattern, Pattern]]
    direction: np.ndarray
    steps: np.ndarray
    last: Tomo
    conducts: np.ndarray
    #: the median code of the ``conducts`` edges at the last tomography (`clock_fit`)
    level: float = 64.0
    #: (E,) bool: the "shorted" edges the clock section saw move (`_at_code_zero`)
    at_code_0: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def check_bias(bench: Bench, settings: CheckSettings, report: CheckReport, clock: _Clock,
               should_stop: Callable[[], bool] | None) -> None:  # fmt: skip
    """Section 5: p at each bias from the tomographies' displacements: ``bias_pulses``
    pulses under one half's patterns move each stepping edge Binomial(m, p) codes in its
    known direction (module docstring, 5). The second bias uses the other half (going
    back)."""
    figures: list[dict[str, Any]] = []
    report.data["bias"] = figures  # a half measured before a stop is kept
    m = settings.bias_pulses
    before = clock.last
    level = clock.level  # the codes' median (`clock_fit`), not the power-up's
    for half, p in enumerate(settings.bias_p):
        volts = bench.set_probability(p)
        sign = clock.direction if half == 0 else -clock.direction
        up, down = clock.steps & (sign > 0), clock.steps & (sign < 0)
        if not up.any() or not down.any():
            report.add("bias", f"p = {p:g}", None, "", "too few stepping edges each way")
            continue
        model, now = _model_of(_codes(before, clock.conducts, level))
        # an edge with less room than m before a rail in its direction is left out of the
        # fit (the rail would hold it), unless too few are left each way
        room = np.where(sign > 0, TOP - now.astype(int), now)
        use = clock.steps & (room >= m)
        if (use & (sign > 0)).any() and (use & (sign < 0)).any():
            pulses = m
        else:
            use, pulses = clock.steps, int(min(m, room[clock.steps].min()))
        # the codes may move up to ``pulses`` towards 0 during the half: those the half
        # moves down (and those whose direction is not known); one moving up cannot. An
        # edge the patterns hold across two driven nodes may carry too much near code 0:
        # fewer pulses then (its fit left to the edges with room for them), or none
        try:  # 0 pulses: the patterns alone
            fewer, top_current = _most_pulses(
                bench, pulses, 0,
                lambda n, model=model, now=now, sign=sign: model.lowest(
                    now, np.where(sign > 0, 0.0, n / 2.0)),
                (clock.halves[half],), f"the bias check's patterns (p = {p:g})",
            )  # fmt: skip
        except LimitError as err:
            report.add("bias", f"p = {p:g}", False, "over the current limit", str(err),
                       [CheckFault(OVER_LIMIT, str(err))])
            continue
        if fewer < pulses:
            roomy = clock.steps & (room >= fewer)
            pulses = fewer
            if (roomy & (sign > 0)).any() and (roomy & (sign < 0)).any():
                use = roomy
        if pulses < 1:
            report.add("bias", f"p = {p:g}", None, "", "no pulse fits the rails and the "
                       "current limits (an edge at a rail in its direction)")  # fmt: skip
            continue
        for _ in range(pulses):
            _stop_point(should_stop)
            for t, twin in enumerate(TWINS):
                _apply(bench, twin, clock.halves[half][t])
            bench.pulse()
            report.pulses_sent += 1
        _release_all(bench)
        # the codes are within ``pulses`` of ``now`` (a pulse moves each by at most one)
        after = _tomography(bench, settings, before.conductance, should_stop,
                            known=np.maximum(now.astype(int) - pulses, 0))
        c0 = _codes(before, clock.conducts, level).mean(axis=0)
        c1 = _codes(after, clock.conducts, level).mean(axis=0)
        # c1 s - c0 = sign p m on the stepping edges: each tomography's common factor is
        # unknown (fixed by its median), so the factor s between them is fitted with p
        a = np.column_stack([c1[use], -sign[use] * max(pulses, 1)])
        (factor, measured), *_ = np.linalg.lstsq(a, c0[use], rcond=None)
        measured = float(measured)
        moved = c1 * factor - c0
        level = float(level * factor)  # the next half's median code
        expected = float(bench.calibration.p_at(volts))
        count = int(use.sum()) * max(pulses, 1)
        se = float(np.sqrt(max(expected * (1 - expected), 1e-6) / count))
        tol = max(settings.p_tolerance, 3 * se)
        ok = bool(abs(measured - expected) <= tol)
        figures.append({"p": p, "bias_volts": volts, "pulses": pulses, "measured": measured,
                        "expected": expected, "tolerance": tol,
                        "moves": _figure(moved, clock.conducts),
                        "max_current_a": top_current})  # fmt: skip
        fewer = f", {pulses} of {m} pulses" if pulses < m else ""  # the rails or the limit
        detail = (f"p measured {measured:.3f}, the calibration says {expected:.3f} "
                  f"(+-{tol:.3f}): recalibrate (twinlab calibrate) or check the bias wiring")
        report.add("bias", f"p at {volts:.3f} V", ok,
                   f"{measured:.2f} (calibration {expected:.2f} +- {tol:.2f}{fewer})", detail,
                   [CheckFault(BIAS_OFF, detail)])
        before = after
    # an edge at code 0 is not in the fit (a near-short's code is too coarse), but the
    # clock section saw it move: not a gap of the check
    _not_checked(report, "bias", bench.network.edge_labels(), ~clock.steps & ~clock.at_code_0)
    report.data["final"] = {
        "codes": np.round(_codes(before, clock.conducts, level), 2).tolist()}


def run_check(
    bench: Bench,
    settings: CheckSettings = CheckSettings(),
    should_stop: Callable[[], bool] | None = None,
    where: str | None = None,
) -> CheckReport:
    """The whole check (module docstring) on ``bench``; `plan` first (nothing applied if
    it refuses; ``where``: the bench file's path, which its lines name). The bench is made
    safe at the end (its lines in ``report.unsafe``)."""
    plan(bench, settings, where)
    report = CheckReport()
    try:
        _sections(bench, settings, report, should_stop)
    except _Stopped:
        report.stop_at(report.running)
    finally:
        report.unsafe = bench.safe_state()
    return report


def _swap_action(channels: tuple[Channel, ...] | list[Channel], chosen: list[Channel]) -> str:
    """What to do about the corrected channels ``chosen`` (the bench file's ``channels``
    under their new nodes): each pair that took each other's nodes, swapped back."""
    where = {ch.name: (ch.kind, ch.twin, ch.node) for ch in channels}
    pairs: list[tuple[str, str]] = []
    for c in chosen:
        partner = next((d.name for d in chosen if d.name != c.name
                        and where[d.name] == (c.kind, c.twin, c.node)), None)  # fmt: skip
        pair = tuple(sorted((c.name, partner))) if partner else None
        if pair and pair not in pairs:
            pairs.append(pair)  # type: ignore[arg-type]
    return "; ".join(f"swap the wires of {a!r} and {b!r}, or swap their names in the bench file"
                     for a, b in pairs)


def _sections(bench: Bench, settings: CheckSettings, report: CheckReport,
              should_stop: Callable[[], bool] | None) -> None:  # fmt: skip
    report.running = "identify"
    daq_id = bench.daq.identify()
    clock_id = bench.clock.identify()
    report.data["identify"] = {"daq": daq_id, "clock": clock_id}
    for what, ident in (("DAQ", daq_id), ("clock board", clock_id)):
        report.add("identify", what, bool(ident.strip()), ident.strip()[:60], "no identity",
                   [CheckFault(NO_IDENTITY, f"the {what} gave no identity")])  # fmt: skip
    report.running = "channels"
    maps = check_channels(bench, settings, report, should_stop)
    report.running = "tomography"
    if not maps:
        report.add("tomography", "skipped", None, "", "the channel map is not understood")
        return
    candidates, why = [], ""
    for channels in maps:
        candidate = _with_channels(bench, channels)
        mine = settings
        if len(channels) < len(bench.channels):  # fewer channels: a longer tomography
            mine = replace(settings, tomography_budget=2 * settings.tomography_budget)
        why = check_supports_estimation(
            candidate, TomographySettings(budget=mine.tomography_budget, inset=mine.inset)
        ) or ""
        have = _Channels.of(channels)
        if why and any(len(have.drive[t]) < 2 or not have.sense[t] for t in TWINS):
            continue  # no tomography at all; else the rest runs on what it can see
        candidates.append((candidate, mine, why))
    if not candidates:
        report.add("tomography", "skipped", None, "",
                   f"fix the channels first; without them: {why}")  # fmt: skip
        return
    # before anything above the safe span: can the board be at its power-up codes? (the
    # channel step pulses no clock, but the board may have been trained since power-up)
    blinds = [blind_round(c, m, should_stop) for c, m, _ in candidates]
    best = min(range(len(blinds)), key=lambda i: blinds[i].chi2)
    verdict = power_up_verdict(candidates[best][0], candidates[best][1], blinds[best])
    report.data["power_up"] = verdict.figures
    if not verdict.power_up:  # nothing above the safe span applied
        opened = verdict.figures.get("open")
        figure = (f"{', '.join(opened)} open?" if opened else "not at power-up"
                  if settings.start_codes is None else "not at the codes given")  # fmt: skip
        why = f"twinlab check: {verdict.why}"
        fault = verdict.fault or CheckFault(NOT_AT_START, why)
        report.add("tomography", "start codes", False, figure, why,
                   [replace(fault, detail=why)])  # fmt: skip
        return
    at = "power-up codes" if settings.start_codes is None else "codes given"
    report.add("tomography", "start codes", True, f"{at}: worst edge "
               f"{verdict.figures['worst_score']:.2f} of its tolerance", "")  # fmt: skip
    start_codes = _start_codes(settings, bench.network.n_edges)
    if settings.start_codes is not None:  # never a higher level than the power-up's
        settings = replace(settings, initial_code=min(
            settings.initial_code, int(np.floor(np.median(start_codes)))))
    fits = [(_tomography(candidate, replace(mine, initial_code=settings.initial_code), None,
                         should_stop, start_codes), candidate, mine, why)
            for candidate, mine, why in candidates]  # fmt: skip
    start, checked, settings, support = min(fits, key=lambda f: f[0].chi2)
    if len(maps) > 1:
        chosen = [c for c in checked.channels if c not in bench.channels]
        report.data["channels"]["corrected"] = [
            {"name": c.name, "kind": c.kind, "twin": c.twin, "node": c.node} for c in chosen
        ]
        report.data["channels"]["chi2_of_explanations"] = [float(f[0].chi2) for f in fits]
        report.add("channels", "explanation", True,
                   ", ".join(f"{c.kind} {c.name!r} is {c.twin} node {c.node}" for c in chosen),
                   _swap_action(bench.channels, chosen), info=True)  # fmt: skip
    conducts = check_tomography(checked, settings, report, start)
    # why the per-pulse estimator could not train on this map (None: it can)
    report.data["tomography"]["estimator_unsupported"] = support or None
    if not all(i.ok for i in report.items if i.section == "tomography" and i.name == "fit"):
        return
    report.running = "clock"
    clock = check_clock(checked, settings, report, start, conducts, should_stop)
    if clock is None:
        return
    report.running = "bias"
    check_bias(checked, settings, report, clock, should_stop)


__all__ = ["FAULT_KINDS", "SECTIONS", "CheckFault", "CheckReport", "CheckSettings", "Item",
           "channel_levels", "clock_patterns", "plan", "run_check"]  # fmt: skip
