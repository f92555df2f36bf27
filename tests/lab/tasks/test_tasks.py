"""Tests for lab.tasks: shipped task files, generators, Iris split and file errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab.core.network import Network
from lab.tasks import (
    Task,
    TaskError,
    list_tasks,
    load_task,
    mse,
    random_allostery,
    regression_task,
)

SHIPPED = [
    "ii", "iii", "iv", "v", "iris", "regression", "random-allostery", "chain3", "bridge5", "lines",
]  # fmt: skip

# The seed table (PHYSICS.md, "Tasks"): inputs (node: V), outputs (node: desired V).
SEED_TABLE = {
    "ii": ({8: 5.0}, {3: 4.0}),
    "iii": ({3: 4.0}, {4: 1.0, 8: 2.0}),
    "iv": ({4: 5.0, 8: 1.0}, {1: 3.0, 2: 3.0, 3: 3.0}),
    "v": ({6: 5.0}, {1: 3.0, 3: 2.0, 5: 4.0, 7: 1.0}),
}


def test_list_tasks_has_all_shipped() -> None:
    assert sorted(SHIPPED) == sorted(list_tasks())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_task_loads_with_consistent_shapes(name: str) -> None:
    task = load_task(name, seed=3)
    assert task.name == name
    n_nodes = Network.from_name(task.network).n_nodes
    nodes = task.input_nodes + task.output_nodes + task.fixed_nodes
    assert len(set(nodes)) == len(nodes)
    assert all(1 <= n <= n_nodes for n in nodes)
    assert task.train_inputs.shape == (task.n_train, task.n_inputs)
    assert task.train_desired.shape == (task.n_train, task.n_outputs)
    assert task.test_inputs.shape == (task.n_test, task.n_inputs)
    assert task.test_desired.shape == (task.n_test, task.n_outputs)
    assert task.fixed_volts.shape == (len(task.fixed_nodes),)
    for a in (task.train_inputs, task.train_desired, task.test_inputs, task.test_desired):
        assert np.all(np.isfinite(a))
    d = task.to_dict()
    json.dumps(d)
    again = Task.from_dict(json.loads(json.dumps(d)))
    assert again.input_nodes == task.input_nodes
    np.testing.assert_array_equal(again.test_desired, task.test_desired)


@pytest.mark.parametrize("name", sorted(SEED_TABLE))
def test_seed_table_allostery(name: str) -> None:
    inputs, outputs = SEED_TABLE[name]
    task = load_task(name)
    assert task.kind == "allostery"
    assert task.network == "twin16"
    assert task.input_nodes == tuple(inputs)
    assert task.output_nodes == tuple(outputs)
    assert task.fixed_nodes == (9,)
    assert task.fixed_volts.tolist() == [0.0]
    assert task.train_inputs.tolist() == [list(inputs.values())]
    assert task.train_desired.tolist() == [list(outputs.values())]
    assert task.test_inputs.tolist() == task.train_inputs.tolist()
    assert task.test_desired.tolist() == task.train_desired.tolist()
    assert task.metric == "mse"


def test_mse() -> None:
    v = np.array([[1.0, 2.0], [0.0, 0.0]])
    d = np.array([[1.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(mse(v, d), [2.0, 1.0])
    assert mse(np.zeros((2, 3, 4)), np.ones(4)).shape == (2, 3)


# --------------------------------------------------------------------------- regression


def test_regression_file_nodes_and_sizes() -> None:
    task = load_task("regression")
    assert task.kind == "regression"
    assert (task.input_nodes, task.output_nodes, task.fixed_nodes) == ((1, 2), (3, 4), (9,))
    assert (task.n_train, task.n_test) == (16, 64)
    assert task.fixed_volts.tolist() == [0.0]


def test_regression_reproducible_and_seed_dependent() -> None:
    a, b, c = (
        load_task("regression", seed=5),
        load_task("regression", seed=5),
        load_task("regression", seed=6),
    )
    np.testing.assert_array_equal(a.train_inputs, b.train_inputs)
    np.testing.assert_array_equal(a.test_desired, b.test_desired)
    assert not np.allclose(a.train_inputs, c.train_inputs)
    assert not np.allclose(a.train_desired, c.train_desired)
    r1, r2 = regression_task(seed=1), regression_task(seed=1)
    assert r1.input_nodes == r2.input_nodes
    np.testing.assert_array_equal(r1.test_desired, r2.test_desired)


@pytest.mark.parametrize("seed", range(5))
def test_regression_is_linear_and_between_ground_and_inputs(seed: int) -> None:
    task = regression_task("twin16", n_inputs=2, n_outputs=3, n_test=40, seed=seed)
    x = np.vstack([task.train_inputs, task.test_inputs])
    y = np.vstack([task.train_desired, task.test_desired])
    assert np.all((x >= 0.0) & (x <= 5.0))
    a, *_ = np.linalg.lstsq(x, y, rcond=None)  # no offset: ground is 0 V
    np.testing.assert_allclose(x @ a, y, atol=1e-10)
    assert np.all(a >= -1e-12)
    assert np.all((a.sum(axis=0) >= 0.3 - 1e-12) & (a.sum(axis=0) <= 0.9 + 1e-12))
    assert np.all(y >= 0.0)
    assert np.all(y <= x.max(axis=1, keepdims=True) + 1e-12)
    nodes = task.input_nodes + task.output_nodes + task.fixed_nodes
    assert len(set(nodes)) == len(nodes) == 2 + 3 + 1
    assert all(1 <= n <= 9 for n in nodes)


def test_regression_given_nodes_rejects_bad_ones() -> None:
    task = regression_task(seed=0, input_nodes=[5, 6], output_nodes=[7], ground_nodes=[1, 2])
    assert task.input_nodes == (5, 6) and task.output_nodes == (7,)
    assert task.fixed_nodes == (1, 2)
    with pytest.raises(TaskError, match=r"output_nodes.*node 12 does not exist"):
        regression_task(seed=0, output_nodes=[12])
    with pytest.raises(TaskError, match="node 5"):
        regression_task(seed=0, input_nodes=[5], output_nodes=[5])


# --------------------------------------------------------------------------- random allostery


@pytest.mark.parametrize("n_io", [1, 2, 3, 5])
def test_random_allostery_counts_and_ranges(n_io: int) -> None:
    task = random_allostery("planar143", n_io, seed=n_io)
    n_ground = max(1, n_io // 2)
    assert (task.n_inputs, task.n_outputs, len(task.fixed_nodes)) == (n_io, n_io, n_ground)
    nodes = task.input_nodes + task.output_nodes + task.fixed_nodes
    assert len(set(nodes)) == len(nodes)
    n_nodes = Network.from_name("planar143").n_nodes
    assert all(1 <= n <= n_nodes for n in nodes)
    assert task.fixed_volts.tolist() == [0.0] * n_ground
    assert task.n_train == task.n_test == 1
    for a in (task.train_inputs, task.train_desired):
        assert np.all((a >= 0.0) & (a <= 5.0))


def _applied_range(task) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest applied voltage (inputs and fixed nodes) per example, (M,) V."""
    x = np.vstack([task.train_inputs, task.test_inputs])
    fixed = np.broadcast_to(task.fixed_volts, (len(x), len(task.fixed_volts)))
    applied = np.hstack([x, fixed])
    return applied.min(axis=1), applied.max(axis=1)


