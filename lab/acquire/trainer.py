"""The coupled-learning loop over any `Bench`, emitting one record per step.

One step (ARCHITECTURE.md): apply the example's inputs to both twins, read the
free twin's outputs V_F, hold the clamped twin's outputs at
V_C = eta V_D + (1 - eta) V_F, pulse the clock once (every enabled edge compares
its two drops and steps), then emit a `StepRecord` to every observer. The loop
knows nothing about who listens. Whatever happens (error, stop, Ctrl-C), the bench
goes to its safe state and every observer gets `stop` with ``complete=False``. An
observer's own failure ends the run only when the observer is ``critical``
(`lab.records.Observer`); a non-critical one is logged once, detached, and the run goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lab import __version__
from lab.acquire.records import Observer, RunInfo, RunSummary, StepRecord, TestRecord
from lab.acquire.settings import TrainSettings
from lab.acquire.stuck import StuckWatch
from lab.errors import ConfigError
from lab.hal import TWINS, Bench, Limits, Twin, Wiring, output_what
from lab.runs.summary import FINAL_WINDOW, summary_errors
from lab.signals import interrupt_name
from lab.tasks import Task, TaskError

if TYPE_CHECKING:  # numba (lab.core.network): loaded when a run starts, not on import
    from lab.observe.model import DigipotModel

log = logging.getLogger(__name__)

class ErrorTrace:
    """A run's training errors (V^2) in bounded memory: the first one, the last ``window``
    ones and how many there were (``len``). Memory does not grow with the run length.

    Indexing works on the errors kept: ``trace[0]``, ``trace[-1]``, ``trace[-10:]`` (any
    index or slice inside the first error or the last ``window``); others raise IndexError.
    """

    __slots__ = ("_count", "_first", "_last")

    def __init__(self, window: int = FINAL_WINDOW) -> None:
        self._first = float("nan")
        self._count = 0
        self._last: deque[float] = deque(maxlen=window)

    def append(self, error: float) -> None:
        if not self._count:
            self._first = error
        self._count += 1
        self._last.append(error)

    def __len__(self) -> int:
        return self._count

    @property
    def first(self) -> float:
        """The first step's error (NaN before any step)."""
        return self._first

    @property
    def last(self) -> np.ndarray:
        """The last ``min(window, len)`` errors, oldest first, shape (k,)."""
        return np.fromiter(self._last, dtype=float, count=len(self._last))

    def __iter__(self) -> Iterator[float]:
        if self._count > len(self._last):
            raise IndexError(f"only the first and the last {len(self._last)} of "
                             f"{self._count} errors are kept; record steps to keep all")
        return iter(self._last)

    def __getitem__(self, key: int | slice) -> float | list[float]:
        n, tail = self._count, len(self._last)
        picked = range(n)[key]
        rows = [picked] if isinstance(picked, int) else list(picked)
        out = []
        for i in rows:
            if i >= n - tail:
                out.append(self._last[i - (n - tail)])
            elif i == 0:
                out.append(self._first)
            else:
                raise IndexError(f"error {i} of {n} is not kept (the first and the last "
                                 f"{tail} are); record steps to keep all")
        return out[0] if isinstance(picked, int) else out


def _estimator(bench: Bench, settings: TrainSettings) -> tuple[Any, str]:
    """(the `EstimatedProbe` for a bench without a probe, or None; why not, or "") as
    ``settings.estimate`` asks: "off" never, "auto" when `check_supports_estimation`
    allows, "on" too but a bench that cannot support it is a ConfigError (nothing
    applied)."""
    if settings.estimate == "off":
        return None, "no resistance probe, and the estimator is off (estimate = off)"
    from lab.observe.probe import EstimatedProbe
    from lab.observe.requirements import check_supports_estimation

    reason = check_supports_estimation(bench)
    if reason is None:
        return EstimatedProbe(bench, settings.p), ""
    if settings.estimate == "on":
        raise _cannot_estimate("settings", reason)
    return None, f"no resistance probe, and the bench cannot support the estimator: {reason}"


