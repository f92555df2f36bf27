"""Components of the emulated board: digipot ladders, oscillators, converters.

Each is drawn once from a seeded generator (part-to-part spread) and then
evaluated with plain array arithmetic on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from lab.emulator.config import EmulatorConfig
from lab.hal.calibration import Calibration


@dataclass(frozen=True)
class Digipots:
    """Per-part values of the 2 x E digipots: ``r_end_to_end`` and ``r_wiper`` (2, E) Ohm.

    Row 0 is the free twin, row 1 the clamped twin. Code -> resistance is the one
    definition `lab.core.digipot.Digipot` (``EmulatorConfig.digipot``: positions, spacing).
    """

    r_end_to_end: np.ndarray
    r_wiper: np.ndarray

    @classmethod
    def draw(
        cls,
        config: EmulatorConfig,
        n_edges: int,
        rng: np.random.Generator,
        nominal: np.ndarray | None = None,
    ) -> Digipots:
        """Draw the parts around ``nominal`` R_AB (E,) Ohm (a network file's per-edge
        ``parts.r_end_to_end``; None: ``config.r_end_to_end`` on every edge)."""
        lot = 1.0 + rng.uniform(-config.tolerance, config.tolerance)
        part = 1.0 + rng.uniform(-config.mismatch, config.mismatch, (2, n_edges))
        r_nominal = config.r_end_to_end if nominal is None else np.asarray(nominal, dtype=float)
        r_ab = r_nominal * lot * part
        r_w = rng.uniform(config.r_wiper, config.r_wiper_max, (2, n_edges))
        return cls(r_ab, r_w)


class NormalStream:
    """Standard normal numbers drawn from ``rng`` in blocks and handed out in order.

    Drawing one block of many numbers costs about what one small draw does, so the hot
    path takes slices. Reproducible: the sequence depends only on the generator's seed.
    """

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16) -> None:
        self.rng = rng
        self.block = block
        self._buf = np.empty(0)
        self._list: list[float] = []
        self._pos = 0

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` numbers, (n,)."""
        if self._pos + n > len(self._buf):
            self._refill(n)
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out

    def take_list(self, n: int) -> list[float]:
        """The next ``n`` numbers as Python floats (cheaper than arrays for a few values)."""
        if self._pos + n > len(self._buf):
            self._refill(n)
        out = self._list[self._pos : self._pos + n]
        self._pos += n
        return out

    def _refill(self, n: int) -> None:
        self._buf = self.rng.standard_normal(max(self.block, n))
        self._list = self._buf.tolist()
        self._pos = 0


@nb.njit(cache=True, nogil=True)
def _advance(phase, advance, kicks, jitter, half_p, enabled):
    """phase += advance + jitter * kicks (mod 1) in place; enabled = |phase - 1/2| < half_p."""
    for i in range(len(phase)):
        x = phase[i] + advance[i] + jitter * kicks[i]
        x -= np.floor(x)
        phase[i] = x
        enabled[i] = abs(x - 0.5) < half_p[i]


@dataclass
class Oscillators:
    """E triangle-wave oscillators, swing [low, high] V, ``period`` in clock periods.

    ``phase`` (E,) in [0, 1) advances by 1/period per clock pulse plus Gaussian jitter;
    an edge is enabled when its oscillator is above the bias at the pulse. For a
    triangle wave ``low + (high - low) (1 - |2 phase - 1|) > bias`` is the same as
    ``|phase - 1/2| < p_i(bias) / 2``, the edge's own time-averaged probability.
    """

    low: np.ndarray
    high: np.ndarray
    period: np.ndarray
    phase: np.ndarray
    jitter: float
    _bias: float = float("nan")
    _half_p: np.ndarray | None = None

    def __post_init__(self) -> None:
        self._advance = 1.0 / self.period  # phase advance per clock pulse
        self._no_kicks = np.zeros(len(self.period))

    @classmethod
    def draw(cls, config: EmulatorConfig, n_edges: int, rng: np.random.Generator) -> Oscillators:
        swing = config.osc_high - config.osc_low
        spread = config.osc_spread * swing
        low = config.osc_low + rng.uniform(-spread, spread, n_edges)
        high = config.osc_high + rng.uniform(-spread, spread, n_edges)
        period = np.exp(
            rng.uniform(np.log(config.osc_period_min), np.log(config.osc_period_max), n_edges)
        )
        return cls(low, high, period, rng.random(n_edges), config.osc_jitter)

    def enable(self, bias: float, noise: NormalStream) -> np.ndarray:
        """Advance one clock period; return which edges are enabled (E,) bool."""
        if bias != self._bias:
            self._bias, self._half_p = bias, 0.5 * self.p_at(np.array([bias]))[0]
        kicks = noise.take(len(self.phase)) if self.jitter else self._no_kicks
        enabled = np.empty(len(self.phase), dtype=np.bool_)
        _advance(self.phase, self._advance, kicks, self.jitter, self._half_p, enabled)
        return enabled

    def p_at(self, bias: np.ndarray) -> np.ndarray:
        """Time-averaged enable probability per edge: (K,) biases -> (K, E).

        A triangle wave spends equal time at every level, so p is linear in the bias.
        """
        b = np.asarray(bias, dtype=float)[:, None]
        return np.clip((self.high - b) / (self.high - self.low), 0.0, 1.0)

    def calibration(self, points: int = 201) -> Calibration:
        """The board-average p(bias) curve implied by the oscillator parts."""
        bias = np.linspace(self.low.min() - 0.1, self.high.max() + 0.1, points)
        return Calibration(bias, self.p_at(bias).mean(axis=1), source="emulator oscillator model")


class Converter:
    """A DAC or ADC: span ``(low, high)`` V, ``bits`` (None = exact), rms ``noise`` V.

    Works on Python lists of floats: a DAQ converts a handful of channels at a time,
    where list arithmetic costs a tenth of numpy's per-call overhead.
    """

    __slots__ = ("bits", "high", "low", "lsb", "noise", "top")

    def __init__(self, low: float, high: float, bits: int | None, noise: float = 0.0) -> None:
        self.low, self.high, self.bits, self.noise = float(low), float(high), bits, float(noise)
        self.top = 0 if bits is None else 2**bits - 1  # highest code
        self.lsb = 0.0 if bits is None else (self.high - self.low) / self.top  # V per code

    def convert(
        self,
        volts: list[float],
        noise: NormalStream | None = None,
        offset: list[float] | None = None,
    ) -> list[float]:
        """Add ``offset`` (V) and noise, clip to the span, round to the nearest code: n -> n V."""
        if offset is not None:
            volts = [v + o for v, o in zip(volts, offset, strict=True)]
        if self.noise and noise is not None:
            sd = self.noise
            volts = [v + sd * e for v, e in zip(volts, noise.take_list(len(volts)), strict=True)]
        if self.bits is None:
            return volts
        low, lsb, top = self.low, self.lsb, self.top
        return [low + lsb * min(max(round((v - low) / lsb), 0), top) for v in volts]
