"""Faults of balancer instances in a ``topology:``: which names an event may use.

Theory of operation: on a topology every tier runs ``instances`` independent
balancers named ``<tier>-<i>`` (``i`` from 1), as the run names them and as
``summary.json`` lists them under ``instances``. A ``fail_instance`` event names
one of them; its ``mode`` says how it fails, as for a backend's ``crash``:
``reset`` (a process dies: the kernel answers every open connection with RST) or
``silent`` (the machine is gone: nothing answers). What the run does then -- the
router or the tier in front stops sending to the instance, and the connections
it held move or break -- is in :mod:`lbsim.run.instance_faults`.

This module only checks the names, so a misspelt instance is an exit-2 error
with the key path, before anything runs: the event must be in a scenario with a
``topology:``, must name an existing instance, may not fail every instance of a
tier (something must be left to take its flows), and no instance fails twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lbsim.scenario.errors import KeyedValueError

if TYPE_CHECKING:
    from lbsim.scenario.schema import Scenario

__all__ = ["check_instance_events", "instance_names"]


def instance_names(scenario: Scenario) -> dict[str, str]:
    """Every balancer instance of the scenario's topology -> its tier's name."""
    topo = scenario.topology
    if topo is None:
        return {}
    return {
        f"{tier.name}-{i}": tier.name for tier in topo.tiers for i in range(1, tier.instances + 1)
    }


def check_instance_events(scenario: Scenario) -> None:
    """Check every ``fail_instance`` event of the scenario (see the module docstring).

    Raises:
        KeyedValueError: Naming the first event key that is wrong.
    """
    names = instance_names(scenario)
    failed: dict[str, list[str]] = {}
    for index, event in enumerate(scenario.events):
        if event.instance is None:
            continue
        where = ("events", index, "instance")
        if scenario.topology is None:
            raise KeyedValueError(
                where,
                "instances exist only in a scenario with a topology: (use restart_balancer "
                "or crash for the single balancer and its backends)",
            )
        tier = names.get(event.instance)
        if tier is None:
            raise KeyedValueError(
                where,
                f'no balancer instance "{event.instance}" (instances: {", ".join(names)})',
            )
        down = failed.setdefault(tier, [])
        if event.instance in down:
            raise KeyedValueError(where, f'"{event.instance}" already fails in an earlier event')
        down.append(event.instance)
        if len(down) == sum(t == tier for t in names.values()):
            raise KeyedValueError(
                where,
                f'every instance of tier "{tier}" would have failed: keep at least one to take '
                "the flows of the others",
            )
