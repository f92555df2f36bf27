"""Learning tasks: which nodes are inputs, outputs and held nodes, and the data.

A :class:`Task` is plain data (voltages in V, node labels 1-based). Tasks come from
TOML files (shipped: ``lab.paths.data_dir()/tasks``, the repository's ``data/tasks``;
or any path) via :func:`load_task`, or from the
generators :func:`random_allostery` and :func:`regression_task`.

Task file format (TOML; unknown fields are errors; the ``name`` defaults to the file
stem). Every file has ``kind``, ``network`` and optionally ``name``, ``description``
and ``metric`` (only ``"mse"``). Node tables are written ``node = value`` and keep
their order, which is the column order of the task's arrays.

Fixed allostery (one example; test = train)::

    kind = "allostery"
    network = "twin16"
    inputs = { 8 = 5.0 }        # input node = applied volts
    outputs = { 3 = 4.0 }       # output node = desired volts
    fixed = { 9 = 0.0 }         # nodes held at constant volts (ground), optional

Random allostery (drawn with the ``seed`` given to :func:`load_task`)::

    kind = "allostery"
    generator = "random"
    network = "planar143"
    n_io = 2                    # n_io inputs, n_io outputs, max(1, n_io // 2) grounds
    v_range = [0.0, 5.0]        # optional

Regression (random linear map, drawn with ``seed``; see :func:`regression_task`)::

    kind = "regression"
    generator = "random-linear" # optional, the only generator
    network = "twin16"
    inputs = [1, 2]             # or n_inputs = 2 (then drawn at random)
    outputs = [3, 4]            # or n_outputs = 2
    ground = [9]                # optional; default one random ground node at 0 V
    n_train = 16
    n_test = 64
    v_range = [0.0, 5.0]

Classification (a CSV data set, class-balanced training split drawn with ``seed``)::

    kind = "classification"
    network = "twin16"
    dataset = "../iris.csv"     # relative to the task file
    label_column = "species"
    classes = ["setosa", "versicolor", "virginica"]
    inputs = { petal_length = 2, petal_width = 3, sepal_length = 5, sepal_width = 8 }
    outputs = [1, 4, 6]
    fixed = { 9 = 2.5 }
    input_range = [0.0, 5.0]    # features min-max scaled (over the whole data set) to this
    n_train_per_class = 10      # the rest is the test set
    targets = "class-means"     # the trainer sets class targets every epoch
    initial_desired = 2.5       # placeholder desired outputs until then

Errors are :class:`TaskError` with one-line messages naming the file and the field.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StrictInt, ValidationError

from lab.errors import short_repr, validation_line
from lab.paths import data_dir

__all__ = [
    "Task",
    "TaskError",
    "data_dir",
    "list_tasks",
    "load_task",
    "mse",
    "random_allostery",
    "regression_task",
]

Kind = Literal["allostery", "regression", "classification"]
KINDS: tuple[str, ...] = ("allostery", "regression", "classification")


class TaskError(ValueError):
    """A task file or task request is invalid; the message names the file and field."""


# --------------------------------------------------------------------------- Task


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
    holds initial targets; with ``targets == "class-means"`` the trainer re-sets them.
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
    targets: str = "fixed"  # "fixed" or "class-means" (classification)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for f in ("input_nodes", "output_nodes", "fixed_nodes"):
            put(f, tuple(int(n) for n in getattr(self, f)))
        put("class_names", tuple(str(c) for c in self.class_names))
        put("fixed_volts", _as_array(self.fixed_volts, 1, "fixed_volts"))
        for f in ("train_inputs", "train_desired", "test_inputs", "test_desired"):
            put(f, _as_array(getattr(self, f), 2, f))
        for f in ("train_labels", "test_labels"):
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
        for got, want, what, dim in checks:
            if got != want:
                raise ValueError(
                    f"task {self.name!r}: field {what!r} has {got} where {dim} = {want}"
                )

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


# --------------------------------------------------------------------------- helpers


def mse(v_free: np.ndarray, v_desired: np.ndarray) -> np.ndarray:
    """Mean over the last axis of (v_free - v_desired)^2, in V^2; shapes (..., n_out)."""
    d = np.asarray(v_free, dtype=float) - np.asarray(v_desired, dtype=float)
    return np.mean(d * d, axis=-1)


def list_tasks() -> list[str]:
    """Names of the shipped task files, ``data_dir()/tasks/*.toml`` (sorted)."""
    return sorted(p.stem for p in (data_dir() / "tasks").glob("*.toml"))


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


#: Task-file fields that are tables keyed by node number (``node = value``).
_NODE_TABLES = ("inputs", "outputs", "fixed")


def _check_node_spellings(where: str, raw: dict[str, Any]) -> None:
    """TaskError naming both spellings and the file when two keys of the node tables are
    one node ("8" and "08": TOML keeps both, and reading them as numbers would silently
    keep only the last value). Keys that are not node numbers are left to the schema."""
    seen: dict[int, tuple[str, str]] = {}  # node -> (field, spelling)
    for field in _NODE_TABLES:
        table = raw.get(field)
        if not isinstance(table, dict):
            continue
        for key in table:
            try:
                node = int(str(key).strip())
            except ValueError:
                continue
            if node in seen:
                other, spelling = seen[node]
                place = f"field {field!r}" if other == field else f"fields {other!r} and {field!r}"
                raise TaskError(
                    f"{where}: {place}: node {node} is given twice, as {spelling!r} and "
                    f"{str(key)!r} (write each node once)"
                )
            seen[node] = (field, str(key))


def _check_range(where: str, name: str, r: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(r[0]), float(r[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise TaskError(
            f"{where}: field {name!r}: expected [low, high] with low < high, got {list(r)}"
        )
    return lo, hi


# --------------------------------------------------------------------------- generators


def random_allostery(
    network: str = "planar143",
    n_io: int = 2,
    *,
    seed: int,
    v_range: tuple[float, float] = (0.0, 5.0),
) -> Task:
    """Random allostery task (papers' Fig. 4D): n_io inputs, n_io outputs, max(1, n_io//2)
    ground nodes at 0 V, all distinct and drawn at random; input volts and desired outputs
    uniform on ``v_range`` (V). One example; test = train.
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
    y = rng.uniform(lo, hi, size=(1, n_io))
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
    desired output lies between ground (0 V) and the inputs, like a resistor divider's.
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


# --------------------------------------------------------------------------- file schema

Volts = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Node = StrictInt
VRange = tuple[Volts, Volts]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kind: Kind
    network: str = Field(description='network name, e.g. "twin16"')
    description: str = ""
    metric: Literal["mse"] = "mse"


class _FixedAllostery(_Base):
    inputs: dict[int, Volts] = Field(description="table of input node = volts, e.g. { 8 = 5.0 }")
    outputs: dict[int, Volts] = Field(
        description="table of output node = desired volts, e.g. { 3 = 4.0 }"
    )
    fixed: dict[int, Volts] = Field(
        default_factory=dict, description="table of held node = volts, e.g. { 9 = 0.0 }"
    )


class _RandomAllostery(_Base):
    generator: Literal["random"]
    n_io: PositiveInt = Field(description="number of inputs (= number of outputs)")
    v_range: VRange = Field(default=(0.0, 5.0), description="[low, high] volts")


class _Regression(_Base):
    generator: Literal["random-linear"] = "random-linear"
    inputs: list[Node] | None = Field(default=None, min_length=1, description="list of input nodes")
    outputs: list[Node] | None = Field(
        default=None, min_length=1, description="list of output nodes"
    )
    ground: list[Node] | None = Field(default=None, description="list of 0 V ground nodes")
    n_inputs: PositiveInt | None = None
    n_outputs: PositiveInt | None = None
    n_train: PositiveInt = 16
    n_test: PositiveInt = 64
    v_range: VRange = Field(default=(0.0, 5.0), description="[low, high] volts")


class _Classification(_Base):
    dataset: str = Field(description="CSV file, relative to the task file")
    label_column: str = "species"
    classes: list[str] = Field(min_length=2, description="class names as in the label column")
    inputs: dict[str, Node] = Field(
        description="table of CSV column = input node, e.g. { petal_length = 2 }"
    )
    outputs: list[Node] = Field(min_length=1, description="list of output nodes")
    fixed: dict[int, Volts] = Field(
        default_factory=dict, description="table of held node = volts, e.g. { 9 = 2.5 }"
    )
    input_range: VRange = Field(default=(0.0, 5.0), description="[low, high] volts")
    n_train_per_class: PositiveInt
    targets: Literal["class-means"] = "class-means"
    initial_desired: Volts = 2.5


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _parse(where: str, model: type[BaseModel], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise TaskError(validation_line(where, model, err)) from None


# --------------------------------------------------------------------------- loaders


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
    else:
        task = _classification(where, path, _parse(where, _Classification, raw), seed)

    spec_name = raw.get("name") or path.stem
    updates: dict[str, Any] = {"name": spec_name}
    if raw.get("description"):
        updates["description"] = raw["description"]
    return replace(task, **updates)


def _with_where(where: str, make: Any) -> Task:
    """Run a generator, re-labelling its TaskErrors with the task file."""
    try:
        return make()
    except TaskError as e:
        msg = str(e)
        for prefix in ("random_allostery: ", "regression_task: "):
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
    n_out = len(spec.outputs)
    return Task(
        name=spec.name or "",
        kind="classification",
        network=spec.network,
        input_nodes=tuple(spec.inputs.values()),
        output_nodes=tuple(spec.outputs),
        fixed_nodes=tuple(spec.fixed),
        fixed_volts=np.array(list(spec.fixed.values()), dtype=float),
        train_inputs=volts[train],
        train_desired=np.full((len(train), n_out), spec.initial_desired),
        test_inputs=volts[test],
        test_desired=np.full((len(test), n_out), spec.initial_desired),
        train_labels=labels[train],
        test_labels=labels[test],
        class_names=tuple(spec.classes),
        metric=spec.metric,
        description=spec.description,
        source=f"{where} (seed={seed}; data {csv_name}; columns {', '.join(spec.inputs)} "
        f"min-max scaled to [{lo}, {hi}] V)",
        targets=spec.targets,
    )
