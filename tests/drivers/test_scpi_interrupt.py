"""An exchange cut short by Ctrl-C (or SIGTERM/SIGHUP, which raise the same way) must not
leave its late reply to answer the next query: the safe state that follows the
interrupt has to read its own replies."""

from __future__ import annotations

import _thread
import socket
import threading
import time

import pytest

pytest.importorskip("pyvisa")

from drivers.scpi.dialects import TWINLAB_EMULATOR
from drivers.scpi.instrument import ScpiInstrument


class EchoServer:
    """Answers every line with ``echo:<line>``, after 0.5 s for lines starting SLOW."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.startswith(b"SLOW"):
                        time.sleep(0.5)
                    try:
                        conn.sendall(b"echo:" + line + b"\n")
                    except OSError:
                        return

    def close(self) -> None:
        self._listener.close()


def test_query_interrupted_mid_exchange_does_not_answer_the_next_one() -> None:
    server = EchoServer()
    inst = ScpiInstrument(
        f"TCPIP::127.0.0.1::{server.port}::SOCKET", TWINLAB_EMULATOR, timeout_ms=3000
    )
    try:
        timer = threading.Timer(0.1, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            inst.query("SLOW?")
        timer.join()
        time.sleep(0.6)  # the late reply to SLOW? has arrived by now
        assert inst.query("FAST?") == "echo:FAST?"
    finally:
        inst.close()
        server.close()
