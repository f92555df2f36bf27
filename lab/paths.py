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

Every file the command line writes (a run file's ``--out``, ``--json``, ``netlist -o``,
``calibrate --out``, ``--truth``, ``--write-bench``) is checked before any work by
`check_output_file`: an existing file is refused unless ``--force`` (run and truth files
are never overwritten), and a directory, a parent that is a file or a missing directory
is named in one line. A named file's directory is never created (a typo in it would go
unnoticed); the default directories above are.
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
    "RUN_FILE_NEVER",
    "check_output_file",
    "checkout_root",
    "data_dir",
    "default_run_path",
    "output_problem",
    "output_root",
    "run_file_note",
    "runs_dir",
    "studies_dir",
]

#: Replaces the shipped data directory (``tasks/``, ``benches/``, ``iris.csv``).
ENV_DATA = "TWINLAB_DATA"
#: Directory of the run files ``twinlab train`` and the window write by default.
ENV_RUNS = "TWINLAB_RUNS"
#: Why an existing run file is refused (`check_output_file`'s ``never``): train, gui.
RUN_FILE_NEVER = "a run file is never overwritten"
#: Directory ``twinlab study`` writes its sweep, figure and statistics to by default.
ENV_STUDIES = "TWINLAB_STUDIES"


def run_file_note(path: Path | str, discarded: bool) -> str:
    """How an incomplete run's file ended, the last part of its one line (train, gui):
    ``run file PATH (incomplete)``, or, when nothing was recorded before the first step
    and the writer removed the file (`lab.runs.RunWriter`'s ``discard_empty``), that."""
    if discarded:
        return f"no run file ({path} removed: nothing was recorded before the first step)"
    return f"run file {path} (incomplete)"


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


def output_problem(path: Path, *, create_dirs: bool = False) -> str | None:
    """Why a new file cannot go to ``path``, or None: ``is a directory``, ``D is a file,
    not a directory`` (D the parent or a further ancestor), ``directory D does not exist``
    (D the first missing directory; not a problem with ``create_dirs``), or the OS reason
    an ancestor cannot be looked at. Says nothing about an existing file or permissions."""
    try:
        if path.is_dir():
            return "is a directory; give a file path"
        missing = None
        for up in path.parents:
            if up.exists():
                if not up.is_dir():
                    return f"{up} is a file, not a directory"
                break
            missing = up
    except OSError as exc:
        return f"cannot be written: {exc.strerror or type(exc).__name__}"
    if missing is not None and not create_dirs:
        return f"directory {missing} does not exist"
    return None


def check_output_file(
    path: str | Path, what: str, *, force: bool = False, never: str | None = None
) -> Path:
    """``path`` as a Path when a file can be written there; else `ConfigError`, one line
    ``WHAT PATH: why``. Refused: an empty path, any `output_problem` (a missing directory
    included: it is not created), an existing file unless ``force`` (with ``never``, the
    reason such a file is never overwritten, ``force`` or not), and a file that cannot be
    written (probed by opening it for appending, an existing file unchanged, or creating
    it and removing it again). The one check of every file the command line writes."""
    from lab.errors import ConfigError

    text = str(path)
    if not text.strip():
        raise ConfigError(f"{what}: an empty path; give a file name or leave {what} out")
    path = Path(path)
    problem = output_problem(path)
    if problem is not None:
        raise ConfigError(f"{what} {path}: {problem}")
    try:
        existed = path.exists()
        if existed and never is not None:
            raise ConfigError(f"{what} {path}: exists; {never}")
        if existed and not force:
            raise ConfigError(f"{what} {path}: exists; give --force to overwrite it")
        with open(path, "a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{what} {path}: cannot be written: {reason}") from None
    return path
