"""What a netlist is made from: a recorded run at a step (:func:`run_state`) or a task at
the default emulator's power-on resistances (:func:`task_state`), each as a
`lab.export.deck.CircuitState` in its free or clamped state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lab.core.digipot import AD5220, Digipot
from lab.core.learning import clamped_outputs
from lab.core.network import Network
from lab.errors import ConfigError
from lab.export.deck import CircuitState

State = Literal["free", "clamped"]


def _nominal_pots(
    bench: Mapping[str, Any] | None,
) -> tuple[float, float, int, Digipot, str]:
    """(R_AB Ohm, R_W Ohm, power-on code, digipot, where from) of a run's bench
    description."""
    from lab.emulator.config import EmulatorConfig

    default = EmulatorConfig()
    emu = bench.get("emulator") if isinstance(bench, Mapping) else None
    if not (
        isinstance(bench, Mapping) and bench.get("kind") == "emulator" and isinstance(emu, Mapping)
    ):
        return (
            default.r_end_to_end,
            default.r_wiper,
            default.initial_code,
            AD5220,
            "AD5220-100 nominal values",
        )
    try:
        r_ab = float(emu.get("r_end_to_end", default.r_end_to_end))
        r_w = float(emu.get("r_wiper", default.r_wiper))
        code = int(emu.get("initial_code", default.initial_code))
        digipot = Digipot(int(emu.get("positions", AD5220.positions)),
                          emu.get("spacing", AD5220.spacing))  # fmt: skip
    except (TypeError, ValueError):
        from lab.runs import RunFileError

        raise RunFileError("the run's emulator config has non-numeric digipot values") from None
    return r_ab, r_w, code, digipot, "nominal values of the run's emulator config"


def _ohms(r_ab: np.ndarray | float) -> str:
    """R_AB for a deck note: one value, or 'per edge' with the range."""
    r = np.asarray(r_ab, dtype=float)
    if r.ndim == 0 or np.all(r == r.flat[0]):
        return f"{float(r.flat[0]):g} Ohm"
    return f"{r.min():g}..{r.max():g} Ohm per edge (network file)"


def _uncertainty_note(network: Network, sd: np.ndarray, codes: np.ndarray, digipot: Digipot,
                      r_ab: np.ndarray | float) -> str:
    """One line: the estimated codes' standard deviations ``sd`` (E,) in code steps, what
    one step is in Ohm at each edge's code ``codes`` (E,) (`Digipot.resistance`: one value
    on a linear part, a range on a log one or with per-edge R_AB), and each edge's sd."""
    per_edge = ", ".join(f"{e} {v:.2f}" for e, v in zip(network.edge_labels(), sd.tolist(),
                                                          strict=True))
    step = digipot.resistance(codes + 1, r_ab, 0.0) - digipot.resistance(codes, r_ab, 0.0)
    ohm = (f"{step[0]:g} Ohm" if np.allclose(step, step[0])
           else f"{step.min():g}..{step.max():g} Ohm")  # fmt: skip
    return (f"estimated code uncertainty (1 sd, code steps; 1 step = {ohm}): "
            f"{sd.min():.2f}..{sd.max():.2f}, mean {sd.mean():.2f}; per edge: {per_edge}")


def _roles(nodes: Sequence[int]) -> str:
    return " ".join(str(n) for n in nodes) or "none"


