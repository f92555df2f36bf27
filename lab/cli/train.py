"""``twinlab train``: train on the emulator (default) or a bench, recording a run file."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lab.cli.common import _out_path, _safe_note, _say_unsafe, incomplete_line, open_bench
from lab.cli.progress import progress_bar
from lab.paths import ENV_RUNS, RUN_FILE_NEVER, default_run_path, run_file_note, runs_dir
from lab.signals import interrupt_name, interrupted_by, interrupted_status, stop_signals

if TYPE_CHECKING:
    from lab.acquire.records import Observer
    from lab.acquire.settings import TrainSettings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab train`` to the command line's sub-parsers."""
    from lab.acquire.settings import TrainSettings
    from lab.core.rules import RULES

    defaults = TrainSettings()
    train = sub.add_parser("train", help="train on the emulator (default) or a bench")
    train.add_argument("--task", default=defaults.task, help="task name or .toml (default: ii)")
    train.add_argument("--p", type=float, help="update probability in (0, 1] (default: 1)")
    train.add_argument("--eta", type=float, help="nudge eta (default: the task's, else 0.5)")
    train.add_argument("--steps", type=int, help="training steps (default: 2000)")
    train.add_argument("--seed", type=int, help="seed of example order and generated tasks")
    train.add_argument("--order", choices=["random", "cycle"], help="example order")
    train.add_argument("--test-every", type=int, help="steps between test evaluations (0 = off)")
    train.add_argument(
        "--out",
        help=f"new run file in an existing directory (default: <runs>/<time>_<task>_p<p>_"
        f"seed<seed>.h5; <runs> is ${ENV_RUNS}, else {runs_dir()}, created if missing)",
    )
    train.add_argument("--bench", default=None, help="'emulator' (default) or a bench .toml file")
    train.add_argument("--bench-seed", type=int, default=None, help="emulator part/noise seed")
    train.add_argument(
        "--estimate", choices=["auto", "on", "off"], default=None,
        help="a bench without a resistance probe: estimate the codes from node voltages "
        "(auto, the default: when the bench supports it; on: refuse a bench that cannot; "
        "off: never)",
    )
    train.add_argument(
        "--rule", choices=list(RULES), default=None,
        help="what each edge compares: the twins' voltage drops or the power dissipated in "
        "them (default: the bench's; the default emulator bench: voltage, or built with this)",
    )
    train.add_argument("--rate", type=float,
                       help="real-time pace: at most this many steps per second "
                       "(default: 0 = as fast as the bench allows)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)


def _default_out(settings: TrainSettings) -> Path:
    """`lab.paths.default_run_path` for these settings, shown relative to the current
    directory when it lies below it."""
    path = default_run_path(settings.task, settings.p, settings.seed)
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _errors_basis(n_train: int, n_tests: int, steps: int) -> str:
    """What the summary's final and initial errors are (`lab.runs.summary.summary_errors`):
    the last and first test errors, or the mean training error of the last steps and the
    first step's (the progress bar shows one step's training error)."""
    from lab.runs.summary import FINAL_WINDOW, tested_errors

    if tested_errors(n_train, n_tests):
        return "test error, the last and the first evaluation"
    last = min(FINAL_WINDOW, steps)
    return f"training error, mean of the last {last} step{'s' * (last != 1)} and the first step"


def _codes_clause(probe: object) -> str:
    """``, codes estimated from node voltages (N resyncs, M DAQ transactions)`` for a run
    whose codes the estimator followed (a bench without a resistance probe); nothing when
    they were read back (or are unknown: a line said so at the start)."""
    if probe is None or not getattr(probe, "estimated", False):
        return ""
    resyncs = getattr(probe, "resyncs", None)
    transactions = getattr(probe, "transactions", None)
    if resyncs is None or transactions is None:
        return ", codes estimated from node voltages"
    return (f", codes estimated from node voltages ({resyncs} resync{'s' * (resyncs != 1)}, "
            f"{transactions} DAQ transactions)")


def _say_warning(line: str) -> None:
    """One warning line of the run on standard error, above the progress bar."""
    from tqdm import tqdm  # the bar's own writer: the bar is redrawn below the line

    tqdm.write(f"twinlab: warning: {line}", file=sys.stderr)


def _say_error(message: object, unsafe: list[str], out: Path, discarded: bool) -> None:
    """The one line of a run an error stopped, with what was done: ``twinlab: error:
    MESSAGE[; bench safe]; <run file note>`` (`lab.paths.run_file_note`), then the outputs
    that are not safe (`_say_unsafe`)."""
    print(f"twinlab: error: {message}{_safe_note(unsafe)}; {run_file_note(out, discarded)}",
          file=sys.stderr)
    _say_unsafe(unsafe)


def cmd_train(args: argparse.Namespace) -> int:
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer, check_task_wiring
    from lab.hal import BenchError, LimitError
    from lab.observe.probe import MiswiredBench
    from lab.procs import freeze_imported
    from lab.runs import RunStorageError, RunWriter
    from lab.runs.summary import ERROR_UNITS
    from lab.tasks import load_task

    settings = settings_from(
        task=args.task,
        p=args.p,
        eta=args.eta,
        steps=args.steps,
        seed=args.seed,
        order=args.order,
        test_every=args.test_every,
        estimate=args.estimate,
        rule=args.rule,
        rate=args.rate,
    )
    # a named file's directory must exist (a typo is not created); the default's is created
    out = _out_path(args.out, never=RUN_FILE_NEVER) or _default_out(settings)
    task = load_task(settings.task, seed=settings.seed)
    if args.eta is None and task.eta is not None:  # the task's own nudge (iris: the paper's)
        settings = settings.model_copy(update={"eta": task.eta})
    # what the task needs of the bench file's wiring: refused before any instrument opens
    wanted = settings
    bench = open_bench(args.bench, args.bench_seed, network=task.network, rule=args.rule,
                       check=lambda path, wiring: check_task_wiring(path, wiring, task, wanted))
    if args.rule is None:  # the board's own comparison (wired on it)
        settings = settings.model_copy(update={"rule": bench.rule})
    try:
        # a run that fails before its first step (a power-up check) leaves no file to block
        # the next attempt; one with any step keeps it
        writer = RunWriter(out, discard_empty=True)
        observers: list[Observer] = [writer]
        if not args.quiet:
            observers.append(progress_bar(settings.steps))
        trainer = Trainer(bench, task, settings, observers)  # validates before anything is applied
        if trainer.codes_note:  # the run goes on; its file says "codes unknown"
            print(f"twinlab: codes unknown: {trainer.codes_note}", file=sys.stderr)
        if trainer.currents_note:  # the run goes on; its file says so too
            print(f"twinlab: {trainer.currents_note}", file=sys.stderr)
        trainer.on_warning = _say_warning  # mid-run (a stuck edge); its file keeps them too
        # a limit the first step would exceed at the starting codes is the configuration's
        # (LimitError: one line, exit 2), before the run file exists; later ones stop the run
        trainer.preflight()

        def stop(signum: int) -> None:
            trainer.request_stop(interrupted_by(signum))

        freeze_imported()  # everything is imported now: keep it out of the gc's walks
        try:
            with stop_signals(stop) as received:
                summary = trainer.run()
        except KeyboardInterrupt as exc:  # a second signal: the loop was stopped mid-step
            message = f"interrupted by {interrupt_name(exc)} after {len(trainer.errors)} steps"
            print(incomplete_line(message, not trainer.unsafe, out, writer.discarded),
                  file=sys.stderr)
            _say_unsafe(trainer.unsafe)
            return interrupted_status(exc)
        except MiswiredBench as exc:  # bad input (exit 2): stopped before any pulse
            _say_error(exc.for_file(str(args.bench)), trainer.unsafe, out, writer.discarded)
            return 2
        except (BenchError, RunStorageError, LimitError) as exc:
            # an instrument, or the disk, failed; or a step would exceed a current limit
            # (whose message names its step)
            at = ""
            if isinstance(exc, BenchError) and trainer.failed_step is not None:
                at = f"at step {trainer.failed_step}: "
            _say_error(f"{at}{exc}", trainer.unsafe, out, writer.discarded)
            return 1
    finally:
        bench.close()
    if received and not summary.complete:
        print(incomplete_line(summary.message, not trainer.unsafe, out, writer.discarded),
              file=sys.stderr)
        _say_unsafe(trainer.unsafe)
        return 128 + received[0]
    line = (
        f"{summary.steps} steps, final scaled error {summary.scaled_error:.4f} "
        f"(final {summary.final_error:.4g} {ERROR_UNITS}, "
        f"initial {summary.initial_error:.4g} {ERROR_UNITS}: "
        f"{_errors_basis(trainer.task.n_train, trainer.n_tests, summary.steps)})"
    )
    if not math.isnan(summary.final_accuracy):
        line += f", test accuracy {summary.final_accuracy:.1%}"
    print(f"{line}{_codes_clause(trainer.probe)}, run file {out}")
    if trainer.unsafe:  # the run is complete, but the bench is not safe: say which outputs
        _say_unsafe(trainer.unsafe)
        return 1
    return 0
