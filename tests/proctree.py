"""Process trees from /proc, for the tests that kill a parent and look for its children.

A process is named by ``(pid, start time)`` (field 22 of /proc/PID/stat, clock ticks
since boot), so a pid reused after its process ended is not mistaken for it; a zombie
counts as gone (it holds no resources but its pid, and init reaps it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

Proc = tuple[int, int]  # (pid, start time in clock ticks)

needs_proc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not Path("/proc/self/stat").exists(),
    reason="reads the process tree from Linux's /proc",
)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of ``pid``, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> set[Proc]:
    """Every live process under ``root`` (children, grandchildren...), ``root`` excluded."""
    children: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st is not None and st[0] != "Z":
            children.setdefault(st[1], []).append((int(entry), st[2]))
    found: set[Proc] = set()
    todo = [root]
    while todo:
        for proc in children.get(todo.pop(), []):
            if proc not in found:
                found.add(proc)
                todo.append(proc[0])
    return found


def alive(proc: Proc) -> bool:
    """True while ``proc`` runs (not ended, not a zombie, pid not reused)."""
    st = _stat(proc[0])
    return st is not None and st[0] != "Z" and st[2] == proc[1]


def end_session(proc: subprocess.Popen[bytes], kids: set[Proc] = frozenset()) -> None:
    """Whatever a failed test left: ``proc``'s session (it was started with
    ``start_new_session=True``) and every one of ``kids`` still alive, SIGKILLed; reaped."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    for kid in kids:
        if alive(kid):
            os.kill(kid[0], signal.SIGKILL)


def command(pid: int) -> str:
    """The command line of ``pid`` ("" if gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def survivors(procs: set[Proc], within: float) -> dict[int, str]:
    """The processes of ``procs`` still alive after waiting up to ``within`` s for them to
    go: {pid: command line}. (A liveness bound, not a speed figure: they should go at once.)"""
    end = time.monotonic() + within
    left = {p for p in procs if alive(p)}
    while left and time.monotonic() < end:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return {pid: command(pid) for pid, _ in left}


def wait_for(predicate, within: float, what: str, poll: float = 0.05):
    """Poll ``predicate()`` until it is truthy (returned) or fail naming ``what``."""
    end = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        time.sleep(poll)


def read_until(stream, marker: bytes, within: float) -> bytes:
    """Read a child's pipe (binary) until ``marker`` appears; all read so far. Fails with
    what was read when the pipe closes or ``within`` s pass first."""
    import select

    fd = stream.fileno()
    data = b""
    end = time.monotonic() + within
    while marker not in data:
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail(f"no {marker!r} within {within} s; got {data!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            pytest.fail(f"pipe closed before {marker!r}; got {data!r}")
        data += chunk
    return data


def open_ttys_and_sockets() -> list[str]:
    """What this process holds open of ptys (either side) and sockets, sorted."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("/dev/pts/", "/dev/ptmx", "socket:")):
            found.append(target)
    return sorted(found)


def emulate_child(*args: str) -> subprocess.Popen[bytes]:
    """``twinlab emulate ARGS`` as a child in its own session, this checkout's code on its
    path, stdout and stderr piped (binary): end it with `end_session`."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "emulate", *args], cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
