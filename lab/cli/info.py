"""``twinlab info``: a run file's settings and summary."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab info`` to the command line's sub-parsers."""
    info = sub.add_parser("info", help="print a run file's settings and summary")
    info.add_argument("run", help="run file (.h5)")
    info.add_argument("--json", action="store_true", help="one JSON object")
    info.set_defaults(func=cmd_info)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


def never_closed(steps: int) -> str:
    """The message of a run file whose writer never stopped (no end time, no message: the
    process was killed, or the machine went down), ``steps`` rows recorded."""
    return f"incomplete: the run did not close (killed?); {steps} steps recorded"


def cmd_info(args: argparse.Namespace) -> int:
    from lab.runs import RunReader

    with RunReader(args.run) as reader:
        summary = {k: _jsonable(v) for k, v in reader.summary().items()}
        settings = reader.settings
    if not summary["complete"] and not summary["end_time"] and not summary["message"]:
        summary["message"] = never_closed(summary["steps"])
    if args.json:
        print(json.dumps(summary))
        return 0
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:>{width}}  {value}")
    print(f"{'settings':>{width}}  {json.dumps(settings)}")
    return 0
