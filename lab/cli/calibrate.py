"""``twinlab calibrate``: measure the update probability p against the bias voltage."""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import datetime

from lab.cli.common import (
    _fallback_path,
    _out_path,
    _safe_note,
    _say_unsafe,
    open_bench,
)
from lab.signals import signal_name, stop_signals


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab calibrate`` to the command line's sub-parsers."""
    calibrate = sub.add_parser("calibrate", help="measure p against the bias voltage")
    calibrate.add_argument("--bench", default=None, help="'emulator' (default) or a bench file")
    calibrate.add_argument("--bench-seed", type=int, default=None, help="emulator seed")
    calibrate.add_argument("--points", type=int, default=21, help="bias values (default 21)")
    calibrate.add_argument("--pulses", type=int, default=400, help="pulses per bias (default 400)")
    calibrate.add_argument("--out", default="calibration.toml", help="calibration file to write")
    calibrate.add_argument("--force", action="store_true", help="overwrite an existing --out")
    calibrate.add_argument("--quiet", action="store_true", help="no progress bar")
    calibrate.set_defaults(func=cmd_calibrate)


def _corr_text(corr: float, p: float) -> str:
    """The edge correlation as the table prints it (7 wide), or why it is undefined (an
    edge that never or always updated has no variance): ``n/a (p = 0: no updates)``."""
    if corr == corr:  # not NaN
        return f"{corr:7.3f}"
    if p == 0.0:
        why = "p = 0: no updates"
    elif p == 1.0:
        why = "p = 1: every edge updated at every pulse"
    else:
        why = "an edge never or always updated"
    return f"{'n/a':>7} ({why})"


def cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from lab.errors import ConfigError
    from lab.hal.calibration import write_calibration
    from lab.procedures.calibration import sweep

    out = _out_path(args.out, force=args.force)  # before the sweep, not after it
    assert out is not None  # argparse default
    if args.points < 2 or args.pulses < 1:
        raise ConfigError(
            f"--points must be >= 2 and --pulses >= 1, got {args.points} and {args.pulses}"
        )
    bench = open_bench(args.bench, args.bench_seed)
    stop = threading.Event()
    try:
        lo, hi = bench.bias_limits
        biases = np.linspace(lo, hi, args.points)
        with (
            stop_signals(lambda signum: stop.set()) as received,
            tqdm(total=len(biases) * args.pulses, unit="pulse", disable=args.quiet) as bar,
        ):
            result = sweep(bench, biases, args.pulses, progress=bar.update,
                           should_stop=stop.is_set)  # fmt: skip
    finally:
        unsafe = bench.close()  # the sweep made it safe; this reports what it could not
    if result is None:  # stopped by a signal between two pulses
        print(
            f"twinlab: calibration interrupted by {signal_name(received[0])}"
            f"{_safe_note(unsafe)}; nothing written to {out}",
            file=sys.stderr,
        )
        _say_unsafe(unsafe)
        return 128 + received[0]
    when = f"{datetime.now():%Y-%m-%d %H:%M}"
    source = f"twinlab calibrate, {args.points} biases x {args.pulses} pulses, {when}"
    calibration = result.fit(source)
    half = int(np.argmin(np.abs(result.p - 0.5)))
    corr_half = _corr_text(float(result.correlation[half]), float(result.p[half])).strip()
    extra = {
        "measured_p": result.p.tolist(),
        "spread": result.spread.tolist(),
        # undefined stays undefined: TOML's nan (not 0.0, which would read "uncorrelated")
        "correlation": [float(c) for c in result.correlation],
    }
    print(f"{'bias V':>8} {'p':>6} {'spread':>7} {'corr':>7}")
    for b, p, sd, r in zip(result.bias, result.p, result.spread, result.correlation, strict=True):
        print(f"{b:8.3f} {p:6.3f} {sd:7.3f} {_corr_text(float(r), float(p))}")
    try:
        write_calibration(out, calibration, **extra)
    except OSError as exc:  # the measurement is kept: write it where we can
        fallback = _fallback_path(out)
        write_calibration(fallback, calibration, **extra)
        print(
            f"twinlab: error: cannot write {out}: {exc.strerror or exc}; "
            f"the calibration was written to {fallback}",
            file=sys.stderr,
        )
        return 1
    print(
        f"p = 0.5 at {calibration.volts_for(0.5):.3f} V; edge correlation near p = 0.5: "
        f"{corr_half}; spread between edges up to {result.spread.max():.3f}; "
        f"calibration file {out}"
    )
    if unsafe:
        _say_unsafe(unsafe)
        return 1
    return 0
