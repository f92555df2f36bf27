"""Tests for lab.insilico.studies.iris: the task variants, the in-silico continuous rule,
run_point on the emulated board at tiny sizes, and the summary on synthetic records."""

from __future__ import annotations

import numpy as np
import pytest

from lab.insilico.studies import STUDIES, StudyArgs
from lab.insilico.studies.iris import (
    CHOICES,
    PAPER,
    choice_config,
    make_task,
    nearest_mean_accuracy,
    run_continuous,
    run_point,
    summarize,
    varies,
)


def test_the_study_is_registered_and_every_choice_differs_from_the_papers_in_one_way() -> None:
    assert "iris" in STUDIES
    assert varies(choice_config("papers (eta 1)")) == []
    for name in CHOICES:
        assert set(varies(choice_config(name))) <= set(PAPER)


def test_make_task_maps_the_features_and_sets_the_node_roles() -> None:
    shipped = make_task(0, PAPER)
    both = np.concatenate([shipped.train_inputs, shipped.test_inputs])
    np.testing.assert_allclose(both.min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(both.max(axis=0), 5.0)
    narrow = make_task(0, choice_config("inputs 1.25-3.75 V"))
    nb = np.concatenate([narrow.train_inputs, narrow.test_inputs])
    np.testing.assert_allclose(nb.min(axis=0), 1.25)
    np.testing.assert_allclose(nb.max(axis=0), 3.75)
    np.testing.assert_allclose((nb - 1.25) / 2.5, both / 5.0)  # the same flowers, rescaled
    z = make_task(0, choice_config("inputs z-score, 1 V/sd"))
    zb = np.concatenate([z.train_inputs, z.test_inputs])
    assert zb.min() >= 0.0 and zb.max() <= 5.0
    np.testing.assert_allclose(np.median(zb, axis=0), 2.5, atol=0.6)
    roles = make_task(0, choice_config("node 9 at 0 V, node 7 at 5 V"))
    assert roles.fixed_nodes == (9, 7)
    np.testing.assert_allclose(roles.fixed_volts, [0.0, 5.0])
    assert not np.array_equal(make_task(1, PAPER).train_inputs, shipped.train_inputs)  # split


def test_nearest_mean_accuracy_is_the_centroid_classifier() -> None:
    task = make_task(0, PAPER)
    acc = nearest_mean_accuracy(task)
    assert 0.9 <= acc <= 1.0  # Iris is nearly separable by class means
    # shuffling the training labels leaves the class means near each other: far worse
    from dataclasses import replace

    rng = np.random.default_rng(0)
    shuffled = replace(task, train_labels=rng.permutation(task.train_labels))
    assert nearest_mean_accuracy(shuffled) < acc - 0.2


def test_run_point_records_accuracy_curves_per_board() -> None:
    point = {"config": choice_config("papers (eta 1)"), "split": 0, "boards": 2, "epochs": 10}
    r = run_point(point)
    assert r["eval_epochs"] == [0, 5, 10]
    acc = np.array(r["accuracy"])
    assert acc.shape == (2, 3)
    assert np.all((acc >= 0) & (acc <= 1))
    # before training the boards differ only by part tolerances: similar accuracy
    assert abs(acc[0, 0] - acc[1, 0]) < 0.1


def test_the_comparator_offset_holds_iris_accuracy_down() -> None:
    """The finding the study reports, on one board and one split: with sigma = 0 the
    accuracy rises well above its start within 20 epochs; with the board's offsets
    (sigma ~ U[0, 0.05] V) it barely moves (codes drift to the top)."""
    base = {"split": 0, "boards": 1, "epochs": 20}
    with_offset = np.array(run_point({**base, "config": choice_config("papers (eta 1)")})[
        "accuracy"])[0]  # fmt: skip
    without = np.array(run_point({**base, "config": choice_config(
        "full board, no comparator offset")})["accuracy"])[0]  # fmt: skip
    assert with_offset[0] == pytest.approx(without[0], abs=0.02)  # same start
    assert without.max() >= with_offset.max() + 0.03


def test_run_continuous_lowers_the_class_means_error() -> None:
    task = make_task(0, PAPER)
    acc, err = run_continuous(task, eta=0.5, gamma=0.05, epochs=10, seed=0)
    assert len(acc) == len(err) == 3
    assert err[-1] < 0.9 * err[0]  # coupled learning descends its own objective


def test_summarize_tables_each_choice_and_reads_epochs_from_the_curve(tmp_path) -> None:
    records = []
    curves = {"papers (eta 1)": [0.8, 0.85, 0.86], "ideal board": [0.8, 0.97, 0.9]}
    for name, curve in curves.items():
        for split in range(3):
            acc = [[c + 0.01 * split for c in curve]] * 2
            records.append({
                "point": {"choice": name, "config": choice_config(name), "split": split},
                "result": {"eval_epochs": [0, 5, 10], "accuracy": acc,
                           "test_error": [[0.1, 0.05, 0.04]] * 2, "nearest_mean_accuracy": 0.95},
            })  # fmt: skip
    out = summarize(records, StudyArgs(out=tmp_path), tmp_path)
    rows = {r["choice"]: r for r in out["choices"]}
    assert rows["papers (eta 1)"]["accuracy_final"] == pytest.approx(0.87)
    assert rows["ideal board"]["best_epoch"] == 5
    assert rows["ideal board"]["accuracy_best"] == pytest.approx(0.98)
    assert rows["ideal board"]["varies"] == ["board"]
    assert rows["papers (eta 1)"]["runs"] == 6
    lo, hi = rows["papers (eta 1)"]["accuracy_final_ci95"]
    assert lo < 0.87 < hi
    assert out["reproduced"] is False
    assert out["parameters"]["sigma_max"]["status"] == "unstated"
    assert (tmp_path / "iris.png").is_file()
