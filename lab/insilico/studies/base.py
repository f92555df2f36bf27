"""The shape every in-silico study has, and the one function that runs any of them.

A study is three functions over JSON-able dicts: ``points(args)`` lists the independent
work items of the sweep; ``run_point(point)`` (module-level, so worker processes and Dask
workers can import it) computes one; ``summarize(results, args, out_dir)`` turns the list
of ``{"point", "result"}`` records into the study's statistics (returned, JSON-able) and
writes its figure. `run_study` wires them to `lab.insilico.sweep.run_sweep`, so an interrupted
study resumes from ``<out>/<name>.jsonl`` and writes ``<name>.json`` and ``<name>.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lab.insilico.sweep import run_sweep
from lab.paths import studies_dir

if TYPE_CHECKING:
    from lab.hal import Bench


def study_bench(bench: Bench) -> Bench:
    """``bench`` (an emulated one) with the largest current limits the contract allows,
    1 A per edge and channel (`lab.hal.CurrentLimits`): the studies model the papers'
    circuit, whose sources have no current limit, so a study does not stop where a real
    board's 5 mA default must (an Iris board with codes at 0 puts ~70 mA through an
    edge). Returns ``bench``."""
    from lab.hal import CurrentLimits

    bench.currents = CurrentLimits(1.0, 1.0)
    return bench


def option(field: str) -> str:
    """The ``twinlab study`` option of `StudyArgs` field ``field`` ('v_max' -> '--v-max')."""
    return "--" + field.replace("_", "-")


@dataclass(frozen=True)
class StudyArgs:
    """Sizes and where to run. ``None`` sizes take the study's default (a few minutes on
    2 cores) or, with ``paper=True``, the paper's size. ``network``: a `Network.from_name`
    name (``twin16``, ``planar<E>``, ``lattice<R>x<C>``, a shipped network file's stem or
    a path to a network file) for the in-silico studies; None takes the study's own (the
    paper's network). ``gamma``: the continuous rule's learning
    rates (Ohm^3 / V^2 per example and step; eq. 7 sums over a step's examples), one for
    ``collapse``, the axis of ``powerlaw``; ``v_max``: the discrete studies' input ranges
    (inputs uniform on [0, v_max] V), their input-scale axis. None takes the study's own.
    ``family``: the task families of a study's family axis (``powerlaw``: ``2in2out``,
    its own, always run, and ``1in1out``); None takes the study's own."""

    tasks: int | None = None
    seeds: int | None = None
    steps: int | None = None
    network: str | None = None
    paper: bool = False
    out: Path = dataclass_field(default_factory=studies_dir)  # lab.paths: $TWINLAB_STUDIES, ...
    scheduler: str = "local"
    workers: int | None = None
    progress: bool = True
    gamma: tuple[float, ...] | None = None
    v_max: tuple[float, ...] | None = None
    family: tuple[str, ...] | None = None

    def size(self, field: str, default: int, paper: int, *, least: int = 1,
             why: str = "") -> int:  # fmt: skip
        """The value of ``field`` ('tasks', 'seeds' or 'steps'): given, else the default
        for this size (paper or quick); `ConfigError` naming the field, its option and
        the allowed range if below ``least`` (a study whose statistics need more than one
        states its bound there, and ``why`` in the message)."""
        value = getattr(self, field)
        value = (paper if self.paper else default) if value is None else value
        if value < least:
            from lab.errors import ConfigError

            expected = "a positive integer" if least <= 1 else f"an integer >= {least}"
            raise ConfigError(f"field {field!r} ({option(field)}): expected {expected}"
                              f"{why}, got {value}")  # fmt: skip
        return int(value)

    def values(self, field: str, default: tuple[float, ...], *, most: int | None = None,
               upper: float = math.inf) -> tuple[float, ...]:  # fmt: skip
        """The values of ``field`` ('gamma' or 'v_max'): given, else ``default``;
        `ConfigError` naming the field unless each is finite with 0 < value <= ``upper``,
        they are distinct, and there are at most ``most`` of them. Sorted ascending."""
        from lab.errors import ConfigError

        given = getattr(self, field)
        values = tuple(float(v) for v in (default if given is None else given))
        if not values:
            raise ConfigError(f"field {field!r}: expected at least one value")
        for v in values:
            if not (math.isfinite(v) and 0 < v <= upper):
                raise ConfigError(f"field {field!r}: expected 0 < {field} <= {upper:g}, got {v:g}")
        if len(set(values)) != len(values):
            raise ConfigError(f"field {field!r}: values must be distinct, got {values}")
        if most is not None and len(values) > most:
            raise ConfigError(f"field {field!r}: this study takes at most {most} value(s), "
                              f"got {len(values)}")  # fmt: skip
        return tuple(sorted(values))

    def network_or(self, default: str) -> str:
        """The network to study: ``network`` if given (a network file's path made absolute,
        `lab.core.netfile.network_ref`, so every worker finds it), else ``default``."""
        if self.network is None:
            return default
        from lab.core.netfile import network_ref

        return network_ref(self.network)


@dataclass(frozen=True)
class Study:
    """One reproducible result: see the module docstring."""

    name: str
    description: str
    points: Callable[[StudyArgs], list[dict]]
    run_point: Callable[[dict], dict]
    summarize: Callable[[list[dict], StudyArgs, Path], dict]
    #: the `StudyArgs` value fields it reads ('gamma', 'v_max', 'family'); others are refused
    axes: tuple[str, ...] = ()


def run_study(study: Study, args: StudyArgs) -> dict:
    """Run ``study``'s sweep (resuming), summarise it, write ``<name>.json``/``.png``.

    Returns the statistics dict (also written, with the arguments and timings).
    """
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    points = study.points(args)
    start = time.perf_counter()
    results = run_sweep(
        study.run_point, points, out_dir / f"{study.name}.jsonl",
        scheduler=args.scheduler, workers=args.workers, desc=study.name,
        progress=args.progress,
    )  # fmt: skip
    records = [{"point": p, "result": r} for p, r in zip(points, results, strict=True)]
    stats = study.summarize(records, args, out_dir)
    summary: dict[str, Any] = {
        "study": study.name,
        "description": study.description,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()},
        "points": len(points),
        "wall_s": round(time.perf_counter() - start, 2),
        "figure": f"{study.name}.png",
        "statistics": stats,
    }
    (out_dir / f"{study.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# -- helpers every study's statistics and figure use ------------------------------------------
def rounded(x: Any, digits: int = 5) -> Any:
    """JSON-able copy of a number or nested array with ``digits`` significant digits;
    non-finite numbers become None."""
    if isinstance(x, np.ndarray | list | tuple):
        return [rounded(v, digits) for v in x]
    if isinstance(x, np.integer | int) and not isinstance(x, bool):
        return int(x)
    v = float(x)
    return float(f"{v:.{digits}g}") if math.isfinite(v) else None


def mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``x`` (n,) and its two-sided 95 % t confidence interval (NaN if n < 2)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    m = float(np.mean(x))
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def figure(width: float, n_axes: int):
    """A figure with ``n_axes`` side by side, drawn by Agg without pyplot (no global state,
    no backend switch in the caller's process)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 4.2))
    return fig, fig.subplots(1, n_axes)
