"""The second seed's line-classification data set: 2x2 pixel patterns, straight vs
diagonal lines, generated from a seed (`lines_dataset`), and its task (`lines_task`,
kind "classification" with ``generator = "lines"``, e.g. ``data/tasks/lines.toml``).

Pixels are numbered row by row: 1 top left, 2 top right, 3 bottom left, 4 bottom right
(the input order; ``data/networks/layer4x2x2.toml`` wires them to nodes 1-4). A pattern
is the set of its lit pixels. The seed states: 32 examples, 16 per class, the pattern's
pixels at an integer 0-5 V and the others at 0 V, two patterns per class. Our reading
(`PATTERNS`): straight = the top row {1, 2} and the left column {1, 3} (one horizontal,
one vertical line), diagonal = {1, 4} and {2, 3}; each lit pixel independently an integer
in ``levels`` (default 1..5 V: a lit pixel at 0 V would erase the line), 8 distinct
examples per pattern.

Why this reading and the class-means scheme: a resistor network without a ground passes
each output a convex combination of the inputs, so the outputs scale with the pattern's
brightness and comparing the two outputs is a linear test with weights summing to zero.
The two diagonals together light every pixel, so no such test tells both diagonals from
any two straight lines at equal brightness; the nearest class-mean target (the Iris
scheme, `lab.acquire.trainer`) is an affine test in output space and can. With two
vertical (or two horizontal) lines as the straight class both classes' mean inputs are
the same uniform image, and the class-means targets would coincide.

The task's ``targets = "pattern-means"`` (`lab.acquire.trainer`) keeps one target per
pattern instead (`pattern_groups` numbers them); `readout_ceilings` bounds what each
kind of readout of a linear network can reach on the data set.
Other schemes (a margin, brightness-scaled targets, brightness-normalised inputs,
per-example nudges) are mapped by ``twinlab study seed2`` (``lines-map``); none beats
class-means on the full board: from the symmetric power-on setting the output edges
step up until they saturate, whatever the targets (docs/physics.md 4.6).
"""

from __future__ import annotations

import numpy as np

from lab.tasks.task import TaskError

#: Our reading of the seed's patterns: class -> its two patterns (lit pixels, 1-based).
PATTERNS: dict[str, tuple[tuple[int, ...], ...]] = {
    "straight": ((1, 2), (1, 3)),
    "diagonal": ((1, 4), (2, 3)),
}
#: Pixels of the 2x2 image.
N_PIXELS = 4


def lines_dataset(
    *,
    seed: int,
    patterns: dict[str, tuple[tuple[int, ...], ...]] | None = None,
    n_per_pattern: int = 8,
    levels: tuple[int, int] = (1, 5),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels (M, 4) V, labels (M,) class indices into the order of ``patterns``, pattern
    (M,) the pattern's index within its class), M = classes x patterns x n_per_pattern.

    Each example lights one pattern: its pixels each an independent integer in
    ``levels`` (V, inclusive), the others 0 V; the examples of a pattern are distinct
    (drawn without replacement). Rows are grouped by class, then pattern. Reproducible:
    the same ``seed`` gives the same array.
    """
    patterns = PATTERNS if patterns is None else patterns
    lo, hi = int(levels[0]), int(levels[1])
    if not 0 <= lo <= hi:
        raise TaskError(f"lines: field 'levels': expected 0 <= low <= high, got {list(levels)}")
    rng = np.random.default_rng(seed)
    rows, labels, which = [], [], []
    for c, (cname, pats) in enumerate(patterns.items()):
        for k, pat in enumerate(pats):
            lit = sorted(set(int(p) for p in pat))
            if not lit or lit[0] < 1 or lit[-1] > N_PIXELS:
                raise TaskError(
                    f"lines: field 'patterns': class {cname!r} pattern {list(pat)}: pixels "
                    f"must be in 1..{N_PIXELS}"
                )
            n_levels = hi - lo + 1
            n_combos = n_levels ** len(lit)
            if n_per_pattern > n_combos:
                raise TaskError(
                    f"lines: field 'n_per_pattern': {n_per_pattern} distinct examples of "
                    f"pattern {list(pat)} need more than the {n_combos} level combinations"
                )
            for combo in rng.choice(n_combos, size=n_per_pattern, replace=False):
                x = np.zeros(N_PIXELS)
                for j, p in enumerate(lit):
                    x[p - 1] = lo + (int(combo) // n_levels**j) % n_levels
                rows.append(x)
                labels.append(c)
                which.append(k)
    return np.array(rows), np.array(labels, dtype=np.int64), np.array(which, dtype=np.int64)


def pattern_groups(
    patterns: dict[str, tuple[tuple[int, ...], ...]], labels: np.ndarray, pattern: np.ndarray
) -> np.ndarray:
    """Global pattern index (M,) of examples with class ``labels`` (M,) and ``pattern``
    (M,) (its index within the class; `lines_dataset`): the patterns numbered class by
    class in the order of ``patterns`` (straight {1,2} = 0, {1,3} = 1, diagonal {1,4} = 2,
    {2,3} = 3 for `PATTERNS`). `Task.train_groups` of the "pattern-means" targets."""
    offsets = np.cumsum([0, *(len(p) for p in patterns.values())])[:-1]
    return offsets[np.asarray(labels)] + np.asarray(pattern)


def balanced_split(
    labels: np.ndarray, n_train_per_class: int, seed: int, where: str = "lines"
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices: ``n_train_per_class`` rows of every class drawn with
    ``seed`` (sorted); the rest is the test set. Each class needs more rows than that."""
    rng = np.random.default_rng(seed)
    train = []
    for c in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == c)
        if len(members) <= n_train_per_class:
            raise TaskError(
                f"{where}: field 'n_train_per_class': class {c} has only {len(members)} "
                f"examples; need more than {n_train_per_class}"
            )
        train.append(rng.choice(members, size=n_train_per_class, replace=False))
    train_idx = np.sort(np.concatenate(train))
    return train_idx, np.setdiff1d(np.arange(len(labels)), train_idx)


