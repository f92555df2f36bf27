"""Run settings, validated, with errors that name the field: `TrainSettings` holds
everything a training run needs besides the bench and task."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lab.core.rules import RuleKind
from lab.errors import ConfigError, validation_line


class TrainSettings(BaseModel):
    """Settings of one coupled-learning run (units: V, steps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field("ii", description="task name in data/tasks or path to a task file")
    eta: float = Field(0.5, gt=0, le=1, description="nudge amplitude eta in (0, 1]")
    p: float = Field(1.0, gt=0, le=1, description="update probability p in (0, 1]")
    steps: int = Field(2000, ge=1, le=10**9, description="training steps (clock pulses)")
    seed: int = Field(
        0, ge=0, le=2**63 - 1, description="seeds the example order and generated tasks"
    )
    order: Literal["random", "cycle"] = Field("random", description="example order")
    test_every: int = Field(100, ge=0, description="steps between test evaluations; 0 = off")
    class_margin: float = Field(
        0.0, ge=0, description="classification: extra V on the own-class output of a target"
    )
    rule: RuleKind = Field(
        "voltage",
        description="the board's comparison (lab.core.learning.RULES): 'voltage' drops or "
        "'power' dissipated in the twins; the default emulator bench is built with it, "
        "any other bench must implement it",
    )
    rate: float = Field(
        0.0, ge=0, le=1e6,
        description="real-time pace: at most this many steps per second (a demonstration, "
        "or a bench's own rate); 0 = as fast as the bench allows",
    )
    estimate: Literal["auto", "on", "off"] = Field(
        "auto",
        description="a bench without a resistance probe: estimate every code and update "
        "from node voltages (lab.observe). auto: when the bench supports it, else train "
        "with codes unknown (one line says why); on: refuse a bench that cannot support "
        "it; off: never (codes unknown). A bench with an exact probe always uses it",
    )

    @field_validator("estimate", mode="before")
    @classmethod
    def _estimate_bool(cls, value: Any) -> Any:
        """``True``/``False`` (the old boolean setting) mean "on"/"off"."""
        if isinstance(value, bool):
            return "on" if value else "off"
        return value


def settings_from(**values: Any) -> TrainSettings:
    """`TrainSettings` from keyword values; ConfigError naming the field and its range."""
    try:
        return TrainSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        raise ConfigError(validation_line("settings", TrainSettings, err)) from None


__all__ = ["TrainSettings", "settings_from"]
