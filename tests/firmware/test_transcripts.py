"""The protocol transcripts of firmware/tests against every implementation we have.

Targets: the pure state machine (`ClockProtocol`), the emulated board on a real pty
(`SerialBoard`), and, when ``TWINLAB_CLOCK_HOST`` names an executable (the C++ firmware
built for the host, issue 4), that program: it gets the host's bytes on stdin, prints
the board's lines on stdout, and is started with ``--pace`` for paced transcripts.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.emulator.clock_protocol import ClockProtocol

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "firmware" / "tests"
REPLY_TIMEOUT = 2.0  # s a `<` line waits for its reply
STARTUP_TIMEOUT = 15.0  # s the first line (the banner) may take: a program starting up
QUIET = 0.15  # s of silence that ends a transcript in a threaded target


# -- the transcript format (firmware/tests/README.md) -----------------------------------------
@dataclass(frozen=True)
class Step:
    """One directive: ("send", bytes), ("expect", text), ("match", regex), ("wait", s)."""

    kind: str
    value: bytes | str | float
    line: int


_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}


def unescape(text: str) -> bytes:
    """The bytes a `> ` line sends: escapes resolved, ``\\n`` appended unless it ends in ``\\c``."""
    out = bytearray()
    terminate = True
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif nxt == "c" and i + 2 == len(text):
            terminate = False
            i += 2
        else:
            raise ValueError(f"bad escape in {text!r} at {i}")
    return bytes(out + b"\n") if terminate else bytes(out)


def parse(text: str) -> tuple[bool, list[Step]]:
    """(paced?, steps) of a transcript."""
    steps: list[Step] = []
    pace = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if line == ">" or line.startswith("> "):
            steps.append(Step("send", unescape(line[2:]), number))
        elif line.startswith("< ~"):
            steps.append(Step("match", line[3:], number))
        elif line.startswith("< "):
            steps.append(Step("expect", line[2:], number))
        elif line == "@ pace":
            if steps:
                raise ValueError(f"line {number}: '@ pace' must come before everything else")
            pace = True
        elif m := re.fullmatch(r"@ wait (\d+)", line):
            steps.append(Step("wait", int(m.group(1)) / 1000, number))
        else:
            raise ValueError(f"line {number}: cannot read {raw!r}")
    return pace, steps


# -- targets ----------------------------------------------------------------------------------
class Target:
    """Something that speaks the protocol: bytes in, lines out (without ``\\r\\n``)."""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def readline(self, timeout: float) -> str | None:
        """The next line from the board, or None if none comes within ``timeout`` s."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def feed(self, data: bytes, quiet: float = 0.0) -> list[str]:
        """Send ``data``; return the lines that come until ``quiet`` s pass without one."""
        self.write(data)
        lines = []
        while (line := self.readline(quiet)) is not None:
            lines.append(line)
        return lines


class ProtocolTarget(Target):
    """The pure-Python state machine, driven directly."""

    quiet = 0.0

    def __init__(self, pace: bool) -> None:
        self.pulses = 0
        self._lines: deque[str] = deque()
        self._ready = threading.Condition()
        self.proto = ClockProtocol(self._pulse, pace=pace, on_output=self._async)
        self.quiet = QUIET if pace else 0.0
        self._lines.append(self.proto.banner())

    def _pulse(self) -> None:
        self.pulses += 1

    def _async(self) -> None:
        with self._ready:
            self._lines.extend(self.proto.poll())
            self._ready.notify_all()

    def write(self, data: bytes) -> None:
        with self._ready:
            self._lines.extend(self.proto.feed(data))
            self._ready.notify_all()

    def readline(self, timeout: float) -> str | None:
        with self._ready:
            self._ready.wait_for(lambda: self._lines, timeout)
            return self._lines.popleft() if self._lines else None

    def close(self) -> None:
        self.proto.close()


