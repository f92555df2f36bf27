"""The compiled bound behind `lab.hal.currents.CurrentLimits.safe_spread` (a module of its
own so that importing `lab.hal` loads no numba)."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def safe_spread_bound(
    k: np.ndarray, a: np.ndarray, b: np.ndarray, idx: np.ndarray, limits: np.ndarray,
    edge: float,
) -> float:
    """`CurrentLimits.safe_spread`'s bound: min(edge / max k, min_j limits[j] / (sum of
    the conductances k (E,) S at node index idx[j])), V; edges e join a[e] and b[e]."""
    kmax = 0.0
    for e in range(k.size):
        kmax = max(kmax, k[e])
    safe = edge / kmax if kmax > 0.0 else np.inf
    for j in range(idx.size):
        n = idx[j]
        total = 0.0
        for e in range(k.size):
            if a[e] == n or b[e] == n:
                total += k[e]
        if total > 0.0:
            safe = min(safe, limits[j] / total)
    return safe
