"""Tests of lab/runs: HDF5 run files (writer, reader, SWMR following, crash safety)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from lab.acquire.records import RunSummary, StepRecord
from lab.runs import SCHEMA_VERSION, RunFileError, RunReader, RunWriter

REPO = Path(__file__).resolve().parents[3]
CHILD = Path(__file__).with_name("_run_writer_child.py")

_spec = importlib.util.spec_from_file_location("_run_writer_child", CHILD)
assert _spec is not None and _spec.loader is not None
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)
make_info, make_record, make_test = child.make_info, child.make_record, child.make_test

STEP_FIELDS = ("step", "time", "example", "inputs", "v_free", "v_clamped", "v_desired",
               "error", "positions", "update_mask", "direction")


def summary(n: int, complete: bool = True, **kw: object) -> RunSummary:
    return RunSummary(steps=n, complete=complete, initial_error=1.0, final_error=0.25,
                      scaled_error=0.25, end_time="2026-01-01T01:00:00", **kw)


def write_run(path: Path, n: int, *, has_updates: bool = True, chunk_rows: int = 64,
              flush_every: int | None = None, n_tests: int = 0, stop: bool = True,
              complete: bool = True) -> RunWriter:
    """Write ``n`` deterministic steps (and ``n_tests`` test rows) to ``path``."""
    w = RunWriter(path, chunk_rows=chunk_rows, flush_interval=1e9)
    w.start(make_info(has_updates))
    for i in range(n):
        w.step(make_record(i, has_updates))
        if flush_every and i % flush_every == flush_every - 1:
            w.flush()
    for k in range(n_tests):
        w.test(make_test(k))
    if stop:
        w.stop(summary(n, complete))
    return w


def expected(name: str, n: int, has_updates: bool = True) -> np.ndarray:
    """Rows 0..n-1 of field ``name`` as written by :func:`make_record`, shape (n, ...)."""
    proto = np.asarray(getattr(make_record(0, has_updates), name))
    rows = [getattr(make_record(i, has_updates), name) for i in range(n)]
    return np.array(rows).reshape(n, *proto.shape)


def assert_rows_correct(reader: RunReader, n: int, has_updates: bool = True) -> None:
    for name in STEP_FIELDS:
        if name in ("update_mask", "direction") and not has_updates:
            assert name not in reader.steps
            continue
        got = reader.array(name, 0, n)
        np.testing.assert_array_equal(got, expected(name, n, has_updates), err_msg=name)


# -- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("has_updates", [True, False])
@pytest.mark.parametrize(("n", "flush_every"), [(64 * 3 + 17, None), (64 * 2 + 5, 23),
                                                 (64, None), (1, None), (0, None)])
def test_round_trip_every_field(tmp_path: Path, has_updates: bool, n: int,
                                flush_every: int | None) -> None:
    path = tmp_path / "run.h5"
    write_run(path, n, has_updates=has_updates, flush_every=flush_every, n_tests=5)
    with RunReader(path) as r:
        assert r.n_steps == n
        assert r.complete
        assert_rows_correct(r, n, has_updates)
        ds = r.steps["positions"].dataset
        assert ds.dtype == np.int16 and ds.chunks == (64, child.N_EDGES)
        assert ds.maxshape == (None, child.N_EDGES)
        assert r.steps["step"].dtype == np.int64
        assert r.steps["example"].dtype == np.int32
        if has_updates:
            assert r.steps["update_mask"].dtype == np.bool_
            assert r.steps["direction"].dtype == np.int8
        # test rows
        assert r.n_tests == 5
        tests = [make_test(k) for k in range(5)]
        for name in ("step", "time", "error", "accuracy", "v_free"):
            np.testing.assert_array_equal(r.test_array(name),
                                          np.array([getattr(t, name) for t in tests]))
        assert r.test_array("v_free").shape == (5, child.N_TEST, child.N_OUTPUTS)
        # replay
        replayed = list(r.replay(chunk=50))
        assert len(replayed) == n
        for i, rec in enumerate(replayed):
            ref = make_record(i, has_updates)
            assert isinstance(rec, StepRecord)
            assert (rec.step, rec.time, rec.example, rec.error) == (
                ref.step, ref.time, ref.example, ref.error)
            assert isinstance(rec.step, int) and isinstance(rec.error, float)
            for name in ("inputs", "v_free", "v_clamped", "v_desired", "positions"):
                np.testing.assert_array_equal(getattr(rec, name), getattr(ref, name))
            if has_updates:
                np.testing.assert_array_equal(rec.update_mask, ref.update_mask)
                np.testing.assert_array_equal(rec.direction, ref.direction)
            else:
                assert rec.update_mask is None and rec.direction is None


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_round_trip_compressed(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "run.h5"
    w = RunWriter(path, chunk_rows=64, flush_interval=1e9, compression=compression)
    w.start(make_info())
    for i in range(150):
        w.step(make_record(i))
        if i % 40 == 0:
            w.flush()  # partial chunks rewritten by later flushes
    w.stop(summary(150))
    with RunReader(path) as r:
        assert r.steps["positions"].dataset.compression == compression
        assert_rows_correct(r, 150)


def test_lazy_columns_and_slices(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    n = 300
    write_run(path, n)
    err = expected("error", n)
    with RunReader(path) as r:
        col = r.dataset("error")
        assert isinstance(col.dataset, h5py.Dataset)
        assert len(col) == n and col.shape == (n,)
        np.testing.assert_array_equal(col[-10:], err[-10:])
        assert col[5] == err[5] and col[-1] == err[-1]
        np.testing.assert_array_equal(col[10:20:3], err[10:20:3])
        np.testing.assert_array_equal(np.asarray(col), err)
        np.testing.assert_array_equal(r.steps["positions"][100:103, 2],
                                      expected("positions", n)[100:103, 2])
        np.testing.assert_array_equal(r.array("error", 250), err[250:])
        np.testing.assert_array_equal(r.array("step", 0, 5), np.arange(5))
        with pytest.raises(IndexError):
            col[n]
        with pytest.raises(KeyError, match="nope"):
            r.dataset("nope")
        assert [rec.step for rec in r.replay(start=295)] == list(range(295, 300))


def test_rows_are_min_length_over_datasets(tmp_path: Path) -> None:
    """A crash between two dataset extensions leaves unequal lengths: use the minimum."""
    path = tmp_path / "run.h5"
    write_run(path, 100)
    with h5py.File(path, "r+") as f:
        f["entry/steps/error"].resize(130, axis=0)
        f["entry/steps/positions"].resize(120, axis=0)
    with RunReader(path) as r:
        assert r.n_steps == 100
        assert len(r.steps["error"]) == 100
        assert r.steps["error"][-1] == expected("error", 100)[-1]
        assert len(list(r.replay())) == 100


# -- layout and metadata ---------------------------------------------------------------------


def test_nexus_layout(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_run(path, 10, n_tests=2)
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == "entry"
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry.attrs["default"] == "steps"
        for name in ("steps", "test"):
            g = entry[name]
            assert g.attrs["NX_class"] == "NXdata"
            assert g.attrs["signal"] == "error"
            assert list(g.attrs["axes"]) == ["step"]
            assert g["error"].attrs["units"] == "V^2"
            assert g["time"].attrs["units"] == "s"
            assert g["v_free"].attrs["units"] == "V"
        steps = entry["steps"]
        for name in ("inputs", "v_clamped", "v_desired"):
            assert steps[name].attrs["units"] == "V"
        assert steps["positions"].attrs["estimated"] == np.False_
        for ds in steps.values():
            assert ds.maxshape[0] is None and ds.chunks[0] == 64


def test_root_attributes_and_info(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    info = make_info()
    write_run(path, 30, n_tests=1)
    with RunReader(path) as r:
        a = r.info
        assert a["twinlab_schema"] == SCHEMA_VERSION
        assert a["twinlab_version"] == info.twinlab_version
        assert a["start_time"] == info.start_time
        assert a["end_time"] == "2026-01-01T01:00:00"
        assert a["task"] == "synthetic"
        assert a["complete"] is True
        assert a["positions_estimated"] is False
        assert a["settings_json"] == json.loads(json.dumps(info.settings, default=float))
        assert a["bench_json"] == info.bench
        assert a["task_json"] == info.task
        assert a["network_json"] == info.network
        assert r.settings["nested"] == {"a": 1}
        # scalar settings as root attrs; steps = rows written after stop
        assert (a["p"], a["eta"], a["seed"], a["mode"], a["gain"]) == (0.25, 0.5, 7, "emulator",
                                                                       1.5)
        assert "nested" not in a
        assert a["steps"] == 30
        assert (a["initial_error"], a["final_error"], a["scaled_error"]) == (1.0, 0.25, 0.25)
        assert a["message"] == ""
        assert math.isnan(a["final_test_error"]) and math.isnan(a["final_accuracy"])
        s = r.summary()
        for key in ("steps", "task", "p", "eta", "complete", "initial_error", "final_error",
                    "scaled_error", "file", "start_time", "end_time", "seed"):
            assert key in s
        assert s["steps"] == 30 and s["steps_requested"] == 1000
        assert (s["p"], s["eta"], s["seed"]) == (0.25, 0.5, 7)
        assert s["file"] == str(path) and s["complete"] is True
        assert s["final_error"] == 0.25


def test_summary_computed_from_data_when_not_stopped(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    w = write_run(path, 130, stop=False, n_tests=2)
    w.flush()
    with RunReader(path, swmr=True) as r:
        s = r.summary()
        err = expected("error", 130)
        assert s["steps"] == 130 and s["complete"] is False and s["end_time"] is None
        assert s["initial_error"] == err[0]
        assert s["final_error"] == pytest.approx(err[-50:].mean())
        assert s["scaled_error"] == pytest.approx(err[-50:].mean() / err[0])
        assert s["final_test_error"] == make_test(1).error
    w.stop(summary(130))


# -- stop semantics -----------------------------------------------------------------------------


def test_incomplete_run_and_double_stop(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    w = write_run(path, 70, complete=False)
    w.stop(summary(70))  # second call: no-op, must not flip `complete`
    with RunReader(path) as r:
        assert r.complete is False
        assert r.info["steps"] == 70
        assert r.n_steps == 70


def test_stop_after_exception_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    w = RunWriter(path, chunk_rows=64, flush_interval=1e9)
    w.start(make_info())
    with pytest.raises(ValueError, match="positions"):
        for i in range(100):
            rec = make_record(i)
            if i == 64:  # first row of the second block is validated
                rec = StepRecord(**{**{f: getattr(rec, f) for f in STEP_FIELDS},
                                    "positions": np.zeros(3, np.int16)})
            w.step(rec)
    w.stop(summary(64, complete=False, message="ValueError"))
    w.stop(summary(64, complete=True))
    with RunReader(path) as r:
        assert r.n_steps == 64 and not r.complete
        assert r.info["message"] == "ValueError"
        assert_rows_correct(r, 64)


def test_discard_empty_removes_only_a_run_that_recorded_nothing(tmp_path: Path) -> None:
    """``discard_empty`` (``twinlab train``): a run stopped before its first step (a failed
    power-up check) leaves no file to block the next attempt; a run with any step or test
    row, or a complete one, keeps its file; the default keeps every file."""
    def run(name: str, steps: int, tests: int = 0, complete: bool = False,
            discard: bool = True) -> RunWriter:
        w = RunWriter(tmp_path / name, flush_interval=1e9, discard_empty=discard)
        w.start(make_info())
        for i in range(steps):
            w.step(make_record(i))
        for k in range(tests):
            w.test(make_test(k))
        w.stop(summary(steps, complete, message="" if complete else "BenchError: not at "
                       "its power-up codes"))
        return w

    empty = run("empty.h5", 0)
    assert empty.discarded and not empty.path.exists()
    for w in (run("one.h5", 1), run("tested.h5", 0, tests=1),
              run("complete.h5", 0, complete=True), run("kept.h5", 0, discard=False)):
        assert not w.discarded and w.path.exists(), w.path
        with RunReader(w.path) as r:
            assert r.info["steps"] == len(r.steps["step"])
    with RunReader(tmp_path / "one.h5") as r:
        assert r.n_steps == 1 and not r.complete and "power-up" in r.info["message"]


def test_discard_empty_keeps_a_run_whose_first_block_found_no_room(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """Steps ran but the disk was full at the first flush (nothing written, the storage
    error kept): the file is the run's record of why, not an empty one to remove."""
    import lab.runs.writer as writer_module
    from lab.runs import RunStorageError

    w = RunWriter(tmp_path / "full.h5", flush_interval=0.0, discard_empty=True)
    w.start(make_info())
    monkeypatch.setattr(writer_module, "room_left", lambda path: (0, "the test's full disk"))
    with pytest.raises(RunStorageError, match="no room for the next block"):
        for i in range(5):
            w.step(make_record(i))
    w.stop(summary(1, False, message="RunStorageError: no room"))
    assert not w.discarded and w.path.exists()
    with RunReader(w.path) as r:
        assert r.n_steps == 0 and "no room for the next block" in r.info["message"]


