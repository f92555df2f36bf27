"""Where twinlab reads its shipped data and writes its output: one definition of each.

Shipped data (the task files, the Iris CSV, the bench files) is the package data of ``lab``
under ``lab/_data/`` (``tasks/*.toml``, ``iris.csv``, ``benches/*.toml``), read through
:mod:`importlib.resources`. In the repository ``lab/_data`` is a symlink to the top-level
``data/`` folder, the source of truth; the wheel ships real copies (pyproject.toml,
``[tool.setuptools.package-data]``). ``$TWINLAB_DATA`` replaces the whole directory (tasks and
benches alike).

Output (run files, studies) goes to, in order:

- the command's ``--out`` option;
- ``$TWINLAB_RUNS`` (run files) / ``$TWINLAB_STUDIES`` (study directories);
- in a checkout (``lab/``'s parent holds a ``pyproject.toml`` naming twinlab and a
  ``data/`` folder): ``<checkout>/data/runs`` and ``<checkout>/data/studies``;
- otherwise ``$XDG_DATA_HOME/twinlab/runs`` and ``.../studies`` (``XDG_DATA_HOME`` defaults
  to ``~/.local/share``): never inside site-packages, never the current directory.
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from functools import cache
from importlib.resources import files
from pathlib import Path

__all__ = [
    "ENV_DATA",
    "ENV_RUNS",
    "ENV_STUDIES",
    "checkout_root",
    "data_dir",
    "default_run_path",
    "output_root",
    "runs_dir",
    "studies_dir",
]

#: Replaces the shipped data directory (``tasks/``, ``benches/``, ``iris.csv``).
ENV_DATA = "TWINLAB_DATA"
#: Directory of the run files ``twinlab train`` and the window write by default.
ENV_RUNS = "TWINLAB_RUNS"
#: Directory ``twinlab study`` writes its sweep, figure and statistics to by default.
ENV_STUDIES = "TWINLAB_STUDIES"


def data_dir() -> Path:
    """The shipped data directory: ``$TWINLAB_DATA`` if set, else ``lab``'s package data.

    Holds ``tasks/*.toml``, ``benches/*.toml`` and ``iris.csv``; the only place twinlab finds
    them.
    """
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    return Path(str(files("lab") / "_data"))


@cache
def _checkout_root(package_dir: Path) -> Path | None:
    root = package_dir.parent
    try:
        meta = tomllib.loads((root / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    name = meta.get("project", {}).get("name") if isinstance(meta, dict) else None
    return root if name == "twinlab" and (root / "data").is_dir() else None


def checkout_root() -> Path | None:
    """The source checkout ``lab`` is imported from, or None for an installed wheel.

    A checkout is ``lab/``'s parent directory when it holds a ``pyproject.toml`` whose
    ``[project] name`` is ``twinlab`` and a ``data/`` folder.
    """
    return _checkout_root(Path(__file__).resolve().parent)


def output_root() -> Path:
    """Where output goes by default: ``<checkout>/data``, else ``$XDG_DATA_HOME/twinlab``."""
    root = checkout_root()
    if root is not None:
        return root / "data"
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "twinlab"


def runs_dir() -> Path:
    """The default directory of run files: ``$TWINLAB_RUNS``, else ``output_root()/runs``."""
    env = os.environ.get(ENV_RUNS)
    return Path(env).expanduser() if env else output_root() / "runs"


def studies_dir() -> Path:
    """The default study directory: ``$TWINLAB_STUDIES``, else ``output_root()/studies``."""
    env = os.environ.get(ENV_STUDIES)
    return Path(env).expanduser() if env else output_root() / "studies"


def default_run_path(task: str, p: float, seed: int, *, now: datetime | None = None) -> Path:
    """``runs_dir()/<YYYYmmdd-HHMMSS>_<task>_p<p>_seed<seed>.h5`` (``-1``, ``-2``... appended
    if that file exists); ``task`` is a name or a path (its stem is used), ``p`` in (0, 1]."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}_{Path(task).stem}_p{p:g}_seed{seed}"
    folder = runs_dir()
    path, i = folder / f"{base}.h5", 1
    while path.exists():
        path, i = folder / f"{base}-{i}.h5", i + 1
    return path


def display_path(path: Path) -> str:
    """``path`` as an error message names it: relative to the working directory when it
    lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
