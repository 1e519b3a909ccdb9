"""Request level (``fidelity: request``): what it refuses and how a build is switched to it.

Theory of operation: a request-level run is wired exactly like a segment-level
one -- the same clients, balancer, backends, health checker and events -- and
then, before anything runs, every TCP stack becomes a
:class:`~lbsim.host.message_stack.MessageStack` and every link a
:class:`~lbsim.net.link.CarrierLink` (:func:`to_request_level`). Each stack is
told the byte rate of the slowest link towards every address (its own first
hop, and the last hop into that address, which is where the path's other link
is). A packet-forwarding layer-4 balancer (NAT, DSR) charges its CPU per
segment it forwards; a carrier standing for ``k`` segments (and the ACKs they
draw that pass the balancer) costs it the work of all of them, which it charges
itself as it forwards the carrier (``L4Balancer.to_request_level``), so the
balancer's CPU adds up as at segment level.

What request level cannot model, :func:`check_request_level` refuses with the
key path: random loss (on links or by a ``loss`` event) and outages (both need
retransmission of individual segments), transmit-queue limits below the
default (a carrier is queued whole), and topologies (not validated at request level yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lbsim.host.message_stack import to_request_level as stack_to_request_level
from lbsim.host.stack import TcpStack
from lbsim.net.link import Link, to_carrier_link, wire_bytes
from lbsim.scenario import Scenario
from lbsim.scenario.errors import ScenarioError
from lbsim.scenario.schema import LinkConfig
from lbsim.transport.message import MessageConnection

if TYPE_CHECKING:
    from lbsim.run.variant import VariantBuild

#: Name of the request-level setting of ``fidelity``.
REQUEST = "request"
#: Why a refused feature needs segments (one line each, for the error message).
_WHY = "request level (fidelity: request) computes network time in closed form"
_DEFAULT_QUEUE = LinkConfig.model_fields["queue"].default


def check_request_level(scenario: Scenario) -> None:
    """Refuse a request-level scenario that needs what request level leaves out.

    Raises:
        ScenarioError: File ``<scenario>``, key path of the first such setting.
    """
    if getattr(scenario, "fidelity", "segment") != REQUEST:
        return

    def refuse(path: str, what: str) -> None:
        raise ScenarioError("<scenario>", path, f"{_WHY} and {what}; use fidelity: segment")

    links: list[tuple[str, LinkConfig]] = [
        ("network.client_link", scenario.network.client_link),
        ("network.backend_link", scenario.network.backend_link),
    ]
    links += [(f"clients.{c.name}.link", c.link) for c in scenario.clients if c.link is not None]
    for path, cfg in links:
        if cfg.loss:
            refuse(f"{path}.loss", "does not model lost segments or retransmission")
        if cfg.queue < _DEFAULT_QUEUE:
            refuse(
                f"{path}.queue",
                "queues whole messages, so it cannot honour a queue limit below the default",
            )
    for index, event in enumerate(scenario.events):
        if event.action in ("loss", "outage"):
            refuse(
                f"events.{index}.action",
                f"does not model lost segments or retransmission (a {event.action} event)",
            )
    if scenario.topology is not None:
        refuse("topology", "has been validated only on the single-balancer star so far")


def refuse_segment_observers() -> None:
    """A segment trace or packet capture was asked of a request-level run.

    Raises:
        ScenarioError: Always (key ``fidelity``).
    """
    raise ScenarioError(
        "<scenario>",
        "fidelity",
        f"{_WHY}: it has no segments to trace or capture; use fidelity: segment",
    )


def to_request_level(build: VariantBuild) -> None:
    """Switch a wired build to request level (see the module docstring).

    Called once the build is wired and again after a scale-out: what is already
    request level is left as it is.
    """
    topo = build.topology
    into: dict[int, Link] = dict(topo.client_links)
    for ref in topo.refs:
        into[ref.ip] = ref.link
    backend_links = [ref.link for ref in topo.refs]
    cfg = build.balancer
    forwarding = cfg.layer == 4 and cfg.mode in ("nat", "dsr")
    for link in topo.links:
        to_carrier_link(link)
    if forwarding:
        # A forwarding balancer charges a carrier for the segments it stands for
        # itself, as it forwards it (L4Balancer.to_request_level); a carrier with the
        # handshake's last ACK riding on it is charged that ACK one minimum frame
        # before it arrived, on the link it came by. The topology adds each
        # client's (each backend's) two links together, so the orders match.
        senders = [*topo.client_links, *(ref.ip for ref in topo.refs)]
        uplinks = [*topo.client_uplinks, *topo.backend_uplinks]
        ride_ack_time = {
            ip: wire_bytes(0) * 8.0 / link.bandwidth
            for ip, link in zip(senders, uplinks, strict=True)
        }
        carry = getattr(build.lb, "to_request_level", None)
        if carry is not None:
            carry(ride_ack_time)
    # A NAT sees a backend's closing FIN and counts the client's ACK of it
    # (FIN_ACK_COUNTED), telling its table when that ACK would pass; a DSR
    # balancer must see that ACK, which it cannot be told of (it never sees those
    # FINs): the clients send it there.
    count_fin_ack = not (forwarding and cfg.mode == "dsr")
    for stack in build.stacks:
        attach_stack(build, stack, into, backend_links, count_fin_ack)
    # A layer-4 balancer passes segments on as they come: what reaches a client
    # was fed by a backend link, and the other way round. A layer-7 proxy passes
    # a response on once it has it whole (at segment level too), so no feed there.
    layer4 = cfg.layer == 4
    client_feed = min((lk.bandwidth for lk in topo.backend_uplinks), default=0.0) * layer4
    backend_feed = min((lk.bandwidth for lk in topo.client_uplinks), default=0.0) * layer4
    for link in topo.client_links.values():
        link.feed_byte_time = 8.0 / client_feed if client_feed else 0.0
    for link in backend_links:
        link.feed_byte_time = 8.0 / backend_feed if backend_feed else 0.0


def attach_stack(
    build: VariantBuild,
    stack: TcpStack,
    into: dict[int, Link],
    backend_links: list[Link],
    count_fin_ack: bool = True,
) -> None:
    """Make ``stack`` request level, knowing the slowest link towards each address."""
    forwarding = build.balancer.layer == 4 and build.balancer.mode in ("nat", "dsr")
    client_uplinks = {id(link) for link in build.topology.client_uplinks}
    slowest_backend = min((lk.bandwidth for lk in backend_links), default=0.0)

    def rate_of(ip: int) -> float:
        first = stack.uplink or stack.routes.get(ip)
        rates = [] if first is None else [first.bandwidth]
        last = into.get(ip)
        if last is not None:
            rates.append(last.bandwidth)
        elif forwarding and first is not None and id(first) in client_uplinks:
            # Towards the VIP: a forwarding balancer passes it on to some backend.
            rates.append(slowest_backend or first.bandwidth)
        return min(rates) / 8.0 if rates else 0.0

    # Each address's rate is worked out once and then looked up, without a
    # Python call, per connection (re-attached, and so forgotten, on a scale-out).
    rate_to = _Memo(rate_of).__getitem__
    stack_to_request_level(stack, rate_to, count_fin_ack)
    for conn in stack.conns.values():  # opened while wiring (a warm upstream pool)
        if isinstance(conn, MessageConnection):
            conn.path_rate = rate_to(conn.remote_ip)
            conn.count_fin_ack = count_fin_ack


class _Memo(dict[int, float]):
    """``fn``'s value for each key, computed on first use."""

    def __init__(self, fn: Callable[[int], float]) -> None:
        super().__init__()
        self._fn = fn

    def __missing__(self, key: int) -> float:
        value = self[key] = self._fn(key)
        return value
