"""lab.emulator.wire.lineserver: the one TCP accept loop and line framing, over real loopback
sockets: lines cut at the terminator wherever the reads split them, no answer for None,
a hang-up closes only that client, an over-long line is refused once and costs nothing."""

from __future__ import annotations

import socket
import threading

import pytest

from lab.emulator.wire.lineserver import Hangup, LineServer


def receive(conn: socket.socket, n: int) -> bytes:
    """Exactly the next ``n`` bytes the server sends."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def expect(conn: socket.socket, answer: bytes) -> None:
    assert receive(conn, len(answer)) == answer


@pytest.fixture
def upper():
    """A server answering every line upper-cased ('quiet' lines get no answer, 'bye' hangs
    up), '\\r\\n' terminated, lines of at most 16 bytes; ``.seen`` and ``.overflows``."""
    seen: list[str] = []
    overflows: list[int] = []

    def handle(line: str) -> str | None:
        seen.append(line)
        if line == "bye":
            raise Hangup
        return None if line == "quiet" else line.upper()

    server = LineServer(handle, terminator="\r\n", max_line=16,
                        on_overflow=lambda: overflows.append(1))  # fmt: skip
    server.seen, server.overflows = seen, overflows
    with server:
        yield server


def test_lines_are_cut_at_the_terminator_wherever_reads_split_them(upper) -> None:
    with socket.create_connection(("127.0.0.1", upper.port), timeout=10) as c:
        c.sendall(b"ab\r\ncd\r\nquiet\r\nef\r")  # two lines, a silent one, a split terminator
        expect(c, b"AB\r\nCD\r\n")
        c.sendall(b"\ng\xffh\r\n")  # the split terminator completes; undecodable byte replaced
        expect(c, b"EF\r\nG?H\r\n")  # U+FFFD upper-cased, then sent as ASCII-replaced
    assert upper.seen == ["ab", "cd", "quiet", "ef", "g\ufffdh"]


def test_an_over_long_line_is_refused_once_and_the_client_goes_on(upper) -> None:
    with socket.create_connection(("127.0.0.1", upper.port), timeout=10) as c:
        c.sendall(b"x" * 17 + b"\r\nok\r\n")  # complete and too long
        expect(c, b"OK\r\n")
        for _ in range(50):  # one line of 50 kB, arriving in pieces
            c.sendall(b"y" * 1000)
        c.sendall(b"\r")
        c.sendall(b"\nstill\r\n")
        expect(c, b"STILL\r\n")
        c.sendall(b"z" * 16 + b"\r\n")  # exactly the limit is a line
        expect(c, b"Z" * 16 + b"\r\n")
    assert upper.overflows == [1, 1]
    assert all(len(line) <= 16 for line in upper.seen)


def test_a_hang_up_closes_only_that_client(upper) -> None:
    with (
        socket.create_connection(("127.0.0.1", upper.port), timeout=10) as a,
        socket.create_connection(("127.0.0.1", upper.port), timeout=10) as b,
    ):
        a.sendall(b"bye\r\nlost\r\n")
        try:  # closed (a reset if the server left "lost" unread)
            assert a.recv(4096) == b""
        except ConnectionResetError:
            pass
        b.sendall(b"hi\r\n")
        expect(b, b"HI\r\n")
    assert "lost" not in upper.seen and upper.connections == 2


def test_close_disconnects_clients_and_joins_a_waiting_handler() -> None:
    entered = threading.Event()
    server = LineServer(lambda line: (entered.set(), server.stopping.wait(60), "late")[2])
    server.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
        c.sendall(b"wait\n")
        assert entered.wait(10)
        assert server.clients == 1
        server.close()  # returns: the handler waits on stopping, recv sees the shutdown
        assert server.clients == 0
        assert not any(t.is_alive() for t in threading.enumerate()
                       if t.name.startswith(f"line-server-client-{server.port}"))  # fmt: skip
    server.close()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
