"""A check stopped part-way (``should_stop`` true at a chosen point) records what ran:
the section cut short, those not run, the clock pulses sent, and a JSON verdict that is
not a pass (null, or false when an item failed before the stop)."""

from __future__ import annotations

from dataclasses import replace

from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard
from lab.procedures.check import CheckSettings, run_check
from tests.stack import inside

SETTINGS = CheckSettings(pulses=3, bias_pulses=8)


def test_a_stop_in_the_bias_after_a_stuck_edge_keeps_both_and_the_half_measured() -> None:
    board = EmulatedBoard(EmulatorConfig(seed=1))
    board.stick_edge(board.network.edge_labels().index("2-7"))
    bench = replace(emulator_bench(board=board), probe=None)
    calls = []

    def stop() -> bool:  # before the second bias half's fourth pulse
        if inside("check_bias") and not inside("_tomography"):
            calls.append(1)
        return len(calls) >= 12

    report = run_check(bench, SETTINGS, should_stop=stop)
    assert report.cut_short == "bias" and report.not_run == []
    assert report.pulses_sent == 2 * 3 + 8 + 3
    assert len(report.data["bias"]) == 1  # the first half, measured before the stop
    out = report.to_dict()
    assert out["passed"] is False  # the stuck edge failed before the stop: a fail
    assert out["cut_short"] == "bias" and out["pulses_sent"] == 17
    assert report.table().splitlines()[-1] == (
        "bench check: FAIL, then STOPPED during bias (cut short)")
    where = report.where_left()
    assert where is not None and "stopped part-way through the bias section; 3 pulse(s)" in where
    assert not board.driven.any()
