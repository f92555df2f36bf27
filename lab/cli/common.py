"""What the commands share: the user-error set, output paths, opening a bench, the lines
about an unsafe bench."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the heavy modules are imported by the commands, so that the
    from lab.hal import Bench  # command line answers (and Ctrl-C) at once
    from lab.hal.benchfile import WiringCheck


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the input is wrong", reported in one line with exit status 2."""
    from lab.core.network import DisconnectedError
    from lab.errors import ConfigError
    from lab.hal import LimitError
    from lab.hal.calibration import CalibrationError
    from lab.runs import RunFileError
    from lab.tasks import TaskError

    return (
        ConfigError,
        TaskError,
        LimitError,
        RunFileError,
        CalibrationError,
        DisconnectedError,
    )


def _out_path(
    value: str | None, what: str = "--out", *, force: bool = False, never: str | None = None
) -> Path | None:
    """A file option's path, checked before any work (`lab.paths.check_output_file`:
    existing without ``force``, a directory, a parent that is a file, a missing directory:
    one line); None when the option was not given."""
    from lab.paths import check_output_file

    return None if value is None else check_output_file(value, what, force=force, never=never)


def open_bench(
    spec: str | None, seed: int | None, network: str | None = None, rule: str | None = None,
    check: WiringCheck | None = None,
) -> Bench:
    """`load_bench` (``network``: the default emulator bench's network; ``check``: what the
    command needs of the wiring, before any instrument is opened), with a failure to open
    an instrument (a missing port or resource: nothing was applied yet) reported as bad
    input (exit 2)."""
    from lab.errors import ConfigError
    from lab.hal import BenchError
    from lab.hal.benchfile import load_bench

    try:
        return load_bench(spec, seed=seed, network=network, rule=rule, check=check)
    except BenchError as exc:
        raise ConfigError(str(exc)) from None


#: What a line adds when every output was made safe and verified.
_BENCH_SAFE = "; bench safe"


def _safe_note(unsafe: list[str]) -> str:
    """``"; bench safe"`` when every output was made safe and verified, else nothing (the
    channels that were not follow in `_say_unsafe`)."""
    return "" if unsafe else _BENCH_SAFE


def incomplete_line(message: str, safe: bool, out: Path | str, discarded: bool = False) -> str:
    """The terminal's line for a run that ended before its last step (a signal):
    ``twinlab: MESSAGE; bench safe; run file OUT (incomplete)``, e.g. MESSAGE
    ``interrupted by Ctrl-C (SIGINT) after 871 steps`` (``safe`` False: no "bench safe";
    the outputs that are not follow, `_say_unsafe`); ``discarded``: the file was removed
    because nothing was recorded (`lab.paths.run_file_note`). ``twinlab train`` and
    ``twinlab gui``."""
    from lab.paths import run_file_note

    return f"twinlab: {message}{_BENCH_SAFE if safe else ''}; {run_file_note(out, discarded)}"


def _say_unsafe(unsafe: list[str]) -> None:
    """One stderr line per line of the safe-state report (`lab.hal.Bench.safe_state`: the
    outputs that could not be made safe and verified, grouped by reason)."""
    for line in unsafe:
        print(f"twinlab: not safe: {line}", file=sys.stderr)


def _fallback_path(path: Path) -> Path:
    """Where a result goes when ``path`` cannot be written: the temporary directory."""
    import tempfile

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"{path.stem}-{stamp}-{os.getpid()}{path.suffix}"
