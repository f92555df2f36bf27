"""Live training in its own process: the headless side of the live window.

`LiveRun(spec)` spawns a process (multiprocessing, ``spawn`` context) that builds the
bench (`load_bench` of ``spec.bench``, or ``spec.bench_factory()``), loads the task and
runs a `Trainer` with observers ``[RunWriter(spec.out), Batcher]``, as ``twinlab train``
does. The trainer owns a whole CPU core and its own GIL, so whoever watches (the Qt
window) cannot slow it down. What happens comes back as messages (`Message`: small
frozen, picklable dataclasses, defined here only), in order:

    Ready()                            bench opened, settings and task validated
    Started(info)                      the run file exists, the first step follows
    Batch(steps, tests)                steps: {column: array (n, ...)} of consecutive steps
                                       or None; tests: ((step, error V^2), ...); ~30/s at most
    Stopped(summary, run_seconds,      bench safe, run file closed (complete or not);
            detached, cpu_seconds)     wall and CPU (all threads) seconds of `Trainer.run`;
                                       `Trainer.detached`
    Failed(phase, text)                one line; phase "setup" (nothing was applied, the text
                                       is the CLI's message) or "run" (after Started)
    Exited()                           always last

Controls go the other way on a pipe: ``pause``, ``resume``, ``stop`` (after the current
step; ``("stop", reason)`` with the reason the run's message starts with). A pause holds
the loop between two steps (outputs as they are) right after the batch of every step done
so far was sent. SIGINT, SIGTERM and SIGHUP stop the run too,
between two steps (safe state, file marked incomplete, the signal named in its message).

**The parent dies** (the window crashes, is killed, even with SIGKILL): the process
notices at once (`lab.procs.die_with_parent` on the parent's sentinel; no parent-death
signal, which could not stop the run cleanly). A run not yet started is not started (no
voltage applied, no run file); a running one stops after its current step as on
``stop`` (bench safe, file closed, incomplete); and the process exits without waiting to
flush messages nobody will read. Nothing here imports Qt.
"""

from __future__ import annotations

import _thread
import collections
import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from lab import logs, procs
from lab.acquire.records import Observer, RunInfo, RunSummary, StepRecord, TestRecord
from lab.errors import one_line
from lab.hal import Bench
from lab.runs.schema import LIVE_COLUMNS, StepSchema, columns
from lab.signals import interrupted_by, stop_signals

__all__ = [
    "BATCH_INTERVAL",
    "Batch",
    "Batcher",
    "ColumnSource",
    "Exited",
    "Failed",
    "LiveRun",
    "LiveSpec",
    "Message",
    "Ready",
    "Started",
    "Stopped",
    "batch_columns",
    "cpu_seconds",
]

log = logging.getLogger(__name__)

#: Seconds between two batches sent to the window (~30 messages/s at most).
BATCH_INTERVAL = 1 / 30
#: A batch is sent early when it holds this many steps.
BATCH_MAX_ROWS = 32768


@dataclass(frozen=True)
class LiveSpec:
    """What the training process runs (everything picklable).

    ``settings``: `TrainSettings` fields (validated again in the process); ``out``: run
    file; ``bench``/``bench_seed``: `load_bench` arguments, unless ``bench_factory`` (a
    module-level callable returning a `Bench`, run in the training process) is given.
    """

    settings: dict[str, Any]
    out: str
    bench: str | None = None
    bench_seed: int | None = None
    bench_factory: Callable[[], Bench] | None = None
    batch_interval: float = BATCH_INTERVAL
    extra: dict[str, Any] = field(default_factory=dict)
    #: `lab.logs.configure` keywords for the training process (default: the parent's
    #: current configuration: the same -v, log file and instrument I/O log)
    logging: dict[str, Any] = field(default_factory=logs.options)


@dataclass(frozen=True, slots=True)
class Ready:
    """The bench is open, the settings and the task are valid; the run starts next."""


@dataclass(frozen=True, slots=True)
class Started:
    """The run began (its file exists); ``info`` is the run file's metadata."""

    info: RunInfo


