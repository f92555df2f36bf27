"""One emulated board served over the real wire protocols, for rehearsing a bench.

`WireEmulator` puts an `EmulatedBoard` behind a SCPI server on 127.0.0.1 (the DAQ and
the bias channel, as pyvisa-py opens ``TCPIP::127.0.0.1::PORT::SOCKET``) and a clock
board on a pseudo-terminal (the path pyserial opens). Both share the board and one
lock, so commands reach the board in the order the host sends them. `bench_toml` is
a bench file for the real drivers that matches this emulator.

``firmware="simavr"``: the clock board is the real firmware (firmware/twin_clock under
simavr, `FirmwareBoard`) instead of the Python one (`SerialBoard`); every rising edge
on its clock pin is one update of the board.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.emulator.board import EmulatedBoard
from lab.emulator.config import EmulatorConfig
from lab.emulator.wire.scpi_server import BIAS_CHANNEL, OFFSETS, ScpiServer
from lab.emulator.wire.serial_board import SerialBoard
from lab.hal import TWINS
from lab.hal.calibration import toml_literal

if TYPE_CHECKING:
    from lab.emulator.wire.firmware_board import FirmwareBoard

#: the clock boards `WireEmulator` can serve: the Python protocol, or the firmware in simavr
FIRMWARES = ("python", "simavr")
#: simavr: the simulated bootloader plus harness start-up, and a round trip (~3-5 ms)
SIMAVR_READY_TIMEOUT, SIMAVR_REPLY_TIMEOUT = 5.0, 2.0


class WireEmulator:
    """An emulated board behind a SCPI server and a pty clock board.

    ``firmware``: "python" (`SerialBoard`, ``pace`` applies) or "simavr" (`FirmwareBoard`:
    the real firmware, built with ``make -C firmware`` if needed; ``firmware_options``
    go to it, e.g. ``elf=``, ``harness=``, ``build=``). Either way ``serial`` is the clock
    board, with the pty a host opens at ``serial.path``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        scpi_port: int = 0,
        pace: bool = False,
        firmware: str = "python",
        firmware_options: dict[str, Any] | None = None,
    ) -> None:
        if firmware not in FIRMWARES:
            raise ValueError(f"firmware = {firmware!r}: expected one of {', '.join(FIRMWARES)}")
        self.firmware = firmware
        self.board = EmulatedBoard(config)
        self.lock = threading.Lock()
        self.scpi = ScpiServer(self.board, port=scpi_port, lock=self.lock)
        self.serial: SerialBoard | FirmwareBoard
        if firmware == "simavr":
            from lab.emulator.wire.firmware_board import FirmwareBoard

            self.serial = FirmwareBoard(self.board, self.lock, **(firmware_options or {}))
        else:
            self.serial = SerialBoard(self.board, lock=self.lock, pace=pace)

    def start(self) -> WireEmulator:
        try:
            self.scpi.start()
            self.serial.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop both front ends (idempotent)."""
        for front in (self.serial, self.scpi):
            try:
                front.close()
            except Exception:  # closing one must not keep the other open
                pass

    def __enter__(self) -> WireEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bench_toml(self, limits: tuple[float, float] = (-1.0, 6.0)) -> str:
        """A bench file for the real drivers, wired to every node of both twins."""
        board = self.board
        cfg = board.config
        cal = board.calibration()
        bias_limits = (min(0.0, float(cal.bias[0])), cfg.osc_high + 0.5)
        clock_timeouts = []  # the Python board answers at once; the driver's defaults do
        if self.firmware == "simavr":  # the simulated bootloader and UART take real time
            clock_timeouts = [
                f"ready_timeout = {SIMAVR_READY_TIMEOUT}",
                f"reply_timeout = {SIMAVR_REPLY_TIMEOUT}",
            ]
        lines = [
            "# Bench for `twinlab emulate` (written by it): the real drivers over loopback.",
            'kind = "instruments"',
            f"network = {toml_literal(board.network.name)}",
            f"network_seed = {cfg.seed}",
            "",
            "[daq]",
            f"resource = {toml_literal(self.scpi.resource)}",
            'dialect = "twinlab-emulator"',
            "timeout_ms = 2000",
            "",
            "[bias]",
            f"channel = {toml_literal(str(BIAS_CHANNEL))}",
            f"limits = {toml_literal(list(bias_limits))}",
            f"safe = {toml_literal(bias_limits[1])}",
            "",
            "[clock]",
            f"port = {toml_literal(self.serial.path)}",
            "baud = 115200",
            *clock_timeouts,
            "",
            "[probe]",
            'kind = "emulator"',
            "",
            "[calibration]",
            f"source = {toml_literal(cal.source)}",
            f"bias = {toml_literal(cal.bias.tolist())}",
            f"p = {toml_literal(cal.p.tolist())}",
        ]
        for (kind, twin_index), offset in OFFSETS.items():  # the server's numbering
            twin = TWINS[twin_index]
            for node in range(1, board.network.n_nodes + 1):
                lines += [
                    "",
                    "[[channels]]",
                    f'name = "{offset + node}"',
                    f'twin = "{twin}"',
                    f"node = {node}",
                    f'kind = "{kind}"',
                    f"limits = {toml_literal(list(limits))}",
                    "safe = 0.0",
                ]
        return "\n".join(lines) + "\n"

    def write_bench(self, path: str | Path, **kwargs: float) -> Path:
        path = Path(path)
        path.write_text(self.bench_toml(**kwargs))
        return path
