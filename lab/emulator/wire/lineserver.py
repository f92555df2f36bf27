"""One TCP line server: the accept loop and the per-client line framing, written once.

`LineServer` listens on ``host:port`` (0 = any free port), serves every client in a
thread of its own, cuts what a client sends into lines at ``terminator`` and calls
``handle(line)`` for each (ASCII, undecodable bytes replaced); a returned string is sent
back as one line, None sends nothing, and `Hangup` raised by the handler closes that
client's connection. The emulator's SCPI server and the tests' scripted instruments are
both built on it. Stdlib only (socket, threading).

Bounds: with ``max_line`` set, a line longer than that many bytes is never handed to
``handle``: ``on_overflow()`` is called once for it and its bytes are discarded as they
arrive, up to the next terminator, so a client holds at most ``max_line`` bytes plus one
read (64 KiB) of the server's memory.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

__all__ = ["Hangup", "LineServer"]

#: bytes read from a client at once
READ_SIZE = 65536
#: how often (s) a blocked accept checks for `LineServer.close` where shutdown does not wake it
ACCEPT_POLL = 0.1


class Hangup(Exception):
    """Raised by a handler: close this client's connection, answer nothing."""


class LineServer:
    """Serve ``handle`` (one line in, one answer line or None out) over TCP (see module doc).

    `start` accepts in a background thread; `close` stops accepting, disconnects every
    client and joins every thread (idempotent). ``connections`` counts the clients ever
    accepted, `clients` those connected now. ``stopping`` is set by `close` (a handler
    that waits should wait on it).
    """

    def __init__(
        self,
        handle: Callable[[str], str | None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        terminator: str = "\n",
        max_line: int | None = None,
        on_overflow: Callable[[], None] | None = None,
        name: str = "line-server",
    ) -> None:
        if not terminator:
            raise ValueError("terminator must not be empty")
        self.handle = handle
        self.host = host
        self.terminator = terminator.encode("ascii")
        self.max_line = max_line
        self.on_overflow = on_overflow
        self.name = name
        self._listener = socket.create_server((host, port))  # SO_REUSEADDR on POSIX
        self._listener.settimeout(ACCEPT_POLL)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._guard = threading.Lock()  # _conns and _threads
        self._accept_thread: threading.Thread | None = None
        self._closed = False

    @property
    def resource(self) -> str:
        """The VISA resource string a pyvisa-py client opens this server with."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    @property
    def clients(self) -> int:
        """Clients connected now."""
        with self._guard:
            return len(self._conns)

    def start(self) -> LineServer:
        """Accept connections in a background thread; returns self."""
        if self._accept_thread is None:
            self._accept_thread = threading.Thread(
                target=self._accept_loop, name=f"{self.name}-{self.port}", daemon=True
            )
            self._accept_thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, disconnect every client and join every thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        try:  # wakes a blocked accept at once on Linux; elsewhere its timeout does
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._accept_thread is not None:
            self._accept_thread.join()
        self._listener.close()
        with self._guard:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join()

    def __enter__(self) -> LineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(
                target=self._serve, args=(conn,), name=f"{self.name}-client-{self.port}",
                daemon=True,
            )  # fmt: skip
            with self._guard:
                self.connections += 1
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
                self._conns.add(conn)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        """One client: read, cut into lines, answer each; ends when the client goes, the
        handler hangs up or the server closes."""
        term, limit = self.terminator, self.max_line
        buf = bytearray()
        dropping = False  # inside a line that is too long: discard up to its end
        try:
            while not self.stopping.is_set():
                try:
                    chunk = conn.recv(READ_SIZE)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                start = 0
                while True:
                    end = buf.find(term, start)
                    if dropping:
                        if end < 0:  # keep what could be the start of a split terminator
                            start = max(start, len(buf) - len(term) + 1)
                            break
                        start, dropping = end + len(term), False
                        continue
                    if end < 0:
                        if limit is not None and len(buf) - start > limit:
                            dropping = True
                            self._overflow()
                            continue
                        break
                    line = bytes(buf[start:end])
                    start = end + len(term)
                    if limit is not None and len(line) > limit:
                        self._overflow()
                        continue
                    answer = self.handle(line.decode("ascii", errors="replace"))
                    if answer is not None:
                        conn.sendall(answer.encode("ascii", errors="replace") + term)
                del buf[:start]
        except (Hangup, OSError):  # the handler hung up, or the client is gone
            pass
        finally:
            with self._guard:
                self._conns.discard(conn)
            conn.close()

    def _overflow(self) -> None:
        if self.on_overflow is not None:
            self.on_overflow()