def run_state(path: str | Path, step: int | None = None, state: State = "free") -> CircuitState:
    """The free or clamped state of step ``step`` of a recorded run (default: the last
    step; negative counts from the end).

    Resistances are the digipot codes in effect while that step was measured (those
    recorded after step ``step - 1``; the power-on code for step 0) through
    R = R_W + f(code) R_AB (`lab.core.digipot.Digipot`, the run's positions and spacing)
    with the run's nominal R_AB (per edge when the network file gives it) and R_W (the
    emulator's part spread is not recorded). Fixed nodes: the step's recorded inputs, the
    task's held nodes and, for the clamped state, the step's recorded clamped outputs.
    Raises RunFileError (the file) or ConfigError (the step or state asked) with one-line
    messages.
    """
    from lab.runs import RunFileError, RunReader

    path = Path(path)
    with RunReader(path) as reader:
        info = reader.info
        n = reader.n_steps
        if n == 0:
            raise RunFileError(f"{path}: the run has no recorded steps")
        asked = n - 1 if step is None else int(step)
        row = asked + n if asked < 0 else asked
        if not 0 <= row < n:
            raise ConfigError(f"{path}: step {asked} does not exist (the run has steps 0..{n - 1})")
        try:
            task = info["task_json"]
            net = info["network_json"]
            network = Network(
                str(net["name"]),
                int(net["n_nodes"]),
                np.asarray(net["edges"], dtype=np.intp).reshape(-1, 2) - 1,
                np.zeros((int(net["n_nodes"]), 2)),
            )
            inputs_nodes = [int(k) for k in task["input_nodes"]]
            output_nodes = [int(k) for k in task["output_nodes"]]
            held = dict(
                zip(map(int, task["fixed_nodes"]), map(float, task["fixed_volts"]), strict=True)
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RunFileError(
                f"{path}: run file lacks the task or network description "
                f"({type(exc).__name__}: {exc})"
            ) from None
        inputs = reader.array("inputs", row, row + 1)[0]
        v_clamped = reader.array("v_clamped", row, row + 1)[0]
        r_ab, r_w, power_on, digipot, pots_from = _nominal_pots(info.get("bench_json"))
        parts = net.get("parts") or {}
        if "r_end_to_end" in parts:
            r_ab = np.asarray(parts["r_end_to_end"], dtype=float)
            pots_from += "; R_AB per edge from the network file"
        if row == 0:
            codes = np.full(network.n_edges, power_on, dtype=np.int64)
            codes_from = f"power-on code {power_on} (step 0 is measured before any pulse)"
        else:
            codes = reader.array("positions", row - 1, row)[0].astype(np.int64)
            codes_from = (
                f"codes recorded after step {row - 1}, in effect while step {row} was measured"
            )
        estimated = reader.codes == "estimated"
        sd = None
        if estimated and row > 0 and "positions_sd" in reader.steps:
            sd = reader.array("positions_sd", row - 1, row)[0].astype(float)
    if (codes < 0).any() or (codes >= digipot.positions).any():
        raise RunFileError(
            f"{path}: no digipot codes recorded at step {row - 1} "
            "(a bench without a resistance probe)"
        )
    fixed = dict(zip(inputs_nodes, inputs.tolist(), strict=True)) | held
    if state == "clamped":
        fixed |= dict(zip(output_nodes, v_clamped.tolist(), strict=True))
    elif state != "free":
        raise ConfigError(f"state must be 'free' or 'clamped', got {state!r}")
    outputs_are = "clamped at the recorded V_C" if state == "clamped" else "floating"
    notes = (
        f"run file {path.name}, task {task.get('name', '?')}, step {row}, {state} state",
        f"resistances: {digipot.describe()}, R_AB = {_ohms(r_ab)}, "
        f"R_W = {r_w:g} Ohm ({pots_from}); {codes_from}"
        + ("; codes estimated from node voltages (lab.observe), not read back"
           if estimated else ""),
        *([] if sd is None else [_uncertainty_note(network, sd, codes, digipot, r_ab)]),
        f"inputs: {_roles(inputs_nodes)}; held: {_roles(list(held))}; outputs: "
        f"{_roles(output_nodes)} ({outputs_are})",
    )
    return CircuitState(
        network,
        digipot.resistance(codes, r_ab, r_w).astype(float),
        fixed,
        f"twinlab netlist: {network.name}, task {task.get('name', '?')}, step {row}, {state} state",
        notes,
    )


def task_state(
    name: str,
    example: int = 0,
    state: State = "free",
    *,
    seed: int = 0,
    eta: float = 0.5,
) -> CircuitState:
    """Training example ``example`` of task ``name`` on the default emulator's network at
    its power-on resistances (every digipot at mid-scale code 64 with nominal R_AB, R_W).

    The clamped state holds the outputs at V_C = eta V_D + (1 - eta) V_F, V_F from the
    free state's solve. ``seed`` draws generated tasks (as ``twinlab train --seed``).
    """
    from lab.hal.benchfile import emulator_config
    from lab.tasks import load_task

    task = load_task(name, seed=seed)
    cfg = emulator_config(None)
    network = Network.from_name(task.network, seed=cfg.seed)
    if not 0 <= example < task.n_train:
        raise ConfigError(
            f"task {task.name!r}: example {example} does not exist "
            f"(training examples 0..{task.n_train - 1})"
        )
    codes = np.full(network.n_edges, cfg.initial_code, dtype=np.int64)
    r_ab = network.parts.get("r_end_to_end", cfg.r_end_to_end)
    resistance = cfg.digipot.resistance(codes, r_ab, cfg.r_wiper).astype(float)
    fixed = dict(zip(task.input_nodes, task.train_inputs[example].tolist(), strict=True))
    fixed |= dict(zip(task.fixed_nodes, task.fixed_volts.tolist(), strict=True))
    note = "floating"
    if state == "clamped":
        v = network.solve(1.0 / resistance, fixed)
        v_free = v[network.index_of(task.output_nodes)]
        v_c = clamped_outputs(v_free, task.train_desired[example], eta)
        fixed |= dict(zip(task.output_nodes, v_c.tolist(), strict=True))
        note = f"clamped at V_C = eta V_D + (1 - eta) V_F, eta = {eta:g}"
    elif state != "free":
        raise ConfigError(f"state must be 'free' or 'clamped', got {state!r}")
    notes = (
        f"task {task.name} (seed {seed}), training example {example}, {state} state, "
        "initial resistances",
        f"resistances: {cfg.digipot.describe()}, code {cfg.initial_code} on every "
        f"edge, R_AB = {_ohms(r_ab)}, R_W = {cfg.r_wiper:g} Ohm "
        "(default emulator bench, nominal)",
        f"inputs: {_roles(task.input_nodes)}; held: {_roles(task.fixed_nodes)}; outputs: "
        f"{_roles(task.output_nodes)} ({note})",
    )
    return CircuitState(
        network,
        resistance,
        fixed,
        f"twinlab netlist: {network.name}, task {task.name}, example {example}, {state} state",
        notes,
    )
