"""Channel names in the HAL: one character set, one identity per physical channel."""

from __future__ import annotations

import pytest

from lab.core.network import Network
from lab.hal import Channel, channel_key, check_channel_map, check_channel_name

NET = Network.from_name("twin16")


@pytest.mark.parametrize(
    "name", ["1", "1008", "ao.free.8", "Dev1_ao-0", "A" * 32]
)
def test_usable_channel_names(name: str) -> None:
    assert check_channel_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1008;*RST", "1,2", "(@1)", "1@2", "1:16", "'1'", '"1"', "1 2", "1\t", "1\n", "1\x00",
     "#1", "*RST", "-1", ".1", "A" * 33, "８", "é"],
)  # fmt: skip
def test_unusable_channel_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a usable DAQ channel name") as info:
        check_channel_name(name)
    assert "\n" not in str(info.value)


def test_channel_key_merges_spellings_of_one_channel() -> None:
    assert channel_key("08") == channel_key("8") == channel_key("0008")
    assert channel_key("0") == channel_key("00")
    assert channel_key("ao.free.08") == channel_key("AO.Free.8")
    assert channel_key("80") != channel_key("8") and channel_key("108") != channel_key("18")


def drive(name: str, twin: str, node: int) -> Channel:
    return Channel(name, twin, node, "drive", (-1.0, 6.0), 0.0)  # type: ignore[arg-type]


def test_channel_map_refuses_two_spellings_naming_both() -> None:
    with pytest.raises(ValueError) as info:
        check_channel_map(NET, [drive("8", "free", 8), drive("08", "clamped", 8)])
    message = str(info.value)
    assert "'08' (drive, clamped twin node 8)" in message
    assert "'8' (drive, free twin node 8)" in message and "mapped twice" in message
    with pytest.raises(ValueError, match=r"'0001' .* and channel '1' \(the bias\)"):
        check_channel_map(NET, [drive("0001", "free", 1)], bias="1")
    with pytest.raises(ValueError, match=r"bias channel '9000;\*RST'"):
        check_channel_map(NET, [drive("1", "free", 1)], bias="9000;*RST")
    check_channel_map(NET, [drive("1", "free", 1), drive("1001", "clamped", 1)], bias="9000")
