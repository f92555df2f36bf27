"""``twinlab gui``: the live window (train on a bench) or ``replay RUN.h5`` of a run file.

    main(["--task", "ii", "--p", "0.5", "--steps", "5000", "--start"])   live
    main(["replay", "data/runs/x.h5", "--follow"])                       replay / tail
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twinlab gui", description="Live window for training, or 'replay RUN.h5'.")
    parser.add_argument("--bench", default=None, help="'emulator' (default) or a bench .toml")
    parser.add_argument("--bench-seed", type=int, default=None, help="emulator part/noise seed")
    parser.add_argument("--task", default=None, help="task name or .toml (default: ii)")
    parser.add_argument("--p", type=float, default=None, help="update probability in (0, 1]")
    parser.add_argument("--eta", type=float, default=None, help="nudge eta in (0, 1]")
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--seed", type=int, default=None, help="example order / task seed")
    parser.add_argument("--out", default=None, help="run file of the first run")
    parser.add_argument("--start", action="store_true", help="start training at once")
    return parser


def _replay_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twinlab gui replay", description="Replay a run file.")
    parser.add_argument("run", help="run file (.h5)")
    parser.add_argument("--follow", action="store_true", help="tail a file still being written")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Open the window; returns the Qt exit status (2 on bad arguments or missing Qt)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    replay = bool(argv) and argv[0] == "replay"
    args = _replay_parser().parse_args(argv[1:]) if replay else _parser().parse_args(argv)
    try:
        from PyQt6.QtWidgets import QApplication

        from gui.window import MainWindow
    except ImportError as err:
        print(f"twinlab: error: the window needs the 'gui' extra "
              f"(pip install 'twinlab[gui]'): {err}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(["twinlab"])
    if replay:
        window = MainWindow()
        window.show()
        window.open_run(args.run, follow=args.follow)
    else:
        settings = {k: getattr(args, k) for k in ("task", "p", "eta", "steps", "seed")}
        window = MainWindow(bench=args.bench, bench_seed=args.bench_seed, out=args.out,
                            settings=settings)
        window.show()
        if args.start:
            window.start_run()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
