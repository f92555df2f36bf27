"""Run settings and bench configuration, validated, with errors that name the field.

`TrainSettings` holds everything a training run needs besides the bench and task.
`load_bench` turns a bench description (``None`` or ``"emulator"`` for the default
emulated board, or a TOML file) into a ready `lab.hal.Bench`.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.calibration import Calibration, CalibrationError, read_calibration
from lab.emulator import EmulatorConfig, emulator_bench
from lab.hal import Bench, Channel, check_channel_map, check_channel_name
from lab.network import Network


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
    estimate: bool = Field(
        False,
        description="a bench without a resistance probe: estimate every code and update "
        "from node voltages (lab.observe)",
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


class _EmulatorBenchFile(BaseModel):
    """``kind = "emulator"``: the in-process emulated board."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["emulator"] = "emulator"
    limits: tuple[float, float] = (-1.0, 6.0)
    emulator: EmulatorConfig = EmulatorConfig()


class _DaqSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource: str = Field(description="VISA resource string, e.g. TCPIP::127.0.0.1::5025::SOCKET")
    dialect: str = "twinlab-emulator"
    timeout_ms: int = Field(2000, gt=0)
    visa_library: str = "@py"


class _BiasSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(description="the DAQ output channel that carries the bias")
    limits: tuple[float, float] = (0.0, 5.0)
    safe: float = 5.0


class _ClockSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: str = Field(description="serial port of the clock board, e.g. /dev/ttyACM0")
    baud: int = 115200
    pulse_width_us: int = Field(10, ge=2, le=10_000)
    pulse_period_us: int = Field(100, ge=4, le=1_000_000)
    ready_timeout: float = Field(3.0, gt=0)
    reply_timeout: float = Field(1.0, gt=0)
    watchdog_ms: int = Field(0, ge=0, le=60_000)


class _ProbeSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "emulator"] = "none"


class _ChannelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    twin: Literal["free", "clamped"]
    node: int
    kind: Literal["drive", "sense"]
    limits: tuple[float, float] = (-10.0, 10.0)
    safe: float = 0.0


class _CalibrationTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bias: list[float]
    p: list[float]
    source: str = "bench file"


class _InstrumentsBenchFile(BaseModel):
    """``kind = "instruments"``: real instruments (or the wire-level emulator)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["instruments"]
    network: str = "twin16"
    network_seed: int = 0
    daq: _DaqSection
    bias: _BiasSection
    clock: _ClockSection
    probe: _ProbeSection = _ProbeSection()
    calibration: str | _CalibrationTable = Field(
        description="calibration file (relative to the bench file) or an inline table"
    )
    channels: list[_ChannelEntry] = Field(min_length=1)


def bench_dir() -> Path:
    """The shipped bench configurations (data/benches)."""
    return Path(__file__).resolve().parent.parent / "data" / "benches"


def read_bench_file(spec: str | Path | None) -> tuple[Path, dict[str, Any]]:
    """(path, raw TOML table) of ``None``/``"emulator"`` (the default bench) or a file."""
    if spec is None or str(spec) == "emulator":
        path = bench_dir() / "emulator.toml"
    else:
        path = Path(spec)
    try:
        return path, tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: bench file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


def emulator_config(spec: str | Path | None = None, *, seed: int | None = None) -> EmulatorConfig:
    """The `EmulatorConfig` of an emulator bench file (default: data/benches/emulator.toml);
    ``seed`` overrides its seed."""
    path, raw = read_bench_file(spec)
    if raw.get("kind", "emulator") != "emulator":
        raise ConfigError(f"{path}: field 'kind': expected \"emulator\", got {raw.get('kind')!r}")
    try:
        config = _EmulatorBenchFile(**raw).emulator
    except ValidationError as err:
        raise ConfigError(_one_line(str(path), err)) from None
    return config if seed is None else config.model_copy(update={"seed": seed})


def load_bench(spec: str | Path | None = None, *, seed: int | None = None) -> Bench:
    """A ready `Bench` from ``None``/``"emulator"`` (the default emulated board) or a bench
    TOML file. Everything in the file is checked before any instrument is opened; opening
    identifies each instrument but changes no output. ``seed`` overrides an emulator
    bench's seed."""
    path, raw = read_bench_file(spec)
    kind = raw.get("kind", "emulator")
    if kind == "emulator":
        try:
            emu_file = _EmulatorBenchFile(**raw)
        except ValidationError as err:
            raise ConfigError(_one_line(str(path), err)) from None
        emu = emu_file.emulator
        if seed is not None:
            emu = emu.model_copy(update={"seed": seed})
        lo, hi = emu_file.limits
        if hi <= lo:
            raise ConfigError(
                f"{path}: field 'limits': expected (low, high) with low < high, "
                f"got {emu_file.limits}"
            )
        return emulator_bench(emu, limits=emu_file.limits)
    if kind != "instruments":
        raise ConfigError(
            f"{path}: field 'kind': expected 'emulator' or 'instruments', got {kind!r}"
        )
    try:
        spec_ = _InstrumentsBenchFile(**raw)
    except ValidationError as err:
        raise ConfigError(_one_line(str(path), err)) from None
    return _instruments_bench(path, spec_, raw)


