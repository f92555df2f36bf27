"""The protocols the trainer talks to (DAQ, BiasSource, ClockBoard, ResistanceProbe), the
errors of a bench and `Unsafe`, the safe-state contract's item.

Safe state contract (one definition): every instrument's ``safe_state()`` returns a
list of `Unsafe`, one per output (or the whole instrument, ``channel=None``) that it
could not make safe *and verify* where it can read back; an empty list means safe.
It does not raise for instrument faults (`lab.hal.Bench.safe_state` also catches anything
that escapes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class BenchError(RuntimeError):
    """An instrument or bench failure; the message names the instrument and what happened."""


class LimitError(ValueError):
    """A requested voltage lies outside a channel's configured limits (nothing was written)."""


@dataclass(frozen=True, slots=True)
class Unsafe:
    """One output that could not be made safe and verified: ``channel`` is the
    instrument's channel name, or None when the whole instrument is meant (a link that
    is down, a clock board that did not confirm); ``reason`` is one line."""

    channel: str | None
    reason: str


#: What a DAQ channel name may be: 1 to 32 letters, digits, '.', '_' or '-', starting
#: with a letter or digit. Everything that means something in a SCPI message is out:
#: ';' (command separator), ',' (list separator), '(' ')' '@' (channel list), quotes,
#: '#' (block data), '*' (common commands), whitespace and control characters; and ':'
#: too, because in a SCPI channel list "101:105" is a range, so one name would address
#: several channels (and alias the others).


@runtime_checkable
class DAQ(Protocol):
    """Analog outputs and inputs, addressed by channel name. Volts throughout."""

    def identify(self) -> str:
        """Instrument identity string (e.g. the reply to ``*IDN?``)."""
        ...

    def write(self, channels: Sequence[str], volts: np.ndarray) -> None:
        """Drive output ``channels`` (n,) at ``volts`` (n,). Callers have checked limits."""
        ...

    def release(self, channels: Sequence[str]) -> None:
        """Stop driving ``channels`` (output disabled / high impedance)."""
        ...

    def read(self, channels: Sequence[str]) -> np.ndarray:
        """Sense input ``channels``; returns (n,) volts."""
        ...

    def safe_state(self) -> list[Unsafe]:
        """Every output to its safe value, channel by channel (one refusal does not stop
        the others), switched off where the instrument can and read back where it can.
        Returns what could not be made safe and verified (empty: all safe)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BiasSource(Protocol):
    """The global bias voltage compared against each edge's local oscillator."""

    def set_volts(self, volts: float) -> None: ...

    def safe_state(self) -> list[Unsafe]:
        """Bias to its safe value (p = 0), read back where the instrument can; returns
        what could not be made safe and verified (empty: safe)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ClockBoard(Protocol):
    """The global learning clock: every enabled edge steps once per pulse."""

    def identify(self) -> str: ...

    def pulse(self, n: int = 1) -> None:
        """Send ``n`` clock pulses and return once they have been delivered."""
        ...

    def safe_state(self) -> list[Unsafe]:
        """Clock line low, bursts stopped; ``[Unsafe(None, reason)]`` if that could not
        be done or confirmed, else empty."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ResistanceProbe(Protocol):
    """Reports digipot codes. ``estimated`` is False only where they are known exactly."""

    estimated: bool

    def positions(self) -> np.ndarray:
        """Current digipot codes, (n_edges,) int in [0, 127]."""
        ...

    def last_update(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(update_mask (E,) bool, direction (E,) int8) of the last pulse, if observable."""
        ...
