"""lab.insilico.sweep: streamed, resumable sweeps in process, on a local pool and on a Dask
cluster."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from lab.insilico.sweep import SweepError, load_results, point_key, run_sweep
from tests.lab.insilico import sweep_funcs
from tests.lab.insilico.sweep_funcs import record


def make_points(tmp_path: Path, n: int = 8, **extra) -> list[dict]:
    log = str(tmp_path / "calls.txt")
    return [{"x": x, "log": log, "trap": str(tmp_path / "trap"), **extra} for x in range(n)]


def calls(tmp_path: Path) -> Counter:
    path = tmp_path / "calls.txt"
    return Counter(int(s) for s in path.read_text().split()) if path.exists() else Counter()


def expected(points: list[dict]) -> list[dict]:
    """What a sweep returns: ``record`` of each point (not logged), as read back from JSON."""
    return [json.loads(json.dumps({**record({"x": p["x"]}), "vec": [0, p["x"], 2 * p["x"]]}))
            for p in points]


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_point_key_is_canonical():
    assert point_key({"a": 1, "b": [0.1, 2]}) == point_key({"b": (0.1, 2), "a": 1})
    assert point_key({"a": 1}) != point_key({"a": 2})
    assert len(point_key({})) == 16


def test_in_process_streams_records(tmp_path):
    points = make_points(tmp_path, 5)
    out = tmp_path / "deep" / "dir" / "s.jsonl"
    res = run_sweep(record, points, out, workers=1, progress=False)
    assert res == expected(points)
    recs = lines(out)
    assert [r["point"] for r in recs] == points  # in-process: in order
    assert [r["key"] for r in recs] == [point_key(p) for p in points]
    assert all(r["wall_s"] >= 0 for r in recs)
    # a rerun computes nothing and returns the same
    assert run_sweep(record, points, out, workers=1, progress=False) == res
    assert calls(tmp_path) == Counter(range(5))


def test_local_pool_matches_in_process(tmp_path):
    points = make_points(tmp_path, 8)
    a = run_sweep(record, points, tmp_path / "a.jsonl", workers=1, progress=False)
    b = run_sweep(record, points, tmp_path / "b.jsonl", workers=2, progress=False)
    assert a == b == expected(points)
    assert sorted(r["key"] for r in lines(tmp_path / "b.jsonl")) == sorted(
        point_key(p) for p in points)
    assert not multiprocessing.active_children()


def test_duplicate_points_computed_once(tmp_path):
    points = make_points(tmp_path, 3)
    res = run_sweep(record, points + points[:2], tmp_path / "s.jsonl", workers=1,
                    progress=False)
    assert res == expected(points + points[:2])
    assert calls(tmp_path) == Counter(range(3))


def test_in_process_failure_keeps_finished_and_resumes(tmp_path):
    points = make_points(tmp_path, 8, fail_at=[5])
    out = tmp_path / "s.jsonl"
    (tmp_path / "trap").touch()
    with pytest.raises(SweepError, match=r'"x":5.*ValueError: trapped at x=5') as info:
        run_sweep(record, points, out, workers=1, progress=False)
    assert info.value.point == points[5]
    assert isinstance(info.value.__cause__, ValueError)
    assert [r["point"]["x"] for r in lines(out)] == [0, 1, 2, 3, 4]

    (tmp_path / "trap").unlink()
    assert run_sweep(record, points, out, workers=1, progress=False) == expected(points)
    c = calls(tmp_path)
    assert all(c[x] == 1 for x in (0, 1, 2, 3, 4, 6, 7)) and c[5] == 2
    assert len(lines(out)) == 8


def test_local_pool_failure_keeps_finished_and_resumes(tmp_path):
    points = make_points(tmp_path, 10, fail_at=[3])
    out = tmp_path / "s.jsonl"
    (tmp_path / "trap").touch()
    with pytest.raises(SweepError, match=r'"x":3') as info:
        run_sweep(record, points, out, workers=2, progress=False)
    assert info.value.point == points[3]
    assert not multiprocessing.active_children()
    saved = {r["point"]["x"] for r in lines(out)}
    assert 3 not in saved

    (tmp_path / "trap").unlink()
    assert run_sweep(record, points, out, workers=2, progress=False) == expected(points)
    c = calls(tmp_path)
    assert all(c[x] == 1 for x in saved), (saved, c)  # finished points not recomputed
    assert sorted(r["point"]["x"] for r in lines(out)) == list(range(10))


def test_truncated_last_line_is_dropped_and_recomputed(tmp_path):
    points = make_points(tmp_path, 6)
    out = tmp_path / "s.jsonl"
    run_sweep(record, points, out, workers=1, progress=False)
    data = out.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    out.write_bytes(data[: last_start + 20])  # the last write was cut mid-line
    with pytest.warns(RuntimeWarning, match="corrupt"):
        res = run_sweep(record, points, out, workers=2, progress=False)
    assert res == expected(points)
    assert calls(tmp_path) == Counter({0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 2})
    recs = lines(out)  # every line parses: the torn tail was cut before appending
    assert sorted(r["point"]["x"] for r in recs) == list(range(6))


def test_ctrl_c_stops_workers_and_keeps_finished(tmp_path):
    points = make_points(tmp_path, 6, hang_at=[2, 3, 4, 5])
    out = tmp_path / "s.jsonl"
    (tmp_path / "trap").touch()

    def interrupt_after_first_line():
        while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_after_first_line, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(record, points, out, workers=2, progress=False)
    assert not multiprocessing.active_children()  # hanging points were not waited for
    saved = {r["point"]["x"] for r in lines(out)}
    assert saved and saved <= {0, 1}

    (tmp_path / "trap").unlink()
    assert run_sweep(record, points, out, workers=2, progress=False) == expected(points)
    assert all(calls(tmp_path)[x] == 1 for x in saved)


@pytest.mark.parametrize(
    "scheduler", ["slurm", "tcp://", "tcp://host", "tcp://host:0", "http://h:8786", "", "LOCAL"]
)
def test_bad_scheduler(tmp_path, scheduler):
    out = tmp_path / "sub" / "s.jsonl"
    with pytest.raises(ValueError, match=r"field 'scheduler'.*'local' or 'tcp://HOST:PORT'"):
        run_sweep(record, make_points(tmp_path, 2), out, scheduler=scheduler, progress=False)
    assert not out.parent.exists()


def test_bad_inputs(tmp_path):
    out = tmp_path / "s.jsonl"
    with pytest.raises(ValueError, match="field 'workers'"):
        run_sweep(record, [{"x": 1}], out, workers=0, progress=False)
    with pytest.raises(TypeError, match=r"points\[1\]: not JSON"):
        run_sweep(record, [{"x": 1}, {"x": object()}], out, progress=False)
    with pytest.raises(TypeError, match="module-level function"):
        run_sweep(lambda p: p, [{"x": 1}, {"x": 2}], out, workers=2, progress=False)
    with pytest.raises(SweepError, match="returned list, not a dict"):
        run_sweep(sweep_funcs.not_a_dict, [{"x": 1}], out, workers=1, progress=False)
    assert load_results(out) == {}


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


def test_dask_matches_local_and_resumes(tmp_path, dask_cluster):
    address = dask_cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    points = make_points(tmp_path, 8, fail_at=[6])
    out = tmp_path / "s.jsonl"
    (tmp_path / "trap").touch()
    with pytest.raises(SweepError, match=r'"x":6.*trapped') as info:
        run_sweep(record, points, out, scheduler=address, progress=False)
    assert info.value.point == points[6]
    saved = {r["point"]["x"] for r in lines(out)}
    assert 6 not in saved

    (tmp_path / "trap").unlink()
    res = run_sweep(record, points, out, scheduler=address, progress=False)
    assert res == expected(points)
    assert res == run_sweep(record, points, tmp_path / "local.jsonl", workers=2, progress=False)
    c = calls(tmp_path)
    assert all(c[x] == 2 for x in saved)  # once on the cluster, once for local.jsonl
    assert sorted(r["point"]["x"] for r in lines(out)) == list(range(8))
