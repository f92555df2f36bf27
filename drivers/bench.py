"""The ``instruments`` bench kind (entry point ``twinlab.benches: instruments``): a bench
file's ``kind = "instruments"`` table, validated (network, channel map, calibration) before
anything is opened, then the SCPI DAQ, the bias source and the serial clock board opened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.core.network import Network
from lab.core.rules import RuleKind
from lab.errors import ConfigError, validation_line
from lab.hal import Bench, Channel, Limits, Wiring, check_channel_map, check_channel_name
from lab.hal import clock_protocol as proto
from lab.hal.benchfile import WiringCheck
from lab.hal.calibration import Calibration, CalibrationError, read_calibration
from lab.hal.currents import CurrentsSection

if TYPE_CHECKING:
    from drivers.scpi.dialects import Dialect


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
    baud: Literal[proto.BAUD_RATES] = Field(  # type: ignore[valid-type]
        proto.BAUD, description="UART rate, baud (protocol version 2: 1000000)"
    )
    pulse_width_us: int = Field(
        proto.DEFAULT_WIDTH_US, ge=proto.WIDTH_MIN_US, le=proto.WIDTH_MAX_US
    )
    pulse_period_us: int = Field(
        proto.DEFAULT_PERIOD_US, ge=proto.PERIOD_MIN_US, le=proto.PERIOD_MAX_US
    )
    ready_timeout: float = Field(3.0, gt=0)
    reply_timeout: float = Field(1.0, gt=0)
    watchdog_ms: int = Field(0, ge=0, le=proto.WDT_MAX_MS)


class _ProbeSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "emulator"] = "none"


class _ChannelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    twin: Literal["free", "clamped"]
    node: int
    kind: Literal["drive", "sense"]
    #: a drive channel's (low, high) V and resting V; a sense channel (an input the
    #: controller never writes) takes neither (`_check_sense_entries`)
    limits: tuple[float, float] | None = None
    safe: float | None = None

    def channel(self) -> Channel:
        """As the channel map's `Channel` (a drive channel's defaults: +-10 V, safe 0 V)."""
        limits = (-10.0, 10.0) if self.limits is None else self.limits
        return Channel(self.name, self.twin, self.node, self.kind, limits,
                       0.0 if self.safe is None else self.safe)


class _CalibrationTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bias: list[float]
    p: list[float]
    source: str = "bench file"


class InstrumentsBenchFile(BaseModel):
    """``kind = "instruments"``: real instruments (or the wire-level emulator)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["instruments"]
    network: str = "twin16"
    network_seed: int = 0
    rule: RuleKind = Field(
        "voltage", description="what the board's comparators compare (lab.core.rules.RULES)"
    )
    daq: _DaqSection
    bias: _BiasSection
    clock: _ClockSection
    probe: _ProbeSection = _ProbeSection()
    calibration: str | _CalibrationTable = Field(
        description="calibration file (relative to the bench file) or an inline table"
    )
    channels: list[_ChannelEntry] = Field(min_length=1)
    currents: CurrentsSection = Field(
        default_factory=CurrentsSection,
        description="current limits, A: edge, channel and per-channel channels (5 mA each)",
    )


def open_bench(
    path: Path, raw: dict[str, Any], *, seed: int | None = None,
    check: WiringCheck | None = None, validate_only: bool = False,
) -> Bench | None:
    """The instruments a bench file describes, opened (``seed`` applies to emulated benches
    only and is ignored). ConfigError naming the field for anything wrong in the file, and
    for what ``check`` refuses of its wiring, before any instrument is opened.
    ``validate_only``: validate (and ``check``) only, open nothing, return None."""
    try:
        spec = InstrumentsBenchFile(**raw)
    except ValidationError as err:
        raise ConfigError(validation_line(str(path), InstrumentsBenchFile, err)) from None
    return _open(path, spec, raw, check, validate_only)


def _check_dialect_names(path: Path, spec: InstrumentsBenchFile) -> Dialect:
    """The ``daq.dialect``; ConfigError naming the field for one that is not known, or a
    channel name (the bias's included) that the dialect's model cannot have
    (`Dialect.canonical`), so that nothing is opened or sent for a mistyped name."""
    from drivers.scpi.dialects import get_dialect  # plain tables, no VISA

    try:
        dialect = get_dialect(spec.daq.dialect)
    except ValueError as err:
        raise ConfigError(f"{path}: field 'daq.dialect': {err}") from None
    try:
        dialect.canonical(spec.bias.channel)
    except ValueError as err:
        raise ConfigError(f"{path}: field 'bias.channel': {err}") from None
    for item, entry in enumerate(spec.channels, start=1):
        try:
            dialect.canonical(entry.name)
        except ValueError as err:
            raise ConfigError(
                f"{path}: field 'channels', item {item}, entry 'name': {err}"
            ) from None
    return dialect


