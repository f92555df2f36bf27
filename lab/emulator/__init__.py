"""The emulated twin board behind the HAL (one physics with `lab.insilico.batch`).

The names below are loaded on first use, so that reading an emulator bench file
(`lab.emulator.benchkind`) does not load the board model."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "EmulatedBoard": "lab.emulator.board",
    "EmulatorConfig": "lab.emulator.config",
    "emulator_bench": "lab.emulator.backend",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EmulatedBoard", "EmulatorConfig", "emulator_bench"]