def test_stop_before_start_is_noop(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "never.h5")
    w.stop(summary(0))
    assert not (tmp_path / "never.h5").exists()


def test_flush_interval(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "a.h5", chunk_rows=64, flush_interval=1e9)
    w.start(make_info())
    for i in range(63):
        w.step(make_record(i))
    assert w.flushed_steps == 0 and w.buffered_steps == 63
    w.step(make_record(63))
    assert w.flushed_steps == 64 and w.buffered_steps == 0
    w.stop(summary(64))

    w = RunWriter(tmp_path / "b.h5", chunk_rows=64, flush_interval=0.0)
    w.start(make_info())
    for i in range(5):
        w.step(make_record(i))
        assert w.flushed_steps == i + 1
    w.stop(summary(5))


# -- errors ---------------------------------------------------------------------------------------


def _one_line_naming(exc: pytest.ExceptionInfo[RunFileError], path: Path) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg


def test_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = blocker / "sub" / "run.h5"  # parent "directory" is a regular file
    with pytest.raises(RunFileError) as exc:
        RunWriter(path).start(make_info())
    _one_line_naming(exc, path)
    assert f"{blocker} is a file, not a directory" in str(exc.value)
    assert "exists" not in str(exc.value)  # not "run file already exists"
    assert blocker.read_text() == "x"


