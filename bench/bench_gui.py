"""The live window's cost: training steps/s with the window attached vs headless, frame
time with 1e6 steps, event latency during a live run, and opening a 1e6-step run.

Prints one JSON line. Runs offscreen (``QT_QPA_PLATFORM=offscreen`` unless set).
Run: ``PYTHONPATH=. /tmp/venv/bin/python bench/bench_gui.py [--steps N] [--repeats R]``.

* ``headless_steps_per_s``: Trainer -> emulator bench -> RunWriter, task ii, no window
  (best of ``repeats``).
* ``live_steps_per_s``: the same run started from `MainWindow.start_run` (trainer in its
  worker thread, the 30 Hz redraw timer running, the Qt event loop spinning on this
  thread, window shown and painted); steps / wall time from start to the worker's end
  (best of ``repeats``). ``ratio`` = live / headless (target >= 0.9).
* ``event_latency_ms_max``/``_median``: during the first live run, every 100 ms a
  ``QTimer.singleShot(0, ...)`` is posted from a Python thread-free timer callback; the
  latency is post -> callback run, over ``events`` events.
* ``frame_ms_*``: one redraw with 1e6 synthetic steps in the history (16 code traces,
  error, 3 output curves): ``setData`` part (`MainWindow.redraw`) and the paint of the
  whole window (``grab``), medians of 10.
* ``open_1e6_s``: `MainWindow.open_run` of a 1e6-step run file -> first frame painted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PyQt6.QtCore import QEventLoop, QTimer
from PyQt6.QtWidgets import QApplication

from gui.model import History
from gui.window import MainWindow
from lab.config import load_bench, settings_from
from lab.records import Observer, RunInfo, RunSummary, StepRecord
from lab.runs import RunWriter
from lab.tasks import load_task
from lab.trainer import Trainer


def headless(steps: int, tmp: Path, tag: str) -> float:
    """steps/s of one run of task ii with a RunWriter only."""
    trainer = Trainer(load_bench(None), load_task("ii"), settings_from(task="ii", steps=steps),
                      [RunWriter(tmp / f"headless{tag}.h5")])
    t0 = time.perf_counter()
    trainer.run()
    return steps / (time.perf_counter() - t0)


def live(app: QApplication, steps: int, tmp: Path, tag: str,
         latencies: list[float] | None = None, events: int = 50) -> tuple[float, dict]:
    """steps/s of the same run from the window's live mode; optional event latencies."""
    w = MainWindow(out=tmp / f"live{tag}.h5", settings={"task": "ii", "steps": steps},
                   bench_factory=lambda: load_bench(None))
    w.resize(1400, 900)
    w.show()
    for _ in range(5):
        app.processEvents()
    pending: list[float] = []

    def fire() -> None:
        latencies.append(time.perf_counter() - pending.pop(0))

    def post() -> None:
        if latencies is not None and len(latencies) + len(pending) < events:
            pending.append(time.perf_counter())
            QTimer.singleShot(0, fire)

    poster = QTimer()
    poster.setInterval(100)
    poster.timeout.connect(post)
    t0 = time.perf_counter()
    assert w.start_run(), w.last_message
    poster.start()
    loop = QEventLoop()  # like app.exec(): Qt waits for events with the GIL released
    done = QTimer()
    done.setInterval(50)
    done.timeout.connect(lambda: w.thread is None and loop.quit())
    done.start()
    loop.exec()
    done.stop()
    elapsed = time.perf_counter() - t0
    poster.stop()
    assert w.history is not None and w.history.total == steps, w.last_message
    frames = list(w.frame_times)
    stats = {"frames": w.frame_count,
             "frame_ms_live_median": round(1e3 * statistics.median(frames), 2) if frames else 0}
    w.close()
    w.deleteLater()
    app.processEvents()
    return steps / elapsed, stats


def frame_time(app: QApplication) -> dict:
    """setData and paint time of one frame with 1e6 synthetic steps in the history."""
    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    w._set_outputs([3])
    h = History(16, 1)
    rng = np.random.default_rng(0)
    n, block = 1_000_000, 100_000
    walk = np.cumsum(rng.integers(-1, 2, (n, 16)), axis=0) % 128
    for a in range(0, n, block):
        h.extend({"step": np.arange(a, a + block), "error": rng.random(block),
                  "positions": walk[a:a + block], "v_free": rng.random((block, 1)),
                  "v_clamped": rng.random((block, 1)), "v_desired": np.full((block, 1), 4.0)})
    w.history, w.mode = h, "replay"
    w._force_redraw()
    w.error_plot.autoRange()
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
    points = len(w.trace_curves[0].xData)
    w.close()
    w.deleteLater()
    app.processEvents()
    return {"frame_points_per_trace": points,
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


def open_time(app: QApplication, path: Path) -> dict:
    """MainWindow.open_run(path) -> first frame painted, seconds."""
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
    points = len(w.trace_curves[0].xData)
    w.close()
    w.deleteLater()
    app.processEvents()
    return {"open_1e6_s": round(t2 - t0, 3), "open_1e6_load_s": round(t1 - t0, 3),
            "open_1e6_paint_s": round(t2 - t1, 3), "open_1e6_points_per_trace": points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--run-steps", type=int, default=1_000_000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(["bench_gui"])
    out: dict = {"bench": "gui", "task": "ii", "steps": args.steps}
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        headless(2000, tmp, "warm")  # numba compilation, first-run caches
        live(app, 2000, tmp, "warm")
        hl, lv, stats = [], [], {}
        for r in range(args.repeats):  # interleaved, so drifts hit both alike
            hl.append(headless(args.steps, tmp, str(r)))
            rate, s = live(app, args.steps, tmp, str(r), latencies if r == 0 else None,
                           args.events)
            lv.append(rate)
            stats = stats or s
        out["headless_steps_per_s"] = round(max(hl))
        out["live_steps_per_s"] = round(max(lv))
        out["ratio"] = round(max(lv) / max(hl), 3)
        out["live_frames"] = stats["frames"]
        out["live_frame_ms_median"] = stats["frame_ms_live_median"]
        out["events"] = len(latencies)
        out["event_latency_ms_max"] = round(1e3 * max(latencies), 1) if latencies else None
        out["event_latency_ms_median"] = (round(1e3 * statistics.median(latencies), 2)
                                          if latencies else None)
        out.update(frame_time(app))
        path = tmp / "big.h5"
        out["run_steps"] = args.run_steps
        out["write_run_s"] = round(write_run(path, args.run_steps), 1)
        out.update(open_time(app, path))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
