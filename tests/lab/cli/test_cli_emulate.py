"""``twinlab emulate`` as a user and a shell end it: signals and bad options, in a subprocess.

SIGINT (Ctrl-C), SIGTERM and SIGHUP all stop serving, close the emulator (the SCPI port
refuses connections afterwards), print one line naming the signal and exit 128 + its
number. A bad ``--port`` or ``--write-bench`` is one ``twinlab: error:`` line and exit 2
before anything is served. (With ``--firmware simavr``: tests/firmware/
test_emulate_children.py.)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.proctree import emulate_child, end_session, open_ttys_and_sockets, read_until

ROOT = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
START_S = 120.0  # a bound for a loaded machine, not a speed figure


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=lambda s: s.name)  # fmt: skip
def test_signal_stops_serving_and_exits_128_plus_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    bench = tmp_path / "emu.toml"
    proc = emulate_child("--write-bench", str(bench))
    try:
        assert proc.stdout is not None
        text = read_until(proc.stdout, b"serving until Ctrl-C", START_S).decode()
        port = int(re.search(r"TCPIP::127\.0\.0\.1::(\d+)::SOCKET", text).group(1))
        assert bench.exists() and not _refused(port)
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        end_session(proc)
    assert proc.returncode == 128 + sig
    assert err.decode().strip().splitlines() == [f"emulator stopped ({sig.name})"]
    assert _refused(port)  # the server is closed, not just abandoned


def _one_error_line(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "lab.cli", "emulate", *args], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("twinlab: error: "), proc.stderr
    assert "DAQ" not in proc.stdout and "serving" not in proc.stdout  # nothing served
    return lines[0]


def test_port_in_use_is_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        line = _one_error_line("--port", str(port))
    assert f"--port {port}" in line and "in use" in line


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_port_outside_the_range_is_one_line(port: str) -> None:
    line = _one_error_line("--port", port)
    assert f"--port {port}" in line and "0..65535" in line


def test_write_bench_into_a_missing_directory_is_refused_before_serving(tmp_path: Path) -> None:
    target = tmp_path / "nonesuch" / "emu.toml"
    line = _one_error_line("--write-bench", str(target))
    assert "--write-bench" in line and str(tmp_path / "nonesuch") in line
    assert "does not exist" in line
    assert not target.parent.exists()


def test_write_bench_onto_a_directory_is_refused(tmp_path: Path) -> None:
    line = _one_error_line("--write-bench", str(tmp_path))
    assert "--write-bench" in line and "file path" in line


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads Linux's /proc")
def test_wire_emulator_close_leaves_no_pty_socket_or_thread() -> None:
    import threading

    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator

    before, threads = open_ttys_and_sockets(), set(threading.enumerate())
    emu = WireEmulator(EmulatorConfig(seed=0)).start()
    with open(emu.serial.path, "rb", buffering=0):  # a host on the clock board's pty
        pass
    port = emu.scpi.port
    assert len(open_ttys_and_sockets()) > len(before)
    emu.close()
    assert open_ttys_and_sockets() == before
    assert _refused(port)
    assert {t for t in threading.enumerate() if t.is_alive()} <= threads