def test_a_directory_is_not_an_existing_run_file(tmp_path: Path) -> None:
    with pytest.raises(RunFileError) as exc:
        RunWriter(tmp_path).start(make_info())
    _one_line_naming(exc, tmp_path)
    assert "is a directory" in str(exc.value) and "exists" not in str(exc.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(RunFileError, match="Permission denied") as exc:
            RunWriter(ro / "run.h5").start(make_info())
        _one_line_naming(exc, ro / "run.h5")
    finally:
        ro.chmod(0o700)


def test_parent_directories_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "run.h5"
    write_run(path, 3)
    with RunReader(path) as r:
        assert r.n_steps == 3


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    path.write_bytes(b"precious")
    with pytest.raises(RunFileError, match="exists") as exc:
        RunWriter(path).start(make_info())
    _one_line_naming(exc, path)
    assert path.read_bytes() == b"precious"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.h5"
    with pytest.raises(RunFileError) as exc:
        RunReader(path)
    _one_line_naming(exc, path)


def test_not_hdf5(tmp_path: Path) -> None:
    path = tmp_path / "junk.h5"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(RunFileError) as exc:
        RunReader(path)
    _one_line_naming(exc, path)


def test_truncated_run_file(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_run(path, 200)
    data = path.read_bytes()
    path.write_bytes(data[:800])
    with pytest.raises(RunFileError) as exc:
        with RunReader(path) as r:
            r.array("error")
    _one_line_naming(exc, path)


def test_hdf5_but_not_a_run(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(RunFileError, match="not a twinlab run") as exc:
        RunReader(path)
    _one_line_naming(exc, path)


def test_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    write_run(path, 3)
    with h5py.File(path, "r+") as f:
        f.attrs["twinlab_schema"] = SCHEMA_VERSION + 1
    with pytest.raises(RunFileError, match="newer") as exc:
        RunReader(path)
    _one_line_naming(exc, path)


def test_step_shape_checked(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "run.h5")
    w.start(make_info(has_updates=True))
    rec = make_record(0)
    bad = StepRecord(**{**{f: getattr(rec, f) for f in STEP_FIELDS}, "update_mask": None})
    with pytest.raises(ValueError, match="update_mask"):
        w.step(bad)
    w.stop(summary(0, complete=False))


def test_step_is_cheap(tmp_path: Path) -> None:
    """Guard against per-step HDF5 calls (~100 µs each); the target is ~2-3 µs."""
    w = RunWriter(tmp_path / "run.h5")
    w.start(make_info())
    recs = [make_record(i) for i in range(64)]
    n = 40_000
    t0 = time.perf_counter()
    for i in range(n):
        w.step(recs[i & 63])
    per_step = (time.perf_counter() - t0) / n
    w.stop(summary(n))
    assert per_step < 25e-6, f"{per_step * 1e6:.1f} us per step"
    with RunReader(tmp_path / "run.h5") as r:
        assert r.n_steps == n


# -- live following and crash safety (writer in a subprocess) -----------------------------------


class Child:
    """The writer subprocess; ``wait_for(n)`` blocks until it reports >= n flushed steps."""

    def __init__(self, path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, str(CHILD), str(path)], env=env,
                                     stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.flushed = 0
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def wait_for(self, n: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.flushed < n:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"writer child reported only {self.flushed} steps") from None
            if line.isdigit():
                self.flushed = int(line)
        return self.flushed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def test_swmr_follower_sees_growing_run(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    writer = Child(path)
    try:
        writer.wait_for(128)
        with RunReader(path, swmr=True) as r:
            n0 = r.n_steps
            assert n0 >= 128
            assert not r.complete
            reported = writer.wait_for(n0 + 256)
            n1 = r.refresh()
            assert n1 >= reported > n0
            assert r.n_tests > 0
            assert_rows_correct(r, n1)
            assert [rec.step for rec in r.replay(start=n1 - 3)] == [n1 - 3, n1 - 2, n1 - 1]
    finally:
        writer.kill()


def test_sigkill_keeps_flushed_steps(tmp_path: Path) -> None:
    path = tmp_path / "killed.h5"
    writer = Child(path)
    try:
        last = writer.wait_for(1000)
    finally:
        writer.kill()
    assert writer.proc.returncode == -signal.SIGKILL
    with RunReader(path) as r:
        assert r.complete is False
        assert r.n_steps >= last
        assert_rows_correct(r, r.n_steps)
        s = r.summary()
        assert s["complete"] is False and s["end_time"] is None
        assert s["steps"] == r.n_steps
        assert s["initial_error"] == 1.0
        err = expected("error", r.n_steps)
        assert s["final_error"] == pytest.approx(err[-50:].mean())
        tests = r.test_array("step")
        np.testing.assert_array_equal(tests, 10 * np.arange(len(tests)))


# -- damaged files: one line from `twinlab info`, never a traceback --------------------------


def _scalar_error(f: h5py.File) -> None:
    del f["entry/steps/error"]
    f["entry/steps/error"] = 1.0


def _text_error(f: h5py.File) -> None:
    del f["entry/steps/error"]
    f["entry/steps/error"] = np.array([b"a", b"b"])


def _flat_test_v_free(f: h5py.File) -> None:
    del f["entry/test/v_free"]
    f["entry/test/v_free"] = np.zeros(3)


DAMAGE = {
    "error-scalar": (_scalar_error, "/entry/steps/error"),
    "error-text": (_text_error, "/entry/steps/error"),
    "test-v_free-1d": (_flat_test_v_free, "/entry/test/v_free"),
    "settings-list": (lambda f: f.attrs.__setitem__("settings_json", "[1, 2]"),
                      "settings_json"),
    "bench-number": (lambda f: f.attrs.__setitem__("bench_json", 3), "bench_json"),
    "complete-no": (lambda f: f.attrs.__setitem__("complete", "no"), "complete"),
    "schema-text": (lambda f: f.attrs.__setitem__("twinlab_schema", "2"), "twinlab_schema"),
    "message-array": (lambda f: f.attrs.__setitem__("message", np.arange(3)), "message"),
    "final-error-text": (lambda f: f.attrs.__setitem__("final_error", "small"),
                         "final_error"),
    "task-json-garbage": (lambda f: f.attrs.__setitem__("task_json", "{nope"), "task_json"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_run_file_is_one_line_in_info(tmp_path: Path, case: str) -> None:
    """Before: a scalar ``error`` dataset or a list ``settings_json`` gave a traceback, and
    ``complete = "no"`` was read as complete."""
    damage, needle = DAMAGE[case]
    path = tmp_path / "run.h5"
    write_run(path, 20, n_tests=2)
    with h5py.File(path, "r+") as f:
        damage(f)
    r = subprocess.run([sys.executable, "-m", "lab.cli", "info", str(path)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("twinlab: error:") and r.stderr.count("\n") == 1, r.stderr
    assert str(path) in r.stderr and needle in r.stderr
    assert r.stdout == ""


def test_schema_1_file_still_reads_its_task(tmp_path: Path) -> None:
    """Schema 1 kept the task's arrays in task_json; the reader still gives them."""
    path = tmp_path / "run.h5"
    write_run(path, 5)
    task = {"name": "old", "train_inputs": [[0.5, 1.0]] * 300}
    with h5py.File(path, "r+") as f:
        f.attrs["twinlab_schema"] = 1
        f.attrs["task_json"] = json.dumps(task)
        del f["entry/task"]
    with RunReader(path) as r:
        assert r.task == task and r.n_steps == 5


def test_big_task_arrays_are_datasets_not_json(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    info = make_info()
    big = np.arange(2000.0).reshape(1000, 2)
    w = RunWriter(path, chunk_rows=64)
    w.start(dataclasses.replace(info, task={**info.task, "train_inputs": big.tolist()}))
    w.stop(summary(0))
    with h5py.File(path, "r") as f:
        assert "train_inputs" not in json.loads(f.attrs["task_json"])
        ds = f["entry/task/train_inputs"]
        assert ds.compression == "gzip" and ds.shape == (1000, 2)
    with RunReader(path) as r:
        np.testing.assert_array_equal(r.task["train_inputs"], big)
        assert r.task["data"] == info.task["data"]  # small fields stay inline


def test_an_existing_run_file_is_refused_in_the_terminals_words(tmp_path: Path) -> None:
    """The writer (and so the window's Start) says what `twinlab train --out` says."""
    from lab.paths import RUN_FILE_NEVER

    path = tmp_path / "run.h5"
    path.write_bytes(b"keep me")
    with pytest.raises(RunFileError, match=f"exists; {RUN_FILE_NEVER}"):
        RunWriter(path).start(make_info())
    assert path.read_bytes() == b"keep me"


def test_a_long_run_message_is_cut_with_a_note() -> None:
    """The stored message is at most MESSAGE_MAX characters: a longer one (a safe-state
    report of many instruments) keeps its start, cut at a word, and says how much more
    there was and where it is."""
    from lab.runs.layout import MESSAGE_MAX
    from lab.runs.writer import bounded_message

    assert bounded_message("short") == "short"
    exact = "x" * MESSAGE_MAX
    assert bounded_message(exact) == exact
    long = "BenchError at step 7: DAQ closed; " + "safe state failed: channel 'n' lost; " * 200
    cut = bounded_message(long)
    assert len(cut) <= MESSAGE_MAX and cut.startswith("BenchError at step 7: DAQ closed; ")
    head, note = cut.split(" ... (")
    assert long.startswith(head) and long[len(head)] == " "  # cut at a word
    assert note == f"{len(long) - len(head)} more characters; all of it in the debug log, -vv)"
