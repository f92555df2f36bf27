"""The emulated DAQ's SCPI server through the real PyVISA stack (pyvisa-py over TCP).

The server must make the board calls `lab.emulator.backend` makes for the same HAL
calls, so the strongest test is a training run: the real drivers over the wire and
the in-process emulator, identically seeded, give the same record at every step.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import pyvisa
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.scpi.daq import ScpiBias, ScpiDAQ, ScpiProbe
from lab.acquire.records import Observer, StepRecord, TestRecord
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.emulator import EmulatedBoard, EmulatorConfig, emulator_bench
from lab.emulator.backend import EmulatedDAQ
from lab.emulator.wire.scpi_server import IDN, MAX_LINE, ScpiServer
from lab.hal import TWINS, Bench, BenchError, Channel, Unsafe
from lab.tasks import load_task

OK = '0,"No error"'
OFFSET = {("drive", "free"): 0, ("drive", "clamped"): 1000,
          ("sense", "free"): 2000, ("sense", "clamped"): 3000}  # fmt: skip


def ch(kind: str, twin: str, node: int) -> str:
    """The wire channel name of node ``node`` (1-based) of ``twin``."""
    return str(OFFSET[(kind, twin)] + node)


@pytest.fixture
def board() -> EmulatedBoard:
    return EmulatedBoard(EmulatorConfig(seed=3))


@pytest.fixture
def server(board: EmulatedBoard) -> Iterator[ScpiServer]:
    srv = ScpiServer(board).start()
    yield srv
    srv.close()


@pytest.fixture
def inst(server: ScpiServer) -> Iterator[pyvisa.resources.MessageBasedResource]:
    """A raw PyVISA session to the server."""
    rm = pyvisa.ResourceManager("@py")
    res = rm.open_resource(
        server.resource, timeout=1000, read_termination="\n", write_termination="\n"
    )
    yield res
    res.close()


def do(inst: pyvisa.resources.MessageBasedResource, command: str) -> None:
    """Send ``command`` and wait until the server has executed it (``*OPC?``)."""
    assert inst.query(command + ";*OPC?") == "1"


def test_identify_and_set_readback(board, server, inst) -> None:
    assert inst.query("*IDN?") == IDN
    do(inst, "SOUR:VOLT 1.0,-2.5,(@1,1005)")
    assert inst.query("SYST:ERR?") == OK
    dac = board.dac
    expected = dac.convert([1.0, -2.5])
    assert inst.query("SOUR:VOLT? (@1,1005)") == f"{expected[0]!r},{expected[1]!r}"
    assert board.applied[0, 0] == expected[0] and board.applied[1, 4] == expected[1]
    assert board.driven[0, 0] and board.driven[1, 4] and not board.driven[0, 4]
    do(inst, "SOUR:VOLT 0.75,(@2,3)")  # one value for every listed channel
    assert board.applied[0, 1] == board.applied[0, 2] == dac.convert([0.75])[0]
    do(inst, "sour:volt 2.5,(@9000)")  # case-insensitive; the bias through the DAC
    assert board.bias == dac.convert([2.5])[0]
    assert inst.query("SOUR:VOLT? (@9000);:SYST:ERR?") == f"{board.bias!r};{OK}"


def test_output_off_and_on(board, server, inst) -> None:
    do(inst, "SOUR:VOLT 1.5,2.5,(@4,9000)")
    set_bias = board.bias
    do(inst, "OUTP:STAT OFF,(@4,9000)")
    assert not board.driven[0, 3]
    assert board.bias == board.config.osc_high + 0.5  # released bias: no edge enabled
    do(inst, "OUTP:STAT ON,(@4,9000)")
    assert board.driven[0, 3] and board.applied[0, 3] == board.dac.convert([1.5])[0]
    assert board.bias == set_bias
    assert inst.query("SYST:ERR?") == OK


def test_measure_equals_the_in_process_daq(server, board) -> None:
    """Same calls on two identically seeded boards give bit-identical readings."""
    twin_board = EmulatedBoard(EmulatorConfig(seed=3))
    local = EmulatedDAQ(twin_board)
    wire = ScpiDAQ(server.resource, timeout_ms=1000)

    def both(op: str, specs: list[tuple[str, str, int]], volts: list[float] | None = None):
        names = [f"{'ao' if k == 'drive' else 'ai'}.{t}.{n}" for k, t, n in specs]
        chans = [ch(k, t, n) for k, t, n in specs]
        if op == "write":
            local.write(names, np.array(volts))
            wire.write(chans, np.array(volts))
        elif op == "release":
            local.release(names)
            wire.release(chans)
        else:
            a, b = local.read(names), wire.read(chans)
            np.testing.assert_array_equal(a, b)
            return a

    both("write", [("drive", "free", 1), ("drive", "free", 9)], [1.0, 0.0])
    both("write", [("drive", "clamped", 1), ("drive", "clamped", 9)], [1.0, 0.0])
    first = both("read", [("sense", "free", 5), ("sense", "free", 7)])
    assert np.all(first != 0.0)  # the network really conducts
    both("write", [("drive", "clamped", 5), ("drive", "free", 3), ("drive", "clamped", 7)],
         [0.4, 0.2, 0.3])  # fmt: skip
    both("release", [("drive", "free", 3)])
    for _ in range(3):  # noise and settling advance identically
        both("read", [("sense", "clamped", 5), ("sense", "free", 5), ("sense", "clamped", 6)])
    with server.lock:
        board.clock_edge()
    twin_board.clock_edge()
    both("read", [("sense", "free", 5), ("sense", "free", 7)])
    np.testing.assert_array_equal(board.codes, twin_board.codes)
    wire.close()


@pytest.fixture(scope="module")
def ideal_wire() -> Iterator[tuple[EmulatedBoard, ScpiDAQ]]:
    """A board with an ideal DAC (no quantisation) behind a server, and a driver to it."""
    board = EmulatedBoard(EmulatorConfig.ideal(seed=0))
    with ScpiServer(board) as srv:
        daq = ScpiDAQ(srv.resource, timeout_ms=1000)
        yield board, daq
        daq.close()


@settings(max_examples=200, deadline=None)
@given(st.floats(-10.0, 10.0, allow_nan=False), st.floats(-10.0, 10.0, allow_nan=False))
def test_written_volts_arrive_bit_exact(ideal_wire, a: float, b: float) -> None:
    """repr formatting: the board sees exactly the floats the driver was given."""
    board, daq = ideal_wire
    daq.write(("7", "1002"), np.array([a, b]))
    assert board.applied[0, 6] == a and board.applied[1, 1] == b
    assert daq.read_set(("7", "1002")).tolist() == [a, b]


def test_error_queue(board, server, inst) -> None:
    before = board.applied.copy()
    do(inst, "SOUR:VOLT 1.0,12.0,(@1,5)")  # one bad value: nothing of it is applied
    np.testing.assert_array_equal(board.applied, before)
    assert not board.driven.any()
    do(inst, "SOUR:VOLT 1.0,(@2003)")
    do(inst, "FOO 1")
    do(inst, "SOUR:VOLT one,(@1)")
    do(inst, "SOUR:VOLT 1.0,2.0,(@1)")
    do(inst, "MEAS:VOLT:DC? (@17)")
    assert inst.query("SYST:ERR?") == '-222,"Data out of range; channel 5: 12.0 V"'
    assert inst.query("SYST:ERR?").startswith('-221,"Settings conflict; channel 2003')
    assert inst.query("SYST:ERR?") == '-113,"Undefined header; FOO"'
    assert inst.query("SYST:ERR?").startswith('-104,"Data type error')
    assert inst.query("SYST:ERR?").startswith('-108,"Parameter not allowed')
    assert inst.query("SYST:ERR?") == '-224,"Illegal parameter value; no channel 17"'
    assert inst.query("SYST:ERR?") == OK
    server.inject_error(-350, "Queue overflow")
    do(inst, "*CLS")
    assert inst.query("SYST:ERR?") == OK
    server.inject_error(-100, "Command error")
    do(inst, "SOUR:VOLT 1.0,(@1)")
    do(inst, "*RST")  # outputs off at 0 V, queue cleared
    assert not board.driven.any() and not board.applied.any()
    assert board.bias == board.config.osc_high + 0.5
    assert inst.query("SYST:ERR?") == OK


def test_queries_and_errors_in_one_message(board, server, inst) -> None:
    reply = inst.query("SOUR:VOLT 0.5,(@1);:SOUR:VOLT? (@1);BAD?;*IDN?;:SYST:ERR?;SYST:ERR?")
    v = board.dac.convert([0.5])[0]
    assert reply == f'{v!r};{IDN};-113,"Undefined header; BAD?";{OK}'


def test_malformed_input_never_takes_the_server_down(board, server, inst) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        for junk in (
            b"\xff\xfe\x00\n",
            b";;;\n",
            b":\n",
            b"MEAS:VOLT:DC? (@\n",
            b"MEAS:VOLT:DC? (@2001:99999999)\n",
            b"OUTP:STAT MAYBE,(@1)\n",
            b"SOUR:VOLT 1e999,(@1)\n",
            b"SOUR:VOLT nan,(@1)\n",
            b"*IDN? extra\n",
            b"x" * (1 << 21),  # over a megabyte without a newline
            b"\n",
        ):
            raw.sendall(junk)
        raw.sendall(b"*IDN?\n")
        raw.settimeout(5)
        assert raw.recv(100) == IDN.encode() + b"\n"
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(b"SOUR:VOLT 1.0,(@1)")  # gone mid-line
    errors = []
    while (e := inst.query("SYST:ERR?")) != OK:
        errors.append(int(e.split(",")[0]))
    assert -223 in errors and -113 in errors and -104 in errors and -222 in errors
    assert not board.driven.any()
    assert inst.query("*IDN?") == IDN


def test_stall_times_out_the_driver_then_the_server_is_usable(board, server) -> None:
    daq = ScpiDAQ(server.resource, timeout_ms=200, name="wire DAQ")
    daq.write(("1", "9"), np.array([1.0, 0.0]))
    server.stall(1.0)
    t0 = time.perf_counter()
    with pytest.raises(BenchError, match=r"wire DAQ .* timed out after 200 ms"):
        daq.read(("2005",))
    assert time.perf_counter() - t0 < 0.9
    value = daq.read(("2005",))  # a new connection: the late reply cannot answer this
    assert 0.0 < value[0] < 1.0
    assert daq.read_set(("1",)).tolist() == [board.dac.convert([1.0])[0]]
    daq.close()


def test_probe_after_clock_edges(board, server) -> None:
    daq = ScpiDAQ(server.resource, timeout_ms=1000)
    probe = ScpiProbe(daq, n_edges=board.network.n_edges)
    bias = ScpiBias(daq, "9000", limits=(0.0, 5.0), safe=5.0)
    assert probe.last_update() is None
    daq.write(("1", "9", "1001", "1009", "1005"), np.array([1.0, 0.0, 1.0, 0.0, 0.9]))
    bias.set_volts(0.1)  # below every oscillator: every edge enabled
    moved = False
    for _ in range(5):
        with server.lock:
            board.clock_edge()
        mask, direction = probe.last_update()
        np.testing.assert_array_equal(mask, board.last_mask)
        np.testing.assert_array_equal(direction, board.last_direction)
        np.testing.assert_array_equal(probe.positions(), board.codes)
        moved |= bool(np.any(board.codes != 64))
    assert mask.all() and moved
    bias.safe_state()
    daq.close()


def test_emul_safe(board, server, inst) -> None:
    do(inst, "SOUR:VOLT 1.0,0.5,1.0,(@1,1003,9000)")
    assert board.driven.any() and board.bias < 2
    do(inst, "EMUL:SAFE")
    assert inst.query("SYST:ERR?") == OK
    assert not board.driven.any() and not board.applied.any()
    assert board.bias == board.config.osc_high + 0.5


def test_many_sequential_clients(board, server) -> None:
    for i in range(20):
        daq = ScpiDAQ(server.resource, timeout_ms=1000)
        daq.write((str(1 + i % 9),), np.array([0.01 * i]))
        daq.close()
    assert board.driven[0].sum() == 9
    deadline = time.monotonic() + 2
    while server.wire.clients and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.wire.clients  # every handler saw its client go and ended


def test_close_joins_with_a_client_connected(board) -> None:
    server = ScpiServer(board).start()
    port = server.port
    daq = ScpiDAQ(server.resource, timeout_ms=300)
    assert daq.read(("2001",)).shape == (1,)
    mine = [t for t in threading.enumerate() if t.name.endswith(f"-{port}")]
    assert len(mine) == 2  # the accept loop and the client's handler
    t0 = time.perf_counter()
    server.close()
    assert time.perf_counter() - t0 < 1.0  # no waiting for the client to go
    assert not any(t.is_alive() for t in mine)
    with pytest.raises(BenchError):
        daq.read(("2001",))
    daq.close()
    server.close()  # idempotent
    again = ScpiServer(board, port=port).start()  # the port is free again at once
    assert again.port == port
    again.close()


# -- the equivalence of a training run over the wire and in process ------------------------
class Collect(Observer):
    """Copies of every step and test record, and the board's state at every step."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board
        self.steps: list[StepRecord] = []
        self.tests: list[TestRecord] = []
        self.states: list[tuple[float, np.ndarray, np.ndarray, int, int]] = []

    def step(self, r: StepRecord) -> None:
        b = self.board  # safe to read: the trainer waits for every reply
        self.states.append((b.bias, b.applied.copy(), b.driven.copy(), b.pulses, b.noise._pos))
        self.steps.append(
            StepRecord(r.step, r.time, r.example, r.inputs.copy(), r.v_free.copy(),
                       r.v_clamped.copy(), r.v_desired.copy(), r.error, r.positions.copy(),
                       None if r.update_mask is None else r.update_mask.copy(),
                       None if r.direction is None else r.direction.copy())
        )  # fmt: skip

    def test(self, r: TestRecord) -> None:
        self.tests.append(r)


