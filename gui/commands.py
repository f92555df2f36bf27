"""``twinlab gui`` and ``twinlab replay`` (entry points ``twinlab.commands: gui, replay``).

Everything the terminal can check is checked before a window opens (one line, exit 2);
Qt is loaded only when the window opens. This module imports nothing heavy: the command
line loads it for every command."""

from __future__ import annotations

import argparse
from typing import Any

#: Largest seed the window's seed control holds.
WINDOW_MAX_SEED = 2**31 - 1


def add_gui(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab gui`` to the command line's sub-parsers."""
    from typing import get_args

    from lab.acquire.settings import TrainSettings
    from lab.core.rules import RULES

    estimates = get_args(TrainSettings.model_fields["estimate"].annotation)
    window = sub.add_parser(
        "gui",
        help="live window: train and watch",
        description="The live window: the error, digipot traces, network and outputs of a "
        "run, trained in its own process. The options preset the window's controls.",
    )
    window.add_argument("--bench", default=None, help="'emulator' (default) or a bench .toml")
    window.add_argument("--bench-seed", type=int, default=None, help="emulator part/noise seed")
    window.add_argument("--task", default=None, help="task name or .toml (default: ii)")
    window.add_argument("--p", type=float, help="update probability in (0, 1] (default: 1)")
    window.add_argument("--eta", type=float,
                        help="nudge eta in (0, 1] (default: the task's, else 0.5)")
    window.add_argument("--steps", type=int, help="training steps (default: 2000)")
    window.add_argument("--seed", type=int, help="seed of example order and generated tasks")
    window.add_argument(
        "--rule", choices=list(RULES), default=None,
        help="what each edge compares, as for twinlab train (default: the bench's own)",
    )
    window.add_argument(
        "--estimate", choices=list(estimates), default=None,
        help="a bench without a resistance probe: estimate the codes, as for twinlab train "
        "(default: auto)",
    )
    window.add_argument(
        "--out", help="run file of the first run (default: named as twinlab train names it)"
    )
    window.add_argument("--start", action="store_true", help="start training at once")
    window.set_defaults(func=cmd_gui)


def add_replay(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab replay`` to the command line's sub-parsers."""
    replay = sub.add_parser("replay", help="open a run file in the window (--follow to tail it)")
    replay.add_argument("run", help="run file (.h5)")
    replay.add_argument("--follow", action="store_true", help="tail a file still being written")
    replay.set_defaults(func=cmd_gui)


def window_presets(args: argparse.Namespace, task: Any) -> dict[str, Any]:
    """The live window's preset settings from the command line: ``task``'s own nudge eta
    (iris: the paper's 1.0) when ``--eta`` is not given, as ``twinlab train`` takes it."""
    preset = {k: getattr(args, k)
              for k in ("task", "p", "eta", "steps", "seed", "rule", "estimate")}
    if preset["eta"] is None and getattr(task, "eta", None) is not None:
        preset["eta"] = task.eta
    return preset


def cmd_gui(args: argparse.Namespace) -> int:
    """The live window (``twinlab gui``) or a recorded run (``twinlab replay RUN.h5``).

    Everything the terminal can check is checked before a window opens (one line, exit 2):
    the run file to replay; the settings, task, bench file and run file of a live run."""
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import check_task_wiring
    from lab.errors import ConfigError
    from lab.hal.benchfile import check_bench
    from lab.paths import RUN_FILE_NEVER, check_output_file
    from lab.runs import RunReader
    from lab.tasks import load_task

    if args.command == "replay":
        with RunReader(args.run, swmr=args.follow):  # not a run file: RunFileError
            pass
    else:
        settings = settings_from(
            task=args.task, p=args.p, eta=args.eta, steps=args.steps, seed=args.seed,
            rule=args.rule, estimate=args.estimate,
        )
        if settings.seed > WINDOW_MAX_SEED:
            raise ConfigError(f"--seed: the window takes seeds up to {WINDOW_MAX_SEED}, "
                              f"got {settings.seed}")  # fmt: skip
        task = load_task(settings.task, seed=settings.seed)
        # as twinlab train checks it (kind, fields, channel map, calibration, currents,
        # what the task needs of its wiring), opening nothing: the training process opens
        # the bench on Start
        check_bench(args.bench, seed=args.bench_seed, network=task.network, rule=args.rule,
                    check=lambda path, wiring: check_task_wiring(path, wiring, task, settings))
        if args.out is not None:  # as twinlab train's: a missing directory is not created
            check_output_file(args.out, "--out", never=RUN_FILE_NEVER)
    try:
        from gui import app  # Qt is loaded only for these commands
    except ImportError as err:
        raise ConfigError(
            f"the window needs the 'gui' extra (pip install 'twinlab[gui]'): {err}"
        ) from None
    if args.command == "replay":
        return int(app.replay(args.run, follow=args.follow) or 0)
    window = window_presets(args, task)
    return int(
        app.live(bench=args.bench, bench_seed=args.bench_seed, out=args.out,
                 settings=window, start=args.start) or 0
    )  # fmt: skip


__all__ = ["WINDOW_MAX_SEED", "add_gui", "add_replay", "cmd_gui"]
