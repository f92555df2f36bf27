"""Fixtures of the window tests (pytest-qt)."""

from __future__ import annotations

import pytest


@pytest.fixture
def window(qtbot):
    """A shown `MainWindow` (emulator bench); a live run still going at the end is stopped."""
    from gui.window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    if w.live is not None:
        w.stop_run()