def channel_needs(task: Task) -> list[tuple[str, Twin, tuple[int, ...], str]]:
    """The channels a run of ``task`` needs (one definition): (kind, twin, nodes, why) per
    role, what `check_task_wiring` checks before anything is applied."""
    inputs, outputs, fixed = (tuple(task.input_nodes), tuple(task.output_nodes),
                              tuple(task.fixed_nodes))
    needs: list[tuple[str, Twin, tuple[int, ...], str]] = []
    for twin in TWINS:
        needs.append(("drive", twin, inputs, f"{_nodes('input', inputs)} driven on both twins"))
        needs.append(("drive", twin, fixed, f"{_nodes('fixed node', fixed)} driven on both "
                      "twins"))
    # the free twin's outputs are only read: released where a drive channel reaches them,
    # floating anyway where none does (`Trainer.run`)
    needs += [
        ("sense", "free", outputs, f"{_nodes('output', outputs)} read on the free twin"),
        ("drive", "clamped", outputs, f"{_nodes('output', outputs)} held on the clamped twin"),
    ]
    return [need for need in needs if need[2]]


def _nodes(noun: str, nodes: Sequence[int]) -> str:
    """"the task's output 3 is" / "the task's outputs 3, 4 are"."""
    labels = ", ".join(str(n) for n in nodes)
    return f"the task's {noun} {labels} is" if len(nodes) == 1 else \
        f"the task's {noun}s {labels} are"


def check_task_wiring(
    source: str | Path | None, wiring: Wiring | Bench, task: Task, settings: TrainSettings,
    *, has_probe: bool | None = None,
) -> None:
    """Refuse (one line naming ``source``, the bench file, and its field; None: a bench
    built otherwise, "channel map: ...") what depends only on the bench file and the
    task: the task's network, its nodes, the channels a run needs (`channel_needs`), the
    task's voltages within their channels' limits (`check_task_volts`), and
    ``estimate = on`` on a bench without a probe that cannot support the estimator.
    Touches no instrument: `load_bench`'s ``check`` (before any is opened) and `Trainer`
    (again, for a bench built otherwise; ``has_probe=True``: `_estimator` says why not)."""
    net = wiring.network
    if task.network != net.name:
        bench = "the bench" if source is None else f"the bench file {source}"
        raise TaskError(f"task {task.name!r} is for network {task.network!r}, {bench} has "
                        f"{net.name!r}")
    for role, nodes in (("input", task.input_nodes), ("output", task.output_nodes),
                        ("fixed", task.fixed_nodes)):
        try:
            net.index_of(tuple(nodes))
        except ValueError as exc:
            raise TaskError(f"task {task.name!r}: {role} {exc}") from None
    have = {(ch.kind, ch.twin, ch.node) for ch in wiring.channels}
    where = "channel map" if source is None else f"{source}: field 'channels'"
    for kind, twin, nodes, why in channel_needs(task):
        for node in nodes:
            if (kind, twin, node) not in have:
                raise ConfigError(f"{where}: node {node} of the {twin} twin has no {kind} "
                                  f"channel (needed: {why})")
    check_task_volts(wiring, task)
    if has_probe is None:
        has_probe = wiring.has_probe if isinstance(wiring, Wiring) else wiring.probe is not None
    if settings.estimate == "on" and not has_probe:
        from lab.observe.requirements import check_supports_estimation

        reason = check_supports_estimation(wiring)
        if reason is not None:
            raise _cannot_estimate("settings" if source is None else source, reason)


def check_task_volts(wiring: Wiring | Bench, task: Task) -> None:
    """Refuse (LimitError, `Limits.check`'s one message, naming the task's file and field
    or example, `Task.value_origin`) the first task voltage outside the limits of the
    drive channel that would write it: the inputs (training rows, then test rows) and
    fixed nodes on the free twin, the desired outputs on the clamped twin. From the
    channel map alone (no instrument); every needed channel exists (`check_task_wiring`
    checked it first)."""
    by_node = {(ch.twin, ch.node): ch for ch in wiring.channels if ch.kind == "drive"}
    checks = [
        ("free", "input", task.input_nodes,
         np.concatenate([task.train_inputs, task.test_inputs])),
        ("free", "fixed", task.fixed_nodes, np.asarray(task.fixed_volts)[None, :]),
        ("clamped", "output", task.output_nodes,
         np.concatenate([task.train_desired, task.test_desired])),
    ]  # fmt: skip
    for twin, role, nodes, volts in checks:
        if not len(nodes):
            continue
        chans = [by_node[(twin, int(node))] for node in nodes]
        values = np.atleast_2d(np.asarray(volts, dtype=float))
        low = np.array([ch.limits[0] for ch in chans])
        high = np.array([ch.limits[1] for ch in chans])
        outside = ~((values >= low) & (values <= high))  # NaN refused
        if outside.any():
            row, col = (int(i) for i in np.argwhere(outside)[0])
            ch = chans[col]
            Limits(*ch.limits).check(float(values[row, col]), output_what(ch),
                                     who=task.value_origin(role, ch.node, row),
                                     label="the channel limits")  # fmt: skip


