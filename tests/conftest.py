"""The test session is an entry point too: once every test module is imported, keep the
long-lived objects out of the cyclic collector's walks (`lab.procs.freeze_imported`), as
``twinlab train`` and the window do; library code never calls `gc.freeze`."""

from __future__ import annotations

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    from lab.procs import freeze_imported

    freeze_imported()
