"""The emulated twin board: two resistor networks of digipots, comparators, oscillators.

Twin 0 is the free twin, twin 1 the clamped twin. The board holds what the DAQ
applies to each node, solves each twin's Kirchhoff state on demand (cached until
something changes), and on a clock edge lets every enabled edge step its digipot
pair with the discrete rule of `lab.core.learning` (the same code the studies use):
the voltage rule, or the power rule when ``config.rule`` is "power" (the board's
comparators are wired for one of them).

Edge faults (`lab.emulator.faults`) live here: `stick_edge` (its digipots never step),
`open_edge` (no current in either twin). `on_pulse` callbacks see every clock edge
(`lab.emulator.truth.TruthWriter` records them).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numba as nb
import numpy as np

from lab.core.learning import discrete_step_from_nodes, power_step_from_nodes, update_mask
from lab.core.network import Network, Solver
from lab.emulator.components import Converter, Digipots, NormalStream, Oscillators
from lab.emulator.config import EmulatorConfig
from lab.emulator.faults import OPEN_CONDUCTANCE
from lab.hal.calibration import Calibration

FREE, CLAMPED = 0, 1


@nb.njit(cache=True, nogil=True)
def _clock_edge(v_free, v_clamped, edges, sigma, codes, enabled, direction, k_table, k,
                positions, power, k_now):  # fmt: skip
    """The discrete rule on every edge (lab.core.learning; the power rule if ``power``,
    with the twins' resistances 1 / ``k_now`` (2, E) before the step), codes clipped to
    0..positions - 1, then the new conductances ``k`` (2, E) looked up in ``k_table``
    (2 * E * positions,) for the new codes."""
    if power:
        power_step_from_nodes(v_free, v_clamped, edges, sigma, codes, enabled, positions - 1,
                              direction, 1.0 / k_now[0], 1.0 / k_now[1])  # fmt: skip
    else:
        discrete_step_from_nodes(v_free, v_clamped, edges, sigma, codes, enabled,
                                 positions - 1, direction)  # fmt: skip
    n = len(codes)
    for e in range(n):
        k[0, e] = k_table[e * positions + codes[e]]
        k[1, e] = k_table[(n + e) * positions + codes[e]]


@functools.cache
def compile_kernels() -> None:
    """Run every compiled kernel of the board once, so that the first run's first step
    does not pay numba's compilation (seconds on a fresh checkout, ms from its cache)."""
    board = EmulatedBoard(EmulatorConfig(adc_noise=0.0), _warm=False)
    nodes = np.array([0, 8])
    for twin in (FREE, CLAMPED):
        board.drive(twin, nodes, [1.0, 0.0])
    board.bias = board.config.osc_low
    board.clock_edge()
    board.config = board.config.model_copy(update={"rule": "power"})
    board.clock_edge()
    board.measure(FREE, nodes)
    board.network.solve(np.ones((2, board.network.n_edges)), {1: 1.0, 9: 0.0})


class EmulatedBoard:
    """State and physics of the emulated board. Node indices here are 0-based."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        network: Network | None = None,
        _warm: bool = True,
    ) -> None:
        if _warm:
            compile_kernels()
        self.config = config = config or EmulatorConfig()
        self.network = network or Network.from_name(config.network, seed=config.seed)
        n_edges, n_nodes = self.network.n_edges, self.network.n_nodes
        parts = np.random.default_rng([config.seed, 0])  # part values, fixed at "manufacture"
        self.rng = np.random.default_rng([config.seed, 1])  # ideal enables
        self.noise = NormalStream(np.random.default_rng([config.seed, 2]))  # ADC noise, jitter
        self.pots = Digipots.draw(config, n_edges, parts, self.network.parts.get("r_end_to_end"))
        self.sigma = (
            parts.uniform(0.0, config.sigma_max, n_edges) if config.sigma_max else np.zeros(n_edges)
        )
        self.oscillators = Oscillators.draw(config, n_edges, parts)
        self.codes = np.full(n_edges, config.initial_code, dtype=np.int16)
        # conductance of every code of every part, flat (2 * E * positions,), and where each
        # (twin, edge) row starts: k = table[offset + codes] is one gather per step
        self.digipot = config.digipot
        self.positions = self.digipot.positions
        table = 1.0 / self.digipot.table(self.pots.r_end_to_end, self.pots.r_wiper)
        self._k_table = table.ravel()
        self._k_offset = (np.arange(2 * n_edges) * self.positions).reshape(2, n_edges)
        self._k = self._conductance()  # (2, E) S, updated on every step
        self.dac = Converter(*config.converter_range, config.dac_bits)
        self.adc = Converter(*config.converter_range, config.adc_bits, config.adc_noise)
        self.bias = config.osc_high + 0.5  # safe: no oscillator reaches it, p = 0
        self.pulses = 0
        self.applied = np.zeros((2, n_nodes))
        self.driven = np.zeros((2, n_nodes), dtype=bool)
        self._driven_sets: list[set[int]] = [set(), set()]
        self.last_mask = np.zeros(n_edges, dtype=bool)
        self.last_direction = np.zeros(n_edges, dtype=np.int8)
        self._solvers: list[Solver | None] = [None, None]
        self._volts: list[np.ndarray | None] = [None, None]
        self._prev: list[np.ndarray | None] = [None, None]
        self._settle = (
            math.exp(-config.settle_wait / config.settle_tau) if config.settle_tau else 0.0
        )
        self._nominal = Calibration.linear(config.osc_low, config.osc_high, "ideal oscillator")
        self._nominal_bias, self._nominal_p = float("nan"), 0.0
        self._stuck: np.ndarray | None = None  # (E,) bool: digipots that never step
        #: called after every clock edge with the board (codes, last_mask, last_direction new)
        self.on_pulse: list[Callable[[EmulatedBoard], None]] = []

    def use_parts(self, r_end_to_end: np.ndarray, r_wiper: np.ndarray) -> None:
        """Replace the drawn parts by given ones, (2, E) Ohm each (row 0 free, row 1
        clamped; a measured board, or a hand-worked case); the codes stay."""
        r_ab = np.broadcast_to(np.asarray(r_end_to_end, dtype=float), self.pots.r_end_to_end.shape)
        r_w = np.broadcast_to(np.asarray(r_wiper, dtype=float), self.pots.r_wiper.shape)
        self.pots = Digipots(r_ab.copy(), r_w.copy())
        self._k_table = (1.0 / self.digipot.table(r_ab, r_w)).ravel()
        self._k = self._conductance()
        self._changed(FREE)
        self._changed(CLAMPED)

    # -- faults ----------------------------------------------------------------------------
    def stick_edge(self, edge: int) -> None:
        """From now on edge ``edge`` (0-based) never steps, in either twin: its enable
        reaches no digipot (`last_mask` is False there; `last_direction` is still the rule's)."""
        if self._stuck is None:
            self._stuck = np.zeros(len(self.codes), dtype=bool)
        self._stuck[edge] = True

    def open_edge(self, edge: int) -> None:
        """From now on edge ``edge`` (0-based) is disconnected in both twins: its conductance
        is `OPEN_CONDUCTANCE` whatever its code (the digipots still step)."""
        for twin in (FREE, CLAMPED):
            start = self._k_offset[twin, edge]
            self._k_table[start : start + self.positions] = OPEN_CONDUCTANCE
        self._k = self._conductance()
        self._changed(FREE)
        self._changed(CLAMPED)

    # -- what the DAQ does -----------------------------------------------------------------
    def drive(self, twin: int, nodes: np.ndarray, volts: list[float]) -> None:
        """Hold 0-based ``nodes`` (n,) of ``twin`` at ``volts`` (n values) through the DAC."""
        row = self.applied[twin]
        for node, v in zip(nodes.tolist(), self.dac.convert(volts), strict=True):
            row[node] = v
        driven = self._driven_sets[twin]
        if not driven.issuperset(nodes.tolist()):
            driven.update(nodes.tolist())
            self.driven[twin, nodes] = True
            self._solvers[twin] = None
        self._changed(twin)

    def release(self, twin: int, nodes: np.ndarray) -> None:
        """Stop driving ``nodes`` of ``twin``: they float."""
        if self.driven[twin, nodes].any():
            self.driven[twin, nodes] = False
            self._driven_sets[twin].difference_update(nodes.tolist())
            self._solvers[twin] = None
            self._changed(twin)

    def measure(self, twin: int, nodes: np.ndarray) -> list[float]:
        """What the ADC reads at ``nodes`` (n,) of ``twin``, V: settling, noise, quantisation."""
        volts = self.node_voltages(twin)
        true = volts[nodes].tolist()
        prev = self._prev[twin]
        if self._settle and prev is not None:  # the residue of the last change, decaying
            lag = ((prev[nodes] - volts[nodes]) * self._settle).tolist()
            return self.adc.convert(true, self.noise, lag)
        return self.adc.convert(true, self.noise)

    def reset_outputs(self) -> None:
        """Every DAC output to 0 V and released (the DAQ's safe state)."""
        self.applied[:] = 0.0
        self.driven[:] = False
        self._driven_sets = [set(), set()]
        self._solvers = [None, None]
        self._changed(FREE)
        self._changed(CLAMPED)

    # -- physics ---------------------------------------------------------------------------
    def resistance(self) -> np.ndarray:
        """Digipot resistances (2, E), Ohm."""
        return self.digipot.resistance(self.codes, self.pots.r_end_to_end, self.pots.r_wiper)

    def _conductance(self) -> np.ndarray:
        """Digipot conductances (2, E), S, looked up for the current codes."""
        return self._k_table.take(self._k_offset + self.codes)

    def set_codes(self, codes: np.ndarray) -> None:
        """Put every digipot pair at ``codes`` (E,) at once (a scoring harness or a test: a
        real board can only be stepped); the solved states follow."""
        self.codes = np.asarray(codes, dtype=np.int16).copy()
        self._k = self._conductance()
        self._changed(FREE)
        self._changed(CLAMPED)

    def edge_currents(self, twin: int) -> np.ndarray:
        """True current (E,) A through each edge of ``twin`` now, from its first node to its
        second (the emulator's truth, for scoring current limits)."""
        volts = self._volts[twin]
        if volts is None:  # solved aside: the board's solved state is the settling
            # transient's start (`_changed`), so reading the truth must not set it
            volts = self._solve(twin)
        return self._k[twin] * self.network.drops(volts)

    def node_voltages(self, twin: int) -> np.ndarray:
        """True (analog) node voltages (N,) of ``twin``, V (all 0 V when nothing is driven)."""
        volts = self._volts[twin]
        if volts is None:
            volts = self._volts[twin] = self._solve(twin)
        return volts

    def _solve(self, twin: int) -> np.ndarray:
        """(N,) V: ``twin``'s node voltages now, solved (not stored)."""
        if not self._driven_sets[twin]:
            return np.zeros(self.network.n_nodes)  # all floating: no drops
        solver = self._solvers[twin]
        if solver is None:
            fixed = np.flatnonzero(self.driven[twin]) + 1
            solver = self._solvers[twin] = self.network.solver(fixed)
        return solver.solve_nodes(self._k[twin], self.applied[twin])

    def clock_edge(self) -> None:
        """One global clock pulse: every enabled edge steps its digipot pair once."""
        if self.config.oscillators:
            mask = self.oscillators.enable(self.bias, self.noise)
        else:
            if self.bias != self._nominal_bias:  # p of the ideal enables, cached per bias
                self._nominal_p = float(self._nominal.p_at(self.bias))
                self._nominal_bias = self.bias
            mask = update_mask(self.rng, self.codes.shape, self._nominal_p)
        if self._stuck is not None:
            mask = mask & ~self._stuck
        direction = np.empty(len(self.codes), dtype=np.int8)
        codes = self.codes.copy()  # records may hold the old array
        k = np.empty_like(self._k)
        _clock_edge(
            self.node_voltages(FREE),
            self.node_voltages(CLAMPED),
            self.network.edges,
            self.sigma,
            codes,
            mask,
            direction,
            self._k_table,
            k,
            self.positions,
            self.config.rule == "power",
            self._k,
        )
        self.codes, self._k = codes, k
        self.last_mask, self.last_direction = mask, direction
        self.pulses += 1
        self._changed(FREE)
        self._changed(CLAMPED)
        for callback in self.on_pulse:
            callback(self)

    def calibration(self) -> Calibration:
        """The p(bias) curve this board's enable model implies."""
        if self.config.oscillators:
            return self.oscillators.calibration()
        return self._nominal

    def _changed(self, twin: int) -> None:
        """Invalidate a twin's solved state; keep it as the start of the settling transient."""
        if self._volts[twin] is not None:
            self._prev[twin] = self._volts[twin]
            self._volts[twin] = None


class PeakCurrent:
    """A scoring harness's watch on a board: ``peak`` the most current, A, through any edge
    of either twin (the truth, `EmulatedBoard.edge_currents`) after every drive, release
    and clock edge the board takes (a pulse moves the codes under the drive), whoever
    makes them (a `Bench`, its DAQ, a copy of it under another channel map, the SCPI
    server); ``calls`` how many. Reading the truth changes nothing the DAQ reads."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board, self.peak, self.calls = board, 0.0, 0
        for name in ("drive", "release", "clock_edge"):
            setattr(board, name, self._watched(getattr(board, name)))

    def _watched(self, call: Callable) -> Callable:
        def watched(*args, **kwargs):
            try:
                return call(*args, **kwargs)
            finally:
                self.calls += 1
                for t in (FREE, CLAMPED):
                    self.peak = max(self.peak, float(np.abs(self.board.edge_currents(t)).max()))

        return watched


__all__ = ["CLAMPED", "FREE", "EmulatedBoard", "PeakCurrent"]