def _cannot_estimate(source: str | Path, reason: str) -> ConfigError:
    """The one refusal of ``estimate = on`` on a bench that cannot support the estimator."""
    return ConfigError(f"{source}: estimate = on, but the bench cannot support the "
                       f"estimator: {reason}")


class StopRequested(Exception):
    """Raised inside the loop when `Trainer.request_stop` was called."""


def _uncertainty(probe: Any) -> Any:
    """The probe's ``uncertainty()`` (each code's sd (E,), code steps) when it is an
    estimator that has one, else None."""
    if probe is None or not getattr(probe, "estimated", False):
        return None
    return getattr(probe, "uncertainty", None)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Trainer:
    """Runs one coupled-learning experiment of ``settings`` for ``task`` on ``bench``.

    Thread-safe controls: `request_stop`, `pause`, `resume` (checked between steps).
    """

    def __init__(
        self,
        bench: Bench,
        task: Task,
        settings: TrainSettings,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.bench = bench
        self.task = task
        self.settings = settings
        self.observers = list(observers)
        self._stop = False
        self._stop_reason = "stopped on request"
        self._running = threading.Event()
        self._running.set()
        self._inputs = tuple(task.input_nodes)
        self._outputs = tuple(task.output_nodes)
        self._fixed = tuple(task.fixed_nodes)
        self.desired = np.array(task.train_desired, dtype=float)  # (n_train, n_out), may be re-set
        self.class_targets: np.ndarray | None = None  # (n_classes, n_out) for classification
        #: "pattern-means" targets: one per group of `Task.train_groups` that has training
        #: examples, (n_groups, n_out) V, and each one's class (n_groups,)
        self.group_targets: np.ndarray | None = None
        self.group_class: np.ndarray | None = None
        #: After `run`: the bench's safe-state report (`Bench.safe_state`), one line per
        #: instrument and reason naming the channels that could not be made safe and
        #: verified; empty means the bench is safe.
        self.unsafe: list[str] = []
        #: After a `run` that raised: the step it failed at (the steps before it are
        #: recorded), None when it failed before the first step or did not fail.
        self.failed_step: int | None = None
        # Bounded per-run state (memory does not grow with the number of steps or tests):
        self.errors = ErrorTrace(FINAL_WINDOW)  # training errors: first, last FINAL_WINDOW, count
        self.first_test_error = float("nan")  # V^2
        self.last_test_error = float("nan")  # V^2
        self.last_test_accuracy = float("nan")
        self.n_tests = 0
        #: The probe the run records: the bench's, or an estimator when it has none
        #: (`TrainSettings.estimate`; hooks ``start``/``before_pulse``/``after_pulse``).
        self.probe = bench.probe
        #: Without a probe: one line saying why the codes are unknown ("" otherwise).
        self.codes_note = ""
        #: After `run`: one line per non-critical observer that failed and was detached
        #: ("Progress at step 12: ZeroDivisionError: ..."), in order.
        self.detached: list[str] = []
        #: One line per edge the run found not stepping (`lab.acquire.stuck.StuckWatch`),
        #: in order, as they came (`_warn`); kept in the summary (the run file's
        #: ``warnings``).
        self.warnings: list[str] = []
        #: Called with each warning line as it comes (the command line prints it).
        self.on_warning: Callable[[str], None] | None = None
        self._active: tuple[Observer, ...] = tuple(self.observers)  # those still called
        self._check()
        if self.probe is None:
            self.probe, self.codes_note = _estimator(bench, settings)
            if self.codes_note:
                log.info("codes unknown: %s", self.codes_note)
        #: Without knowledge of the codes: one line saying the currents are not checked
        #: ("" when every drive state is checked against `Bench.currents`).
        self.currents_note = "" if self.probe is not None else (
            "currents not checked: the digipot codes are unknown, so the bench's limits "
            f"({bench.currents.edge * 1e3:g} mA per edge, {bench.currents.channel * 1e3:g} mA "
            "per channel) are not enforced"
        )
        if self.currents_note:
            log.debug("%s", self.currents_note)  # the command line and the run file say it
        self._conductance: np.ndarray | None = None  # (2, E) S the checks take, per pulse
        self._codes: np.ndarray | None = None
        self._code_sd: np.ndarray | None = None
        self._k_by_code: np.ndarray | None = None  # (2, E, positions) S, exact probes
        self._edge_index = np.arange(bench.network.n_edges)
        self._safe_spread: tuple[float, float] = (0.0, 0.0)  # V per twin, `Bench.safe_spread`
        self._parts: DigipotModel | None = None

    # -- controls (from any thread) --------------------------------------------------------
    def request_stop(self, reason: str = "stopped on request") -> None:
        """Finish the current step, then end the run (marked incomplete); ``reason`` starts
        the run's message, e.g. ``"interrupted by SIGTERM"``."""
        self._stop_reason = reason
        self._stop = True
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    # -- validation before anything is applied ---------------------------------------------
    def _check(self) -> None:
        """Refuse, before any voltage is applied, what the bench cannot do or must not do."""
        task, bench = self.task, self.bench
        if self.settings.rule != bench.rule:
            raise ConfigError(
                f"settings field 'rule': {self.settings.rule!r}, but the bench's board "
                f"implements {bench.rule!r} (a bench file's [emulator] rule sets it)"
            )
        # the bench file's own check ran before its instruments opened (`load_bench`'s
        # ``check``); again here for a bench built otherwise. The estimator's: `_estimator`
        # (the task's voltages within the channel limits too: `check_task_volts`)
        check_task_wiring(None, bench, task, self.settings, has_probe=True)

    # -- currents ----------------------------------------------------------------------------
    def _part_model(self) -> DigipotModel:
        """The part model the checks take: the estimator's calibrated one, else nominal
        parts (the network file's ``r_end_to_end`` where it has one)."""
        from lab.observe.model import DigipotModel

        model = getattr(self.probe, "model", None)
        if isinstance(model, DigipotModel):
            return model
        if self._parts is None:
            net = self.bench.network
            r_ab = np.asarray(net.parts.get("r_end_to_end", 100e3), dtype=float)
            base = DigipotModel.nominal(net.n_edges)
            self._parts = DigipotModel(np.broadcast_to(r_ab / base.digipot.positions,
                                                       base.step.shape).copy())
        return self._parts

    def _refresh_currents(self) -> None:
        """After a pulse (or before the first): the highest conductances (2, E) S the
        parts may have at the probe's codes (`DigipotModel.lowest` resistances; an
        estimator's codes lowered by 2 of their sd; an exact probe's through a table by
        code, built once) and the drive spread per twin that needs no solve
        (`Bench.safe_spread`). Nothing without a probe."""
        probe = self.probe
        if probe is None:
            return
        codes = np.asarray(probe.positions())
        if probe.estimated:
            unc = _uncertainty(probe)
            sd = np.asarray(unc(), dtype=float) if unc is not None else None
            k = 1.0 / self._part_model().lowest(codes, sd)
        else:
            sd = None
            table = self._k_by_code
            if table is None:
                model = self._part_model()
                low = [model.lowest(np.full(codes.size, c, dtype=float))
                       for c in range(model.digipot.positions)]  # each (2, E)
                table = self._k_by_code = np.ascontiguousarray(1.0 / np.stack(low, axis=2))
            k = table[:, self._edge_index, codes]
        self._codes, self._code_sd, self._conductance = codes, sd, k
        bench = self.bench
        self._safe_spread = (bench.safe_spread("free", k[0]), bench.safe_spread("clamped", k[1]))

    def _guard(self, twin: str, nodes: tuple[int, ...], volts: np.ndarray, what: str,
               state: dict[int, float] | None = None) -> None:
        """Refuse (LimitError naming the edge or channel, the predicted current, the limit
        and the bench file field) driving ``nodes`` of ``twin`` at ``volts`` (n,) V when
        the drive state it makes would exceed the bench's current limits: free when the
        state's spread is within `Bench.safe_spread`, else one solve. ``state`` {node
        label: V}: the drive state it adds to (default: what the bench drives now;
        `preflight` passes the one it predicts; not changed)."""
        if self._conductance is None:
            return
        state = self.bench.drive_state(twin) if state is None else dict(state)
        for node, v in zip(nodes, np.asarray(volts, dtype=float).tolist(), strict=True):
            state[node] = v
        values = state.values()
        t = TWINS.index(twin)
        if max(values) - min(values) <= self._safe_spread[t]:
            return  # proved safe without a solve
        self.bench.check_currents(
            twin, state, 1.0 / self._conductance[t], what=what,
            codes=self._codes, code_sd=self._code_sd)

    def preflight(self) -> None:
        """Before the run file is opened and before anything is applied: LimitError (the
        one message of `_guard`: the edge or channel, the current, the limit, the bench
        file field) when a drive state the first step makes would exceed the bench's
        current limits at the starting codes: the fixed nodes on each twin, every
        training example's inputs on each twin, every test input on the free twin (when
        tested), and, for tasks with given targets, every example's clamped outputs, V_C =
        eta V_D + (1 - eta) V_F with V_F the Kirchhoff solve at the checks' conductances.
        Nothing to check without a probe (`currents_note`). Reads the probe's codes only;
        writes nothing. A limit hit later (the codes drifted) stops the run instead."""
        from lab.core.learning import clamped_outputs  # numba: loaded when a run starts

        self._refresh_currents()
        k = self._conductance
        if k is None:
            return
        task, net = self.task, self.bench.network
        fixed = dict(zip(self._fixed, np.asarray(task.fixed_volts, dtype=float).tolist(),
                         strict=True))
        for twin in TWINS:
            if self._fixed:
                self._guard(twin, self._fixed, task.fixed_volts, "the start (fixed nodes)",
                            state={})
        if self.settings.test_every:
            for i, x in enumerate(task.test_inputs):
                self._guard("free", self._inputs, x,
                            f"the start (a free response, test input row {i})", state=fixed)
        given = task.targets not in ("class-means", "pattern-means")
        out_idx = net.index_of(self._outputs) if given else None
        for i, x in enumerate(task.train_inputs):
            what = f"the start (example {i}'s inputs)"
            for twin in TWINS:
                self._guard(twin, self._inputs, x, what, state=fixed)
            if out_idx is None or not self._outputs:
                continue
            driven = {**fixed, **dict(zip(self._inputs, np.asarray(x, dtype=float).tolist(),
                                          strict=True))}
            v_free = net.solve(k[0], driven)[out_idx]
            v_clamped = clamped_outputs(v_free, self.desired[i], self.settings.eta)
            self._guard("clamped", self._outputs, v_clamped,
                        f"the start (example {i}'s clamped outputs)", state=driven)

    def _drive(self, twin: str, nodes: tuple[int, ...], volts: np.ndarray, what: str) -> None:
        """`Bench.drive` after `_guard`."""
        self._guard(twin, nodes, volts, what)
        self.bench.drive(twin, nodes, volts)

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> RunSummary:
        """Train for ``settings.steps`` steps; returns the summary also sent to observers."""
        from lab.core.learning import clamped_outputs  # numba: loaded when a run starts

        s, task, bench = self.settings, self.task, self.bench
        # The loop allocates small objects at a high rate; entry points (``twinlab train``,
        # the live training process, the window) call `lab.procs.freeze_imported` first,
        # which takes the long-lived objects made at import out of the collector's walks.
        rng = np.random.default_rng([s.seed, 2])
        info = self._info()
        self._active = tuple(self.observers)
        self.detached = []
        for obs in self.observers:
            try:
                obs.start(info)
            except Exception as exc:
                if obs.critical:
                    raise
                self._detach(obs, exc, 0)
        probe = self.probe
        start = getattr(probe, "start", None)
        before_pulse = getattr(probe, "before_pulse", None)
        after_pulse = getattr(probe, "after_pulse", None)
        uncertainty = _uncertainty(probe)
        self.warnings = []
        watch = None if probe is None else StuckWatch(
            bench.network.edge_labels(), s.p, self._part_model().digipot.positions - 1,
            rails=not probe.estimated)
        positions_unknown = np.full(bench.network.n_edges, -1, dtype=np.int16)
        observers = self._active
        inputs, outputs, eta = self._inputs, self._outputs, s.eta
        n_train = task.n_train
        retarget = task.targets in ("class-means", "pattern-means")
        self._refresh_currents()  # the codes as the probe knows them before anything moves
        if retarget and n_train == 1:
            self._retarget()
        step = 0
        looping = False  # whether a failure is at a step (else: at the start)
        complete = False
        message = ""
        self.failed_step = None
        t0 = time.perf_counter()
        try:
            if start is not None:
                start(bench)  # clock idle: before the bias allows any update
            self._refresh_currents()
            before = probe.positions() if probe is not None else positions_unknown  # (E,)
            before_sd = uncertainty() if uncertainty is not None else None  # (E,) codes
            bench.set_probability(s.p)
            for twin in ("free", "clamped"):
                if self._fixed:
                    self._drive(twin, self._fixed, task.fixed_volts, "the start (fixed nodes)")
            wired = {ch.node for ch in bench.channels if ch.kind == "drive" and ch.twin == "free"}
            released = tuple(n for n in outputs if n in wired)  # the rest float unwired
            if released:
                bench.release("free", released)
            current = -1
            order = self._order(rng)
            period = 1.0 / s.rate if s.rate > 0 else 0.0
            due = time.perf_counter()
            looping = True
            for step in range(s.steps):
                if period:
                    due = self._pace(due, period)
                if self._stop or not self._running.is_set():
                    self._wait_or_stop()
                if n_train > 1 and step % n_train == 0:
                    epoch = step // n_train
                    if epoch:
                        order = self._order(rng)
                    if retarget:
                        self._retarget()
                        current = -1
                if s.test_every and step % s.test_every == 0:
                    self._evaluate(step, t0)
                    observers = self._active  # less any that failed on the test
                    current = -1
                example = int(order[step % n_train])
                if example != current:
                    x = task.train_inputs[example]
                    self._drive("free", inputs, x, f"step {step} (example {example}'s inputs)")
                    self._drive("clamped", inputs, x,
                                f"step {step} (example {example}'s inputs)")
                    current = example
                v_free = bench.sense("free", outputs)
                v_desired = self.desired[example]
                v_clamped = clamped_outputs(v_free, v_desired, eta)
                self._drive("clamped", outputs, v_clamped,
                            f"step {step} (example {example}'s clamped outputs)")
                if before_pulse is not None:
                    before_pulse(bench)
                bench.pulse()
                if after_pulse is not None:
                    after_pulse(bench)
                self._refresh_currents()
                diff = v_free - v_desired
                error = float(diff @ diff) / len(diff)
                self.errors.append(error)
                update = probe.last_update() if probe is not None else None
                sd = uncertainty() if uncertainty is not None else None
                codes = probe.positions() if probe is not None else positions_unknown
                if watch is not None and update is not None:
                    for line in watch.observe(before, codes, update[1], before_sd, sd):
                        self._warn(line)
                    before, before_sd = codes, sd
                record = StepRecord(
                    step,
                    time.perf_counter() - t0,
                    example,
                    task.train_inputs[example],
                    v_free,
                    v_clamped,
                    v_desired,
                    error,
                    codes,
                    None if update is None else update[0],
                    None if update is None else update[1],
                    None if sd is None else np.asarray(sd, dtype=np.float32),
                )
                for obs in observers:
                    try:
                        obs.step(record)
                    except Exception as exc:
                        if obs.critical:
                            raise
                        observers = self._detach(obs, exc, step)
            step = s.steps
            if s.test_every:
                self._evaluate(step, t0)
            complete = True
        except StopRequested:
            message = f"{self._stop_reason} after {len(self.errors)} steps"
        except KeyboardInterrupt as exc:
            message = f"interrupted by {interrupt_name(exc)} after {len(self.errors)} steps"
            raise
        except Exception as exc:
            if looping:
                self.failed_step = step
            at = f" at step {step}" if looping else ""
            message = f"{type(exc).__name__}{at}: {exc}"
            raise
        finally:
            self.unsafe = bench.safe_state()  # one line per instrument and reason
            if self.unsafe:
                message = "; ".join(
                    [message, *[f"safe state failed: {f}" for f in self.unsafe]]
                ).strip("; ")
            summary = self._summary(complete, message)
            for obs in self.observers:  # detached ones too: each gets its one stop
                try:
                    obs.stop(summary)
                except Exception as exc:  # one failing observer must not keep others from closing
                    log.error("observer %s failed to stop: %s", type(obs).__name__, exc)
        return summary

    def _detach(self, obs: Observer, exc: Exception, step: int) -> tuple[Observer, ...]:
        """A non-critical observer raised ``exc`` at ``step``: log it once, make no more
        start/step/test calls to it (its `stop` still comes); the observers still called."""
        line = f"{type(obs).__name__} at step {step}: {type(exc).__name__}: {exc}"
        self.detached.append(" ".join(line.split()))
        log.warning("an observer failed and is no longer called (the run goes on): %s",
                    self.detached[-1])
        log.debug("observer %s failed", type(obs).__name__, exc_info=exc)
        self._active = tuple(o for o in self._active if o is not obs)
        return self._active

    def _warn(self, line: str) -> None:
        """A warning of the run (one line): kept in `warnings` and told to `on_warning`
        (then logged at info: the log file has it, the terminal once), else logged as a
        warning; the run goes on."""
        self.warnings.append(line)
        if self.on_warning is None:
            log.warning("%s", line)
            return
        log.info("warning: %s", line)
        self.on_warning(line)

    def _wait_or_stop(self) -> None:
        """Block while paused (outputs stay as they are); raise StopRequested on stop."""
        while not self._running.wait(0.1):
            if self._stop:
                break
        if self._stop:
            raise StopRequested

    def _pace(self, due: float, period: float) -> float:
        """`TrainSettings.rate`: wait until ``due`` (a `time.perf_counter` time, s) unless a
        stop comes; the next step's due time. A run that fell behind (a pause, a slow
        bench) starts a new schedule instead of catching up in a burst."""
        while not self._stop:
            left = due - time.perf_counter()
            if left <= 0:
                break
            time.sleep(min(left, 0.1))
        now = time.perf_counter()
        return now + period if now > due + period else due + period

    def _order(self, rng: np.random.Generator) -> np.ndarray:
        n = self.task.n_train
        return rng.permutation(n) if self.settings.order == "random" else np.arange(n)

    def _free_response(self, inputs: np.ndarray) -> np.ndarray:
        """Free-twin outputs (M, n_out) V for input rows (M, n_in); leaves inputs changed."""
        out = np.empty((len(inputs), len(self._outputs)))
        for i, x in enumerate(inputs):
            self._drive("free", self._inputs, x, f"a free response (input row {i})")
            out[i] = self.bench.sense("free", self._outputs)
        return out

    def _retarget(self) -> None:
        """Classification (after Dillavou et al.): each class's targets become the free
        response to that class's mean training input (+ ``class_margin`` V on its own
        output). ``targets = "pattern-means"``: the same per group (`_retarget_groups`)."""
        task = self.task
        if task.targets == "pattern-means":
            self._retarget_groups()
            return
        labels = task.train_labels
        n_classes = int(labels.max()) + 1
        means = np.stack([task.train_inputs[labels == c].mean(axis=0) for c in range(n_classes)])
        targets = self._free_response(means)
        margin = self.settings.class_margin
        if margin:
            own = np.arange(n_classes) % targets.shape[1]
            targets[np.arange(n_classes), own] += margin
        self.class_targets = targets
        self.desired = targets[labels]

    def _retarget_groups(self) -> None:
        """``targets = "pattern-means"``: one target per group (pattern) with training
        examples: the free response to the group's mean training input, + ``class_margin``
        V on its class's own output (output ``c mod n_out`` for class ``c``); every
        training example's desired output is its group's target."""
        task = self.task
        groups, labels = task.train_groups, task.train_labels
        assert groups is not None and labels is not None  # Task checks it
        present = np.unique(groups)
        means = np.stack([task.train_inputs[groups == g].mean(axis=0) for g in present])
        classes = np.array([labels[groups == g][0] for g in present], dtype=np.int64)
        targets = self._free_response(means)
        margin = self.settings.class_margin
        if margin:
            targets[np.arange(len(present)), classes % targets.shape[1]] += margin
        self.group_targets, self.group_class = targets, classes
        self.desired = targets[np.searchsorted(present, groups)]

    def classify(self, v_free: np.ndarray) -> np.ndarray:
        """Class indices (M,) of free responses ``v_free`` (M, n_out) V: the class of the
        nearest target (squared distance, V^2): the group targets ("pattern-means"),
        else the class targets. Before any retarget: RuntimeError."""
        if self.group_targets is not None and self.group_class is not None:
            targets, classes = self.group_targets, self.group_class
        elif self.class_targets is not None:
            targets = self.class_targets
            classes = np.arange(len(targets))
        else:
            raise RuntimeError("no class targets yet (classify after the first retarget)")
        dist = ((np.asarray(v_free)[:, None, :] - targets[None]) ** 2).sum(-1)
        return classes[dist.argmin(axis=1)]

    def _evaluate(self, step: int, t0: float) -> None:
        """Test-set error (free states only) and, for classification, accuracy (the
        nearest target's class, `classify`); the test error of "pattern-means" is the
        distance to the nearest target of the example's own class."""
        task = self.task
        v_free = self._free_response(task.test_inputs)
        if self.group_targets is not None and task.test_labels is not None:
            assert self.group_class is not None
            dist = ((v_free[:, None, :] - self.group_targets[None]) ** 2).sum(-1)
            own = self.group_class[None, :] == task.test_labels[:, None]
            nearest_own = np.where(own, dist, np.inf).argmin(axis=1)
            desired = self.group_targets[nearest_own]
            accuracy = float(np.mean(self.classify(v_free) == task.test_labels))
        elif self.class_targets is not None and task.test_labels is not None:
            desired = self.class_targets[task.test_labels]
            dist = ((v_free[:, None, :] - self.class_targets[None]) ** 2).sum(-1)
            accuracy = float(np.mean(dist.argmin(axis=1) == task.test_labels))
        else:
            desired = task.test_desired
            accuracy = float("nan")
        error = float(np.mean((v_free - desired) ** 2))
        if not self.n_tests:
            self.first_test_error = error
        self.n_tests += 1
        self.last_test_error, self.last_test_accuracy = error, accuracy
        record = TestRecord(step, time.perf_counter() - t0, error, accuracy, v_free)
        for obs in self._active:
            try:
                obs.test(record)
            except Exception as exc:
                if obs.critical:
                    raise
                self._detach(obs, exc, step)

    # -- metadata --------------------------------------------------------------------------
    def _info(self) -> RunInfo:
        bench, task = self.bench, self.task
        probe = self.probe
        settings = self.settings.model_dump(mode="json")
        settings["bias_volts"] = float(bench.calibration.volts_for(self.settings.p))
        return RunInfo(
            task=task.to_dict(),
            settings=settings,
            bench=bench.config,
            network=bench.network.to_dict(),
            n_inputs=task.n_inputs,
            n_outputs=task.n_outputs,
            n_edges=bench.network.n_edges,
            n_test=task.n_test if self.settings.test_every else 0,
            positions_estimated=True if probe is None else bool(probe.estimated),
            has_updates=probe is not None,
            codes="unknown" if probe is None else
            "estimated" if probe.estimated else "exact",
            codes_note=self.codes_note,
            currents_note=self.currents_note,
            has_uncertainty=_uncertainty(probe) is not None,
            start_time=_now(),
            twinlab_version=__version__,
        )

    def _summary(self, complete: bool, message: str) -> RunSummary:
        """Errors of the run. Single-example tasks: training error (first step, mean of the
        last `FINAL_WINDOW`); multi-example tasks: first and last test error when tested
        (one definition: `lab.runs.summary.summary_errors`)."""
        errors = self.errors
        initial, final, scaled = summary_errors(
            n_train=self.task.n_train, first_error=errors.first, last_errors=errors.last,
            n_tests=self.n_tests, first_test_error=self.first_test_error,
            last_test_error=self.last_test_error)
        return RunSummary(
            steps=len(errors),
            complete=complete,
            initial_error=float(initial),
            final_error=float(final),
            scaled_error=float(scaled),
            end_time=_now(),
            message=message,
            final_test_error=self.last_test_error,
            final_accuracy=self.last_test_accuracy,
            warnings=tuple(self.warnings),
            resyncs=(int(self.probe.resyncs) if getattr(self.probe, "estimated", False)
                     and getattr(self.probe, "resyncs", None) is not None else None),
        )
