"""The message seam under `ScpiInstrument`: an adapter moves one SCPI line at a time.

An `Adapter` writes a command line, reads a reply line and queries (write then read),
with terminations left to it (messages here never carry them). It owns the stale-session
rule, defined once here for every transport: an exchange cut short (a timeout, a broken
link, Ctrl-C or a stop signal mid-message) marks the session stale, and the next message
first resynchronises it (`Adapter._resync`), so a late reply can never answer the next
query. Transport failures are `lab.hal.BenchError`, one line naming the instrument and the
resource.

- `PyVisaAdapter`: the real one, a PyVISA message-based resource (pyvisa-py by default);
  resync reopens a ``::SOCKET`` session (a device clear elsewhere).
- `ProtocolAdapter`: in memory, for tests (after PyMeasure's ``ProtocolAdapter``): checks
  every message against a list of (sent, reply) pairs exactly and fails on the first
  difference; a reply may be `TIMEOUT` or an exception to raise, to rehearse a cut-short
  exchange.
- `CountingAdapter`: wraps any adapter and counts messages and the time spent inside it
  (the instrument time of a benchmark).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from lab.hal import BenchError


class Adapter:
    """One message-based session to an instrument (base class: the stale-session rule).

    Subclasses implement ``_write``, ``_read``, ``_query`` (raising BenchError for a
    transport failure), ``_resync`` and ``_close``. Not thread-safe: `ScpiInstrument`
    serialises exchanges. ``timeout_ms`` bounds every reply.
    """

    resource: str = ""
    name: str = "instrument"
    timeout_ms: int = 2000

    def __init__(self, resource: str, *, timeout_ms: int = 2000, name: str = "instrument") -> None:
        self.resource = resource
        self.timeout_ms = int(timeout_ms)
        self.name = name
        self.where = f"{name} ({resource})"
        self.stale = False
        self.closed = False

    def rename(self, name: str) -> None:
        """Name the instrument in this adapter's errors."""
        self.name, self.where = name, f"{name} ({self.resource})"

    # -- the stale-session rule ---------------------------------------------------------------
    def _ready(self) -> None:
        if self.closed:
            raise BenchError(f"{self.where}: closed")
        if self.stale:
            self.stale = False
            self._resync()

    def write(self, cmd: str) -> None:
        """Send ``cmd`` (no reply expected)."""
        self._ready()
        try:
            self._write(cmd)
        except BaseException:  # a failure or Ctrl-C mid-message: resync before the next one
            self.stale = True
            raise

    def read(self) -> str:
        """The next reply line (terminator stripped)."""
        self._ready()
        try:
            return self._read()
        except BaseException:
            self.stale = True
            raise

    def query(self, cmd: str) -> str:
        """Send ``cmd`` and return its reply line (terminator stripped)."""
        self._ready()
        try:
            return self._query(cmd)
        except BaseException:  # the reply may still come: it must not answer the next query
            self.stale = True
            raise

    def close(self) -> None:
        """Close the session (idempotent); messages after it raise BenchError."""
        if self.closed:
            return
        self.closed = True
        self._close()

    def timed_out(self, cmd: str, reply: bool) -> BenchError:
        """The one-line BenchError for a timeout during ``cmd``."""
        what = "reply to" if reply else "sending"
        return BenchError(
            f"{self.where}: timed out after {self.timeout_ms} ms waiting for {what} {cmd!r}"
        )

    def closed_by_peer(self, cmd: str, reply: bool) -> BenchError:
        """The one-line BenchError for a connection the instrument closed during ``cmd``."""
        what = "waiting for the reply to" if reply else "sending"
        return BenchError(
            f"{self.where}: the instrument closed its connection ({what} {cmd!r}); "
            "check that it is on and reachable"
        )

    # -- the transport ------------------------------------------------------------------------
    def _write(self, cmd: str) -> None:
        raise NotImplementedError

    def _read(self) -> str:
        raise NotImplementedError

    def _query(self, cmd: str) -> str:
        self._write(cmd)
        return self._read()

    def _resync(self) -> None:
        """Drop whatever a cut-short exchange may still deliver."""
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class PyVisaAdapter(Adapter):
    """A PyVISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``, opened on construction
    with explicit timeout and terminations (BenchError ``no instrument at ...`` if it
    cannot be). Resync reopens a socket session (or one that failed to reopen), else
    sends a device clear."""

    def __init__(
        self,
        resource: str,
        *,
        read_termination: str = "\n",
        write_termination: str = "\n",
        timeout_ms: int = 2000,
        visa_library: str = "@py",
        name: str = "instrument",
    ) -> None:
        import pyvisa  # the real stack only where it is used: the in-memory adapter needs none
        from pyvisa.errors import VisaIOError

        super().__init__(resource, timeout_ms=timeout_ms, name=name)
        self.visa_library = visa_library
        self._terms = (read_termination, write_termination)
        self._socket = resource.upper().endswith("::SOCKET")
        self._res: Any = None
        #: transport failures, turned into BenchError (anything else propagates as it is)
        self._errors = (VisaIOError, OSError, UnicodeDecodeError)
        try:
            self._rm = pyvisa.ResourceManager(visa_library)
        except Exception as exc:  # missing backend, bad library path
            raise BenchError(f"{name}: VISA library {visa_library!r} unavailable: {exc}") from None
        self._open()

    def _open(self) -> None:
        from pyvisa import constants

        try:
            res = self._rm.open_resource(
                self.resource,
                timeout=self.timeout_ms,
                open_timeout=self.timeout_ms,
                read_termination=self._terms[0],
                write_termination=self._terms[1],
            )
        except Exception as exc:  # VisaIOError, or pyvisa-py's Exception("could not connect")
            raise BenchError(
                f"{self.name}: no instrument at {self.resource}: {describe(exc)}"
            ) from None
        if self._socket:
            try:  # small messages, one at a time: no Nagle delay
                res.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, True)
            except Exception:  # not every backend implements it; only latency suffers
                pass
        self._res = res

    def _fail(self, exc: BaseException, cmd: str, reply: bool) -> BenchError:
        from pyvisa import constants
        from pyvisa.errors import VisaIOError

        if isinstance(exc, VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
            # pyvisa-py waits out the timeout at the end of a socket's stream: say which
            return self.closed_by_peer(cmd, reply) if self._peer_closed() else self.timed_out(
                cmd, reply
            )
        if isinstance(exc, ConnectionRefusedError):
            return BenchError(f"{self.name}: no instrument at {self.resource}: connection refused")
        if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return self.closed_by_peer(cmd, reply)
        return BenchError(f"{self.where}: {cmd!r} failed: {describe(exc)}")

    def _peer_closed(self) -> bool:
        """Whether a socket session's instrument closed the connection (the end of the
        stream, or a reset, is waiting); False for anything it cannot tell."""
        import socket

        if not self._socket or self._res is None:
            return False
        try:  # pyvisa-py's session object holds the socket
            sock = self._res.visalib.sessions[self._res.session].interface
            data = sock.recv(1, socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0))
        except (BlockingIOError, InterruptedError):
            return False  # open, nothing to read: it is just not answering
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return True
        except Exception:  # another backend, or a socket it cannot peek: say "timed out"
            return False
        return data == b""

    def _session(self) -> Any:
        if self._res is None:  # a reopen that failed earlier
            self._open()
        return self._res

    def _write(self, cmd: str) -> None:
        res = self._session()
        try:
            res.write(cmd)
        except self._errors as exc:
            raise self._fail(exc, cmd, reply=False) from None

    def _read(self) -> str:
        res = self._session()
        try:
            return res.read()
        except self._errors as exc:
            raise self._fail(exc, "read", reply=True) from None

    def _query(self, cmd: str) -> str:
        res = self._session()
        try:
            return res.query(cmd)
        except self._errors as exc:
            raise self._fail(exc, cmd, reply=True) from None

    def _resync(self) -> None:
        res = self._res
        if res is None or self._socket:
            self._res = None
            if res is not None:
                try:
                    res.close()
                except Exception:
                    pass
            self._open()
        else:
            try:
                res.clear()
            except Exception as exc:
                raise BenchError(f"{self.where}: device clear failed: {describe(exc)}") from None

    def _close(self) -> None:
        res, self._res = self._res, None
        if res is not None:
            try:
                res.close()
            except Exception as exc:
                raise BenchError(f"{self.where}: close failed: {describe(exc)}") from None


