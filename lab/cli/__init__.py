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
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import threading
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import logs, plugins
from lab.paths import ENV_RUNS, ENV_STUDIES, default_run_path, runs_dir, studies_dir
from lab.signals import interrupt_name, interrupted_status, signal_name, stop_signals

if TYPE_CHECKING:  # the heavy modules are imported by the commands, so that the
    from lab.acquire.records import Observer, RunInfo, RunSummary, StepRecord
    from lab.acquire.settings import TrainSettings  # command line answers (and Ctrl-C) at once
    from lab.hal import Bench

log = logging.getLogger(__name__)


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


def progress_bar(total: int, every: float = 0.2) -> Observer:
    """A tqdm progress bar with steps/s and the current error, refreshed a few times a
    second (an `Observer`; made here so that the command line imports numpy only when a
    command needs it)."""
    from lab.acquire.records import Observer

    class Progress(Observer):
        critical = False  # a view: a broken bar is logged once and the run goes on

        def __init__(self, total: int, every: float) -> None:
            self._total, self._every = total, every
            self._bar: Any = None  # made at start: a run refused before it starts shows none
            self._shown = 0
            self._next = 0.0

        def start(self, info: RunInfo) -> None:
            from tqdm import tqdm  # imported here: the bar is a CLI concern

            self._bar = tqdm(
                total=self._total, unit="step", dynamic_ncols=True, mininterval=self._every
            )
            self._next = time.monotonic() + self._every

        def step(self, record: StepRecord) -> None:
            if record.step & 255 == 0 and time.monotonic() >= self._next:
                self._bar.set_postfix(error=f"{record.error:.3g} V^2", refresh=False)
                self._bar.update(record.step + 1 - self._shown)
                self._shown = record.step + 1
                self._next = time.monotonic() + self._every

        def stop(self, summary: RunSummary) -> None:
            if self._bar is not None:
                self._bar.update(summary.steps - self._shown)
                self._bar.close()

    return Progress(total, every)


def _default_out(settings: TrainSettings) -> Path:
    """`lab.paths.default_run_path` for these settings, shown relative to the current
    directory when it lies below it."""
    path = default_run_path(settings.task, settings.p, settings.seed)
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _out_path(value: str | None, what: str = "--out") -> Path | None:
    """``--out`` as a path; None when not given; an empty string is refused."""
    from lab.errors import ConfigError

    if value is None:
        return None
    if not value.strip():
        raise ConfigError(f"{what}: an empty path; give a file name or leave {what} out")
    return Path(value)


def open_bench(spec: str | None, seed: int | None) -> Bench:
    """`load_bench`, with a failure to open an instrument (a missing port or resource:
    nothing was applied yet) reported as bad input (exit 2)."""
    from lab.errors import ConfigError
    from lab.hal import BenchError
    from lab.hal.benchfile import load_bench

    try:
        return load_bench(spec, seed=seed)
    except BenchError as exc:
        raise ConfigError(str(exc)) from None


def _safe_note(unsafe: list[str]) -> str:
    """``"; bench safe"`` when every output was made safe and verified, else nothing (the
    channels that were not follow in `_say_unsafe`)."""
    return "" if unsafe else "; bench safe"


def _say_unsafe(unsafe: list[str]) -> None:
    """One stderr line per output that could not be made safe and verified."""
    for line in unsafe:
        print(f"twinlab: not safe: {line}", file=sys.stderr)


