"""The hardware step budget: what one training step costs on the rehearsal bench.

The rehearsal bench is `WireEmulator(firmware="simavr")`: the SCPI emulator over TCP
(pyvisa-py) and the real clock firmware under simavr on a pty (pyserial), opened through
the ``instruments`` bench kind (`drivers.bench`) from the bench file it writes. Training
task ii, per step:

- DAQ transactions: messages through the DAQ's adapter (`drivers.scpi.adapter`, counted
  by a `CountingAdapter` put in the instrument's adapter seam; one query = one);
- serial round trips: clock-board commands (identify, pulse <= N_MAX, status, safe),
  counted by wrapping the board object from outside;
- wall time, split into instrument time (inside the DAQ adapter and the clock board's
  calls: sending and waiting for replies) and controller time (the rest: trainer, limit
  checks, estimator, records).

Three benches: the probe-less bench with the estimator off (codes unknown) and on
(`TrainSettings.estimate`, `lab.observe`), and the emulator's exact probe for reference
(rehearsal only; ``EMUL:POS?``/``EMUL:UPD?`` are not on a real bench). Per-step figures
are taken between consecutive steps (an observer); the first step (the run's start, the
estimator's first resync, compilation) is shown apart, the statistics are over the rest
(means include the estimator's periodic resyncs).
Needs the firmware toolchain (firmware/apt-packages.txt).
Run: ``.venv/bin/python bench/bench_step_budget.py [--steps N] [--p P]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.scpi.adapter import CountingAdapter
from lab.acquire.records import Observer, StepRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatorConfig
from lab.emulator.wire.rehearsal import WireEmulator
from lab.hal.benchfile import load_bench
from lab.hal.calibration import toml_text
from lab.procs import freeze_imported
from lab.tasks import load_task


class CountingBoard:
    """The clock board, wrapped from outside: every public command is one serial round
    trip (``pulse(n)`` with n <= N_MAX is one PULSE); ``round_trips`` and ``seconds`` (s)
    spent inside them."""

    COMMANDS = frozenset({"identify", "pulse", "status", "safe_state"})

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.round_trips = 0
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.COMMANDS:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.round_trips += 1

        return counted


class StepMeter(Observer):
    """Per step (between consecutive ``step`` calls): DAQ transactions, serial round trips,
    wall time and instrument time (s). The first step is measured from ``start``."""

    critical = False

    def __init__(self, daq: CountingAdapter, clock: CountingBoard) -> None:
        self.daq, self.clock = daq, clock
        self.rows: list[tuple[int, int, float, float]] = []
        self._last = (0, 0, 0.0, 0.0)

    def _now(self) -> tuple[int, int, float, float]:
        return (self.daq.messages, self.clock.round_trips, time.perf_counter(),
                self.daq.seconds + self.clock.seconds)  # fmt: skip

    def start(self, info: Any) -> None:
        self._last = self._now()

    def step(self, record: StepRecord) -> None:
        now = self._now()
        self.rows.append(tuple(a - b for a, b in zip(now, self._last, strict=True)))  # type: ignore[arg-type]
        self._last = now


def run(emu: WireEmulator, tmp: Path, probe: bool, estimate: bool, steps: int, p: float) -> dict:
    """One training run on ``emu``'s bench; the per-step figures."""
    data = emu.bench_data()
    if not probe:
        data["probe"] = {"kind": "none"}
    path = tmp / f"bench-{probe}-{estimate}.toml"
    path.write_text(toml_text(data, "step budget"), encoding="utf-8")
    bench = load_bench(path)
    try:
        daq = CountingAdapter(bench.daq.inst.adapter)  # the adapter seam (drivers.scpi)
        bench.daq.inst.adapter = daq
        clock = CountingBoard(bench.clock)
        bench.clock = clock
        meter = StepMeter(daq, clock)
        settings = settings_from(steps=steps, test_every=0, p=p, estimate=estimate)
        trainer = Trainer(bench, load_task("ii"), settings, [meter])
        estimated = trainer.probe is not None and bool(trainer.probe.estimated)
        trainer.run()
    finally:
        bench.close()
    rows = np.array(meter.rows, dtype=float)
    first = rows[0]  # the first step carries the run's start (and the estimator's first resync)
    daq_n, serial_n, wall, inside = rows[1:].T
    return {
        "probe": "emulator" if probe else ("estimated" if estimated else "none"),
        "steps": len(rows),
        "first_daq": int(first[0]),
        "first_ms": first[2] * 1e3,
        "daq_mean": daq_n.mean(),
        "daq_median": float(np.median(daq_n)),
        "daq_max": int(daq_n.max()),
        "serial_mean": serial_n.mean(),
        "wall_ms": wall.mean() * 1e3,
        "wall_median_ms": float(np.median(wall)) * 1e3,
        "instrument_ms": inside.mean() * 1e3,
        "controller_ms": (wall - inside).mean() * 1e3,
    }


def table(rows: list[dict]) -> str:
    head = (f"{'bench probe':<12} {'steps':>5} {'first step':>14} {'DAQ tx/step':>22} "
            f"{'serial/step':>11} {'wall ms':>15} {'instrument ms':>13} "
            f"{'controller ms':>13}")  # fmt: skip
    sub = (f"{'':<12} {'':>5} {'DAQ tx     ms':>14} {'mean  median   max':>22} "
           f"{'mean':>11} {'mean  median':>15} {'mean':>13} {'mean':>13}")  # fmt: skip
    lines = [head, sub, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['probe']:<12} {r['steps']:>5} {r['first_daq']:>6} {r['first_ms']:>7.1f} "
            f"{r['daq_mean']:>8.2f} {r['daq_median']:>7.0f} {r['daq_max']:>5} "
            f"{r['serial_mean']:>11.2f} {r['wall_ms']:>7.2f} {r['wall_median_ms']:>7.2f} "
            f"{r['instrument_ms']:>13.2f} {r['controller_ms']:>13.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    freeze_imported()  # as the entry point `twinlab train` does
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for probe, estimate in ((False, False), (False, True), (True, False)):
            config = EmulatorConfig(seed=args.seed)  # a fresh board each run
            with WireEmulator(config, firmware="simavr") as emu:
                rows.append(run(emu, Path(tmp), probe, estimate, args.steps, args.p))
    print(f"step budget: task ii, p = {args.p}, {args.steps} steps, rehearsal bench "
          "(SCPI emulator over TCP, clock firmware under simavr)")  # fmt: skip
    print(table(rows))


if __name__ == "__main__":
    main()
