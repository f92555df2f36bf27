"""Bench files, validated, with errors that name the field.

`load_bench` turns a bench description (``None`` or ``"emulator"`` for the default
emulated board, or a TOML file) into a ready `lab.hal.Bench`; `check_bench` checks it as
`load_bench` does and opens nothing.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import plugins
from lab.errors import ConfigError
from lab.paths import ENV_DATA, data_dir

if TYPE_CHECKING:
    from lab.emulator.config import EmulatorConfig
    from lab.hal import Bench, Wiring

#: A check of a bench file's wiring against what a procedure needs (`load_bench`'s
#: ``check``): the bench file's path and `Wiring`; raises ConfigError (one line).
WiringCheck = Callable[[Path, "Wiring"], None]


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
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        hint = ""
        if (spec is None or str(spec) == "emulator") and os.environ.get(ENV_DATA):
            hint = f" (${ENV_DATA} is set: it replaces the shipped benches and tasks)"
        raise ConfigError(f"{path}: bench file not found{hint}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return path, _network_refs(path, raw)


def _network_refs(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with its ``network`` and ``[emulator] network`` in canonical spelling: a
    network file named by a relative path is relative to the bench file."""
    from lab.core.netfile import network_ref

    if isinstance(raw.get("network"), str):
        raw["network"] = network_ref(raw["network"], base=path.parent)
    emu = raw.get("emulator")
    if isinstance(emu, dict) and isinstance(emu.get("network"), str):
        emu["network"] = network_ref(emu["network"], base=path.parent)
    return raw


def emulator_config(spec: str | Path | None = None, *, seed: int | None = None) -> EmulatorConfig:
    """The `EmulatorConfig` of an emulator bench file (default: ``bench_dir()/emulator.toml``);
    ``seed`` overrides its seed."""
    from lab.emulator.benchkind import parse

    path, raw = read_bench_file(spec)
    config = parse(path, raw).emulator
    return config if seed is None else config.model_copy(update={"seed": seed})


def _bench_kind(
    spec: str | Path | None, network: str | None, rule: str | None
) -> tuple[Path, dict[str, Any], Any]:
    """(path, raw table, the kind's ``open_bench``) of a bench description, with the
    default emulator bench's ``network`` and ``rule`` replaced (see `load_bench`)."""
    path, raw = read_bench_file(spec)
    if network is not None and (spec is None or str(spec) == "emulator"):
        raw.setdefault("emulator", {})["network"] = network
    if rule is not None and (spec is None or str(spec) == "emulator"):
        raw.setdefault("emulator", {})["rule"] = rule
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
    return path, raw, open_kind


def load_bench(
    spec: str | Path | None = None,
    *,
    seed: int | None = None,
    network: str | None = None,
    rule: str | None = None,
    check: WiringCheck | None = None,
) -> Bench:
    """A ready `Bench` from ``None``/``"emulator"`` (the default emulated board) or a bench
    TOML file. Everything in the file is checked before any instrument is opened; opening
    identifies each instrument but changes no output. ``seed`` overrides an emulator
    bench's seed. The file's ``kind`` names a bench kind registered as an entry point
    (`lab.plugins.BENCHES`). ``network`` (canonical spelling, `lab.core.netfile.network_ref`)
    replaces the default emulator bench's network (not a named file's), so a task for any
    network trains on the default emulated board. ``rule`` (`lab.core.rules.RULES`) likewise
    replaces the default emulator bench's rule (a named file's board has its own).
    ``check`` (the file's path, its `Wiring`) runs once the file is valid and before any
    instrument is opened: what a procedure needs of the wiring (`lab.acquire.trainer.
    check_task_wiring`), refused with nothing opened. The file's absolute path is
    ``bench.config["file"]`` (a run file's ``bench_json``, ``twinlab info``'s bench)."""
    path, raw, open_kind = _bench_kind(spec, network, rule)
    bench: Bench = open_kind(path, raw, seed=seed, check=check)
    bench.config["file"] = str(path.resolve())  # the run file says which file it was
    return bench


def check_bench(
    spec: str | Path | None = None,
    *,
    seed: int | None = None,
    network: str | None = None,
    rule: str | None = None,
    check: WiringCheck | None = None,
) -> None:
    """Everything `load_bench` checks in the bench description (``check`` too), with the
    same `ConfigError`, opening nothing (the kind's ``open_bench(..., validate_only=True)``):
    what ``twinlab gui`` checks in the terminal, and its window on Start."""
    path, raw, open_kind = _bench_kind(spec, network, rule)
    open_kind(path, raw, seed=seed, check=check, validate_only=True)