def cmd_train(args: argparse.Namespace) -> int:
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.hal import BenchError
    from lab.procs import freeze_imported
    from lab.runs import RunStorageError, RunWriter
    from lab.tasks import load_task

    settings = settings_from(
        task=args.task,
        p=args.p,
        eta=args.eta,
        steps=args.steps,
        seed=args.seed,
        order=args.order,
        test_every=args.test_every,
    )
    out = _out_path(args.out) or _default_out(settings)
    task = load_task(settings.task, seed=settings.seed)
    bench = open_bench(args.bench, args.bench_seed)
    try:
        observers: list[Observer] = [RunWriter(out)]
        if not args.quiet:
            observers.append(progress_bar(settings.steps))
        trainer = Trainer(bench, task, settings, observers)  # validates before anything is applied

        def stop(signum: int) -> None:
            trainer.request_stop(f"interrupted by {signal_name(signum)}")

        freeze_imported()  # everything is imported now: keep it out of the gc's walks
        try:
            with stop_signals(stop) as received:
                summary = trainer.run()
        except KeyboardInterrupt as exc:  # a second signal: the loop was stopped mid-step
            print(
                f"twinlab: interrupted by {interrupt_name(exc)} after {len(trainer.errors)} "
                f"steps{_safe_note(trainer.unsafe)}; run file {out} (incomplete)",
                file=sys.stderr,
            )
            _say_unsafe(trainer.unsafe)
            return interrupted_status(exc)
        except (BenchError, RunStorageError) as exc:  # an instrument, or the disk, failed
            print(
                f"twinlab: error: {exc}{_safe_note(trainer.unsafe)}; run file {out} "
                "(incomplete)",
                file=sys.stderr,
            )
            _say_unsafe(trainer.unsafe)
            return 1
    finally:
        bench.close()
    if received and not summary.complete:
        print(
            f"twinlab: {summary.message}{_safe_note(trainer.unsafe)}; run file {out} "
            "(incomplete)",
            file=sys.stderr,
        )
        _say_unsafe(trainer.unsafe)
        return 128 + received[0]
    line = (
        f"{summary.steps} steps, final scaled error {summary.scaled_error:.4f} "
        f"(final {summary.final_error:.4g} V^2, initial {summary.initial_error:.4g} V^2)"
    )
    if not math.isnan(summary.final_accuracy):
        line += f", test accuracy {summary.final_accuracy:.1%}"
    print(f"{line}, run file {out}")
    if trainer.unsafe:  # the run is complete, but the bench is not safe: say which outputs
        _say_unsafe(trainer.unsafe)
        return 1
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


def cmd_info(args: argparse.Namespace) -> int:
    from lab.runs import RunReader

    with RunReader(args.run) as reader:
        summary = {k: _jsonable(v) for k, v in reader.summary().items()}
        settings = reader.settings
    if args.json:
        print(json.dumps(summary))
        return 0
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:>{width}}  {value}")
    print(f"{'settings':>{width}}  {json.dumps(settings)}")
    return 0


def cmd_emulate(args: argparse.Namespace) -> int:
    """Serve an emulated bench until Ctrl-C, SIGTERM or SIGHUP: all three stop serving,
    close the emulator (its children reaped, pty and socket closed), say so in one line
    on stderr and exit 128 + the signal's number (Ctrl-C: 130), during start-up too.
    Bad options (``--port``, ``--write-bench``, ``--fault``, ``--truth``) are refused
    before anything starts. ``--probe``, ``--fault``, ``--truth``: `WireEmulator`."""
    import contextlib
    import signal

    from lab.errors import ConfigError
    from lab.hal.benchfile import emulator_config

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected a TCP port in 0..65535 (0: any free)")
    bench_out = None
    if args.write_bench is not None:
        bench_out = Path(args.write_bench)
        where = bench_out.parent
        if not args.write_bench.strip() or bench_out.is_dir():
            raise ConfigError(f"--write-bench {args.write_bench!r}: expected a file path")
        if not where.is_dir():
            raise ConfigError(f"--write-bench {bench_out}: directory {where} does not exist")
        if not os.access(where, os.W_OK | os.X_OK) or (
            bench_out.exists() and not os.access(bench_out, os.W_OK)
        ):
            raise ConfigError(f"--write-bench {bench_out}: not writable")

    caught: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        caught.append(signum)
        if len(caught) == 1:  # the first one stops; later ones must not break the close
            raise KeyboardInterrupt

    names = ("SIGINT", "SIGTERM", "SIGHUP")
    handled = [getattr(signal, n) for n in names if hasattr(signal, n)]
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, on_signal) for s in handled}
    emulator = None
    serving = False
    try:
        from lab.emulator.wire.rehearsal import WireEmulator

        config = emulator_config(args.bench, seed=args.seed)
        try:
            emulator = WireEmulator(config, scpi_port=args.port, firmware=args.firmware,
                                    probe=args.probe, faults=args.fault, truth=args.truth)
        except OSError as exc:
            raise ConfigError(
                f"--port {args.port}: cannot listen on 127.0.0.1:{args.port} "
                f"({exc.strerror or exc})"
            ) from None
        emulator.start()
        bench_text = emulator.bench_toml()
        if bench_out is not None:
            try:
                bench_out.write_text(bench_text)
            except OSError as exc:
                raise ConfigError(
                    f"--write-bench {bench_out}: cannot write ({exc.strerror or exc})"
                ) from None
        print(f"DAQ (SCPI):   {emulator.scpi.resource}")
        print(f"clock board:  {emulator.serial.path}")
        if args.truth is not None:
            print(f"truth:        {args.truth}")
        for fault in emulator.faults:
            print(f"fault:        {fault.spec}")
        if bench_out is not None:
            print(f"bench file:   {bench_out}   (twinlab train --bench {bench_out})")
        else:
            print("bench file (save it and pass it to --bench):\n")
            print(bench_text)
        serving = True
        print("serving until Ctrl-C", flush=True)
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        caught.append(signal.SIGINT)  # a Ctrl-C that came before our handler
    finally:
        if not caught:  # an error: close, then let main report it
            caught.append(0)
        if emulator is not None:
            emulator.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    signum = caught[0]
    name = signal.Signals(signum).name
    with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
        if serving:
            print(f"emulator stopped ({name})", file=sys.stderr)
        else:
            print(f"twinlab: emulator stopped during start-up ({name}); nothing left running",
                  file=sys.stderr)  # fmt: skip
    return 128 + signum


