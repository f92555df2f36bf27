"""Node voltages of a step's free state, solved from digipot positions (Qt-free).

A run file records only the output voltages. The free twin's other node voltages at step
k are solved here with lab's Kirchhoff solve: each edge's resistance from its digipot
code with *nominal* parts (`FreeSetup.resistance`: the run's digipot, the bench's nominal R_AB
and wiper resistance, not the board's individual parts), inputs held at the step's
applied input voltages, fixed nodes at the task's fixed voltages, outputs floating (the
free twin's outputs are only sensed). The free state of step k was measured *before* the
step's clock pulse, i.e. with the codes recorded for step k - 1; where those are not
stored, the codes after the pulse stand in and the text says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.core.digipot import AD5220, Digipot
from lab.core.network import Network
from lab.emulator.config import EmulatorConfig

__all__ = ["FreeSetup", "StepState", "codes_before", "hover_text", "solve_free_state"]



@dataclass(frozen=True)
class FreeSetup:
    """What stays fixed during a run: the network, the task's node roles and fixed volts
    (1-based labels, V), the nominal digipot parts (Ohm) and the run's ``digipot``
    (positions, spacing)."""

    network: Network
    input_nodes: tuple[int, ...]
    output_nodes: tuple[int, ...]
    fixed_nodes: tuple[int, ...]
    fixed_volts: np.ndarray
    r_end_to_end: float
    r_wiper: float
    digipot: Digipot = AD5220

    @classmethod
    def from_run(cls, network: Network, task: dict[str, Any],
                 bench: dict[str, Any]) -> FreeSetup:
        """From a run's task and bench descriptions (`RunInfo.task`/``.bench`` or the run
        file's ``task_json``/``bench_json``); nominal parts from the bench's emulator
        config when it has one, else the AD5220-100 defaults of `EmulatorConfig`."""
        emu = bench.get("emulator") if isinstance(bench, dict) else None
        try:
            config = EmulatorConfig(**emu) if isinstance(emu, dict) else EmulatorConfig()
        except ValueError:
            config = EmulatorConfig()
        return cls(network,
                   tuple(int(n) for n in task.get("input_nodes", ())),
                   tuple(int(n) for n in task.get("output_nodes", ())),
                   tuple(int(n) for n in task.get("fixed_nodes", ())),
                   np.asarray(task.get("fixed_volts", ()), dtype=float).reshape(-1),
                   float(config.r_end_to_end), float(config.r_wiper), config.digipot)

    def resistance(self, codes: np.ndarray) -> np.ndarray:
        """Nominal resistances (E,) Ohm of digipot ``codes`` (E,) on this run's digipot."""
        return self.digipot.resistance(np.asarray(codes, dtype=float), self.r_end_to_end,
                                       self.r_wiper)

    def role(self, node: int) -> str:
        """``input``, ``output``, ``fixed`` or ``free`` for a 1-based node label."""
        for role, nodes in (("input", self.input_nodes), ("output", self.output_nodes),
                            ("fixed", self.fixed_nodes)):
            if node in nodes:
                return role
        return "free"


@dataclass(frozen=True)
class StepState:
    """One step as recorded: ``codes`` (E,) the free state was measured with,
    ``before`` True if those are the codes before the step's pulse (exact) and False if
    they are the codes after it (stand-in), ``inputs`` (n_in,) V applied, ``v_free``
    (n_out,) V measured at the output nodes, ``v_clamped`` (n_out,) V the clamped twin's
    outputs were held at (None: not at hand)."""

    step: int
    codes: np.ndarray
    before: bool
    inputs: np.ndarray
    v_free: np.ndarray
    v_clamped: np.ndarray | None = None


def codes_before(after: np.ndarray, mask: np.ndarray | None, direction: np.ndarray | None,
                 digipot: Digipot = AD5220) -> np.ndarray | None:
    """Codes (E,) before a pulse from the codes after it and the pulse's ``mask`` (E,) bool
    and ``direction`` (E,) in {-1, 0, +1}; None when unknown or ambiguous (an edge pushed
    against its end stop, 0 or ``digipot.top``, may or may not have moved)."""
    if mask is None or direction is None:
        return None
    after = np.asarray(after, dtype=np.int64)
    step = np.where(np.asarray(mask, bool), np.asarray(direction, np.int64), 0)
    if np.any(((after == digipot.top) & (step > 0)) | ((after == 0) & (step < 0))):
        return None
    return after - step


def solve_free_state(setup: FreeSetup, codes: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Node voltages (N,) V of the free twin for digipot ``codes`` (E,) and applied
    ``inputs`` (n_in,) V, nominal parts (see module doc)."""
    resistance = setup.resistance(codes)
    fixed = dict(zip(setup.input_nodes, np.asarray(inputs, float).tolist(), strict=True))
    fixed.update(zip(setup.fixed_nodes, setup.fixed_volts.tolist(), strict=True))
    return setup.network.solve(1.0 / resistance, fixed)


def hover_text(setup: FreeSetup, state: StepState | None, node: int,
               volts: np.ndarray | None = None) -> str:
    """The hover text of 1-based ``node`` for ``state`` (``volts``: its solved node
    voltages, solved here if None)."""
    role = setup.role(node)
    head = f"node {node} ({role})"
    if state is None:
        return f"{head}\nno step shown yet"
    if np.any(np.asarray(state.codes) < 0):
        return f"{head}, step {state.step}\nnode voltages unknown: this bench does not " \
               "report digipot positions"
    if volts is None:
        volts = solve_free_state(setup, state.codes, state.inputs)
    lines = [f"{head}, step {state.step}", f"V = {volts[node - 1]:.4f} V  (free state, solved)"]
    if node in setup.output_nodes:
        j = setup.output_nodes.index(node)
        lines.append(f"V_F = {float(state.v_free[j]):.4f} V  (measured)")
    elif node in setup.input_nodes or node in setup.fixed_nodes:
        lines.append("(held by the DAQ)")
    which = ("codes before the step's pulse" if state.before
             else "codes after the step's pulse: those before it are not stored")
    lines.append(f"solved from digipot positions, nominal parts "
                 f"(R_AB {setup.r_end_to_end / 1e3:g} kOhm, R_W {setup.r_wiper:g} Ohm); "
                 f"{which}")
    return "\n".join(lines)
