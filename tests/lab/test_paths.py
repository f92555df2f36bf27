"""lab.paths: where shipped data is read from and where output goes by default."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import pytest

from lab import paths
from lab.errors import ConfigError
from lab.hal.benchfile import bench_dir, emulator_config
from lab.tasks import list_tasks, load_task

ROOT = Path(__file__).resolve().parents[2]
GOOD = """kind = "allostery"
network = "twin16"
inputs = { 8 = 5.0 }
outputs = { 3 = 4.0 }
fixed = { 9 = 0.0 }
"""


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (paths.ENV_DATA, paths.ENV_RUNS, paths.ENV_STUDIES, "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)


def test_shipped_data_is_lab_package_data_backed_by_the_checkout_data_folder() -> None:
    data = paths.data_dir()
    assert data == Path(str(files("lab") / "_data"))
    assert data.resolve() == (ROOT / "data").resolve()
    assert bench_dir() == data / "benches"
    assert list_tasks() == sorted(p.stem for p in (ROOT / "data" / "tasks").glob("*.toml"))
    assert load_task("iris").n_train == 30  # the CSV, relative to the task file


def test_twinlab_data_replaces_tasks_and_benches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "only.toml").write_text(GOOD)
    (tmp_path / "benches").mkdir()
    shipped = (ROOT / "data" / "benches" / "emulator.toml").read_text()
    (tmp_path / "benches" / "emulator.toml").write_text(shipped.replace("seed = 0", "seed = 41"))
    monkeypatch.setenv(paths.ENV_DATA, str(tmp_path))
    assert list_tasks() == ["only"]
    assert bench_dir() == tmp_path / "benches"
    assert emulator_config().seed == 41
    (tmp_path / "benches" / "emulator.toml").unlink()
    with pytest.raises(ConfigError, match=rf"{tmp_path}.*emulator\.toml.*TWINLAB_DATA"):
        emulator_config()


def test_checkout_outputs_go_to_its_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.checkout_root() == ROOT
    assert paths.runs_dir() == ROOT / "data" / "runs"
    assert paths.studies_dir() == ROOT / "data" / "studies"
    monkeypatch.setenv(paths.ENV_RUNS, "/somewhere/runs")
    monkeypatch.setenv(paths.ENV_STUDIES, "/somewhere/studies")
    assert paths.runs_dir() == Path("/somewhere/runs")
    assert paths.studies_dir() == Path("/somewhere/studies")


@pytest.mark.parametrize(
    ("pyproject", "data", "is_checkout"),
    [
        ('[project]\nname = "twinlab"\n', True, True),
        ('[project]\nname = "twinlab"\n', False, False),  # no data/ folder
        ('[project]\nname = "other"\n', True, False),  # someone else's project
        ("not toml [", True, False),
        (None, True, False),  # site-packages: no pyproject.toml
    ],
)
def test_checkout_detection(
    tmp_path: Path, pyproject: str | None, data: bool, is_checkout: bool
) -> None:
    (tmp_path / "lab").mkdir()
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    if data:
        (tmp_path / "data").mkdir()
    found = paths._checkout_root(tmp_path / "lab")
    assert found == (tmp_path if is_checkout else None)


def test_installed_outputs_go_to_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.runs_dir() == tmp_path / ".local" / "share" / "twinlab" / "runs"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.studies_dir() == tmp_path / "xdg" / "twinlab" / "studies"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: absolute only
    assert paths.runs_dir() == tmp_path / ".local" / "share" / "twinlab" / "runs"


def test_default_run_path_names_p_exactly_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.ENV_RUNS, str(tmp_path))
    now = datetime(2026, 1, 2, 3, 4, 5)
    first = paths.default_run_path("data/tasks/iv.toml", 0.5, 3, now=now)
    assert first == tmp_path / "20260102-030405_iv_p0.5_seed3.h5"
    first.touch()
    second = paths.default_run_path("iv", 0.5, 3, now=now)
    assert second == tmp_path / "20260102-030405_iv_p0.5_seed3-1.h5"


def test_train_from_another_directory_writes_into_the_checkout(tmp_path: Path) -> None:
    """Not into ``./data/runs`` of wherever the user stands (issue 12)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINLAB_")}
    env["PYTHONPATH"] = str(ROOT)
    runs = tmp_path / "runs"
    for extra, where in (({}, ROOT / "data" / "runs"), ({paths.ENV_RUNS: str(runs)}, runs)):
        proc = subprocess.run(
            [sys.executable, "-m", "lab.cli", "train", "--quiet", "--steps", "20"],
            cwd=tmp_path, env=dict(env, **extra), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        run = tmp_path / proc.stdout.rsplit("run file ", 1)[1].strip()  # shown from cwd
        try:
            assert run.parent == where and run.exists()
        finally:
            run.unlink(missing_ok=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
