"""What the window shows: one run, live or from a run file, behind one interface.

A `RunSource` owns the run's `History` (what the plots draw), its `Layout` (network and
node roles), its `FreeSetup` (the hover's free-state solve) and the state of any step.
The window calls `RunSource.poll` on every timer tick and reacts to the notices it
returns (`Status`, `Relayout`, `Grew`, `Ended`); it never looks at where the data came
from.

* `LiveSource`: a live run in its own process (`lab.acquire.live.LiveRun`). Its typed messages
  (`lab.acquire.live.Message`) are matched here, and only here, by type.
* `ReplaySource`: a run file read lazily with `RunReader`; ``follow`` tails a file that
  is still being written (SWMR).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gui.freestate import FreeSetup, StepState, codes_before
from gui.model import History
from gui.netview import network_from_dict
from lab import paths
from lab.acquire.live import Batch, Exited, Failed, LiveRun, LiveSpec, Ready, Started, Stopped
from lab.acquire.records import RunInfo, RunSummary
from lab.acquire.settings import TrainSettings
from lab.core.digipot import AD5220
from lab.core.network import Network
from lab.runs import RunFileError, RunReader
from lab.runs.schema import LIVE_COLUMNS
from lab.tasks import Task

__all__ = [
    "READ_BLOCK",
    "STOP_TIMEOUT",
    "Ended",
    "Grew",
    "Layout",
    "LiveSource",
    "Notice",
    "Relayout",
    "ReplaySource",
    "RunSource",
    "Status",
    "default_run_path",
]

#: Seconds a live source waits for the training process to end before escalating.
STOP_TIMEOUT = 10.0
#: Rows read per block from a run file (loading, CSV export).
READ_BLOCK = 65536
#: The step columns `RunSource.blocks` yields (the CSV export's, `gui.export.CSV_COLUMNS`;
#: ``positions_sd`` only when the run has it).
_HISTORY_COLUMNS = ("step", "error", "positions", "positions_sd", "v_free", "v_clamped",
                    "v_desired")


def default_run_path(settings: TrainSettings) -> Path:
    """Where a live run goes unless told: `lab.paths.default_run_path`, as the CLI names runs."""
    return paths.default_run_path(settings.task, settings.p, settings.seed)


@dataclass(frozen=True)
class Layout:
    """The run's network and its node roles (1-based node labels)."""

    network: Network
    inputs: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()
    fixed: tuple[int, ...] = ()

    @classmethod
    def of_task(cls, network: Network, task: dict[str, Any]) -> Layout:
        """From a task's JSON-able description (`Task.to_dict`, a run file's task_json)."""
        return cls(network, tuple(task.get("input_nodes", ())),
                   tuple(task.get("output_nodes", ())), tuple(task.get("fixed_nodes", ())))


# -- notices: what the window is told by `RunSource.poll` -------------------------------------
@dataclass(frozen=True)
class Status:
    """A status-bar line."""

    text: str


@dataclass(frozen=True)
class Relayout:
    """The run began: ``network_changed``: `RunSource.layout` is another network (the
    history was replaced; rebuild the panels); either way the free setup is new."""

    network_changed: bool


@dataclass(frozen=True)
class Grew:
    """New rows are in the history (a followed file grew)."""


@dataclass(frozen=True)
class Ended:
    """A live run is over (its process gone). ``text``: the status line; ``failed``: it
    is an error (show it as one)."""

    text: str
    failed: bool


Notice = Status | Relayout | Grew | Ended


