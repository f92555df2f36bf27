"""Bias voltage to update probability p: a monotone calibration curve.

Each edge steps when its local oscillator is above the global bias at the clock
pulse, so p falls as the bias rises. A `Calibration` is a table of (bias, p)
points with p non-increasing in bias, interpolated linearly both ways.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


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


#: a multiline array as tomli_w writes it, every item a bare number (int, float, nan, inf)
_NUMBER_ARRAY = re.compile(r"\[\n((?:[ ]+[-+]?(?:[0-9][0-9_.eE+-]*|nan|inf),\n)+)\]")


def _reflow_numbers(text: str, width: int = 88, indent: int = 4) -> str:
    """tomli_w's arrays of numbers (one item per line) as lines of up to ``width``
    characters, a short one (a pair of limits) inline: a 200-point calibration reads as
    about 30 lines, not 200. The values are untouched (the same TOML tokens)."""

    def reflow(match: re.Match[str]) -> str:
        items = [line.strip() for line in match[1].splitlines()]
        flat = " ".join(items)[:-1]
        if len(flat) <= width // 2:
            return f"[{flat}]"
        lines, line = [], " " * indent
        for item in items:
            if len(line) + len(item) + 1 > width and line.strip():
                lines.append(line.rstrip())
                line = " " * indent
            line += item + " "
        lines.append(line.rstrip())
        return "[\n" + "\n".join(lines) + "\n]"

    return _NUMBER_ARRAY.sub(reflow, text)


def toml_text(data: Mapping[str, Any], comment: str = "") -> str:
    """``data`` as a TOML document (tomli-w: every string escaped as TOML requires),
    after ``comment`` as ``#`` lines. Values: str, int, float (NaN and inf too), bool,
    lists and tables of those (numpy integers are not: call ``.tolist()``)."""
    import tomli_w  # only where a file is written

    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + _reflow_numbers(tomli_w.dumps(data))
