"""Where a run's codes come from, in the file (schema 3): ``codes``/``codes_note``, the
``positions_sd`` column of estimated runs; schema-2 files stay readable and replayable."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from lab.acquire.records import RunSummary, StepRecord
from lab.core.network import Network
from lab.runs import SCHEMA_VERSION, RunReader, RunWriter
from lab.runs.layout import codes_of
from tests.lab.runs._run_writer_child import N_EDGES, make_info, make_record

N = 150


def _sd(i: int) -> np.ndarray:
    return (0.05 * (1 + (i + np.arange(N_EDGES)) % 7)).astype(np.float32)


def _write(path: Path, *, codes: str = "estimated", updates: bool = True,
           note: str = "", currents_note: str = "") -> None:
    info = dataclasses.replace(make_info(updates), positions_estimated=codes != "exact",
                               codes=codes, codes_note=note, currents_note=currents_note,
                               has_uncertainty=codes == "estimated",
                               network=Network.twin16().to_dict())
    w = RunWriter(path, chunk_rows=64)
    w.start(info)
    for i in range(N):
        r = make_record(i, updates)
        if codes == "estimated":
            r.positions_sd = _sd(i)
        elif codes == "unknown":
            r.positions = np.full(N_EDGES, -1, np.int16)
        w.step(r)
    w.stop(RunSummary(N, True, 1.0, 0.5, 0.5, "2026-01-01T00:01:00"))


def test_the_uncertainty_column_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "est.h5"
    _write(path)
    with RunReader(path) as run:
        assert run.info["twinlab_schema"] == SCHEMA_VERSION == 3
        assert run.codes == "estimated" and run.info["positions_estimated"] is True
        col = run.steps["positions_sd"]
        assert col.dtype == np.float32 and col.shape == (N, N_EDGES)
        assert col.attrs["units"] == "code steps"
        np.testing.assert_array_equal(col[:], np.stack([_sd(i) for i in range(N)]))
        replayed = list(run.replay())
        assert len(replayed) == N and isinstance(replayed[0], StepRecord)
        for i in (0, 77, N - 1):
            np.testing.assert_array_equal(replayed[i].positions_sd, _sd(i))


def test_codes_unknown_is_said_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "unknown.h5"
    note = "no resistance probe, and the estimator is off (estimate = off)"
    _write(path, codes="unknown", updates=False, note=note)
    with RunReader(path) as run, h5py.File(path, "r", locking=False) as f:
        assert run.codes == "unknown" and run.codes_note == note
        assert f["entry/steps/positions"].attrs["codes"] == "unknown"
        assert "positions_sd" not in run.steps
        assert all(r.positions_sd is None for r in run.replay(0, 3))


def test_the_summary_says_when_currents_were_not_checked(tmp_path: Path) -> None:
    """`twinlab info`'s summary carried codes_note but dropped currents_note."""
    path = tmp_path / "unknown.h5"
    note = "currents not checked: the digipot codes are unknown"
    _write(path, codes="unknown", updates=False, note="no probe", currents_note=note)
    with RunReader(path) as run:
        assert run.summary()["currents_note"] == note
    _write(tmp_path / "exact.h5", codes="exact")
    with RunReader(tmp_path / "exact.h5") as run:
        assert "currents_note" not in run.summary()


def _downgrade(path: Path) -> None:
    """Make ``path`` what schema 2 wrote: no codes attributes, schema 2."""
    with h5py.File(path, "r+", locking=False) as f:
        f.attrs["twinlab_schema"] = 2
        for key in ("codes", "codes_note"):
            del f.attrs[key]
        del f["entry/steps/positions"].attrs["codes"]


@pytest.mark.parametrize(("codes", "updates"),
                         [("exact", True), ("unknown", False)])
def test_a_schema_2_file_is_read_and_replayed(tmp_path: Path, codes: str,
                                              updates: bool) -> None:
    path = tmp_path / "old.h5"
    _write(path, codes=codes, updates=updates)
    _downgrade(path)
    with RunReader(path) as run:
        assert run.info["twinlab_schema"] == 2 and "codes" not in run.info
        assert run.codes == codes and run.codes_note == ""
        records = list(run.replay())
        assert len(records) == N and all(r.positions_sd is None for r in records)
        np.testing.assert_array_equal(records[5].positions, run.steps["positions"][5])
    pytest.importorskip("PyQt6")
    from gui.sources import ReplaySource

    replay = ReplaySource(path)
    try:
        assert replay.codes == codes and replay.history.total == N
        assert replay.row(3)["positions_sd"] is None
        assert replay.history.snapshot().positions_sd is None
    finally:
        replay.close()


def test_codes_of_infers_what_old_files_meant() -> None:
    assert codes_of({"positions_estimated": False}, ["positions"]) == "exact"
    assert codes_of({"positions_estimated": True}, ["positions", "update_mask"]) == "estimated"
    assert codes_of({"positions_estimated": True}, ["positions"]) == "unknown"
    assert codes_of({"codes": "unknown", "positions_estimated": False}, []) == "unknown"


@pytest.mark.parametrize("codes", ["exact", "estimated", "unknown"])
def test_twinlab_info_says_where_the_codes_come_from(
    tmp_path: Path, codes: str, capsys: pytest.CaptureFixture
) -> None:
    from lab.cli import main

    path = tmp_path / f"{codes}.h5"
    note = "no resistance probe, and the estimator is off (estimate = off)"
    _write(path, codes=codes, note=note if codes == "unknown" else "")
    assert main(["info", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[1] for ln in lines if ln.split()[0] == "codes"] == [codes]
    assert any(note in ln for ln in lines) == (codes == "unknown")
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["codes"] == codes


@pytest.mark.parametrize("codes", ["exact", "estimated"])
def test_twinlab_info_gives_the_errors_units_and_an_estimated_runs_last_code_sd(
    tmp_path: Path, codes: str, capsys: pytest.CaptureFixture
) -> None:
    """The user trial read ``final_error 0.000366`` without its V^2, and an estimated run
    said nothing of how well its codes were known."""
    from lab.cli import main
    from lab.runs.summary import ERROR_UNITS

    path = tmp_path / f"{codes}.h5"
    _write(path, codes=codes)
    assert main(["info", str(path)]) == 0
    lines = {ln.split()[0]: ln.split()[1:] for ln in capsys.readouterr().out.splitlines()}
    assert main(["info", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("initial_error", "final_error"):
        assert lines[key] == [str(out[key]), ERROR_UNITS] and out["units"][key] == "V^2"
    assert lines["scaled_error"] == [str(out["scaled_error"])]  # a ratio: no unit
    keys = ("positions_sd_worst", "positions_sd_median")
    if codes == "exact":
        assert not any(k in out or k in lines for k in keys)
        return
    last = _sd(N - 1).astype(float)
    assert out["positions_sd_worst"] == pytest.approx(last.max())
    assert out["positions_sd_median"] == pytest.approx(np.median(last))
    assert out["positions_sd_worst"] > out["positions_sd_median"]
    for key in keys:
        assert lines[key] == [str(out[key]), "code", "steps"]
        assert out["units"][key] == "code steps"
