"""Round trip of a clock pulse over a pty, measured from Python with the real driver.

Prints one JSON line: the median and spread of `SerialClockBoard.pulse(1)` against
(a) the compiled twin_clock firmware under simavr (firmware-in-the-loop, as
`twinlab emulate --firmware simavr` serves it) and (b) the Python emulated clock
board, both on a pseudo-terminal. Needs the firmware toolchain (./dev test installs
it). Run: ``.venv/bin/python bench/bench_firmware.py [--pulses N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.twin_clock.board import SerialClockBoard
from lab.emulator import EmulatedBoard
from lab.emulator.wire.firmware_board import FirmwareBoard
from lab.emulator.wire.serial_board import SerialBoard


def round_trips(port: str, pulses: int, **options: float) -> np.ndarray:
    """Seconds per pulse(1) call, (pulses,)."""
    with SerialClockBoard(port, **options) as clock:
        times = np.empty(pulses)
        for i in range(pulses):
            t0 = time.perf_counter()
            clock.pulse(1)
            times[i] = time.perf_counter() - t0
    return times


def summary(times: np.ndarray) -> dict[str, float]:
    us = times * 1e6
    return {"median_us": round(float(np.median(us))), "p10_us": round(float(np.percentile(us, 10))),
            "p90_us": round(float(np.percentile(us, 90)))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pulses", type=int, default=200)
    args = parser.parse_args()
    lock = threading.Lock()
    firmware = FirmwareBoard(EmulatedBoard(), lock).start()
    try:
        sim = round_trips(firmware.path, args.pulses, ready_timeout=5.0, reply_timeout=2.0)
        edges = firmware.edges
    finally:
        firmware.close()
    with SerialBoard(EmulatedBoard(), lock=lock).start() as python_board:
        emulated = round_trips(python_board.path, args.pulses)
    print(json.dumps({
        "bench": "clock_pulse_round_trip",
        "pulses": args.pulses,
        "firmware_simavr": summary(sim),
        "edges_seen": edges,
        "python_emulator": summary(emulated),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
