"""Tasks: the `Task` type (`task`), its generators (`generators`), task files (`files`, their
format in `schema`) and the CSV data set of a classification task (`dataset`); the checks
they share are in `checks`."""

from lab.tasks.files import list_tasks, load_task
from lab.tasks.generators import random_allostery, regression_task
from lab.tasks.task import Task, TaskError, mse

__all__ = [
    "Task",
    "TaskError",
    "list_tasks",
    "load_task",
    "mse",
    "random_allostery",
    "regression_task",
]
