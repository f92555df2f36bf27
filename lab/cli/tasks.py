"""``twinlab tasks``: the shipped tasks."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab tasks`` to the command line's sub-parsers."""
    tasks = sub.add_parser("tasks", help="list the shipped tasks")
    tasks.set_defaults(func=cmd_tasks)


def cmd_tasks(args: argparse.Namespace) -> int:
    from lab.tasks import list_tasks, load_task

    for name in list_tasks():
        task = load_task(name)
        print(f"{name:18s} {task.kind:15s} {task.network:10s} {task.description}")
    return 0
