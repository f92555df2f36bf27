"""`twinlab check` under the bench's current limits (lab.hal.currents): the channel-map
step held to the worst case before the codes are known, the clock patterns checked at the
tomography's fit before they are applied, each section's largest predicted current in the
figures.

An edge limit below about 0.7 mA (the 60 uA these tests once used to make the clock
patterns at code 64, ~0.2 mA, exceed it) leaves the blind round nothing to see, so the
check stops before its tomography (test_check_start_codes.py); the clock section's
current check is exercised on trained boards (test_check_rails.py, the bias section).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.hal import Bench
from lab.hal.benchfile import load_bench
from lab.procedures.check import CheckSettings, run_check


def _bench(tmp_path: Path, edge: float) -> Bench:
    path = tmp_path / "bench.toml"
    path.write_text(f'kind = "emulator"\n[emulator]\nadc_noise = 0.0\n[currents]\nedge = {edge}\n')
    return load_bench(path)


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
