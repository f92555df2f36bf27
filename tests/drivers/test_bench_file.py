"""The instruments bench file's limits and clock section, checked before anything opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.bench import open_bench
from lab.errors import ConfigError
from lab.hal import clock_protocol as proto


def _raw(**bias: Any) -> dict[str, Any]:
    """A bench file whose instruments do not exist (validation must stop before them)."""
    return {
        "kind": "instruments",
        "daq": {"resource": "TCPIP::127.0.0.1::1::SOCKET"},
        "bias": {"channel": "9000", **bias},
        "clock": {"port": "/dev/nonesuch/clock"},
        "calibration": {"bias": [0.0, 5.0], "p": [1.0, 0.0]},
        "channels": [{"name": "1", "twin": "free", "node": 1, "kind": "drive"}],
    }


@pytest.mark.parametrize("limits", [[5.0, 0.0], [1.0, 1.0], [0.0, float("inf")]])
def test_unusable_bias_limits_name_their_field(tmp_path: Path, limits: list[float]) -> None:
    """Reversed bias limits used to be reported as a bad 'bias.safe' (or not at all)."""
    with pytest.raises(ConfigError, match=r"field 'bias\.limits': bias limits"):
        open_bench(tmp_path / "b.toml", _raw(limits=limits, safe=limits[0]))


def test_clock_section_bounds_are_the_protocols(tmp_path: Path) -> None:
    raw = _raw()
    raw["clock"]["pulse_width_us"] = proto.WIDTH_MAX_US + 1
    with pytest.raises(ConfigError, match="pulse_width_us"):
        open_bench(tmp_path / "b.toml", raw)
    raw["clock"]["pulse_width_us"] = proto.DEFAULT_WIDTH_US
    raw["clock"]["watchdog_ms"] = proto.WDT_MAX_MS + 1
    with pytest.raises(ConfigError, match="watchdog_ms"):
        open_bench(tmp_path / "b.toml", raw)


@pytest.mark.parametrize("baud", [0, 12, 12_345, -115_200])
def test_clock_baud_must_be_a_supported_rate_and_is_named(tmp_path: Path, baud: int) -> None:
    """``baud = 12`` used to pass the bench file (only > 0 was asked)."""
    raw = _raw()
    raw["clock"]["baud"] = baud
    with pytest.raises(ConfigError) as info:
        open_bench(tmp_path / "b.toml", raw)
    allowed = ", ".join(str(b) for b in proto.BAUD_RATES[:-1]) + f" or {proto.BAUD_RATES[-1]}"
    assert str(info.value) == (
        f"{tmp_path / 'b.toml'}: field 'clock.baud': expected {allowed}, got {baud} "
        "(UART rate, baud (protocol version 2: 1000000))"
    ), info.value


def test_every_supported_baud_rate_passes_the_bench_file() -> None:
    from drivers.bench import _ClockSection

    assert {proto.BAUD, proto.BAUD_V1} <= set(proto.BAUD_RATES)
    for baud in proto.BAUD_RATES:
        assert _ClockSection(port="/dev/ttyACM0", baud=baud).baud == baud


def test_the_clock_rate_defaults_to_protocol_2s_and_rehearsal_benches_carry_it() -> None:
    from drivers.bench import _ClockSection
    from lab.emulator.wire.rehearsal import bench_document
    from lab.hal.calibration import Calibration

    assert _ClockSection(port="/dev/ttyACM0").baud == proto.BAUD == 1_000_000
    doc = bench_document(
        network="twin16", network_seed=0, n_nodes=8, resource="TCPIP::127.0.0.1::1::SOCKET",
        port="/dev/pts/9", calibration=Calibration([0.0, 5.0], [1.0, 0.0], "test"),
        bias_limits=(0.0, 5.0), channel_limits=(-1.0, 1.0),
    )  # fmt: skip
    assert doc["clock"]["baud"] == proto.BAUD


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ('name = "2003"', 'name = "2OO3"', "field 'channels', item {item}, entry 'name': "),
        ('channel = "9000"', 'channel = "9OOO"', "field 'bias.channel': "),
    ],
)
def test_a_mistyped_channel_name_fails_at_load_with_nothing_sent(
    tmp_path: Path, old: str, new: str, expect: str
) -> None:
    """A name the DAQ's dialect cannot have ("2OO3", letters O) used to pass the bench file
    and fail in the driver, a traceback after ``SOUR:VOLT`` was already sent."""
    from collections import deque

    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator, channel_names
    from tests.lab.cli.test_cli import run_cli

    emu = WireEmulator(EmulatorConfig(seed=0))
    emu.scpi.received = deque()  # every line the SCPI server is sent
    with emu:
        text = emu.bench_toml()
        assert text.count(old) == 1
        bench = tmp_path / "B.toml"
        bench.write_text(text.replace(old, new))
        out = tmp_path / "r.h5"
        code, _, err = run_cli("train", "--bench", str(bench), "--steps", "5", "--out", str(out))
        assert list(emu.scpi.received) == [] and emu.board.pulses == 0
        assert not emu.board.driven.any()
    item = channel_names(emu.board.network.n_nodes).index("2003") + 1
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"twinlab: error: {bench}: {expect.format(item=item)}"), err
    name = new.split('"')[1]
    assert f"channel {name!r} is not a channel of this model" in lines[0], err
    assert "(expected /[1-9][0-9]{0,3}/)" in lines[0], err
    assert not out.exists()


def test_channel_names_are_checked_in_the_dialect_the_file_names(tmp_path: Path) -> None:
    """The form is ``daq.dialect``'s: "1" and "9000" are emulator channels, not DAQ970A's;
    an unknown dialect is named too (it used to surface from the driver, after the checks)."""
    raw = _raw()
    raw["daq"]["dialect"] = "keysight-daq970a"
    with pytest.raises(ConfigError, match=r"field 'bias\.channel': .*expected /\[1-3\]"):
        open_bench(tmp_path / "b.toml", raw)
    raw["bias"]["channel"] = "104"
    with pytest.raises(ConfigError, match=r"field 'channels', item 1, entry 'name': .*'1'"):
        open_bench(tmp_path / "b.toml", raw)
    raw["daq"]["dialect"] = "keysight"
    with pytest.raises(ConfigError, match=r"field 'daq\.dialect': unknown SCPI dialect"):
        open_bench(tmp_path / "b.toml", raw)


def test_an_unknown_field_in_a_channel_entry_suggests_and_lists_the_entrys_fields(
    tmp_path: Path,
) -> None:
    """``[[channels]]`` with ``nmae``: the line named the bench file's root fields (did you
    mean 'channels'?) instead of the channel entry's."""
    raw = _raw()
    raw["channels"].append({"nmae": "2003", "twin": "free", "node": 3, "kind": "sense"})
    with pytest.raises(ConfigError) as info:
        open_bench(tmp_path / "b.toml", raw)
    line = str(info.value)
    assert "field 'channels', item 2, entry 'nmae': unknown field (did you mean 'name'?)" in (
        line
    ), line
    assert "allowed fields: name, twin, node, kind, limits, safe" in line, line
    assert "network" not in line, line
    raw["channels"][1] = {"name": "2003", "twin": "free", "node": 3, "kind": "sens"}
    with pytest.raises(ConfigError, match=r"field 'channels', item 2, entry 'kind': expected"):
        open_bench(tmp_path / "b.toml", raw)


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        (
            "limits = [-1.0, 6.0]",
            "limits = [-100, 100]",
            "field 'channels', item 1, entry 'limits': [-100, 100] V is wider than the "
            "DAQ's output range [-10, 10] V",
        ),
        (
            "limits = [0.0, 5.0]",
            "limits = [0, 50]",
            "field 'bias.limits': [0, 50] V is wider than the DAQ's output range [-10, 10] V",
        ),
    ],
    ids=["channel", "bias"],
)
@pytest.mark.parametrize("command", ["train", "check"])
def test_limits_wider_than_the_daqs_output_range_name_their_field_with_nothing_sent(
    tmp_path: Path, old: str, new: str, expect: str, command: str
) -> None:
    """The driver's ValueError (the model's output range) used to end ``train`` and
    ``check`` in a traceback, exit 1; the range is the dialect's, known before opening."""
    from collections import deque

    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator
    from tests.lab.cli.test_cli import run_cli

    emu = WireEmulator(EmulatorConfig(seed=0))
    emu.scpi.received = deque()  # every line the SCPI server is sent
    with emu:
        text = emu.bench_toml()
        assert old in text
        bench = tmp_path / "B.toml"
        bench.write_text(text.replace(old, new, 1))
        out = tmp_path / "r.h5"
        args = ["--out", str(out), "--steps", "5"] if command == "train" else []
        code, _, err = run_cli(command, "--bench", str(bench), *args)
        assert list(emu.scpi.received) == [] and emu.board.pulses == 0
        assert not emu.board.driven.any()
    assert code == 2, err
    assert err.strip().splitlines() == [f"twinlab: error: {bench}: {expect}"], err
    assert not out.exists()


