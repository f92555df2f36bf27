"""Expected SCPI transcripts for driver tests, in memory or over a loopback socket.

`MemoryTranscript` hands the driver an in-memory `drivers.scpi.adapter.ProtocolAdapter`
(as PyMeasure's ``expected_protocol`` does): fast and exact, most tests use it.
`TranscriptServer` is the integration version: the driver under test talks through the
real PyVISA stack (pyvisa-py, ``TCPIP::127.0.0.1::<port>::SOCKET``) to a real socket:
for every line received the server checks it equals the next expected command and
sends that pair's response (``None``: no response, the command is a write).

A line that does not match is recorded and the connection is closed (the driver then
times out: pyvisa-py does not notice a closed socket); `assert_done` reports the
mismatch. Sequential reconnections (a
driver reopening after a timeout) continue the same transcript.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from drivers.scpi.adapter import TIMEOUT, ProtocolAdapter
from lab.emulator.wire.lineserver import Hangup, LineServer

#: (command, reply): a reply of None is a write, `TIMEOUT` a query never answered
Pairs = list[tuple[str, Any]]


class MemoryTranscript:
    """``pairs`` served by a `ProtocolAdapter` (``target``: what the driver is opened on)."""

    def __init__(self, pairs: Pairs, *, timeout_ms: int = 500) -> None:
        self.adapter = ProtocolAdapter(pairs, timeout_ms=timeout_ms)
        self.timeout_ms = timeout_ms

    @property
    def target(self) -> ProtocolAdapter:
        return self.adapter

    @property
    def resource(self) -> str:
        return self.adapter.resource

    @property
    def received(self) -> list[str | None]:
        return self.adapter.sent

    @property
    def reopens(self) -> int:
        """Sessions resynchronised (reopened) after a cut-short exchange."""
        return self.adapter.resyncs

    def assert_done(self) -> None:
        self.adapter.assert_done()

    def close(self) -> None:
        pass


class TranscriptServer:
    """Serve ``pairs`` [(expected command, response or None)] to whoever connects."""

    def __init__(self, pairs: Pairs, *, terminator: str = "\n", timeout_ms: int = 500) -> None:
        self.pairs = [(cmd, None if reply is TIMEOUT else reply) for cmd, reply in pairs]
        self.timeout_ms = timeout_ms
        self.terminator = terminator
        self.received: list[str] = []
        self.mismatches: list[str] = []
        self._index = 0
        self._lock = threading.Lock()
        self._wire = LineServer(self._answer, terminator=terminator, name="transcript").start()
        self.port: int = self._wire.port

    @property
    def resource(self) -> str:
        return self._wire.resource

    @property
    def target(self) -> str:
        """The VISA resource the driver opens."""
        return self._wire.resource

    @property
    def reopens(self) -> int:
        """Reconnections after the first connection."""
        return max(0, self._wire.connections - 1)

    @property
    def connections(self) -> int:
        """Clients accepted so far."""
        return self._wire.connections

    @property
    def consumed(self) -> int:
        """How many pairs have been matched so far."""
        return self._index

    def _answer(self, line: str) -> str | None:
        with self._lock:
            self.received.append(line)
            if self._index >= len(self.pairs):
                self.mismatches.append(f"unexpected extra command {line!r}")
                raise Hangup
            expected, response = self.pairs[self._index]
            if line != expected:
                self.mismatches.append(
                    f"command {self._index}: expected {expected!r}, got {line!r}"
                )
                raise Hangup
            self._index += 1
        return response

    def assert_done(self, wait: float = 2.0) -> None:
        """Every pair consumed (waiting up to ``wait`` s for trailing writes), no mismatch."""
        deadline = time.monotonic() + wait
        while self._index < len(self.pairs) and not self.mismatches:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        time.sleep(0.02)  # anything sent after the last pair shows up as a mismatch
        assert not self.mismatches, self.mismatches
        left = self.pairs[self._index :]
        assert not left, f"{len(left)} expected commands never came, first {left[0]!r}"

    def close(self) -> None:
        self._wire.close()

    def __enter__(self) -> TranscriptServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
