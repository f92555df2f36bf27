"""Checks shared by the generators and the task-file loaders: the network's size, node
roles, a voltage range, and how a path is named in an error message."""

from __future__ import annotations

import numpy as np

from lab.paths import display_path as _display  # noqa: F401 (the tasks' name for it)
from lab.tasks.task import TaskError


def _network_size(network: str, where: str) -> int:
    """Number of nodes of the named network; unknown name -> TaskError on 'network'."""
    from lab.core.network import Network  # imported late: network.py is heavier than tasks

    try:
        return int(Network.from_name(network).n_nodes)
    except (LookupError, ValueError) as e:
        raise TaskError(f"{where}: field 'network': {e}") from None


def _check_nodes(
    where: str,
    network: str,
    n_nodes: int,
    roles: dict[str, tuple[int, ...]],
    required: tuple[str, ...] = (),
) -> None:
    """Every node exists in the network and has one role; ``required`` roles are non-empty."""
    seen: dict[int, str] = {}
    for role, nodes in roles.items():
        for node in nodes:
            if not 1 <= node <= n_nodes:
                raise TaskError(
                    f"{where}: field {role!r}: node {node} does not exist "
                    f"(network {network!r} has nodes 1..{n_nodes})"
                )
            if node in seen:
                other = seen[node]
                also = "listed twice" if other == role else f"also in field {other!r}"
                raise TaskError(
                    f"{where}: field {role!r}: node {node} is {also} "
                    f"(each node can have only one role)"
                )
            seen[node] = role
    for role in required:
        if not roles.get(role):
            raise TaskError(f"{where}: field {role!r}: expected at least one node")


def _check_range(where: str, name: str, r: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(r[0]), float(r[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise TaskError(
            f"{where}: field {name!r}: expected [low, high] with low < high, got {list(r)}"
        )
    return lo, hi