@dataclass(frozen=True, slots=True)
class Batch:
    """Steps and tests since the previous batch. ``steps``: `batch_columns` of
    consecutive steps, or None when only tests came; ``tests``: ((step, error V^2), ...)."""

    steps: dict[str, np.ndarray] | None
    tests: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Stopped:
    """The run ended: bench safe (unless ``summary.message`` says a safe state failed),
    run file closed. ``run_seconds``: wall time of `Trainer.run`; ``detached``: one line
    per non-critical observer that failed during the run (`Trainer.detached`);
    ``cpu_seconds``: CPU time of the training process (every thread, user + system)
    during `Trainer.run` (``cpu_seconds / run_seconds`` is about 1.0: one core);
    ``discarded``: the run recorded nothing and its file was removed (as ``twinlab
    train``'s, `lab.runs.RunWriter`'s ``discard_empty``)."""

    summary: RunSummary
    run_seconds: float
    detached: tuple[str, ...] = ()
    cpu_seconds: float = float("nan")
    discarded: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    """One line. ``phase`` "setup": nothing was applied (the text is the CLI's message);
    "run": after `Started` (bench made safe, run file incomplete)."""

    phase: Literal["setup", "run"]
    text: str


@dataclass(frozen=True, slots=True)
class Exited:
    """Always the last message of a training process."""


#: What a training process sends, in the order of the module doc.
Message = Ready | Started | Batch | Stopped | Failed | Exited


def batch_columns(rows: list[StepRecord], schema: StepSchema) -> dict[str, np.ndarray]:
    """The live columns (`lab.runs.schema.LIVE_COLUMNS`) of consecutive step records:
    ``step`` (n,) int64, ``error`` (n,) V^2, ``positions`` (n, E) int16,
    ``v_free``/``v_clamped``/``v_desired`` (n, n_out) V, ``inputs`` (n, n_in) V, when the
    bench observes updates (``schema.has_updates``) ``update_mask`` (n, E) bool and, when
    the codes are estimated (``schema.has_uncertainty``), ``positions_sd`` (n, E) float32
    code steps."""
    return columns(rows, schema, LIVE_COLUMNS)


class ColumnSource(Protocol):
    """Who builds a batch's step columns for a `Batcher`: `lab.runs.RunWriter`, which
    builds them anyway for the run file (`RunWriter.shared_columns`)."""

    def shared_columns(self, rows: list[StepRecord]) -> dict[str, np.ndarray] | None:
        """Every step column of the consecutive records ``rows``, or None (build them)."""


