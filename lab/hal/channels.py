"""The channel map: which DAQ channel drives or senses which node of which twin, with
limits; voltage limits (one definition): `Limits` is the (low, high) V pair every output
is checked against, by `lab.hal.Bench` and again by the drivers, with one LimitError
message (`Limits.check`, `check_all`); and channel names (one definition):
`check_channel_name` is the character set every DAQ channel name must match,
`channel_key` the spelling-independent identity used to refuse two names for one
physical channel ("08" and "8"). Drivers canonicalise further per instrument model
(defence in depth).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from lab.errors import ConfigError
from lab.hal.protocols import LimitError

if TYPE_CHECKING:
    from lab.core.network import Network

Twin = Literal["free", "clamped"]
TWINS: tuple[Twin, Twin] = ("free", "clamped")


class _Pair(NamedTuple):
    low: float
    high: float


class Limits(_Pair):
    """The voltages an output may be set to, V: ``low <= v <= high``, both finite,
    ``low < high`` (`ConfigError`, a ValueError, otherwise). A tuple: ``lo, hi = limits`` and
    ``limits == (lo, hi)`` work. Build it once (channel map, driver tables), not per call."""

    __slots__ = ()

    def __new__(cls, low: float, high: float) -> Limits:
        lo, hi = float(low), float(high)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(
                f"limits ({low!r}, {high!r}) are not (low, high) in V "
                "(both finite, low below high)"
            )
        return super().__new__(cls, lo, hi)

    @classmethod
    def parse(cls, pair: object, what: str) -> Limits:
        """``pair`` (a (low, high) sequence of two numbers) as Limits; otherwise
        `ConfigError` (a ValueError) in one line naming ``what``."""
        try:
            low, high = pair  # type: ignore[misc]
            return cls(low, high)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{what} limits {pair!r} are not (low, high) in V (both finite, low below high)"
            ) from None

    def __contains__(self, value: object) -> bool:
        """``value in limits``: within [low, high] (False for NaN)."""
        return self.low <= value <= self.high  # type: ignore[operator]

    def within(self, outer: Limits) -> bool:
        """True if these limits lie inside ``outer``."""
        return outer.low <= self.low and self.high <= outer.high

    def __str__(self) -> str:
        return f"[{self.low:g}, {self.high:g}] V"

    def check(
        self,
        value: float,
        what: str,
        *,
        who: str = "",
        label: str = "its limits",
        quantity: str = "",
    ) -> None:
        """LimitError unless ``low <= value <= high`` (NaN refused). The one message format:
        ``[<who>: ][<quantity> ]<value> V on <what> is outside <label> [<low>, <high>] V;
        nothing was written`` (``who``: the instrument; ``what``: e.g. "channel '8'";
        ``label``: "its limits" or a range's name; ``quantity``: e.g. "bias")."""
        if not self.low <= value <= self.high:
            head = (f"{who}: " if who else "") + (f"{quantity} " if quantity else "")
            raise LimitError(
                f"{head}{float(value)!r} V on {what} is outside {label} {self}; "
                "nothing was written"
            )


def check_all(
    values: Iterable[float],
    limits: Sequence[Limits],
    whats: Sequence[str],
    *,
    who: str = "",
    labels: Sequence[str] | None = None,
) -> None:
    """`Limits.check` for each value (n,) against ``limits`` (n,), ``whats`` (n,) naming each
    output; raises for the first one outside. Per-step fast: no objects made unless it raises."""
    for i, (v, (lo, hi)) in enumerate(zip(values, limits, strict=True)):  # tuple unpack: fast
        if not lo <= v <= hi:
            label = "its limits" if labels is None else labels[i]
            limits[i].check(v, whats[i], who=who, label=label)


CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_DIGITS = re.compile(r"\d+")


def check_channel_name(name: object, what: str = "channel") -> str:
    """``name`` if it is a usable DAQ channel name (see `CHANNEL_NAME`); `ConfigError` in
    one line naming ``what``, the name and the characters that are not allowed."""
    if not isinstance(name, str):
        raise ConfigError(f"{what} {name!r}: a channel name must be a string")
    if CHANNEL_NAME.fullmatch(name) is None:
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
        if bad:
            found = "characters " + " ".join(repr(c) for c in bad)
        elif not name:
            found = "an empty name"
        elif len(name) > 32:
            found = f"{len(name)} characters"
        else:
            found = f"{name[0]!r} first"
        raise ConfigError(
            f"{what} {name!r} is not a usable DAQ channel name ({found}); a channel name "
            "is 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def channel_key(name: str) -> str:
    """The spelling-independent identity of a channel name: case folded and the leading
    zeros of every run of digits dropped, so "08" and "8" (or "ao.free.08" and
    "AO.free.8") are one channel. Two names with one key must not both be mapped."""
    return _DIGITS.sub(lambda m: m[0].lstrip("0") or "0", name.casefold())


@dataclass(frozen=True, slots=True)
class Channel:
    """One DAQ channel wired to one node of one twin.

    ``kind`` is "drive" (analog output) or "sense" (analog input). ``limits`` (V, a
    (low, high) pair, checked as `Limits` by `check_channel_map`) bound every voltage the
    controller may write; ``safe`` (V) is where the output rests.
    """

    name: str
    twin: Twin
    node: int
    kind: Literal["drive", "sense"]
    limits: tuple[float, float] = (-10.0, 10.0)
    safe: float = 0.0


#: What a drive channel that moves no node is said to do (`twinlab check`, the estimator's
#: power-up check): after `channel_what`.
DRIVES_NOTHING = "drives nothing (dead or not wired)"


def channel_what(ch: Channel) -> str:
    """A channel as a report names it: ``drive channel '8' (free twin node 8)``."""
    return f"{ch.kind} channel {ch.name!r} ({ch.twin} twin node {ch.node})"


def output_what(ch: Channel) -> str:
    """A drive channel as a refused voltage names it (`Limits.check`'s ``what``): ``node 8
    of the free twin (channel '8')``."""
    return f"node {ch.node} of the {ch.twin} twin (channel {ch.name!r})"


def _wiring(ch: Channel) -> str:
    return f"{ch.kind}, {ch.twin} twin node {ch.node}"


def check_channel_map(
    network: Network, channels: Sequence[Channel], *, bias: str | None = None
) -> None:
    """`ConfigError`, one line, for a channel name that is not usable (`check_channel_name`),
    one channel mapped twice under one or two spellings (`channel_key`; naming both, the
    ``bias`` channel included), a node that does not exist, a safe value outside its
    limits, or one node of one twin with two channels of one kind."""
    named: dict[str, tuple[str, str]] = {}  # channel_key -> (spelling, what it is)
    if bias is not None:
        check_channel_name(bias, "bias channel")
        named[channel_key(bias)] = (bias, "the bias")
    wired: set[tuple[str, str, int]] = set()
    for ch in channels:
        check_channel_name(ch.name, "channel map: channel")
        if ch.twin not in TWINS or ch.kind not in ("drive", "sense"):
            raise ConfigError(
                f"channel map: channel {ch.name!r} has twin {ch.twin!r} and kind {ch.kind!r}; "
                "expected twin 'free' or 'clamped' and kind 'drive' or 'sense'"
            )
        key = channel_key(ch.name)
        if key in named:
            spelling, what = named[key]
            same = "one name" if spelling == ch.name else "two spellings of one name"
            raise ConfigError(
                f"channel map: channel {ch.name!r} ({_wiring(ch)}) and channel {spelling!r} "
                f"({what}) are one DAQ channel, mapped twice ({same})"
            )
        named[key] = (ch.name, _wiring(ch))
        if not 1 <= ch.node <= network.n_nodes:
            raise ConfigError(
                f"channel map: channel {ch.name!r} names node {ch.node}, "
                f"but network {network.name!r} has nodes 1..{network.n_nodes}"
            )
        lo, hi = Limits.parse(ch.limits, f"channel map: channel {ch.name!r}")
        if not lo <= ch.safe <= hi:
            raise ConfigError(
                f"channel map: channel {ch.name!r} safe value {ch.safe} V "
                f"is outside its limits [{lo}, {hi}] V"
            )
        wiring = (ch.kind, ch.twin, ch.node)
        if wiring in wired:
            raise ConfigError(
                f"channel map: node {ch.node} of the {ch.twin} twin has two {ch.kind} channels"
            )
        wired.add(wiring)


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a bench file wires, known before any instrument is opened: its network, its
    channel map and whether it has a resistance probe. `Bench` has the same ``network``
    and ``channels``; a bench kind passes one to the check `lab.hal.load_bench` is given."""

    network: Network
    channels: Sequence[Channel]
    has_probe: bool = False