class LockedClock:
    """A clock board that pulses the emulated board in process, under the server's lock."""

    def __init__(self, board: EmulatedBoard, lock: threading.Lock) -> None:
        self.board, self.lock = board, lock

    def identify(self) -> str:
        return "test clock"

    def pulse(self, n: int = 1) -> None:
        with self.lock:
            for _ in range(n):
                self.board.clock_edge()

    def safe_state(self) -> list[Unsafe]:
        return []

    def close(self) -> None:
        pass


def wire_bench(board: EmulatedBoard, server: ScpiServer, limits=(-1.0, 6.0)) -> Bench:
    """The real drivers over the wire, wired like `emulator_bench`."""
    cfg = board.config
    channels = [
        Channel(ch(kind, twin, node), twin, node, kind,
                limits=limits if kind == "drive" else (-10.0, 10.0), safe=0.0)
        for twin in TWINS
        for node in range(1, board.network.n_nodes + 1)
        for kind in ("drive", "sense")
    ]  # fmt: skip
    bias_limits = (min(0.0, float(board.calibration().bias[0])), cfg.osc_high + 0.5)
    drives = [c for c in channels if c.kind == "drive"]
    daq = ScpiDAQ(
        server.resource,
        limits={c.name: c.limits for c in drives} | {"9000": bias_limits},
        safe={c.name: c.safe for c in drives},  # the bias's safe state is ScpiBias's
        timeout_ms=2000,
    )
    return Bench(
        network=board.network,
        daq=daq,
        bias=ScpiBias(daq, "9000", limits=bias_limits, safe=bias_limits[1]),
        clock=LockedClock(board, server.lock),
        channels=channels,
        calibration=board.calibration(),
        probe=ScpiProbe(daq, n_edges=board.network.n_edges),
        bias_limits=bias_limits,
    )


