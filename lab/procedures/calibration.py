"""The bias calibration sweep: p measured against the bias voltage on a bench whose probe
observes which edges updated, and the monotone curve fitted through it (a
`lab.hal.calibration.Calibration`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lab.errors import ConfigError
from lab.hal import Bench
from lab.hal.calibration import Calibration


@dataclass(frozen=True)
class Sweep:
    """What `sweep` measured: per bias (K,) the board-average p, its spread across edges
    (sd of the per-edge p), and the mean pairwise correlation of edge updates."""

    bias: np.ndarray
    p: np.ndarray
    spread: np.ndarray
    correlation: np.ndarray
    pulses: int

    def fit(self, source: str) -> Calibration:
        """The monotone curve through the measured points."""
        curve = monotone_fit(self.bias, self.p)
        return Calibration(curve.bias, curve.p, source)


def sweep(
    bench: Bench,
    biases: Sequence[float],
    pulses: int = 400,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Sweep | None:
    """Estimate p at each bias (V) from ``pulses`` clock pulses, using the update masks
    the bench's probe observes. Every output stays released; the digipots do step (they
    drift to their ends), so run it before, not during, an experiment. ``progress`` is
    called with the number of pulses done after each bias. ``should_stop`` is asked
    before every pulse; when it says True the sweep ends there (bench safe) and returns
    None. Every bias is checked against the bench's bias limits (`Limits.check`; LimitError,
    NaN refused) before the first one is set."""
    if bench.probe is None:
        raise ConfigError(
            "calibration needs a bench that observes which edges updated (a probe); "
            "without one, measure the LED duty cycle per edge at each bias by hand"
        )
    bias = np.asarray(biases, dtype=float)
    for i, b in enumerate(bias.tolist()):  # every bias before the first is set; NaN refused
        bench.bias_limits.check(b, f"the bias source (calibration bias {i + 1} of {len(bias)})",
                                label="the bias limits", quantity="bias")
    p, spread, corr = [], [], []
    try:
        for b in bias:
            bench.bias.set_volts(float(b))
            masks = np.empty((pulses, bench.network.n_edges), dtype=bool)
            for i in range(pulses):
                if should_stop is not None and should_stop():
                    return None
                bench.pulse()
                update = bench.probe.last_update()
                if update is None:
                    raise ValueError("the probe reported no update after a pulse")
                masks[i] = update[0]
            per_edge = masks.mean(axis=0)
            p.append(per_edge.mean())
            spread.append(per_edge.std())
            corr.append(edge_correlation(masks))
            if progress is not None:
                progress(pulses)
    finally:
        bench.safe_state()
    return Sweep(bias, np.array(p), np.array(spread), np.array(corr), pulses)


def measure_p(update_masks: np.ndarray) -> tuple[float, float]:
    """Mean update probability and its binomial standard error from masks (steps, E)."""
    masks = np.asarray(update_masks, dtype=bool)
    p = float(masks.mean())
    return p, float(np.sqrt(max(p * (1 - p), 1e-12) / masks.size))


def edge_correlation(update_masks: np.ndarray) -> float:
    """Mean Pearson correlation between the update sequences of distinct edges.

    ``update_masks`` (steps, E) bool. NaN if any edge never or always updates.
    """
    masks = np.asarray(update_masks, dtype=float)
    if np.any(masks.std(axis=0) == 0):
        return float("nan")
    corr = np.corrcoef(masks.T)
    off = ~np.eye(len(corr), dtype=bool)
    return float(corr[off].mean())


def monotone_fit(bias: Sequence[float], p: Sequence[float]) -> Calibration:
    """Fit a non-increasing curve (isotonic regression) to measured (bias V, p) points."""
    order = np.argsort(bias)
    x = np.asarray(bias, dtype=float)[order]
    y = np.asarray(p, dtype=float)[order]
    from scipy.optimize import isotonic_regression  # scipy.optimize: ~1 s to import

    fitted = isotonic_regression(y, increasing=False).x
    return Calibration(x, np.clip(fitted, 0.0, 1.0), source="measured")
