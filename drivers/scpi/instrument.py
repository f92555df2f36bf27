"""A SCPI instrument over an adapter, with one-line, named errors.

`ScpiInstrument` talks through one `drivers.scpi.adapter.Adapter`: a `PyVisaAdapter`
opened on a VISA resource with explicit timeout and terminations (the default), or any
adapter handed in (an in-memory `ProtocolAdapter` in tests, a `CountingAdapter` in a
benchmark). It checks commands against the instrument's error queue in the same round
trip (``<cmd>;:SYST:ERR?``); every transport failure is a `BenchError` that names the
instrument, the resource and the command (the adapter's).
"""

from __future__ import annotations

import logging
import threading

from drivers.scpi.adapter import Adapter, PyVisaAdapter
from drivers.scpi.dialects import Dialect
from lab.hal import BenchError
from lab.logs import io_enabled, io_log

log = logging.getLogger(__name__)

#: Errors read after the first one of a failed command (the rest of the queue), at most.
MAX_DRAIN = 10


class ScpiError(BenchError):
    """The instrument answered, but reported an error for a command (the link works)."""


class ScpiInstrument:
    """One SCPI instrument: ``resource`` is a VISA resource string, e.g.
    ``TCPIP::127.0.0.1::5025::SOCKET`` (opened through `PyVisaAdapter` with the dialect's
    terminations, ``timeout_ms`` and ``visa_library``), or an `Adapter` to talk through
    (its own timeout and name apply; ``name`` is set on it).

    ``adapter`` may be replaced by a wrapper of itself (e.g. `CountingAdapter`) between
    exchanges. After a cut-short exchange the adapter resynchronises before the next
    message (its stale-session rule). Thread-safe: one message exchange at a time.
    """

    def __init__(
        self,
        resource: str | Adapter,
        dialect: Dialect,
        *,
        timeout_ms: int = 2000,
        visa_library: str = "@py",
        name: str = "instrument",
    ) -> None:
        self.dialect = dialect
        self.name = name
        self._err_tail = ";:" + dialect.error_query
        self._lock = threading.RLock()
        self._io = io_enabled()  # decided once: no per-message cost without the I/O log
        if isinstance(resource, Adapter):
            resource.rename(name)
            self.adapter = resource
        else:
            self.adapter = PyVisaAdapter(
                resource,
                read_termination=dialect.read_termination,
                write_termination=dialect.write_termination,
                timeout_ms=timeout_ms,
                visa_library=visa_library,
                name=name,
            )
        self.resource = self.adapter.resource
        self.timeout_ms = self.adapter.timeout_ms
        self._where = f"{name} ({self.resource})"

    # -- messages --------------------------------------------------------------------------
    def write(self, cmd: str) -> None:
        """Send ``cmd`` (no reply expected, no error check)."""
        with self._lock:
            if self._io:
                io_log.debug("%s -> %r", self._where, cmd)
            try:
                self.adapter.write(cmd)
            except BenchError as exc:
                if self._io:
                    io_log.debug("%s !! %r: %s", self._where, cmd, exc)
                raise

    def query(self, cmd: str) -> str:
        """Send ``cmd`` and return its reply line (terminator stripped)."""
        with self._lock:
            if self._io:
                io_log.debug("%s -> %r", self._where, cmd)
            try:
                reply = self.adapter.query(cmd)
            except BenchError as exc:
                if self._io:
                    io_log.debug("%s !! %r: %s", self._where, cmd, exc)
                raise
            if self._io:
                io_log.debug("%s <- %r", self._where, reply)
            return reply

    def query_checked(self, cmd: str) -> str:
        """Send ``cmd;:SYST:ERR?`` in one round trip; return the replies to ``cmd``.

        Raises `ScpiError` naming the instrument, the command and the error if the
        instrument reports one (a query that failed has no reply of its own).
        """
        with self._lock:  # the error drain belongs to this exchange
            reply = self.query(cmd + self._err_tail)
            return self._split_reply(cmd, reply)

    def _split_reply(self, cmd: str, reply: str) -> str:
        """The replies to ``cmd`` from ``<replies>;<error>``; ScpiError for an error."""
        quote = reply.find('"')
        if quote < 0:
            raise BenchError(f"{self._where}: {cmd} -> unexpected reply {reply[:80]!r}")
        cut = reply.rfind(";", 0, quote)
        error = reply[cut + 1 :]
        if not error.startswith(self.dialect.no_error_prefix):
            raise self._error(cmd, error)
        return reply[:cut] if cut >= 0 else ""

    def write_checked(self, cmd: str) -> None:
        """Send ``cmd;:SYST:ERR?`` in one round trip; `ScpiError` if the instrument objects."""
        with self._lock:
            error = self.query(cmd + self._err_tail)
            if not error.startswith(self.dialect.no_error_prefix):
                raise self._error(cmd, error)

    def _error(self, cmd: str, error: str) -> ScpiError:
        """ScpiError for ``error``, with the rest of the queue read (and so cleared)."""
        more = []
        for _ in range(MAX_DRAIN):
            try:
                nxt = self.query(self.dialect.error_query)
            except BenchError:
                break
            if nxt.startswith(self.dialect.no_error_prefix):
                break
            more.append(nxt)
        also = f" (then {'; '.join(more)})" if more else ""
        return ScpiError(f"{self._where}: {cmd} -> instrument error {error}{also}")

    def identify(self) -> str:
        """The ``*IDN?`` reply; BenchError if it is not the dialect's instrument model."""
        idn = self.query(self.dialect.identify).strip()
        if not self.dialect.matches(idn):
            raise BenchError(
                f"{self._where}: *IDN? answered {idn!r}, which is not a "
                f"{self.dialect.name!r} instrument (expected /{self.dialect.idn_pattern}/)"
            )
        return idn

    def close(self) -> None:
        """Close the session (idempotent; the shared resource manager stays open)."""
        with self._lock:
            self.adapter.close()


__all__ = ["ScpiError", "ScpiInstrument"]
