"""A digipot that does not step, told during a run from the codes the probe reports.

`twinlab check` names a stuck edge before a run; during one, an edge whose digipots never
step (``twinlab emulate --fault stuck-edge:I-J``) trains on silently unless someone
watches its code. `StuckWatch` does, pulse by pulse, over the probe's codes (exact or
estimated, `lab.observe.probe.EstimatedProbe`) and its rule directions:

- a pulse *asks* an edge to move when its code before the pulse is inside 1..top - 1
  (enabled, it steps whichever its direction); an estimated code must be inside by more
  than its doubt, ``1 + ceil(2 sd)`` codes (with sd <= 0.5: 3..124): on a good board
  an edge estimated at 126 sat 41 pulses at p = 0.5 without a move, at the rail in
  truth until a resync said 127. At a rail it is asked only when the rule
  points away from it and the directions are the board's own (``rails``: an exact
  probe): held there in the rule's direction (code 0 and -1, the top code and +1) an
  edge stays whether enabled or not (the ``ESTIMATED_MASK`` meaning of
  `lab.runs.layout`), and an estimator's direction at a rail is its guess from drops
  near the rule's threshold: on good boards at the top rail it said -1 on up to 18 % of
  the pulses, enough to name two good edges in 2000 steps. And an estimated edge is
  asked only at a pulse the estimator was sure of: its code's variance grew by less
  than ``SURE`` (the tracker's posterior probability of a move it did not report,
  `lab.observe.tracking.Tracker.commit`; a resync, which reads the code, shrinks it).
  An edge the pulse's reads do not see keeps its prior's move, none below p = 0.5 and
  ~p wrong: on a good board with nodes 5 and 9 unsensed (which the estimator accepts)
  six edges were named within 600 pulses at p = 0.5 without this;
- it *moved* when its code after the pulse differs from the one before (the estimator's
  resyncs included);
- since its last move, an edge asked n times that moved never would be that unlucky
  with probability (1 - q)^n at the rate q = ``RATE_FRACTION`` x p (half the set p,
  capped at ``RATE_MAX``: the oscillators' real p is a few percent off the set one, and
  the estimator misses some moves, so a good edge's move rate is a little below p; at
  p = 1 one missed move must not warn). Below ``STUCK_P`` the edge is named, once.

The count restarts at every move, so a part that sticks mid-run is told as fast as one
stuck from the start. Measured delays and false alarms: docs/physics.md 6.4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: The chance of a good edge's run of unmoved asked pulses below which it is named
STUCK_P = 1e-6
#: The most posterior probability of a move the estimator did not report (its code's
#: variance growth at the pulse, code steps^2) of a pulse that counts as asking
SURE = 0.01
#: The move rate the test assumes of a good edge, as a fraction of the set p
RATE_FRACTION = 0.5
#: ... and at most this (p = 1 makes it 0.5)
RATE_MAX = 0.5


#: What a named edge may have, and what tells them apart. An edge's own p is its
#: oscillator's time above the bias, which the parts' spread moves off the set p by a few
#: hundredths (the emulator's default: up to +-0.02), so at a set p of a few hundredths
#: some edges' oscillators never cross the bias: on emulated board 0 at p = 0.02, edges
#: 4-7 and 6-8 (own p 0) were named. `twinlab check` steps every edge at p = 1.
CAUSES = ("its digipot may be stuck, or its oscillator never enables it at this bias; "
          "run twinlab check (it steps every edge at p = 1)")


def asked_pulses(rate: float, chance: float = STUCK_P) -> int:
    """The fewest asked pulses without a move whose chance at move ``rate`` per pulse is
    below ``chance``: ceil(log chance / log(1 - rate))."""
    return math.ceil(math.log(chance) / math.log1p(-rate))


class StuckWatch:
    """Counts, per edge, the pulses since its last move and those of them that asked it
    to move; `observe` returns the one-line warnings of the edges it names that pulse.

    ``labels`` (E,) the edges' node labels ("1-4"), ``p`` the set probability, ``top``
    the highest code, ``rails``: whether the directions at a rail are to be trusted (an
    exact probe's). ``warnings``: every line so far, in order.
    """

    def __init__(self, labels: Sequence[str], p: float, top: int, rails: bool = False,
                 chance: float = STUCK_P) -> None:
        self.labels = list(labels)
        self.p = float(p)
        self.top = int(top)
        self.rails = bool(rails)
        self.rate = min(RATE_FRACTION * self.p, RATE_MAX)
        #: asked pulses without a move after which an edge is named (0: never, p = 0)
        self.limit = asked_pulses(self.rate, chance) if self.rate > 0 else 0
        e = len(self.labels)
        self.pulses = np.zeros(e, dtype=np.int64)  # pulses since the last move
        self.asked = np.zeros(e, dtype=np.int64)  # of which asked it to move
        self.named = np.zeros(e, dtype=bool)
        self.warnings: list[str] = []

    def observe(self, before: np.ndarray, after: np.ndarray, direction: np.ndarray,
                sd: np.ndarray | None = None, sd_after: np.ndarray | None = None,
                ) -> list[str]:
        """One pulse: codes ``before`` and ``after`` it (E,), the rule's ``direction``
        (E,) +-1 at it, ``sd`` and ``sd_after`` (E,) the estimated codes' sd before and
        after it, code steps (None: exact codes). The warnings of edges named now (each
        edge once)."""
        before = np.asarray(before)
        moved = np.asarray(after) != before
        doubt = 0.0 if sd is None else 1.0 + np.ceil(2.0 * np.asarray(sd, dtype=float))
        asked = (before > doubt) & (before < self.top - doubt)
        if sd is not None and sd_after is not None:
            grew = np.asarray(sd_after, dtype=float) ** 2 - np.asarray(sd, dtype=float) ** 2
            asked &= grew < SURE
        if self.rails:
            asked |= ((before >= self.top) & (direction < 0)) | ((before <= 0) & (direction > 0))
        self.pulses += 1
        self.asked += asked
        self.pulses[moved] = 0
        self.asked[moved] = 0
        if not self.limit:
            return []
        new = np.flatnonzero((self.asked >= self.limit) & ~self.named)
        lines = []
        for e in new.tolist():
            self.named[e] = True
            lines.append(
                f"edge {self.labels[e]} has not moved in {self.pulses[e]} pulses where its "
                f"rule asked it to {self.asked[e]} times (p = {self.p:g} expects "
                f"~{self.p * self.asked[e]:.0f} moves): {CAUSES}"
            )
        self.warnings += lines
        return lines
