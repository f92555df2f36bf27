"""A classification task from a CSV data set (min-max scaled features, a class-balanced
training split drawn from a seed)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from lab.tasks.checks import _check_nodes, _check_range, _display, _network_size
from lab.tasks.schema import _Classification
from lab.tasks.task import Task, TaskError


def _read_csv(where: str, csv_path: Path) -> tuple[list[str], list[list[str]]]:
    if not csv_path.is_file():
        raise TaskError(f"{where}: field 'dataset': file {_display(csv_path)} not found")
    with csv_path.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if not rows:
        raise TaskError(f"{_display(csv_path)}: empty CSV file")
    return [h.strip() for h in rows[0]], rows[1:]


def _classification(where: str, path: Path, spec: _Classification, seed: int) -> Task:
    roles = {
        "inputs": tuple(spec.inputs.values()),
        "outputs": tuple(spec.outputs),
        "fixed": tuple(spec.fixed),
    }
    n_nodes = _network_size(spec.network, where)
    _check_nodes(where, spec.network, n_nodes, roles, required=("inputs", "outputs"))
    lo, hi = _check_range(where, "input_range", spec.input_range)
    csv_path = (path.parent / spec.dataset).resolve()
    csv_name = _display(csv_path)
    header, rows = _read_csv(where, csv_path)
    for col in [*spec.inputs, spec.label_column]:
        if col not in header:
            fname = "label_column" if col == spec.label_column else "inputs"
            raise TaskError(
                f"{where}: field {fname!r}: column {col!r} is not in {csv_name} "
                f"(columns: {', '.join(header)})"
            )
    cols = [header.index(c) for c in spec.inputs]
    label_col = header.index(spec.label_column)
    features = np.empty((len(rows), len(cols)))
    labels = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        line = i + 2
        try:
            features[i] = [float(row[c]) for c in cols]
        except (ValueError, IndexError):
            raise TaskError(
                f"{csv_name}: line {line}: expected numbers in columns {', '.join(spec.inputs)}"
            ) from None
        name = row[label_col].strip() if label_col < len(row) else ""
        if name not in spec.classes:
            raise TaskError(
                f"{csv_name}: line {line}: class {name!r} is not in field "
                f"'classes' of {where} ({', '.join(spec.classes)})"
            )
        labels[i] = spec.classes.index(name)
    if not np.all(np.isfinite(features)):
        raise TaskError(f"{csv_name}: non-finite feature values")
    fmin, fmax = features.min(axis=0), features.max(axis=0)
    span = np.where(fmax > fmin, fmax - fmin, 1.0)
    volts = lo + (features - fmin) / span * (hi - lo)

    rng = np.random.default_rng(seed)
    train_idx = []
    for c, cname in enumerate(spec.classes):
        members = np.flatnonzero(labels == c)
        if len(members) <= spec.n_train_per_class:
            raise TaskError(
                f"{where}: field 'n_train_per_class': class {cname!r} has only "
                f"{len(members)} rows in {csv_name}; need more than {spec.n_train_per_class}"
            )
        train_idx.append(rng.choice(members, size=spec.n_train_per_class, replace=False))
    train = np.sort(np.concatenate(train_idx))
    test = np.setdiff1d(np.arange(len(rows)), train)
    return classification_task(
        spec, tuple(spec.inputs.values()), volts, labels, train, test, tuple(spec.classes),
        f"{where} (seed={seed}; data {csv_name}; columns {', '.join(spec.inputs)} "
        f"min-max scaled to [{lo}, {hi}] V)",
    )


def classification_task(spec: Any, input_nodes: tuple[int, ...], volts: np.ndarray,
                        labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                        class_names: tuple[str, ...], source: str,
                        groups: np.ndarray | None = None) -> Task:  # fmt: skip
    """The classification `Task` of a task file's ``spec`` (roles, metric, targets, eta,
    initial desired V): examples ``volts`` (M, n_inputs) V on ``input_nodes`` with
    ``labels`` (M,) class indices and optionally ``groups`` (M,) sub-class indices
    (`Task.train_groups`), split into the ``train`` and ``test`` rows."""
    n_out = len(spec.outputs)
    return Task(
        name=spec.name or "",
        kind="classification",
        network=spec.network,
        input_nodes=input_nodes,
        output_nodes=tuple(spec.outputs),
        fixed_nodes=tuple(spec.fixed),
        fixed_volts=np.array(list(spec.fixed.values()), dtype=float),
        train_inputs=volts[train],
        train_desired=np.full((len(train), n_out), spec.initial_desired),
        test_inputs=volts[test],
        test_desired=np.full((len(test), n_out), spec.initial_desired),
        train_labels=labels[train],
        test_labels=labels[test],
        class_names=class_names,
        metric=spec.metric,
        description=spec.description,
        source=source,
        targets=spec.targets,
        eta=spec.eta,
        train_groups=None if groups is None else groups[train],
        test_groups=None if groups is None else groups[test],
    )
