"""`twinlab emulate --firmware simavr` and its children: none outlives it, however it ends.

The CLI builds the firmware into firmware/build (``make -C firmware``, incremental), as a
user's first run does; the module fixture runs that make once so the CLI's is quick.
Each test starts ``python -m lab.cli emulate`` in its own session, collects the processes
it started from /proc (twin_sim, and make while it builds), and ends it:

- SIGKILL (nothing of ours runs any more): every child is gone within 5 s (the kernel's
  parent-death signal, `lab.procs`);
- SIGTERM: exit 143 and "emulator stopped (SIGTERM)"; the children are already reaped
  when the process exits;
- Ctrl-C (SIGINT to the process alone) while ``make`` is still building: exit 130, one
  line on stderr, make gone;
- in process: `WireEmulator(firmware="simavr")` closed leaves no child (reaped, not a
  zombie) and no pty or socket open.

Skips when avr-gcc, the Arduino core or libsimavr are missing (firmware/apt-packages.txt).
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lab.emulator.wire.firmware_board import FIRMWARE_DIR, missing_tools
from tests.proctree import (
    alive,
    command,
    descendants,
    end_session,
    needs_proc,
    open_ttys_and_sockets,
    read_until,
    survivors,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
SERVING = b"serving until Ctrl-C"
START_S = 120.0  # generous: imports, numba's cache and make on a loaded 2-core machine

pytestmark = needs_proc


@pytest.fixture(scope="module")
def built() -> None:
    """firmware/build up to date (what the CLI's own make then finds)."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (firmware/apt-packages.txt)")
    run = subprocess.run(["make", "-C", str(FIRMWARE_DIR), "-j2", "avr", "sim"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    if run.returncode != 0:
        pytest.fail(f"make avr sim failed:\n{(run.stdout + run.stderr)[-4000:]}")


def _emulate(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "lab.cli", "emulate", "--firmware", "simavr",
            "--write-bench", str(tmp_path / "simavr.toml")]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=ROOT, env=env or dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def _serving(proc: subprocess.Popen[bytes]) -> set[tuple[int, int]]:
    assert proc.stdout is not None
    read_until(proc.stdout, SERVING, START_S)
    kids = descendants(proc.pid)
    assert any("twin_sim" in command(pid) for pid, _ in kids), [command(p) for p, _ in kids]
    return kids


def test_sigkill_of_emulate_simavr_leaves_no_process(built: None, tmp_path: Path) -> None:
    proc = _emulate(tmp_path)
    kids: set[tuple[int, int]] = set()
    try:
        kids = _serving(proc)
        os.kill(proc.pid, signal.SIGKILL)  # the process only: its children are on their own
        assert proc.wait(30) == -signal.SIGKILL
        assert survivors(kids, within=5.0) == {}
    finally:
        end_session(proc, kids)


def test_sigterm_of_emulate_simavr_reaps_its_children(built: None, tmp_path: Path) -> None:
    proc = _emulate(tmp_path)
    kids: set[tuple[int, int]] = set()
    try:
        kids = _serving(proc)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM
        assert err.decode().strip().splitlines() == ["emulator stopped (SIGTERM)"]
        # reaped by the emulator before it exited: not one left even for a moment
        assert survivors(kids, within=0.0) == {}
    finally:
        end_session(proc, kids)


def test_ctrl_c_while_building_the_firmware(built: None, tmp_path: Path) -> None:
    """A `make` that never ends (first on PATH) holds the start-up; Ctrl-C then ends it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "make-started"
    fake = bin_dir / "make"
    fake.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 600\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{bin_dir}:{os.environ['PATH']}")
    proc = _emulate(tmp_path, env)
    kids: set[tuple[int, int]] = set()
    try:
        wait_for(lambda: marker.exists() and marker.read_text().strip(), START_S,
                 "the fake make to start")  # fmt: skip
        kids = descendants(proc.pid)
        assert any("sleep 600" in command(pid) for pid, _ in kids)
        os.kill(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C, but to the process alone
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130
        lines = err.decode().strip().splitlines()
        assert len(lines) == 1 and "start-up" in lines[0] and "SIGINT" in lines[0], lines
        assert b"serving" not in out
        assert survivors(kids, within=0.0) == {}
        assert not (tmp_path / "simavr.toml").exists()
    finally:
        end_session(proc, kids)


def test_wire_emulator_with_firmware_closes_everything(built: None) -> None:
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.firmware_board import FirmwareBoard
    from lab.emulator.wire.rehearsal import WireEmulator

    gc.collect()  # what earlier tests left unreachable is not this test's to count
    before = open_ttys_and_sockets()
    emu = WireEmulator(EmulatorConfig(seed=0), firmware="simavr").start()
    try:
        assert isinstance(emu.serial, FirmwareBoard)
        harness = emu.serial._proc
        assert harness is not None and harness.poll() is None
        port = emu.scpi.port
        kids = descendants(os.getpid())
        assert any(pid == harness.pid for pid, _ in kids)
    finally:
        emu.close()
    assert harness.returncode is not None  # waited for: no zombie
    assert not Path(f"/proc/{harness.pid}").exists() or not alive(
        next(k for k in kids if k[0] == harness.pid)
    )
    assert open_ttys_and_sockets() == before
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
