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

from lab.hal import check_channel_name


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one DAQ model speaks SCPI. Voltages in V.

    ``write_volts`` takes ``{values}`` and ``{channels}``; if ``list_values`` it accepts
    one value per listed channel in one command, otherwise one command per channel is
    sent (joined by ``;:`` in one message). ``output_off``/``output_on`` are ``None``
    where the model cannot disconnect an output. ``positions``/``updates`` are the
    emulator's read-back of digipot codes and the last pulse (``None`` on hardware).
    Every number is formatted with ``repr(float)`` (shortest round-trip decimal).

    Channel names: `canonical` is the one spelling sent to the instrument. A name must
    first pass `lab.hal.check_channel_name` (no SCPI punctuation); if ``channel_numeric``
    the model numbers its channels, so leading zeros are dropped ("08" -> "8"); the
    result must match ``channel_pattern`` (re.fullmatch). ``read_tolerance`` (V) is how
    far a read-back output value (``read_set``) may be from the value set and still
    count as that value: a few steps of the model's DAC.
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
    channel_pattern: str = r"[1-9][0-9]{0,3}"
    channel_numeric: bool = True
    read_tolerance: float = 1e-3

    def matches(self, idn: str) -> bool:
        """Whether an ``*IDN?`` reply belongs to this model."""
        return re.search(self.idn_pattern, idn) is not None

    def canonical(self, name: str) -> str:
        """The one spelling of channel ``name`` on this model; ValueError (one line) for a
        name it cannot have. "08" and "8" give "8" on a model that numbers channels."""
        check_channel_name(name, f"{self.name} channel")
        canon = name
        if self.channel_numeric and name.isdigit():
            canon = name.lstrip("0") or "0"
        if re.fullmatch(self.channel_pattern, canon) is None:
            raise ValueError(
                f"{self.name} channel {name!r} is not a channel of this model "
                f"(expected /{self.channel_pattern}/)"
            )
        return canon


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
    channel_pattern=r"[1-9][0-9]{0,3}",  # 1..9999: node n of a kind and twin is 1000k + n
    read_tolerance=1e-3,  # the emulated DAC steps by 20 V / 65535 = 0.31 mV
)

# Keysight DAQ970A with a DAQM907A multifunction module: two 16-bit DAC channels
# (s04, s05, +-12 V) set with SOURce:VOLTage <v>,(@<ch>) -- one value per command --
# and DC volts measured with MEASure:VOLTage:DC? (@<scan list>). The error queue
# answers "+0,"No error"". The DACs have no output switch, so they cannot release a
# node: a bench that needs floating outputs wires relays and is a new table; the safe
# state is the safe voltages, set and read back with SOURce:VOLTage? (@<ch>). Channels
# are slot (1-3) and two-digit channel: 101..399.
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
    channel_pattern=r"[1-3][0-9]{2}",
    read_tolerance=1e-3,  # the 16-bit DAC over +-12 V steps by 0.37 mV
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