def test_training_over_the_wire_equals_in_process() -> None:
    """Same seed, same task: identical codes and update masks at every step, and the
    same voltages (bit-identical, since every number travels as repr(float))."""
    config = EmulatorConfig(seed=11)
    settings_ = settings_from(task="ii", steps=300, p=0.5, test_every=100)
    task = load_task("ii")

    local_bench = emulator_bench(config)
    local = Collect(local_bench.probe.board)
    Trainer(local_bench, task, settings_, [local]).run()

    board = EmulatedBoard(config)
    server = ScpiServer(board).start()
    bench = wire_bench(board, server)
    wire = Collect(board)
    t0 = time.perf_counter()
    summary = Trainer(bench, task, settings_, [wire]).run()
    elapsed = time.perf_counter() - t0
    bench.close()
    server.close()
    print(f"wire run: {len(wire.steps) / elapsed:.0f} steps/s")

    assert summary.complete and len(wire.steps) == len(local.steps) == 300
    assert len(wire.tests) == len(local.tests) == 4
    moved = sum(int(np.any(r.update_mask)) for r in wire.steps)
    assert moved > 200  # the run really learned something at p = 0.5
    for a, b in zip(local.steps, wire.steps, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions, err_msg=f"step {a.step}")
        np.testing.assert_array_equal(a.update_mask, b.update_mask, err_msg=f"step {a.step}")
        np.testing.assert_array_equal(a.direction, b.direction, err_msg=f"step {a.step}")
        np.testing.assert_array_equal(b.v_free, a.v_free)  # bit-identical, not just close
        np.testing.assert_array_equal(b.v_clamped, a.v_clamped)
        assert a.error == b.error
        assert a.positions.dtype == b.positions.dtype
    for (bias, applied, driven, pulses, drawn), (bias_, applied_, driven_, pulses_, drawn_) in zip(
        local.states, wire.states, strict=True
    ):  # the boards saw the same calls: same bias, outputs, pulses and noise draws
        assert bias == bias_ and pulses == pulses_ and drawn == drawn_
        np.testing.assert_array_equal(applied, applied_)
        np.testing.assert_array_equal(driven, driven_)
    for a, b in zip(local.tests, wire.tests, strict=True):
        np.testing.assert_array_equal(b.v_free, a.v_free)
    assert local.steps[-1].positions.tolist() != [64] * 16


