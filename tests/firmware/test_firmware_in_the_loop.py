"""Firmware in the loop: a training run whose clock board is the real twin_clock firmware.

`WireEmulator(firmware="simavr")` serves the emulated bench with the firmware running
under simavr (twin_sim) as its clock board: every rising edge on the simulated clock
pin is one update of the emulated network. The Python driver (SerialClockBoard, via
the bench file) trains 60 steps through it, and the run must equal the in-process run
with the same seed step for step: one PULSE, one edge, one update, applied before the
host saw ``OK``.

Builds the firmware once into a temporary directory (``make -C firmware BUILD=...``,
as test_firmware.py does); skips with the reason when avr-gcc, the Arduino core or
libsimavr are missing (firmware/apt-packages.txt).
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.emulator import EmulatorConfig
from lab.emulator.board import EmulatedBoard
from lab.emulator.wire.firmware_board import FIRMWARE_DIR, FirmwareBoard, missing_tools
from lab.emulator.wire.rehearsal import WireEmulator
from lab.runs import RunReader

STEPS = 60


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"firmware in the loop needs {', '.join(missing)} (firmware/apt-packages.txt)")
    out = tmp_path_factory.mktemp("firmware-build")
    run = subprocess.run(
        ["make", "-C", str(FIRMWARE_DIR), f"BUILD={out}", "-j2", "avr", "sim"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if run.returncode != 0:
        pytest.fail(f"make avr sim failed:\n{(run.stdout + run.stderr)[-4000:]}")
    return {"elf": out / "avr" / "twin_clock.elf", "harness": out / "sim" / "twin_sim"}


def test_training_run_with_the_firmware_as_clock_equals_in_process(
    firmware: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("serial")
    pytest.importorskip("pyvisa")
    settings = ["--steps", str(STEPS), "--p", "0.5"]
    local = tmp_path / "local.h5"
    assert main(["train", "--quiet", "--bench-seed", "3", *settings, "--out", str(local)]) == 0

    wire = tmp_path / "wire.h5"
    with WireEmulator(EmulatorConfig(seed=3), firmware="simavr", firmware_options=firmware,
                      probe=True) as emu:
        assert isinstance(emu.serial, FirmwareBoard)
        bench = emu.write_bench(tmp_path / "simavr.toml")
        text = bench.read_text()
        assert "ready_timeout = 5.0" in text and "reply_timeout = 2.0" in text
        t0 = time.perf_counter()
        code = main(["train", "--quiet", "--bench", str(bench), *settings, "--out", str(wire)])
        elapsed = time.perf_counter() - t0
        assert code == 0
        assert emu.board.pulses == STEPS
        assert emu.serial.edges == STEPS
        assert emu.serial.pulses == STEPS  # since the firmware's reset on the driver's open
    with RunReader(local) as a, RunReader(wire) as b:
        assert a.complete and b.complete and a.n_steps == b.n_steps == STEPS
        for name in ("positions", "update_mask", "direction", "example", "step"):
            np.testing.assert_array_equal(a.steps[name][:], b.steps[name][:], err_msg=name)
        for name in ("v_free", "v_clamped", "error"):
            np.testing.assert_allclose(a.steps[name][:], b.steps[name][:], rtol=0, atol=1e-12)
        step_ms = float(np.median(np.diff(b.steps["time"][:]))) * 1e3
    with capsys.disabled():
        print(
            f"\n    firmware in the loop: {STEPS} steps in {elapsed:.2f} s (driver open and "
            f"close included), median {step_ms:.2f} ms a step",
            end="",
        )


def test_every_reply_comes_after_its_edges_and_open_resets(firmware: dict[str, Path]) -> None:
    """The ordering the run relies on, PULSE by PULSE: when the host has ``OK n`` the
    board has all n updates; opening the port again resets the firmware (banner, count 0)."""
    serial = pytest.importorskip("serial")
    board = EmulatedBoard(EmulatorConfig(seed=1))
    with FirmwareBoard(board, threading.Lock(), **firmware) as fb:
        with serial.Serial(fb.path, 1_000_000, timeout=3) as port:
            assert port.readline().startswith(b"READY twin_clock ")
            expected = 0
            for i, n in enumerate([1] * 40 + [2, 3, 7, 1, 25]):
                port.write(b"#%d PULSE %d\n" % (i, n))
                assert port.readline() == b"#%d OK %d\r\n" % (i, n)
                expected += n
                assert board.pulses == fb.edges == expected  # already applied, not later
        time.sleep(0.1)  # a pty shows no close event: leave it closed a moment
        with serial.Serial(fb.path, 1_000_000, timeout=3) as port:
            assert port.readline().startswith(b"READY twin_clock ")
            port.write(b"STAT?\n")
            assert port.readline().startswith(b"OK pulses=0 ")
        assert fb.pulses == 0 and fb.edges == expected
    assert "END " in fb.stderr  # the harness ended cleanly on SIGTERM
