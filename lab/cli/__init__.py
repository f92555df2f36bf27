"""The ``twinlab`` command.

    twinlab train [--task ii] [--p 1] [--eta 0.5] [--steps 2000] [--seed 0]
                  [--out RUN.h5] [--bench emulator|BENCH.toml] [--quiet]
    twinlab info RUN.h5 [--json]
    twinlab tasks
    twinlab netlist RUN.h5 [--step N] [--state free|clamped] [-o OUT.cir]
    twinlab netlist --task ii [--example 0] [--state free|clamped] [-o OUT.cir]
    twinlab study NAME [--tasks N --seeds S --steps T --paper --workers W
                  --scheduler local|tcp://HOST:PORT --out DIR --quiet]
    twinlab study --list
    twinlab gui [--bench B --bench-seed S --task T --p P --eta E --steps N --seed S
                 --out RUN.h5 --start]
    twinlab replay RUN.h5 [--follow]
    twinlab check --bench B.toml [--json FILE] [--pulses N] [--bias-pulses M]
    twinlab --version

Every command also takes ``-v``/``--verbose`` (repeat for debug), ``--log-file FILE``
and ``--io-log FILE`` (every instrument exchange; `lab.logs`), before or after its name.
Every bad input ends with one line ``twinlab: error: ...`` and exit status 2,
before any voltage is applied; Ctrl-C leaves the bench safe, the run file closed
and marked incomplete, and exits 130.

Bad input is an exception of a type in `user_errors` (`lab.errors.ConfigError` for a
setting, option or file field, `TaskError`, `LimitError`, `RunFileError`,
`CalibrationError`, `DisconnectedError`); code that refuses the user's input raises one of
those, never a bare ValueError. Any other exception, a bare ValueError included, is a bug:
it is not caught, so Python prints its traceback and the exit status is 1.

Layout: this package module holds the parser and `main`; each command is a module of its
own (``train``, ``info``, ``tasks``, ``emulate``, ``calibrate``, ``check``, ``netlist``,
``study``)
that exposes ``add_parser(sub)`` (adds its sub-parser, options and ``func``) and
``cmd_<name>(args) -> int`` (the exit status), the contract of the entry-point commands
(`lab.plugins.COMMANDS`) too; what they share is in `lab.cli.common` and the progress bar
in `lab.cli.progress`. A command module imports nothing heavy at module level: numpy,
h5py, the emulator and the bench are imported inside ``cmd_<name>``, so that the command
line answers (and Ctrl-C) at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import metadata
from typing import Any, NoReturn

from lab import logs, plugins
from lab.cli import calibrate, check, emulate, info, netlist, study, tasks, train
from lab.cli.common import user_errors
from lab.signals import interrupt_name, interrupted_status, stop_signals

log = logging.getLogger(__name__)


def _version() -> str:
    """The installed distribution's version ('unknown' when run from an uninstalled tree)."""
    try:
        return metadata.version("twinlab")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _logging_options(parser: argparse.ArgumentParser, suffix: str = "") -> None:
    """-v/--verbose, --log-file, --io-log; ``suffix`` names a subcommand's own copies (so
    ``twinlab -v train -v`` counts both; see `_logging_of`)."""
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, dest="verbose" + suffix,
        help="log more on standard error: -v info, -vv debug (instrument I/O included)",
    )
    parser.add_argument(
        "--log-file", metavar="FILE", dest="log_file" + suffix,
        help="append every log message (all levels, instrument I/O included) to FILE",
    )
    parser.add_argument(
        "--io-log", metavar="FILE", dest="io_log" + suffix,
        help="append every instrument exchange (SCPI and serial, timestamped, -> sent, "
        "<- received) to FILE",
    )


def _logging_of(args: argparse.Namespace) -> dict[str, Any]:
    """`lab.logs.configure` keywords from the top-level and subcommand options."""
    return {
        "verbose": args.verbose + getattr(args, "verbose_sub", 0),
        "log_file": getattr(args, "log_file_sub", None) or args.log_file,
        "io_log_file": getattr(args, "io_log_sub", None) or args.io_log,
    }


class _Parser(argparse.ArgumentParser):
    """The house style for a bad command line: one line ``twinlab: error: <message> (see
    '<prog> --help')``, exit status 2, no usage block (``--help`` is unchanged). Every
    sub-parser is one too (`add_subparsers` makes them of its parser's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"twinlab: error: {message} (see '{self.prog} --help')\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        """As argparse's, but arguments no parser knows are reported by the command's
        parser, so the pointer names its help (``see 'twinlab train --help'``): argparse
        reports them from the top-level parser, whose prog is only ``twinlab``."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            commands = getattr(self, "commands", {})  # the top-level parser's, by name
            command = commands.get(getattr(parsed, "command", None) or "", self)
            command.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="twinlab", description="Control, emulate and record twin-network coupled learning."
    )
    parser.add_argument("--version", action="version", version=f"twinlab {_version()}")
    _logging_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (train, info, tasks, emulate):  # the order of ``twinlab --help``
        module.add_parser(sub)
    for name in plugins.names(plugins.COMMANDS):  # gui, replay, devices: entry points
        plugins.load(plugins.COMMANDS, name)(sub)
    for module in (calibrate, check, netlist, study):
        module.add_parser(sub)
    for command in sub.choices.values():  # the logging options after the command, too
        _logging_options(command, "_sub")
    parser.commands = dict(sub.choices)  # type: ignore[attr-defined]  # see parse_args
    return parser


#: Exit status when standard output's reader went away (128 + SIGPIPE, as a shell reports
#: a command killed by the signal).
EXIT_BROKEN_PIPE = 128 + 13


def main(argv: list[str] | None = None) -> int:
    """``twinlab ARGS``: the command's exit status (2 bad input, 1 bench failure, 128 + n
    for Ctrl-C, SIGTERM or SIGHUP, 141 standard output closed early, e.g.
    ``twinlab tasks | head -1``)."""
    try:
        with stop_signals():  # until a command installs its own: start-up is interruptible
            return _run(argv)
    except KeyboardInterrupt as exc:
        print(f"twinlab: interrupted by {interrupt_name(exc)}", file=sys.stderr)
        return interrupted_status(exc)
    except BrokenPipeError:
        # as the Python docs recommend (signal module, "Note on SIGPIPE"): point stdout at
        # devnull so the interpreter's final flush cannot raise again, exit quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(argv: list[str] | None) -> int:
    from lab.hal import BenchError

    args = _parser().parse_args(argv)
    try:
        logs.configure(**_logging_of(args))
        if log.isEnabledFor(logging.INFO):
            words = sys.argv[1:] if argv is None else argv
            log.info("twinlab %s: %s", _version(), " ".join(words))
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except user_errors() as exc:
        print(f"twinlab: error: {exc}", file=sys.stderr)
        return 2
    except BenchError as exc:
        print(f"twinlab: error: {exc}", file=sys.stderr)
        return 1
    finally:
        logs.reset()


if __name__ == "__main__":
    sys.exit(main())
