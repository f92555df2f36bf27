"""What is plugged in: serial ports (pyserial) and VISA resources (pyvisa-py).

`list_devices` never raises: a library that is missing or fails is reported as an
entry of kind "error", so that ``twinlab devices`` always prints something useful.
"""

from __future__ import annotations

import warnings
from typing import Any

from lab.errors import one_line

#: USB (vendor, product) ids of boards that are, or are likely to be, an Arduino Uno.
#: ``None`` as product matches any product of that vendor.
ARDUINO_IDS: dict[tuple[int, int | None], str] = {
    (0x2341, None): "Arduino SA (genuine Uno, Mega, ...)",
    (0x2A03, None): "Arduino.org (genuine boards of the 2015-2017 split)",
    (0x1A86, 0x7523): "WCH CH340 USB-serial (most Uno clones)",
    (0x1A86, 0x5523): "WCH CH341 USB-serial (some clones)",
    (0x0403, 0x6001): "FTDI FT232R (Duemilanove, Nano clones, FTDI cables)",
    (0x10C4, 0xEA60): "Silicon Labs CP2102 (some clones)",
}


def likely_arduino(vid: int | None, pid: int | None) -> bool:
    """True if the USB ids belong to an Arduino or a USB-serial chip clones use."""
    if vid is None:
        return False
    return (vid, None) in ARDUINO_IDS or (vid, pid) in ARDUINO_IDS


def serial_ports() -> list[dict[str, Any]]:
    """Serial ports: kind="serial", port, description, vid, pid, likely_arduino."""
    from serial.tools import list_ports

    return [
        {
            "kind": "serial",
            "port": p.device,
            "description": p.description,
            "vid": p.vid,
            "pid": p.pid,
            "likely_arduino": likely_arduino(p.vid, p.pid),
        }
        for p in sorted(list_ports.comports(), key=lambda p: p.device)
    ]


def visa_resources(library: str = "@py") -> list[dict[str, Any]]:
    """VISA resources of ``library``: kind="visa", resource."""
    import pyvisa

    with warnings.catch_warnings():  # pyvisa-py warns about optional discovery backends
        warnings.simplefilter("ignore")
        rm = pyvisa.ResourceManager(library)
        try:
            found = rm.list_resources()
        finally:
            rm.close()
    return [{"kind": "visa", "resource": r} for r in found]


def list_devices(visa_library: str = "@py") -> list[dict[str, Any]]:
    """Serial ports and VISA resources; a failing library gives an "error" entry."""
    devices: list[dict[str, Any]] = []
    for source, find in (
        ("serial ports (pyserial)", serial_ports),
        ("VISA resources (pyvisa)", lambda: visa_resources(visa_library)),
    ):
        try:
            devices.extend(find())
        except Exception as exc:  # missing package, broken backend: report, keep going
            devices.append({"kind": "error", "source": source, "error": one_line(exc)})
    return devices


def format_devices(devices: list[dict[str, Any]]) -> str:
    """A plain-text table of `list_devices` for the command line."""
    lines: list[str] = []
    serial_devs = [d for d in devices if d["kind"] == "serial"]
    visa_devs = [d for d in devices if d["kind"] == "visa"]
    errors = [d for d in devices if d["kind"] == "error"]
    lines.append("serial ports:" if serial_devs else "serial ports: none found")
    for d in serial_devs:
        ids = f"{d['vid']:04x}:{d['pid']:04x}" if d["vid"] is not None else "-"
        mark = "  <- likely an Arduino" if d["likely_arduino"] else ""
        lines.append(f"  {d['port']:<24} {ids:<10} {d['description']}{mark}")
    lines.append("VISA resources:" if visa_devs else "VISA resources: none found")
    lines.extend(f"  {d['resource']}" for d in visa_devs)
    lines.extend(f"error: {d['source']}: {d['error']}" for d in errors)
    return "\n".join(lines)


def add_command(sub: Any) -> None:
    """``twinlab devices`` (entry point ``twinlab.commands: devices``)."""
    devices = sub.add_parser("devices", help="list serial ports and VISA resources")
    devices.set_defaults(func=cmd_devices)


def cmd_devices(args: Any) -> int:
    """Print the serial ports and VISA resources; exit status 0."""
    print(format_devices(list_devices()))
    return 0



__all__ = [
    "ARDUINO_IDS",
    "add_command",
    "cmd_devices",
    "format_devices",
    "likely_arduino",
    "list_devices",
]
