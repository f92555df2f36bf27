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

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard, PeakCurrent
from lab.errors import ConfigError
from lab.hal import Bench
from lab.hal.benchfile import load_bench
from lab.procedures.check import CheckSettings, plan, run_check, safe_step


def _bench(tmp_path: Path, edge: float) -> Bench:
    path = tmp_path / "bench.toml"
    path.write_text(f'kind = "emulator"\n[emulator]\nadc_noise = 0.0\n[currents]\nedge = {edge}\n')
    return load_bench(path)


def test_every_section_reports_its_largest_predicted_current(tmp_path: Path) -> None:
    report = run_check(_bench(tmp_path, 5e-3), CheckSettings(pulses=3, bias_pulses=8))
    assert report.passed, report.failures()
    figures = report.data
    # 5 mA x 35 Ohm / 5: a stepped node of degree 5 with every edge at code 0 (not the
    # edge's own 0.175 V, which put up to 25 mA through that node's channel)
    assert abs(figures["channels"]["test_volts"] - 0.035) < 1e-12
    for value in (figures["channels"]["max_current_a"], figures["tomography"]["max_current_a"],
                  figures["clock"]["max_current_a"],
                  *(b["max_current_a"] for b in figures["bias"]),
                  figures["channels"]["max_channel_current_a"]):
        assert 0.0 < value <= 5e-3 * (1 + 1e-9)
    # every figure with a unit has it in the JSON's "units", and each names a figure there
    units = report.to_dict()["units"]
    assert {"channels.response", "clock.score_volts", "power_up.tolerance"} <= set(units)
    for key in units:
        section, name = key.split(".")
        found = figures[section][0] if isinstance(figures[section], list) else figures[section]
        assert name in found, key


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


def test_the_clock_section_keeps_the_limit_while_its_pulses_move_the_codes() -> None:
    """The clock patterns were checked at the start codes only, while the pulses move the
    codes: ``--pulses 100`` from power-up took 11 edges to code 0 with 6.9 V across one
    (70-170 mA against 5 mA). Now they are checked at the lowest codes the pulses can
    reach, and the section pulses fewer times where the limit binds; here (codes given,
    so `plan` lets 70 pulses through) no edge ever carries more than the limit."""
    board = EmulatedBoard(EmulatorConfig(seed=1))
    bench = replace(emulator_bench(board=board), probe=None)
    peak = PeakCurrent(board)
    report = run_check(bench, CheckSettings(pulses=70, bias_pulses=8,
                                            start_codes=(64,) * bench.network.n_edges))
    assert peak.peak <= bench.currents.edge, peak.peak
    clock = report.data["clock"]
    assert 1 <= clock["pulses"] < 64  # fewer than asked: none reaches code 0
    steps = next(i for i in report.items if i.name == "every edge steps")
    assert f"{clock['pulses']} pulses up and {clock['pulses']} down" in steps.figure
    assert "70 asked: the current limit" in steps.figure
    assert clock["max_current_a"] <= bench.currents.edge


def test_pulses_past_a_rail_from_power_up_are_refused_before_anything() -> None:
    board = EmulatedBoard(EmulatorConfig(seed=1))
    bench = replace(emulator_bench(board=board), probe=None)
    peak = PeakCurrent(board)
    with pytest.raises(ConfigError, match=r"pulses = 64 would step every code from 64 past "
                       r"a rail \(0\.\.127\): give at most 63"):  # fmt: skip
        plan(bench, CheckSettings(pulses=64))
    assert peak.calls == 0
    plan(bench, CheckSettings(pulses=63))  # the most that stays off the rails


def test_an_emulator_benchs_limits_without_room_name_its_limits_field(tmp_path: Path) -> None:
    """The emulator bench file's one ``limits`` pair is the field named (no channel entry)."""
    path = tmp_path / "bench.toml"
    path.write_text('kind = "emulator"\nlimits = [0, 0.02]\n')
    with pytest.raises(ConfigError) as info:
        plan(load_bench(path))
    assert str(info.value).startswith(
        "check: bench file field 'limits' = [0, 0.02] V (channel 'ao.free.1', free twin node 1)"
        " leaves no room for the check's 0.035 V test step"
    ), info.value


