"""The ``twinlab`` command.

    twinlab train [--task ii] [--p 1] [--eta 0.5] [--steps 2000] [--seed 0]
                  [--out RUN.h5] [--bench emulator|BENCH.toml] [--quiet]
    twinlab info RUN.h5 [--json]
    twinlab tasks

Every bad input ends with one line ``twinlab: error: ...`` and exit status 2,
before any voltage is applied; Ctrl-C leaves the bench safe, the run file closed
and marked incomplete, and exits 130.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.calibration import CalibrationError
from lab.config import ConfigError, TrainSettings, load_bench, settings_from
from lab.hal import BenchError, LimitError
from lab.network import DisconnectedError
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
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(settings.task).stem
    return Path("data") / "runs" / f"{stamp}_{name}_p{settings.p:g}_seed{settings.seed}.h5"


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
        "--out", help="run file (default: data/runs/<time>_<task>_p<p>_seed<seed>.h5)"
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
