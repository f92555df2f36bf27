"""The built wheel as a new user gets it (issue 12): built from a copy of the sources,
installed into a temporary venv, run from an empty directory.

The venv is made by this Python (``-m venv --without-pip``) and sees this environment's
site-packages through a ``.pth`` line, so the dependencies are the ones already installed
here, but not this checkout: a ``.pth`` line only adds a directory to ``sys.path``, it does
not run the editable finder that directory holds, and the wheel's own ``lab`` in the venv's
site-packages comes first (asserted). Building needs setuptools >= 68 with ``bdist_wheel``:
this environment's if it has them, else pip's isolated build (the package index or its
cache).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SHIPPED_TASKS = sorted(p.stem for p in (ROOT / "data" / "tasks").glob("*.toml"))
SHIPPED_NETWORKS = sorted(p.stem for p in (ROOT / "data" / "networks").glob("*.toml"))

pytestmark = pytest.mark.wheel


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def _setuptools_needed() -> tuple[int, int]:
    """The lowest setuptools pyproject.toml's ``build-system.requires`` accepts (major,
    minor)."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for req in requires:
        m = re.fullmatch(r"setuptools\s*>=\s*(\d+)(?:\.(\d+))?.*", req.strip())
        if m:
            return int(m.group(1)), int(m.group(2) or 0)
    return (68, 0)


def _can_build_here() -> bool:
    """This environment has the setuptools pyproject.toml asks for (>= 68) with a
    ``bdist_wheel`` (built in from 70.1, else the ``wheel`` package): pip can build
    without an isolated environment."""
    try:
        st = tuple(int(x) for x in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    if st < max((68, 0), _setuptools_needed()):
        return False
    try:
        version("wheel")
        return True
    except PackageNotFoundError:
        return st >= (70, 1)


def _copy_sources(dest: Path) -> None:
    """What the wheel is built from, without the checkout's runs, caches and build dirs."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.h5", "build")
    outputs = shutil.ignore_patterns("runs", "studies")  # data/'s, not the lab.runs package

    def ignore(folder: str, names: list[str]) -> set[str]:
        found = skip(folder, names)
        return found | outputs(folder, names) if Path(folder) == ROOT / "data" else found

    for name in ("lab", "drivers", "gui", "data"):
        shutil.copytree(ROOT / name, dest / name, symlinks=True, ignore=ignore)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() or p.is_symlink()
    }


def _run_file(stdout: str) -> Path:
    m = re.search(r"run file (\S+)\s*$", stdout)
    assert m, stdout
    return Path(m.group(1))


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(venv, its site-packages, the wheel): the wheel built and installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, wheels, venv = tmp / "src", tmp / "dist", tmp / "venv"
    _copy_sources(src)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)]
    if _can_build_here():
        build.insert(4, "--no-build-isolation")
    proc = _run(build)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = wheels.glob("twinlab-*.whl")

    proc = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    proc = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    site = Path(proc.stdout.strip())
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "_twinlab_test_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    proc = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                 "--no-index", "-q", str(wheel)])  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv, site, wheel


def test_wheel_ships_the_data_and_no_top_level_data(wheel_venv: tuple[Path, Path, Path]) -> None:
    import zipfile

    _, _, wheel = wheel_venv
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"lab", "drivers", "gui", f"twinlab-{PROJECT['version']}.dist-info"}
    for task in SHIPPED_TASKS:
        assert f"lab/_data/tasks/{task}.toml" in names
    for network in SHIPPED_NETWORKS:  # the seed-2 tasks name them by relative path
        assert f"lab/_data/networks/{network}.toml" in names
    assert {"lab/_data/iris.csv", "lab/_data/benches/emulator.toml"} <= names
    assert not [n for n in names if n.endswith(".h5")]


def test_wheel_in_a_fresh_venv_from_an_empty_directory(
    wheel_venv: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    venv, site, _ = wheel_venv
    bin_dir = venv / "bin"
    cwd, home = tmp_path / "empty", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "XDG_DATA_HOME")
           and not k.startswith(("TWINLAB_", "NUMBA_"))}  # fmt: skip
    env.update(HOME=str(home), NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
               PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
    before = _snapshot(site)

    def twinlab(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return _run([str(bin_dir / "twinlab"), *args], cwd=cwd, env=dict(env, **extra))

    # the wheel's lab, not this checkout's
    proc = _run([str(bin_dir / "python"), "-c", "import lab; print(lab.__file__, lab.__version__)"],
                cwd=cwd, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lab_file, lab_version = proc.stdout.split()
    assert Path(lab_file).is_relative_to(site) and lab_version == PROJECT["version"]

    if "--version" in twinlab("--help").stdout:
        proc = twinlab("--version")
        assert proc.returncode == 0 and PROJECT["version"] in proc.stdout + proc.stderr

    proc = twinlab("tasks")
    assert proc.returncode == 0, proc.stderr
    listed = sorted(line.split()[0] for line in proc.stdout.splitlines() if line.strip())
    assert listed == SHIPPED_TASKS

    runs = home / ".local" / "share" / "twinlab" / "runs"  # the documented default
    written = []
    for args, task in ((["--steps", "50"], "ii"), (["--task", "iris", "--steps", "50"], "iris")):
        proc = twinlab("train", "--quiet", *args)
        assert proc.returncode == 0, proc.stderr
        run = _run_file(proc.stdout)
        assert run.parent == runs and run.name.endswith(f"_{task}_p1_seed0.h5"), run
        written.append(run)
        info = twinlab("info", str(run), "--json")
        assert info.returncode == 0, info.stderr
        summary = json.loads(info.stdout)
        assert summary["task"] == task and summary["steps"] == 50 and summary["complete"]
    assert "test accuracy" in proc.stdout  # iris is a classification task

    mine = tmp_path / "myruns"
    proc = twinlab("train", "--quiet", "--steps", "20", TWINLAB_RUNS=str(mine))
    assert proc.returncode == 0, proc.stderr
    assert _run_file(proc.stdout).parent == mine

    # $TWINLAB_DATA replaces tasks and benches alike: its own broken default bench is read
    data_copy = tmp_path / "mydata"
    shutil.copytree(site / "lab" / "_data", data_copy)
    (data_copy / "benches" / "emulator.toml").write_text('kind = "emulator"\nlimits = "x"\n')
    proc = twinlab("train", "--quiet", "--steps", "20", TWINLAB_DATA=str(data_copy))
    assert proc.returncode == 2
    assert proc.stderr.startswith("twinlab: error: ") and proc.stderr.count("\n") == 1
    assert str(data_copy / "benches" / "emulator.toml") in proc.stderr

    assert list(cwd.iterdir()) == []
    assert _snapshot(site) == before, "something was written into site-packages"
    in_home = sorted(p for p in home.rglob("*") if p.is_file())
    assert in_home == sorted(written)
