"""SPICE netlist export of a network state, and a reader for ngspice's node voltages.

A state is a network, one resistance per edge (Ohm) and the fixed nodes' voltages
(``{label: volts}``, 1-based labels). :func:`spice_deck` writes it as a SPICE deck that
any SPICE (ngspice, Xyce, LTspice) runs as an operating point:

- twinlab node ``k`` is SPICE node ``n<k>``; SPICE node ``0`` (the reference) is touched
  only by the sources, so it never collides with a network node;
- edge ``(a, b)`` is resistor ``R_<a>_<b>`` (``R_<a>_<b>_<i>`` for a parallel edge,
  ``i`` its 1-based edge index), in twinlab's edge order;
- fixed node ``k`` is DC source ``V_<k>`` from ``n<k>`` to ``0``.

:func:`read_ngspice` reads node voltages back from ngspice's batch output (the
operating-point table it prints, or an ASCII/binary raw file written with ``-r``);
:func:`run_ngspice` runs ngspice on a deck and returns them. :func:`run_state` and
:func:`task_state` build the states ``twinlab netlist`` exports.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lab import __version__, procs
from lab.core.learning import N_POSITIONS, clamped_outputs, code_resistance
from lab.core.network import Network
from lab.errors import ConfigError, one_line

__all__ = [
    "CircuitState",
    "NgspiceError",
    "node_name",
    "read_ngspice",
    "resistor_names",
    "run_ngspice",
    "run_state",
    "spice_deck",
    "task_state",
]

State = Literal["free", "clamped"]


class NgspiceError(RuntimeError):
    """ngspice failed on a deck or its output has no node voltages."""


def node_name(label: int) -> str:
    """SPICE name of twinlab node ``label`` (1-based): ``n<label>``."""
    return f"n{int(label)}"


def resistor_names(network: Network) -> list[str]:
    """SPICE names of the edges, in edge order: ``R_<a>_<b>`` (1-based labels);
    a repeated (parallel) edge gets its 1-based edge index appended."""
    pairs = [(a + 1, b + 1) for a, b in network.edges.tolist()]
    seen: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        key = (min(a, b), max(a, b))
        seen[key] = seen.get(key, 0) + 1
    return [
        f"R_{a}_{b}" if seen[(min(a, b), max(a, b))] == 1 else f"R_{a}_{b}_{i + 1}"
        for i, (a, b) in enumerate(pairs)
    ]


def _check_resistance(network: Network, resistance: np.ndarray | Sequence[float]) -> np.ndarray:
    """Resistances (E,) Ohm as floats; ValueError naming the first bad edge."""
    r = np.asarray(resistance, dtype=float)
    if r.shape != (network.n_edges,):
        raise ValueError(
            f"resistances must have shape ({network.n_edges},), one per edge of network "
            f"{network.name!r}, got shape {r.shape}"
        )
    bad = ~(np.isfinite(r) & (r > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        a, b = (network.edges[i] + 1).tolist()
        raise ValueError(
            f"edge {a}-{b} ({resistor_names(network)[i]}, index {i}) has resistance "
            f"{r[i]:g} Ohm; resistances must be finite and > 0 Ohm"
        )
    return r


def _check_fixed(network: Network, fixed: Mapping[int, float]) -> dict[int, float]:
    """``{label: volts}`` with int labels that exist and finite volts, in the given order."""
    out: dict[int, float] = {}
    for label, volts in fixed.items():
        if isinstance(label, bool) or not isinstance(label, int | np.integer):
            raise ValueError(f"node label {label!r} is not an integer (labels are 1-based)")
        network.index_of([int(label)])  # ValueError naming the node and the range
        v = float(volts)
        if not math.isfinite(v):
            raise ValueError(f"node {int(label)}: fixed voltage {v} V is not finite")
        out[int(label)] = v
    # no fixed node / a floating island: the same DisconnectedError the solver raises
    network.solver(list(out))
    return out


def _num(x: float) -> str:
    """A float as SPICE reads it back exactly (shortest round-trip repr, no unit suffix)."""
    return repr(float(x))


def spice_deck(
    network: Network,
    resistance: np.ndarray | Sequence[float],
    fixed: Mapping[int, float],
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    version: str = __version__,
) -> str:
    """The state as a SPICE deck (text ending in ``.end`` and a newline).

    ``resistance`` (E,) Ohm, finite and > 0, in edge order; ``fixed`` ``{label: volts}``
    (1-based labels, V). ``title`` is the deck's first line (SPICE's title line); ``notes``
    become further ``*`` comment lines of the header. Values are written with full double
    precision. Raises ValueError naming a bad edge or node, DisconnectedError if some
    floating node has no path to a fixed node (its voltage would be undefined).
    """
    r = _check_resistance(network, resistance)
    volts = _check_fixed(network, fixed)
    names = resistor_names(network)
    title = title or f"twinlab netlist: network {network.name}"
    lines = [
        f"* {one_line(title)}",
        f"* written by twinlab {version}; network {network.name} "
        f"({network.n_nodes} nodes, {network.n_edges} edges)",
        *(f"* {one_line(n)}" for n in notes),
        "* node n<k> is twinlab node k (1-based); SPICE node 0 is the reference, "
        "touched only by the sources",
        "* resistor R_<a>_<b> is the edge between nodes a and b (twinlab's edge order), Ohm",
        "* source V_<k> holds fixed node k at its voltage, V",
        "",
    ]
    for name, (a, b), rv in zip(names, network.edges.tolist(), r.tolist(), strict=True):
        lines.append(f"{name} {node_name(a + 1)} {node_name(b + 1)} {_num(rv)}")
    lines.append("")
    for label, v in volts.items():
        lines.append(f"V_{label} {node_name(label)} 0 DC {_num(v)}")
    lines += ["", ".op", ".end", ""]
    return "\n".join(lines)



# ------------------------------------------------------------------ reading ngspice output

_ALARM = re.compile(r"\b(warning|error)\b", re.IGNORECASE)
_NODE = re.compile(r"^(?:v\()?n(\d+)\)?$", re.IGNORECASE)


def _label(name: str) -> int | None:
    m = _NODE.match(name.strip())
    return int(m.group(1)) if m else None


def read_ngspice(output: str | bytes) -> dict[int, float]:
    """Node voltages ``{label: volts}`` from ngspice batch output.

    Accepts what ``ngspice -b deck.cir`` prints (the operating point's ``Node Voltage``
    table, 7 significant digits) or a raw file from ``ngspice -b -r out.raw deck.cir``
    (ASCII, e.g. with ``SPICE_ASCIIRAWFILE=1``, or binary; full double precision). Only
    nodes named ``n<label>`` are returned; the first point of a raw file is read.
    Raises NgspiceError if the text holds no node voltage.
    """
    data = output.encode("latin-1") if isinstance(output, str) else bytes(output)
    if data.lstrip().startswith(b"Title:") and b"\nVariables:" in data:
        volts = _read_raw(data)
    else:
        volts = _read_table(data.decode("latin-1"))
    if not volts:
        raise NgspiceError("no node voltages (nodes n<label>) in the ngspice output")
    return volts


def _read_table(text: str) -> dict[int, float]:
    """The ``Node  Voltage`` table ngspice prints for ``.op`` in batch mode."""
    volts: dict[int, float] = {}
    inside = False
    for line in text.splitlines():
        words = line.split()
        if not inside:
            inside = words[:2] == ["Node", "Voltage"]
            continue
        if not words:
            if volts:
                break
            continue
        if words[0].startswith("--"):
            continue
        if len(words) != 2:
            break
        label = _label(words[0])
        if label is not None:
            volts[label] = float(words[1])
    return volts


def _read_raw(data: bytes) -> dict[int, float]:
    """A SPICE3 raw file (ASCII or binary, real), first point."""
    head_end = data.find(b"\nBinary:\n")
    binary = head_end >= 0
    if not binary:
        head_end = data.find(b"\nValues:\n")
        if head_end < 0:
            raise NgspiceError("raw file has neither 'Values:' nor 'Binary:'")
    header = data[:head_end].decode("latin-1")
    if re.search(r"^Flags:.*complex", header, re.MULTILINE | re.IGNORECASE):
        raise NgspiceError("raw file holds complex data; expected an operating point")
    m = re.search(r"^No\. Variables:\s*(\d+)", header, re.MULTILINE)
    if not m:
        raise NgspiceError("raw file has no 'No. Variables:' line")
    n_vars = int(m.group(1))
    names = header.split("Variables:\n", 1)[1].splitlines()[:n_vars]
    names = [line.split()[1] for line in names]
    body = data[head_end + len(b"\nValues:\n") :]
    if binary:
        values = np.frombuffer(body[: 8 * n_vars], dtype="<f8").tolist()
    else:
        tokens = body.decode("latin-1").split()
        values = [float(t) for t in tokens[1 : 1 + n_vars]]  # tokens[0]: point index
    if len(values) != n_vars:
        raise NgspiceError(f"raw file has {len(values)} values for {n_vars} variables")
    volts: dict[int, float] = {}
    for name, value in zip(names, values, strict=True):
        label = _label(name)
        if label is not None:
            volts[label] = float(value)
    return volts


def run_ngspice(
    deck: str, *, executable: str = "ngspice", timeout: float = 60.0
) -> dict[int, float]:
    """Run ``ngspice -b -r`` on ``deck`` and return its node voltages ``{label: V}``
    (full precision, from an ASCII raw file).

    Strict: ngspice answers even a singular circuit (exit status 0, after gmin and source
    stepping and a "transient op", with perturbed voltages), so any line of its output
    with "warning" or "error" raises NgspiceError quoting it, as does a failed run.
    FileNotFoundError if ``executable`` is missing.
    """
    with tempfile.TemporaryDirectory(prefix="twinlab-spice-") as tmp:
        cir, raw = Path(tmp) / "deck.cir", Path(tmp) / "out.raw"
        cir.write_text(deck)
        env = dict(os.environ, SPICE_ASCIIRAWFILE="1")
        proc = procs.run(  # SIGKILL to ngspice if we die (lab.procs)
            [executable, "-b", "-r", str(raw), str(cir)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        said = (proc.stdout + "\n" + proc.stderr).strip().splitlines()
        tail = " | ".join(said[-5:])
        if proc.returncode != 0 or not raw.exists():
            raise NgspiceError(f"ngspice exited with status {proc.returncode}: {tail}")
        alarms = [one_line(ln) for ln in said if _ALARM.search(ln)]
        if alarms:
            more = f" (and {len(alarms) - 1} more)" if len(alarms) > 1 else ""
            raise NgspiceError(f"ngspice: {alarms[0]}{more}")
        try:
            return read_ngspice(raw.read_bytes())
        except NgspiceError as exc:
            raise NgspiceError(f"{exc}; ngspice said: {tail}") from None


# ------------------------------------------------------------------ states to export


@dataclass(frozen=True)
class CircuitState:
    """A network state to export: ``resistance`` (E,) Ohm, ``fixed`` ``{label: V}``,
    a deck title and header notes (provenance)."""

    network: Network
    resistance: np.ndarray
    fixed: dict[int, float]
    title: str
    notes: tuple[str, ...] = field(default=())

    def deck(self) -> str:
        """The SPICE deck (see :func:`spice_deck`)."""
        return spice_deck(
            self.network, self.resistance, self.fixed, title=self.title, notes=self.notes
        )

    def solve(self) -> np.ndarray:
        """Node voltages (N,) V from twinlab's solver, for comparison."""
        return self.network.solve(1.0 / self.resistance, self.fixed)