@pytest.mark.parametrize("given", [{"limits": [-1.0, 6.0]}, {"safe": 0.0},
                                   {"limits": [0.0, 1.0], "safe": 0.5}])
def test_a_sense_channel_given_limits_or_a_safe_value_is_refused(
    tmp_path: Path, given: dict[str, Any]
) -> None:
    """An input is never written: its ``limits`` and ``safe`` were taken and ignored (a
    user trial wrote them believing they bounded the reads). Now one line naming the
    entry; a drive channel keeps both, and a sense entry without them opens."""
    raw = _raw()
    raw["channels"].append({"name": "2003", "twin": "free", "node": 3, "kind": "sense", **given})
    with pytest.raises(ConfigError) as info:
        open_bench(tmp_path / "b.toml", raw, validate_only=True)
    first = next(iter(given))
    assert str(info.value) == (
        f"{tmp_path / 'b.toml'}: field 'channels', item 2, entry {first!r}: channel '2003' "
        "is a sense channel (an analog input, never written), which takes no "
        + " or ".join(repr(k) for k in given) + ": remove it"
    )
    raw["channels"][1] = {"name": "2003", "twin": "free", "node": 3, "kind": "sense"}
    raw["channels"][0].update(limits=[-1.0, 6.0], safe=0.5)
    assert open_bench(tmp_path / "b.toml", raw, validate_only=True) is None
