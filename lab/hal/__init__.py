"""Hardware-abstraction layer: the protocols the trainer talks to (`lab.hal.protocols`), the
channel map and its limits (`lab.hal.channels`), `Bench` (`lab.hal.bench`), the p(bias)
table (`lab.hal.calibration`) and bench files (`lab.hal.benchfile`; imported from there).

A bench is a DAQ, a bias source, a clock board and optionally a resistance probe; the
trainer touches instruments only through `Bench`.
"""

from lab.hal.bench import Bench
from lab.hal.channels import (
    CHANNEL_NAME,
    DRIVES_NOTHING,
    TWINS,
    Channel,
    Limits,
    Twin,
    Wiring,
    channel_key,
    channel_what,
    check_all,
    check_channel_map,
    check_channel_name,
    output_what,
)
from lab.hal.currents import CurrentLimits, Currents, predict_currents
from lab.hal.protocols import (
    DAQ,
    BenchError,
    BiasSource,
    ClockBoard,
    LimitError,
    ResistanceProbe,
    Unsafe,
)

__all__ = [
    "CHANNEL_NAME",
    "DAQ",
    "DRIVES_NOTHING",
    "TWINS",
    "Bench",
    "BenchError",
    "BiasSource",
    "Channel",
    "ClockBoard",
    "CurrentLimits",
    "Currents",
    "LimitError",
    "Limits",
    "ResistanceProbe",
    "Twin",
    "Unsafe",
    "Wiring",
    "channel_key",
    "channel_what",
    "check_all",
    "check_channel_map",
    "check_channel_name",
    "output_what",
    "predict_currents",
]
