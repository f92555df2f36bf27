"""Running ngspice on a deck, and reading node voltages back from its output.

:func:`read_ngspice` reads node voltages back from ngspice's batch output (the
operating-point table it prints, or an ASCII/binary raw file written with ``-r``);
:func:`run_ngspice` runs ngspice on a deck and returns them.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from lab import procs
from lab.errors import one_line


class NgspiceError(RuntimeError):
    """ngspice failed on a deck or its output has no node voltages."""


_ALARM = re.compile(r"\b(warning|error)\b", re.IGNORECASE)
_NODE = re.compile(r"^(?:v\()?n(\d+)\)?$", re.IGNORECASE)


def _label(name: str) -> int | None:
    m = _NODE.match(name.strip())
    return int(m.group(1)) if m else None


def read_ngspice(output: str | bytes) -> dict[int, float]:
    """Node voltages ``{label: volts}`` from ngspice batch output.

    Accepts what ``ngspice -b deck.cir`` prints (the operating point's ``Node Voltage``
    table, 7 significant digits) or a raw file from ``ngspice -b -r out.raw deck.cir``
    (ASCII, e.g. with ``SPICE_ASCIIRAWFILE=1``, or binary; full double precision). Only
    nodes named ``n<label>`` are returned; the first point of a raw file is read.
    Raises NgspiceError if the text holds no node voltage.
    """
    data = output.encode("latin-1") if isinstance(output, str) else bytes(output)
    if data.lstrip().startswith(b"Title:") and b"\nVariables:" in data:
        volts = _read_raw(data)
    else:
        volts = _read_table(data.decode("latin-1"))
    if not volts:
        raise NgspiceError("no node voltages (nodes n<label>) in the ngspice output")
    return volts


def _read_table(text: str) -> dict[int, float]:
    """The ``Node  Voltage`` table ngspice prints for ``.op`` in batch mode."""
    volts: dict[int, float] = {}
    inside = False
    for line in text.splitlines():
        words = line.split()
        if not inside:
            inside = words[:2] == ["Node", "Voltage"]
            continue
        if not words:
            if volts:
                break
            continue
        if words[0].startswith("--"):
            continue
        if len(words) != 2:
            break
        label = _label(words[0])
        if label is not None:
            volts[label] = float(words[1])
    return volts


def _read_raw(data: bytes) -> dict[int, float]:
    """A SPICE3 raw file (ASCII or binary, real), first point."""
    head_end = data.find(b"\nBinary:\n")
    binary = head_end >= 0
    if not binary:
        head_end = data.find(b"\nValues:\n")
        if head_end < 0:
            raise NgspiceError("raw file has neither 'Values:' nor 'Binary:'")
    header = data[:head_end].decode("latin-1")
    if re.search(r"^Flags:.*complex", header, re.MULTILINE | re.IGNORECASE):
        raise NgspiceError("raw file holds complex data; expected an operating point")
    m = re.search(r"^No\. Variables:\s*(\d+)", header, re.MULTILINE)
    if not m:
        raise NgspiceError("raw file has no 'No. Variables:' line")
    n_vars = int(m.group(1))
    names = header.split("Variables:\n", 1)[1].splitlines()[:n_vars]
    names = [line.split()[1] for line in names]
    body = data[head_end + len(b"\nValues:\n") :]
    if binary:
        values = np.frombuffer(body[: 8 * n_vars], dtype="<f8").tolist()
    else:
        tokens = body.decode("latin-1").split()
        values = [float(t) for t in tokens[1 : 1 + n_vars]]  # tokens[0]: point index
    if len(values) != n_vars:
        raise NgspiceError(f"raw file has {len(values)} values for {n_vars} variables")
    volts: dict[int, float] = {}
    for name, value in zip(names, values, strict=True):
        label = _label(name)
        if label is not None:
            volts[label] = float(value)
    return volts


def run_ngspice(
    deck: str, *, executable: str = "ngspice", timeout: float = 60.0
) -> dict[int, float]:
    """Run ``ngspice -b -r`` on ``deck`` and return its node voltages ``{label: V}``
    (full precision, from an ASCII raw file).

    Strict: ngspice answers even a singular circuit (exit status 0, after gmin and source
    stepping and a "transient op", with perturbed voltages), so any line of its output
    with "warning" or "error" raises NgspiceError quoting it, as does a failed run.
    FileNotFoundError if ``executable`` is missing.
    """
    with tempfile.TemporaryDirectory(prefix="twinlab-spice-") as tmp:
        cir, raw = Path(tmp) / "deck.cir", Path(tmp) / "out.raw"
        cir.write_text(deck)
        env = dict(os.environ, SPICE_ASCIIRAWFILE="1")
        proc = procs.run(  # SIGKILL to ngspice if we die (lab.procs)
            [executable, "-b", "-r", str(raw), str(cir)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        said = (proc.stdout + "\n" + proc.stderr).strip().splitlines()
        tail = " | ".join(said[-5:])
        if proc.returncode != 0 or not raw.exists():
            raise NgspiceError(f"ngspice exited with status {proc.returncode}: {tail}")
        alarms = [one_line(ln) for ln in said if _ALARM.search(ln)]
        if alarms:
            more = f" (and {len(alarms) - 1} more)" if len(alarms) > 1 else ""
            raise NgspiceError(f"ngspice: {alarms[0]}{more}")
        try:
            return read_ngspice(raw.read_bytes())
        except NgspiceError as exc:
            raise NgspiceError(f"{exc}; ngspice said: {tail}") from None
