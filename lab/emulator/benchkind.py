"""The ``emulator`` bench kind (entry point ``twinlab.benches: emulator``): a bench file's
``kind = "emulator"`` table, validated, and the in-process emulated board it describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.emulator.config import EmulatorConfig
from lab.errors import ConfigError, validation_line
from lab.hal import Bench, Wiring
from lab.hal.benchfile import WiringCheck
from lab.hal.currents import CurrentsSection


class EmulatorBenchFile(BaseModel):
    """``kind = "emulator"``: the in-process emulated board."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["emulator"] = "emulator"
    limits: tuple[float, float] = (-1.0, 6.0)
    emulator: EmulatorConfig = EmulatorConfig()
    currents: CurrentsSection = Field(
        default_factory=CurrentsSection,
        description="current limits, A: edge, channel and per-channel channels (5 mA each)",
    )


def parse(path: Path, raw: dict[str, Any]) -> EmulatorBenchFile:
    """The validated table of an emulator bench file; ConfigError naming the field."""
    if raw.get("kind", "emulator") != "emulator":
        raise ConfigError(f"{path}: field 'kind': expected \"emulator\", got {raw.get('kind')!r}")
    try:
        return EmulatorBenchFile(**raw)
    except ValidationError as err:
        raise ConfigError(validation_line(str(path), EmulatorBenchFile, err)) from None


def open_bench(
    path: Path, raw: dict[str, Any], *, seed: int | None = None,
    check: WiringCheck | None = None, validate_only: bool = False,
) -> Bench | None:
    """The emulated bench of an emulator bench file; ``seed`` overrides its seed; ``check``
    (`lab.hal.benchfile.WiringCheck`) runs on its wiring before the bench is returned
    (the emulated board is built, nothing is driven). ``validate_only``: validate (the
    network, limits and currents included) and ``check``, return None, building no
    board."""
    emu_file = parse(path, raw)
    emu = emu_file.emulator
    if seed is not None:
        emu = emu.model_copy(update={"seed": seed})
    lo, hi = emu_file.limits
    if hi <= lo:
        raise ConfigError(
            f"{path}: field 'limits': expected (low, high) with low < high, "
            f"got {emu_file.limits}"
        )
    from lab.emulator.backend import emulator_bench, emulator_channels  # only when opening

    if validate_only:
        from lab.core.network import Network

        try:
            network = Network.from_name(emu.network, seed=emu.seed)
        except ValueError as err:
            raise ConfigError(f"{path}: field 'emulator.network': {err}") from None
        channels = emulator_channels(network.n_nodes, emu_file.limits)
        emu_file.currents.limits(str(path), [c.name for c in channels if c.kind == "drive"])
        if check is not None:  # the emulated board has its exact probe
            check(path, Wiring(network, channels, has_probe=True))
        return None
    bench = emulator_bench(emu, limits=emu_file.limits)
    bench.currents = emu_file.currents.limits(
        str(path), [c.name for c in bench.channels if c.kind == "drive"])
    bench.config["currents"] = bench.currents.to_dict()
    if check is not None:
        check(path, Wiring(bench.network, bench.channels, has_probe=bench.probe is not None))
    return bench


__all__ = ["EmulatorBenchFile", "open_bench", "parse"]
