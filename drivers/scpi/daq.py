"""SCPI DAQ, bias source and emulator probe: `lab.hal` on real instruments (PyVISA by default).

`ScpiDAQ` implements `lab.hal.DAQ` for any model with a table in
`drivers.scpi.dialects`. Every write is one message checked against the instrument's
error queue in the same round trip (``SOUR:VOLT ...;:SYST:ERR?``); every read is one
``MEAS:VOLT:DC? ...;:SYST:ERR?``. Numbers travel as ``repr(float)`` (shortest
round-trip decimal), so volts are bit-exact on the wire. Channel lists are formatted
once per channel tuple and cached: the training hot path is string joins only.

Limits are enforced here too (defence in depth; `lab.hal.Bench` checks first):
nothing is sent when any value is outside its channel's limits or the model's
output range. So are channel names: every name is put in the dialect's one spelling
(`drivers.scpi.dialects.Dialect.canonical`: "08" is sent as "8", "1008;*RST" is refused
with ValueError before anything is sent) and two spellings of one channel in one
list, or in the limits or safe tables, are refused.

Safe state (`lab.hal` contract): channel by channel, each output to its safe value,
switched off where the dialect can, then read back (``read_set``) and compared with
the safe value within the dialect's ``read_tolerance``; one refusal does not stop the
other channels, a broken link (timeout, connection gone) stops at once and reports
every channel not reached. `ScpiDAQ.safe_state` and `ScpiBias.safe_state` return
`lab.hal.Unsafe` items instead of raising.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from drivers.scpi.adapter import Adapter
from drivers.scpi.dialects import Dialect, get_dialect
from drivers.scpi.instrument import ScpiError, ScpiInstrument
from lab.hal import BenchError, Limits, Unsafe, check_all

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A channel tuple, formatted once: message parts and per-channel bounds (V)."""

    channels: tuple[str, ...]
    limits: tuple[Limits, ...]  # per channel: its limits, or the model's output range
    labels: tuple[str, ...]  # "its limits" / "the <model> output range", for LimitError
    whats: tuple[str, ...]  # "channel '8'", for LimitError
    head: str  # write message = head + values + tail (list-valued dialects)
    tail: str
    singles: tuple[tuple[str, str], ...]  # per-channel (head, tail) otherwise
    measure: str


