"""The "pattern-means" classification scheme (one target per pattern, the nearest pattern
target's class wins) in `lab.acquire.trainer.Trainer`, and its task field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig, emulator_bench
from lab.tasks import Task, TaskError, load_task

LINES = Path(__file__).resolve().parents[3] / "data" / "tasks" / "lines.toml"


def _lines(seed: int = 1) -> Task:
    return dataclasses.replace(load_task("lines", seed=seed), targets="pattern-means")


def _bench(task: Task):
    return emulator_bench(EmulatorConfig.ideal(seed=3, network=task.network))


def test_lines_task_carries_each_examples_pattern() -> None:
    task = load_task("lines", seed=1)
    assert task.train_groups is not None and task.test_groups is not None
    # patterns numbered class by class: straight {1,2} = 0, {1,3} = 1, diagonal 2, 3
    assert np.array_equal(task.train_groups // 2, task.train_labels)
    assert np.array_equal(task.test_groups // 2, task.test_labels)
    lit = {0: [0, 1], 1: [0, 2], 2: [0, 3], 3: [1, 2]}  # 0-based pixels of each pattern
    for x, g in zip(task.train_inputs, task.train_groups, strict=True):
        assert sorted(np.flatnonzero(x).tolist()) == lit[int(g)]


def test_pattern_targets_are_the_free_response_to_each_patterns_mean_input() -> None:
    task = _lines()
    settings = settings_from(task="lines", steps=1, test_every=0, eta=1.0)
    bench = _bench(task)
    ref = _bench(task)  # an identical board, untouched: the state before the first pulse
    try:
        trainer = Trainer(bench, task, settings)
        trainer.run()  # retargets at step 0, before the pulse
        means = np.stack([task.train_inputs[task.train_groups == g].mean(axis=0)
                          for g in range(4)])  # fmt: skip
        expected = []
        for x in means:
            ref.drive("free", task.input_nodes, x)
            expected.append(ref.sense("free", task.output_nodes))
    finally:
        bench.close()
        ref.close()
    assert trainer.group_targets is not None
    np.testing.assert_allclose(trainer.group_targets, np.array(expected), atol=1e-9)
    assert trainer.group_class.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(trainer.desired, trainer.group_targets[task.train_groups])
    # four distinct targets, where the class-means scheme has two
    assert len({tuple(np.round(t, 9)) for t in trainer.group_targets}) == 4


def test_class_margin_nudges_each_pattern_target_on_its_class_output() -> None:
    task = _lines()
    runs = {}
    for margin in (0.0, 0.25):
        bench = _bench(task)
        try:
            trainer = Trainer(bench, task, settings_from(task="lines", steps=1, test_every=0,
                                                         class_margin=margin))  # fmt: skip
            trainer.run()
        finally:
            bench.close()
        runs[margin] = trainer.group_targets
    shift = runs[0.25] - runs[0.0]
    # straight patterns (class 0) on output O1 = node 7, diagonal ones on O2 = node 8
    np.testing.assert_allclose(shift, [[0.25, 0], [0.25, 0], [0, 0.25], [0, 0.25]], atol=1e-9)


def test_nearest_pattern_target_decides_where_class_means_cannot() -> None:
    """An XOR layout in output space: the two classes' means coincide, so the nearest
    class target cannot tell them apart, the nearest pattern target can."""
    task = _lines()
    bench = _bench(task)
    try:
        trainer = Trainer(bench, task, settings_from(task="lines", steps=1, test_every=0))
    finally:
        bench.close()
    trainer.group_targets = np.array([[1.0, 1.0], [3.0, 3.0], [1.0, 3.0], [3.0, 1.0]])
    trainer.group_class = np.array([0, 0, 1, 1])
    v = np.array([[1.1, 0.9], [2.8, 3.1], [0.9, 2.7], [3.2, 1.2]])
    assert trainer.classify(v).tolist() == [0, 0, 1, 1]
    # the class-means readout of the same layout: both class targets at (2, 2)
    trainer.group_targets = trainer.group_class = None
    trainer.class_targets = np.array([[2.0, 2.0], [2.0, 2.0]])
    assert trainer.classify(v).tolist() == [0, 0, 0, 0]


def test_pattern_means_test_accuracy_uses_the_pattern_targets() -> None:
    task = _lines()
    bench = _bench(task)
    try:
        trainer = Trainer(bench, task, settings_from(task="lines", steps=16, test_every=16))
        summary = trainer.run()
        v_free = trainer._free_response(task.test_inputs)
    finally:
        bench.close()
    assert summary.final_accuracy == pytest.approx(
        np.mean(trainer.classify(v_free) == task.test_labels))


@pytest.mark.parametrize("value", ['"bogus"', '"one-hot"', "3"])
def test_bad_targets_in_a_lines_file_is_one_line_naming_file_and_field(
    tmp_path: Path, value: str
) -> None:
    text = LINES.read_text().replace('"../networks/layer4x2x2.toml"', '"layer4x2x2"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('targets = "class-means"', f"targets = {value}"))
    with pytest.raises(TaskError) as exc:
        load_task(str(bad))
    msg = str(exc.value)
    assert "bad.toml" in msg and "'targets'" in msg and "\n" not in msg
    assert "pattern-means" in msg  # names what is allowed


def test_pattern_means_in_a_lines_file_is_read(tmp_path: Path) -> None:
    text = LINES.read_text().replace('"../networks/layer4x2x2.toml"', '"layer4x2x2"')
    good = tmp_path / "good.toml"
    good.write_text(text.replace('targets = "class-means"', 'targets = "pattern-means"'))
    assert load_task(str(good), seed=2).targets == "pattern-means"


def test_csv_classification_refuses_pattern_means_in_one_line(tmp_path: Path) -> None:
    src = LINES.parents[0] / "iris.toml"
    text = src.read_text().replace('"../iris.csv"', f'"{(LINES.parents[1] / "iris.csv")}"')
    assert 'targets = "class-means"' in text
    bad = tmp_path / "iris2.toml"
    bad.write_text(text.replace('targets = "class-means"', 'targets = "pattern-means"'))
    with pytest.raises(TaskError) as exc:
        load_task(str(bad))
    msg = str(exc.value)
    assert "iris2.toml" in msg and "'targets'" in msg and "\n" not in msg
    assert load_task("iris").targets == "class-means"  # the Iris default is unchanged


def test_a_pattern_means_task_needs_its_groups() -> None:
    task = load_task("lines", seed=0)
    with pytest.raises(ValueError, match="train_groups"):
        dataclasses.replace(task, targets="pattern-means", train_groups=None)
    with pytest.raises(ValueError, match="'targets'"):
        dataclasses.replace(task, targets="nearest")
