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

Every bad input ends with one line ``twinlab: error: ...`` and exit status 2,
before any voltage is applied; Ctrl-C leaves the bench safe, the run file closed
and marked incomplete, and exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from lab.calibration import CalibrationError
from lab.config import ConfigError, TrainSettings, emulator_config, load_bench, settings_from
from lab.hal import BenchError, LimitError
from lab.network import DisconnectedError
from lab.paths import ENV_RUNS, ENV_STUDIES, default_run_path, runs_dir, studies_dir
from lab.records import Observer, RunInfo, RunSummary, StepRecord
from lab.runs import RunFileError, RunReader, RunWriter
from lab.tasks import TaskError, list_tasks, load_task
from lab.trainer import Trainer

#: Errors that mean "the input is wrong", reported in one line with exit status 2.
USER_ERRORS = (
    ConfigError,
    TaskError,
    LimitError,
    RunFileError,
    CalibrationError,
    DisconnectedError,
    ValueError,
)


class Progress(Observer):
    """A tqdm progress bar with steps/s and the current error, refreshed a few times a second."""

    def __init__(self, total: int, every: float = 0.2) -> None:
        from tqdm import tqdm  # imported here: the bar is a CLI concern

        self._bar = tqdm(total=total, unit="step", dynamic_ncols=True, mininterval=every)
        self._every = every
        self._shown = 0
        self._next = time.monotonic() + every

    def step(self, record: StepRecord) -> None:
        if record.step & 255 == 0 and time.monotonic() >= self._next:
            self._bar.set_postfix(error=f"{record.error:.3g} V^2", refresh=False)
            self._bar.update(record.step + 1 - self._shown)
            self._shown = record.step + 1
            self._next = time.monotonic() + self._every

    def stop(self, summary: RunSummary) -> None:
        self._bar.update(summary.steps - self._shown)
        self._bar.close()


class _Announce(Observer):
    """Remembers where the run file is, for the summary line."""

    def start(self, info: RunInfo) -> None:
        self.info = info


def _default_out(settings: TrainSettings) -> Path:
    """`lab.paths.default_run_path` for these settings, shown relative to the current
    directory when it lies below it."""
    path = default_run_path(settings.task, settings.p, settings.seed)
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def cmd_train(args: argparse.Namespace) -> int:
    settings = settings_from(
        task=args.task,
        p=args.p,
        eta=args.eta,
        steps=args.steps,
        seed=args.seed,
        order=args.order,
        test_every=args.test_every,
    )
    task = load_task(settings.task, seed=settings.seed)
    bench = load_bench(args.bench, seed=args.bench_seed)
    out = Path(args.out) if args.out else _default_out(settings)
    writer = RunWriter(out)
    observers: list[Observer] = [writer]
    if not args.quiet:
        observers.append(Progress(settings.steps))
    trainer = Trainer(bench, task, settings, observers)  # validates before anything is applied
    try:
        summary = trainer.run()
    except KeyboardInterrupt:
        print(
            f"twinlab: interrupted after {len(trainer.errors)} steps; bench safe; "
            f"run file {out} (incomplete)",
            file=sys.stderr,
        )
        return 130
    except BenchError as exc:
        print(f"twinlab: error: {exc}; bench safe; run file {out} (incomplete)", file=sys.stderr)
        return 1
    finally:
        bench.close()
    line = (
        f"{summary.steps} steps, final scaled error {summary.scaled_error:.4f} "
        f"(final {summary.final_error:.4g} V^2, initial {summary.initial_error:.4g} V^2)"
    )
    if not math.isnan(summary.final_accuracy):
        line += f", test accuracy {summary.final_accuracy:.1%}"
    print(f"{line}, run file {out}")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


def cmd_info(args: argparse.Namespace) -> int:
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
    from lab.emulator.wire import WireEmulator

    config = emulator_config(args.bench, seed=args.seed)
    emulator = WireEmulator(config, scpi_port=args.port, firmware=args.firmware)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        emulator.start()
        bench_text = emulator.bench_toml()
        if args.write_bench:
            Path(args.write_bench).write_text(bench_text)
        print(f"DAQ (SCPI):   {emulator.scpi.resource}")
        print(f"clock board:  {emulator.serial.path}")
        if args.write_bench:
            print(f"bench file:   {args.write_bench}   (twinlab train --bench {args.write_bench})")
        else:
            print("bench file (save it and pass it to --bench):\n")
            print(bench_text)
        print("serving until Ctrl-C", flush=True)
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.close()
    print("emulator stopped", file=sys.stderr)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    try:
        discovery = importlib.import_module("drivers.discovery")
    except ImportError as err:
        raise ConfigError(
            f"device discovery needs the 'hw' extra (pip install 'twinlab[hw]'): {err}"
        ) from None
    print(discovery.format_devices(discovery.list_devices()))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lab.calibration import sweep, write_calibration

    bench = load_bench(args.bench, seed=args.bench_seed)
    try:
        lo, hi = bench.bias_limits
        biases = np.linspace(lo, hi, args.points)
        with tqdm(total=len(biases) * args.pulses, unit="pulse", disable=args.quiet) as bar:
            result = sweep(bench, biases, args.pulses, progress=bar.update)
    finally:
        bench.close()
    when = f"{datetime.now():%Y-%m-%d %H:%M}"
    source = f"twinlab calibrate, {args.points} biases x {args.pulses} pulses, {when}"
    calibration = result.fit(source)
    half = int(np.argmin(np.abs(result.p - 0.5)))
    write_calibration(
        args.out,
        calibration,
        measured_p=result.p.tolist(),
        spread=result.spread.tolist(),
        correlation=[float(np.nan_to_num(c)) for c in result.correlation],
    )
    print(f"{'bias V':>8} {'p':>6} {'spread':>7} {'corr':>7}")
    for b, p, sd, r in zip(result.bias, result.p, result.spread, result.correlation, strict=True):
        print(f"{b:8.3f} {p:6.3f} {sd:7.3f} {r:7.3f}")
    print(
        f"p = 0.5 at {calibration.volts_for(0.5):.3f} V; edge correlation near p = 0.5: "
        f"{result.correlation[half]:.3f}; spread between edges up to {result.spread.max():.3f}; "
        f"calibration file {args.out}"
    )
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    """The live window (``twinlab gui``) or a recorded run (``twinlab replay RUN.h5``)."""
    try:
        app = importlib.import_module("gui.app")  # Qt is loaded only for these commands
    except ImportError as err:
        raise ConfigError(
            f"the window needs the 'gui' extra (pip install 'twinlab[gui]'): {err}"
        ) from None
    argv = list(args.rest)
    if args.command == "replay":
        argv = ["replay", args.run, *argv]
    return int(app.main(argv) or 0)