class ScpiDAQ:
    """Analog outputs and inputs of a SCPI DAQ; implements `lab.hal.DAQ`. Volts.

    ``limits`` (V) per output channel are checked before anything is written; a limit
    wider than the model's output range is refused here (ValueError). `safe_state`
    makes every channel of ``safe`` safe in turn (`make_safe`: its value in V, output
    off, read back), then sends the dialect's extra safe commands. Channel names are
    keyed by their canonical spelling (`Dialect.canonical`). ``verify`` clears the
    error queue and checks ``*IDN?`` against the dialect on opening (no output changes).
    ``resource``: a VISA resource string (opened through PyVISA) or an `Adapter` to talk
    through (`ScpiInstrument`), e.g. an in-memory `ProtocolAdapter` in tests.
    """

    def __init__(
        self,
        resource: str | Adapter,
        *,
        dialect: str = "twinlab-emulator",
        limits: Mapping[str, tuple[float, float]] | None = None,
        safe: Mapping[str, float] | None = None,
        timeout_ms: int = 2000,
        visa_library: str = "@py",
        name: str = "DAQ",
        verify: bool = True,
    ) -> None:
        self.name = name
        self.dialect: Dialect = get_dialect(dialect)
        self._range = Limits(*self.dialect.output_range)
        self.limits = _check_limits(name, self.dialect, dict(limits or {}))
        self.safe = _check_safe(name, self.dialect, self.limits, dict(safe or {}))
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self.inst = ScpiInstrument(
            resource, self.dialect, timeout_ms=timeout_ms, visa_library=visa_library, name=name
        )
        self.resource = self.inst.resource
        self._idn = ""
        if verify:
            try:
                self.inst.write(self.dialect.clear)
                self._idn = self.inst.identify()
            except BaseException:
                self.inst.close()
                raise

    # -- formatting ------------------------------------------------------------------------
    def canonical(self, channels: Sequence[str]) -> tuple[str, ...]:
        """``channels`` in the dialect's spelling; ValueError (nothing sent) for a name the
        model cannot have or two spellings of one channel in the list."""
        return _canonical_list(self.name, self.dialect, channels)

    def _plan(self, channels: Sequence[str]) -> _Plan:
        key = channels if type(channels) is tuple else tuple(channels)
        plan = self._plans.get(key)
        if plan is None:
            d = self.dialect
            canon = self.canonical(key)
            limits = tuple(self.limits.get(ch, self._range) for ch in canon)
            labels = tuple(
                "its limits" if ch in self.limits else f"the {d.name} output range"
                for ch in canon
            )
            chans = d.channel_separator.join(canon)
            head, _, tail = d.write_volts.format(values="\0", channels=chans).partition("\0")
            singles = tuple(
                tuple(d.write_volts.format(values="\0", channels=ch).split("\0", 1))
                for ch in canon
            )
            plan = _Plan(
                canon,
                limits,
                labels,
                tuple(f"channel {ch!r}" for ch in canon),
                head,
                tail,
                singles,  # type: ignore[arg-type]
                d.measure.format(channels=chans),
            )
            self._plans[key] = plan
        return plan

    def _channels(self, template: str | None, channels: Sequence[str], what: str) -> str:
        if template is None:
            raise BenchError(
                f"{self.name} ({self.resource}): the {self.dialect.name} dialect cannot {what} "
                f"outputs ({', '.join(channels)})"
            )
        canon = self.canonical(channels)
        return template.format(channels=self.dialect.channel_separator.join(canon))

    # -- lab.hal.DAQ -----------------------------------------------------------------------
    def identify(self) -> str:
        """``*IDN?``, checked against the dialect's model."""
        self._idn = self.inst.identify()
        return self._idn

    def write(self, channels: Sequence[str], volts: np.ndarray | Sequence[float]) -> None:
        """Drive ``channels`` (n,) at ``volts`` (n,) V: one checked message.

        LimitError before anything is sent if a value is outside its channel's limits
        or the output range (NaN included); BenchError if the instrument objects.
        """
        plan = self._plans.get(channels) if type(channels) is tuple else None
        if plan is None:
            plan = self._plan(channels)
        values = np.asarray(volts, dtype=float).tolist()
        if type(values) is not list or len(values) != len(plan.channels):
            raise ValueError(f"{self.name}: {len(plan.channels)} channels but volts {volts!r}")
        check_all(values, plan.limits, plan.whats, who=self.name, labels=plan.labels)
        if self.dialect.list_values:
            cmd = plan.head + ",".join(map(repr, values)) + plan.tail
        else:
            cmd = ";:".join(h + repr(v) + t for (h, t), v in zip(plan.singles, values, strict=True))
        self.inst.write_checked(cmd)

    def read(self, channels: Sequence[str]) -> np.ndarray:
        """Measure DC volts on ``channels``; returns (n,) V."""
        plan = self._plans.get(channels) if type(channels) is tuple else None
        if plan is None:
            plan = self._plan(channels)
        reply = self.inst.query_checked(plan.measure)
        try:
            values = [float(x) for x in reply.split(",")]
        except ValueError:
            raise BenchError(
                f"{self.name} ({self.resource}): {plan.measure} -> unreadable reply {reply[:80]!r}"
            ) from None
        if len(values) != len(plan.channels):
            raise BenchError(
                f"{self.name} ({self.resource}): {plan.measure} -> {len(values)} values "
                f"for {len(plan.channels)} channels"
            )
        return np.array(values)

    def read_set(self, channels: Sequence[str]) -> np.ndarray:
        """The output values the instrument reports as set on ``channels``, (n,) V."""
        cmd = self._channels(self.dialect.read_set, channels, "read back")
        reply = self.inst.query_checked(cmd)
        try:
            return np.array([float(x) for x in reply.split(",")])
        except ValueError:
            raise BenchError(
                f"{self.name} ({self.resource}): {cmd} -> unreadable reply {reply[:80]!r}"
            ) from None

    def release(self, channels: Sequence[str]) -> None:
        """Stop driving ``channels`` (output off)."""
        self.inst.write_checked(self._channels(self.dialect.output_off, channels, "release"))

    def enable(self, channels: Sequence[str]) -> None:
        """Drive ``channels`` again at their last set values (output on)."""
        self.inst.write_checked(self._channels(self.dialect.output_on, channels, "enable"))

    def make_safe(self, channel: str, volts: float, *, switch_off: bool = True) -> list[str]:
        """Set output ``channel`` to ``volts`` V, switch it off (if ``switch_off`` and the
        dialect can) and read it back (if the dialect can); returns what went wrong, one
        phrase each (empty: safe and verified). An instrument refusal (`ScpiError`) is a
        phrase; a broken link raises BenchError (the next command would fail too)."""
        d, problems = self.dialect, []
        ch = self.canonical((channel,))[0]
        try:
            self.write((ch,), [volts])
        except ScpiError as exc:
            problems.append(f"safe value {volts!r} V refused: {exc}")
        if switch_off and d.output_off is not None:
            try:
                self.release((ch,))
            except ScpiError as exc:
                problems.append(f"output not switched off: {exc}")
        if problems or not d.read_set:
            return problems  # a refused value is not read back: it is already reported
        cmd = d.read_set.format(channels=ch)
        try:
            reply = self.inst.query_checked(cmd)
        except ScpiError as exc:
            return [f"safe value not read back: {exc}"]
        try:
            got = [float(x) for x in reply.split(",")]
        except ValueError:
            got = []
        if len(got) != 1:
            return [f"safe value not read back: {cmd} -> unreadable reply {reply[:80]!r}"]
        if not abs(got[0] - volts) <= d.read_tolerance:  # NaN fails too
            return [
                f"reads back {got[0]!r} V, not its safe value {volts!r} V "
                f"(tolerance {d.read_tolerance:g} V)"
            ]
        return []

    def safe_state(self) -> list[Unsafe]:
        """Every channel of ``safe`` made safe in turn (`make_safe`), then the dialect's
        extra safe commands. Never raises for instrument faults: returns one `Unsafe` per
        channel not made safe and verified (``channel=None`` for an extra command). After
        a broken link the remaining channels are reported, not tried."""
        unsafe: list[Unsafe] = []
        down = ""  # the broken link's error, once there is one
        for ch, volts in self.safe.items():
            if down:
                unsafe.append(Unsafe(ch, f"not attempted: the link failed earlier ({down})"))
                continue
            try:
                problems = self.make_safe(ch, volts)
            except BenchError as exc:  # the link is down: the rest would fail (slowly) too
                down = str(exc)
                problems = [f"not made safe: {exc}"]
            if problems:
                unsafe.append(Unsafe(ch, "; ".join(problems)))
        for cmd in self.dialect.safe_extra:
            if down:
                unsafe.append(Unsafe(None, f"{cmd} not sent: the link failed ({down})"))
                continue
            try:
                self.inst.write_checked(cmd)
            except ScpiError as exc:
                unsafe.append(Unsafe(None, str(exc)))
            except BenchError as exc:
                down = str(exc)
                unsafe.append(Unsafe(None, f"{cmd} not sent: {exc}"))
        return unsafe  # not logged here: lab.hal.Bench reports each once

    def close(self) -> None:
        """Close the connection (no safe state implied; idempotent)."""
        self.inst.close()


