"""Parts found through entry points declared in ``pyproject.toml``: bench kinds and
commands. The core names a plugin only by its group and name, never by its module, so
``lab`` stays below ``drivers`` and ``gui`` (as PyVISA finds its backends and pytest its
plugins).

    [project.entry-points."twinlab.benches"]    KIND = "module:open_bench"
    [project.entry-points."twinlab.commands"]   NAME = "module:add_command"

A bench kind's ``open_bench(path, raw, *, seed, check=None, validate_only=False)`` turns
a bench file (its path and raw TOML table) into a ready `lab.hal.Bench`, raising
`ConfigError` for a bad field before anything is opened; ``check``
(`lab.hal.benchfile.WiringCheck`), when given, is called with the path and the file's
`lab.hal.Wiring` before any instrument is opened; with ``validate_only=True`` it only
validates (and checks), opens nothing and returns None (`lab.hal.benchfile.check_bench`).
A command's ``add_command(subparsers)`` adds its ``argparse`` sub-parser and sets
``func``; its module must import nothing heavy (it is loaded for every command line).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

BENCHES = "twinlab.benches"
COMMANDS = "twinlab.commands"


def names(group: str) -> list[str]:
    """The registered names of ``group``, sorted."""
    return sorted({ep.name for ep in entry_points(group=group)})


def _entry_point(group: str, name: str) -> EntryPoint | None:
    found = entry_points(group=group, name=name)
    return next(iter(found), None)


def load(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group``; LookupError if none is.
    ImportError (a missing extra) propagates, for the caller to name the extra."""
    ep = _entry_point(group, name)
    if ep is None:
        raise LookupError(f"no {group} entry point named {name!r}")
    return ep.load()


__all__ = ["BENCHES", "COMMANDS", "load", "names"]
