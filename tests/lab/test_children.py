"""Helper processes die with their parent (`lab.procs`): real processes, real signals.

- `lab.procs.popen`: the child gets the parent-death signal, even when started from a
  thread that ends at once; SIGKILL of the parent ends it; an interrupted `run` kills
  and reaps its child.
- `lab.insilico.sweep` (local pool): SIGKILL of the sweep's process ends every worker (busy or
  idle) and multiprocessing's resource tracker.
- `lab.acquire.live` (the live window's training process): SIGKILL of the window's process while
  training stops the run after its step (bench safe, run file closed and readable,
  incomplete) and the process exits, also when the window had stopped reading (SIGSTOP,
  its message pipe full); killed while the process sets up, no run is started at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from lab import procs
from lab.runs import RunReader
from tests.proctree import (
    descendants,
    end_session,
    needs_proc,
    read_until,
    survivors,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
START_S = 120.0  # generous bounds for a loaded 2-core machine; nothing here is timed
EXIT_S = 60.0

pytestmark = needs_proc


def _python(code: str, *args: str, **kw) -> subprocess.Popen[bytes]:
    """``python -c CODE ARGS`` in its own session (a kill reaches only what we aim at)."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, **kw)  # fmt: skip


# -- lab.procs ----------------------------------------------------------------------------------
@pytest.mark.skipif(not procs.PDEATHSIG_SUPPORTED, reason="Linux's PR_SET_PDEATHSIG")
def test_popen_child_has_the_parent_death_signal_even_from_a_short_lived_thread() -> None:
    code = "import ctypes, sys; from lab.procs import parent_death_signal; " \
           "print(parent_death_signal())"  # fmt: skip
    box: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:  # this thread ends before the child does
        box["p"] = procs.popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            death_signal=signal.SIGTERM,
        )

    t = threading.Thread(target=start)
    t.start()
    t.join()
    out, _ = box["p"].communicate(timeout=EXIT_S)
    assert box["p"].returncode == 0  # not killed when its starting thread ended
    assert int(out) == signal.SIGTERM


def test_sigkill_of_the_parent_ends_a_popen_child() -> None:
    parent = _python("""
        import sys, time
        from lab import procs
        child = procs.popen(["sleep", "600"])
        print(child.pid, flush=True)
        time.sleep(600)
    """)
    kids: set[tuple[int, int]] = set()
    try:
        assert parent.stdout is not None
        read_until(parent.stdout, b"\n", START_S)
        kids = descendants(parent.pid)
        assert len(kids) == 1
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        assert survivors(kids, within=5.0) == {}
    finally:
        end_session(parent, kids)


def test_interrupted_run_kills_and_reaps_its_child(tmp_path: Path) -> None:
    parent = _python(
        """
        import os, signal, sys, threading
        from lab import procs
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            procs.run(["sh", "-c", "echo $$ > " + sys.argv[1] + "; exec sleep 600"])
        except KeyboardInterrupt:
            pid = int(open(sys.argv[1]).read())
            print("reaped" if not os.path.exists(f"/proc/{pid}") else "left", flush=True)
    """,
        str(tmp_path / "pid"),
    )
    try:
        out, err = parent.communicate(timeout=EXIT_S)
        assert out.decode().split() == ["reaped"], err.decode()
    finally:
        end_session(parent, set())


# -- the sweep's worker pool ------------------------------------------------------------------
def test_sigkill_of_a_local_sweep_ends_its_workers(tmp_path: Path) -> None:
    (tmp_path / "trap").write_text("")  # points 0 and 1 hang (60 s) while it exists
    parent = _python(
        """
        import sys
        from pathlib import Path
        from lab.insilico.sweep import run_sweep
        from tests.lab.insilico.sweep_funcs import record
        tmp = Path(sys.argv[1])
        points = [{"x": x, "log": str(tmp / "calls.txt"), "trap": str(tmp / "trap"),
                   "hang_at": [0, 1]} for x in range(3)]
        run_sweep(record, points, tmp / "s.jsonl", workers=3, progress=False)
    """,
        str(tmp_path),
    )
    kids: set[tuple[int, int]] = set()
    try:
        calls, out = tmp_path / "calls.txt", tmp_path / "s.jsonl"
        # two workers asleep in a point, the third idle after finishing the last one
        wait_for(lambda: calls.exists() and len(calls.read_text().split()) == 3
                 and out.exists() and out.read_text().count("\n") == 1, START_S,
                 "three points started and one saved")  # fmt: skip
        kids = descendants(parent.pid)
        assert len(kids) >= 3  # the workers (and the resource tracker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        assert survivors(kids, within=5.0) == {}
    finally:
        end_session(parent, kids)


# -- the live window's training process -------------------------------------------------------
def _live_parent(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.lab._live_parent", *args], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip


def _child_pid(parent: subprocess.Popen[bytes], word: bytes) -> int:
    assert parent.stdout is not None
    line = read_until(parent.stdout, b"\n", START_S).split(b"\n")[0].split()
    assert line[0] == word, line
    return int(line[1])


@pytest.mark.parametrize("stopped_first", [False, True], ids=["reading", "stopped"])
def test_sigkill_of_the_window_stops_the_training_process_safely(
    tmp_path: Path, stopped_first: bool
) -> None:
    out, record = tmp_path / "run.h5", tmp_path / "bench.json"
    parent = _live_parent(str(out), "run", str(record))
    kids: set[tuple[int, int]] = set()
    try:
        child = _child_pid(parent, b"running")
        kids = descendants(parent.pid)
        assert any(pid == child for pid, _ in kids)
        if stopped_first:  # the window stops reading: the message pipe fills up
            os.kill(parent.pid, signal.SIGSTOP)
            size = out.stat().st_size
            wait_for(lambda: out.stat().st_size > size + 200_000, START_S,
                     "the run to go on without the window")  # fmt: skip
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        assert survivors(kids, within=EXIT_S) == {}
        state = json.loads(record.read_text())  # the bench as it was closed: safe
        assert not state["driven"] and state["applied_max"] == 0.0
        assert state["bias"] > state["oscillator_max"]  # p = 0: no edge can update
        with RunReader(out) as run:  # closed by the training process: readable, incomplete
            assert run.n_steps > 0
            assert not run.complete
    finally:
        end_session(parent, kids)


def test_window_killed_during_set_up_starts_no_run(tmp_path: Path) -> None:
    out, marker, go = tmp_path / "run.h5", tmp_path / "in-factory", tmp_path / "go"
    parent = _live_parent(str(out), "setup", str(marker), str(go))
    kids: set[tuple[int, int]] = set()
    try:
        _child_pid(parent, b"setup")
        wait_for(marker.exists, START_S, "the training process's bench factory")
        kids = descendants(parent.pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        go.write_text("")  # the bench is ready now; nobody is watching any more
        assert survivors(kids, within=EXIT_S) == {}
        assert not out.exists()  # no voltage applied, no run file for a window that is gone
    finally:
        end_session(parent, kids)