class FdTarget(Target):
    """A byte stream: write to ``wfd``, read lines from ``rfd`` (a pty, a pipe)."""

    quiet = QUIET

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self._buf = bytearray()

    def write(self, data: bytes) -> None:
        os.write(self.wfd, data)

    def readline(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (i := self._buf.find(b"\n")) < 0:
            left = deadline - time.monotonic()
            if not select.select([self.rfd], [], [], max(0.0, left))[0]:
                return None
            chunk = os.read(self.rfd, 4096)
            if not chunk:
                return None
            self._buf += chunk
        line = bytes(self._buf[:i])
        del self._buf[: i + 1]
        assert line.endswith(b"\r"), f"reply {line!r} does not end in \\r\\n"
        return line[:-1].decode("latin-1")


class EdgeCounter:
    """Stands in for the twin network behind the serial board: the transcripts test the
    wire, and PULSE 1000000 must not take a minute of physics."""

    pulses = 0

    def clock_edge(self) -> None:
        self.pulses += 1


class SerialBoardTarget(FdTarget):
    """The emulated board on a pty, opened like a serial port (raw, no echo)."""

    def __init__(self, pace: bool) -> None:
        from lab.emulator.wire.serial_board import SerialBoard

        self.edges = EdgeCounter()
        self.board = SerialBoard(self.edges, pace=pace, reset_delay=0.02)  # type: ignore[arg-type]
        self.board.start()
        fd = os.open(self.board.path, os.O_RDWR | os.O_NOCTTY)
        super().__init__(fd, fd)

    def close(self) -> None:
        os.close(self.rfd)
        self.board.close()
        assert self.edges.pulses == self.board.pulses  # one clock_edge per pulse, no more


class ProcessTarget(FdTarget):
    """A program that reads the host's bytes on stdin and prints the board's lines."""

    def __init__(self, command: str, pace: bool) -> None:
        argv = [*shlex.split(command), *(["--pace"] if pace else [])]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        super().__init__(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run(target: Target, steps: list[Step], name: str = "transcript") -> None:
    """Play ``steps`` against ``target``; AssertionError names the first line that differs."""
    first = True
    for step in steps:
        where = f"{name}:{step.line}"
        if step.kind == "send":
            target.write(step.value)  # type: ignore[arg-type]
        elif step.kind == "wait":
            time.sleep(step.value)  # type: ignore[arg-type]
        else:
            got = target.readline(STARTUP_TIMEOUT if first else REPLY_TIMEOUT)
            first = False
            assert got is not None, f"{where}: no reply, expected {step.value!r}"
            if step.kind == "expect":
                assert got == step.value, f"{where}: got {got!r}, expected {step.value!r}"
            else:
                assert re.fullmatch(step.value, got), (  # type: ignore[arg-type]
                    f"{where}: got {got!r}, expected a match of {step.value!r}"
                )
    extra = target.readline(getattr(target, "quiet", QUIET))
    assert extra is None, f"{name}: unexpected line after the last reply: {extra!r}"


# -- the transcripts against every target -----------------------------------------------------
TargetFactory = Callable[[bool], Target]
FACTORIES: dict[str, TargetFactory] = {
    "protocol": ProtocolTarget,
    "serial_board": SerialBoardTarget,
}
if os.environ.get("TWINLAB_CLOCK_HOST"):
    FACTORIES["host_binary"] = lambda pace: ProcessTarget(os.environ["TWINLAB_CLOCK_HOST"], pace)

FILES = sorted(TRANSCRIPTS.glob("*.txt"))


def test_every_transcript_is_there() -> None:
    names = {p.name for p in FILES}
    assert {"banner.txt", "pulse.txt", "errors.txt", "tags.txt", "burst.txt", "watchdog.txt"} <= (
        names
    )


@pytest.mark.parametrize("target", sorted(FACTORIES))
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path, target: str) -> None:
    pace, steps = parse(path.read_text())
    t = FACTORIES[target](pace)
    try:
        run(t, steps, path.name)
    finally:
        t.close()


# -- the runner itself catches what it should -------------------------------------------------
@pytest.mark.parametrize(
    "text, message",
    [
        ("< ~READY.*\n> VER?\n< OK 3\n", "got 'OK 2', expected 'OK 3'"),
        ("< ~READY.*\n> VER?\n< ~OK [3-9]\n", "expected a match"),
        ("< ~READY.*\n> VER?\n", "unexpected line after the last reply: 'OK 2'"),
        ("< ~READY.*\n>\n< OK 2\n", "no reply"),
        ("< ~READY.*\n> VER?\n< OK 2\n< OK 2\n", "no reply"),
    ],
)
def test_runner_fails_on_a_wrong_transcript(text: str, message: str, monkeypatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "REPLY_TIMEOUT", 0.01)
    pace, steps = parse(text)
    with pytest.raises(AssertionError, match=re.escape(message)):
        run(ProtocolTarget(pace), steps)


def test_escapes() -> None:
    assert unescape(r"VER?") == b"VER?\n"
    assert unescape(r"VER?\r") == b"VER?\r\n"
    assert unescape(r"\x00\xffA\\\t") == b"\x00\xffA\\\t\n"
    assert unescape(r"PULSE\c") == b"PULSE"
    assert unescape("") == b"\n"
    with pytest.raises(ValueError):
        unescape(r"\q")


# -- fuzz: whatever arrives, the parser survives and answers at most once per line -----------
_REPLY = re.compile(r"(#\d{1,5} )?(OK( \S.*)?|ERR [1-6] [a-z].*)")
_fragments = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"\n",
            b"\r",
            b"\r\n",
            b" ",
            b"#",
            b"#7 ",
            b"#65536 ",
            b"*IDN?",
            b"VER?",
            b"STAT?",
            b"SAFE",
            b"WDT 5",
            b"PULSE",
            b" 3",
            b" 10 100",
            b"PULSE 2\n",
            b"\x00",
            b"\xff",
        ]
    ),
    st.integers(60, 200).map(lambda n: b"A" * n),  # overlong lines
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_fragments, max_size=40))
def test_fuzz_never_raises_and_answers_at_most_once_per_line(chunks: list[bytes]) -> None:
    proto = ClockProtocol()
    for chunk in chunks:
        replies = proto.feed(chunk)
        assert len(replies) <= chunk.count(b"\n"), (chunk, replies)
        for reply in replies:
            assert _REPLY.fullmatch(reply), reply
            assert len(reply) < 120
    after = proto.feed(b"\n*IDN?\n")
    assert 1 <= len(after) <= 2
    assert after[-1].startswith("OK twinlab,twin_clock,"), after


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(1, 17))
def test_fuzz_chunking_does_not_matter(data: bytes, size: int) -> None:
    """The replies depend on the bytes, not on how they are split into writes."""
    whole = ClockProtocol().feed(data)
    pieces = ClockProtocol()
    split = [r for i in range(0, len(data), size) for r in pieces.feed(data[i : i + size])]
    assert split == whole
