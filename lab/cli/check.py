"""``twinlab check``: the first-day bench check (`lab.procedures.check`)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import TYPE_CHECKING

from lab.cli.common import _out_path, _safe_note, _say_unsafe, open_bench
from lab.signals import interrupt_name, interrupted_status, signal_name, stop_signals

if TYPE_CHECKING:
    from lab.procedures.check import CheckReport

#: Printed after the table when the check pulsed the clock (any pulse, a stopped check's
#: too): `twinlab train` starts from the power-up codes (64) and refuses a board that is
#: not there. ``pulses``: `CheckReport.pulses_sent`; ``where``: `CheckReport.where_left`;
#: ``restart``: `EMULATE_RESTART` or ""
MOVED_NOTE = ("note: the check sent {pulses} clock pulse(s) and left the digipots {where}: "
              "power-cycle the board{restart} before `twinlab train`, which starts from the "
              "power-up codes (64)")
#: What MOVED_NOTE adds on a `twinlab emulate` bench (its board powers up with it)
EMULATE_RESTART = " (on a 'twinlab emulate' bench: restart 'twinlab emulate')"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab check`` to the command line's sub-parsers."""
    check = sub.add_parser(
        "check", help="first-day bench check: instruments, channel map, edges, clock, bias"
    )
    check.add_argument("--bench", required=True, help="the bench file to check")
    check.add_argument("--json", default=None, metavar="FILE", help="write every figure here")
    check.add_argument("--force", action="store_true", help="overwrite an existing --json")
    check.add_argument("--pulses", type=int, default=3,
                       help="clock pulses each way at p = 1 (default 3)")  # fmt: skip
    check.add_argument("--bias-pulses", type=int, default=12,
                       help="pulses at each of the two bias values (default 12)")  # fmt: skip
    check.set_defaults(func=cmd_check)


def _stop_line(report: CheckReport, name: str) -> str:
    """The standard-error line of a check a stop signal ``name`` came in: interrupted
    (some section cut short), or after the check's last step (nothing cut short)."""
    from lab.procedures.check import SECTIONS

    if report.stopped:
        return f"twinlab: check interrupted by {name}"
    if {i.section for i in report.items} >= set(SECTIONS):
        return f"twinlab: {name} came after the last section: every item ran"
    return f"twinlab: {name} came after the check ended: it cut nothing short"


def cmd_check(args: argparse.Namespace) -> int:
    """Run the check; 0 when every item passes, 1 when one fails (or the bench is not
    safe at the end), 2 bad input (nothing applied), 128 + n on a stop signal (also one
    that came after the last section: the check's verdict stands, the status says a
    signal asked to stop)."""
    from lab.errors import ConfigError
    from lab.procedures.check import CheckSettings, run_check

    out = _out_path(args.json, "--json", force=args.force)
    if args.pulses < 1 or args.bias_pulses < 1:
        raise ConfigError(
            f"--pulses and --bias-pulses must be >= 1, got {args.pulses} and {args.bias_pulses}"
        )
    settings = CheckSettings(pulses=args.pulses, bias_pulses=args.bias_pulses)
    bench = open_bench(args.bench, None)
    stop = threading.Event()
    try:
        with stop_signals(lambda signum: stop.set()) as received:
            report = run_check(bench, settings, should_stop=stop.is_set,
                               where=args.bench)
    except KeyboardInterrupt as exc:  # a second signal, mid-section
        unsafe = bench.close()
        print(f"twinlab: check interrupted by {interrupt_name(exc)}{_safe_note(unsafe)}",
              file=sys.stderr)  # fmt: skip
        _say_unsafe(unsafe)
        return interrupted_status(exc)
    except BaseException:  # bad input found by the plan, or an instrument failed
        bench.close()
        raise
    unsafe = bench.close()  # run_check made it safe; this reports what it could not
    report.unsafe = list(dict.fromkeys([*report.unsafe, *unsafe]))
    if received:  # the JSON names the signal, as the terminal's line does
        report.data["stopped_by"] = signal_name(received[0])
    print(report.table())
    where = report.where_left()
    if where is not None:  # the digipots stepped: training assumes the power-up codes
        from lab.emulator.wire.rehearsal import is_emulate_bench

        # the opened bench's description (`Bench.config`): the file is not read again
        print(MOVED_NOTE.format(
            pulses=report.pulses_sent, where=where,
            restart=EMULATE_RESTART if is_emulate_bench(bench.config) else ""))
    if out is not None:
        out.write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"figures: {out}")
    if received:  # 128 + n even when nothing was cut short: `check && train` stops
        print(_stop_line(report, signal_name(received[0])) + _safe_note(report.unsafe),
              file=sys.stderr)
        _say_unsafe(report.unsafe)
        return 128 + received[0]
    if report.unsafe:
        _say_unsafe(report.unsafe)
        return 1
    return 0 if report.passed else 1
