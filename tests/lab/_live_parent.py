"""Parent process for tests/lab/test_children.py: starts a live training run, then idles.

Usage: python -m tests.lab._live_parent OUT run RECORD
       python -m tests.lab._live_parent OUT setup MARKER GO

``run``: a `LiveRun` of 10**6 steps on the default emulator, whose output state is
written to RECORD (JSON) when the bench is closed (`tests.gui.benches.recorded`);
prints ``running <pid>`` (the training process's pid) once its first batch has arrived,
then keeps receiving.
``setup``: the training process's bench factory (`gated_bench`) writes MARKER and waits
until GO exists before it returns the emulator bench; prints ``setup <pid>`` at once.
Either way it never ends by itself: the test kills it.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

from lab.hal import Bench


def gated_bench(marker: str, go: str) -> Bench:
    """Bench factory (runs in the training process): say so, wait for ``go``, then the
    default emulator bench."""
    from lab.emulator import emulator_bench

    Path(marker).write_text("in the bench factory\n")
    while not Path(go).exists():
        time.sleep(0.02)
    return emulator_bench()


def main(argv: list[str]) -> None:
    import tests.lab._live_parent as me  # pickled by this name, not as __main__
    from lab.acquire.live import Batch, LiveRun, LiveSpec

    out, mode = argv[0], argv[1]
    settings = {"task": "ii", "steps": 10**6}
    if mode == "setup":
        factory = functools.partial(me.gated_bench, argv[2], argv[3])
        live = LiveRun(LiveSpec(settings=settings, out=out, bench_factory=factory))
        print(f"setup {live.process.pid}", flush=True)
    else:
        from tests.gui.benches import recorded

        factory = functools.partial(recorded, argv[2])
        live = LiveRun(LiveSpec(settings=settings, out=out, bench_factory=factory))
        while not any(isinstance(m, Batch) for m in live.messages()):
            time.sleep(0.01)
        print(f"running {live.process.pid}", flush=True)
    while True:
        live.messages()
        time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1:])
