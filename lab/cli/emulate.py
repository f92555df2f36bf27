"""``twinlab emulate``: serve an emulated bench over SCPI (TCP) and serial (pty)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``twinlab emulate`` to the command line's sub-parsers."""
    emulate = sub.add_parser(
        "emulate", help="serve an emulated bench over SCPI (TCP) and serial (pty) until Ctrl-C"
    )
    emulate.add_argument("--bench", default=None, help="emulator bench file (default: emulator)")
    emulate.add_argument("--seed", type=int, default=None, help="emulator part/noise seed")
    emulate.add_argument("--port", type=int, default=0, help="SCPI TCP port (default: any free)")
    emulate.add_argument("--write-bench", metavar="FILE",
                         help="write the matching bench file here (an existing FILE is "
                         "refused unless --force)")  # fmt: skip
    emulate.add_argument("--force", action="store_true",
                         help="overwrite an existing --write-bench file")  # fmt: skip
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


def cmd_emulate(args: argparse.Namespace) -> int:
    """Serve an emulated bench until Ctrl-C, SIGTERM or SIGHUP: all three stop serving,
    close the emulator (its children reaped, pty and socket closed), say so in one line
    on stderr and exit 128 + the signal's number (Ctrl-C: 130), during start-up too.
    Bad options (``--port``, ``--write-bench``, ``--fault``, ``--truth``) are refused
    before anything starts; an existing ``--write-bench`` file only with ``--force``.
    ``--probe``, ``--fault``, ``--truth``: `WireEmulator`."""
    import contextlib
    import signal

    from lab.cli.common import _out_path
    from lab.errors import ConfigError
    from lab.hal.benchfile import emulator_config

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected a TCP port in 0..65535 (0: any free)")
    # before anything starts: an existing bench file without --force, an existing truth
    # file, a directory, a parent that is a file, a missing directory (one line)
    bench_out = _out_path(args.write_bench, "--write-bench", force=args.force)
    if args.truth is not None:
        from lab.emulator.truth import check_truth_path

        check_truth_path(args.truth)

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
