"""Export: SPICE netlists of a run or a task.

`deck` writes a network state (one resistance per edge, the fixed nodes' voltages) as a
SPICE deck any SPICE runs as an operating point (the naming rules are in its docstring);
`ngspice` runs ngspice on a deck and reads its node voltages back; `sources` makes the
states ``twinlab netlist`` exports, a recorded run at a step or a task.
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
