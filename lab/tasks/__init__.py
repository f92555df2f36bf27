"""Tasks: the `Task` type, its generators, task files and the iris CSV loader."""

from lab.tasks.files import (
    Task,
    TaskError,
    list_tasks,
    load_task,
    mse,
    random_allostery,
    regression_task,
)

__all__ = [
    "Task",
    "TaskError",
    "list_tasks",
    "load_task",
    "mse",
    "random_allostery",
    "regression_task",
]