def _check_writable(path: Path, force: bool, what: str) -> None:
    """Before long work: refuse an existing ``path`` without ``--force``, and a path that
    cannot be written (`ConfigError`, one line). Probes by opening it for appending (an
    existing file is not changed) or creating it and removing it again."""
    from lab.errors import ConfigError

    try:
        existed = path.exists()
        if existed and not force and not path.is_dir():
            raise ConfigError(f"{what} {path}: exists; give --force to overwrite it")
        with open(path, "a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{what} {path}: cannot be written: {reason}") from None


def _fallback_path(path: Path) -> Path:
    """Where a result goes when ``path`` cannot be written: the temporary directory."""
    import tempfile

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"{path.stem}-{stamp}-{os.getpid()}{path.suffix}"


def cmd_calibrate(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from lab.errors import ConfigError
    from lab.hal.calibration import write_calibration
    from lab.procedures.calibration import sweep

    out = _out_path(args.out)
    assert out is not None  # argparse default
    _check_writable(out, args.force, "--out")  # before the sweep, not after it
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
    extra = {
        "measured_p": result.p.tolist(),
        "spread": result.spread.tolist(),
        "correlation": [float(np.nan_to_num(c)) for c in result.correlation],
    }
    print(f"{'bias V':>8} {'p':>6} {'spread':>7} {'corr':>7}")
    for b, p, sd, r in zip(result.bias, result.p, result.spread, result.correlation, strict=True):
        print(f"{b:8.3f} {p:6.3f} {sd:7.3f} {r:7.3f}")
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
        f"{result.correlation[half]:.3f}; spread between edges up to {result.spread.max():.3f}; "
        f"calibration file {out}"
    )
    if unsafe:
        _say_unsafe(unsafe)
        return 1
    return 0


