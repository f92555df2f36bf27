"""One emulated board served over the real wire protocols, for rehearsing a bench.

`WireEmulator` puts an `EmulatedBoard` behind a SCPI server on 127.0.0.1 (the DAQ and
the bias channel, as pyvisa-py opens ``TCPIP::127.0.0.1::PORT::SOCKET``) and a clock
board on a pseudo-terminal (the path pyserial opens). Both share the board and one
lock, so commands reach the board in the order the host sends them. `bench_toml` is
a bench file for the real drivers that matches this emulator.

``firmware="simavr"``: the clock board is the real firmware (firmware/twin_clock under
simavr, `FirmwareBoard`) instead of the Python one (`SerialBoard`); every rising edge
on its clock pin is one update of the board.

Honest by default: the bench file has no ``[probe]`` table and the server no read-back
of the codes (``EMUL:POS?``/``EMUL:UPD?``), as on a real bench, unless ``probe=True``.
``truth=PATH`` records every pulse's codes, updates and directions for scoring
(`lab.emulator.truth.TruthWriter`); ``faults=[...]`` wires in bring-up faults
(`lab.emulator.faults`: channel faults in the SCPI front end, edge faults in the board).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.emulator.board import EmulatedBoard
from lab.emulator.config import EmulatorConfig
from lab.emulator.faults import Fault, parse_faults
from lab.emulator.wire.scpi_server import BIAS_CHANNEL, OFFSETS, ScpiServer
from lab.emulator.wire.serial_board import SerialBoard
from lab.hal import TWINS
from lab.hal.calibration import Calibration, toml_text
from lab.hal.clock_protocol import BAUD as CLOCK_BAUD
from lab.hal.currents import DEFAULT_CHANNEL, DEFAULT_EDGE

if TYPE_CHECKING:
    from lab.emulator.truth import TruthWriter
    from lab.emulator.wire.firmware_board import FirmwareBoard

#: the clock boards `WireEmulator` can serve: the Python protocol, or the firmware in simavr
FIRMWARES = ("python", "simavr")
#: simavr: the simulated bootloader plus harness start-up, and a round trip (~3-5 ms)
SIMAVR_READY_TIMEOUT, SIMAVR_REPLY_TIMEOUT = 5.0, 2.0
_BENCH_HEAD = """Bench for `twinlab emulate` (written by it): the real drivers over loopback.
{probe}
bias.safe is the top of bias.limits: at rest the bias enables no edge's update (p = 0).
Drive channels: limits and safe value, V. Sense channels (inputs, never written): neither.
[currents]: A (edge: through any digipot; channel: out of any drive channel).
[calibration]: p against bias, V (the emulator's oscillator model)."""


def bench_comment(probe: bool = False) -> str:
    """The head comment of a bench file `twinlab emulate` writes (``probe``: with ``--probe``)."""
    line = ("[probe]: the emulator reads its codes back (a real bench has no such probe)."
            if probe else
            "No probe table (no code read-back), as on a real bench: codes are estimated.")
    return _BENCH_HEAD.format(probe=line)


BENCH_COMMENT = bench_comment()
#: the DAQ dialect of the bench file `WireEmulator` writes: only the emulator speaks it (a
#: DAQ that does not identify as one is refused), so it marks a rehearsal bench
EMULATE_DIALECT = "twinlab-emulator"


def is_emulate_bench(document: dict[str, Any]) -> bool:
    """Is ``document`` (a bench file as ``tomllib`` reads it) a `twinlab emulate` bench,
    one whose "power cycle" is restarting ``twinlab emulate``? (Its DAQ's dialect.)"""
    daq = document.get("daq")
    return (document.get("kind") == "instruments" and isinstance(daq, dict)
            and daq.get("dialect") == EMULATE_DIALECT)


class WireEmulator:
    """An emulated board behind a SCPI server and a pty clock board.

    ``firmware``: "python" (`SerialBoard`, ``pace`` applies) or "simavr" (`FirmwareBoard`:
    the real firmware, built with ``make -C firmware`` if needed; ``firmware_options``
    go to it, e.g. ``elf=``, ``harness=``, ``build=``). Either way ``serial`` is the clock
    board, with the pty a host opens at ``serial.path``.

    ``probe``: the bench file has a ``[probe]`` table and the server answers the codes
    (default False: like a real bench). ``faults``: specs or `Fault` s
    (`lab.emulator.faults`). ``truth``: a new HDF5 file recording every pulse
    (`lab.emulator.truth`). Bad faults or truth path: `ConfigError` before anything opens.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        scpi_port: int = 0,
        pace: bool = False,
        firmware: str = "python",
        firmware_options: dict[str, Any] | None = None,
        probe: bool = False,
        faults: Sequence[str | Fault] = (),
        truth: str | Path | None = None,
    ) -> None:
        if firmware not in FIRMWARES:
            raise ValueError(f"firmware = {firmware!r}: expected one of {', '.join(FIRMWARES)}")
        self.firmware = firmware
        self.probe = bool(probe)
        self.board = board = EmulatedBoard(config)
        names = channel_names(board.network.n_nodes)
        self.faults = parse_faults(faults, names, board.network.edge_labels())
        if truth is not None:
            from lab.emulator.truth import check_truth_path

            check_truth_path(truth)  # before a port is bound
        for fault in self.faults:
            if fault.kind == "stuck-edge":
                board.stick_edge(fault.edge)
            elif fault.kind == "open-edge":
                board.open_edge(fault.edge)
        self.lock = threading.Lock()
        self.scpi = ScpiServer(board, port=scpi_port, lock=self.lock, readback=self.probe,
                               faults=self.faults)  # fmt: skip
        self.serial: SerialBoard | FirmwareBoard
        if firmware == "simavr":
            from lab.emulator.wire.firmware_board import FirmwareBoard

            self.serial = FirmwareBoard(self.board, self.lock, **(firmware_options or {}))
        else:
            self.serial = SerialBoard(self.board, lock=self.lock, pace=pace)
        self.truth: TruthWriter | None = None
        if truth is not None:
            from lab.emulator.truth import TruthWriter

            try:
                self.truth = TruthWriter(board, truth, tuple(f.spec for f in self.faults))
            except BaseException:
                self.close()
                raise

    def start(self) -> WireEmulator:
        try:
            self.scpi.start()
            self.serial.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop both front ends, then close the truth file, intact (idempotent)."""
        for front in (self.serial, self.scpi):
            try:
                front.close()
            except Exception:  # closing one must not keep the other open
                pass
        if self.truth is not None:
            self.truth.close()

    def __enter__(self) -> WireEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bench_data(self, limits: tuple[float, float] = (-1.0, 6.0)) -> dict[str, Any]:
        """The bench file `bench_toml` writes, as the dict ``tomllib`` reads back from it."""
        board = self.board
        cal = board.calibration()
        timeouts = {}  # the Python board answers at once; the driver's defaults do
        if self.firmware == "simavr":  # the simulated bootloader and UART take real time
            timeouts = {"ready_timeout": SIMAVR_READY_TIMEOUT,
                        "reply_timeout": SIMAVR_REPLY_TIMEOUT}  # fmt: skip
        return bench_document(
            network=board.network.name,
            network_seed=board.config.seed,
            n_nodes=board.network.n_nodes,
            resource=self.scpi.resource,
            port=self.serial.path,
            calibration=cal,
            bias_limits=(min(0.0, float(cal.bias[0])), board.config.osc_high + 0.5),
            channel_limits=limits,
            clock_timeouts=timeouts,
            probe=self.probe,
            rule=board.config.rule,
        )

    def bench_toml(self, limits: tuple[float, float] = (-1.0, 6.0)) -> str:
        """A bench file for the real drivers, wired to every node of both twins."""
        return toml_text(self.bench_data(limits),
                         bench_comment(bool(self.probe)))

    def write_bench(self, path: str | Path, **kwargs: float) -> Path:
        path = Path(path)
        path.write_text(self.bench_toml(**kwargs), encoding="utf-8")
        return path


def bench_document(
    *,
    network: str,
    network_seed: int,
    n_nodes: int,
    resource: str,
    port: str,
    calibration: Calibration,
    bias_limits: tuple[float, float],
    channel_limits: tuple[float, float],
    clock_timeouts: dict[str, float] | None = None,
    probe: bool = False,
    rule: str = "voltage",
) -> dict[str, Any]:
    """An "instruments" bench file (as a dict) for the real drivers talking to a
    `WireEmulator`: the VISA ``resource`` of its SCPI server, the serial ``port`` of its
    clock board, its ``calibration``, a drive and a sense channel on each of ``n_nodes``
    nodes of both twins (the server's numbering, `OFFSETS`) with ``channel_limits`` V,
    the bias on `BIAS_CHANNEL` with ``bias_limits`` V (safe at the top: p = 0); a
    ``[probe]`` table (the emulator's code read-back) only with ``probe``; ``rule`` the
    board's comparison (`lab.core.rules.RULES`), written only when not "voltage"."""
    channels = [
        {
            "name": channel_name(offset, node),
            "twin": TWINS[twin_index],
            "node": node,
            "kind": kind,
            # an input is never written: no limits, no safe value
            **({"limits": [float(v) for v in channel_limits], "safe": 0.0}
               if kind == "drive" else {}),
        }
        for (kind, twin_index), offset in OFFSETS.items()
        for node in range(1, n_nodes + 1)
    ]
    document: dict[str, Any] = {
        "kind": "instruments",
        "network": network,
        "network_seed": int(network_seed),
        "daq": {"resource": resource, "dialect": EMULATE_DIALECT, "timeout_ms": 2000},
        "bias": {
            "channel": str(BIAS_CHANNEL),
            "limits": [float(v) for v in bias_limits],
            "safe": float(bias_limits[1]),
        },
        "clock": {"port": port, "baud": CLOCK_BAUD, **(clock_timeouts or {})},
        "probe": {"kind": "emulator"},
        "calibration": {
            "source": calibration.source,
            "bias": calibration.bias.tolist(),
            "p": calibration.p.tolist(),
        },
        "channels": channels,
        "currents": {"edge": DEFAULT_EDGE, "channel": DEFAULT_CHANNEL},
    }
    if not probe:
        del document["probe"]
    if rule != "voltage":
        document["rule"] = rule
    return document


def channel_name(offset: int, node: int) -> str:
    """The bench file's name of the channel of 1-based ``node`` at ``offset`` (`OFFSETS`):
    the server's channel number, e.g. "2003" senses node 3 of the free twin."""
    return str(offset + node)


def channel_names(n_nodes: int) -> list[str]:
    """Every node channel name of a `WireEmulator` bench with ``n_nodes`` nodes."""
    return [channel_name(o, n) for o in OFFSETS.values() for n in range(1, n_nodes + 1)]
