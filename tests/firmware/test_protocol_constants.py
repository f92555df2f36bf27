"""lab.hal.clock_protocol against firmware/PROTOCOL.md: the constants are the document's."""

from __future__ import annotations

import re
from pathlib import Path

from lab.hal import clock_protocol as proto

DOC = (Path(__file__).resolve().parents[2] / "firmware" / "PROTOCOL.md").read_text()


def _number(text: str) -> int:
    return int(text.replace(" ", "").replace("_", ""))


def _range(arg: str) -> tuple[str, str]:
    """(low, high) text of the argument-range table row for ``arg``."""
    m = re.search(rf"^\| {re.escape(arg)} \| (.+?) to ([\d ]+) \|$", DOC, re.M)
    assert m, f"no range row for {arg} in PROTOCOL.md"
    return m.group(1), m.group(2)


def test_version_baud_line_and_banner() -> None:
    assert re.search(rf"protocol version \*\*{proto.PROTOCOL_VERSION}\*\*", DOC)
    assert f"# Clock-board serial protocol, version {proto.PROTOCOL_VERSION}" in DOC
    assert f"- {proto.BAUD} baud" in DOC
    assert f"| {proto.BAUD_V1} baud (UBRR0 = 16" in DOC  # the rate an old board is probed at
    assert f"at most **{proto.MAX_LINE} characters**" in DOC
    assert f"from 0 to {proto.TAG_MAX}" in DOC
    banner = proto.BANNER_FORMAT.format(fw="<firmware version>", proto=proto.PROTOCOL_VERSION)
    assert f"    {banner}\n" in DOC
    assert re.fullmatch(proto.BANNER_PATTERN, banner.replace("<firmware version>", "1.0").encode())
    assert f"`OK {proto.IDN_PREFIX},<serial>,<firmware version>,<build>`" in DOC
    assert f"`VER?` | `OK {proto.PROTOCOL_VERSION}`" in DOC


def test_commands_and_states() -> None:
    table = re.findall(r"^\| `([^`< ]+)[^`]*` \| `(OK|ERR)", DOC, re.M)
    assert {word for word, _ in table} == set(proto.COMMANDS)
    assert {proto.OK, proto.ERR} >= {reply for _, reply in table}
    m = re.search(r"During a burst the board answers only `(\S+)`, `(\S+)` and `(\S+)`", DOC)
    assert m and set(m.groups()) == set(proto.ALLOWED_IN_BURST)
    states = {proto.STATE_IDLE, proto.STATE_BURST, proto.STATE_SAFE}
    assert "state=<" + r"\|".join(sorted(states, key=DOC.index)) + ">" in DOC
    fields = re.search(r"`OK (pulses=.*?)` \| status", DOC)
    assert fields
    assert tuple(f.split("=")[0] for f in fields.group(1).split()) == proto.STATUS_FIELDS


def test_argument_ranges_and_defaults() -> None:
    assert _range("`n`") == (str(proto.N_MIN), f"{proto.N_MAX:,}".replace(",", " "))
    low, high = _range("`width_us`")
    assert (_number(low), _number(high)) == (proto.WIDTH_MIN_US, proto.WIDTH_MAX_US)
    low, high = _range("`period_us`")
    assert low == f"`width_us + {proto.PERIOD_GAP_US}`"
    assert _number(high) == proto.PERIOD_MAX_US
    low, high = _range("watchdog `ms`")
    assert (_number(low), _number(high)) == (0, proto.WDT_MAX_MS)
    assert proto.PERIOD_MIN_US == proto.WIDTH_MIN_US + proto.PERIOD_GAP_US
    assert (
        f"Defaults: width {proto.DEFAULT_WIDTH_US} us, period {proto.DEFAULT_PERIOD_US} us" in DOC
    )


def test_error_codes() -> None:
    rows = dict(re.findall(r"^\| (\d) \| `([a-z ]+)(?: <k>)?` \|", DOC, re.M))
    assert {int(code): text for code, text in rows.items()} == proto.ERR_TEXT
    named = {
        proto.ERR_UNKNOWN: "unknown command",
        proto.ERR_ARG: "bad argument",
        proto.ERR_LONG: "line too long",
        proto.ERR_BUSY: "busy",
        proto.ERR_WATCHDOG: "watchdog",
        proto.ERR_ABORTED: "aborted",
    }
    assert {int(code): text for code, text in rows.items()} == named
