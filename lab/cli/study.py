"""``twinlab study``: reproduce a published in-silico result (figure and statistics)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab.paths import ENV_STUDIES, studies_dir
from lab.signals import interrupt_name, interrupted_status, stop_signals


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab study`` to the command line's sub-parsers."""
    study = sub.add_parser(
        "study", help="reproduce a published in-silico result (figure + statistics; --list)"
    )
    study.add_argument(
        "name",
        nargs="?",
        help="study name (see --list), or 'report': one page over --out's results",
    )
    study.add_argument("--list", action="store_true", help="list the studies and exit")
    study.add_argument("--tasks", type=int, help="tasks (default: the study's quick size)")
    study.add_argument("--seeds", type=int, help="seeds per task and setting")
    study.add_argument("--steps", type=int, help="training steps")
    study.add_argument("--paper", action="store_true", help="the paper's sizes (long)")
    study.add_argument(
        "--network", metavar="NAME|FILE",
        help="the network of a study that takes one (twin16, planar<E>, lattice<R>x<C>, a "
        "shipped network's name or a network .toml file); default: the paper's",
    )  # fmt: skip
    study.add_argument(
        "--gamma", metavar="G[,G...]",
        help="continuous rule's learning rate(s), Ohm^3/V^2 per example and step "
        "(collapse: one; powerlaw: its axis)",
    )  # fmt: skip
    study.add_argument(
        "--v-max", metavar="V[,V...]",
        help="discrete studies: input range(s) [0, V] volts (their input-scale axis)",
    )  # fmt: skip
    study.add_argument(
        "--family", metavar="NAME[,NAME...]",
        help="powerlaw: the task families of its family axis (default 2in2out,1in1out; "
        "2in2out, its own, always runs; 1in1out: 24 tasks x 1 seed at gamma 0.0125-0.05)",
    )  # fmt: skip
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


def _floats(option: str, text: str | None) -> tuple[float, ...] | None:
    """Comma-separated numbers -> tuple of floats; `ConfigError` naming ``option``."""
    from lab.errors import ConfigError

    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{option}: expected numbers separated by commas, got {text!r}") from None


def _check_network(name: str, study, study_args) -> None:
    """``--network``: a network that loads (`Network.from_name`: a bad name or network file
    is its one-line `ConfigError`), for a study whose points take it (each point's
    ``"network"`` is the given one, `lab.core.netfile.network_ref`); a study that fixes its
    network (its own task's board, the seed's networks) refuses it in one line."""
    from lab.core.netfile import network_ref
    from lab.core.network import Network
    from lab.errors import ConfigError

    ref = network_ref(study_args.network)
    try:
        Network.from_name(ref)
    except ConfigError as exc:
        raise ConfigError(f"--network: {exc}") from None
    try:
        points = study.points(study_args)
    except ConfigError:
        raise
    except ValueError as exc:  # a study that states why it fixes its network
        if "network" not in str(exc):
            raise
        raise ConfigError(f"--network: study {name!r}: {exc}") from None
    if not any(p.get("network") == ref for p in points):
        raise ConfigError(f"--network: study {name!r} fixes its networks (the task's or the "
                          f"paper's board); leave --network out")  # fmt: skip


def cmd_study(args: argparse.Namespace) -> int:
    """Run an in-silico study (a sweep, resumable), write its figure and statistics."""
    from lab.errors import ConfigError
    from lab.insilico.studies import STUDIES, StudyArgs, run_study

    if args.list:
        width = max((len(n) for n in STUDIES), default=0)
        for name, study in STUDIES.items():
            print(f"{name:{width}s}  {study.description}")
        return 0
    if args.name == "report":  # nothing is run: the page is built from --out's NAME.json files
        return cmd_report(Path(args.out))
    known = ", ".join(STUDIES) or "(none)"
    if args.name is None:
        raise ConfigError(f"give a study name (known studies: {known}) or --list")
    if args.name not in STUDIES:
        raise ConfigError(f"unknown study {args.name!r}; known studies: {known}")
    study_args = StudyArgs(
        tasks=args.tasks,
        seeds=args.seeds,
        steps=args.steps,
        network=args.network,
        paper=args.paper,
        out=Path(args.out),
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not args.quiet,
        gamma=_floats("--gamma", args.gamma),
        v_max=_floats("--v-max", args.v_max),
        family=None if args.family is None else tuple(n.strip() for n in args.family.split(",")),
    )
    for field in ("tasks", "seeds", "steps"):  # bad sizes before any work starts
        study_args.size(field, 1, 1)
    study = STUDIES[args.name]
    for field, option in (("gamma", "--gamma"), ("v_max", "--v-max"), ("family", "--family")):
        if getattr(study_args, field) is not None and field not in study.axes:
            raise ConfigError(f"{option}: study {args.name!r} has no such parameter "
                              f"(it takes: {', '.join(study.axes) or 'none'})")  # fmt: skip
    if args.network is not None:
        _check_network(args.name, study, study_args)
    study.points(study_args)  # every other bad value (a field's range) before any work
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {args.workers}")
    out = Path(args.out)
    try:
        with stop_signals():
            summary = run_study(study, study_args)
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


def cmd_report(folder: Path) -> int:
    """``twinlab study report``: write ``folder/report.html`` from the study files there."""
    from lab.errors import ConfigError
    from lab.insilico.report import write_report

    if not folder.is_dir():
        raise ConfigError(f"--out: {folder} is not a folder of study results")
    try:
        out = write_report(folder)
    except ValueError as exc:  # a NAME.json that is not JSON
        raise ConfigError(str(exc)) from None
    print(f"report: {out}")
    return 0
