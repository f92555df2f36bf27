"""Where a test's callback is called from: lets a `should_stop` stop a check at a chosen
point deterministically."""

from __future__ import annotations

import sys


def inside(name: str) -> bool:
    """The caller's stack has a function called ``name``."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False
