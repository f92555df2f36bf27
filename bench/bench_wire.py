"""Training over the wire: real drivers against the wire-level emulator.

Prints one JSON line: steps/s of task ii through pyvisa-py (TCP loopback) and pyserial
(pty) with run writing on, the time per step spent inside instrument calls (driver +
transport + emulated instrument, measured at the HAL boundary), and the controller's
own overhead per step (everything else: trainer, limit checks, records, run file).
Run: ``.venv/bin/python bench/bench_wire.py [--steps N]``.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.hal.benchfile import load_bench
from lab.procs import freeze_imported
from lab.runs import RunWriter
from lab.tasks import load_task


class Timed:
    """Wraps an instrument and adds the wall time of every call to a shared counter."""

    def __init__(self, inner: object, clock: list[float]) -> None:
        self._inner, self._clock = inner, clock

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._clock[0] += time.perf_counter() - t0

        return timed


@contextlib.contextmanager
def emulator_process(bench_file: Path) -> Iterator[Path]:
    """`twinlab emulate` in its own process (as on a rehearsal day); yields its bench file."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "emulate", "--probe", "--write-bench", str(bench_file)],
        cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:
            if "serving until Ctrl-C" in line:
                break
        yield bench_file
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process(Path(tmp) / "wire.toml") as path:
        bench = load_bench(path)
        inside = [0.0]
        bench.daq = Timed(bench.daq, inside)
        bench.clock = Timed(bench.clock, inside)
        bench.probe = Timed(bench.probe, inside)
        settings = settings_from(steps=args.steps, test_every=0)
        trainer = Trainer(bench, load_task("ii"), settings, [RunWriter(Path(tmp) / "run.h5")])
        freeze_imported()  # as the entry point `twinlab train` does
        t0 = time.perf_counter()
        trainer.run()
        total = time.perf_counter() - t0
        bench.close()
    per_step = total / args.steps
    print(
        json.dumps(
            {
                "bench": "train_wire_16edge",
                "steps": args.steps,
                "steps_per_s": round(args.steps / total),
                "us_per_step": round(per_step * 1e6, 1),
                "us_in_instrument_calls": round(inside[0] / args.steps * 1e6, 1),
                "controller_overhead_us": round((total - inside[0]) / args.steps * 1e6, 1),
                "overhead_fraction": round(1 - inside[0] / total, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
