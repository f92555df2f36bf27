"""Run settings and bench configuration, validated, with errors that name the field.

`TrainSettings` holds everything a training run needs besides the bench and task.
`load_bench` turns a bench description (``None`` or ``"emulator"`` for the default
emulated board, or a TOML file) into a ready `lab.hal.Bench`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.emulator import EmulatorConfig, emulator_bench
from lab.hal import Bench


class ConfigError(ValueError):
    """A setting or configuration file that cannot be used; the message names the field."""


class TrainSettings(BaseModel):
    """Settings of one coupled-learning run (units: V, steps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field("ii", description="task name in data/tasks or path to a task file")
    eta: float = Field(0.5, gt=0, le=1, description="nudge amplitude eta in (0, 1]")
    p: float = Field(1.0, gt=0, le=1, description="update probability p in (0, 1]")
    steps: int = Field(2000, ge=1, le=10**9, description="training steps (clock pulses)")
    seed: int = Field(0, ge=0, description="seeds the example order and generated tasks")
    order: Literal["random", "cycle"] = Field("random", description="example order")
    test_every: int = Field(100, ge=0, description="steps between test evaluations; 0 = off")
    class_margin: float = Field(
        0.0, ge=0, description="classification: extra V on the own-class output of a target"
    )


def settings_from(**values: Any) -> TrainSettings:
    """`TrainSettings` from keyword values; ConfigError naming the field and its range."""
    try:
        return TrainSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        raise ConfigError(_one_line("settings", err)) from None


def _one_line(where: str, err: ValidationError) -> str:
    """First pydantic error as ``where: field 'x': message (got value)``."""
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] in ("greater_than", "less_than_equal", "greater_than_equal", "less_than"):
        field = TrainSettings.model_fields.get(str(first["loc"][0]))
        if field is not None and field.description:
            msg = f"{msg} ({field.description})"
    return f"{where}: field {loc!r}: {msg}, got {first.get('input')!r}"


class _BenchFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["emulator"] = "emulator"
    limits: tuple[float, float] = (-1.0, 6.0)
    emulator: EmulatorConfig = EmulatorConfig()


def bench_dir() -> Path:
    """The shipped bench configurations (data/benches)."""
    return Path(__file__).resolve().parent.parent / "data" / "benches"


def load_bench(spec: str | Path | None = None, *, seed: int | None = None) -> Bench:
    """A bench from ``None``/``"emulator"`` (default emulated board) or a bench TOML file.

    ``seed``, if given, overrides the emulator's seed (part values and noise).
    """
    if spec is None or str(spec) == "emulator":
        path = bench_dir() / "emulator.toml"
        raw: dict[str, Any] = tomllib.loads(path.read_text()) if path.exists() else {}
    else:
        path = Path(spec)
        if not path.exists():
            raise ConfigError(f"{path}: bench file not found")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from None
    try:
        bench = _BenchFile(**raw)
    except ValidationError as err:
        raise ConfigError(_one_line(str(path), err)) from None
    emu = bench.emulator
    if seed is not None:
        emu = emu.model_copy(update={"seed": seed})
    lo, hi = bench.limits
    if hi <= lo:
        raise ConfigError(
            f"{path}: field 'limits': expected (low, high) with low < high, got {bench.limits}"
        )
    return emulator_bench(emu, limits=bench.limits)