class ScpiBias:
    """The bias voltage on one DAQ output; implements `lab.hal.BiasSource`. Volts.

    Refuses (LimitError, nothing written) a value outside ``limits``; ``safe`` is where
    the bias rests (above every oscillator: p = 0). Its safe state sets ``safe`` and
    reads it back but leaves the output on: a bias line switched off would leave every
    comparator's reference floating, so p would be unknown. The DAQ owns the connection.
    """

    def __init__(
        self,
        daq: ScpiDAQ,
        channel: str = "9000",
        limits: tuple[float, float] = (0.0, 5.0),
        safe: float = 5.0,
    ) -> None:
        lim = Limits.parse(limits, f"{daq.name}: bias channel {channel!r}")
        if not lim.within(daq._range):
            raise ValueError(
                f"{daq.name}: bias limits {lim} on channel {channel!r} are not "
                f"within the {daq.dialect.name} output range {daq._range}"
            )
        if safe not in lim:
            raise ValueError(
                f"{daq.name}: bias safe value {safe:g} V on channel {channel!r} is outside "
                f"its limits {lim}"
            )
        self.daq, self.channel = daq, daq.canonical((str(channel),))[0]
        self.limits, self.safe = lim, float(safe)
        self._channels = (self.channel,)
        self._what = f"channel {self.channel!r}"

    def set_volts(self, volts: float) -> None:
        """Set the bias to ``volts`` V (checked against the limits first)."""
        v = float(volts)
        self.limits.check(v, self._what, who=self.daq.name, quantity="bias")
        self.daq.write(self._channels, [v])

    def safe_state(self) -> list[Unsafe]:
        """Bias to its safe value, read back (output left on); `lab.hal` contract."""
        try:
            problems = self.daq.make_safe(self.channel, self.safe, switch_off=False)
        except BenchError as exc:
            problems = [f"not made safe: {exc}"]
        return [Unsafe(self.channel, "; ".join(problems))] if problems else []

    def close(self) -> None:
        """Nothing to close: the DAQ owns the connection."""


