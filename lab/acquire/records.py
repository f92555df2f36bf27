"""What the training loop emits: one record per step, one per test evaluation.

The trainer knows nothing about who listens (run writer, progress bar, live
window). Listeners implement :class:`Observer`; every method has a no-op default, and
each declares with :attr:`Observer.critical` whether its failure must end the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

#: Where a run's digipot codes come from (`RunInfo.codes`): ``"exact"`` read back by an
#: exact resistance probe, ``"estimated"`` by `lab.observe.probe.EstimatedProbe` from node
#: voltages (with a per-edge uncertainty), ``"unknown"`` none (positions -1 throughout).
Codes = Literal["exact", "estimated", "unknown"]


@dataclass(slots=True)
class StepRecord:
    """One training step, measured before the step's clock pulse changed the network.

    Shapes: ``inputs`` (n_inputs,), ``v_free``/``v_clamped``/``v_desired`` (n_outputs,),
    ``positions`` (n_edges,) digipot codes *after* the pulse, ``update_mask`` (n_edges,)
    bool and ``direction`` (n_edges,) int8 in {-1, 0, +1} where the bench can observe
    them (``None`` otherwise), ``positions_sd`` (n_edges,) the standard deviation of each
    estimated code in code steps (``None`` unless the codes are estimated). Voltages in
    V, ``error`` in V^2, ``time`` in s since start.

    Observers may keep a record: its producer never reuses or mutates it or its arrays.
    """

    step: int
    time: float
    example: int
    inputs: np.ndarray
    v_free: np.ndarray
    v_clamped: np.ndarray
    v_desired: np.ndarray
    error: float
    positions: np.ndarray
    update_mask: np.ndarray | None = None
    direction: np.ndarray | None = None
    positions_sd: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class TestRecord:
    """A test-set evaluation (free states only) taken before training step ``step``.

    ``v_free`` (n_test, n_outputs) V; ``error`` mean squared error in V^2;
    ``accuracy`` fraction correct for classification tasks, NaN otherwise.
    """

    __test__ = False  # not a pytest test class

    step: int
    time: float
    error: float
    accuracy: float
    v_free: np.ndarray


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Everything known when a run starts; written as the run file's metadata.

    ``settings`` and ``bench`` are JSON-able dicts; ``task`` is the task's JSON-able
    description (name, kind, nodes, voltages, data). Node labels are 1-based.

    ``positions_estimated``: the codes are not read back (estimated or unknown);
    ``codes``: where they come from (`Codes`); ``codes_note``: for ``"unknown"``, one line
    saying why (`lab.observe.requirements.check_supports_estimation`'s, or that the
    estimator is off); ``has_uncertainty``: steps carry ``positions_sd``.
    """

    task: dict[str, Any]
    settings: dict[str, Any]
    bench: dict[str, Any]
    network: dict[str, Any]
    n_inputs: int
    n_outputs: int
    n_edges: int
    n_test: int
    positions_estimated: bool
    has_updates: bool
    start_time: str
    twinlab_version: str
    extra: dict[str, Any] = field(default_factory=dict)
    codes: Codes = "exact"
    codes_note: str = ""
    #: "" when every drive state is checked against the bench's current limits; else one
    #: line saying why not (the codes are unknown)
    currents_note: str = ""
    has_uncertainty: bool = False


@dataclass(frozen=True, slots=True)
class RunSummary:
    """How a run ended. ``complete`` is False after an error, a stop request or Ctrl-C.
    ``warnings``: one line each of what the run found wrong while it went on
    (`Trainer.warnings`: an edge that does not step); ``resyncs``: the estimator's
    tomographies (`lab.observe.probe.EstimatedProbe.resyncs`; None: codes not estimated)."""

    steps: int
    complete: bool
    initial_error: float
    final_error: float
    scaled_error: float
    end_time: str
    message: str = ""
    final_test_error: float = float("nan")
    final_accuracy: float = float("nan")
    warnings: tuple[str, ...] = ()
    resyncs: int | None = None


class Observer:
    """Listener of a training run. Override what you need; defaults do nothing.

    :attr:`critical` says what the run does when a call to this observer raises an
    ``Exception`` (Bluesky wraps its view callbacks, LiveTable and LivePlot, in
    ``make_class_safe``, which logs and goes on, and leaves the callbacks that store data
    unwrapped; here each observer says which it is):

    * ``True`` (the default: an observer that does not say otherwise may hold data the run
      must not lose): the run ends as on an instrument error: bench safe, every observer
      stopped with ``complete=False`` and the error's message, the exception raised on.
    * ``False`` (a view: the progress bar, the live window's batcher): the trainer logs the
      failure once (warning, naming the observer and the step), makes no further
      ``start``/``step``/``test`` calls to it and trains on. It still gets its one ``stop``
      call at the end, to release what it holds; `Trainer.detached` lists the failures.

    A ``KeyboardInterrupt`` (a signal) raised inside any observer always ends the run.
    """

    critical: bool = True  # a class attribute; an instance may set its own

    def start(self, info: RunInfo) -> None:
        """Called once before the first step."""

    def step(self, record: StepRecord) -> None:
        """Called after every training step."""

    def test(self, record: TestRecord) -> None:
        """Called after every test-set evaluation."""

    def stop(self, summary: RunSummary) -> None:
        """Called exactly once at the end, also after an error or Ctrl-C."""
