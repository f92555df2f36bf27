"""What a bench must wire for estimation, and a bench that cannot still trains."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import emulator_bench
from lab.hal import Bench
from lab.observe.requirements import check_supports_estimation
from lab.tasks import load_task


def _rewired(keep) -> Bench:
    full = emulator_bench()
    return Bench(
        network=full.network, daq=full.daq, bias=full.bias, clock=full.clock,
        channels=[ch for ch in full.channels if keep(ch)],
        calibration=full.calibration, probe=None, bias_limits=full.bias_limits,
    )  # fmt: skip


def test_the_emulate_wiring_supports_estimation() -> None:
    assert check_supports_estimation(emulator_bench()) is None


@pytest.mark.parametrize(
    ("keep", "words"),
    [
        (lambda ch: not (ch.twin == "clamped" and ch.kind == "sense"), "clamped twin has no sense"),
        (lambda ch: ch.kind == "sense" or ch.node in (1, 9), None),
        (lambda ch: not (ch.kind == "sense" and ch.node in (2, 7, 9)), "2-7"),
    ],
)
def test_a_bench_that_cannot_is_named_in_one_line(keep, words) -> None:
    reason = check_supports_estimation(_rewired(keep))
    assert reason is not None and "\n" not in reason
    if words:
        assert words in reason


def test_one_drive_channel_is_not_enough() -> None:
    reason = check_supports_estimation(
        _rewired(lambda ch: ch.kind == "sense" or ch.node == 1 or ch.twin == "free")
    )
    assert reason == "the clamped twin has 1 drive channel(s); tomography needs 2"


def test_training_on_such_a_bench_goes_on_without_codes(caplog) -> None:
    bench = _rewired(lambda ch: not (ch.twin == "clamped" and ch.kind == "sense"))
    settings = settings_from(task="ii", p=1.0, steps=5, test_every=0, estimate="auto")
    with caplog.at_level(logging.INFO, logger="lab.acquire.trainer"):
        trainer = Trainer(bench, load_task("ii"), settings)
    assert trainer.probe is None
    note = ("no resistance probe, and the bench cannot support the estimator: "
            "the clamped twin has no sense channel")
    assert trainer.codes_note == note
    assert [r.getMessage() for r in caplog.records] == [f"codes unknown: {note}"]
    summary = trainer.run()
    assert summary.complete and np.isfinite(summary.initial_error)