class RunSource:
    """One run the window shows (see the module doc). Subclasses set the attributes."""

    #: "live" or "replay"
    kind: ClassVar[str] = ""
    #: the run file
    path: Path
    #: what the plots draw
    history: History
    layout: Layout
    #: network, roles and nominal parts for the hover's free-state solve (None: unknown yet)
    free_setup: FreeSetup | None = None
    #: the status line when the source is attached
    title: str = ""
    #: where the run's codes come from: "exact", "estimated" or "unknown"
    #: (`lab.acquire.records.Codes`); a live run says at its start
    codes: str = "exact"
    #: why the codes are unknown ("" otherwise)
    codes_note: str = ""
    #: the run's settings (`TrainSettings` fields; once recorded also ``bias_volts``)
    settings: dict[str, Any]
    #: the run records which edges updated at each step (``update_mask``)
    has_updates: bool = True

    @property
    def running(self) -> bool:
        """True while a training process feeds this source."""
        return False

    def poll(self) -> list[Notice]:
        """Take what arrived since the last call into the history; what the window must do."""
        return []

    def row(self, k: int) -> dict[str, Any] | None:
        """Step ``k``'s (or the nearest earlier stored step's) ``step``, ``error``,
        ``positions`` (E,), ``update_mask`` (E,) or None and ``positions_sd`` (E,) code
        steps or None; None when there is none."""
        h = self.history
        row = h.row_at(k) if h.total else None
        if row is not None:
            row.setdefault("positions_sd", None)
        return row

    def step_state(self, k: int) -> StepState | None:
        """Step ``k`` as the hover needs it: the codes its free state was measured with
        (those of step k - 1, before k's pulse, when stored), its applied inputs and
        measured V_F; from the history (the nearest earlier stored step when ``k`` was
        decimated away)."""
        h = self.history
        row = h.row_at(k)
        if row is None:
            return None
        k = int(row["step"])
        prev = h.row_at(k - 1) if k > 0 else None
        exact = prev is not None and int(prev["step"]) == k - 1
        codes = prev["positions"] if exact and prev is not None else row["positions"]
        return StepState(k, codes, exact, row["inputs"], row["v_free"], row["v_clamped"])

    def blocks(self, lo: float, hi: float) -> Iterator[dict[str, np.ndarray]]:
        """Every stored step with lo <= step <= hi, in blocks of columns ``step``, ``error``,
        ``positions``, ``v_free``, ``v_clamped``, ``v_desired``: from the history (full
        resolution for recent steps, decimated before)."""
        snap = self.history.snapshot()
        keep = (snap.step >= lo) & (snap.step <= hi)
        yield {k: getattr(snap, k)[keep] for k in _HISTORY_COLUMNS
               if getattr(snap, k) is not None}

    def window_history(self, lo: float, hi: float) -> History | None:
        """The stored steps with lo <= step <= hi as a `History` of their own, at the
        resolution `blocks` gives (a file: full), with the tests inside; None when none.
        The plots draw it when they follow the cursor and the run's history is decimated
        there. Its error sums start at ``lo`` (smoothing looks back no further)."""
        blocks = list(self.blocks(lo, hi))
        n = sum(len(b["step"]) for b in blocks)
        if not n:
            return None
        h = self.history
        out = History(h.n_edges, h.n_outputs, h.n_inputs, recent=n, archive=2)
        for block in blocks:
            out.extend(block)
        for step, error in zip(h.test_step, h.test_error, strict=True):
            if lo <= step <= hi:
                out.add_test(step, error)
        return out

    def close(self) -> None:
        """Release what the source holds (a live run must have ended)."""


def _network_of(task: Task) -> Network:
    """The network a task names (the bench's own description replaces it at run start)."""
    try:
        return Network.from_name(task.network)
    except ValueError:
        return Network.twin16()


