"""An instance of a topology tier fails: who stops sending to it, what breaks, the count.

Theory of operation: a ``fail_instance`` event (:mod:`lbsim.scenario.instance_faults`)
names one balancer instance ``<tier>-<i>`` of a :class:`~lbsim.run.tiers.TieredBuild`.
At the event's time :meth:`InstanceFaults.fail`

1. notes the client connections the instance holds: a packet forwarder's table
   entries still opening or established, a proxy's client-side connections
   opening or established (and the same count over every instance of its tier);
2. takes it out of the path of new traffic at once -- as a router's BFD or a
   front tier's health checks would, only without their detection delay: for the
   first tier, every router's ECMP group hands the instance's buckets to the
   other instances (:meth:`~lbsim.run.ecmp.EcmpGroup.fail`), so exactly the flows
   it carried move; for a later tier, every instance of the tier in front marks
   it unhealthy, so new connections go to the others -- unless the tier in front
   runs health checks (:mod:`lbsim.run.tier_health`): then each of its instances
   keeps sending to it until its own probes fail ``fall`` times;
3. makes it dark: a packet forwarder loses its table and forwards nothing more; a
   proxy's stacks, with ``mode: reset`` (the default, a process that dies),
   answer every open connection with RST once -- clients and backends alike --
   and then, as with ``silent`` (a machine that is gone), nothing more.

What happens to the noted connections then is the model's own doing, not this
module's. A flow ECMP moved to another layer-4 instance arrives there
mid-connection; the instance places it by its own pick (``pick_on_miss``, see
:mod:`lbsim.lb.l4`): with a consistent hash over the same backends (maglev, ring
hash) every instance picks the backend the flow already had and the connection
survives; with round robin the pick is some other backend for all but about
1/P of them (P backends), whose TCP stack answers with RST. The clients of a
failed proxy get its RST (or silence, then their timeout) and retry per their
``retries``.

:meth:`InstanceFaults.counters` reads the run's records at the end: of the
connections the instance held when it failed, how many ended in RST at the
client (``broken_connections``) and how many of their requests failed, by
reason (``failed_requests.<reason>``), as ``instance.<name>.*`` counters, so
``summary.json`` lists them under ``variants.*.instances.<name>``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lbsim.lb.conntable import ConnectionTable, EntryState
from lbsim.net.addresses import VIP, endpoint_str
from lbsim.scenario.faults import EventConfig
from lbsim.transport.states import TcpState

if TYPE_CHECKING:
    from lbsim.lb.base import Balancer
    from lbsim.records import Recorder
    from lbsim.run.ecmp import Router
    from lbsim.run.variant import VariantBuild

__all__ = ["FailedInstance", "InstanceFaults", "fail_instance", "live_clients"]

_LIVE_ENTRY = (EntryState.SYN_RECV, EntryState.ESTABLISHED)
#: A proxy's client-side connections that are opening or established.
_LIVE_STATES = (TcpState.SYN_RECEIVED, TcpState.ESTABLISHED)
#: How an in-flight request that was not lost ended: on its own try, or retried.
_KEPT = ("ok", "retried")


def live_clients(lb: Balancer) -> set[str]:
    """Client connections ``lb`` holds now, as the clients' ``ip:port``.

    A packet forwarder's table entries opening or established; else the
    client-side connections (local address the VIP) of its stacks opening or
    established.
    """
    table = getattr(lb, "table", None)
    if isinstance(table, ConnectionTable):
        return {endpoint_str(e.client_ip, e.client_port) for e in table if e.state in _LIVE_ENTRY}
    out = set()
    for stack in lb.stacks():
        for (local_ip, _lport, remote_ip, remote_port), conn in stack.conns.items():
            if local_ip == VIP and conn.state in _LIVE_STATES:
                out.add(endpoint_str(remote_ip, remote_port))
    return out


@dataclass(frozen=True, eq=False)
class FailedInstance:
    """One instance's failure, as noted when it happened.

    Attributes:
        name: The instance (``<tier>-<i>``).
        at: When it failed (simulated seconds).
        held: Client connections (``ip:port``) it held then.
        tier_held: Client connections every instance of its tier held then.
        moved_buckets: ECMP buckets handed to other instances (first tier only).
        in_flight: Every client request in progress then -> its connection id.
    """

    name: str
    at: float
    held: frozenset[str]
    tier_held: int
    moved_buckets: int
    in_flight: dict[str, str]


class InstanceFaults:
    """The instance failures of one run (see the module docstring).

    Attributes:
        tiers: Every tier's instances, by tier name, in order.
        routers: The topology's routers, by node name.
        failed: The failures so far, in order.
    """

    def __init__(self, tiers: dict[str, list[Balancer]], routers: dict[str, Router]) -> None:
        self.tiers = tiers
        self.routers = routers
        self.failed: list[FailedInstance] = []
        #: Tiers whose instances the tier in front health-checks: it finds out itself.
        self.checked: set[str] = set()

    def fail(self, name: str, mode: str, now: float, in_flight: dict[str, str]) -> FailedInstance:
        """Instance ``name`` fails at ``now`` (``mode``: ``reset`` or ``silent``).

        ``in_flight`` maps the clients' requests in progress to their connections.
        """
        order = list(self.tiers)
        tier = next(t for t, lbs in self.tiers.items() if any(lb.name == name for lb in lbs))
        lbs = self.tiers[tier]
        lb = next(x for x in lbs if x.name == name)
        held = frozenset(live_clients(lb))
        tier_held = sum(len(live_clients(x)) for x in lbs)
        moved = 0
        position = order.index(tier)
        if position == 0:
            for router in self.routers.values():
                group = router.groups.get(VIP)
                if group is None:
                    continue
                for index, hop in enumerate(group.hops):
                    if hop.name.endswith(f">{name}"):
                        moved += group.fail(index)
        elif tier not in self.checked:
            for front in self.tiers[order[position - 1]]:
                for ref in front.backends:
                    if ref.name == name:
                        ref.healthy = False
                front.backends_changed()
        for stack in lb.stacks():
            if mode == "reset":
                stack.reset_all()
            stack.silent = True
        if hasattr(lb, "down_until"):
            lb.restart(now, float("inf"))  # a packet forwarder: table gone, forwards nothing
        record = FailedInstance(name, now, held, tier_held, moved, in_flight)
        self.failed.append(record)
        return record

    def counters(self, recorder: Recorder) -> dict[str, float]:
        """``instance.<name>.*`` counters of every failure, from the run's records."""
        out: dict[str, float] = {}
        if not self.failed:
            return out
        # A connection is one the instance held if its client's ip:port matches and
        # it was open at the failure (ports are reused by later connections).
        ids: dict[str, list[FailedInstance]] = {}
        broken: Counter[str] = Counter()
        for record in recorder.connections:
            if record.side != "client":
                continue
            for f in self.failed:
                open_then = record.t_close is None or record.t_close >= f.at
                if record.src in f.held and record.t_open <= f.at and open_then:
                    ids.setdefault(record.connection, []).append(f)
            cause = _cause(ids.get(record.connection, []), record.t_close)
            if record.reset and cause is not None:
                broken[cause.name] += 1
        failed: Counter[tuple[str, str]] = Counter()
        caught: Counter[tuple[str, str]] = Counter()
        for request in recorder.requests:
            for f in self.failed:
                if f in ids.get(f.in_flight.get(request.request_id, ""), ()):
                    retried = request.outcome == "ok" and request.attempts > 1
                    caught[(f.name, "retried" if retried else request.outcome)] += 1
            found = ids.get(request.connection)
            if found is None or request.outcome == "ok":
                continue
            cause = _cause(found, request.t_end)
            if cause is not None:
                reason = (request.reason or request.outcome).replace(" ", "_")
                failed[(cause.name, reason)] += 1
        for f in self.failed:
            key = f"instance.{f.name}"
            out[f"{key}.failed_at"] = f.at
            out[f"{key}.connections_at_failure"] = len(f.held)
            out[f"{key}.tier_connections_at_failure"] = f.tier_held
            out[f"{key}.broken_connections"] = broken[f.name]
            out[f"{key}.requests_in_flight_at_failure"] = sum(
                n for (x, _), n in caught.items() if x == f.name
            )
            out[f"{key}.retried_requests"] = caught[(f.name, "retried")]
            out[f"{key}.lost_requests"] = sum(
                n
                for (x, what), n in caught.items()
                if x == f.name and what not in ("ok", "retried")
            )
            out[f"{key}.failed_requests"] = sum(n for (x, _), n in failed.items() if x == f.name)
            for (x, reason), n in sorted(failed.items()):
                if x == f.name:
                    out[f"{key}.failed_requests.{reason}"] = n
        return out


def _cause(failures: list[FailedInstance], t: float | None) -> FailedInstance | None:
    """The latest of a connection's failures before ``t``: what ended it then."""
    before = [f for f in failures if t is not None and f.at <= t]
    return before[-1] if before else None


def fail_instance(build: VariantBuild, event: EventConfig) -> None:
    """The event's instance fails (handler of ``fail_instance``)."""
    faults = getattr(build, "instance_faults", None)
    assert faults is not None and event.instance is not None  # the scenario checks both
    in_flight = {
        rid: session.conn_id
        for runner in build.clients
        for rid, session in runner.in_flight.items()
    }
    faults.fail(event.instance, event.mode or "reset", build.env.now, in_flight)
