"""A screenshot of the live window after a run, on a real X server (Qt's xcb platform).

Starts its own ``Xvfb`` (`gui.display.virtual_display`, 1600x1000x24; ``--display :N``
uses a running X server instead), opens `gui.window.MainWindow` there (QT_QPA_PLATFORM is
cleared, so Qt uses xcb, as ``twinlab gui`` does on a desktop), trains ``--steps`` steps
of task ii (``--task``: any task name or file) at p = 0.5 on the emulator, moves the
timeline to step 40 (many edges still update) and grabs the window. Prints one JSON line
(path, size in pixels and bytes).

``--rehearsal`` trains instead on the bench `twinlab emulate --write-bench` writes (run
here as a subprocess): the real drivers over loopback and no resistance probe, so the
window shows the estimated codes (`lab.observe`), as on a real board.

    python bench/screenshot.py                  # -> bench/out/window.png
    python bench/screenshot.py --out shot.png
    python bench/screenshot.py --update         # refresh the README's data/window.png
    python bench/screenshot.py --rehearsal --update   # data/window-estimated.png
    twinlab train --steps 200000 --quiet --out long.h5
    python bench/screenshot.py --replay long.h5 --around 100 --at 100 \
        --out data/window-replay.png            # replay zoomed on the first steps
    python bench/screenshot.py --task bench/networks/board30-task.toml \
        --out data/window-network.png           # a network drawn at its automatic layout

Nothing is written into data/ unless ``--update`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


@contextlib.contextmanager
def rehearsal(directory: Path) -> Iterator[Path]:
    """``twinlab emulate --write-bench`` in a subprocess (no probe); its bench file."""
    bench = directory / "rehearsal.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "emulate", "--write-bench", str(bench)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"serving until Ctrl-C" in line:
                break
        else:
            raise SystemExit(f"screenshot: twinlab emulate ended: {proc.stderr.read()!r}")
        yield bench
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def shoot(shot: Path, steps: int, run_file: Path, bench: Path | None = None,
          task: str = "ii", replay: Path | None = None, around: int = 0,
          at: int = 40) -> dict:  # fmt: skip
    """Train ``task`` live in the window (on ``bench``, default the emulator), or open the
    run file ``replay`` with the plots following the cursor ± ``around`` steps (0: the
    whole run); the cursor at step ``at``; grab it into ``shot``; what was written."""
    from PyQt6.QtCore import QEventLoop, QTimer
    from PyQt6.QtWidgets import QApplication

    from gui.display import DisplayError, check
    from gui.window import MainWindow

    try:
        platform = check()
    except DisplayError as exc:
        raise SystemExit(f"screenshot: {exc}") from None
    app = QApplication.instance() or QApplication(["twinlab"])
    w = MainWindow(out=run_file, settings={"task": task, "p": 0.5, "steps": steps},
                   bench=None if bench is None else str(bench))
    w.resize(1400, 900)
    w.show()
    if replay is not None:  # a run file, its plots following the cursor at step `at`
        if not w.open_run(replay):
            raise SystemExit(f"screenshot: {w.last_message}")
    elif not w.start_run():
        raise SystemExit(f"screenshot: {w.last_message}")

    def wait(until: float | None = None) -> None:
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(20)
        done = (lambda: time.monotonic() >= until) if until else (lambda: w.live is None)
        timer.timeout.connect(lambda: done() and loop.quit())
        timer.start()
        loop.exec()
        timer.stop()

    if replay is None:
        wait()
        if w.summary is None or not w.summary.complete:
            raise SystemExit(f"screenshot: the run did not complete: {w.last_message}")
    w.timeline.window_box.setValue(around)
    w.timeline.slider.setValue(at)  # an early step, while many edges still update
    wait(time.monotonic() + 0.5)  # the deferred auto-range and repaints, before grabbing
    shot.parent.mkdir(parents=True, exist_ok=True)
    image = w.grab()
    if not image.save(str(shot)):
        raise SystemExit(f"screenshot: could not write {shot}")
    w.close()
    app.processEvents()
    codes = w.source.codes if w.source is not None else "?"
    return {"screenshot": str(shot), "platform": platform, "width": image.width(),
            "height": image.height(), "bytes": shot.stat().st_size, "steps": steps,
            "codes": codes, "run_seconds": w.run_seconds, "task": task,
            "replay": None if replay is None else str(replay), "around": around, "at": at}


def main() -> None:
    from gui.display import DisplayError, virtual_display

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=None,
                       help="the PNG to write (default bench/out/window.png, "
                       "bench/out/window-estimated.png with --rehearsal)")
    where.add_argument("--update", action="store_true",
                       help="write the README's data/window.png "
                       "(data/window-estimated.png with --rehearsal)")
    parser.add_argument("--rehearsal", action="store_true",
                        help="train on `twinlab emulate`'s probe-less bench (estimated codes)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (default 3000, 400 with --rehearsal)")
    parser.add_argument("--task", default="ii", help="task name or file (default ii)")
    parser.add_argument("--replay", type=Path, help="open this run file instead of training")
    parser.add_argument("--around", type=int, default=0,
                        help="plots follow the cursor +- this many steps (0: whole run)")
    parser.add_argument("--at", type=int, default=40, help="the cursor's step (default 40)")
    parser.add_argument("--display", help="an X display to use instead of a new Xvfb")
    args = parser.parse_args()
    name = "window-estimated.png" if args.rehearsal else "window.png"
    shot = REPO / "data" / name if args.update else args.out or REPO / "bench" / "out" / name
    steps = args.steps or (400 if args.rehearsal else 3000)
    os.environ.pop("QT_QPA_PLATFORM", None)  # xcb, as on a desktop (not offscreen)
    os.environ.pop("WAYLAND_DISPLAY", None)
    with contextlib.ExitStack() as stack:
        try:
            display = args.display or stack.enter_context(virtual_display())
        except DisplayError as exc:
            raise SystemExit(f"screenshot: {exc}") from None
        os.environ["DISPLAY"] = display
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bench = stack.enter_context(rehearsal(tmp)) if args.rehearsal else None
        task = str(Path(args.task).resolve()) if Path(args.task).suffix == ".toml" else args.task
        result = shoot(shot, steps, tmp / "shot.h5", bench, task, args.replay, args.around,
                       args.at)  # fmt: skip
    print(json.dumps({**result, "display": display}))


if __name__ == "__main__":
    main()
