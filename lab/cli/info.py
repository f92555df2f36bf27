"""``twinlab info``: a run file's settings and summary."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lab.runs import RunReader


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


#: How ``twinlab info`` words where a run's codes came from (`lab.acquire.records.Codes`).
CODES_TEXT = {"exact": "codes read back", "estimated": "codes estimated from node voltages",
              "unknown": "codes unknown"}


def bench_of(bench: dict[str, Any], codes: str) -> dict[str, Any]:
    """What a run was made on, from its file's ``bench_json``: ``kind``, ``file`` (the
    bench file's path; None in files written before it was stored), the emulator's
    ``seed`` or the instruments' ``daq`` resource and ``clock`` port, and ``codes``."""
    out: dict[str, Any] = {"kind": bench.get("kind"), "file": bench.get("file")}
    if isinstance(bench.get("emulator"), dict):
        out["seed"] = bench["emulator"].get("seed")
    for name, key in (("daq", "resource"), ("clock", "port")):
        if isinstance(bench.get(name), dict) and key in bench[name]:
            out[name] = bench[name][key]
    out["codes"] = codes
    return out


def bench_text(bench: dict[str, Any]) -> str:
    """`bench_of` in one line: ``instruments, file B.toml, DAQ TCPIP::..., clock
    /dev/pts/3; codes estimated from node voltages``."""
    parts = [str(bench["kind"] or "unknown kind")]
    if bench["file"]:
        parts.append(f"file {bench['file']}")
    for key, label in (("seed", "seed"), ("daq", "DAQ"), ("clock", "clock")):
        if bench.get(key) is not None:
            parts.append(f"{label} {bench[key]}")
    return f"{', '.join(parts)}; {CODES_TEXT.get(bench['codes'], bench['codes'])}"


def estimate_of(reader: RunReader) -> dict[str, float]:
    """An estimated run's last row: the worst and the median ``positions_sd`` over the
    edges (``positions_sd_worst``, ``positions_sd_median``; `SUMMARY_UNITS`), {} for a
    run without that column or without rows."""
    import numpy as np

    n = reader.n_steps
    if not n or "positions_sd" not in reader.steps:
        return {}
    sd = np.asarray(reader.array("positions_sd", n - 1, n)[0], dtype=float)
    return {"positions_sd_worst": float(np.max(sd)),
            "positions_sd_median": float(np.median(sd))}  # fmt: skip


def with_units(key: str, value: Any) -> str:
    """``value`` of summary field ``key`` as ``twinlab info`` prints it: followed by its
    units (`SUMMARY_UNITS`) when it has some and a value (not a ratio, not missing)."""
    from lab.runs.summary import SUMMARY_UNITS

    units = SUMMARY_UNITS.get(key, "1")
    if units.startswith("1") or value is None:
        return f"{value}"
    return f"{value} {units}"


def cmd_info(args: argparse.Namespace) -> int:
    from lab.runs import RunReader
    from lab.runs.summary import SUMMARY_UNITS

    with RunReader(args.run) as reader:
        summary = {k: _jsonable(v) for k, v in reader.summary().items()}
        summary.update(estimate_of(reader))
        settings = reader.settings
        bench = bench_of(reader.info.get("bench_json") or {}, reader.codes)
    if not summary["complete"] and not summary["end_time"] and not summary["message"]:
        summary["message"] = never_closed(summary["steps"])
    units = {k: u for k, u in SUMMARY_UNITS.items() if k in summary}
    if args.json:
        print(json.dumps({**summary, "units": units, "bench": bench, "settings": settings}))
        return 0
    width = max(len(k) for k in (*summary, "settings"))
    for key, value in summary.items():
        print(f"{key:>{width}}  {with_units(key, value)}")
    print(f"{'bench':>{width}}  {bench_text(bench)}")
    print(f"{'settings':>{width}}  {json.dumps(settings)}")
    return 0