class LiveSource(RunSource):
    """A live run: starts the training process of ``spec`` at once (`LiveRun`); ``task``
    gives the layout shown until the bench describes its network (`Started`)."""

    kind = "live"

    def __init__(self, spec: LiveSpec, task: Task) -> None:
        self.run = LiveRun(spec)
        self.spec, self.path = spec, Path(spec.out)
        self.settings = dict(spec.settings)
        network = _network_of(task)
        self.history = History(network.n_edges, task.n_outputs, task.n_inputs)
        self.layout = Layout(network, tuple(task.input_nodes), tuple(task.output_nodes),
                             tuple(task.fixed_nodes))
        self.title = f"starting the training process for {task.name}…"
        self.run_info: RunInfo | None = None  # as the training process sent it
        self.summary: RunSummary | None = None  # how the run ended
        self.run_seconds = float("nan")  # wall time of Trainer.run, s
        self.cpu_seconds = float("nan")  # the training process's CPU time in it, s
        self.error: str | None = None  # the training process's error line
        self.detached: tuple[str, ...] = ()  # observers that failed (not critical)
        self.discarded = False  # nothing was recorded: the run file was removed
        self._running = True

    @property
    def running(self) -> bool:
        return self._running

    def pause(self) -> None:
        self.run.pause()

    def resume(self) -> None:
        self.run.resume()

    def stop(self, timeout: float = STOP_TIMEOUT, reason: str | None = None) -> None:
        """End the run after the current step (``reason``: what its message starts with,
        `LiveRun.stop`) and wait (bounded) for the process to make the bench safe and
        close the file; the next `poll` reports the end."""
        if not self._running:
            return
        if not self.run.end(timeout, reason):
            self.run.inbox.append(Failed("run", "the training process did not stop and was "
                                         "killed; bench state unknown"))
            self.run.inbox.append(Exited())

    def poll(self) -> list[Notice]:
        notices: list[Notice] = []
        if not self._running:
            return notices
        h = self.history
        for msg in self.run.messages():
            match msg:
                case Batch(steps=steps, tests=tests):
                    if steps is not None:
                        h.extend(steps)
                    for step, error in tests:
                        h.add_test(step, error)
                case Ready():  # the title too: the run's start shows it again
                    s = self.spec.settings
                    self.title = f"running {s['task']}: {s['steps']} steps"
                    notices.append(Status(self.title))
                case Started(info=info):
                    notices.append(self._started(info))
                    h = self.history
                case Stopped(summary=summary, run_seconds=seconds, detached=detached,
                             cpu_seconds=cpu, discarded=discarded):
                    self.summary, self.run_seconds = summary, float(seconds)
                    self.cpu_seconds = float(cpu)
                    self.detached = tuple(detached)
                    self.discarded = bool(discarded)
                case Failed(phase="setup", text=text):
                    self.error = text
                case Failed(text=text):
                    note = paths.run_file_note(self.path, self.discarded)
                    self.error = f"run failed: {text}; {note}"
                case Exited():
                    notices.append(self._finish())
                    break
        return notices

    def _started(self, info: RunInfo) -> Relayout:
        """The run began: the network, roles and parts from the bench's description."""
        self.run_info = info
        self.codes, self.codes_note = str(info.codes), str(info.codes_note)
        self.settings, self.has_updates = dict(info.settings), bool(info.has_updates)
        network = network_from_dict(info.network)
        old = self.layout.network
        changed = network.n_edges != old.n_edges or not np.array_equal(network.edges, old.edges)
        if changed:
            self.history = History(network.n_edges, info.n_outputs, info.n_inputs)
            self.layout = Layout.of_task(network, info.task)
        self.free_setup = FreeSetup.from_run(self.layout.network, info.task, info.bench)
        return Relayout(changed)

    def _finish(self) -> Ended:
        """The process sent its last message: reap it; the end as one status line."""
        self._running = False
        self.run.wait(STOP_TIMEOUT)
        self.run.close()
        summary, failed = self.summary, self.error is not None
        if self.error is not None:
            text = self.error
            if summary is not None and self.bench_safe:
                text += "; bench safe"
        elif summary is not None:
            state = "complete" if summary.complete else f"incomplete ({summary.message})"
            safe = "bench safe" if self.bench_safe else "bench NOT safe"
            text = (f"{summary.steps} steps, final scaled error {summary.scaled_error:.4f}, "
                    f"run {state}; {safe}")
            if self.discarded:
                text += f"; {paths.run_file_note(self.path, True)}"
        else:
            text = "the training process ended"
        for line in () if summary is None else summary.warnings:  # as `twinlab train` says
            text += f"; warning: {line}"
        for line in self.detached:
            text += f"; detached after a failure: {line}"
        return Ended(text, failed)

    @property
    def bench_safe(self) -> bool:
        """The run ended with every output safe (False before its summary arrived)."""
        return self.summary is not None and "safe state failed" not in self.summary.message

    def rate(self) -> float:
        """Mean steps/s of the finished run (NaN before)."""
        if self.summary is None or not self.run_seconds > 0:
            return float("nan")
        return self.summary.steps / self.run_seconds