@pytest.mark.parametrize(
    ("network", "n_io", "v_range"),
    [("twin16", 1, (0.0, 5.0)), ("twin16", 2, (0.0, 5.0)), ("twin16", 3, (0.0, 5.0)),
     ("planar143", 1, (0.0, 5.0)), ("planar143", 2, (0.0, 5.0)), ("planar143", 4, (0.0, 5.0)),
     ("planar143", 8, (0.0, 5.0)), ("planar143", 2, (-3.0, 5.0)),
     ("planar143", 4, (1.0, 200.0))],
)  # fmt: skip
def test_random_allostery_asks_only_for_reachable_outputs(network, n_io, v_range) -> None:
    """A resistor network's node voltages lie between its lowest and highest applied
    voltage (maximum principle): every desired output of 300 seeds must too, and they
    fill that range (uniform: about a quarter in each quarter of it)."""
    where = []
    for seed in range(300):
        task = random_allostery(network, n_io, seed=seed, v_range=v_range)
        lo, hi = _applied_range(task)
        y = np.vstack([task.train_desired, task.test_desired])
        assert np.all((y >= lo[:, None]) & (y <= hi[:, None])), (seed, y, lo, hi)
        where.append(((y - lo[:, None]) / (hi - lo)[:, None]).ravel())
    u = np.concatenate(where)
    quarters = np.histogram(u, bins=4, range=(0, 1))[0] / len(u)
    np.testing.assert_allclose(quarters, 0.25, atol=0.06)


@pytest.mark.parametrize("v_range", [(0.0, 5.0), (-5.0, 5.0), (0.0, 500.0)])
def test_regression_asks_only_for_reachable_outputs(v_range) -> None:
    for seed in range(200):
        task = regression_task("planar143", n_outputs=3, n_test=8, seed=seed, v_range=v_range)
        lo, hi = _applied_range(task)
        y = np.vstack([task.train_desired, task.test_desired])
        assert np.all((y >= lo[:, None] - 1e-9) & (y <= hi[:, None] + 1e-9)), seed


