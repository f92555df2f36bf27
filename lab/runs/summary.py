"""The one definition of a run's summary errors (pure numpy: no h5py, no emulator).

Used by the trainer (`lab.acquire.trainer.Trainer`, at the end of a run) and by the run
file reader (`lab.runs.RunReader.summary`, for a file that lacks the trainer's values,
e.g. a killed run), so both give the same numbers for the same run.

* Single-example tasks (``n_train <= 1``), or a multi-example task tested fewer than twice:
  ``initial_error`` is the first step's training error and ``final_error`` the mean of the
  last ``min(FINAL_WINDOW, steps)`` training errors (V^2); NaN for both when no step ran.
* Multi-example tasks tested at least twice: the first and the last test error (V^2).
* ``scaled_error = final_error / initial_error``; NaN when the initial error is zero or
  not finite (NaN or infinite), so a run that started from an unusable error never reports
  a scaled error of 0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from lab.runs.schema import column_units

#: The final training error is the mean over this many last steps (fewer if the run is short).
FINAL_WINDOW = 50

#: The units of every error of a run (training and test errors alike): the step column's.
ERROR_UNITS = column_units("error")
#: The units of a run summary's figures (`lab.runs.RunReader.summary` and what ``twinlab
#: info`` adds: the final row's worst and median ``positions_sd`` over the edges, an
#: estimated run's); a ratio is "1".
SUMMARY_UNITS: dict[str, str] = {
    "initial_error": str(ERROR_UNITS), "final_error": str(ERROR_UNITS),
    "final_test_error": str(ERROR_UNITS), "scaled_error": "1: final over initial error",
    "final_accuracy": "1: fraction",
    "positions_sd_worst": str(column_units("positions_sd")),
    "positions_sd_median": str(column_units("positions_sd")),
    "resyncs": "1: count",
}  # fmt: skip


class SummaryErrors(NamedTuple):
    """A run's summary errors: ``initial``, ``final`` (V^2) and ``scaled`` (dimensionless)."""

    initial: float
    final: float
    scaled: float


def scaled_error(initial: float, final: float) -> float:
    """``final / initial``; NaN when ``initial`` is zero or not finite."""
    return float(final) / float(initial) if initial and math.isfinite(initial) else math.nan


def tested_errors(n_train: int, n_tests: int) -> bool:
    """True when the summary errors are test errors (a multi-example task tested at least
    twice: the first and the last evaluation), False when they are training errors (the
    first step's and the mean of the last ``min(FINAL_WINDOW, steps)``)."""
    return n_train > 1 and n_tests >= 2


def summary_errors(
    *,
    n_train: int,
    first_error: float,
    last_errors: np.ndarray,
    n_tests: int = 0,
    first_test_error: float = math.nan,
    last_test_error: float = math.nan,
) -> SummaryErrors:
    """The summary errors of a run (rules in the module docstring).

    ``first_error`` is the first step's training error, ``last_errors`` the last
    ``min(FINAL_WINDOW, steps)`` training errors, shape (k,), empty when no step ran;
    ``n_tests`` is how many test evaluations ran, the first and last giving
    ``first_test_error`` / ``last_test_error`` (V^2)."""
    last = np.asarray(last_errors, dtype=float)
    if tested_errors(n_train, n_tests):
        initial, final = float(first_test_error), float(last_test_error)
    elif last.size:
        initial, final = float(first_error), float(np.mean(last[-FINAL_WINDOW:]))
    else:
        initial = final = math.nan
    return SummaryErrors(initial, final, scaled_error(initial, final))


__all__ = ["ERROR_UNITS", "FINAL_WINDOW", "SUMMARY_UNITS", "SummaryErrors", "scaled_error",
           "summary_errors", "tested_errors"]