def _nominal_pots(bench: Mapping[str, Any] | None) -> tuple[float, float, int, str]:
    """(R_AB Ohm, R_W Ohm, power-on code, where from) of a run's bench description."""
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
            "AD5220-100 nominal values",
        )
    try:
        r_ab = float(emu.get("r_end_to_end", default.r_end_to_end))
        r_w = float(emu.get("r_wiper", default.r_wiper))
        code = int(emu.get("initial_code", default.initial_code))
    except (TypeError, ValueError):
        from lab.runs import RunFileError

        raise RunFileError("the run's emulator config has non-numeric digipot values") from None
    return r_ab, r_w, code, "nominal values of the run's emulator config"


def _roles(nodes: Sequence[int]) -> str:
    return " ".join(str(n) for n in nodes) or "none"


def run_state(path: str | Path, step: int | None = None, state: State = "free") -> CircuitState:
    """The free or clamped state of step ``step`` of a recorded run (default: the last
    step; negative counts from the end).

    Resistances are the digipot codes in effect while that step was measured (those
    recorded after step ``step - 1``; the power-on code for step 0) through
    R = R_W + code / 128 R_AB with the run's nominal R_AB and R_W (the emulator's part
    spread is not recorded). Fixed nodes: the step's recorded inputs, the task's held
    nodes and, for the clamped state, the step's recorded clamped outputs.
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
        r_ab, r_w, power_on, pots_from = _nominal_pots(info.get("bench_json"))
        if row == 0:
            codes = np.full(network.n_edges, power_on, dtype=np.int64)
            codes_from = f"power-on code {power_on} (step 0 is measured before any pulse)"
        else:
            codes = reader.array("positions", row - 1, row)[0].astype(np.int64)
            codes_from = (
                f"codes recorded after step {row - 1}, in effect while step {row} was measured"
            )
        estimated = bool(info.get("positions_estimated", False))
    if (codes < 0).any() or (codes >= N_POSITIONS).any():
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
        f"resistances: R = R_W + code/{N_POSITIONS} R_AB, R_AB = {r_ab:g} Ohm, "
        f"R_W = {r_w:g} Ohm ({pots_from}); {codes_from}"
        + ("; codes estimated by the bench, not read back" if estimated else ""),
        f"inputs: {_roles(inputs_nodes)}; held: {_roles(list(held))}; outputs: "
        f"{_roles(output_nodes)} ({outputs_are})",
    )
    return CircuitState(
        network,
        code_resistance(codes, r_ab, r_w).astype(float),
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
    resistance = code_resistance(codes, cfg.r_end_to_end, cfg.r_wiper).astype(float)
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
        f"resistances: R = R_W + code/{N_POSITIONS} R_AB, code {cfg.initial_code} on every "
        f"edge, R_AB = {cfg.r_end_to_end:g} Ohm, R_W = {cfg.r_wiper:g} Ohm "
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
