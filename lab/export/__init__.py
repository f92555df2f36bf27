"""Export: SPICE netlists of a run or a task."""