def test_wire_safe_state_matches_in_process_safety(board, server) -> None:
    """After the wire bench's safe state nothing is driven and no edge can update."""
    bench = wire_bench(board, server)
    bench.set_probability(1.0)
    bench.drive("free", (1, 9), np.array([1.0, 0.0]))
    assert bench.safe_state() == []
    assert not board.driven.any()
    assert board.bias > board.oscillators.high.max()  # held above every oscillator
    for _ in range(50):
        board.clock_edge()
        assert not board.last_mask.any()
    bench.close()


# -- bounds: a client cannot make the server allocate much ----------------------------------
def rss_bytes() -> int:
    """Resident set size of this process (the server runs in it), bytes (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def ask(raw: socket.socket, line: bytes) -> bytes:
    """Send ``line`` and read one answer line."""
    raw.sendall(line)
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = raw.recv(4096)
        assert chunk, "the server closed the connection"
        answer += chunk
    return answer


# 48 kB asking for 4800 ranges of 10001 channels each (48 million): 2.5 GB when expanded
HUGE = b"SOUR:VOLT 0.0,(@" + b",".join([b"1:10001"] * 6000) + b")"


def test_an_over_long_line_gets_an_error_not_memory(board, server) -> None:
    assert len(HUGE) > 48_000 > MAX_LINE
    before = rss_bytes()
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.settimeout(10)
        error = ask(raw, HUGE + b"\nSYST:ERR?\n")
        assert error == f'-223,"Too much data; line longer than {MAX_LINE} bytes"\n'.encode()
        raw.sendall(HUGE * 20)  # a megabyte that never ends: discarded as it arrives
        error = ask(raw, b"\nSYST:ERR?\n")
        assert error.startswith(b"-223,")
        assert ask(raw, b"SYST:ERR?\n") == OK.encode() + b"\n"  # one error per long line
        assert ask(raw, b"*IDN?\n") == IDN.encode() + b"\n"  # and the connection still works
    assert not board.driven.any()
    assert rss_bytes() - before < 50 * 2**20  # sanity bound only; the replies are the test


def test_a_channel_range_beyond_the_board_is_refused_before_it_is_built(board, server, inst):
    most = server.max_channels
    assert most == 4 * board.network.n_nodes + 1
    for chs in ("1:10001", "1:9,1:9,1:9,1:9,1:9,1:9,1:9,1:9", "2001:99999999"):
        assert inst.query(f"SOUR:VOLT? (@{chs});:SYST:ERR?") == (
            f'-223,"Too much data; channel list of more than {most} channels"'
        )
    n = board.network.n_nodes
    assert len(inst.query(f"SOUR:VOLT? (@1:{n})").split(",")) == n  # a range the board has
    assert inst.query("SYST:ERR?") == OK


def test_refuse_and_stick_faults(board, server, inst) -> None:
    server.refuse(5)
    do(inst, "SOUR:VOLT 1.0,1.0,(@4,5)")
    assert inst.query("SYST:ERR?").startswith('-221,"Settings conflict; channel 5')
    assert not board.driven.any()  # nothing of a refused command is applied
    server.stick(4, 2.5)
    do(inst, "SOUR:VOLT 1.0,(@4)")
    assert inst.query("SOUR:VOLT? (@4,3)") == f"2.5,{float(board.applied[0, 2])!r}"