def cmd_netlist(args: argparse.Namespace) -> int:
    """A run's state at a step, or a task at its initial resistances, as a SPICE deck."""
    from lab.netlist import run_state, task_state

    if (args.run is None) == (args.task is None):
        raise ValueError("give a run file (twinlab netlist RUN.h5 --step N) or --task NAME")
    if args.run is not None:
        if args.example is not None or args.seed is not None or args.eta is not None:
            raise ValueError("--example, --seed and --eta apply to --task, not to a run file")
        state = run_state(args.run, args.step, args.state)
    else:
        if args.step is not None:
            raise ValueError("--step applies to a run file, not to --task")
        settings = settings_from(eta=args.eta, seed=args.seed)
        example = 0 if args.example is None else args.example
        state = task_state(args.task, example, args.state, seed=settings.seed, eta=settings.eta)
    deck = state.deck()
    if args.out is None:
        sys.stdout.write(deck)
        return 0
    try:
        Path(args.out).write_text(deck)
    except OSError as exc:
        raise ValueError(f"{args.out}: cannot write the deck: {exc.strerror or exc}") from None
    print(
        f"{state.network.n_edges} resistors, {len(state.fixed)} sources "
        f"({state.title.removeprefix('twinlab netlist: ')}), deck {args.out}"
    )
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """Run an in-silico study (a sweep, resumable), write its figure and statistics."""
    from lab.studies import STUDIES, StudyArgs, run_study

    if args.list:
        width = max((len(n) for n in STUDIES), default=0)
        for name, study in STUDIES.items():
            print(f"{name:{width}s}  {study.description}")
        return 0
    known = ", ".join(STUDIES) or "(none)"
    if args.name is None:
        raise ValueError(f"give a study name (known studies: {known}) or --list")
    if args.name not in STUDIES:
        raise ValueError(f"unknown study {args.name!r}; known studies: {known}")
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
        raise ValueError(f"--workers: expected an integer >= 1, got {args.workers}")
    out = Path(args.out)
    try:
        summary = run_study(STUDIES[args.name], study_args)
    except KeyboardInterrupt:
        print(
            f"twinlab: interrupted; finished points are saved in {out / (args.name + '.jsonl')}"
            "; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
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
    for name in list_tasks():
        task = load_task(name)
        print(f"{name:18s} {task.kind:15s} {task.network:10s} {task.description}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twinlab", description="Control, emulate and record twin-network coupled learning."
    )
    sub = parser.add_subparsers(dest="command", required=True)
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
    emulate.set_defaults(func=cmd_emulate)
    window = sub.add_parser(
        "gui", help="live window: train and watch (--bench --task --p --eta --steps --seed --out)"
    )
    window.add_argument("rest", nargs=argparse.REMAINDER, help="options of the window")
    window.set_defaults(func=cmd_gui)
    replay = sub.add_parser("replay", help="open a run file in the window (--follow to tail it)")
    replay.add_argument("run", help="run file (.h5)")
    replay.add_argument("rest", nargs=argparse.REMAINDER, help="--follow")
    replay.set_defaults(func=cmd_gui)
    devices = sub.add_parser("devices", help="list serial ports and VISA resources")
    devices.set_defaults(func=cmd_devices)
    calibrate = sub.add_parser("calibrate", help="measure p against the bias voltage")
    calibrate.add_argument("--bench", default=None, help="'emulator' (default) or a bench file")
    calibrate.add_argument("--bench-seed", type=int, default=None, help="emulator seed")
    calibrate.add_argument("--points", type=int, default=21, help="bias values (default 21)")
    calibrate.add_argument("--pulses", type=int, default=400, help="pulses per bias (default 400)")
    calibrate.add_argument("--out", default="calibration.toml", help="calibration file to write")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"twinlab: error: {exc}", file=sys.stderr)
        return 2
    except BenchError as exc:
        print(f"twinlab: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
