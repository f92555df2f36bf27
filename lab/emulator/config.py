"""Every number of the emulated board, in one place, each non-ideality switchable.

Published values are marked (AD5220 data sheet; PHYSICS.md); the rest are our
defaults. `EmulatorConfig.ideal()` switches every non-ideality off, which makes
the emulator equal the ideal discrete rule of `lab.core.learning` exactly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lab.core.digipot import MAX_POSITIONS, Digipot
from lab.core.rules import RuleKind


class EmulatorConfig(BaseModel):
    """Component values and non-idealities of the emulated twin board. SI units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, description="seeds part values, oscillators and noise")
    network: str = Field("twin16", description="network name (lab.core.network.Network.from_name)")

    # digital potentiometers (AD5220-100: published)
    r_end_to_end: float = Field(100e3, gt=0, description="nominal R_AB, Ohm")
    r_wiper: float = Field(40.0, ge=0, description="typical wiper resistance, Ohm")
    r_wiper_max: float = Field(
        100.0, ge=0, description="per-part wiper drawn on [r_wiper, this], Ohm"
    )
    tolerance: float = Field(
        0.30,
        ge=0,
        lt=1,
        description="R_AB tolerance of the lot (data sheet +-30 %), uniform +-, fraction; "
        "common to all parts, so it scales every resistance alike",
    )
    mismatch: float = Field(
        0.02,
        ge=0,
        lt=1,
        description="R_AB mismatch part to part within the lot, uniform +-, fraction (ours); "
        "makes the twins and the edges differ",
    )
    positions: int = Field(
        128, ge=2, le=MAX_POSITIONS,
        description="digipot positions (codes 0..positions - 1): 16, 128 (AD5220), 256, ...",
    )  # fmt: skip
    spacing: Literal["linear", "log"] = Field(
        "linear", description="digipot code spacing (lab.core.digipot): linear or logarithmic"
    )
    initial_code: int = Field(
        64, ge=0, description="power-on code; default mid-scale, positions // 2"
    )

    rule: RuleKind = Field(
        "voltage",
        description="what each edge's comparator compares (lab.core.learning.RULES): the "
        "twins' voltage drops, or the power dissipated in them (the CircuitLab variant)",
    )

    # comparators (PHYSICS.md: sigma ~ U[0, 0.05] V, fixed per edge; part of the ideal rule)
    sigma_max: float = Field(0.05, ge=0, description="comparator offset upper end, V")

    # local oscillators (our defaults): triangle waves compared against the bias
    oscillators: bool = Field(
        True, description="False: ideal independent Bernoulli(p) enables from the seeded RNG"
    )
    osc_low: float = Field(0.5, description="nominal oscillator minimum, V")
    osc_high: float = Field(4.5, description="nominal oscillator maximum, V")
    osc_spread: float = Field(
        0.02, ge=0, lt=0.5, description="per-edge spread of the swing ends, fraction of the swing"
    )
    osc_period_min: float = Field(
        2.3, gt=1, description="shortest oscillator period, clock periods"
    )
    osc_period_max: float = Field(
        11.7, gt=1, description="longest oscillator period, clock periods"
    )
    osc_jitter: float = Field(
        0.02, ge=0, description="rms phase jitter per clock period, fraction of a period"
    )
    clock_period: float = Field(1e-3, gt=0, description="emulated time between clock pulses, s")

    # converters (our defaults: a 16-bit +-10 V DAQ)
    dac_bits: int | None = Field(16, ge=2, le=32, description="DAC resolution; None = ideal")
    adc_bits: int | None = Field(16, ge=2, le=32, description="ADC resolution; None = ideal")
    converter_range: tuple[float, float] = Field((-10.0, 10.0), description="DAC/ADC span, V")
    adc_noise: float = Field(0.5e-3, ge=0, description="rms ADC input noise, V")

    # settling (our defaults): first-order approach to the new state
    settle_tau: float = Field(20e-6, ge=0, description="network + buffer time constant, s; 0 = off")
    settle_wait: float = Field(200e-6, ge=0, description="time the DAQ waits before reading, s")

    @model_validator(mode="before")
    @classmethod
    def _mid_scale(cls, data: Any) -> Any:
        """Without an ``initial_code``, the power-on code is mid-scale of ``positions``."""
        if isinstance(data, dict) and "initial_code" not in data and "positions" in data:
            positions = data["positions"]
            if isinstance(positions, int) and not isinstance(positions, bool):
                data = {**data, "initial_code": positions // 2}
        return data

    @model_validator(mode="after")
    def _check(self) -> EmulatorConfig:
        if self.initial_code > self.positions - 1:
            raise ValueError(
                f"initial_code ({self.initial_code}) must be in 0..{self.positions - 1} "
                f"(positions = {self.positions})"
            )
        if self.r_wiper_max < self.r_wiper:
            raise ValueError(
                f"r_wiper_max ({self.r_wiper_max}) must be >= r_wiper ({self.r_wiper})"
            )
        if self.osc_high <= self.osc_low:
            raise ValueError(f"osc_high ({self.osc_high}) must exceed osc_low ({self.osc_low})")
        if self.osc_period_max < self.osc_period_min:
            raise ValueError("osc_period_max must be >= osc_period_min")
        lo, hi = self.converter_range
        if hi <= lo:
            raise ValueError(f"converter_range {self.converter_range} must be (low, high)")
        return self

    @property
    def digipot(self) -> Digipot:
        """The digipots' resolution and spacing (`lab.core.digipot.Digipot`)."""
        return Digipot(self.positions, self.spacing)

    @classmethod
    def ideal(cls, **overrides: Any) -> EmulatorConfig:
        """Every non-ideality off: identical twins, exact converters, Bernoulli enables."""
        values: dict[str, Any] = dict(
            tolerance=0.0,
            mismatch=0.0,
            r_wiper_max=40.0,
            oscillators=False,
            dac_bits=None,
            adc_bits=None,
            adc_noise=0.0,
            settle_tau=0.0,
        )
        values.update(overrides)
        return cls(**values)
