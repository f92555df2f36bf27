"""One column schema (lab/runs/schema.py): the run file, the live batches, the window's
history (live and replay) and the CSV export give the same columns for one run."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from gui.export import CSV_COLUMNS, csv_header, export_csv
from gui.model import History
from gui.sources import ReplaySource
from lab.acquire.live import Batch, Batcher
from lab.acquire.records import RunInfo, RunSummary, StepRecord
from lab.core.network import Network
from lab.runs import RunReader, RunWriter
from lab.runs.schema import LIVE_COLUMNS, STEP_COLUMNS, StepSchema, columns

N_IN, N_OUT, N_STEPS = 2, 3, 300


def _info(network: Network, has_updates: bool, estimated: bool = False) -> RunInfo:
    return RunInfo(task={"name": "synthetic"}, settings={"steps": N_STEPS}, bench={},
                   network=network.to_dict(), n_inputs=N_IN, n_outputs=N_OUT,
                   n_edges=network.n_edges, n_test=0, positions_estimated=estimated,
                   has_updates=has_updates, start_time="2026-01-01T00:00:00",
                   twinlab_version="0", codes="estimated" if estimated else "exact",
                   has_uncertainty=estimated)


def _records(n_edges: int, has_updates: bool, estimated: bool = False) -> list[StepRecord]:
    """Random steps whose fields are not yet of the schema's dtypes (casts are tested)."""
    rng = np.random.default_rng(3)
    return [StepRecord(
        step=i, time=0.01 * i, example=i % 5, inputs=rng.normal(size=N_IN),
        v_free=rng.normal(size=N_OUT), v_clamped=rng.normal(size=N_OUT),
        v_desired=rng.normal(size=N_OUT), error=float(rng.random()),
        positions=rng.integers(0, 128, n_edges),  # int64
        update_mask=rng.integers(0, 2, n_edges) if has_updates else None,  # ints
        direction=rng.integers(-1, 2, n_edges) if has_updates else None,
        positions_sd=rng.random(n_edges) if estimated else None)  # float64
        for i in range(N_STEPS)]


@pytest.mark.parametrize(("has_updates", "estimated"),
                         [(True, False), (False, False), (True, True)],
                         ids=["updates", "no-updates", "estimated"])
def test_file_live_batches_and_histories_agree(tmp_path: Path, has_updates: bool,
                                               estimated: bool) -> None:
    network = Network.twin16()
    info = _info(network, has_updates, estimated)
    schema = StepSchema.of(info)
    assert ("positions_sd" in schema.names) is estimated
    records = _records(network.n_edges, has_updates, estimated)
    path = tmp_path / "run.h5"
    writer = RunWriter(path, chunk_rows=64, flush_interval=1e9)
    sent: list[object] = []
    batcher = Batcher(sent.append, interval=1e9)
    for observer in (writer, batcher):
        observer.start(info)
    for k, record in enumerate(records):
        writer.step(record)
        batcher.step(record)
        if k % 97 == 96:
            batcher.flush()  # several batches, of uneven sizes
    summary = RunSummary(N_STEPS, True, 1.0, 0.5, 0.5, "2026-01-01T00:01:00")
    for observer in (writer, batcher):
        observer.stop(summary)

    batches = [m.steps for m in sent if isinstance(m, Batch) and m.steps is not None]
    assert len(batches) == 4
    live = {n: np.concatenate([b[n] for b in batches]) for n in batches[0]}
    reference = columns(records, schema)
    live_names = [c.name for c in schema.live]
    assert list(live) == live_names
    assert ("update_mask" in live) is has_updates
    assert ("positions_sd" in live) is estimated

    history = History(network.n_edges, N_OUT, N_IN)
    for b in batches:
        history.extend(b)
    snap = history.snapshot()
    replay = ReplaySource(path)
    try:
        replayed = replay.history.snapshot()
        with RunReader(path) as reader, h5py.File(path, "r", locking=False) as f:
            assert list(schema.names) == [n for n in STEP_COLUMNS if n in f["entry/steps"]]
            for c in schema.specs():
                ds = f["entry/steps"][c.name]
                assert ds.dtype == c.dtype and ds.shape == (N_STEPS, *c.shape), c.name
                assert ds.attrs.get("units") == c.units, c.name
                file_rows = reader.steps[c.name][:]
                np.testing.assert_array_equal(file_rows, reference[c.name], err_msg=c.name)
                if c.name not in live_names:
                    continue
                for got in (live[c.name], getattr(snap, c.name), getattr(replayed, c.name)):
                    assert got.dtype == c.dtype and got.shape == file_rows.shape, c.name
                    np.testing.assert_array_equal(got, file_rows, err_msg=c.name)
        if not has_updates:  # the history keeps a zero mask when the bench has none
            assert not snap.update_mask.any() and not replayed.update_mask.any()
        if not estimated:  # and no uncertainty column when the codes are not estimated
            assert snap.positions_sd is None and replayed.positions_sd is None
        assert replay.codes == ("estimated" if estimated else "exact")

        csv = tmp_path / "run.csv"
        edges, outputs = network.edge_labels(), ["a", "b", "c"]
        assert export_csv(csv, replay, (0, N_STEPS), edges, outputs) == N_STEPS
        table = np.loadtxt(csv, delimiter=",", skiprows=1)
        header = csv.read_text().splitlines()[0].split(",")
        assert header == csv_header(edges, outputs, uncertainty=estimated)
        assert len(header) == sum(int(np.prod(c.shape)) for c in schema.specs(CSV_COLUMNS))
        for c in schema.specs(CSV_COLUMNS):
            want = reference[c.name].reshape(N_STEPS, -1)
            if c.axis == "n_outputs":
                got = table[:, [header.index(f"{c.name}_{o}") for o in outputs]]
            elif c.axis == "n_edges":
                label = "code_sd" if c.name == "positions_sd" else "code"
                got = table[:, [header.index(f"{label}_{e}") for e in edges]]
            else:
                got = table[:, [header.index(c.name)]]
            rtol = 1e-6 if c.dtype == np.float32 else 1e-8
            np.testing.assert_allclose(got, want, rtol=rtol, err_msg=c.name)
    finally:
        replay.close()


def test_schema_sizes_come_from_run_info() -> None:
    network = Network.twin16()
    schema = StepSchema.of(_info(network, has_updates=False))
    assert "update_mask" not in schema.names and "direction" not in schema.names
    assert schema.spec("inputs").shape == (N_IN,) and schema.spec("v_free").shape == (N_OUT,)
    assert schema.spec("positions").shape == (network.n_edges,)
    assert schema.names[-1] == "step"  # written last: a live reader's row count
    with pytest.raises(ValueError, match=r"StepRecord\.v_free has shape"):
        bad = _records(network.n_edges, False)[0]
        bad.v_free = np.zeros(N_OUT + 1)
        columns([bad], schema)
    assert set(LIVE_COLUMNS) <= set(STEP_COLUMNS)