class Batcher(Observer):
    """Observer that sends what the trainer emits as `Started` and `Batch` messages, at
    most one batch per ``interval`` seconds (or every `BATCH_MAX_ROWS` steps), through
    ``send``. ``step`` only keeps the record (the trainer never mutates it).

    ``source`` (the run's `RunWriter`, an observer before this one): a batch's columns
    are sliced from the columns the writer builds for its file (`ColumnSource`), so each
    step's columns are built once; when it has not got them all (None), or without a
    source, the batcher builds them (`batch_columns`). Either way the batch is the same.

    `pause` (from another thread) makes the next ``step`` send its batch and then block
    until `resume`: the trainer's loop halts between two steps with the window up to date.

    Not critical: the batcher is a view of the run, the run file its record. If it fails
    (a bug), the trainer logs it, detaches it and trains on: the file is complete, the
    window stops updating and is told at the end (`Stopped.detached`); pausing no longer
    holds the loop then. The window's death is not a batcher failure (``send`` does not
    raise then): the orphan logic below stops the run.
    """

    critical = False

    def __init__(self, send: Callable[[Message], None],
                 interval: float = BATCH_INTERVAL, source: ColumnSource | None = None) -> None:
        self._send = send
        self.source = source
        self.interval = float(interval)
        self._rows: list[StepRecord] = []
        self._tests: list[tuple[int, float]] = []
        self._schema: StepSchema | None = None  # the run's columns, from `start`
        self._due = 0.0
        self._paused = False
        self._go = threading.Event()
        self.summary: RunSummary | None = None

    def pause(self) -> None:
        self._go.clear()
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._go.set()

    def start(self, info: RunInfo) -> None:
        self._schema = StepSchema.of(info)
        self._send(Started(info))
        self._due = time.monotonic() + self.interval

    def step(self, record: StepRecord) -> None:
        rows = self._rows
        rows.append(record)
        if len(rows) >= BATCH_MAX_ROWS or time.monotonic() >= self._due:
            self.flush()
        if self._paused:
            self.flush()
            self._go.wait()
            self._due = time.monotonic() + self.interval

    def test(self, record: TestRecord) -> None:
        self._tests.append((int(record.step), float(record.error)))

    def flush(self) -> None:
        """Send the kept steps and tests now (nothing when there are none)."""
        self._due = time.monotonic() + self.interval
        if not self._rows and not self._tests:
            return
        steps = None
        if self._rows:
            if self._schema is None:
                raise RuntimeError("Batcher got steps before start")
            steps = self._columns(self._rows, self._schema)
        tests, self._rows, self._tests = tuple(self._tests), [], []
        self._send(Batch(steps, tests))

    def _columns(self, rows: list[StepRecord], schema: StepSchema) -> dict[str, np.ndarray]:
        """`batch_columns` of ``rows``: the source's (sliced) when it has them."""
        cols = self.source.shared_columns(rows) if self.source is not None else None
        if cols is None:
            return batch_columns(rows, schema)
        return {c.name: cols[c.name] for c in schema.live}

    def stop(self, summary: RunSummary) -> None:
        self.summary = summary  # first: kept even if a broken batcher fails again here
        self.flush()


def _control(ctrl: Connection, trainer: Any, batcher: Batcher) -> None:
    """Training-process thread: apply the parent's commands (``("stop", reason)``: stop
    with that reason); EOF (parent gone) stops."""
    while True:
        try:
            cmd = ctrl.recv()
        except (EOFError, OSError):
            cmd = "stop"
        if isinstance(cmd, tuple) and cmd[0] == "stop":
            trainer.request_stop(str(cmd[1]))  # checked before the next step
            batcher.resume()
            return
        if cmd == "stop":
            trainer.request_stop()
            batcher.resume()
            return
        if cmd == "pause":
            batcher.pause()
        elif cmd == "resume":
            batcher.resume()


class _ParentGone(RuntimeError):
    """The window's process ended before the run could start."""


class _Orphan:
    """The training process's reaction to its parent's death (see the module doc)."""

    def __init__(self, out: Any, batcher: Batcher) -> None:
        self._out, self._batcher = out, batcher
        self._lock = threading.Lock()
        self._trainer: Any = None
        self.gone = threading.Event()

    def parent_died(self) -> None:
        """On the watcher thread: nobody reads our messages; stop any run."""
        with self._lock:
            self.gone.set()
            trainer = self._trainer
        self._out.cancel_join_thread()  # exit without flushing the queue into a dead pipe
        if trainer is not None:
            trainer.request_stop()  # checked before the next step
        self._batcher.resume()

    def check(self) -> None:
        """_ParentGone if the parent is gone (between set-up stages)."""
        if self.gone.is_set():
            raise _ParentGone("the window's process is gone; run not started")

    @property
    def trainer(self) -> Any:
        """The run's trainer once attached, else None."""
        return self._trainer

    def attach(self, trainer: Any) -> None:
        """The run about to start: stopped by a later death; _ParentGone after an earlier."""
        with self._lock:
            self.check()
            self._trainer = trainer

    def join_queue(self) -> None:
        """``out.join_thread()`` (every message flushed), unless the parent dies meanwhile."""
        joiner = threading.Thread(target=self._out.join_thread, daemon=True,
                                  name="twinlab-queue-join")  # fmt: skip
        joiner.start()
        while joiner.is_alive() and not self.gone.wait(0.05):
            pass



