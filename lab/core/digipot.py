"""The digipot: code -> resistance and back, for any resolution and spacing (one definition).

A digipot in rheostat mode has ``positions`` codes 0..positions - 1 (16, 128 for the
AD5220, 256, ...). Its resistance is R = R_W + f(code) R_AB (Ohm), with R_W the wiper
resistance and R_AB the end-to-end resistance, and the fraction f:

- ``"linear"`` (every part on the boards so far): f(c) = c / positions, so code 0 is the
  wiper alone and the top code is R_AB (positions - 1) / positions;
- ``"log"`` (proposed by the second seed for future boards): the same span as the linear
  part's codes 1..top, in equal ratios: f(c) = (1 / positions) top^(c / top), so
  f(0) = 1 / positions, f(top) = top / positions, and each step multiplies f by
  top^(1 / top) (x1.039 for 128 positions, x1.198 for 16).

`Digipot` is used by the rule (its ``top`` clips the codes), the emulator's board
(`lab.emulator.board`), the estimator's model (`lab.observe.model.DigipotModel`), the
batched studies and the SPICE export (`lab.export.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Spacing = Literal["linear", "log"]
SPACINGS: tuple[str, ...] = ("linear", "log")
#: Positions of the AD5220 digital potentiometer (the default).
N_POSITIONS = 128
#: The resolutions a digipot may have: 2..MAX_POSITIONS positions.
MAX_POSITIONS = 1024


@dataclass(frozen=True)
class Digipot:
    """A digipot's resolution ``positions`` (codes 0..positions - 1) and ``spacing``."""

    positions: int = N_POSITIONS
    spacing: Spacing = "linear"

    def __post_init__(self) -> None:
        if isinstance(self.positions, bool) or not 2 <= int(self.positions) <= MAX_POSITIONS:
            raise ValueError(
                f"digipot positions must be an integer in 2..{MAX_POSITIONS}, "
                f"got {self.positions!r}"
            )
        if self.spacing not in SPACINGS:
            raise ValueError(
                f"digipot spacing must be one of {', '.join(map(repr, SPACINGS))}, "
                f"got {self.spacing!r}"
            )

    @property
    def top(self) -> int:
        """The highest code, positions - 1."""
        return int(self.positions) - 1

    @property
    def mid(self) -> int:
        """The mid-scale code, positions // 2 (the power-on code of the AD5220)."""
        return int(self.positions) // 2

    def fraction(self, codes: np.ndarray | float) -> np.ndarray:
        """f(code): the fraction of R_AB at ``codes`` (any shape, may be non-integer)."""
        c = np.asarray(codes, dtype=float)
        if self.spacing == "linear":
            return c / self.positions
        return np.power(float(self.top), c / self.top) / self.positions

    def code_of_fraction(self, fraction: np.ndarray | float) -> np.ndarray:
        """The inverse of `fraction`: continuous codes (any shape) of fractions of R_AB."""
        f = np.asarray(fraction, dtype=float)
        if self.spacing == "linear":
            return f * self.positions
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.top * np.log(f * self.positions) / np.log(float(self.top))

    def resistance(
        self, codes: np.ndarray, r_end_to_end: np.ndarray | float, r_wiper: np.ndarray | float
    ) -> np.ndarray:
        """R = R_W + f(code) R_AB, Ohm; codes, R_AB and R_W broadcast (e.g. (..., E))."""
        return r_wiper + self.fraction(codes) * np.asarray(r_end_to_end, dtype=float)

    def code(
        self, resistance: np.ndarray, r_end_to_end: np.ndarray | float, r_wiper: np.ndarray | float
    ) -> np.ndarray:
        """Continuous codes of resistances (Ohm): the inverse of `resistance`."""
        r = np.asarray(resistance, dtype=float)
        return self.code_of_fraction((r - r_wiper) / np.asarray(r_end_to_end, dtype=float))

    def table(self, r_end_to_end: np.ndarray | float, r_wiper: np.ndarray | float) -> np.ndarray:
        """Resistance of every code, (..., positions) for R_AB, R_W of shape (...), Ohm."""
        r_ab = np.asarray(r_end_to_end, dtype=float)[..., None]
        r_w = np.asarray(r_wiper, dtype=float)[..., None]
        return self.resistance(np.arange(self.positions), r_ab, r_w)

    def describe(self) -> str:
        """The formula in words, for deck notes and reports."""
        if self.spacing == "linear":
            return f"R = R_W + code/{self.positions} R_AB"
        return f"R = R_W + {self.top}^(code/{self.top})/{self.positions} R_AB (log spacing)"


#: The AD5220: 128 positions, linear.
AD5220 = Digipot()


def code_resistance(
    codes: np.ndarray,
    r_end_to_end: np.ndarray | float,
    r_wiper: np.ndarray | float,
    digipot: Digipot = AD5220,
) -> np.ndarray:
    """Digipot resistance R = R_W + f(code) R_AB (`Digipot.resistance`), Ohm, (..., E)."""
    return digipot.resistance(codes, r_end_to_end, r_wiper)
