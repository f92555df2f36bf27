"""`RunWriter.shared_columns`: the step columns built once for the run file and for a
second observer (the live `Batcher`), without changing the file, its blocks or its bounds."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import pytest

from lab.acquire.records import RunSummary, StepRecord
from lab.runs import RunFileError, RunWriter
from lab.runs.schema import StepSchema, columns

CHILD = Path(__file__).with_name("_run_writer_child.py")
_spec = importlib.util.spec_from_file_location("_run_writer_child", CHILD)
assert _spec is not None and _spec.loader is not None
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)
make_info, make_record, make_test = child.make_info, child.make_record, child.make_test

END = RunSummary(steps=0, complete=True, initial_error=1.0, final_error=0.25,
                 scaled_error=0.25, end_time="2026-01-01T01:00:00")


def _run(path: Path, n: int, ask: bool, chunk_rows: int = 16, seed: int = 0,
         has_updates: bool = True) -> tuple[int, int]:
    """Write ``n`` deterministic steps; ``ask``: a consumer after the writer asks for
    its rows' columns at random steps (as the Batcher does) and checks each answer
    against `columns`. Returns (answers, Nones)."""
    rng = random.Random(seed)
    w = RunWriter(path, chunk_rows=chunk_rows, flush_interval=1e9)
    info = make_info(has_updates)
    schema = StepSchema.of(info)
    w.start(info)
    mine: list[StepRecord] = []
    answers = nones = 0
    for i in range(n):
        record = make_record(i, has_updates)
        w.step(record)
        if i % 7 == 3:
            w.test(make_test(i))
        mine.append(record)
        if ask and rng.random() < 0.15:
            got = w.shared_columns(mine)
            if got is None:
                nones += 1
            else:
                answers += 1
                want = columns(mine, schema)
                assert list(got) == list(want)
                for name, a in want.items():
                    assert got[name].dtype == a.dtype, name
                    np.testing.assert_array_equal(got[name], a, err_msg=name)
            mine = []
    w.stop(END)
    return answers, nones


@pytest.mark.parametrize("has_updates", [True, False])
def test_asking_for_columns_leaves_the_run_file_byte_for_byte_the_same(
        tmp_path: Path, has_updates: bool) -> None:
    """A writer whose columns are shared writes exactly the file of one that is not asked
    (same blocks, same flushes); its answers are `columns` of the rows asked for, and
    None only when it no longer holds them all (the rows began two blocks back)."""
    plain, shared = tmp_path / "plain.h5", tmp_path / "shared.h5"
    _run(plain, 300, ask=False, has_updates=has_updates)
    answers, nones = _run(shared, 300, ask=True, has_updates=has_updates)
    assert answers > 10 and nones > 0  # both cases were met (small blocks: 16 rows)
    assert plain.read_bytes() == shared.read_bytes()


def test_a_block_is_written_when_full_whether_or_not_built(tmp_path: Path) -> None:
    """Rows built for a consumer still count for the block: the write happens at
    ``chunk_rows`` rows as before, and ``buffered_steps`` counts them."""
    w = RunWriter(tmp_path / "run.h5", chunk_rows=8, flush_interval=1e9)
    w.start(make_info())
    rows = [make_record(i) for i in range(7)]
    for r in rows:
        w.step(r)
    assert w.shared_columns(rows) is not None
    assert (w.buffered_steps, w.flushed_steps) == (7, 0)
    w.step(make_record(7))
    assert (w.buffered_steps, w.flushed_steps) == (0, 8)
    w.stop(END)


def test_shared_columns_are_read_only_and_none_for_rows_not_the_writers(
        tmp_path: Path) -> None:
    """What a consumer gets cannot change what the file will hold; rows the writer did
    not get last, or that begin inside what it built, or any after stop, give None."""
    w = RunWriter(tmp_path / "run.h5", chunk_rows=64, flush_interval=1e9)
    w.start(make_info())
    rows = [make_record(i) for i in range(10)]
    for r in rows:
        w.step(r)
    assert w.shared_columns(rows[:5]) is None  # not the last rows the writer got
    assert w.shared_columns([make_record(i) for i in range(10)]) is None  # equal, not its
    assert w.shared_columns([]) is None
    got = w.shared_columns(rows)
    assert got is not None
    with pytest.raises(ValueError, match="read-only"):
        got["positions"][0, 0] = 99
    more = [make_record(i) for i in range(10, 14)]
    for r in more:
        w.step(r)
    assert w.shared_columns(rows[5:] + more) is None  # begins inside the built piece
    w.stop(END)
    assert w.shared_columns(more) is None
    from lab.runs import RunReader

    with RunReader(tmp_path / "run.h5") as reader:
        assert reader.n_steps == 14
        assert reader.array("positions", 0, 1)[0, 0] == rows[0].positions[0]


def test_a_bad_record_raises_for_the_asker_and_again_for_the_writer(tmp_path: Path) -> None:
    """A record that does not fit the schema: the consumer's call raises ValueError and
    the writer keeps its rows, so its own write raises as it always did."""
    w = RunWriter(tmp_path / "run.h5", chunk_rows=64, flush_interval=1e9)
    w.start(make_info())
    good = make_record(0)
    bad = make_record(1)
    bad.positions = np.zeros(3, np.int16)
    w.step(good)
    w.step(bad)
    with pytest.raises(ValueError):
        w.shared_columns([good, bad])
    assert w.buffered_steps == 2
    with pytest.raises(ValueError):
        w.flush()
    with pytest.raises(RunFileError, match="rows lost"):
        w.stop(END)
