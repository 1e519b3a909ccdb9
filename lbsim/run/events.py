"""Scheduled faults and changes, carried out by one typed handler per action.

Theory of operation: a scenario's ``events`` happen at the same simulated times in
every variant. Each action has one handler in :data:`HANDLERS`, a function of the
run being built and the event; actions that end later (an ``outage`` with
``until``) have a second one in :data:`ENDINGS`. :func:`schedule_events` puts a
call at each time; nothing dispatches on action strings anywhere else. Backend
events act on the backend instance; link events on the links they name; balancer
events through the :class:`~lbsim.lb.base.Balancer` interface, so they work the
same for every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lbsim.run.instance_faults import fail_instance
from lbsim.scenario.faults import EventConfig
from lbsim.sched import call_at
from lbsim.streams import stream

if TYPE_CHECKING:
    from lbsim.run.variant import VariantBuild

#: A handler: carry out ``event`` in the run ``build``.
EventHandler = Callable[["VariantBuild", EventConfig], None]


def _backend_name(event: EventConfig) -> str:
    assert event.backend is not None  # the scenario requires it for backend events
    return event.backend


def crash(build: VariantBuild, event: EventConfig) -> None:
    """A backend crashes (``reset``: connections get RST; ``silent``: it vanishes)."""
    backend, _ref = build.topology.backend(_backend_name(event))
    backend.crash(event.mode or "reset")


def recover(build: VariantBuild, event: EventConfig) -> None:
    """A crashed backend comes back."""
    backend, _ref = build.topology.backend(_backend_name(event))
    backend.recover()


def slowdown(build: VariantBuild, event: EventConfig) -> None:
    """A backend's service times are multiplied by ``factor``."""
    backend, _ref = build.topology.backend(_backend_name(event))
    assert event.factor is not None
    backend.slow_factor = event.factor


def errors(build: VariantBuild, event: EventConfig) -> None:
    """A backend answers a share ``rate`` of requests with 500."""
    backend, _ref = build.topology.backend(_backend_name(event))
    assert event.rate is not None
    backend.error_rate = event.rate


def remove_backend(build: VariantBuild, event: EventConfig) -> None:
    """Scale in: a backend is drained (no new work) and no longer checked."""
    _backend, ref = build.topology.backend(_backend_name(event))
    build.lb.drain_backend(ref)
    if build.health is not None:
        build.health.remove(ref)


def loss(build: VariantBuild, event: EventConfig) -> None:
    """The named links start losing a share ``rate`` of packets (0 restores)."""
    seed = build.scenario.seed
    assert event.rate is not None
    for link in build.topology.links_matching(event.link or "all", event.client):
        link.set_loss(event.rate, stream(seed, "loss", link.name))


def outage(build: VariantBuild, event: EventConfig) -> None:
    """The named links go down (everything offered to them is lost)."""
    seed = build.scenario.seed
    for link in build.topology.links_matching(event.link or "all", event.client):
        link.set_down(True, stream(seed, "loss", link.name))


def outage_over(build: VariantBuild, event: EventConfig) -> None:
    """The links of an outage come back (at ``until``)."""
    for link in build.topology.links_matching(event.link or "all", event.client):
        link.set_down(False)


def restart_balancer(build: VariantBuild, event: EventConfig) -> None:
    """The balancer loses its state and is dark for ``downtime``."""
    build.lb.restart(build.env.now, event.downtime or 0.0)


def add_backend(build: VariantBuild, event: EventConfig) -> None:
    """Scale out: one more backend in ``group``; balancers using the group use it."""
    assert event.group is not None
    build.scale_out(event.group)


#: The handler of every event action.
HANDLERS: dict[str, EventHandler] = {
    "crash": crash,
    "recover": recover,
    "slowdown": slowdown,
    "errors": errors,
    "remove_backend": remove_backend,
    "loss": loss,
    "outage": outage,
    "restart_balancer": restart_balancer,
    "add_backend": add_backend,
    "fail_instance": fail_instance,
}

#: The second handler of actions that end at ``until``.
ENDINGS: dict[str, EventHandler] = {"outage": outage_over}


def _fire(build: VariantBuild, event: EventConfig) -> None:
    build.recorder.sample(f"event.{event.action}", build.env.now, 1.0)
    HANDLERS[event.action](build, event)


def schedule_events(build: VariantBuild) -> None:
    """Schedule every event of the scenario (and the end of those that end)."""
    env = build.env
    for event in build.scenario.events:
        call_at(env, event.at, _fire, build, event)
        ending = ENDINGS.get(event.action)
        if ending is not None and event.until is not None:
            call_at(env, event.until, ending, build, event)
