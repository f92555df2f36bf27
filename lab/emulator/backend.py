"""The HAL over the emulated board: DAQ, bias source, clock board and probe.

Channel names: ``ao.<twin>.<node>`` drive and ``ai.<twin>.<node>`` sense node
``<node>`` (1-based) of twin ``free`` or ``clamped``. `emulator_bench` wires a
channel of each kind to every node of both twins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lab.emulator.board import CLAMPED, FREE, EmulatedBoard
from lab.emulator.config import EmulatorConfig
from lab.hal import TWINS, Bench, BenchError, Channel, CurrentLimits, Unsafe

_TWIN_INDEX = {"free": FREE, "clamped": CLAMPED}


class EmulatedDAQ:
    """Analog outputs and inputs of the emulated bench; implements `lab.hal.DAQ`."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board
        self._groups: dict[tuple[str, ...], list[tuple[int, np.ndarray, np.ndarray]]] = {}

    def _resolve(self, channels: Sequence[str]) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Group ``channels`` by twin: [(twin, node indices, positions in the request)]."""
        key = tuple(channels)
        groups = self._groups.get(key)
        if groups is None:
            by_twin: dict[int, tuple[list[int], list[int]]] = {}
            for i, name in enumerate(key):
                try:
                    _, twin, node = name.split(".")
                    t, n = _TWIN_INDEX[twin], int(node) - 1
                except (ValueError, KeyError):
                    raise BenchError(f"emulated DAQ: no channel named {name!r}") from None
                if not 0 <= n < self.board.network.n_nodes:
                    raise BenchError(f"emulated DAQ: no channel named {name!r}")
                by_twin.setdefault(t, ([], []))[0].append(n)
                by_twin[t][1].append(i)
            groups = [(t, np.array(n), np.array(i)) for t, (n, i) in by_twin.items()]
            self._groups[key] = groups
        return groups

    def identify(self) -> str:
        return "twinlab,EmulatedDAQ,0,1.0"

    def write(self, channels: Sequence[str], volts: np.ndarray) -> None:
        values = np.asarray(volts, dtype=float).tolist()
        lo, hi = self.board.dac.low, self.board.dac.high
        for name, v in zip(channels, values, strict=True):
            if not lo <= v <= hi:
                raise BenchError(
                    f"emulated DAQ: {v} V on {name!r} is outside the output range [{lo}, {hi}] V"
                )
        groups = self._resolve(channels)
        if len(groups) == 1:
            twin, nodes, _ = groups[0]
            self.board.drive(twin, nodes, values)
            return
        for twin, nodes, where in groups:
            self.board.drive(twin, nodes, [values[i] for i in where.tolist()])

    def release(self, channels: Sequence[str]) -> None:
        for twin, nodes, _ in self._resolve(channels):
            self.board.release(twin, nodes)

    def read(self, channels: Sequence[str]) -> np.ndarray:
        groups = self._resolve(channels)
        if len(groups) == 1:
            twin, nodes, _ = groups[0]
            return np.array(self.board.measure(twin, nodes))
        out = np.empty(len(channels))
        for twin, nodes, where in groups:
            out[where] = self.board.measure(twin, nodes)
        return out

    def safe_state(self) -> list[Unsafe]:
        """Every output to 0 V and released, then checked on the board (the safe value of
        every channel `emulator_bench` wires is 0 V)."""
        self.board.reset_outputs()
        board, unsafe = self.board, []
        for twin, name in ((FREE, "free"), (CLAMPED, "clamped")):
            for n in np.flatnonzero(board.driven[twin] | (board.applied[twin] != 0.0)):
                unsafe.append(Unsafe(
                    f"ao.{name}.{n + 1}",
                    f"still at {board.applied[twin, n]!r} V "
                    f"({'driven' if board.driven[twin, n] else 'released'}) after the safe state",
                ))  # fmt: skip
        return unsafe

    def close(self) -> None:
        pass


class EmulatedBias:
    """The global bias voltage (a DAC output of the board); implements `lab.hal.BiasSource`."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board
        self.safe_volts = board.config.osc_high + 0.5

    def set_volts(self, volts: float) -> None:
        self.board.bias = self.board.dac.convert([float(volts)])[0]

    def safe_state(self) -> list[Unsafe]:
        """Bias above every oscillator (p = 0); the board holds it exactly."""
        self.board.bias = self.safe_volts
        return []

    def close(self) -> None:
        pass


class EmulatedClock:
    """The clock board; implements `lab.hal.ClockBoard`."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board

    def identify(self) -> str:
        return "twinlab,EmulatedClock,0,1.0"

    def pulse(self, n: int = 1) -> None:
        for _ in range(n):
            self.board.clock_edge()

    def safe_state(self) -> list[Unsafe]:
        return []  # the emulated clock line is low between pulses

    def close(self) -> None:
        pass


class EmulatedProbe:
    """True digipot codes and the last pulse's enables; implements `lab.hal.ResistanceProbe`."""

    estimated = False

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board

    def positions(self) -> np.ndarray:
        # no copy: every clock edge makes a new codes array, a published one never changes
        return self.board.codes

    def last_update(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.board.pulses == 0:
            return None
        return self.board.last_mask, self.board.last_direction


def emulator_channels(n_nodes: int, limits: tuple[float, float]) -> list[Channel]:
    """The emulated bench's channels: every node of both twins driven (``ao.T.N``, within
    ``limits`` V, safe at 0 V) and sensed (``ai.T.N``)."""
    return [
        Channel(f"{prefix}.{twin}.{node}", twin, node, kind, limits=limits, safe=0.0)
        for twin in TWINS
        for node in range(1, n_nodes + 1)
        for prefix, kind in (("ao", "drive"), ("ai", "sense"))
    ]


def emulator_bench(
    config: EmulatorConfig | None = None,
    *,
    limits: tuple[float, float] = (-1.0, 6.0),
    board: EmulatedBoard | None = None,
) -> Bench:
    """A `Bench` over a fresh emulated board with every node of both twins wired.

    ``limits`` (V) apply to every drive channel; the bias may span the oscillator swing.
    """
    board = board or EmulatedBoard(config)
    cfg = board.config
    channels = emulator_channels(board.network.n_nodes, limits)
    bias_limits = (0.0, cfg.osc_high + 0.5)
    return Bench(
        network=board.network,
        daq=EmulatedDAQ(board),
        bias=EmulatedBias(board),
        clock=EmulatedClock(board),
        channels=channels,
        calibration=board.calibration(),
        probe=EmulatedProbe(board),
        bias_limits=(min(bias_limits[0], float(board.calibration().bias[0])), bias_limits[1]),
        config={
            "kind": "emulator",
            "emulator": cfg.model_dump(mode="json"),
            "limits": list(limits),
            "currents": CurrentLimits().to_dict(),
        },
        rule=cfg.rule,
    )
