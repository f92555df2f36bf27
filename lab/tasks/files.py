"""Task files: the shipped ones (``lab.paths.data_dir()/tasks``, the repository's
``data/tasks``) or any path, read into a :class:`Task` by :func:`load_task` (the format:
`lab.tasks.schema`)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lab.errors import short_repr
from lab.paths import data_dir
from lab.tasks.checks import _check_nodes, _display, _network_size
from lab.tasks.dataset import _classification, classification_task
from lab.tasks.generators import random_allostery, regression_task
from lab.tasks.schema import (
    _check_node_spellings,
    _Classification,
    _FixedAllostery,
    _Lines,
    _parse,
    _RandomAllostery,
    _Regression,
)
from lab.tasks.task import KINDS, Task, TaskError


def list_tasks() -> list[str]:
    """Names of the shipped task files, ``data_dir()/tasks/*.toml`` (sorted)."""
    return sorted(p.stem for p in (data_dir() / "tasks").glob("*.toml"))


def _resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file() or len(p.parts) > 1:
        if not p.is_file():
            raise TaskError(f"{name_or_path}: task file not found")
        return p
    candidate = data_dir() / "tasks" / f"{name_or_path}.toml"
    if candidate.is_file():
        return candidate
    known = ", ".join(list_tasks()) or "(none)"
    raise TaskError(
        f"unknown task {name_or_path!r}; known tasks: {known} (or a path to a .toml file)"
    )


def load_task(name_or_path: str, *, seed: int = 0) -> Task:
    """Load a task by name (a file in ``data_dir()/tasks``) or from a path to a .toml file.

    Generated tasks (random allostery, regression, the classification split) use ``seed``.
    """
    path = _resolve(name_or_path)
    where = _display(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise TaskError(f"{where}: invalid TOML syntax: {e}") from None
    except OSError as e:
        raise TaskError(f"{where}: cannot read task file: {e.strerror}") from None

    _check_node_spellings(where, raw)
    if isinstance(raw.get("network"), str):  # a network file: relative to this task file
        from lab.core.netfile import network_ref

        raw["network"] = network_ref(raw["network"], base=path.parent)
    kind = raw.get("kind")
    if kind is None:
        raise TaskError(
            f"{where}: field 'kind': required field is missing (one of {', '.join(KINDS)})"
        )
    if kind not in KINDS:
        raise TaskError(
            f"{where}: field 'kind': expected one of {', '.join(map(repr, KINDS))}, "
            f"got {short_repr(kind)}"
        )
    if kind == "allostery" and "generator" not in raw:
        task = _fixed_allostery(where, _parse(where, _FixedAllostery, raw))
    elif kind == "allostery":
        spec = _parse(where, _RandomAllostery, raw)
        task = _with_where(
            where,
            lambda: random_allostery(spec.network, spec.n_io, seed=seed, v_range=spec.v_range),
        )
        task = replace(task, source=f"{where} (seed={seed}): {task.source}")
    elif kind == "regression":
        task = _regression(where, _parse(where, _Regression, raw), seed)
    elif raw.get("generator") == "lines":
        task = _lines(where, _parse(where, _Lines, raw), seed)
    else:
        task = _classification(where, path, _parse(where, _Classification, raw), seed)

    spec_name = raw.get("name") or path.stem
    updates: dict[str, Any] = {"name": spec_name, "file": where}
    if raw.get("description"):
        updates["description"] = raw["description"]
    return replace(task, **updates)


def _with_where(where: str, make: Any) -> Task:
    """Run a generator, re-labelling its TaskErrors with the task file."""
    try:
        return make()
    except TaskError as e:
        msg = str(e)
        for prefix in ("random_allostery: ", "regression_task: ", "lines: "):
            if msg.startswith(prefix):
                msg = f"{where}: " + msg[len(prefix) :]
        raise TaskError(msg) from None


def _fixed_allostery(where: str, spec: _FixedAllostery) -> Task:
    inputs, outputs, fixed = spec.inputs, spec.outputs, spec.fixed
    roles = {"inputs": tuple(inputs), "outputs": tuple(outputs), "fixed": tuple(fixed)}
    n_nodes = _network_size(spec.network, where)
    _check_nodes(where, spec.network, n_nodes, roles, required=("inputs", "outputs"))
    x = np.array([list(inputs.values())], dtype=float)
    y = np.array([list(outputs.values())], dtype=float)
    return Task(
        name=spec.name or "",
        kind="allostery",
        network=spec.network,
        input_nodes=tuple(inputs),
        output_nodes=tuple(outputs),
        fixed_nodes=tuple(fixed),
        fixed_volts=np.array(list(fixed.values()), dtype=float),
        train_inputs=x,
        train_desired=y,
        test_inputs=x.copy(),
        test_desired=y.copy(),
        metric=spec.metric,
        description=spec.description,
        source=where,
    )


def _regression(where: str, spec: _Regression, seed: int) -> Task:
    for nodes_field, count_field in (("inputs", "n_inputs"), ("outputs", "n_outputs")):
        nodes, count = getattr(spec, nodes_field), getattr(spec, count_field)
        if nodes is None and count is None:
            raise TaskError(
                f"{where}: field {nodes_field!r}: required field is missing "
                f"(give a list of nodes, or {count_field!r} to draw them at random)"
            )
        if nodes is not None and count is not None and count != len(nodes):
            raise TaskError(
                f"{where}: field {count_field!r}: is {count} but field {nodes_field!r} "
                f"lists {len(nodes)} nodes"
            )
    roles = {"inputs": spec.inputs, "outputs": spec.outputs, "ground": spec.ground}
    given = {k: tuple(v) for k, v in roles.items() if v is not None}
    _check_nodes(where, spec.network, _network_size(spec.network, where), given)
    task = _with_where(
        where,
        lambda: regression_task(
            spec.network,
            n_inputs=spec.n_inputs or len(spec.inputs or ()),
            n_outputs=spec.n_outputs or len(spec.outputs or ()),
            n_train=spec.n_train,
            n_test=spec.n_test,
            seed=seed,
            v_range=spec.v_range,
            input_nodes=spec.inputs,
            output_nodes=spec.outputs,
            ground_nodes=spec.ground,
        ),
    )
    return replace(task, metric=spec.metric, source=f"{where} (seed={seed}): {task.source}")


def _lines(where: str, spec: _Lines, seed: int) -> Task:
    """The line-classification task (`lab.tasks.lines`): the data set from the file's
    ``data_seed`` (the same for every run), the training split from ``seed``."""
    from lab.tasks.lines import balanced_split, pattern_groups

    roles = {"inputs": tuple(spec.inputs), "outputs": tuple(spec.outputs),
             "fixed": tuple(spec.fixed)}  # fmt: skip
    _check_nodes(where, spec.network, _network_size(spec.network, where), roles,
                 required=("inputs", "outputs"))  # fmt: skip
    patterns = {c: tuple(tuple(p) for p in pats) for c, pats in spec.patterns.items()}
    x, labels, pattern = _with_where(where, lambda: _lines_data(spec, patterns))
    train, test = balanced_split(labels, spec.n_train_per_class, seed, where)
    return classification_task(
        spec, tuple(spec.inputs), x, labels, train, test, tuple(spec.patterns),
        f"{where} (seed={seed}; lines_dataset(seed={spec.data_seed}, "
        f"patterns={ {c: [list(p) for p in ps] for c, ps in patterns.items()} }, "
        f"n_per_pattern={spec.n_per_pattern}, levels={tuple(spec.levels)}))",
        groups=pattern_groups(patterns, labels, pattern),
    )


def _lines_data(spec: _Lines, patterns: dict[str, tuple[tuple[int, ...], ...]]) -> Any:
    from lab.tasks.lines import lines_dataset

    return lines_dataset(seed=spec.data_seed, patterns=patterns,
                         n_per_pattern=spec.n_per_pattern, levels=spec.levels)  # fmt: skip
