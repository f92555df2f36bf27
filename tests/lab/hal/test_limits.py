"""One `Limits` type (lab.hal.channels): validation, the check and its one message, used by
`Bench.drive`/`Bench.set_probability`, the SCPI driver and the bench-file schema."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lab.core.network import Network
from lab.emulator import emulator_bench
from lab.hal import Bench, Channel, LimitError, Limits, check_all, check_channel_map

#: the one LimitError format: [<who>: ][<quantity> ]<value> V on <what> is outside
#: <label> [<low>, <high>] V; nothing was written
FORMAT = re.compile(
    r"(?:[^:]+: )?(?:\w+ )?\S+ V on .+ is outside .+ \[\S+, \S+\] V; nothing was written"
)


@pytest.mark.parametrize(
    "pair", [(1.0, 1.0), (2.0, 1.0), (float("nan"), 1.0), (0.0, float("inf")), (-np.inf, 0)]
)
def test_unusable_limits_are_refused(pair: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match=r"are not \(low, high\) in V"):
        Limits(*pair)
    with pytest.raises(ValueError, match="channel 'x' limits"):
        Limits.parse(pair, "channel 'x'")


@pytest.mark.parametrize("pair", [(1.0,), (1.0, 2.0, 3.0), "ab", None, ("a", 1.0)])
def test_malformed_limits_are_one_value_error(pair: object) -> None:
    with pytest.raises(ValueError, match="bias limits"):
        Limits.parse(pair, "bias")


def test_limits_are_a_float_pair() -> None:
    lim = Limits(-1, 6)
    assert lim == (-1.0, 6.0) and (lim.low, lim.high) == (-1.0, 6.0)
    assert type(lim.low) is float and str(lim) == "[-1, 6] V"
    assert 6.0 in lim and -1.0 in lim and 6.0000001 not in lim and float("nan") not in lim
    assert lim.within(Limits(-10, 10)) and not Limits(-11, 0).within(Limits(-10, 10))


def test_check_message_is_one_format() -> None:
    lim = Limits(0.0, 5.0)
    lim.check(5.0, "channel '1'")  # the bounds are inside
    with pytest.raises(LimitError) as info:
        lim.check(5.0000001, "channel '1'", who="DAQ", quantity="bias")
    assert str(info.value) == (
        "DAQ: bias 5.0000001 V on channel '1' is outside its limits [0, 5] V; "
        "nothing was written"
    )
    with pytest.raises(LimitError, match="node 2 is outside its limits"):
        check_all([1.0, float("nan")], [lim, lim], ["node 1", "node 2"])
    with pytest.raises(LimitError, match="outside the range"):
        check_all([-1.0], [lim], ["x"], labels=["the range"])
    check_all([0.0, 5.0], [lim, lim], ["a", "b"])


def test_channel_map_refuses_infinite_limits() -> None:
    """Infinite limits bound nothing; the channel map took them before `Limits`."""
    net = Network.from_name("twin16")
    ch = Channel("1", "free", 1, "drive", (-float("inf"), float("inf")))
    with pytest.raises(ValueError, match="channel map: channel '1' limits"):
        check_channel_map(net, [ch])


def test_bench_refuses_unusable_bias_limits() -> None:
    """Reversed bias limits refused every bias with a misleading message; now at once."""
    good = emulator_bench()
    with pytest.raises(ValueError, match="bias limits"):
        Bench(
            network=good.network,
            daq=good.daq,
            bias=good.bias,
            clock=good.clock,
            channels=good.channels,
            calibration=good.calibration,
            bias_limits=(5.0, 0.0),
        )


def test_bench_messages_have_the_one_format() -> None:
    bench = emulator_bench(limits=(0.0, 5.0))
    with pytest.raises(LimitError) as drive:
        bench.drive("free", (8,), np.array([5.5]))
    assert FORMAT.fullmatch(str(drive.value)), drive.value
    assert "5.5 V on node 8 of the free twin (channel " in str(drive.value)
    bench.bias_limits = Limits(0.0, 0.001)  # every bias of the calibration is above
    with pytest.raises(LimitError) as bias:
        bench.set_probability(0.5)
    assert FORMAT.fullmatch(str(bias.value)), bias.value
    assert "outside the bias limits [0, 0.001] V" in str(bias.value)


def test_the_trainers_task_check_has_the_one_format() -> None:
    """The trainer worded its own message for a task voltage outside the channel limits
    (no channel, no "nothing was written"); now `Limits.check`'s, naming the task, the
    node and its channel, and the range."""
    from lab.acquire.settings import settings_from
    from lab.acquire.trainer import Trainer
    from lab.tasks import load_task

    bench = emulator_bench(limits=(-1.0, 4.5))  # task ii puts 5 V on node 8
    with pytest.raises(LimitError) as info:
        Trainer(bench, load_task("ii"), settings_from(), [])
    message = str(info.value)
    assert FORMAT.fullmatch(message), message
    assert message.startswith("task 'ii' (file "), message  # its file and field, too
    assert "ii.toml, field 'inputs.8'): 5.0 V on node 8 of the free twin (channel " in message
    assert "is outside the channel limits [-1, 4.5] V" in message
    assert not bench.probe.board.driven.any()


@pytest.mark.parametrize("bad", [5.5, float("nan")])
def test_the_calibration_sweeps_bias_check_has_the_one_format(bad: float) -> None:
    """The sweep worded its own message, and let a NaN bias through to the bias source;
    now every bias is checked by `Limits.check` before the first one is set."""
    from lab.procedures.calibration import sweep

    bench = emulator_bench()
    board = bench.probe.board
    before = board.bias
    with pytest.raises(LimitError) as info:
        sweep(bench, [bench.bias_limits.low, bad], pulses=1)
    message = str(info.value)
    assert FORMAT.fullmatch(message), message
    assert message.startswith(f"bias {bad!r} V on the bias source (calibration bias 2 of 2)")
    assert f"is outside the bias limits {bench.bias_limits}" in message
    assert board.bias == before and board.pulses == 0