def cmd_netlist(args: argparse.Namespace) -> int:
    """A run's state at a step, or a task at its initial resistances, as a SPICE deck."""
    from lab.acquire.settings import settings_from
    from lab.errors import ConfigError
    from lab.export.netlist import run_state, task_state

    if (args.run is None) == (args.task is None):
        raise ConfigError("give a run file (twinlab netlist RUN.h5 --step N) or --task NAME")
    out = _out_path(args.out, "-o")
    if out is not None:
        _check_writable(out, args.force, "-o")
    if args.run is not None:
        if args.example is not None or args.seed is not None or args.eta is not None:
            raise ConfigError("--example, --seed and --eta apply to --task, not to a run file")
        state = run_state(args.run, args.step, args.state)
    else:
        if args.step is not None:
            raise ConfigError("--step applies to a run file, not to --task")
        settings = settings_from(eta=args.eta, seed=args.seed)
        example = 0 if args.example is None else args.example
        state = task_state(args.task, example, args.state, seed=settings.seed, eta=settings.eta)
    deck = state.deck()
    if out is None:
        sys.stdout.write(deck)
        return 0
    try:
        out.write_text(deck)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the deck: {exc.strerror or exc}") from None
    print(
        f"{state.network.n_edges} resistors, {len(state.fixed)} sources "
        f"({state.title.removeprefix('twinlab netlist: ')}), deck {out}"
    )
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """Run an in-silico study (a sweep, resumable), write its figure and statistics."""
    from lab.errors import ConfigError
    from lab.insilico.studies import STUDIES, StudyArgs, run_study

    if args.list:
        width = max((len(n) for n in STUDIES), default=0)
        for name, study in STUDIES.items():
            print(f"{name:{width}s}  {study.description}")
        return 0
    known = ", ".join(STUDIES) or "(none)"
    if args.name is None:
        raise ConfigError(f"give a study name (known studies: {known}) or --list")
    if args.name not in STUDIES:
        raise ConfigError(f"unknown study {args.name!r}; known studies: {known}")
    study_args = StudyArgs(
        tasks=args.tasks,
        seeds=args.seeds,
        steps=args.steps,
        paper=args.paper,
        out=Path(args.out),
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not args.quiet,
    )
    for field in ("tasks", "seeds", "steps"):  # bad sizes before any work starts
        study_args.size(field, 1, 1)
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {args.workers}")
    out = Path(args.out)
    try:
        with stop_signals():
            summary = run_study(STUDIES[args.name], study_args)
    except KeyboardInterrupt as exc:
        print(
            f"twinlab: interrupted by {interrupt_name(exc)}; finished points are saved in "
            f"{out / (args.name + '.jsonl')}; run the same command again to resume",
            file=sys.stderr,
        )
        return interrupted_status(exc)
    except (OSError, RuntimeError) as exc:  # unreachable scheduler, busy sweep file, a point
        print(f"twinlab: error: {exc}", file=sys.stderr)
        return 1
    stats = summary.get("statistics") or {}
    print(
        f"{args.name}: {summary['points']} points in {summary['wall_s']:.1f} s; "
        f"figure {out / summary['figure']}, statistics {out / (args.name + '.json')}"
    )
    if stats.get("headline"):
        print(f"{args.name}: {stats['headline']}")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from lab.tasks import list_tasks, load_task

    for name in list_tasks():
        task = load_task(name)
        print(f"{name:18s} {task.kind:15s} {task.network:10s} {task.description}")
    return 0


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twinlab", description="Control, emulate and record twin-network coupled learning."
    )
    parser.add_argument("--version", action="version", version=f"twinlab {_version()}")
    _logging_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    from lab.acquire.settings import TrainSettings

    defaults = TrainSettings()
    train = sub.add_parser("train", help="train on the emulator (default) or a bench")
    train.add_argument("--task", default=defaults.task, help="task name or .toml (default: ii)")
    train.add_argument("--p", type=float, help="update probability in (0, 1] (default: 1)")
    train.add_argument("--eta", type=float, help="nudge eta in (0, 1] (default: 0.5)")
    train.add_argument("--steps", type=int, help="training steps (default: 2000)")
    train.add_argument("--seed", type=int, help="seed of example order and generated tasks")
    train.add_argument("--order", choices=["random", "cycle"], help="example order")
    train.add_argument("--test-every", type=int, help="steps between test evaluations (0 = off)")
    train.add_argument(
        "--out",
        help=f"run file (default: <runs>/<time>_<task>_p<p>_seed<seed>.h5; <runs> is "
        f"${ENV_RUNS}, else {runs_dir()})",
    )
    train.add_argument("--bench", default=None, help="'emulator' (default) or a bench .toml file")
    train.add_argument("--bench-seed", type=int, default=None, help="emulator part/noise seed")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)
    info = sub.add_parser("info", help="print a run file's settings and summary")
    info.add_argument("run", help="run file (.h5)")
    info.add_argument("--json", action="store_true", help="one JSON object")
    info.set_defaults(func=cmd_info)
    tasks = sub.add_parser("tasks", help="list the shipped tasks")
    tasks.set_defaults(func=cmd_tasks)
    emulate = sub.add_parser(
        "emulate", help="serve an emulated bench over SCPI (TCP) and serial (pty) until Ctrl-C"
    )
    emulate.add_argument("--bench", default=None, help="emulator bench file (default: emulator)")
    emulate.add_argument("--seed", type=int, default=None, help="emulator part/noise seed")
    emulate.add_argument("--port", type=int, default=0, help="SCPI TCP port (default: any free)")
    emulate.add_argument("--write-bench", help="write the matching bench file here")
    emulate.add_argument(
        "--firmware",
        choices=["python", "simavr"],
        default="python",
        help="clock board: the Python protocol (default) or the real firmware under simavr "
        "(built with `make -C firmware` if needed; each rising clock edge is one update)",
    )
    emulate.add_argument("--probe", action="store_true",
                         help="serve and write a resistance probe (code read-back), which a "
                         "real bench does not have")  # fmt: skip
    emulate.add_argument("--truth", default=None,
                         help="write every pulse's codes, update mask and direction to this "
                         "new HDF5 file (for scoring)")  # fmt: skip
    emulate.add_argument("--fault", action="append", default=[], metavar="KIND:ARGS",
                         help="a wiring or part fault, repeatable: swap-channels:A,B, "
                         "dead-channel:A, stuck-edge:I-J, open-edge:I-J")  # fmt: skip
    emulate.set_defaults(func=cmd_emulate)
    for name in plugins.names(plugins.COMMANDS):  # gui, replay, devices: entry points
        plugins.load(plugins.COMMANDS, name)(sub)
    calibrate = sub.add_parser("calibrate", help="measure p against the bias voltage")
    calibrate.add_argument("--bench", default=None, help="'emulator' (default) or a bench file")
    calibrate.add_argument("--bench-seed", type=int, default=None, help="emulator seed")
    calibrate.add_argument("--points", type=int, default=21, help="bias values (default 21)")
    calibrate.add_argument("--pulses", type=int, default=400, help="pulses per bias (default 400)")
    calibrate.add_argument("--out", default="calibration.toml", help="calibration file to write")
    calibrate.add_argument("--force", action="store_true", help="overwrite an existing --out")
    calibrate.add_argument("--quiet", action="store_true", help="no progress bar")
    calibrate.set_defaults(func=cmd_calibrate)
    netlist = sub.add_parser(
        "netlist", help="write a run's state or a task's initial state as a SPICE deck"
    )
    netlist.add_argument("run", nargs="?", help="run file (.h5)")
    netlist.add_argument(
        "--step", type=int, help="run: step (default: the last; negative counts from the end)"
    )
    netlist.add_argument("--state", choices=["free", "clamped"], default="free", help="twin")
    netlist.add_argument("--task", help="instead of a run: a task at mid-scale resistances")
    netlist.add_argument("--example", type=int, help="task: training example (default 0)")
    netlist.add_argument("--seed", type=int, help="task: seed of generated tasks (default 0)")
    netlist.add_argument("--eta", type=float, help="task, clamped state: nudge (default 0.5)")
    netlist.add_argument("-o", "--out", help="deck file (default: standard output)")
    netlist.add_argument("--force", action="store_true", help="overwrite an existing -o file")
    netlist.set_defaults(func=cmd_netlist)
    study = sub.add_parser(
        "study", help="reproduce a published in-silico result (figure + statistics; --list)"
    )
    study.add_argument("name", nargs="?", help="study name (see --list)")
    study.add_argument("--list", action="store_true", help="list the studies and exit")
    study.add_argument("--tasks", type=int, help="tasks (default: the study's quick size)")
    study.add_argument("--seeds", type=int, help="seeds per task and setting")
    study.add_argument("--steps", type=int, help="training steps")
    study.add_argument("--paper", action="store_true", help="the paper's sizes (long)")
    study.add_argument(
        "--scheduler", default="local", help="'local' (default) or a Dask tcp://HOST:PORT"
    )
    study.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    study.add_argument(
        "--out",
        default=str(studies_dir()),
        help=f"output directory (default: ${ENV_STUDIES}, else {studies_dir()})",
    )
    study.add_argument("--quiet", action="store_true", help="no progress bar")
    study.set_defaults(func=cmd_study)
    for command in sub.choices.values():  # the logging options after the command, too
        _logging_options(command, "_sub")
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