def _instruments_bench(path: Path, spec: _InstrumentsBenchFile, raw: dict[str, Any]) -> Bench:
    """Validate network, channel map and calibration, then open the instruments."""
    try:
        network = Network.from_name(spec.network, seed=spec.network_seed)
    except ValueError as err:
        raise ConfigError(f"{path}: field 'network': {err}") from None
    channels = [Channel(c.name, c.twin, c.node, c.kind, c.limits, c.safe) for c in spec.channels]
    try:
        check_channel_name(spec.bias.channel, "bias channel")
    except ValueError as err:
        raise ConfigError(f"{path}: field 'bias.channel': {err}") from None
    try:  # names (one spelling per channel, the bias included), nodes, limits
        check_channel_map(network, channels, bias=spec.bias.channel)
    except ValueError as err:
        raise ConfigError(f"{path}: field 'channels': {err}") from None
    lo, hi = spec.bias.limits
    if not lo <= spec.bias.safe <= hi:
        raise ConfigError(
            f"{path}: field 'bias.safe': {spec.bias.safe} V is outside {spec.bias.limits}"
        )
    try:
        if isinstance(spec.calibration, str):
            calibration = read_calibration(path.parent / spec.calibration)
        else:
            table = spec.calibration
            calibration = Calibration(np.asarray(table.bias), np.asarray(table.p), table.source)
    except CalibrationError as err:
        raise ConfigError(f"{path}: field 'calibration': {err}") from None
    try:
        scpi = importlib.import_module("drivers.scpi_daq")
        serial_clock = importlib.import_module("drivers.clock_board")
    except ImportError as err:
        raise ConfigError(
            f"{path}: real instruments need the 'hw' extra (pip install 'twinlab[hw]'): {err}"
        ) from None
    drives = [c for c in channels if c.kind == "drive"]
    limits = {c.name: c.limits for c in drives} | {spec.bias.channel: spec.bias.limits}
    safe = {c.name: c.safe for c in drives}  # the bias's safe state is ScpiBias's
    opened: list[Any] = []
    try:
        daq = scpi.ScpiDAQ(
            spec.daq.resource,
            dialect=spec.daq.dialect,
            limits=limits,
            safe=safe,
            timeout_ms=spec.daq.timeout_ms,
            visa_library=spec.daq.visa_library,
        )
        opened.append(daq)
        bias = scpi.ScpiBias(daq, spec.bias.channel, limits=spec.bias.limits, safe=spec.bias.safe)
        clock = serial_clock.SerialClockBoard(
            spec.clock.port,
            baud=spec.clock.baud,
            pulse_width_us=spec.clock.pulse_width_us,
            pulse_period_us=spec.clock.pulse_period_us,
            ready_timeout=spec.clock.ready_timeout,
            reply_timeout=spec.clock.reply_timeout,
            watchdog_ms=spec.clock.watchdog_ms,
        )
        opened.append(clock)
        probe = scpi.ScpiProbe(daq) if spec.probe.kind == "emulator" else None
    except Exception:
        for inst in reversed(opened):
            try:
                inst.close()
            except Exception:  # the first error is the one to report
                pass
        raise
    config = dict(raw)
    config["calibration_table"] = calibration.to_dict()
    return Bench(
        network=network,
        daq=daq,
        bias=bias,
        clock=clock,
        channels=channels,
        calibration=calibration,
        probe=probe,
        bias_limits=spec.bias.limits,
        config=config,
    )
