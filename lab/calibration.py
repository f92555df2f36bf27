"""Bias voltage to update probability p: a monotone calibration curve.

Each edge steps when its local oscillator is above the global bias at the clock
pulse, so p falls as the bias rises. A `Calibration` is a table of (bias, p)
points with p non-increasing in bias, interpolated linearly both ways.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import isotonic_regression

if TYPE_CHECKING:
    from lab.hal import Bench


class CalibrationError(ValueError):
    """A calibration table that cannot be used (not monotone, p outside [0, 1], ...)."""


@dataclass(frozen=True)
class Calibration:
    """p(bias): ``bias`` (K,) strictly increasing V, ``p`` (K,) non-increasing in [0, 1]."""

    bias: np.ndarray
    p: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        bias = np.asarray(self.bias, dtype=float)
        p = np.asarray(self.p, dtype=float)
        where = f" ({self.source})" if self.source else ""
        if bias.ndim != 1 or bias.shape != p.shape or len(bias) < 2:
            raise CalibrationError(
                f"calibration{where}: need >= 2 (bias, p) points of equal length"
            )
        if not np.all(np.isfinite(bias)):
            raise CalibrationError(f"calibration{where}: every bias must be a finite number (V)")
        if np.any(np.diff(bias) <= 0):
            i = int(np.flatnonzero(np.diff(bias) <= 0)[0])
            raise CalibrationError(
                f"calibration{where}: bias must increase, "
                f"but {bias[i + 1]:g} V follows {bias[i]:g} V"
            )
        if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
            raise CalibrationError(f"calibration{where}: every p must lie in [0, 1]")
        if np.any(np.diff(p) > 0):
            i = int(np.flatnonzero(np.diff(p) > 0)[0])
            raise CalibrationError(
                f"calibration{where}: not monotone: p rises from {p[i]:g} to {p[i + 1]:g} "
                f"between {bias[i]:g} V and {bias[i + 1]:g} V"
            )
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "p", p)

    @classmethod
    def linear(cls, bias_p1: float, bias_p0: float, source: str = "linear") -> Calibration:
        """p = 1 at ``bias_p1`` falling linearly to p = 0 at ``bias_p0`` (V)."""
        return cls(np.array([bias_p1, bias_p0]), np.array([1.0, 0.0]), source)

    def p_at(self, volts: float | np.ndarray) -> np.ndarray:
        """Update probability at bias ``volts`` (clamped to the table's ends)."""
        return np.interp(volts, self.bias, self.p)

    def volts_for(self, p: float) -> float:
        """The bias (V) giving update probability ``p``.

        p at or above the table's maximum returns the lowest bias of that plateau's far
        end (the table's first point), so p = 1 sits deep inside the always-on region.
        """
        p_max, p_min = self.p[0], self.p[-1]
        if not p_min <= p <= p_max:
            raise CalibrationError(
                f"p = {p} is outside what this calibration reaches [{p_min:g}, {p_max:g}]"
            )
        if p == p_max:
            return float(self.bias[0])
        if p == p_min:
            return float(self.bias[-1])
        # inside a strictly falling part: interpolate on -p (ascending)
        return float(np.interp(-p, -self.p, self.bias))

    def to_dict(self) -> dict[str, Any]:
        return {"bias": self.bias.tolist(), "p": self.p.tolist(), "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(np.asarray(data["bias"]), np.asarray(data["p"]), str(data.get("source", "")))


def write_calibration(path: str | Path, calibration: Calibration, **extra: Any) -> Path:
    """Write a calibration file (TOML, UTF-8): ``source``, scalar/list ``extra`` fields
    (e.g. ``spread``, ``correlation``), then ``bias`` V and ``p``. Returns the path."""
    path = Path(path)
    fields: dict[str, Any] = {"source": calibration.source, **extra}
    fields |= {"bias": calibration.bias.tolist(), "p": calibration.p.tolist()}
    text = toml_text(fields, "twinlab calibration: update probability p against bias voltage (V)")
    path.write_text(text, encoding="utf-8")
    return path


def read_calibration(path: str | Path) -> Calibration:
    """Read a calibration file; CalibrationError names the file and what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"{path}: calibration file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise CalibrationError(f"{path}: not valid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:  # a directory, unreadable, not text
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise CalibrationError(f"{path}: cannot read the calibration file: {reason}") from None
    for key in ("bias", "p"):
        if not isinstance(data.get(key), list):
            raise CalibrationError(f"{path}: field {key!r}: expected a list of numbers")
    try:
        return Calibration(
            np.asarray(data["bias"], float),
            np.asarray(data["p"], float),
            source=str(data.get("source", path.name)),
        )
    except (TypeError, ValueError) as err:
        raise CalibrationError(f"{path}: {err}") from None


def toml_text(data: Mapping[str, Any], comment: str = "") -> str:
    """``data`` as a TOML document (tomli-w: every string escaped as TOML requires),
    after ``comment`` as ``#`` lines. Values: str, int, float (NaN and inf too), bool,
    lists and tables of those (numpy integers are not: call ``.tolist()``)."""
    import tomli_w  # only where a file is written

    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + tomli_w.dumps(data)


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
    None."""
    if bench.probe is None:
        raise ValueError(
            "calibration needs a bench that observes which edges updated (a probe); "
            "without one, measure the LED duty cycle per edge at each bias by hand"
        )
    lo, hi = bench.bias_limits
    bias = np.asarray(biases, dtype=float)
    bad = (bias < lo) | (bias > hi)
    if bad.any():
        raise ValueError(f"bias {bias[bad][0]:g} V is outside the bias limits [{lo:g}, {hi:g}] V")
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
    fitted = isotonic_regression(y, increasing=False).x
    return Calibration(x, np.clip(fitted, 0.0, 1.0), source="measured")
