"""The live window's cost: training steps/s with the window attached vs headless, frame
time with 1e6 steps, event latency during a live run, and opening a 1e6-step run.

Prints one JSON line. Runs offscreen (``QT_QPA_PLATFORM=offscreen`` unless set).
Run: ``PYTHONPATH=. /tmp/venv/bin/python bench/bench_gui.py [--steps N] [--repeats R]``.

* ``headless_steps_per_s``: `Trainer.run` of task ii on the emulator bench with a
  `RunWriter`, no window, in this process (best of ``repeats``): what ``twinlab train``
  times (less its progress bar).
* ``same_work_steps_per_s``: the same with the training process's second observer too (a
  `Batcher` whose messages are dropped), in this process: the work of the live training
  process, without the process (the Batcher slicing its batches from the writer's
  columns, `RunWriter.shared_columns`, as there). ``batcher_cpu_share``: the Batcher's
  share of that work (1 - headless / same-work CPU per step, medians).
* ``live_steps_per_s``: the same run started from `MainWindow.start_run`: the trainer in
  its own process (`lab.acquire.live`, with the window's `Batcher` as a second observer), the
  window shown, its 30 Hz redraw timer and the Qt event loop running here; steps / wall
  time of the training process's `Trainer.run` (best of ``repeats``). ``ratio`` = live /
  headless (target >= 0.9), both interleaved in one run of this script.
  ``live_wall_steps_per_s``: steps / (start button -> window has the run's end), which
  adds the training process's start (``live_start_s``: start -> first batch shown:
  importing numpy/numba/h5py in a fresh interpreter and a 64-step warm-up run).
  ``process_only_steps_per_s``/``_ratio``: the training process without a window.
  ``ratio_pairs_median``: median over the repeats of live / headless of the same repeat
  (interleaved, so each pair shares the machine's load); ``ratio_same_work``: live /
  same-work (best over best): the cost of the process and the window alone.
* ``cpu_us_per_step_*`` (``headless``, ``same_work``, ``live``, ``process_only``): CPU
  microseconds (user + system, every thread of the process that trains; the definition of
  `Stopped.cpu_seconds`) per step of the same timed `Trainer.run`, median over the
  repeats. Unlike steps per wall second it leaves out the time the process waits for a
  core (the load of other processes), though not the slower steps of a busy host (shared
  caches; on this VM a step's floor swings ~1.6x within a minute, in every process
  alike): ``cpu_ratio`` = headless / live CPU per step and ``cpu_ratio_same_work`` =
  same-work / live are the ratios to read on a loaded machine, next to
  ``ratio_pairs_median``.
  ``loadavg``: the 1-minute load average at the start and at the end.
* ``live_cpu_per_wall_s``: CPU seconds (every thread) of the training process per wall
  second of its `Trainer.run` (`lab.acquire.live.Stopped.cpu_seconds`), median over the
  live runs: about 1.0, one core (issue 16: numba's pool is not launched by a
  one-network run).
* ``live_fps``: frames redrawn per second during the first live run (after its first
  batch); ``live_frame_ms_median``: `MainWindow.redraw` (setData) per frame.
* ``event_latency_ms_max``/``_median``: during the first live run, a Python thread posts
  an event (a queued signal) to the GUI thread every ~100 ms at random phases of its
  work; latency = post -> slot run, over ``events`` events.
* ``frame_ms_*``: one redraw with 1e6 synthetic steps in the history (16 code traces,
  error, 3 output curves): ``setData`` part (`MainWindow.redraw`) and the paint of the
  whole window (``grab``), medians of 10; ``frame_ms_empty_paint``: painting the window
  before it has any data.
* ``open_1e6_s``: `MainWindow.open_run` of a 1e6-step run file -> first frame painted.

Qt is imported inside the functions only: the training process re-imports this module
(multiprocessing 'spawn') and must not load Qt.

As the entry points do (``twinlab train``, ``twinlab gui``), `lab.procs.freeze_imported`
is called before each headless run and before each live run starts (``--no-freeze``: never,
to measure what that is worth in this process; the training process of `lab.acquire.live` always
calls it, as its entry point; ``"freeze"`` in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from lab.acquire.live import Batcher, cpu_seconds
from lab.acquire.records import Observer, RunInfo, RunSummary, StepRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.hal.benchfile import load_bench
from lab.procs import freeze_imported
from lab.runs import RunWriter
from lab.tasks import load_task

#: Call `freeze_imported` where the entry points do (``--no-freeze``: never).
FREEZE = True


def headless(steps: int, tmp: Path, tag: str, batcher: bool = False) -> dict:
    """One run of task ii in this process with a RunWriter (and, ``batcher``, the live
    process's `Batcher`, its messages dropped): ``rate`` steps/s, ``cpu_us`` CPU us/step."""
    writer = RunWriter(tmp / f"headless{tag}{'b' * batcher}.h5")
    observers: list[Observer] = [writer]
    if batcher:  # wired as `lab.acquire.live.run_child` does: the writer's columns
        observers.append(Batcher(lambda message: None, source=writer))
    trainer = Trainer(load_bench(None), load_task("ii"), settings_from(task="ii", steps=steps),
                      observers)
    if FREEZE:
        freeze_imported()  # as `twinlab train` does
    t0, cpu0 = time.perf_counter(), cpu_seconds()  # what `run_child` times
    trainer.run()
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - t0
    return {"rate": steps / wall, "cpu_us": 1e6 * cpu / steps}


def process_only(steps: int, tmp: Path, tag: str) -> dict:
    """`Trainer.run` in the training process of `lab.acquire.live`, no window (the parent
    only receives the batches): the cost of the process and its `Batcher`; ``rate``
    steps/s and ``cpu_us`` CPU us/step (`Stopped`)."""
    from lab.acquire.live import LiveRun, LiveSpec, Stopped

    run = LiveRun(LiveSpec(settings={"task": "ii", "steps": steps},
                           out=str(tmp / f"process{tag}.h5")))
    assert run.wait(600)
    stop = next(m for m in run.messages() if isinstance(m, Stopped))
    run.close()
    return {"rate": steps / stop.run_seconds, "cpu_us": 1e6 * stop.cpu_seconds / steps}


def live(app: Any, steps: int, tmp: Path, tag: str,
         latencies: list[float] | None = None, events: int = 50) -> dict:
    """One live run from the window: rates, start time, frames; optional event latencies."""
    from PyQt6.QtCore import QEventLoop, QObject, QTimer, pyqtSignal

    from gui.window import MainWindow

    class Probe(QObject):
        posted = pyqtSignal(float)

    w = MainWindow(out=tmp / f"live{tag}.h5", settings={"task": "ii", "steps": steps})
    w.resize(1400, 900)
    w.show()
    for _ in range(5):
        app.processEvents()
    probe = Probe()
    if latencies is not None:
        probe.posted.connect(lambda t: latencies.append(time.perf_counter() - t))
    mark: dict[str, float] = {}
    stop_posting = threading.Event()

    def poster() -> None:  # another thread: events arrive whatever the GUI thread does
        rng = random.Random(1)
        while len(latencies or ()) < events and not stop_posting.wait(0.08 + 0.04 * rng.random()):
            if "first" in mark:
                probe.posted.emit(time.perf_counter())

    def check() -> None:
        if "first" not in mark and w.history is not None and w.history.total:
            mark["first"], mark["frames"] = time.perf_counter(), w.plots.frame_count
        if w.live is None:
            mark["end"], mark["frames_end"] = time.perf_counter(), w.plots.frame_count
            loop.quit()

    thread = threading.Thread(target=poster, daemon=True)
    if FREEZE:
        freeze_imported()  # as `twinlab gui` does before its event loop
    t0 = time.perf_counter()
    assert w.start_run(), w.last_message
    if latencies is not None:
        thread.start()
    loop = QEventLoop()  # like app.exec()
    done = QTimer()
    done.setInterval(20)
    done.timeout.connect(check)
    done.start()
    loop.exec()
    done.stop()
    stop_posting.set()
    assert w.history is not None and w.history.total == steps, w.last_message
    assert w.summary is not None and w.summary.complete, w.last_message
    frames = list(w.plots.frame_times)
    out = {
        "rate": steps / w.run_seconds,
        "cpu_per_wall": w.source.cpu_seconds / w.run_seconds,
        "cpu_us": 1e6 * w.source.cpu_seconds / steps,
        "wall_rate": steps / (mark["end"] - t0),
        "start_s": mark["first"] - t0,
        "fps": (mark["frames_end"] - mark["frames"]) / max(mark["end"] - mark["first"], 1e-9),
        "frame_ms_live_median": 1e3 * statistics.median(frames) if frames else 0.0,
    }
    w.close()
    w.deleteLater()
    app.processEvents()
    return out


def frame_time(app: Any) -> dict:
    """setData and paint time of one frame with 1e6 synthetic steps in the history."""
    from gui.model import History
    from gui.plots import DISPLAY_POINTS
    from gui.sources import Layout, RunSource
    from gui.window import MainWindow
    from lab.core.network import Network

    class _Shown(RunSource):
        """A synthetic run: only a history (what `MainWindow.redraw` draws)."""

        kind = "replay"

        def __init__(self, history: History) -> None:
            self.history, self.layout = history, Layout(Network.twin16())
            self.path = Path("synthetic.h5")

    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    w.plots.set_outputs([3])
    for _ in range(5):
        app.processEvents()
    t0 = time.perf_counter()
    w.grab()
    empty = time.perf_counter() - t0
    h = History(16, 1)
    rng = np.random.default_rng(0)
    n, block = 1_000_000, 100_000
    walk = np.cumsum(rng.integers(-1, 2, (n, 16)), axis=0) % 128
    for a in range(0, n, block):
        h.extend({"step": np.arange(a, a + block), "error": rng.random(block),
                  "positions": walk[a:a + block], "v_free": rng.random((block, 1)),
                  "v_clamped": rng.random((block, 1)), "v_desired": np.full((block, 1), 4.0)})
    w.source = _Shown(h)
    w._force_redraw()
    w.plots.error_plot.autoRange()
    for _ in range(5):
        app.processEvents()
    data, paint = [], []
    for _ in range(10):
        t0 = time.perf_counter()
        w._force_redraw()
        t1 = time.perf_counter()
        w.grab()
        data.append(t1 - t0)
        paint.append(time.perf_counter() - t1)
    t0 = time.perf_counter()
    w.grab()
    t1 = time.perf_counter()
    points = len(w.plots.trace_curves[0].xData)
    assert points <= DISPLAY_POINTS + 64 < len(h)
    w.source = None
    w.close()
    w.deleteLater()
    app.processEvents()
    return {"frame_points_per_trace": points, "frame_ms_empty_paint": round(1e3 * empty, 1),
            "frame_ms_setdata": round(1e3 * statistics.median(data), 1),
            "frame_ms_paint": round(1e3 * statistics.median(paint), 1),
            "frame_ms_total": round(1e3 * (statistics.median(data)
                                           + statistics.median(paint)), 1)}


class _Info(Observer):
    info: RunInfo | None = None

    def start(self, info: RunInfo) -> None:
        self.info = info


def write_run(path: Path, n: int) -> float:
    """A 1e6-step run file: RunInfo of a real emulator run, synthetic rows; seconds taken."""
    grab = _Info()
    Trainer(load_bench(None), load_task("ii"), settings_from(task="ii", steps=1), [grab]).run()
    info = grab.info
    assert info is not None
    rng = np.random.default_rng(1)
    e = info.n_edges
    pool = []
    pos = rng.integers(0, 128, e).astype(np.int16)
    for _ in range(256):
        d = rng.integers(-1, 2, e).astype(np.int8)
        m = rng.random(e) < 0.25
        pos = np.clip(pos + d * m, 0, 127).astype(np.int16)
        v = rng.random(1)
        pool.append((d * m, m, pos, v, float(rng.random())))
    t0 = time.perf_counter()
    writer = RunWriter(path, chunk_rows=16384)
    writer.start(info)
    x = np.array([5.0, 0.0])[: info.n_inputs]
    vd = np.array([4.0])
    for k in range(n):
        d, m, pos, v, err = pool[k & 255]
        writer.step(StepRecord(k, k * 1e-5, 0, x, v, v, vd, err * np.exp(-k / 2e5),
                               pos, m, d))
    writer.stop(RunSummary(steps=n, complete=True, initial_error=1.0, final_error=0.1,
                           scaled_error=0.1, end_time="", message=""))
    return time.perf_counter() - t0


def open_time(app: Any, path: Path) -> dict:
    """MainWindow.open_run(path) -> first frame painted, seconds."""
    from gui.window import MainWindow

    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    for _ in range(5):
        app.processEvents()
    t0 = time.perf_counter()
    assert w.open_run(path), w.last_message
    t1 = time.perf_counter()
    w.repaint()  # the first frame: paint everything now, synchronously
    t2 = time.perf_counter()
    points = len(w.plots.trace_curves[0].xData)
    w.close()
    w.deleteLater()
    app.processEvents()
    return {"open_1e6_s": round(t2 - t0, 3), "open_1e6_load_s": round(t1 - t0, 3),
            "open_1e6_paint_s": round(t2 - t1, 3), "open_1e6_points_per_trace": points}


def main() -> None:
    from PyQt6.QtWidgets import QApplication

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--run-steps", type=int, default=1_000_000)
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="never call lab.procs.freeze_imported")
    args = parser.parse_args()
    global FREEZE
    FREEZE = args.freeze
    app = QApplication.instance() or QApplication(["bench_gui"])
    out: dict = {"bench": "gui", "task": "ii", "steps": args.steps, "cpus": os.cpu_count(),
                 "freeze": args.freeze}
    latencies: list[float] = []
    out["loadavg"] = [round(os.getloadavg()[0], 2)]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        headless(2000, tmp, "warm")  # numba compilation, first-run caches
        headless(2000, tmp, "warm", batcher=True)
        live(app, 2000, tmp, "warm")
        hl, sw, lv, po = [], [], [], []
        for r in range(args.repeats):  # interleaved, so drifts hit all alike
            hl.append(headless(args.steps, tmp, str(r)))
            sw.append(headless(args.steps, tmp, str(r), batcher=True))
            lv.append(live(app, args.steps, tmp, str(r), latencies, args.events))
            po.append(process_only(args.steps, tmp, str(r)))

        def best(runs: list[dict]) -> float:
            return max(x["rate"] for x in runs)

        def cpu(runs: list[dict]) -> float:
            return statistics.median(x["cpu_us"] for x in runs)

        out["headless_steps_per_s"] = round(best(hl))
        out["same_work_steps_per_s"] = round(best(sw))
        out["live_steps_per_s"] = round(best(lv))
        out["ratio"] = round(best(lv) / best(hl), 3)
        out["ratio_median"] = round(statistics.median(x["rate"] for x in lv)
                                    / statistics.median(x["rate"] for x in hl), 3)
        out["ratio_pairs_median"] = round(statistics.median(
            a["rate"] / b["rate"] for a, b in zip(lv, hl, strict=True)), 3)
        out["ratio_same_work"] = round(best(lv) / best(sw), 3)
        out["process_only_steps_per_s"] = round(best(po))
        out["process_only_ratio"] = round(best(po) / best(hl), 3)
        for name, runs in (("headless", hl), ("same_work", sw), ("live", lv),
                           ("process_only", po)):
            out[f"cpu_us_per_step_{name}"] = round(cpu(runs), 2)
        out["cpu_ratio"] = round(cpu(hl) / cpu(lv), 3)
        out["cpu_ratio_same_work"] = round(cpu(sw) / cpu(lv), 3)
        out["batcher_cpu_share"] = round(1 - cpu(hl) / cpu(sw), 3)
        out["live_wall_steps_per_s"] = round(max(x["wall_rate"] for x in lv))
        out["live_start_s"] = round(statistics.median(x["start_s"] for x in lv), 2)
        out["live_cpu_per_wall_s"] = round(statistics.median(x["cpu_per_wall"] for x in lv), 2)
        out["live_fps"] = round(statistics.median(x["fps"] for x in lv), 1)
        out["live_frame_ms_median"] = round(statistics.median(
            x["frame_ms_live_median"] for x in lv), 2)
        out["events"] = len(latencies)
        out["event_latency_ms_max"] = round(1e3 * max(latencies), 1) if latencies else None
        out["event_latency_ms_median"] = (round(1e3 * statistics.median(latencies), 2)
                                          if latencies else None)
        out.update(frame_time(app))
        path = tmp / "big.h5"
        out["run_steps"] = args.run_steps
        out["write_run_s"] = round(write_run(path, args.run_steps), 1)
        out.update(open_time(app, path))
    out["loadavg"].append(round(os.getloadavg()[0], 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