# The refusals of `plan` name the bench file field to change and what to give, as the
# channel-room and currents.edge lines do (they named none).
def _instruments_like(bench: Bench, channels: list | None = None, **changes) -> Bench:
    """``bench`` under an instruments bench file's description (``config``): one
    ``[[channels]]`` entry per channel, a ``[bias]`` table and a ``[calibration]`` table."""
    channels = list(bench.channels) if channels is None else channels
    lo, hi = changes.get("bias_limits", bench.bias_limits)
    config = {"kind": "instruments",
              "channels": [{"name": c.name, "limits": list(c.limits)} for c in channels],
              "bias": {"channel": "9000", "limits": [lo, hi], "safe": hi},
              "calibration": bench.calibration.to_dict()}  # fmt: skip
    return replace(bench, channels=channels, config=config, **changes)


def test_drive_channels_without_a_common_window_name_their_limits_fields() -> None:
    from lab.hal import Channel

    bench = emulator_bench()
    channels = [Channel(c.name, c.twin, c.node, c.kind,
                        ((-0.2, 0.003) if c.node % 2 else (-0.003, 0.2)), c.safe)
                if c.kind == "drive" and c.twin == "free" else c
                for c in bench.channels]  # fmt: skip
    bench = _instruments_like(bench, channels)
    items = [i for i, c in enumerate(channels, start=1) if c.kind == "drive" and c.twin == "free"]
    with pytest.raises(ConfigError) as info:
        plan(bench)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(
        f"check: bench file field 'channels', items {', '.join(map(str, items))}, entry "
        "'limits' (the free twin's drive channels):"), line
    # the window the blind round needs, and what to give
    assert "mV window [" in line and "give at least two of them limits that contain" in line


def test_limits_too_narrow_for_the_clock_patterns_name_the_limits_field(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text('kind = "emulator"\nlimits = [0, 0.3]\n')
    with pytest.raises(ConfigError) as info:
        plan(load_bench(path))
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(
        "check: bench file field 'limits' (the drive channels of both twins) = "
        "[0, 0.3] V leaves no room for the clock check's test voltages"), line
    assert "give the drive channels of both twins a common range at least 0.3" in line


def test_a_bias_outside_the_bias_limits_names_the_bias_and_calibration_fields() -> None:
    bench = _instruments_like(emulator_bench(), bias_limits=(2.0, 5.0))
    volts = [float(bench.calibration.volts_for(p)) for p in (1.0, 0.5, 0.25)]
    with pytest.raises(ConfigError) as info:
        plan(bench)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(
        f"check: bench file field 'bias.limits' = [2, 5] V leaves out the bias "
        f"{volts[0]:.4g} V that field 'calibration' sets for p = 1"), line
    assert (f"give it a range that contains [{min(volts):.4g}, {max(volts):.4g}] V"
            in line), line


def test_a_drive_channels_own_current_limit_holds_the_channel_map_step(tmp_path: Path) -> None:
    """The channel-map step is held to each drive channel's own limit over its node's
    degree (every edge at 35 Ohm); before, only the edge limit held it, so a stepped
    node's channel could carry its degree times that. A limit too small for the check to
    see a channel move is refused naming that channel's field."""
    path = tmp_path / "bench.toml"
    text = 'kind = "emulator"\n[currents]\nchannels = {"ao.free.1" = %s}\n'
    path.write_text(text % "1e-3")  # node 1 meets 5 edges: 1 mA x 35 Ohm / 5 = 7 mV
    bench = load_bench(path)
    assert abs(safe_step(bench, CheckSettings()) - 7e-3) < 1e-12
    path.write_text(text % "1e-4")  # 0.7 mV: below what the read noise lets it see
    with pytest.raises(ConfigError) as info:
        plan(load_bench(path))
    line = str(info.value)
    assert line.startswith("check: bench file field 'currents.channels', key 'ao.free.1' = "
                           "0.1 mA allows a channel-map step of only 0.7 mV (channel "
                           "'ao.free.1': its node's 5 edges at code 0, 35 Ohm each)"), line
    assert line.endswith("give it >= 0.253 mA"), line  # 1.77 mV x 5 / 35 Ohm
