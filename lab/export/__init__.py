"""Export: SPICE netlists of a run or a task.

A state is a network, one resistance per edge (Ohm) and the fixed nodes' voltages
(``{label: volts}``, 1-based labels). :func:`spice_deck` writes it as a SPICE deck that
any SPICE (ngspice, Xyce, LTspice) runs as an operating point:

- twinlab node ``k`` is SPICE node ``n<k>``; SPICE node ``0`` (the reference) is touched
  only by the sources, so it never collides with a network node;
- edge ``(a, b)`` is resistor ``R_<a>_<b>`` (``R_<a>_<b>_<i>`` for a parallel edge,
  ``i`` its 1-based edge index), in twinlab's edge order;
- fixed node ``k`` is DC source ``V_<k>`` from ``n<k>`` to ``0``.

:func:`read_ngspice` reads node voltages back from ngspice's batch output (the
operating-point table it prints, or an ASCII/binary raw file written with ``-r``);
:func:`run_ngspice` runs ngspice on a deck and returns them. :func:`run_state` and
:func:`task_state` build the states ``twinlab netlist`` exports.

The pieces: `deck` (a state as a SPICE deck), `ngspice` (running ngspice, reading its
node voltages), `sources` (the states of a run at a step or of a task).
"""

from lab.export.deck import CircuitState, node_name, resistor_names, spice_deck
from lab.export.ngspice import NgspiceError, read_ngspice, run_ngspice
from lab.export.sources import run_state, task_state

__all__ = [
    "CircuitState",
    "NgspiceError",
    "node_name",
    "read_ngspice",
    "resistor_names",
    "run_ngspice",
    "run_state",
    "spice_deck",
    "task_state",
]
