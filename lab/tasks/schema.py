"""The task file format: its pydantic models, and the checks pydantic cannot make.

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
    eta = 1.0                   # optional: the task's nudge when a run gives none

Generated lines (`lab.tasks.lines`; the patterns of each class lit at integer volts)::

    kind = "classification"
    generator = "lines"
    network = "../networks/layer4x2x2.toml"
    inputs = [1, 2, 3, 4]       # the nodes of pixels 1-4, row by row
    outputs = [7, 8]
    patterns = { straight = [[1, 2], [1, 3]], diagonal = [[1, 4], [2, 3]] }
    levels = [1, 5]             # a lit pixel: an integer low..high V; the others 0 V
    n_per_pattern = 8
    data_seed = 0               # the data set; the split is drawn with ``seed``
    n_train_per_class = 8
    targets = "class-means"     # or "pattern-means": one target per pattern

``targets`` (`lab.tasks.task.TARGETS`, the trainer's schemes): ``"class-means"`` one
target per class, the nearest class target wins; ``"pattern-means"`` (lines only: it
needs each example's pattern, `Task.train_groups`) one per pattern, the nearest
pattern target's class wins.

Errors are :class:`TaskError` with one-line messages naming the file and the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StrictInt, ValidationError

from lab.errors import validation_line
from lab.tasks.task import Kind, TaskError

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
    eta: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="the nudge eta in (0, 1] runs of this task use unless one is given",
    )


class _Lines(_Base):
    """kind = "classification", generator = "lines" (`lab.tasks.lines`)."""

    generator: Literal["lines"]
    inputs: list[Node] = Field(
        min_length=4, max_length=4, description="the input nodes of pixels 1-4 (row by row)"
    )
    outputs: list[Node] = Field(min_length=1, description="list of output nodes")
    fixed: dict[int, Volts] = Field(
        default_factory=dict, description="table of held node = volts, e.g. { 9 = 2.5 }"
    )
    patterns: dict[str, list[list[StrictInt]]] = Field(
        min_length=2, description="table of class = its patterns (lit pixels 1-4)"
    )
    levels: tuple[StrictInt, StrictInt] = Field(
        default=(1, 5), description="[low, high] integer volts of a lit pixel"
    )
    n_per_pattern: PositiveInt = 8
    data_seed: StrictInt = Field(default=0, ge=0, description="seeds the data set itself")
    n_train_per_class: PositiveInt
    targets: Literal["class-means", "pattern-means"] = Field(
        default="class-means",
        description="'class-means': one target per class; 'pattern-means': one per "
        "pattern, the nearest pattern target's class wins",
    )
    initial_desired: Volts = 2.5
    eta: float | None = Field(default=None, gt=0, le=1)


def _parse(where: str, model: type[BaseModel], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise TaskError(validation_line(where, model, err)) from None