def test_random_allostery_seeded() -> None:
    a, b = load_task("random-allostery", seed=2), load_task("random-allostery", seed=2)
    c = load_task("random-allostery", seed=3)
    assert a.input_nodes == b.input_nodes
    np.testing.assert_array_equal(a.train_desired, b.train_desired)
    assert (a.input_nodes, a.output_nodes) != (c.input_nodes, c.output_nodes)
    assert a.network == "planar143" and a.n_inputs == 2


def test_random_allostery_too_many_nodes() -> None:
    with pytest.raises(TaskError, match="n_io"):
        random_allostery("twin16", 4, seed=0)  # 4 + 4 + 2 > 9 nodes


# --------------------------------------------------------------------------- iris


def test_iris_csv() -> None:
    path = Path(__file__).resolve().parents[3] / "data" / "iris.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "sepal_length,sepal_width,petal_length,petal_width,species"
    assert len(lines) == 151
    species = [line.rsplit(",", 1)[1] for line in lines[1:]]
    assert {s: species.count(s) for s in set(species)} == {
        "setosa": 50,
        "versicolor": 50,
        "virginica": 50,
    }


def test_iris_task() -> None:
    task = load_task("iris", seed=0)
    assert task.kind == "classification"
    assert task.input_nodes == (2, 3, 5, 8)
    assert task.output_nodes == (1, 4, 6)
    assert task.fixed_nodes == (9,) and task.fixed_volts.tolist() == [2.5]
    assert 7 not in task.input_nodes + task.output_nodes + task.fixed_nodes
    assert task.class_names == ("setosa", "versicolor", "virginica")
    assert task.targets == "class-means"
    assert (task.n_train, task.n_test) == (30, 120)
    assert task.train_labels is not None and task.test_labels is not None
    assert np.bincount(task.train_labels).tolist() == [10, 10, 10]
    assert np.bincount(task.test_labels).tolist() == [40, 40, 40]
    x = np.vstack([task.train_inputs, task.test_inputs])
    assert np.all((x >= 0.0) & (x <= 5.0))
    np.testing.assert_allclose(x.min(axis=0), 0.0)
    np.testing.assert_allclose(x.max(axis=0), 5.0)
    assert np.all(task.train_desired == 2.5) and np.all(task.test_desired == 2.5)


def test_iris_split_depends_on_seed() -> None:
    a, b, c = load_task("iris", seed=1), load_task("iris", seed=1), load_task("iris", seed=2)
    np.testing.assert_array_equal(a.train_inputs, b.train_inputs)
    assert not np.array_equal(a.train_inputs, c.train_inputs)


def test_iris_split_is_all_flowers_in_node_order() -> None:
    """Train + test are the 150 flowers; input column j is the feature on input node j."""
    task = load_task("iris", seed=0)
    path = Path(__file__).resolve().parents[3] / "data" / "iris.csv"
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(2, 3, 0, 1))  # nodes 2,3,5,8
    scaled = (raw - raw.min(axis=0)) / np.ptp(raw, axis=0) * 5.0
    x = np.vstack([task.train_inputs, task.test_inputs])

    def rows_sorted(a: np.ndarray) -> np.ndarray:
        return a[np.lexsort(a.T[::-1])]

    np.testing.assert_allclose(rows_sorted(x), rows_sorted(scaled), atol=1e-12)


# --------------------------------------------------------------------------- file errors

GOOD = """\
kind = "allostery"
network = "twin16"
inputs = { 8 = 5.0 }
outputs = { 3 = 4.0 }
fixed = { 9 = 0.0 }
"""


