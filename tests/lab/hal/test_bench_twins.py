"""`Bench.drive_twins`, `release_twins`, `sense_twins`: both twins in one DAQ call."""

from __future__ import annotations

import numpy as np
import pytest

from lab.emulator import EmulatorConfig, emulator_bench
from lab.emulator.board import EmulatedBoard
from lab.hal import LimitError


class CountingDAQ:
    """The emulated DAQ with its calls recorded: (method, channels)."""

    def __init__(self, daq) -> None:
        self.daq = daq
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def write(self, channels, volts) -> None:
        self.calls.append(("write", tuple(channels)))
        self.daq.write(channels, volts)

    def release(self, channels) -> None:
        self.calls.append(("release", tuple(channels)))
        self.daq.release(channels)

    def read(self, channels):
        self.calls.append(("read", tuple(channels)))
        return self.daq.read(channels)

    def __getattr__(self, name: str):
        return getattr(self.daq, name)


def _bench():
    board = EmulatedBoard(EmulatorConfig(seed=0, adc_noise=0.0, settle_tau=0.0))
    bench = emulator_bench(board=board)
    bench.daq = daq = CountingDAQ(bench.daq)
    return board, bench, daq


def test_both_twins_in_one_call_each() -> None:
    """One write, one read and one release for both twins; the same volts as the
    one-twin calls read, and the drive state of both twins kept."""
    _, bench, daq = _bench()
    bench.drive_twins([("free", (1, 2), np.array([0.0, 1.0])),
                       ("clamped", (1, 3), np.array([0.5, 2.0]))])  # fmt: skip
    assert bench.drive_state("free") == {1: 0.0, 2: 1.0}
    assert bench.drive_state("clamped") == {1: 0.5, 3: 2.0}
    free, clamped = bench.sense_twins([("free", (4, 5)), ("clamped", (4, 5, 6))])
    assert len(daq.calls) == 2 and [c[0] for c in daq.calls] == ["write", "read"]
    assert free.shape == (2,) and clamped.shape == (3,)
    np.testing.assert_allclose(free, bench.sense("free", (4, 5)))
    np.testing.assert_allclose(clamped, bench.sense("clamped", (4, 5, 6)))
    bench.release_twins([("free", (2,)), ("clamped", (1, 3))])
    assert daq.calls[-1][0] == "release" and len(daq.calls[-1][1]) == 3
    assert bench.drive_state("free") == {1: 0.0} and bench.drive_state("clamped") == {}


def test_a_value_outside_its_limits_writes_nothing() -> None:
    """Either twin's value outside its channel's limits: LimitError, no write at all."""
    _, bench, daq = _bench()
    with pytest.raises(LimitError):
        bench.drive_twins([("free", (1,), np.array([1.0])),
                           ("clamped", (2,), np.array([99.0]))])  # fmt: skip
    assert daq.calls == [] and bench.drive_state("free") == {}