def _check_sense_entries(path: Path, spec: InstrumentsBenchFile) -> None:
    """ConfigError naming the field for a sense channel given ``limits`` or ``safe``: an
    input is never written, so either would be taken and ignored (a user trial wrote
    them, believing they bounded the reads)."""
    for item, entry in enumerate(spec.channels, start=1):
        given = [k for k in ("limits", "safe") if getattr(entry, k) is not None]
        if entry.kind == "sense" and given:
            raise ConfigError(
                f"{path}: field 'channels', item {item}, entry {given[0]!r}: channel "
                f"{entry.name!r} is a sense channel (an analog input, never written), "
                f"which takes no {' or '.join(repr(k) for k in given)}: remove it"
            )


def _check_output_range(
    path: Path, spec: InstrumentsBenchFile, dialect: Dialect, bias_limits: Limits
) -> None:
    """ConfigError naming the field for a drive channel's or the bias's limits wider than
    the DAQ model's output range (the dialect's, known without opening the DAQ), which the
    driver would refuse after the other checks."""
    out = Limits(*dialect.output_range)
    for item, entry in enumerate(spec.channels, start=1):
        lim = Limits(*entry.channel().limits)  # usable: `check_channel_map` checked them
        if entry.kind == "drive" and not lim.within(out):
            raise ConfigError(
                f"{path}: field 'channels', item {item}, entry 'limits': {lim} is wider "
                f"than the DAQ's output range {out}"
            )
    if not bias_limits.within(out):
        raise ConfigError(
            f"{path}: field 'bias.limits': {bias_limits} is wider than the DAQ's output "
            f"range {out}"
        )


def _open(
    path: Path, spec: InstrumentsBenchFile, raw: dict[str, Any], check: WiringCheck | None,
    validate_only: bool = False,
) -> Bench | None:
    """Validate network, channel map (names in the DAQ dialect's form too) and calibration,
    and what ``check`` needs of the wiring, then open the instruments (``validate_only``:
    return None instead)."""
    try:
        network = Network.from_name(spec.network, seed=spec.network_seed)
    except ValueError as err:
        raise ConfigError(f"{path}: field 'network': {err}") from None
    _check_sense_entries(path, spec)
    channels = [c.channel() for c in spec.channels]
    try:
        check_channel_name(spec.bias.channel, "bias channel")
    except ValueError as err:
        raise ConfigError(f"{path}: field 'bias.channel': {err}") from None
    try:  # names (one spelling per channel, the bias included), nodes, limits
        check_channel_map(network, channels, bias=spec.bias.channel)
    except ValueError as err:
        raise ConfigError(f"{path}: field 'channels': {err}") from None
    dialect = _check_dialect_names(path, spec)
    currents = spec.currents.limits(str(path), [c.name for c in channels if c.kind == "drive"])
    try:
        bias_limits = Limits.parse(spec.bias.limits, "bias")
    except ValueError as err:
        raise ConfigError(f"{path}: field 'bias.limits': {err}") from None
    _check_output_range(path, spec, dialect, bias_limits)
    if spec.bias.safe not in bias_limits:
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
    if check is not None:  # what the procedure needs of the wiring: nothing opened yet
        check(path, Wiring(network, channels, has_probe=spec.probe.kind == "emulator"))
    if validate_only:
        return None
    try:
        from drivers.scpi import daq as scpi
        from drivers.twin_clock import board as serial_clock
    except ImportError as err:
        raise ConfigError(
            f"{path}: real instruments need the 'hw' extra (pip install 'twinlab[hw]'): {err}"
        ) from None
    drives = [c for c in channels if c.kind == "drive"]
    limits = {c.name: c.limits for c in drives} | {spec.bias.channel: bias_limits}
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
        bias = scpi.ScpiBias(daq, spec.bias.channel, limits=bias_limits, safe=spec.bias.safe)
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
    except BaseException:  # an error, or Ctrl-C / a stop signal while opening
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
        bias_limits=bias_limits,
        config=config,
        rule=spec.rule,
        currents=currents,
    )


__all__ = ["InstrumentsBenchFile", "open_bench"]
