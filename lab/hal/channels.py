"""The channel map: which DAQ channel drives or senses which node of which twin, with
limits; and channel names (one definition): `check_channel_name` is the character set every
DAQ channel name must match, `channel_key` the spelling-independent identity used to
refuse two names for one physical channel ("08" and "8"). Drivers canonicalise further
per instrument model (defence in depth).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lab.errors import ConfigError

if TYPE_CHECKING:
    from lab.core.network import Network

Twin = Literal["free", "clamped"]
TWINS: tuple[Twin, Twin] = ("free", "clamped")


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

    ``kind`` is "drive" (analog output) or "sense" (analog input). ``limits`` (V) bound
    every voltage the controller may write; ``safe`` (V) is where the output rests.
    """

    name: str
    twin: Twin
    node: int
    kind: Literal["drive", "sense"]
    limits: tuple[float, float] = (-10.0, 10.0)
    safe: float = 0.0


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
        lo, hi = ch.limits
        if not lo < hi:
            raise ConfigError(
                f"channel map: channel {ch.name!r} limits {ch.limits} are not (low, high)"
            )
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