class ScpiProbe:
    """Digipot codes and last-pulse enables from the emulator (``EMUL:POS?``/``EMUL:UPD?``);
    implements `lab.hal.ResistanceProbe` with ``estimated = False``.

    Only the emulator can answer: on real hardware the digipot positions are not
    observable over the DAQ, the dialect has no such commands, and a bench omits the
    probe (construction raises BenchError).
    """

    estimated = False

    def __init__(self, daq: ScpiDAQ, n_edges: int | None = None) -> None:
        d = daq.dialect
        if d.positions is None or d.updates is None:
            raise BenchError(
                f"{daq.name}: the {d.name} dialect cannot report digipot positions "
                "(only the emulator can); omit the probe on real hardware"
            )
        self.daq, self.n_edges = daq, n_edges
        self._pos, self._upd = d.positions, d.updates

    def _where(self) -> str:
        return f"{self.daq.name} ({self.daq.resource})"

    def positions(self) -> np.ndarray:
        """Current digipot codes, (E,) int16."""
        reply = self.daq.inst.query_checked(self._pos)
        try:
            codes = np.array([int(x) for x in reply.split(",")], dtype=np.int16)
        except ValueError:
            raise BenchError(f"{self._where()}: {self._pos} -> unreadable {reply[:80]!r}") from None
        if self.n_edges is not None and len(codes) != self.n_edges:
            raise BenchError(
                f"{self._where()}: {self._pos} -> {len(codes)} codes, expected {self.n_edges}"
            )
        return codes

    def last_update(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(update mask (E,) bool, direction (E,) int8) of the last pulse; None before any."""
        reply = self.daq.inst.query_checked(self._upd)
        try:
            pulses, mask, direction = reply.split(";")
            if int(pulses) == 0:
                return None
            m = np.array([int(x) for x in mask.split(",")], dtype=np.int8).astype(bool)
            d = np.array([int(x) for x in direction.split(",")], dtype=np.int8)
        except ValueError:
            raise BenchError(f"{self._where()}: {self._upd} -> unreadable {reply[:80]!r}") from None
        if len(m) != len(d):
            raise BenchError(f"{self._where()}: {self._upd} -> mask and direction differ in length")
        return m, d


def _canonical_list(name: str, dialect: Dialect, channels: Sequence[str]) -> tuple[str, ...]:
    """``channels`` in ``dialect``'s spelling; ValueError for a bad name or two spellings
    of one channel (naming both)."""
    seen: dict[str, str] = {}
    for ch in channels:
        canon = dialect.canonical(ch)
        if canon in seen:
            raise ValueError(
                f"{name}: channels {seen[canon]!r} and {ch!r} are one {dialect.name} "
                f"channel ({canon}), listed twice"
            )
        seen[canon] = ch
    return tuple(seen)


def _check_limits(
    name: str, dialect: Dialect, limits: dict[str, tuple[float, float]]
) -> dict[str, Limits]:
    """`Limits` keyed by canonical channel; ValueError (one line, naming the channel) if
    one is unusable (`Limits.parse`), wider than the output range, or a channel is given
    twice."""
    out = Limits(*dialect.output_range)
    checked = {}
    canon = _canonical_list(name, dialect, [str(c) for c in limits])
    for ch, key, pair in zip(limits, canon, limits.values(), strict=True):
        lim = Limits.parse(pair, f"{name}: channel {ch!r}")
        if not lim.within(out):
            raise ValueError(
                f"{name}: channel {ch!r} limits {lim} are wider than the "
                f"{dialect.name} output range {out}"
            )
        checked[key] = lim
    return checked


def _check_safe(
    name: str,
    dialect: Dialect,
    limits: dict[str, Limits],
    safe: dict[str, float],
) -> dict[str, float]:
    """Safe values as floats, keyed by canonical channel, each within its channel's limits
    (or the output range); ValueError if one is not or a channel is given twice."""
    checked = {}
    canon = _canonical_list(name, dialect, [str(c) for c in safe])
    for ch, key, value in zip(safe, canon, safe.values(), strict=True):
        v = float(value)
        lim = limits.get(key) or Limits(*dialect.output_range)
        if v not in lim:
            raise ValueError(f"{name}: channel {ch!r} safe value {v:g} V is outside {lim}")
        checked[key] = v
    return checked


__all__ = ["ScpiBias", "ScpiDAQ", "ScpiProbe"]
