"""A thin PyVISA wrapper for SCPI instruments with one-line, named errors.

`ScpiInstrument` opens a VISA resource with explicit timeout and terminations,
checks commands against the instrument's error queue in the same round trip
(``<cmd>;:SYST:ERR?``) and turns every PyVISA/socket failure into a `BenchError`
that names the instrument, the resource and the command.
"""

from __future__ import annotations

import logging
import threading

import pyvisa
from pyvisa import constants
from pyvisa.errors import VisaIOError

from drivers.scpi.dialects import Dialect
from lab.hal import BenchError
from lab.logs import io_enabled, io_log

log = logging.getLogger(__name__)

#: Errors read after the first one of a failed command (the rest of the queue), at most.
MAX_DRAIN = 10


class ScpiError(BenchError):
    """The instrument answered, but reported an error for a command (the link works)."""


class ScpiInstrument:
    """One SCPI instrument on a VISA resource, e.g. ``TCPIP::127.0.0.1::5025::SOCKET``.

    ``timeout_ms`` bounds every reply. After a timeout the late reply would answer the
    next query, so a socket session is reopened (others get a device clear) first.
    Thread-safe: one message exchange at a time.
    """

    def __init__(
        self,
        resource: str,
        dialect: Dialect,
        *,
        timeout_ms: int = 2000,
        visa_library: str = "@py",
        name: str = "instrument",
    ) -> None:
        self.resource = resource
        self.dialect = dialect
        self.timeout_ms = int(timeout_ms)
        self.visa_library = visa_library
        self.name = name
        self._where = f"{name} ({resource})"
        self._err_tail = ";:" + dialect.error_query
        self._lock = threading.RLock()
        self._res: pyvisa.resources.MessageBasedResource | None = None
        self._stale = False
        self._closed = False
        self._io = io_enabled()  # decided once: no per-message cost without the I/O log
        try:
            self._rm = pyvisa.ResourceManager(visa_library)
        except Exception as exc:  # missing backend, bad library path
            raise BenchError(f"{name}: VISA library {visa_library!r} unavailable: {exc}") from None
        self._open()

    # -- connection ------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            res = self._rm.open_resource(
                self.resource,
                timeout=self.timeout_ms,
                open_timeout=self.timeout_ms,
                read_termination=self.dialect.read_termination,
                write_termination=self.dialect.write_termination,
            )
        except VisaIOError as exc:
            raise BenchError(
                f"{self.name}: no instrument at {self.resource}: {_describe(exc)}"
            ) from None
        except Exception as exc:  # pyvisa-py raises plain Exception("could not connect: ...")
            raise BenchError(
                f"{self.name}: no instrument at {self.resource}: {_describe(exc)}"
            ) from None
        if self.resource.upper().endswith("::SOCKET"):
            try:  # small messages, one at a time: no Nagle delay
                res.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, True)
            except Exception:  # not every backend implements it; only latency suffers
                pass
        self._res = res  # type: ignore[assignment]

    def _session(self) -> pyvisa.resources.MessageBasedResource:
        """The open session, resynchronised after a timeout."""
        if self._closed:
            raise BenchError(f"{self._where}: closed")
        if self._stale or self._res is None:
            self._stale = False
            self._recover()
        assert self._res is not None
        return self._res

    def _recover(self) -> None:
        """Drop whatever a timed-out command may still send: reopen a socket (or a session
        that failed to reopen), else device clear."""
        res = self._res
        if res is None or self.resource.upper().endswith("::SOCKET"):
            self._res = None
            if res is not None:
                try:
                    res.close()
                except Exception:
                    pass
            self._open()
        elif res is not None:
            try:
                res.clear()
            except Exception as exc:
                raise BenchError(f"{self._where}: device clear failed: {_describe(exc)}") from None

    def _fail(self, exc: Exception, cmd: str, reply: bool) -> BenchError:
        """A one-line BenchError for a PyVISA or socket failure during ``cmd``."""
        self._stale = True
        if self._io:
            io_log.debug("%s !! %r: %s", self._where, cmd, _describe(exc))
        if isinstance(exc, VisaIOError) and exc.error_code == constants.StatusCode.error_timeout:
            what = "reply to" if reply else "sending"
            return BenchError(
                f"{self._where}: timed out after {self.timeout_ms} ms waiting for {what} {cmd!r}"
            )
        if isinstance(exc, ConnectionRefusedError):
            return BenchError(f"{self.name}: no instrument at {self.resource}: connection refused")
        return BenchError(f"{self._where}: {cmd!r} failed: {_describe(exc)}")

    # -- messages --------------------------------------------------------------------------
    def write(self, cmd: str) -> None:
        """Send ``cmd`` (no reply expected, no error check)."""
        with self._lock:
            res = self._session()
            if self._io:
                io_log.debug("%s -> %r", self._where, cmd)
            try:
                res.write(cmd)
            except (VisaIOError, OSError) as exc:
                raise self._fail(exc, cmd, reply=False) from None
            except BaseException:  # Ctrl-C or a stop signal mid-message: resync first
                self._stale = True
                raise

    def query(self, cmd: str) -> str:
        """Send ``cmd`` and return its reply line (terminator stripped)."""
        with self._lock:
            res = self._session()
            if self._io:
                io_log.debug("%s -> %r", self._where, cmd)
            try:
                reply = res.query(cmd)
            except (VisaIOError, OSError, UnicodeDecodeError) as exc:
                raise self._fail(exc, cmd, reply=True) from None
            except BaseException:  # Ctrl-C or a stop signal: the reply may still come
                self._stale = True
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
            if self._closed:
                return
            self._closed = True
            res, self._res = self._res, None
            if res is not None:
                try:
                    res.close()
                except Exception as exc:
                    raise BenchError(f"{self._where}: close failed: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    """One line for a PyVISA, socket or backend exception."""
    if isinstance(exc, VisaIOError):
        return exc.abbreviation + ": " + exc.description
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


__all__ = ["ScpiError", "ScpiInstrument"]
