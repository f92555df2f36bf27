"""Logging for the ``twinlab`` command: verbosity, a log file, the instrument I/O log.

Every module logs to ``logging.getLogger(__name__)`` (``lab.*``, ``drivers.*``, ``gui.*``).
Instrument traffic (every SCPI message and every serial line, both directions) goes to
the dedicated logger `IO_LOGGER` (``twinlab.io``) at DEBUG, as ``WHO -> DATA`` (sent to the
instrument) or ``WHO <- DATA`` (received), ``WHO !! WHAT`` for a failed exchange. A driver
decides once, when it opens, whether its I/O is logged (`io_enabled`), so a bench
without the I/O log pays one attribute test per exchange.

    configure(verbose=1, log_file="twinlab.log", io_log="io.log")   # the CLI's options
    reset()                                                          # remove them again

``verbose``: 0 warnings only (Python's default handling), 1 info, 2 debug (I/O included)
on standard error. ``log_file``: every level of every twinlab logger, I/O included.
``io_log``: only the I/O lines. Files are appended to; lines carry an ISO timestamp with
microseconds (local time).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

#: The instrument I/O logger.
IO_LOGGER = "twinlab.io"
#: The loggers of twinlab's own packages (third-party libraries stay at WARNING).
PACKAGES = ("lab", "drivers", "gui", "twinlab")

io_log = logging.getLogger(IO_LOGGER)
_installed: list[tuple[logging.Logger, logging.Handler]] = []
_levels: dict[str, int] = {}
_options: dict[str, Any] = {}


class _IsoFormatter(logging.Formatter):
    """``2026-01-31T12:00:00.123456 LEVEL logger: message``, local time."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created).isoformat(timespec="microseconds")


def io_enabled() -> bool:
    """Whether instrument I/O is being logged (a driver asks once, when it opens)."""
    return io_log.isEnabledFor(logging.DEBUG)


def _add(logger: logging.Logger, handler: logging.Handler) -> None:
    logger.addHandler(handler)
    _installed.append((logger, handler))


def _file(path: str | os.PathLike[str], fmt: str) -> logging.Handler:
    try:
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    except OSError as exc:
        from lab.errors import ConfigError  # pydantic: only when there is an error to report

        raise ConfigError(f"{path}: cannot open the log file: {exc.strerror or exc}") from None
    handler.setFormatter(_IsoFormatter(fmt))
    return handler


def configure(
    verbose: int = 0,
    log_file: str | os.PathLike[str] | None = None,
    io_log_file: str | os.PathLike[str] | None = None,
) -> None:
    """Install the handlers the options ask for (see the module doc); replaces what an
    earlier call installed. ValueError (one line) for a file that cannot be opened."""
    reset()
    handlers: list[tuple[logging.Logger, logging.Handler]] = []
    level = logging.WARNING
    if verbose > 0:
        console = logging.StreamHandler()
        console.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
        console.setFormatter(_IsoFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append((logging.getLogger(), console))
        level = console.level
    if log_file is not None:
        handler = _file(log_file, "%(asctime)s %(levelname)s %(name)s: %(message)s")
        handlers.append((logging.getLogger(), handler))
        level = logging.DEBUG
    io_level = logging.DEBUG if level == logging.DEBUG else logging.WARNING
    if io_log_file is not None:
        try:
            handler = _file(io_log_file, "%(asctime)s %(message)s")
        except ValueError:
            for _, h in handlers:
                h.close()
            raise
        handler.setLevel(logging.DEBUG)
        handlers.append((io_log, handler))
        io_level = logging.DEBUG
    for logger, handler in handlers:
        _add(logger, handler)
    if not handlers:
        return
    _options.update(
        verbose=verbose,
        log_file=None if log_file is None else os.fspath(log_file),
        io_log_file=None if io_log_file is None else os.fspath(io_log_file),
    )
    for name in PACKAGES:
        logger = logging.getLogger(name)
        _levels.setdefault(name, logger.level)
        logger.setLevel(level)
    _levels.setdefault(IO_LOGGER, io_log.level)
    io_log.setLevel(io_level)


def reset() -> None:
    """Remove and close the handlers `configure` installed; restore the levels."""
    while _installed:
        logger, handler = _installed.pop()
        logger.removeHandler(handler)
        handler.close()
    _options.clear()
    for name, level in _levels.items():
        logging.getLogger(name).setLevel(level)
    _levels.clear()


def options() -> dict[str, Any]:
    """The keywords of the last `configure` call ({} after `reset`), for a child process
    (e.g. the live window's training process) to log the same way."""
    return dict(_options)


__all__ = ["IO_LOGGER", "PACKAGES", "configure", "io_enabled", "io_log", "options", "reset"]
