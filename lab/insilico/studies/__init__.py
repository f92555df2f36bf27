"""In-silico studies that reproduce the papers' results (PHYSICS.md, "Published results").

``STUDIES`` maps each study's name (the ``twinlab study NAME`` argument) to its `Study`;
each module below contributes a list ``STUDIES`` of its own.
"""

from __future__ import annotations

from lab.insilico.studies import continuous, discrete, iris, power, seed2
from lab.insilico.studies.base import Study, StudyArgs, run_study

_MODULES = (continuous, discrete, iris, seed2)
STUDIES: dict[str, Study] = {s.name: s for m in _MODULES for s in m.STUDIES}
# experiment-allostery states its power (statistics "power"; lab/insilico/studies/power.py)
STUDIES["experiment-allostery"] = power.with_power(STUDIES["experiment-allostery"])

__all__ = ["STUDIES", "Study", "StudyArgs", "run_study"]
