"""Wiring and part faults of the emulated bench, to rehearse a bench's bring-up.

One spec, ``KIND:ARGS``, names one fault (``twinlab emulate --fault``, or
``WireEmulator(faults=[...])``):

- ``swap-channels:A,B``: DAQ channels A and B are wired to each other's nodes (each
  keeps its own kind: an output still drives, an input still senses);
- ``dead-channel:A``: channel A drives nothing (its node floats) and reads noise around
  0 V (`DEAD_NOISE` V rms, seeded by the board's seed);
- ``stuck-edge:I-J``: that edge's digipots (both twins: they share the up/down and
  increment lines) never step;
- ``open-edge:I-J``: that edge is disconnected in both twins (`OPEN_CONDUCTANCE`).

A and B are node channel names of the bench file `twinlab emulate` writes (matched as
`lab.hal.channels.channel_key` does, so "02001" is "2001"); I-J is an edge by its 1-based
node labels, in either order. Channel faults live where they happen, in the wiring
between the DAQ and the board (`lab.emulator.wire.scpi_server.ScpiServer`); edge faults
in the board (`lab.emulator.board.EmulatedBoard`). A spec that is malformed, of an
unknown kind or names no channel or edge of the bench is a `ConfigError` in one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lab.errors import ConfigError
from lab.hal.channels import channel_key

#: Every fault kind and the form of its arguments.
KINDS = {
    "swap-channels": "A,B",
    "dead-channel": "A",
    "stuck-edge": "I-J",
    "open-edge": "I-J",
}
#: rms noise a dead (floating) input reads around 0 V, V (pick-up, above the ADC's own)
DEAD_NOISE = 5e-3
#: conductance of an open edge, S (1 TOhm of leakage: no current, the solve stays regular)
OPEN_CONDUCTANCE = 1e-12

_EDGE = re.compile(r"\s*(\d+)\s*-\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class Fault:
    """One parsed fault: ``kind`` (a key of `KINDS`), the bench's ``channels`` it names
    (their names as the bench file spells them) or the 0-based ``edge``, and the ``spec``."""

    kind: str
    spec: str
    channels: tuple[str, ...] = ()
    edge: int | None = None


def _ranges(names: Sequence[str]) -> str:
    """``names`` compactly: runs of consecutive integers as ``a..b``."""
    try:
        numbers = sorted(int(n) for n in names)
    except ValueError:
        return ", ".join(names)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


def parse_fault(spec: str, channels: Sequence[str], edge_labels: Sequence[str]) -> Fault:
    """The `Fault` of ``spec`` on a bench with node channel names ``channels`` and edges
    ``edge_labels`` ("I-J", 1-based, `lab.core.network.Network.edge_labels`)."""
    kinds = ", ".join(f"{k}:{a}" for k, a in KINDS.items())
    kind, sep, args = str(spec).partition(":")
    kind = kind.strip().lower()
    if not sep or not args.strip():
        raise ConfigError(f"--fault {spec!r}: expected KIND:ARGS, one of {kinds}")
    if kind not in KINDS:
        raise ConfigError(f"--fault {spec!r}: unknown kind {kind!r}; expected one of {kinds}")
    if kind in ("stuck-edge", "open-edge"):
        m = _EDGE.fullmatch(args)
        if m is None:
            raise ConfigError(f"--fault {spec!r}: expected {kind}:I-J, an edge by its node labels")
        i, j = int(m[1]), int(m[2])
        index = {label: e for e, label in enumerate(edge_labels)}
        edge = index.get(f"{i}-{j}", index.get(f"{j}-{i}"))
        if edge is None:
            raise ConfigError(
                f"--fault {spec!r}: the bench has no edge {i}-{j} "
                f"(its edges: {' '.join(edge_labels)})"
            )
        return Fault(kind, str(spec), edge=edge)
    names = [a.strip() for a in args.split(",")]
    want = 2 if kind == "swap-channels" else 1
    if len(names) != want or not all(names):
        raise ConfigError(f"--fault {spec!r}: expected {kind}:{KINDS[kind]}")
    by_key = {channel_key(c): c for c in channels}
    found = []
    for name in names:
        if channel_key(name) not in by_key:
            raise ConfigError(
                f"--fault {spec!r}: the bench has no node channel {name!r} "
                f"(its node channels: {_ranges(channels)})"
            )
        found.append(by_key[channel_key(name)])
    if len(set(found)) != len(found):
        raise ConfigError(f"--fault {spec!r}: expected two different channels")
    return Fault(kind, str(spec), channels=tuple(found))


def parse_faults(
    specs: Iterable[str | Fault], channels: Sequence[str], edge_labels: Sequence[str]
) -> tuple[Fault, ...]:
    """Every spec parsed (`parse_fault`; a `Fault` passes as it is); a channel or edge
    named by two faults is a `ConfigError` (their combination is not defined)."""
    faults = tuple(
        s if isinstance(s, Fault) else parse_fault(s, channels, edge_labels) for s in specs
    )
    seen: dict[object, str] = {}
    for fault in faults:
        for thing in (*fault.channels, *(() if fault.edge is None else (("edge", fault.edge),))):
            if thing in seen:
                raise ConfigError(
                    f"--fault {fault.spec!r}: names what --fault {seen[thing]!r} already does"
                )
            seen[thing] = fault.spec
    return faults


__all__ = ["DEAD_NOISE", "KINDS", "OPEN_CONDUCTANCE", "Fault", "parse_fault", "parse_faults"]
