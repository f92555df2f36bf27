"""The line-classification data set (lab.tasks.lines) and its task file data/tasks/lines.toml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab.tasks import TaskError, load_task
from lab.tasks.lines import PATTERNS, lines_dataset


def test_dataset_has_32_examples_16_per_class_integer_pixels() -> None:
    x, labels, pattern = lines_dataset(seed=0)
    assert x.shape == (32, 4)
    assert np.bincount(labels).tolist() == [16, 16]
    assert np.array_equal(x, np.rint(x)) and x.min() >= 0 and x.max() <= 5
    for c, pats in enumerate(PATTERNS.values()):
        assert sorted(set(pattern[labels == c].tolist())) == [0, 1]  # two patterns per class
        for k, lit in enumerate(pats):
            rows = x[(labels == c) & (pattern == k)]
            dark = [p - 1 for p in range(1, 5) if p not in lit]
            assert (rows[:, dark] == 0).all()  # the other pixels at 0 V
            assert (rows[:, [p - 1 for p in lit]] >= 1).all()  # the line is lit
            assert len({tuple(r) for r in rows}) == len(rows) == 8  # distinct examples


def test_dataset_is_reproducible_and_seeds_differ() -> None:
    a = lines_dataset(seed=3)
    b = lines_dataset(seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], lines_dataset(seed=4)[0])


def test_shipped_task_splits_8_per_class_and_keeps_the_data_set() -> None:
    t1, t2 = load_task("lines", seed=1), load_task("lines", seed=2)
    for t in (t1, t2):
        assert t.kind == "classification" and t.class_names == ("straight", "diagonal")
        assert t.input_nodes == (1, 2, 3, 4) and t.output_nodes == (7, 8)
        assert t.n_train == 16 and t.n_test == 16
        assert np.bincount(t.train_labels).tolist() == [8, 8]
        assert np.bincount(t.test_labels).tolist() == [8, 8]
        assert t.targets == "class-means"
    # the same 32 examples, split differently by the run's seed
    rows = {tuple(r) for r in np.concatenate([t1.train_inputs, t1.test_inputs])}
    assert rows == {tuple(r) for r in np.concatenate([t2.train_inputs, t2.test_inputs])}
    assert not np.array_equal(t1.train_inputs, t2.train_inputs)
    assert np.array_equal(load_task("lines", seed=1).train_inputs, t1.train_inputs)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("n_per_pattern = 8", "n_per_pattern = 30"),  # > 25 combinations of 1..5 V
        ("levels = [1, 5]", "levels = [5, 1]"),
        ("[2, 3]]", "[2, 7]]"),
    ],
)
def test_bad_lines_file_is_one_line_naming_file_and_field(
    tmp_path: Path, edit: str, needle: str
) -> None:
    src = Path(__file__).resolve().parents[3] / "data" / "tasks" / "lines.toml"
    text = src.read_text().replace('"../networks/layer4x2x2.toml"', '"layer4x2x2"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(edit, needle))
    with pytest.raises(TaskError) as exc:
        load_task(str(bad))
    msg = str(exc.value)
    assert msg.startswith(f"{bad}") or "bad.toml" in msg
    assert "\n" not in msg
    fields = {"n_per_pattern = 8": "n_per_pattern", "levels = [1, 5]": "levels"}
    field = fields.get(edit, "patterns")
    assert field in msg
