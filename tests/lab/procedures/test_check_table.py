"""The check's table reads at once (user trial): every figure with the digits, both twins
and the tolerance its verdict used, a section's rows together, a fault's explanation a
statement (``info``) with what to do, and a stuck or open edge saying where and what
next. In process, on the emulated board without its probe (the rehearsal bench's
faults: `lab.emulator.faults`)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard
from lab.procedures.check import (
    OPEN_EDGE,
    CheckFault,
    CheckReport,
    CheckSettings,
    Item,
    run_check,
)

SETTINGS = CheckSettings(pulses=3, bias_pulses=8)


def _check(stuck: str | None = None, open_: str | None = None,
           swap: tuple[str, str] | None = None) -> CheckReport:  # fmt: skip
    board = EmulatedBoard(EmulatorConfig(seed=1))
    labels = board.network.edge_labels()
    if stuck is not None:
        board.stick_edge(labels.index(stuck))
    if open_ is not None:
        board.open_edge(labels.index(open_))
    bench = replace(emulator_bench(board=board), probe=None)
    if swap is not None:  # the bench file names them the wrong way round
        where = {ch.name: ch for ch in bench.channels}
        a, b = where[swap[0]], where[swap[1]]
        bench = replace(bench, channels=[
            replace(ch, node=b.node) if ch is a else replace(ch, node=a.node) if ch is b
            else ch for ch in bench.channels])  # fmt: skip
    return run_check(bench, SETTINGS)


@pytest.fixture(scope="module")
def good() -> CheckReport:
    return _check()


@pytest.fixture(scope="module")
def swapped() -> CheckReport:
    return _check(swap=("ai.free.1", "ai.free.2"))


@pytest.fixture(scope="module")
def broken() -> CheckReport:
    return _check(stuck="1-4", open_="5-8")


def _item(report: CheckReport, section: str, name: str) -> Item:
    return next(i for i in report.items if i.section == section and i.name == name)


def _row(report: CheckReport, section: str, name: str) -> str:
    """The table's line of that item."""
    return next(line for line in report.table().splitlines()
                if re.match(rf"{section}\s+{name}\s", line))  # fmt: skip


def test_the_twin_mismatch_sd_keeps_two_significant_digits(good: CheckReport) -> None:
    tomo = good.data["tomography"]
    worst = max(range(len(tomo["edges"])), key=lambda i: tomo["twin_mismatch"][i])
    sd = 100 * tomo["twin_mismatch_sd"][worst]
    assert 0 < sd < 0.05  # the rehearsal board's: 0.0 at one decimal
    figure = _item(good, "tomography", "twin mismatch").figure
    shown = re.fullmatch(r"worst [\d.]+ % \+- ([\d.]+) % \(\d+-\d+\)", figure)
    assert shown, figure
    assert float(shown[1]) == pytest.approx(sd, rel=0.06), figure  # 2 significant digits


def test_the_bias_figure_shows_the_tolerance_its_verdict_used(good: CheckReport) -> None:
    for bias in good.data["bias"]:
        item = _item(good, "bias", f"p at {bias['bias_volts']:.3f} V")
        assert item.figure == (f"{bias['measured']:.2f} (calibration {bias['expected']:.2f} "
                               f"+- {bias['tolerance']:.2f})"), item.figure  # fmt: skip


def test_the_fit_row_gives_chi2_per_dof_of_both_twins(good: CheckReport) -> None:
    free, clamped = good.data["tomography"]["chi2"]
    figure = _item(good, "tomography", "fit").figure
    assert figure.startswith(f"chi2/dof {free:.2f} free, {clamped:.2f} clamped, "), figure


def test_the_start_codes_row_is_the_worst_edge_over_its_tolerance(good: CheckReport) -> None:
    score = good.data["power_up"]["worst_score"]
    assert 0 < score <= 1
    assert _item(good, "tomography", "start codes").figure == (
        f"power-up codes: worst edge {score:.2f} of its tolerance")


def test_a_swap_s_rows_stay_together_and_its_explanation_says_what_to_do(
        swapped: CheckReport) -> None:  # fmt: skip
    sections = [i.section for i in swapped.items]
    # each section's rows in one run, in the order of the sections
    assert sections == sorted(sections, key=sections.index)
    assert list(dict.fromkeys(sections)) == ["identify", "channels", "tomography", "clock",
                                             "bias"]  # fmt: skip
    assert [i.name for i in swapped.items if i.section == "channels"] == [
        "channel map", "explanation"]
    item = _item(swapped, "channels", "explanation")
    assert item.info and item.ok is True and item.faults == []
    action = ("swap the wires of 'ai.free.1' and 'ai.free.2', or swap their names in the "
              "bench file")
    assert item.detail == action
    row = _row(swapped, "channels", "explanation")
    assert re.match(r"channels\s+explanation\s+info\s+sense 'ai.free.1' is free node 1", row), row
    table = swapped.table()
    assert f"  channels explanation: {action}" in table.splitlines()
    record = next(i for i in swapped.to_dict()["items"] if i["name"] == "explanation")
    assert record["info"] is True and record["ok"] is True and record["detail"] == action
    json.dumps(swapped.to_dict())


def test_a_stuck_edge_says_what_next_and_its_figure_reads_as_a_sentence(
        broken: CheckReport) -> None:  # fmt: skip
    item = _item(broken, "clock", "every edge steps")
    assert item.ok is False
    assert item.figure == "1 of 15 edges stuck after 3 pulses up and 3 down at p = 1"
    assert item.detail == ("edge(s) 1-4 stuck (did not move 3 codes each way): check its "
                           "digipots' CLK, U/D and CS wiring or replace the part")


def test_an_open_edge_says_on_which_twins(broken: CheckReport) -> None:
    item = _item(broken, "tomography", "open edges")
    detail = "edge(s) 5-8 open on both twins (conductance below 1/20 of the median)"
    assert item.detail == detail
    assert item.faults == [CheckFault(OPEN_EDGE, detail, None, edges=("5-8",))]
