"""Sweeps: run one function over many independent points, locally or on a Dask cluster.

    results = run_sweep(func, points, Path("out/powerlaw.jsonl"))                  # all cores
    results = run_sweep(func, points, out, scheduler="tcp://10.0.0.5:8786")       # a cluster

``func`` is a module-level function (importable by worker processes) taking one JSON-able
point dict and returning a JSON-able result dict. Each finished point is appended at once to
``out`` as one JSON line ``{"key", "point", "result", "wall_s"}`` (flushed and fsynced), so an
interrupted sweep, rerun with the same points, resumes without recomputing what finished.

Schedulers:

- ``"local"``: ``workers`` spawned processes on this machine (default ``os.cpu_count()``),
  each limited to one numba/BLAS thread (:func:`limit_threads`); ``workers=1`` runs in this
  process, no pool. A worker dies with the sweep's process, even after a SIGKILL
  (`lab.procs.die_with_parent`).
- ``"tcp://HOST:PORT"``: a Dask distributed scheduler (``pip install twinlab[cluster]``);
  the workers must be able to import ``lab`` and ``func``'s module.

A point whose ``func`` raises stops the sweep: pending points are cancelled, finished ones
are already on disk, and :class:`SweepError` names the point (the original exception is its
``__cause__``). Ctrl-C does the same and re-raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from lab import procs
from lab.signals import STOP_SIGNALS

__all__ = ["SweepError", "limit_threads", "load_results", "point_key", "run_sweep"]

#: Environment variables that cap the BLAS/OpenMP thread pools of a process that has not
#: loaded them yet (set while the local pool spawns its workers, and in each worker).
BLAS_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_TCP = re.compile(r"tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<port>\d{1,5})")


class SweepError(RuntimeError):
    """A point of a sweep failed; ``point`` and ``key`` name it, ``__cause__`` is the error."""

    def __init__(self, message: str, point: dict | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.point = point
        self.key = key


def _json_default(obj: Any) -> Any:
    """Let numpy scalars and arrays through ``json.dumps`` (as Python numbers and lists)."""
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy scalar or array
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def point_key(point: dict) -> str:
    """A stable 16-hex-digit key of ``point``: SHA-256 of its canonical JSON (sorted keys)."""
    return hashlib.sha256(_canonical(point).encode()).hexdigest()[:16]


def load_results(out: Path, *, repair: bool = False) -> dict[str, dict]:
    """The records of a sweep file by point key (later duplicates win).

    Corrupt lines (an interrupted write) are dropped with one ``RuntimeWarning``; with
    ``repair=True`` a corrupt tail is also cut off the file so appends start on a clean line.
    """
    out = Path(out)
    if not out.exists():
        return {}
    data = out.read_bytes()
    records: dict[str, dict] = {}
    bad: list[int] = []
    good_end = 0  # byte offset just after the last good line
    offset = 0
    for lineno, line in enumerate(data.splitlines(keepends=True), start=1):
        offset += len(line)
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not line.endswith(b"\n"):
                raise ValueError("no newline: write was interrupted")
            point, result = rec["point"], rec["result"]
            if not isinstance(point, dict) or not isinstance(result, dict):
                raise ValueError("point and result must be objects")
        except (ValueError, KeyError, TypeError):
            bad.append(lineno)
            continue
        records[point_key(point)] = rec
        good_end = offset
    if bad:
        warnings.warn(
            f"{out}: dropped {len(bad)} corrupt line(s) {bad[:5]} (an interrupted write?); "
            "those points will be recomputed",
            RuntimeWarning,
            stacklevel=2,
        )
        if repair and good_end < len(data):
            with open(out, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
    return records


_limited: set[int] = set()  # ids of the threads already capped


def limit_threads() -> None:
    """Cap numba (this thread's) and BLAS/OpenMP thread pools to one; cheap when repeated.

    ``NUMBA_NUM_THREADS`` is set only while numba is not imported yet (its pool then has one
    thread). Once numba is imported it is left alone: numba re-reads it at every compile and
    raises "Cannot set NUMBA_NUM_THREADS to a different value once the threads have been
    launched" if it changed; ``numba.set_num_threads(1)`` caps the calling thread instead.
    """
    if threading.get_ident() in _limited:
        return
    _limited.add(threading.get_ident())
    for name in BLAS_THREAD_ENV:
        os.environ[name] = "1"
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = "1"
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover - numba is a dependency
        pass
    try:  # BLAS pools already started ignore the environment; threadpoolctl reaches them
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def _init_local_worker() -> None:
    """Pool initializer: one thread per worker. Ctrl-C, SIGTERM and SIGHUP (sent to the
    whole process group by a terminal or a scheduler) are the parent's to handle: it
    cancels the pool and keeps every finished point. The worker dies (SIGKILL) with the
    sweep's process, however that ends (`lab.procs`)."""
    procs.die_with_parent()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    limit_threads()


def _call(func: Callable[[dict], dict], point: dict) -> tuple[dict, float]:
    """Run ``func(point)`` and time it (wall seconds)."""
    t0 = time.perf_counter()
    result = func(point)
    return result, time.perf_counter() - t0


def _call_limited(func: Callable[[dict], dict], point: dict) -> tuple[dict, float]:
    """:func:`_call` in a Dask worker thread, after capping its thread pools."""
    limit_threads()
    return _call(func, point)


def _check_scheduler(scheduler: str) -> str:
    """``"local"`` or ``"tcp"``; `ConfigError` naming the field otherwise."""
    from lab.errors import ConfigError

    if scheduler == "local":
        return "local"
    m = _TCP.fullmatch(scheduler) if isinstance(scheduler, str) else None
    if m and 0 < int(m["port"]) < 65536:
        return "tcp"
    raise ConfigError(
        f"field 'scheduler': expected 'local' or 'tcp://HOST:PORT' (a Dask scheduler), "
        f"got {scheduler!r}"
    )


class _Sink:
    """Appends one record per finished point to the sweep file (flush + fsync each)."""

    def __init__(self, f: IO[bytes], points: dict[str, dict], done: dict[str, dict]) -> None:
        self._f = f
        self.points = points
        self.done = done

    def save(self, key: str, result: Any, wall_s: float) -> dict:
        point = self.points[key]
        if not isinstance(result, dict):
            raise SweepError(
                f"point {_canonical(point)}: func returned {type(result).__name__}, not a dict",
                point,
                key,
            )
        try:
            # allow_nan: NaN/inf errors are results too (Python's json reads them back)
            line = _canonical({"key": key, "point": point, "result": result,
                               "wall_s": round(wall_s, 6)})
        except (TypeError, ValueError) as err:
            raise SweepError(
                f"point {_canonical(point)}: result is not JSON-serialisable: {err}", point, key
            ) from err
        self._f.write(line.encode() + b"\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        rec = json.loads(line)  # what a resumed sweep will read: same types either way
        self.done[key] = rec
        return rec


@contextmanager
def _locked_append(out: Path) -> Iterator[IO[bytes]]:
    """Open ``out`` for appending, exclusively (one sweep per file at a time)."""
    with open(out, "ab") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield f
            return
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RuntimeError(f"{out}: another sweep is writing this file") from None
        try:
            yield f
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextmanager
def _spawn_env() -> Iterator[None]:
    """Set the BLAS thread caps while workers are spawned (they inherit them).

    Never ``NUMBA_NUM_THREADS``: this process has imported numba, and a compile while it
    differs from numba's launched pool raises (see :func:`limit_threads`).
    """
    saved = {name: os.environ.get(name) for name in BLAS_THREAD_ENV}
    os.environ.update(dict.fromkeys(BLAS_THREAD_ENV, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _failed(point: dict, key: str, err: BaseException) -> SweepError:
    return SweepError(f"point {_canonical(point)} failed: {type(err).__name__}: {err}", point, key)


def _run_inprocess(func: Callable[[dict], dict], todo: list[str], sink: _Sink, bar: Any) -> None:
    for key in todo:
        point = sink.points[key]
        try:
            result, wall = _call(func, point)
        except Exception as err:
            raise _failed(point, key, err) from err
        sink.save(key, result, wall)
        bar.update(1)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel pending work and stop the workers now (running points are abandoned)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:  # SIGKILL: the workers ignore the stop signals (the parent handles them)
        with suppress(Exception):
            p.kill()
    # The pool's manager thread sees the dead workers, fails their futures and reaps them;
    # joining the processes here too would race with it on waitpid.
    if manager is not None:
        manager.join(timeout=10)


def _run_local(
    func: Callable[[dict], dict], todo: list[str], sink: _Sink, bar: Any, workers: int
) -> None:
    import multiprocessing as mp
    import pickle

    try:
        pickle.dumps(func)
    except Exception as err:
        raise TypeError(
            f"func {func!r} must be a module-level function that worker processes can "
            f"import ({err}); or use workers=1"
        ) from err
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=mp.get_context("spawn"),
        initializer=_init_local_worker,
    )
    futures: dict[Future, str] = {}
    try:
        with _spawn_env():  # a "spawn" pool starts its workers in submit(), not before
            for key in todo:
                futures[pool.submit(_call, func, sink.points[key])] = key
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            _drain(finished, futures, sink, bar)
    except BaseException:
        _kill_pool(pool)
        raise
    pool.shutdown(wait=True)


def _drain(finished: Any, futures: dict[Any, str], sink: _Sink, bar: Any) -> None:
    """Save the successful futures in ``finished``, then raise the first failure if any."""
    failure: tuple[Any, BaseException] | None = None
    for fut in finished:
        err = fut.exception()
        if err is None:
            result, wall = fut.result()
            sink.save(futures[fut], result, wall)
            bar.update(1)
        elif failure is None:
            failure = (fut, err)
    if failure is not None:
        fut, err = failure
        if not isinstance(err, Exception):
            raise err
        key = futures[fut]
        raise _failed(sink.points[key], key, err) from err


def _run_dask(
    func: Callable[[dict], dict], todo: list[str], sink: _Sink, bar: Any, address: str
) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as err:
        raise ImportError(
            f"scheduler {address!r} needs Dask distributed: pip install 'twinlab[cluster]'"
        ) from err
    with Client(address) as client:
        futures = {
            client.submit(_call_limited, func, sink.points[key], pure=False): key
            for key in todo
        }
        try:
            for batch in as_completed(futures).batches():
                _drain(batch, futures, sink, bar)
        except BaseException:
            client.cancel(list(futures))
            raise


def run_sweep(
    func: Callable[[dict], dict],
    points: Sequence[dict],
    out: Path,
    *,
    scheduler: str = "local",
    workers: int | None = None,
    desc: str = "sweep",
    progress: bool = True,
) -> list[dict]:
    """Run ``func`` on every point not already in ``out``; return all results in point order.

    ``out`` is the sweep's JSON-lines file (created with its parent directories). Equal points
    are computed once. ``workers`` applies to ``scheduler="local"`` only. Raises
    :class:`SweepError` naming the first point whose ``func`` raised (finished points stay
    saved), `ConfigError` (a ValueError) for a bad ``scheduler`` or ``workers``.
    """
    kind = _check_scheduler(scheduler)
    if workers is None:
        workers = os.cpu_count() or 1
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        from lab.errors import ConfigError

        raise ConfigError(f"field 'workers': expected an integer >= 1, got {workers!r}")
    unique: dict[str, dict] = {}
    keys: list[str] = []
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise TypeError(f"points[{i}]: expected a dict, got {type(point).__name__}")
        try:
            key = point_key(point)
        except (TypeError, ValueError) as err:
            raise TypeError(f"points[{i}]: not JSON-serialisable: {err}") from None
        keys.append(key)
        unique.setdefault(key, point)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked_append(out) as f:
        done = {k: r for k, r in load_results(out, repair=True).items() if k in unique}
        todo = [k for k in unique if k not in done]
        sink = _Sink(f, unique, done)
        from tqdm import tqdm

        with tqdm(total=len(unique), initial=len(done), desc=desc, unit="pt",
                  disable=not progress, dynamic_ncols=True) as bar:
            if not todo:
                pass
            elif kind == "tcp":
                _run_dask(func, todo, sink, bar, scheduler)
            elif workers == 1:
                _run_inprocess(func, todo, sink, bar)
            else:
                _run_local(func, todo, sink, bar, workers)
    return [done[k]["result"] for k in keys]

