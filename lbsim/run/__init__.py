"""Building and running one simulation per balancer variant of a scenario.

Holds the wiring of a run: hosts and links (:mod:`~lbsim.run.topology`,
:mod:`~lbsim.run.links`), the variant's build and run
(:mod:`~lbsim.run.variant`), scheduled faults (:mod:`~lbsim.run.events`) and
the scenario-level entry points (:mod:`~lbsim.run.runs`). The top of the engine:
it may import every engine layer (``net``, ``transport``, ``app``, ``host``,
``lb``, ``nodes``) and the leaf utilities; nothing in the engine imports it.
:mod:`lbsim.sim` re-exports its public names.
"""

from lbsim.run.links import Tap
from lbsim.run.runs import (
    build_variant,
    check_buildable,
    run_scenario,
    run_variant,
    variant_names,
)
from lbsim.run.variant import Progress, VariantBuild, VariantRun, tcp_params

__all__ = [
    "Progress",
    "Tap",
    "VariantBuild",
    "VariantRun",
    "build_variant",
    "check_buildable",
    "run_scenario",
    "run_variant",
    "tcp_params",
    "variant_names",
]