#: a `ProtocolAdapter` reply: the instrument never answers (the query times out)
TIMEOUT = object()

Pair = tuple[str | None, Any]


class ProtocolAdapter(Adapter):
    """In-memory instrument for tests: ``pairs`` [(sent, reply)] checked exactly, in order.

    ``(cmd, "text")``: ``cmd`` is queried and answered ``"text"``; ``(cmd, None)``: ``cmd``
    is written, no reply; ``(None, "text")``: a bare read answered ``"text"``. A reply of
    `TIMEOUT` makes the query time out (BenchError, as over a wire), an exception instance
    is raised mid-exchange (e.g. ``KeyboardInterrupt()``). Either way the exchange was cut
    short: its late reply is still "on the wire" until the adapter resyncs, and any
    message before that fails the test (AssertionError). A message that differs from the
    next pair, or comes after the last, fails the test at once. `assert_done` checks every
    pair was used; ``sent`` is every message, ``resyncs`` how many times the session was
    reopened.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        *,
        resource: str = "PROTOCOL::INSTR",
        timeout_ms: int = 2000,
        name: str = "instrument",
    ) -> None:
        super().__init__(resource, timeout_ms=timeout_ms, name=name)
        for pair in pairs:
            if len(pair) != 2 or pair == (None, None):
                raise ValueError(f"protocol pair {pair!r}: expected (sent, reply), not both None")
        self.pairs = list(pairs)
        self.sent: list[str | None] = []
        self.resyncs = 0
        self.index = 0
        self._late = False  # a cut-short exchange's reply may still arrive

    def _next(self, cmd: str | None, query: bool) -> Any:
        self.sent.append(cmd)
        assert not self._late, (
            f"{cmd!r} sent after a cut-short exchange without a resync: "
            "the late reply would answer it"
        )
        assert self.index < len(self.pairs), f"unexpected extra message {cmd!r}"
        expected, reply = self.pairs[self.index]
        assert cmd == expected, f"message {self.index}: expected {expected!r}, got {cmd!r}"
        assert query == (reply is not None), (
            f"message {self.index}: {cmd!r} was "
            + ("queried but the protocol has no reply" if query else "written but has a reply")
        )
        self.index += 1
        if reply is TIMEOUT:
            self._late = True
            raise self.timed_out(cmd or "read", reply=True)
        if isinstance(reply, BaseException):
            self._late = True
            raise reply
        return reply

    def _write(self, cmd: str) -> None:
        self._next(cmd, query=False)

    def _read(self) -> str:
        return self._next(None, query=True)

    def _query(self, cmd: str) -> str:
        return self._next(cmd, query=True)

    def _resync(self) -> None:
        self.resyncs += 1
        self._late = False

    def _close(self) -> None:
        pass

    def assert_done(self) -> None:
        """Every pair was used (AssertionError naming the first one left)."""
        left = self.pairs[self.index :]
        assert not left, f"{len(left)} expected messages never came, first {left[0]!r}"


class CountingAdapter(Adapter):
    """Wraps ``inner`` and counts: ``messages`` (writes, reads and queries: one each),
    ``queries`` (exchanges that waited for a reply) and ``seconds`` spent inside ``inner``
    (s, wall time: sending and waiting for replies). The inner adapter keeps its own
    stale-session rule (this one's resync is nothing to do); nothing else changes."""

    def __init__(self, inner: Adapter) -> None:
        super().__init__(inner.resource, timeout_ms=inner.timeout_ms, name=inner.name)
        self.inner = inner
        self.messages = 0
        self.queries = 0
        self.seconds = 0.0

    def _timed(self, fn: Any, *args: str) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - t0
            self.messages += 1

    def _write(self, cmd: str) -> None:
        self._timed(self.inner.write, cmd)

    def _read(self) -> str:
        self.queries += 1
        return self._timed(self.inner.read)

    def _query(self, cmd: str) -> str:
        self.queries += 1
        return self._timed(self.inner.query, cmd)

    def rename(self, name: str) -> None:
        super().rename(name)
        self.inner.rename(name)

    def _resync(self) -> None:
        pass  # the inner adapter resyncs itself before its next message

    def _close(self) -> None:
        self.inner.close()


def describe(exc: BaseException) -> str:
    """One line for a PyVISA, socket or backend exception."""
    if hasattr(exc, "abbreviation") and hasattr(exc, "description"):  # VisaIOError
        return f"{exc.abbreviation}: {exc.description}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


__all__ = [
    "TIMEOUT",
    "Adapter",
    "CountingAdapter",
    "ProtocolAdapter",
    "PyVisaAdapter",
    "describe",
]