def cpu_seconds() -> float:
    """CPU seconds (user + system, every thread) this process has used so far."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _warm_up() -> None:
    """A throwaway 64-step run on a fresh emulator (run file in a temporary directory):
    the compiled kernels' first calls and h5py's first file happen here, at process start,
    not inside the timed run. Never applies anything to the real bench; failures are
    ignored (the real run reports its own)."""
    import tempfile

    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.emulator import emulator_bench
    from lab.runs import RunWriter
    from lab.tasks import load_task

    with contextlib.suppress(Exception), tempfile.TemporaryDirectory() as tmp:
        bench = emulator_bench()
        try:
            writer = RunWriter(Path(tmp) / "warm.h5")
            warm = Trainer(bench, load_task("ii"), settings_from(task="ii", steps=64),
                           [writer, Batcher(lambda msg: None, source=writer)])  # fmt: skip
            warm.preflight()  # the real run's pre-flight solves too (its kernel here)
            warm.run()
        finally:
            bench.close()


def run_child(spec: LiveSpec, out: Any, ctrl: Connection) -> None:
    """Body of the training process (see module doc); ``out`` is the message queue."""
    send = out.put
    batcher = Batcher(send, spec.batch_interval)
    orphan = _Orphan(out, batcher)
    procs.die_with_parent(orphan.parent_died, pdeathsig=False)

    def stop(signum: int) -> None:
        """SIGINT/SIGTERM/SIGHUP: stop between two steps (safe state, file closed); before
        the run exists, interrupt the set-up (the handler then raises `Interrupted`)."""
        trainer = orphan.trainer
        if trainer is None:
            _thread.interrupt_main(signum)
            return
        trainer.request_stop(interrupted_by(signum))
        batcher.resume()

    with stop_signals(stop):
        _run_child(spec, ctrl, send, batcher, orphan)
    out.close()
    orphan.join_queue()


def _run_child(
    spec: LiveSpec, ctrl: Connection, send: Callable[[Message], None], batcher: Batcher,
    orphan: _Orphan,
) -> None:
    """Set up and run; every outcome is sent as messages (see the module doc)."""
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer, check_task_wiring
    from lab.hal.benchfile import load_bench
    from lab.procs import freeze_imported
    from lab.runs import RunWriter
    from lab.tasks import load_task

    if spec.logging:
        logs.configure(**spec.logging)
    log.info("training process %d: %s, run file %s", os.getpid(), spec.settings, spec.out)
    try:
        _warm_up()
        settings = settings_from(**spec.settings)
        task = load_task(settings.task, seed=settings.seed)
        orphan.check()
        if spec.bench_factory is not None:
            bench = spec.bench_factory()
        else:
            wanted = settings  # what the task needs of the wiring: before anything opens
            bench = load_bench(
                spec.bench, seed=spec.bench_seed, network=task.network,
                rule=spec.settings.get("rule"),
                check=lambda path, wiring: check_task_wiring(path, wiring, task, wanted))
        if spec.settings.get("rule") is None:  # no rule asked: the board's own
            settings = settings.model_copy(update={"rule": bench.rule})
        try:
            writer = RunWriter(Path(spec.out), discard_empty=True)
            batcher.source = writer  # the batches' columns are the file's (built once)
            trainer = Trainer(bench, task, settings, [writer, batcher])
            # a current limit the first step exceeds is the set-up's: Failed("setup"),
            # before the run file exists (as `twinlab train`)
            trainer.preflight()
            orphan.attach(trainer)
            send(Ready())
            threading.Thread(target=_control, args=(ctrl, trainer, batcher), daemon=True,
                             name="twinlab-control").start()
            freeze_imported()  # this process's entry point: every import is done
            t0, cpu0 = time.perf_counter(), cpu_seconds()
            try:
                trainer.run()
            finally:  # the trainer stopped its observers: bench safe, file closed
                if batcher.summary is not None:
                    send(Stopped(batcher.summary, time.perf_counter() - t0,
                                 tuple(trainer.detached), cpu_seconds() - cpu0,
                                 writer.discarded))
        finally:
            bench.close()
    except BaseException as exc:  # reported to the window as one line
        # "setup": nothing was applied (the trainer never started its observers)
        send(Failed("setup" if batcher.summary is None else "run", one_line(exc)))
    finally:
        send(Exited())


class LiveRun:
    """Parent-side handle of one training process (see module doc).

    A daemon thread receives the process's messages into `inbox` as they come, so the
    process never waits for the parent; `messages` takes them out. `pause`/`resume`/
    `stop` are non-blocking; `wait` blocks at most ``timeout`` s.
    """

    def __init__(self, spec: LiveSpec) -> None:
        procs.start_resource_tracker()  # before the queue's semaphores: it must outlive a SIGHUP
        ctx = mp.get_context("spawn")
        self.spec = spec
        self._queue = ctx.Queue()
        ctrl_recv, self._ctrl = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=run_child, args=(spec, self._queue, ctrl_recv),
                                   name="twinlab-trainer", daemon=False)
        self.t_spawn = time.perf_counter()
        self.process.start()
        ctrl_recv.close()
        self.inbox: collections.deque[Message] = collections.deque()
        self.exited = threading.Event()  # Exited received, or the process is gone
        self._receiver = threading.Thread(target=self._receive, daemon=True,
                                          name="twinlab-receiver")
        self._receiver.start()

    def _receive(self) -> None:
        q, inbox = self._queue, self.inbox
        try:
            while True:
                try:
                    msg = q.get(timeout=0.2)
                except queue_mod.Empty:
                    if self.process.is_alive():
                        continue
                    try:  # gone: anything it flushed before dying is in the pipe
                        msg = q.get(timeout=0.2)
                    except queue_mod.Empty:
                        code = self.process.exitcode
                        inbox.append(Failed("run", f"training process died (exit code {code})"))
                        inbox.append(Exited())
                        return
                inbox.append(msg)
                if isinstance(msg, Exited):
                    return
        except (EOFError, OSError) as exc:
            inbox.append(Failed("run", f"lost the training process: {one_line(exc)}"))
            inbox.append(Exited())
        finally:
            self.exited.set()

    def messages(self) -> list[Message]:
        """Every message received so far, oldest first (removed from `inbox`)."""
        inbox, out = self.inbox, []
        while inbox:
            out.append(inbox.popleft())
        return out

    def _command(self, cmd: str | tuple[str, str]) -> None:
        with contextlib.suppress(OSError, ValueError):  # process gone / pipe closed
            self._ctrl.send(cmd)

    def pause(self) -> None:
        self._command("pause")

    def resume(self) -> None:
        self._command("resume")

    def stop(self, reason: str | None = None) -> None:
        """Ask the process to end after the current step (bench safe, file incomplete);
        ``reason`` starts the run's message (None: `Trainer.request_stop`'s default)."""
        self._command("stop" if reason is None else ("stop", reason))

    @property
    def alive(self) -> bool:
        """True until the process has sent its last message and ended."""
        return not self.exited.is_set() or self.process.is_alive()

    def wait(self, timeout: float) -> bool:
        """Wait (<= ``timeout`` s) for the last message and the process's end; True if so."""
        end = time.monotonic() + timeout
        self.exited.wait(timeout)
        self.process.join(max(end - time.monotonic(), 0.0))
        return not self.alive

    def end(self, timeout: float = 10.0, reason: str | None = None) -> bool:
        """Stop (`stop`'s ``reason``) and wait; escalate to SIGTERM (the process still
        unwinds: safe state, file closed) after ``timeout`` s, then to SIGKILL. True if it
        ended without a kill."""
        self.stop(reason)
        if self.wait(timeout):
            return True
        self.process.terminate()
        if self.wait(5.0):
            return True
        self.process.kill()
        self.process.join(5.0)
        self.exited.set()
        return False

    def close(self) -> None:
        """Release the pipe and queue (after the process ended)."""
        self._ctrl.close()
        self._queue.close()
