"""A task's own nudge (task file field ``eta``; the shipped Iris task: Dillavou et al.'s
eta = 1): runs that give no eta use it, an explicit eta wins, a bad one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import main
from lab.runs import RunReader
from lab.tasks import Task, TaskError, load_task

DATA = Path(__file__).resolve().parents[3] / "data"


def test_the_shipped_iris_task_carries_the_papers_eta() -> None:
    task = load_task("iris", seed=0)
    assert task.eta == 1.0
    assert load_task("ii").eta is None  # tasks without one keep the settings default
    assert Task.from_dict(task.to_dict()).eta == 1.0


@pytest.mark.parametrize(("given", "expected"), [(None, 1.0), ("0.5", 0.5)])
def test_train_uses_the_tasks_eta_unless_one_is_given(tmp_path: Path, given, expected) -> None:
    out = tmp_path / "iris.h5"
    extra = [] if given is None else ["--eta", given]
    args = ["train", "--task", "iris", "--steps", "3", "--quiet", "--out", str(out), *extra]
    assert main(args) == 0
    with RunReader(out) as run:
        assert run.settings["eta"] == expected
        assert run.task["eta"] == 1.0


def test_a_task_eta_out_of_range_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = (DATA / "tasks" / "iris.toml").read_text().replace("eta = 1.0", "eta = 1.5")
    text = text.replace('"../iris.csv"', f'"{DATA / "iris.csv"}"')
    bad = tmp_path / "iris15.toml"
    bad.write_text(text)
    with pytest.raises(TaskError, match="eta"):
        load_task(str(bad))
