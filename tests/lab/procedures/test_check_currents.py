"""`twinlab check` under the bench's current limits (lab.hal.currents): the channel-map
step held to the worst case before the codes are known, the clock patterns checked at the
tomography's fit before they are applied, each section's largest predicted current in the
figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.hal import Bench
from lab.hal.benchfile import load_bench
from lab.observe.model import WIPER_FLOOR
from lab.procedures.check import CheckSettings, run_check


def _bench(tmp_path: Path, edge: float) -> Bench:
    path = tmp_path / "bench.toml"
    path.write_text(f'kind = "emulator"\n[emulator]\nadc_noise = 0.0\n[currents]\nedge = {edge}\n')
    return load_bench(path)


def test_clock_patterns_over_the_limit_are_not_applied(tmp_path: Path) -> None:
    # 60 uA (the channel map needs >= 50.5 uA): the clock patterns at code 64 carry ~0.2 mA
    bench = _bench(tmp_path, 6e-5)
    board = bench.daq.board
    report = run_check(bench, CheckSettings(pulses=3, bias_pulses=8))
    figures = report.data
    # the channel map's step was held to the worst case: an edge at code 0 on 35 Ohm
    assert figures["channels"]["test_volts"] == 6e-5 * WIPER_FLOOR
    assert figures["channels"]["max_current_a"] <= 6e-5 * (1 + 1e-9)
    assert {i.name: i.ok for i in report.items if i.section == "channels"} == {
        "channel map": True}
    failed = [i for i in report.items if i.ok is False]
    assert [(i.section, i.name) for i in failed] == [("clock", "currents")]
    assert failed[0].detail.startswith("edge ") and "'currents.edge'" in failed[0].detail
    assert board.pulses == 0  # the clock section applied nothing
    assert (board.codes == 64).all() and not board.driven.any()
    assert not report.passed and report.unsafe == []


def test_every_section_reports_its_largest_predicted_current(tmp_path: Path) -> None:
    report = run_check(_bench(tmp_path, 5e-3), CheckSettings(pulses=3, bias_pulses=8))
    assert report.passed, report.failures()
    figures = report.data
    assert abs(figures["channels"]["test_volts"] - 0.175) < 1e-12  # 5 mA x 35 Ohm, not 0.5 V
    for value in (figures["channels"]["max_current_a"], figures["tomography"]["max_current_a"],
                  figures["clock"]["max_current_a"],
                  *(b["max_current_a"] for b in figures["bias"])):
        assert 0.0 < value <= 5e-3
    assert np.isfinite(figures["channels"]["max_channel_current_a"])


def test_the_power_up_tomography_is_held_to_the_edge_limit(tmp_path: Path) -> None:
    """The check's first tomography runs before anything moved the codes, so it passes
    the power-up codes (64) as known and every pattern is held to ``currents.edge`` at
    them: with 60 uA (the full span at code 64 would carry ~0.2 mA) the tomography's
    largest predicted current stays within it and its fit still passes (it was not
    limited: 0.2 mA)."""
    report = run_check(_bench(tmp_path, 6e-5), CheckSettings(pulses=3, bias_pulses=8))
    assert {i.name: i.ok for i in report.items if i.section == "tomography"}["fit"]
    # the figure is predicted at the fit's codes (their median set to 64), the limit held
    # at the known 64: a few per cent apart
    assert report.data["tomography"]["max_current_a"] <= 6e-5 * 1.05


def test_every_tomography_of_the_check_is_current_limited(tmp_path: Path, monkeypatch) -> None:
    """The clock and bias sections' tomographies (after the codes moved) ran with no
    current limit (`measure` without known codes); each now passes the codes it knows,
    lowered by the pulses since (a pulse moves a code by at most one step)."""
    import lab.procedures.check as check_module

    calls: list[np.ndarray | None] = []
    real = check_module.measure

    def recording(bench, k_design, settings, weight=None, known=None):
        calls.append(None if known is None else np.asarray(known).copy())
        return real(bench, k_design, settings, weight, known=known)

    monkeypatch.setattr(check_module, "measure", recording)
    report = run_check(_bench(tmp_path, 5e-3), CheckSettings(pulses=3, bias_pulses=8))
    assert report.passed, report.failures()
    assert len(calls) >= 4  # power-up, two clock halves, the biases
    assert all(c is not None for c in calls), [c is None for c in calls]
    assert all(((c >= 0) & (c <= 66)).all() for c in calls if c is not None)  # 64 +- fit
