"""An interrupted ``twinlab check`` says truthfully what ran and where the board is (user
trial: a check stopped in its tomography printed ``bench check: FAIL``; one stopped in
the clock section gave no power-cycle note; a Ctrl-C after the last section printed
``PASS`` then ``check interrupted``). In process on the emulator bench: the check's
``should_stop`` turns true at a chosen point and sends this process the SIGINT a user's
Ctrl-C would (the command's own handler records it), so the stop lands deterministically."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import lab.procedures.check as check
from lab.cli import main
from tests.stack import inside

FAST = ["--pulses", "3", "--bias-pulses", "8"]


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
         when: Callable[[], bool] | None) -> tuple[int, str, str, dict]:  # fmt: skip
    """``twinlab check`` stopped by SIGINT the first time ``when`` is true (None: right
    after the last section); (status, stdout, stderr, JSON)."""
    real = check.run_check

    def stopped_run(bench, settings, should_stop=None, where=None):  # type: ignore[no-untyped-def]
        sent = []

        def stop() -> bool:
            if not sent and when is not None and when():
                sent.append(True)
                signal.raise_signal(signal.SIGINT)  # the handler twinlab check installed
            return bool(sent) or should_stop()

        report = real(bench, settings, should_stop=stop, where=where)
        if when is None:
            signal.raise_signal(signal.SIGINT)
        return report

    monkeypatch.setattr(check, "run_check", stopped_run)
    out = tmp_path / "check.json"
    status = main(["check", "--bench", "emulator", "--json", str(out), *FAST])
    got = capsys.readouterr()
    return status, got.out, got.err, json.loads(out.read_text())


def test_a_stop_before_the_clock_names_what_did_not_run(tmp_path, monkeypatch, capsys) -> None:
    status, out, err, report = _run(
        tmp_path, monkeypatch, capsys,
        lambda: inside("_tomography") and not inside("check_clock"))  # fmt: skip
    assert status == 130
    assert ("bench check: STOPPED by Ctrl-C (SIGINT) during tomography (cut short); clock, "
            "bias not run") in out.splitlines()
    assert "bench check: FAIL" not in out and "note:" not in out  # no pulse was sent
    rows = {tuple(line.split()[:4]) for line in out.splitlines()}
    assert {("tomography", "cut", "short", "skip"), ("clock", "not", "run", "skip"),
            ("bias", "not", "run", "skip")} <= rows
    assert err.strip() == "twinlab: check interrupted by Ctrl-C (SIGINT); bench safe"
    assert report["passed"] is None and report["figures"]["stopped_by"] == "Ctrl-C (SIGINT)"
    assert report["cut_short"] == "tomography" and report["not_run"] == ["clock", "bias"]
    assert report["pulses_sent"] == 0


def test_a_stop_during_the_clock_says_the_board_moved(tmp_path, monkeypatch, capsys) -> None:
    calls = []

    def third_pulse() -> bool:  # stop before the third pulse: two sent
        if inside("pulse") and inside("check_clock"):
            calls.append(1)
        return len(calls) == 3

    status, out, err, report = _run(tmp_path, monkeypatch, capsys, third_pulse)
    assert status == 130
    lines = out.splitlines()
    assert "bench check: STOPPED by Ctrl-C (SIGINT) during clock (cut short); bias not run" in lines
    assert ("note: the check sent 2 clock pulse(s) and left the digipots up to 2 code(s) from "
            "where it found them (stopped part-way through the clock section; 2 pulse(s) "
            "since the last tomography, each moving a code by one at most): power-cycle the "
            "board before `twinlab train`") in out
    assert err.strip() == "twinlab: check interrupted by Ctrl-C (SIGINT); bench safe"
    assert report["passed"] is None and report["pulses_sent"] == 2
    assert report["cut_short"] == "clock" and report["not_run"] == ["bias"]


def test_a_signal_after_the_last_section_says_every_item_ran(tmp_path, monkeypatch,
                                                              capsys) -> None:  # fmt: skip
    status, out, err, report = _run(tmp_path, monkeypatch, capsys, None)
    assert status == 130  # `twinlab check && twinlab train` stops, as the user asked
    assert "bench check: PASS" in out.splitlines()
    assert err.strip() == ("twinlab: Ctrl-C (SIGINT) came after the last section: every item "
                           "ran; bench safe")
    assert report["passed"] is True and report["figures"]["stopped_by"] == "Ctrl-C (SIGINT)"
    assert report["cut_short"] is None and report["not_run"] == []
    assert report["pulses_sent"] == 2 * 3 + 2 * 8
    # the clock's round trip is no claim that the board is back: the bias moved it after
    assert "back where it started" not in out and "up then down returns" in out
    figures = report["figures"]
    moved = np.array(figures["clock"]["end_minus_start"], dtype=float) + sum(
        np.array(b["moves"], dtype=float) for b in figures["bias"])
    worst = np.abs(moved).max()
    assert worst >= 1.5  # the bias section's random walk did move the board
    assert (f"note: the check sent 22 clock pulse(s) and left the digipots where the bias "
            f"section moved them, up to {worst:.0f} code(s) from where it found them") in out
