"""A loopback TCP server that replays an expected SCPI transcript (tests only).

Like PyMeasure's ``expected_protocol``, but the driver under test talks through the
real PyVISA stack (pyvisa-py, ``TCPIP::127.0.0.1::<port>::SOCKET``) to a real socket:
for every line received the server checks it equals the next expected command and
sends that pair's response (``None``: no response, the command is a write).

A line that does not match is recorded and the connection is closed (the driver then
times out: pyvisa-py does not notice a closed socket); `assert_done` reports the
mismatch. Sequential reconnections (a
driver reopening after a timeout) continue the same transcript.
"""

from __future__ import annotations

import socket
import threading
import time


class TranscriptServer:
    """Serve ``pairs`` [(expected command, response or None)] to whoever connects."""

    def __init__(self, pairs: list[tuple[str, str | None]], *, terminator: str = "\n") -> None:
        self.pairs = list(pairs)
        self.terminator = terminator
        self.received: list[str] = []
        self.mismatches: list[str] = []
        self.connections = 0
        self._index = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    @property
    def consumed(self) -> int:
        """How many pairs have been matched so far."""
        return self._index

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._conns.append(conn)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        term = self.terminator.encode()
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while term in buf:
                    raw, buf = buf.split(term, 1)
                    line = raw.decode("ascii", errors="replace")
                    with self._lock:
                        self.received.append(line)
                        if self._index >= len(self.pairs):
                            self.mismatches.append(f"unexpected extra command {line!r}")
                            return
                        expected, response = self.pairs[self._index]
                        if line != expected:
                            self.mismatches.append(
                                f"command {self._index}: expected {expected!r}, got {line!r}"
                            )
                            return
                        self._index += 1
                    if response is not None:
                        try:
                            conn.sendall(response.encode("ascii") + term)
                        except OSError:
                            return

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
        self._stop.set()
        self._thread.join()
        self._listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TranscriptServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
