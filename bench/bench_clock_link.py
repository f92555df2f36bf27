"""Clock-board link round trip under simavr, per command (issue 14 item 4).

Builds the firmware and the simavr harness (``make -C firmware avr sim`` into
``--build``, default a temporary directory), starts ``twin_sim`` (real time) and
measures, from the host side of its pty:

- ``plain``: a plain serial client (os.read/os.write on the pty after opening it, the
  way any terminal program talks to the board) sending each command untagged and
  reading its one reply line;
- ``driver``: `drivers.twin_clock.board.SerialClockBoard` (tagged commands).

Prints one JSON line: median and p90 round trip per command in microseconds, the
bytes per command and reply, and the protocol version and baud rate measured.
Run: ``/work/main/.venv/bin/python bench/bench_clock_link.py [--n 200]``.
No assertions: timings live here, not in tests/.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.twin_clock.board import SerialClockBoard  # noqa: E402
from lab.emulator.wire.firmware_board import build_firmware  # noqa: E402
from lab.hal import clock_protocol as proto  # noqa: E402

PLAIN_COMMANDS = {  # name -> the line a plain client sends
    "pulse": b"PULSE 1\n",
    "status": b"STAT?\n",
    "identify": b"*IDN?\n",
    "version": b"VER?\n",
    "safe": b"SAFE\n",
    "watchdog": b"WDT 0\n",
}


def _readline(fd: int, rx: bytearray, timeout: float = 2.0) -> bytes:
    deadline = time.monotonic() + timeout
    while (i := rx.find(b"\n")) < 0:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"no reply line within {timeout} s (got {bytes(rx)!r})")
        rx += os.read(fd, 4096)
    line = bytes(rx[: i + 1])
    del rx[: i + 1]
    return line


def plain(path: str, n: int) -> dict[str, dict[str, float]]:
    """Round trips of each command as a plain client sends it, right after opening."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        rx = bytearray()
        banner = _readline(fd, rx, timeout=5.0)
        out: dict[str, dict[str, float]] = {"banner": {"line": banner.decode().strip()}}  # type: ignore[dict-item]
        for name, line in PLAIN_COMMANDS.items():
            times = np.empty(n)
            reply = b""
            for i in range(n):
                t0 = time.perf_counter()
                os.write(fd, line)
                reply = _readline(fd, rx)
                times[i] = time.perf_counter() - t0
            out[name] = _summary(times) | {"bytes": len(line) + len(reply)}
        return out
    finally:
        os.close(fd)


def driver(path: str, n: int, baud: int) -> dict[str, dict[str, float]]:
    """Round trips of the driver's calls (tagged commands)."""
    out: dict[str, dict[str, float]] = {}
    with SerialClockBoard(path, baud=baud, ready_timeout=5.0, reply_timeout=2.0) as board:
        for name, call in (("pulse", lambda: board.pulse(1)), ("status", board.status),
                           ("identify", board.identify), ("safe", board.safe_state)):  # fmt: skip
            times = np.empty(n)
            for i in range(n):
                t0 = time.perf_counter()
                call()
                times[i] = time.perf_counter() - t0
            out[name] = _summary(times)
    return out


def _summary(times: np.ndarray) -> dict[str, float]:
    us = times * 1e6
    return {"median_us": round(float(np.median(us))), "p90_us": round(float(np.percentile(us, 90)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="round trips per command")
    parser.add_argument("--build", default=None, help="firmware build directory")
    args = parser.parse_args()
    build = args.build or tempfile.mkdtemp(prefix="twin-clock-build-")
    elf, harness = build_firmware(build)
    sim = subprocess.Popen(
        [str(harness), "--edges", os.devnull, str(elf)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        path = sim.stdout.readline().split()[1]  # "PTY /dev/pts/N"
        result = {
            "bench": "clock_link_round_trip",
            "protocol": proto.PROTOCOL_VERSION,
            "baud": proto.BAUD,
            "n": args.n,
            "plain": plain(path, args.n),
        }
        time.sleep(0.2)  # the harness notices a close and a re-open only this far apart
        result |= {
            "driver": driver(path, args.n, proto.BAUD),
        }
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
