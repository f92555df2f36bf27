"""``twinlab netlist``: a run's state or a task's initial state as a SPICE deck."""

from __future__ import annotations

import argparse
import sys

from lab.cli.common import _out_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab netlist`` to the command line's sub-parsers."""
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


def cmd_netlist(args: argparse.Namespace) -> int:
    """A run's state at a step, or a task at its initial resistances, as a SPICE deck."""
    from lab.acquire.settings import settings_from
    from lab.errors import ConfigError
    from lab.export.sources import run_state, task_state

    if (args.run is None) == (args.task is None):
        raise ConfigError("give a run file (twinlab netlist RUN.h5 --step N) or --task NAME")
    out = _out_path(args.out, "-o", force=args.force)
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