def _write(tmp_path: Path, text: str, name: str = "bad_task.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_file_from_path(tmp_path: Path) -> None:
    task = load_task(str(_write(tmp_path, GOOD, "mine.toml")))
    assert task.name == "mine"
    assert task.input_nodes == (8,) and task.train_desired.tolist() == [[4.0]]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace("outputs", "outptus"), "outptus"),  # misspelled field
        (GOOD.replace("{ 3 = 4.0 }", "{ 12 = 4.0 }"), "outputs"),  # no node 12 on twin16
        (GOOD.replace("{ 3 = 4.0 }", "{ 8 = 4.0 }"), "outputs"),  # node in two roles
        (GOOD.replace('"allostery"', '"alostery"'), "kind"),  # unknown kind
        (GOOD.replace("5.0", '"five"'), "inputs"),  # non-number volts
        (GOOD.replace("5.0", '"5.0"'), "inputs"),  # a string is not a number either
        (GOOD.replace("5.0", "inf"), "inputs"),  # not finite
        (GOOD.replace("{ 8 = 5.0 }", "{ x = 5.0 }"), "inputs"),  # node label not an int
        (GOOD.replace("{ 8 = 5.0 }", "{}"), "inputs"),  # no input
        (GOOD.replace('"twin16"', '"twin17"'), "network"),  # unknown network
        (GOOD.replace('network = "twin16"\n', ""), "network"),  # missing field
        (GOOD + 'metric = "mae"\n', "metric"),
        (GOOD.replace('kind = "allostery"\n', ""), "kind"),
        ('kind = "allostery"\ngenerator = "random"\nnetwork = "planar143"\nn_io = 0\n', "n_io"),
        ('kind = "allostery"\ngenerator = "randm"\nnetwork = "planar143"\nn_io = 2\n', "generator"),
        (
            'kind = "regression"\nnetwork = "twin16"\ninputs = [1, 2]\noutputs = [3, 2]\n',
            "outputs",
        ),
        ('kind = "regression"\nnetwork = "twin16"\ninputs = [1, 2]\n', "outputs"),
        (
            'kind = "regression"\nnetwork = "twin16"\ninputs = [1, 2.5]\noutputs = [3]\n',
            "inputs",
        ),
        (
            'kind = "regression"\nnetwork = "twin16"\nn_inputs = 2\noutputs = [3]\n'
            "v_range = [5.0, 0.0]\n",
            "v_range",
        ),
    ],
)
def test_bad_file_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TaskError) as info:
        load_task(str(path))
    msg = str(info.value)
    assert "bad_task.toml" in msg
    assert f"'{field}'" in msg
    assert "\n" not in msg


def test_misspelled_field_suggests_the_right_one(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("outputs", "outptus"))
    with pytest.raises(TaskError, match="did you mean 'outputs'"):
        load_task(str(path))


def test_node_12_message(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("{ 3 = 4.0 }", "{ 12 = 4.0 }"))
    expected = r"'outputs': node 12 does not exist \(network 'twin16' has nodes 1\.\.9\)"
    with pytest.raises(TaskError, match=expected):
        load_task(str(path))


def test_bad_toml_syntax_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("outputs = { 3 = 4.0 }", "outputs = { 3 = 4.0"))
    with pytest.raises(TaskError, match=r"bad_task\.toml.*line 4"):
        load_task(str(path))


def test_classification_bad_column(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[3] / "data"
    text = (data / "tasks" / "iris.toml").read_text()
    text = text.replace('dataset = "../iris.csv"', f'dataset = "{(data / "iris.csv").as_posix()}"')
    assert load_task(str(_write(tmp_path, text, "ok.toml"))).n_train == 30
    path = _write(tmp_path, text.replace("petal_width = 3", "petal_wdth = 3"))
    with pytest.raises(TaskError, match=r"bad_task\.toml.*'inputs'.*petal_wdth"):
        load_task(str(path))


def test_unknown_task_lists_known_tasks() -> None:
    with pytest.raises(TaskError) as info:
        load_task("xyz")
    msg = str(info.value)
    assert "unknown task 'xyz'" in msg
    for name in SHIPPED:
        assert name in msg


def test_missing_path() -> None:
    with pytest.raises(TaskError, match=r"nowhere\.toml"):
        load_task("/nowhere/nowhere.toml")


def test_data_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "only.toml").write_text(GOOD)
    monkeypatch.setenv("TWINLAB_DATA", str(tmp_path))
    assert list_tasks() == ["only"]
    assert load_task("only").output_nodes == (3,)


@pytest.mark.parametrize(
    ("tables", "needle"),
    [
        ('inputs = { 8 = 5.0, "08" = 3.0 }\noutputs = { 3 = 4.0 }', "field 'inputs'"),
        ('inputs = { 8 = 5.0 }\noutputs = { "08" = 4.0 }', "fields 'inputs' and 'outputs'"),
        ('inputs = { 8 = 5.0 }\noutputs = { 3 = 4.0 }\nfixed = { "0003" = 0.0 }', "'0003'"),
    ],
)
def test_one_node_under_two_spellings_is_refused(tmp_path: Path, tables: str, needle: str):
    """TOML keeps "8" and "08" as two keys; read as numbers the last would silently win."""
    path = tmp_path / "twice.toml"
    path.write_text(f'kind = "allostery"\nnetwork = "twin16"\n{tables}\n')
    with pytest.raises(TaskError) as info:
        load_task(str(path))
    message = str(info.value)
    assert str(path) in message and needle in message and "given twice" in message
    assert "\n" not in message


def test_one_node_under_one_spelling_twice_is_a_toml_error(tmp_path: Path) -> None:
    path = tmp_path / "twice.toml"
    path.write_text('kind = "allostery"\nnetwork = "twin16"\ninputs = { 8 = 5.0, "8" = 3.0 }\n')
    with pytest.raises(TaskError, match=r"invalid TOML syntax: .*'8'"):
        load_task(str(path))
