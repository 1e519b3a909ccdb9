"""Running a scenario's ``topology:``: what this version of the engine can build.

Theory of operation: a scenario with a ``topology:`` is validated and drawn as a
graph (:mod:`lbsim.scenario.topology_graph`, figure ``topology``), and the pieces
a layered run is made of exist on their own: routers that forward by destination
and spread flows over a tier's instances by ECMP (:mod:`lbsim.run.ecmp`), and
balancers that take their place from a :class:`~lbsim.lb.base.Wiring`. Wiring
tiers of several instances into one run (one :class:`~lbsim.lb.base.Balancer`
per instance, per-instance results) is not built yet, so
:func:`check_topology_runnable` refuses such a scenario up front with a one-line
error on the ``topology`` key, rather than running the star and silently
ignoring the topology. Without a ``topology:`` nothing here is involved and runs
are exactly what they were.
"""

from __future__ import annotations

from lbsim.scenario import Scenario
from lbsim.scenario.errors import ScenarioError

__all__ = ["check_topology_runnable"]


def check_topology_runnable(scenario: Scenario) -> None:
    """Refuse a scenario whose topology this version cannot run (see the module docstring).

    Raises:
        ScenarioError: If the scenario has a ``topology:`` (file ``<scenario>``).
    """
    if scenario.topology is None:
        return
    raise ScenarioError(
        "<scenario>",
        "topology",
        "this version checks a topology and draws it (figure topology) but cannot run it "
        "yet: tiers of several balancer instances are not wired into a run; remove "
        "topology to run the scenario as a star",
    )
