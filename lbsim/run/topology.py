"""The hosts of one variant's run and their links: clients, backends, a star.

Theory of operation: every client host and every backend instance gets its own
TCP stack and its own pair of one-way links to the balancer; a client's link
settings are its group's (``clients.<g>.link``) or ``network.client_link``,
a backend's ``network.backend_link``. Names are stable (``browsers-h3``,
``web-2``), and so are addresses (by order) and every random stream (keyed by
the seed and the host's name), so each variant of a scenario gets identical
hosts and differs only by its balancer.

The topology records what a balancer needs to be wired in (see
:class:`~lbsim.lb.base.Wiring`): the link and MSS towards each client address,
each client's group, and each backend as a :class:`~lbsim.lb.backends.BackendRef`
with its link and MSS. The links *into* the balancer (client uplinks, backend
uplinks) are kept so the builder can attach them to whatever receives there.
"""

from __future__ import annotations

import simpy

from lbsim.host.message_stack import MessageStack
from lbsim.host.stack import TcpStack
from lbsim.lb.backends import BackendRef
from lbsim.net.addresses import backend_address, client_address
from lbsim.net.link import Link
from lbsim.net.segment import mss_for_mtu
from lbsim.nodes.backend import Backend
from lbsim.nodes.client import ClientHost
from lbsim.run.fidelity import REQUEST
from lbsim.run.links import Tap, make_link
from lbsim.scenario import Scenario
from lbsim.scenario.schema import BackendGroup, ClientGroup
from lbsim.streams import stream, stream_seed
from lbsim.transport.tcp import TcpParams


class Topology:
    """Hosts and links of one run, around one balancer named ``hub``.

    Attributes:
        links: Every link, in creation order.
        backends: Backend instances, in creation order (scale out appends).
        refs: The balancer's view of each backend, in the same order.
        client_links: Link towards each client address.
        client_mss: MSS of each client's access path.
        client_groups: Client group of each client address.
        client_uplinks: Links from clients towards the balancer.
        backend_uplinks: Links from backends towards the balancer (or the router).
    """

    def __init__(
        self,
        env: simpy.Environment,
        scenario: Scenario,
        hub: str,
        reply_hop: str,
        params: TcpParams,
        tracer: Tap | None,
    ) -> None:
        """Set up an empty topology.

        Args:
            env: The run's environment.
            scenario: The scenario (host settings, seed).
            hub: The balancer's name (links are named after their two ends).
            reply_hop: Where backends' and clients' downlinks start (the balancer,
                or the router under direct server return).
            params: TCP tunables of every host.
            tracer: Tap of every link, or None.
        """
        self.env = env
        self.scenario = scenario
        self.hub = hub
        self.reply_hop = reply_hop
        self.params = params
        self.tracer = tracer
        self.links: list[Link] = []
        self.backends: list[Backend] = []
        self.refs: list[BackendRef] = []
        self.client_links: dict[int, Link] = {}
        self.client_mss: dict[int, int] = {}
        self.client_groups: dict[int, str] = {}
        self.client_uplinks: list[Link] = []
        self.backend_uplinks: list[Link] = []
        self._group_counts: dict[str, int] = {}
        self._hosts = 0
        # At request level every stack becomes a MessageStack (lbsim/run/fidelity.py);
        # made one from the start, the links below bind its own receive.
        self._stack_class = MessageStack if scenario.fidelity == REQUEST else TcpStack

    def add_client_hosts(self, group: ClientGroup) -> list[ClientHost]:
        """The hosts of client group ``group``, each with its stack and link pair."""
        env, seed, tracer = self.env, self.scenario.seed, self.tracer
        access = group.link or self.scenario.network.client_link
        mss = mss_for_mtu(access.mtu)
        hosts = []
        for h in range(group.hosts):
            ip = client_address(self._hosts)
            self._hosts += 1
            self.client_groups[ip] = group.name
            self.client_mss[ip] = mss
            name = f"{group.name}-h{h}"
            up = make_link(env, f"{name}>{self.hub}", "client", access, tracer, seed)
            down = make_link(env, f"{self.reply_hop}>{name}", "client", access, tracer, seed)
            stack = self._stack_class(
                env, name, self.params, mss=mss, salt=stream_seed(seed, "isn", name), uplink=up
            )
            down.attach(stack.receive)
            hosts.append(ClientHost(name, ip, stack))
            self.client_links[ip] = down
            self.links += (up, down)
            self.client_uplinks.append(up)
        return hosts

    def add_backend(self, group: BackendGroup) -> tuple[Backend, BackendRef, Link]:
        """The next instance of backend group ``group``, with its stack and link pair.

        Returns:
            The backend, the balancer's view of it, and its uplink (which the
            caller attaches to the balancer, or to the router).
        """
        env, seed, tracer = self.env, self.scenario.seed, self.tracer
        cfg = self.scenario.network.backend_link
        g_index = next(k for k, g in enumerate(self.scenario.backends) if g.group == group.group)
        i = self._group_counts.get(group.group, 0) + 1
        self._group_counts[group.group] = i
        name = f"{group.group}-{i}"
        ip = backend_address(g_index, i)
        mss = mss_for_mtu(cfg.mtu)
        up = make_link(env, f"{name}>{self.reply_hop}", "backend", cfg, tracer, seed)
        down = make_link(env, f"{self.hub}>{name}", "backend", cfg, tracer, seed)
        stack = self._stack_class(
            env, name, self.params, mss=mss, salt=stream_seed(seed, "isn", name), uplink=up
        )
        down.attach(stack.receive)
        backend = Backend(
            env,
            name,
            group.group,
            ip,
            stack,
            workers=group.workers,
            service_time=group.service_time,
            weight=group.weight,
            queue_limit=group.queue_limit,
            io_model=group.io_model,
            tls_key=group.tls_key,
            read_only=group.read_only,
            warmup_penalty=group.warmup_penalty,
            warmup_window=group.warmup_window,
            load_report_period=group.load_report_period,
        )
        backend.errors_rng = stream(seed, "errors", name)
        ref = BackendRef(name, group.group, ip, group.weight, down, mss)
        self.backends.append(backend)
        self.refs.append(ref)
        self.links += (up, down)
        self.backend_uplinks.append(up)
        return backend, ref, up

    def backend(self, name: str) -> tuple[Backend, BackendRef]:
        """Backend instance ``name`` and the balancer's view of it.

        Raises:
            KeyError: If there is none.
        """
        for backend, ref in zip(self.backends, self.refs, strict=True):
            if backend.name == name:
                return backend, ref
        raise KeyError(name)

    def links_matching(self, side: str, client: str | None) -> list[Link]:
        """Links on ``side`` (``client``, ``backend`` or ``all``), of one client group or all."""
        which = None if side == "all" else side
        prefix = f"{client}-h" if client else None
        return [
            link
            for link in self.links
            if (which is None or link.side == which)
            and (prefix is None or link.name.startswith(prefix) or f">{prefix}" in link.name)
        ]
