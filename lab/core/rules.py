"""The names of the discrete rule's two variants (light: no numba; the rules themselves
are in `lab.core.learning`).

What an edge's comparator compares: ``"voltage"`` the twins' voltage drops |dV_C| vs
|dV_F| (eq. 10, the boards so far); ``"power"`` the power dissipated in the edge's two
twins, P = dV^2 / R (the second seed's CircuitLab variant, `lab.core.learning.power_direction`).
"""

from __future__ import annotations

from typing import Literal

RuleKind = Literal["voltage", "power"]
RULES: tuple[str, ...] = ("voltage", "power")
