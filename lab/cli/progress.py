"""The command line's progress bar, an `Observer` of a training run."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.acquire.records import Observer, RunInfo, RunSummary, StepRecord


def progress_bar(total: int, every: float = 0.2) -> Observer:
    """A tqdm progress bar with steps/s and a training error labelled with the step it
    was measured at (``train error=0.0131 V^2@1536``: one step's error, taken every 16 steps
    at most every ``every`` s, so it is not the error of the step the count shows; at the
    end the last step's, not the summary's final error: `lab.runs.summary`), refreshed a
    few times a second (an `Observer`; made here so that the command line imports numpy
    only when a command needs it)."""
    from lab.acquire.records import Observer
    from lab.runs.summary import ERROR_UNITS

    class Progress(Observer):
        critical = False  # a view: a broken bar is logged once and the run goes on

        def __init__(self, total: int, every: float) -> None:
            self._total, self._every = total, every
            self._bar: Any = None  # made at start: a run refused before it starts shows none
            self._shown = 0
            self._next = 0.0
            self._last: StepRecord | None = None

        def start(self, info: RunInfo) -> None:
            from tqdm import tqdm  # imported here: the bar is a CLI concern

            self._bar = tqdm(
                total=self._total, unit="step", dynamic_ncols=True, mininterval=self._every
            )
            self._next = time.monotonic() + self._every

        def step(self, record: StepRecord) -> None:
            self._last = record
            if record.step & 15 == 0 and time.monotonic() >= self._next:
                self._show(record)
                self._bar.update(record.step + 1 - self._shown)
                self._shown = record.step + 1
                self._next = time.monotonic() + self._every

        def _show(self, record: StepRecord) -> None:
            error = f"{record.error:.3g} {ERROR_UNITS}@{record.step}"
            self._bar.set_postfix({"train error": error},
                                  refresh=False)  # fmt: skip

        def stop(self, summary: RunSummary) -> None:
            if self._bar is not None:
                if self._last is not None:  # a short run showed only its first step's
                    self._show(self._last)
                self._bar.update(summary.steps - self._shown)
                self._bar.close()

    return Progress(total, every)
