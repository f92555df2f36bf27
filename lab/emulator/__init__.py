"""The emulated twin board behind the HAL (one physics with `lab.study`)."""

from lab.emulator.backend import emulator_bench
from lab.emulator.board import EmulatedBoard
from lab.emulator.config import EmulatorConfig

__all__ = ["EmulatedBoard", "EmulatorConfig", "emulator_bench"]
