"""Task generators: random allostery and random linear regression, drawn from a seed."""

from __future__ import annotations

import numpy as np

from lab.tasks.checks import _check_nodes, _check_range, _network_size
from lab.tasks.task import Task, TaskError


def random_allostery(
    network: str = "planar143",
    n_io: int = 2,
    *,
    seed: int,
    v_range: tuple[float, float] = (0.0, 5.0),
) -> Task:
    """Random allostery task (papers' Fig. 4D): n_io inputs, n_io outputs, max(1, n_io//2)
    ground nodes at 0 V, all distinct and drawn at random; input volts uniform on
    ``v_range`` (V). Each desired output is uniform on the range a resistor network can
    reach, [lowest, highest] applied voltage (inputs and the 0 V grounds; maximum
    principle): y = v_lo + u (v_hi - v_lo), u ~ U[0, 1) independently per output. One
    example; test = train.
    """
    where = "random_allostery"
    lo, hi = _check_range(where, "v_range", v_range)
    if n_io < 1:
        raise TaskError(f"{where}: field 'n_io': expected a positive integer, got {n_io}")
    n_ground = max(1, n_io // 2)
    n_nodes = _network_size(network, where)
    if 2 * n_io + n_ground > n_nodes:
        raise TaskError(
            f"{where}: field 'n_io': {n_io} inputs + {n_io} outputs + {n_ground} grounds "
            f"do not fit in network {network!r} ({n_nodes} nodes)"
        )
    rng = np.random.default_rng(seed)
    nodes = (rng.choice(n_nodes, size=2 * n_io + n_ground, replace=False) + 1).tolist()
    x = rng.uniform(lo, hi, size=(1, n_io))
    applied = np.append(x[0], 0.0)  # the inputs and the grounds
    v_lo, v_hi = applied.min(), applied.max()
    y = v_lo + rng.uniform(0.0, 1.0, size=(1, n_io)) * (v_hi - v_lo)
    return Task(
        name="random-allostery",
        kind="allostery",
        network=network,
        input_nodes=tuple(nodes[:n_io]),
        output_nodes=tuple(nodes[n_io : 2 * n_io]),
        fixed_nodes=tuple(nodes[2 * n_io :]),
        fixed_volts=np.zeros(n_ground),
        train_inputs=x,
        train_desired=y,
        test_inputs=x.copy(),
        test_desired=y.copy(),
        description=f"Random allostery, {n_io} in / {n_io} out on {network}",
        source=f"random_allostery(network={network!r}, n_io={n_io}, seed={seed}, "
        f"v_range=({lo}, {hi}))",
    )


def regression_task(
    network: str = "twin16",
    *,
    n_inputs: int = 2,
    n_outputs: int = 2,
    n_train: int = 16,
    n_test: int = 64,
    seed: int,
    v_range: tuple[float, float] = (0.0, 5.0),
    input_nodes: tuple[int, ...] | list[int] | None = None,
    output_nodes: tuple[int, ...] | list[int] | None = None,
    ground_nodes: tuple[int, ...] | list[int] | None = None,
) -> Task:
    """Random linear regression task: desired = A @ x with A (n_outputs, n_inputs).

    A is non-negative with each row summing to a value uniform on [0.3, 0.9], so every
    desired output is a convex combination of the inputs and ground (0 V), like a resistor
    divider's: always within the lowest and highest applied voltage (reachable in range).
    (Not guaranteed realisable by the given network.) Nodes not given are drawn at
    random (distinct); one ground node at 0 V unless ``ground_nodes`` is given. Train
    and test inputs uniform on ``v_range`` (V).
    """
    where = "regression_task"
    lo, hi = _check_range(where, "v_range", v_range)
    for fname, value in (("n_train", n_train), ("n_test", n_test)):
        if value < 1:
            raise TaskError(f"{where}: field {fname!r}: expected a positive integer, got {value}")
    given: dict[str, tuple[int, ...] | None] = {
        "input_nodes": None if input_nodes is None else tuple(int(n) for n in input_nodes),
        "output_nodes": None if output_nodes is None else tuple(int(n) for n in output_nodes),
        "ground_nodes": None if ground_nodes is None else tuple(int(n) for n in ground_nodes),
    }
    counts = {"input_nodes": n_inputs, "output_nodes": n_outputs, "ground_nodes": 1}
    for fname, nodes in given.items():
        if nodes is None and counts[fname] < 1:
            count_field = {"input_nodes": "n_inputs", "output_nodes": "n_outputs"}[fname]
            raise TaskError(f"{where}: field {count_field!r}: expected a positive integer")
    n_nodes = _network_size(network, where)
    rng = np.random.default_rng(seed)
    taken = {n for nodes in given.values() if nodes is not None for n in nodes}
    free = np.array([n for n in range(1, n_nodes + 1) if n not in taken])
    need = sum(counts[f] for f, nodes in given.items() if nodes is None)
    if need > len(free):
        raise TaskError(
            f"{where}: field 'network': {need} more nodes needed but network {network!r} "
            f"has only {len(free)} unused nodes"
        )
    drawn = rng.permutation(free)[:need].tolist()
    nodes_by_role: dict[str, tuple[int, ...]] = {}
    for fname, nodes in given.items():
        if nodes is None:
            nodes, drawn = tuple(drawn[: counts[fname]]), drawn[counts[fname] :]
        nodes_by_role[fname] = nodes
    required = ("input_nodes", "output_nodes")
    _check_nodes(where, network, n_nodes, nodes_by_role, required=required)
    n_in, n_out = len(nodes_by_role["input_nodes"]), len(nodes_by_role["output_nodes"])
    a = rng.dirichlet(np.ones(n_in), size=n_out) * rng.uniform(0.3, 0.9, size=(n_out, 1))
    x_train = rng.uniform(lo, hi, size=(n_train, n_in))
    x_test = rng.uniform(lo, hi, size=(n_test, n_in))
    return Task(
        name="regression",
        kind="regression",
        network=network,
        input_nodes=nodes_by_role["input_nodes"],
        output_nodes=nodes_by_role["output_nodes"],
        fixed_nodes=nodes_by_role["ground_nodes"],
        fixed_volts=np.zeros(len(nodes_by_role["ground_nodes"])),
        train_inputs=x_train,
        train_desired=x_train @ a.T,
        test_inputs=x_test,
        test_desired=x_test @ a.T,
        description=f"Random linear regression, {n_in} in / {n_out} out on {network}",
        source=f"regression_task(network={network!r}, seed={seed}, n_train={n_train}, "
        f"n_test={n_test}, v_range=({lo}, {hi}), input_nodes={nodes_by_role['input_nodes']}, "
        f"output_nodes={nodes_by_role['output_nodes']}, "
        f"ground_nodes={nodes_by_role['ground_nodes']})",
    )
