"""``twinlab gui``: the live window (train on a bench) or ``replay RUN.h5`` of a run file.

    live(settings={"task": "ii", "p": 0.5}, start=True)   the live window
    replay("data/runs/x.h5", follow=True)                  replay / tail a run file
    main(["--task", "ii", "--p", "0.5", "--start"])        as ``twinlab gui ARGS``
    main(["replay", "data/runs/x.h5", "--follow"])         as ``twinlab replay ARGS``

The options are ``twinlab``'s own (lab/cli and gui/commands.py define them once, checks them and the
files before any window opens, then calls `live` or `replay`). Both first check that Qt
can open a window here (`gui.display.check`): otherwise one ``twinlab: error:`` line and
status 2, instead of Qt's abort.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Any

from gui.display import DisplayError, check
from lab.signals import STOP_SIGNALS

log = logging.getLogger(__name__)


def _application() -> Any:
    """The QApplication (created once), after `check`; DisplayError or ImportError first."""
    platform = check()
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["twinlab"])
    log.info("window on Qt platform %s", platform)
    return app


def _exec(app: Any) -> int:
    """Run the event loop. SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed)
    close every window, as the close
    button does (a live run stops: bench safe, file marked incomplete), and make the
    status 128 + the signal's number; otherwise Qt's exit status.

    First, as this process's entry point, `freeze_imported`: Qt, pyqtgraph, numpy and the
    window are made; keeping them out of the cyclic collector's walks spares the live
    window full passes that stall a frame by ~80 ms."""
    from PyQt6.QtCore import QTimer

    from lab.procs import freeze_imported

    freeze_imported()
    caught: list[int] = []

    def close_all(signum: int) -> None:
        from gui.window import MainWindow

        for widget in app.topLevelWidgets():
            if isinstance(widget, MainWindow):  # its live run's message names the signal
                widget.close_on_signal(signum)
            else:
                widget.close()
        app.quit()

    def on_signal(signum: int, frame: object) -> None:
        # Python runs this at its next bytecode, which may be inside a paint event of
        # the window's (Python) widgets: closing there destroys the window under Qt's
        # paint, whose flush then warns on stderr. So only note the signal (and which
        # run it stops: by the next turn a group's signal may have ended the training
        # process itself); the event loop closes the windows at its next turn (a second
        # signal is not queued twice).
        from gui.window import MainWindow

        caught.append(signum)
        if len(caught) == 1:
            for widget in app.topLevelWidgets():
                if isinstance(widget, MainWindow):
                    widget.note_signal(signum)
            QTimer.singleShot(0, lambda: close_all(signum))

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        status = int(app.exec())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + caught[0] if caught else status


def _fail(err: Exception) -> int:
    if isinstance(err, ImportError):
        text = f"the window needs the 'gui' extra (pip install 'twinlab[gui]'): {err}"
    else:
        text = str(err)
    print(f"twinlab: error: {text}", file=sys.stderr)
    return 2


def live(*, bench: str | None = None, bench_seed: int | None = None,
         out: str | Path | None = None, settings: dict[str, Any] | None = None,
         start: bool = False) -> int:
    """The live window with its controls preset to ``settings`` (`TrainSettings` fields;
    None = default); ``start``: begin training at once. Returns Qt's exit status (2 when
    no window can open here; 130 / 143 / 129 when closed by SIGINT / SIGTERM / SIGHUP)."""
    try:
        app = _application()
        from gui.window import MainWindow
    except (DisplayError, ImportError) as err:
        return _fail(err)
    window = MainWindow(bench=bench, bench_seed=bench_seed, out=out, settings=settings or {})
    window.show()
    if start:
        window.start_run()
    status = _exec(app)
    if window.stopped_by is not None:
        print(_stopped_line(*window.stopped_by), file=sys.stderr)
    return status


def _stopped_line(signum: int, source: Any) -> str:
    """The terminal's line when signal ``signum`` closed the window: as ``twinlab
    train``'s (`lab.cli.common.incomplete_line`) when it stopped a live run (``source``,
    a `gui.sources.LiveSource`, or None)."""
    from lab.cli.common import incomplete_line
    from lab.signals import interrupted_by

    summary = None if source is None else source.summary
    if summary is not None and not summary.complete:
        return incomplete_line(summary.message, source.bench_safe, source.path, source.discarded)
    line = f"twinlab: {interrupted_by(signum)}"
    if source is not None and source.error:
        line += f"; {source.error}"
    return line


def replay(run: str | Path, *, follow: bool = False) -> int:
    """The window on run file ``run`` (``follow``: tail a file still being written)."""
    try:
        app = _application()
        from gui.window import MainWindow
    except (DisplayError, ImportError) as err:
        return _fail(err)
    window = MainWindow()
    window.show()
    window.open_run(run, follow=follow)
    return _exec(app)


def main(argv: list[str] | None = None) -> int:
    """``twinlab gui ARGS`` (or ``twinlab replay ARGS`` when ARGS starts with ``replay``)."""
    from lab.cli import main as twinlab

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "replay":
        return twinlab(argv)
    return twinlab(["gui", *argv])


if __name__ == "__main__":
    sys.exit(main())
