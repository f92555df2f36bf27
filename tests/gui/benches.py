"""Bench factories for the live window's tests.

The window trains in a separate process (`lab.acquire.live`), so a test's bench factory must be
picklable (module-level functions, `functools.partial`) and a test sees the bench only
through what the factory leaves behind: `recorded` writes the emulated board's output
state to a JSON file when the bench is closed (after its safe state).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from lab.emulator import EmulatorConfig, emulator_bench
from lab.hal import Bench, BenchError, Unsafe
from lab.hal.benchfile import load_bench


class _Clock:
    """Wraps a bench's clock: ``fail_after`` pulses then BenchError; ``record`` on close."""

    def __init__(self, bench: Bench, record: str | None, fail_after: int | None) -> None:
        self.inner, self.bench = bench.clock, bench
        self.record, self.fail_after, self.pulses = record, fail_after, 0

    def identify(self) -> str:
        return self.inner.identify()

    def pulse(self, n: int = 1) -> None:
        if self.fail_after is not None and self.pulses >= self.fail_after:
            raise BenchError("clock board: no reply to PULSE (test fault)")
        self.pulses += n
        self.inner.pulse(n)

    def safe_state(self) -> list[Unsafe]:
        return self.inner.safe_state()

    def close(self) -> None:
        if self.record is not None:
            board = self.bench.probe.board  # type: ignore[union-attr]
            Path(self.record).write_text(json.dumps({
                "driven": bool(board.driven.any()),
                "applied_max": float(np.abs(board.applied).max()),
                "bias": float(board.bias),
                "oscillator_max": float(board.oscillators.high.max()),
                "pulses": self.pulses,
            }))
        self.inner.close()


def emulator() -> Bench:
    """The default emulator bench."""
    return load_bench(None)


def recorded(path: str, fail_after: int | None = None) -> Bench:
    """The default emulator bench; on close, its board's output state goes to ``path``
    (JSON); with ``fail_after``, the clock raises BenchError after that many pulses."""
    bench = load_bench(None)
    return replace(bench, clock=_Clock(bench, path, fail_after))


def power_board() -> Bench:
    """An emulator bench whose board's comparators compare power (`Bench.rule` "power")."""
    return emulator_bench(EmulatorConfig(rule="power"))


def narrow_limits() -> Bench:
    """An emulator bench whose drive channels stop at 3 V (task ii needs 5 V)."""
    return emulator_bench(limits=(-1.0, 3.0))


def probeless(sense_clamped: bool = True) -> Bench:
    """The default emulator bench with its exact probe hidden (a real bench's situation):
    the trainer estimates the codes; without ``sense_clamped`` (no clamped-twin sense
    channel) it cannot, and the codes are unknown."""
    full = emulator_bench()
    channels = [ch for ch in full.channels
                if sense_clamped or not (ch.twin == "clamped" and ch.kind == "sense")]
    return replace(full, probe=None, channels=channels)


def stuck_edge(label: str = "1-4") -> Bench:
    """The default emulator bench (exact probe) with edge ``label``'s digipots never
    stepping (`EmulatedBoard.stick_edge`): the trainer names it (`lab.acquire.stuck`)."""
    full = emulator_bench()
    board = full.probe.board  # type: ignore[union-attr]
    board.stick_edge(board.network.edge_labels().index(label))
    return full


def not_at_power_up() -> Bench:
    """A probe-less emulator bench whose board has moved since power-up (edge 4 at code
    90, the rest at 64): the estimator's calibration refuses it before the first pulse."""
    full = emulator_bench()
    codes = np.full(full.network.n_edges, 64)
    codes[3] = 90
    full.probe.board.set_codes(codes)  # type: ignore[union-attr]
    return replace(full, probe=None)
