"""The task type: which nodes are inputs, outputs and held nodes, and the data.

A :class:`Task` is plain data (voltages in V, node labels 1-based). Tasks come from
task files (`lab.tasks.files.load_task`, the format in `lab.tasks.schema`) or from the
generators (`lab.tasks.generators`). :func:`mse` is the task metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["allostery", "regression", "classification"]
KINDS: tuple[str, ...] = ("allostery", "regression", "classification")
#: How a task's targets are set: ``"fixed"`` (as given), ``"class-means"`` (each class's
#: target is the free response to its mean training input, re-set every epoch; nearest
#: class target wins) or ``"pattern-means"`` (the same per group, e.g. a line pattern, of
#: `Task.train_groups`; nearest group target -> its class). `lab.acquire.trainer`.
TARGETS: tuple[str, ...] = ("fixed", "class-means", "pattern-means")


class TaskError(ValueError):
    """A task file or task request is invalid; the message names the file and field."""


def _as_array(x: Any, ndim: int, what: str, dtype: type = float) -> np.ndarray:
    a = np.array(x, dtype=dtype)
    if a.ndim != ndim:
        raise ValueError(f"Task field {what!r}: expected a {ndim}-d array, got shape {a.shape}")
    return a


@dataclass(frozen=True)
class Task:
    """A learning task. Node labels are 1-based; voltages in V.

    Shapes: ``fixed_volts`` (n_fixed,); ``train_inputs`` (n_train, n_inputs);
    ``train_desired`` (n_train, n_outputs); ``test_inputs`` (n_test, n_inputs);
    ``test_desired`` (n_test, n_outputs); labels (n_train,) / (n_test,) class indices
    into ``class_names`` (classification only). For classification, ``train_desired``
    holds initial targets; with ``targets`` in `TARGETS` other than ``"fixed"`` the
    trainer re-sets them (`lab.acquire.trainer.Trainer`). ``train_groups`` (n_train,) /
    ``test_groups`` (n_test,): each example's sub-class (its pattern: the lines data set
    has two per class), global indices 0..G-1, every group inside one class; required
    by ``targets == "pattern-means"``.
    """

    name: str
    kind: Kind
    network: str
    input_nodes: tuple[int, ...]
    output_nodes: tuple[int, ...]
    fixed_nodes: tuple[int, ...]
    fixed_volts: np.ndarray
    train_inputs: np.ndarray
    train_desired: np.ndarray
    test_inputs: np.ndarray
    test_desired: np.ndarray
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    metric: str = "mse"
    description: str = ""
    source: str = ""
    targets: str = "fixed"  # one of TARGETS
    eta: float | None = None  # the task's own nudge (its paper's); runs giving none use it
    train_groups: np.ndarray | None = None
    test_groups: np.ndarray | None = None
    #: The task file it was loaded from, as displayed (`lab.paths.display_path`); "" for
    #: a task made in code (`value_origin` names it in refusals)
    file: str = ""

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for f in ("input_nodes", "output_nodes", "fixed_nodes"):
            put(f, tuple(int(n) for n in getattr(self, f)))
        put("class_names", tuple(str(c) for c in self.class_names))
        put("fixed_volts", _as_array(self.fixed_volts, 1, "fixed_volts"))
        for f in ("train_inputs", "train_desired", "test_inputs", "test_desired"):
            put(f, _as_array(getattr(self, f), 2, f))
        for f in ("train_labels", "test_labels", "train_groups", "test_groups"):
            if getattr(self, f) is not None:
                put(f, _as_array(getattr(self, f), 1, f, dtype=np.int64))
        checks = [
            (len(self.fixed_volts), len(self.fixed_nodes), "fixed_volts", "n_fixed"),
            (self.train_inputs.shape[1], self.n_inputs, "train_inputs", "n_inputs"),
            (self.test_inputs.shape[1], self.n_inputs, "test_inputs", "n_inputs"),
            (self.train_desired.shape[1], self.n_outputs, "train_desired", "n_outputs"),
            (self.test_desired.shape[1], self.n_outputs, "test_desired", "n_outputs"),
            (self.train_desired.shape[0], self.n_train, "train_desired", "n_train"),
            (self.test_desired.shape[0], self.n_test, "test_desired", "n_test"),
        ]
        if self.train_labels is not None:
            checks.append((len(self.train_labels), self.n_train, "train_labels", "n_train"))
        if self.test_labels is not None:
            checks.append((len(self.test_labels), self.n_test, "test_labels", "n_test"))
        if self.train_groups is not None:
            checks.append((len(self.train_groups), self.n_train, "train_groups", "n_train"))
        if self.test_groups is not None:
            checks.append((len(self.test_groups), self.n_test, "test_groups", "n_test"))
        for got, want, what, dim in checks:
            if got != want:
                raise ValueError(
                    f"task {self.name!r}: field {what!r} has {got} where {dim} = {want}"
                )
        if self.targets not in TARGETS:
            raise ValueError(f"task {self.name!r}: field 'targets': expected one of "
                             f"{', '.join(map(repr, TARGETS))}, got {self.targets!r}")
        if self.targets == "pattern-means" and (self.train_groups is None
                                                or self.train_labels is None):
            raise ValueError(f"task {self.name!r}: field 'targets': 'pattern-means' needs "
                             f"train_labels and train_groups")  # fmt: skip

    @property
    def n_inputs(self) -> int:
        return len(self.input_nodes)

    @property
    def n_outputs(self) -> int:
        return len(self.output_nodes)

    @property
    def n_train(self) -> int:
        return int(self.train_inputs.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.test_inputs.shape[0])

    def value_origin(self, role: str, node: int, row: int = 0) -> str:
        """Who a refusal of one task voltage names: the task, its file and the field that
        gives the value (``task 'high' (file high.toml, field 'inputs.8')``), or, when the
        value is generated (or read from a data set), the example it belongs to
        (``task 'regression' (file regression.toml, test example 3)``). ``role``:
        "input", "output" or "fixed"; ``row``: the example, training rows first, then
        test rows (ignored for "fixed")."""
        head = f"task {self.name!r}"
        if not self.file:
            return head
        from_fields = self.kind == "allostery" and self.source == self.file  # the file's table
        if from_fields:
            key = {"input": "inputs", "output": "outputs", "fixed": "fixed"}[role]
            return f"{head} (file {self.file}, field '{key}.{node}')"
        if role == "fixed":
            return f"{head} (file {self.file}, fixed node {node})"
        example = (f"training example {row}" if row < self.n_train
                   else f"test example {row - self.n_train}")
        return f"{head} (file {self.file}, {example})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (lists instead of arrays), e.g. for a run file."""
        out: dict[str, Any] = {}
        for f in self.__dataclass_fields__:
            v = getattr(self, f)
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, tuple):
                v = list(v)
            out[f] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


def mse(v_free: np.ndarray, v_desired: np.ndarray) -> np.ndarray:
    """Mean over the last axis of (v_free - v_desired)^2, in V^2; shapes (..., n_out)."""
    d = np.asarray(v_free, dtype=float) - np.asarray(v_desired, dtype=float)
    return np.mean(d * d, axis=-1)
