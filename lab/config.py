"""Run settings and bench configuration, validated, with errors that name the field.

`TrainSettings` holds everything a training run needs besides the bench and task.
`load_bench` turns a bench description (``None`` or ``"emulator"`` for the default
emulated board, or a TOML file) into a ready `lab.hal.Bench`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab import plugins
from lab.paths import ENV_DATA, data_dir

if TYPE_CHECKING:
    from lab.emulator.config import EmulatorConfig
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
    seed: int = Field(
        0, ge=0, le=2**63 - 1, description="seeds the example order and generated tasks"
    )
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


def bench_dir() -> Path:
    """The shipped bench configurations: ``lab.paths.data_dir()/benches``."""
    return data_dir() / "benches"


def read_bench_file(spec: str | Path | None) -> tuple[Path, dict[str, Any]]:
    """(path, raw TOML table) of ``None``/``"emulator"`` (the default bench) or a file."""
    if spec is None or str(spec) == "emulator":
        path = bench_dir() / "emulator.toml"
    else:
        path = Path(spec)
    try:
        return path, tomllib.loads(path.read_text())
    except FileNotFoundError:
        hint = ""
        if (spec is None or str(spec) == "emulator") and os.environ.get(ENV_DATA):
            hint = f" (${ENV_DATA} is set: it replaces the shipped benches and tasks)"
        raise ConfigError(f"{path}: bench file not found{hint}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def emulator_config(spec: str | Path | None = None, *, seed: int | None = None) -> EmulatorConfig:
    """The `EmulatorConfig` of an emulator bench file (default: ``bench_dir()/emulator.toml``);
    ``seed`` overrides its seed."""
    from lab.emulator.benchkind import parse

    path, raw = read_bench_file(spec)
    config = parse(path, raw).emulator
    return config if seed is None else config.model_copy(update={"seed": seed})


def load_bench(spec: str | Path | None = None, *, seed: int | None = None) -> Bench:
    """A ready `Bench` from ``None``/``"emulator"`` (the default emulated board) or a bench
    TOML file. Everything in the file is checked before any instrument is opened; opening
    identifies each instrument but changes no output. ``seed`` overrides an emulator
    bench's seed. The file's ``kind`` names a bench kind registered as an entry point
    (`lab.plugins.BENCHES`)."""
    path, raw = read_bench_file(spec)
    kind = raw.get("kind", "emulator")
    kinds = plugins.names(plugins.BENCHES)
    if not isinstance(kind, str) or kind not in kinds:
        allowed = " or ".join(repr(k) for k in kinds)
        raise ConfigError(f"{path}: field 'kind': expected {allowed}, got {kind!r}")
    try:
        open_kind = plugins.load(plugins.BENCHES, kind)
    except ImportError as err:
        raise ConfigError(
            f"{path}: real instruments need the 'hw' extra (pip install 'twinlab[hw]'): {err}"
        ) from None
    return open_kind(path, raw, seed=seed)
