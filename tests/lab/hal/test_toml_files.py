"""The TOML files twinlab writes (calibration files, the emulator's bench file) read back
as the values written, whatever the strings hold: newlines, quotes, backslashes, control
characters, unicode, ``]]``, ``#``, TOML's own quote sequences."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.emulator.wire.rehearsal import BENCH_COMMENT, bench_document
from lab.hal.calibration import Calibration, read_calibration, toml_text, write_calibration

#: pieces that break a hand-written writer: TOML's escapes and delimiters, every ASCII
#: control character, line and byte-order separators
NASTY = ["\n", "\r\n", "\r", '"', "\\", "\\n", "'", '"""', "'''", "]]", "[[", "#", "=", "\t",
         "\u2028", "\ufeff", "\x7f", "\u00e9", "\U0001f600", *map(chr, range(0x20))]  # fmt: skip
hostile = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=4)), max_size=8).map(
    "".join
)
finite = st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def calibrations(draw) -> Calibration:
    bias = sorted(draw(st.sets(finite, min_size=2, max_size=12)))
    p = sorted(draw(st.lists(st.floats(0, 1), min_size=len(bias), max_size=len(bias))))
    return Calibration(np.array(bias), np.array(p[::-1]), draw(hostile))


extras = st.dictionaries(
    hostile.filter(lambda k: k not in ("source", "bias", "p")),
    st.one_of(hostile, finite, st.integers(-(2**63), 2**63 - 1), st.booleans(),
              st.lists(finite, max_size=4), st.lists(hostile, max_size=3)),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(calibrations(), extras)
def test_calibration_file_reads_back_every_value_written(tmp_path_factory, cal, extra) -> None:
    path = write_calibration(tmp_path_factory.mktemp("cal") / "c.toml", cal, **extra)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data == {"source": cal.source, **extra, "bias": cal.bias.tolist(), "p": cal.p.tolist()}
    back = read_calibration(path)
    assert back.source == cal.source
    assert back.bias.tolist() == cal.bias.tolist() and back.p.tolist() == cal.p.tolist()


@settings(max_examples=150, deadline=None)
@given(hostile, hostile, hostile, calibrations(), st.integers(0, 2**63 - 1),
       st.tuples(finite, finite), st.integers(1, 3))  # fmt: skip
def test_bench_file_reads_back_every_value_written(
    network, resource, port, cal, seed, limits, n_nodes
) -> None:
    doc = bench_document(
        network=network, network_seed=seed, n_nodes=n_nodes, resource=resource, port=port,
        calibration=cal, bias_limits=(0.0, 5.0), channel_limits=limits,
        clock_timeouts={"reply_timeout": 2.0},
    )  # fmt: skip
    text = toml_text(doc, BENCH_COMMENT)
    assert text.startswith("# Bench for")
    back = tomllib.loads(text)
    assert back == doc
    assert back["network"] == network and back["daq"]["resource"] == resource
    assert back["clock"]["port"] == port and back["calibration"]["source"] == cal.source
    assert len(back["channels"]) == 4 * n_nodes


def test_a_comment_of_several_lines_stays_a_comment() -> None:
    text = toml_text({"a": "x"}, "one\ntwo")
    assert text.splitlines()[:2] == ["# one", "# two"] and tomllib.loads(text) == {"a": "x"}


def test_emulator_bench_file_is_its_bench_data(tmp_path: Path) -> None:
    """The file `twinlab emulate --write-bench` writes parses to the dict the emulator
    describes itself with: its live resource, pty and calibration, 4 channels a node."""
    from lab.emulator import EmulatorConfig
    from lab.emulator.wire.rehearsal import WireEmulator

    with WireEmulator(EmulatorConfig(seed=1)) as emu:
        path = emu.write_bench(tmp_path / "wire.toml")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert data == emu.bench_data()
        assert data["daq"]["resource"] == emu.scpi.resource
        assert data["clock"]["port"] == emu.serial.path
        assert data["calibration"]["p"] == emu.board.calibration().p.tolist()
        assert len(data["channels"]) == 4 * emu.board.network.n_nodes


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-(2**63), 2**63 - 1)),
                max_size=300), hostile)  # fmt: skip
def test_arrays_of_numbers_are_wrapped_on_few_lines_and_read_back(values, text) -> None:
    """Numbers are written several to a line (tomli_w: one a line; a 200-point calibration
    made the emulator's bench file 830 lines long), strings beside them untouched."""
    doc = {"t": {"values": values, "names": [text] * 3, "pair": [-1.0, 6.0]}}
    written = toml_text(doc)
    back = tomllib.loads(written)["t"]
    assert np.array_equal(np.array(back["values"], dtype=float),
                          np.array(values, dtype=float), equal_nan=True)
    assert [type(v) for v in back["values"]] == [type(v) for v in values]
    assert back["names"] == [text] * 3 and "pair = [-1.0, 6.0]\n" in written
    number_lines = [ln for ln in written.splitlines() if ln.startswith("    ") and '"' not in ln]
    assert all(len(ln) <= 88 or ln.count(",") == 1 for ln in number_lines)
    assert written.count("\n") <= 20 + len(values) // 3
