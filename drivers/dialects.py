"""SCPI dialects: one declarative table per DAQ model, no code.

A `Dialect` says how one instrument model spells the handful of things `ScpiDAQ`
needs: set output voltages, read them back, switch outputs off and on, measure DC
volts, query the error queue, reset. Templates use ``{values}`` (formatted numbers)
and ``{channels}`` (a comma-separated channel list); a second DAQ model is a new
entry in `DIALECTS`, not a new driver (in the spirit of PyMeasure's
``Instrument.control``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one DAQ model speaks SCPI. Voltages in V.

    ``write_volts`` takes ``{values}`` and ``{channels}``; if ``list_values`` it accepts
    one value per listed channel in one command, otherwise one command per channel is
    sent (joined by ``;:`` in one message). ``output_off``/``output_on`` are ``None``
    where the model cannot disconnect an output. ``positions``/``updates`` are the
    emulator's read-back of digipot codes and the last pulse (``None`` on hardware).
    Every number is formatted with ``repr(float)`` (shortest round-trip decimal).
    """

    name: str
    idn_pattern: str  # regular expression the *IDN? reply must match (re.search)
    write_volts: str
    read_set: str
    measure: str
    output_off: str | None
    output_on: str | None
    list_values: bool = True
    error_query: str = "SYST:ERR?"
    no_error_prefix: str = "0,"
    reset: str = "*RST"
    clear: str = "*CLS"
    identify: str = "*IDN?"
    output_range: tuple[float, float] = (-10.0, 10.0)
    input_range: tuple[float, float] = (-10.0, 10.0)
    channel_separator: str = ","
    safe_extra: tuple[str, ...] = ()
    positions: str | None = None
    updates: str | None = None
    read_termination: str = "\n"
    write_termination: str = "\n"

    def matches(self, idn: str) -> bool:
        """Whether an ``*IDN?`` reply belongs to this model."""
        return re.search(self.idn_pattern, idn) is not None


TWINLAB_EMULATOR = Dialect(
    name="twinlab-emulator",
    idn_pattern=r"^twinlab,EmulatedDAQ,",
    write_volts="SOUR:VOLT {values},(@{channels})",
    read_set="SOUR:VOLT? (@{channels})",
    measure="MEAS:VOLT:DC? (@{channels})",
    output_off="OUTP:STAT OFF,(@{channels})",
    output_on="OUTP:STAT ON,(@{channels})",
    no_error_prefix="0,",
    output_range=(-10.0, 10.0),
    input_range=(-10.0, 10.0),
    safe_extra=("EMUL:SAFE",),
    positions="EMUL:POS?",
    updates="EMUL:UPD?",
)

# Keysight DAQ970A with a DAQM907A multifunction module: two 16-bit DAC channels
# (s04, s05, +-12 V) set with SOURce:VOLTage <v>,(@<ch>) -- one value per command --
# and DC volts measured with MEASure:VOLTage:DC? (@<scan list>). The error queue
# answers "+0,"No error"". The DACs have no output switch, so they cannot release a
# node: a bench that needs floating outputs wires relays and is a new table.
KEYSIGHT_DAQ970A = Dialect(
    name="keysight-daq970a",
    idn_pattern=r"^Keysight Technologies,DAQ970A,",
    write_volts="SOUR:VOLT {values},(@{channels})",
    read_set="SOUR:VOLT? (@{channels})",
    measure="MEAS:VOLT:DC? (@{channels})",
    output_off=None,
    output_on=None,
    list_values=False,
    no_error_prefix="+0,",
    output_range=(-12.0, 12.0),
    input_range=(-300.0, 300.0),
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (TWINLAB_EMULATOR, KEYSIGHT_DAQ970A)}


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name``; ValueError listing the known ones otherwise."""
    try:
        return DIALECTS[name]
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"unknown SCPI dialect {name!r} (known: {known})") from None


__all__ = ["DIALECTS", "KEYSIGHT_DAQ970A", "TWINLAB_EMULATOR", "Dialect", "get_dialect"]