#: Readouts of a two-output network whose outputs are linear in the pixels, V_k = w_k . x
#: (no ground: each w_k >= 0 sums to 1), as tests u . x + c > 0 in pixel space
#: (`readout_ceilings`): "affine": any affine test in output space (the nearest of two
#: targets, e.g. class means; u = a w_7 + b w_8 is any vector); "difference": V_7 - V_8
#: against a threshold (sum u = 0); "argmax": V_7 > V_8 (sum u = 0, c = 0); "one output":
#: a threshold on one output, or on both when they are equal (u >= 0).
READOUTS: tuple[str, ...] = ("affine", "difference", "argmax", "one output")


def readout_ceilings(x: np.ndarray, labels: np.ndarray, bound: float = 50.0) -> dict[str, float]:
    """The best accuracy any test of each `READOUTS` family reaches on examples ``x``
    (M, n) V with two classes ``labels`` (M,): exact mixed-integer programs (scipy
    ``milp``), weights bounded by ``bound`` per volt (the test's scale is free, so the
    bound only caps the ratio of the largest weight to the margin, 1)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    x = np.asarray(x, dtype=float)
    m, n = x.shape
    s = np.where(np.asarray(labels) == 0, 1.0, -1.0)
    big = 4 * bound * (np.abs(x).sum(axis=1).max() + 1)
    out: dict[str, float] = {}
    for readout in READOUTS:
        best = 0.0
        for sign in (1.0, -1.0) if readout == "one output" else (1.0,):
            # variables: u (n), c, z (m) in {0, 1}: z_i = 1 lets example i be wrong
            a = np.zeros((m, n + 1 + m))
            a[:, :n] = sign * s[:, None] * x
            a[:, n] = sign * s
            a[np.arange(m), n + 1 + np.arange(m)] = big
            cons = [LinearConstraint(a, lb=1.0, ub=np.inf)]
            lo_u = 0.0 if readout == "one output" else -bound
            c_bound = 0.0 if readout == "argmax" else big
            if readout in ("difference", "argmax"):
                row = np.zeros(n + 1 + m)
                row[:n] = 1.0
                cons.append(LinearConstraint(row[None], 0.0, 0.0))
            lb = np.r_[np.full(n, lo_u), -c_bound, np.zeros(m)]
            ub = np.r_[np.full(n, bound), c_bound, np.ones(m)]
            res = milp(np.r_[np.zeros(n + 1), np.ones(m)], constraints=cons,
                       integrality=np.r_[np.zeros(n + 1), np.ones(m)],
                       bounds=Bounds(lb, ub))  # fmt: skip
            if res.x is not None:
                best = max(best, 1.0 - float(np.round(res.x[n + 1 :]).sum()) / m)
        out[readout] = best
    return out


__all__ = ["N_PIXELS", "PATTERNS", "READOUTS", "balanced_split", "lines_dataset",
           "pattern_groups", "readout_ceilings"]