class ReplaySource(RunSource):
    """A run file (``follow``: opened for SWMR reading, tailed on every `poll`). Raises
    RunFileError, KeyError, ValueError or OSError when ``path`` is not a readable run."""

    kind = "replay"

    def __init__(self, path: str | Path, follow: bool = False) -> None:
        reader = RunReader(path, swmr=follow)
        try:
            info = reader.info
            network = network_from_dict(info.get("network_json") or {})
            task = info.get("task_json") or {}
            n_out = reader.steps["v_free"].shape[1]
            n_in = reader.steps["inputs"].shape[1] if "inputs" in reader.steps else 0
        except BaseException:
            reader.close()
            raise
        self.reader, self.path, self.follow = reader, Path(path), follow
        self.codes, self.codes_note = reader.codes, reader.codes_note
        self.has_updates = "update_mask" in reader.steps
        self.history = History(network.n_edges, n_out, n_in)
        self.layout = Layout.of_task(network, task)
        self.free_setup = FreeSetup.from_run(network, task, info.get("bench_json") or {})
        s = self.settings = dict(reader.settings)
        self.title = (f"replay {info.get('task')} p={s.get('p')} eta={s.get('eta')} "
                      f"seed={s.get('seed')} "
                      f"({'complete' if reader.complete else 'incomplete'})")
        self._loaded = 0
        self._load_rows()

    def _load_rows(self) -> None:
        """Read rows not yet loaded into the history, block by block."""
        reader, history = self.reader, self.history
        n = reader.n_steps
        cols = reader.steps
        names = [n for n in LIVE_COLUMNS if n in cols]  # what a live batch would carry
        for a in range(self._loaded, n, READ_BLOCK):
            b = min(a + READ_BLOCK, n)
            history.extend({k: cols[k][a:b] for k in names})
        if reader.n_tests > len(history.test_step):
            t_step = reader.tests["step"][len(history.test_step):]
            t_err = reader.tests["error"][len(history.test_step):]
            for s, e in zip(t_step.tolist(), t_err.tolist(), strict=True):
                history.add_test(s, e)
        self._loaded = n

    def poll(self) -> list[Notice]:
        if not self.follow:
            return []
        try:
            if self.reader.refresh() > self._loaded:
                self._load_rows()
                return [Grew()]
        except (OSError, RunFileError) as exc:
            return [Status(f"follow: {exc}")]
        return []

    def row(self, k: int) -> dict[str, Any] | None:
        """Step ``k`` from the file (full resolution)."""
        if k >= self.reader.n_steps:
            return super().row(k)
        cols = self.reader.steps
        return {"step": k, "positions": cols["positions"][k], "error": cols["error"][k],
                "update_mask": cols["update_mask"][k] if "update_mask" in cols else None,
                "positions_sd": cols["positions_sd"][k] if "positions_sd" in cols else None}

    def step_state(self, k: int) -> StepState | None:
        """Step ``k`` from the file; at step 0 (no earlier codes stored) the codes before
        its pulse are rebuilt from its update mask and directions when stored."""
        if k >= self.reader.n_steps:
            return super().step_state(k)
        cols = self.reader.steps
        after = cols["positions"][k]
        before: np.ndarray | None = cols["positions"][k - 1] if k > 0 else None
        if before is None and "update_mask" in cols and "direction" in cols:
            before = codes_before(after, cols["update_mask"][k], cols["direction"][k],
                                  self.free_setup.digipot if self.free_setup else AD5220)
        return StepState(k, after if before is None else before, before is not None,
                         cols["inputs"][k], cols["v_free"][k], cols["v_clamped"][k])

    def blocks(self, lo: float, hi: float) -> Iterator[dict[str, np.ndarray]]:
        """The file's rows with lo <= step <= hi at full resolution, `READ_BLOCK` at a time."""
        cols = self.reader.steps
        steps = cols["step"][: self.reader.n_steps]
        a = int(np.searchsorted(steps, lo, side="left"))
        b = int(np.searchsorted(steps, hi, side="right"))
        for start in range(a, b, READ_BLOCK):
            stop = min(start + READ_BLOCK, b)
            yield {k: cols[k][start:stop] for k in _HISTORY_COLUMNS if k in cols}

    def close(self) -> None:
        self.reader.close()

