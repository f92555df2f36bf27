"""What a bench must wire for the estimator, and the check that says why one cannot.

Full support (what `twinlab emulate` writes): on both twins every node sensed and every
node driveable, limits with room for test voltages. Then every tomography pattern gives
one Kirchhoff equation per floating node and each pulse's read one per floating node
of each twin, so every edge is seen every step.

Minimum (`check_supports_estimation`): on each twin at least two drive channels and
enough sense channels that every edge has an end n that can float while sensed with
every neighbour of n sensed or driveable (an equation at n sees every edge at n), and
the tomography's patterns within the budget give full rank (every conductance up to
the common scale). What degrades with less:

- a node that is not sensed gives no equation, and its neighbours' equations need it
  driven: fewer equations per read, so larger tomography errors for the same budget,
  and during training an edge whose both ends are unsensed or driven is invisible
  (its code follows the prior only until the next resync);
- fewer drive channels mean fewer independent patterns (an edge between two nodes that
  are always driven together is never seen);
- tight limits shrink every signal in proportion (a code step changes node voltages by
  about 1.6 % of an edge's drop): the uncertainties grow and are reported, never
  exceeded limits;
- one twin only: its codes still come out (the twins share codes), at sqrt(2) larger
  error, and the rule's directions need the other twin's drops from the model.
"""

from __future__ import annotations

import numpy as np

from lab.hal import TWINS, Bench, Wiring
from lab.observe.model import DigipotModel, Topology
from lab.observe.tomography import (
    TomographySettings,
    _Designer,
    _plan_twin,
    _TwinPlan,
    planned_rel_sd,
)


def check_supports_estimation(
    bench: Bench | Wiring, settings: TomographySettings | None = None
) -> str | None:
    """None if the estimator can work on ``bench`` (its network and channels: a `Bench`,
    or a bench file's `Wiring` before anything is opened), else one line saying why not."""
    settings = settings or TomographySettings()
    net = bench.network
    topo = Topology.of(net)
    e = net.n_edges
    model = DigipotModel.nominal(e)
    k = model.conductance(np.full(e, 64))
    labels = net.edge_labels()
    for t, twin in enumerate(TWINS):
        plan = _TwinPlan.of(bench, twin, settings.inset)
        if len(plan.low) < 2:
            return f"the {twin} twin has {len(plan.low)} drive channel(s); tomography needs 2"
        if not plan.sensed:
            return f"the {twin} twin has no sense channel"
        sensed = np.zeros(net.n_nodes, dtype=bool)
        sensed[[s - 1 for s in plan.sensed]] = True
        known = sensed.copy()
        known[[d - 1 for d in plan.low]] = True
        can_float = sensed & ~(topo.neighbours & ~known[None, :]).any(axis=1)
        seen = np.abs(topo.incident[can_float]).any(axis=0)
        if not seen.all():
            unseen = ", ".join(labels[i] for i in np.flatnonzero(~seen))
            return (
                f"the {twin} twin: edge(s) {unseen} are in no Kirchhoff equation (sense "
                "an end of each, with its neighbours sensed or driveable)"
            )
        designer = _Designer(topo, plan, k[t], np.full(e, 64.0), settings.noise)
        # both twins share each transaction (`tomography._execute`): a twin's plan has
        # the whole budget
        seq = _plan_twin(designer, {}, settings.budget)
        rank = planned_rel_sd(designer, seq)[1]
        if rank < e - 1:
            return (
                f"the {twin} twin: {len(seq)} tomography patterns within "
                f"{settings.budget} transactions fix only {rank} of the {e - 1} "
                "conductance ratios"
            )
    return None
