"""Client groups: the hosts, the request mix, and the workload a group runs.

Theory of operation: a :class:`ClientGroupRunner` drives one client group of a
scenario. It owns what the group's users share: the client hosts (each a
:class:`ClientHost` with its TCP stack), the request mix (:meth:`make_request` draws
the next request from a user's own random stream, always with the same number of
draws, so every balancer variant sees the same workload), the TLS session tickets
kept for resumption, and the bookkeeping of open requests and connections that the
end of the run must settle (:meth:`ClientGroupRunner.finalize`). :meth:`start`
launches one of the workloads of :mod:`lbsim.nodes.workloads` (closed or open loop,
one request at a time or multiplexed); each request runs in a
:class:`~lbsim.nodes.session.Session`, the application on one client connection.
A :class:`Tracker` counts the live users and sessions and fires when all are done.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from lbsim.app.auth import token_header
from lbsim.app.http import new_http_request
from lbsim.app.raw import RawRequest
from lbsim.app.tls import Ticket, TlsEndpoint
from lbsim.host.channel import TlsChannel
from lbsim.host.stack import TcpStack
from lbsim.net.addresses import VIP_PORT, VIP_TLS_PORT
from lbsim.nodes.session import RETRY, Request, Session, outcome_for_status
from lbsim.nodes.workloads import (
    ClosedLoopUser,
    MultiplexedStream,
    MultiplexedUser,
    OpenLoopArrivals,
    multiplexed_arrivals,
    started,
)
from lbsim.records import Recorder
from lbsim.scenario.distributions import Constant, Distribution
from lbsim.streams import StreamFamily
from lbsim.transport.tcp import TcpListener

if TYPE_CHECKING:
    from lbsim.scenario.schema import ClientGroup

__all__ = [
    "RETRY",
    "ClientGroupRunner",
    "ClientHost",
    "Session",
    "Tracker",
    "outcome_for_status",
    "pick_id",
]


@functools.lru_cache(maxsize=32)
def _zipf_cumulative(ids: int, s: float) -> tuple[float, ...]:
    return tuple(itertools.accumulate(k**-s for k in range(1, ids + 1)))


def pick_id(u: float, ids: int, zipf: float | None) -> int:
    """The id in ``1..ids`` that the uniform draw ``u`` selects.

    Uniform by default; with ``zipf`` = s, id ``k`` has probability proportional to
    ``k**-s`` (inverse transform over the cumulative weights).
    """
    if zipf is None:
        return min(ids, 1 + int(u * ids))
    cumulative = _zipf_cumulative(ids, zipf)
    return min(ids, 1 + bisect.bisect_right(cumulative, u * cumulative[-1]))


def _fixed_size(dist: Distribution) -> int | None:
    """The size every draw of ``dist`` gives, if it is a constant (else None)."""
    return max(1, round(dist.value)) if isinstance(dist, Constant) else None


class ClientHost:
    """One client machine: an address and a TCP stack with a single uplink."""

    def __init__(self, name: str, ip: int, stack: TcpStack) -> None:
        self.name = name
        self.ip = ip
        self.stack = stack
        #: The address of a new connection at a time, when a resolver picks it
        #: (``reach: dns`` in a topology); None: the VIP.
        self.resolve: Callable[[float], int] | None = None


class Tracker:
    """Counts live users/sessions; fires ``done`` when all have finished."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.live = 0
        self.done = env.event()

    def started(self) -> None:
        """One more actor is running."""
        self.live += 1

    def finished(self) -> None:
        """An actor ended; the last one ends the run's active phase."""
        self.live -= 1
        if self.live == 0 and not self.done.triggered:
            self.done.succeed()


class ClientGroupRunner:
    """Drives one client group of a scenario.

    Attributes:
        name: Group name.
        in_flight: Sessions with an open request, by request id.
        open_sessions: Sessions whose connection record is not yet written.
    """

    def __init__(
        self,
        env: simpy.Environment,
        cfg: ClientGroup,
        hosts: list[ClientHost],
        *,
        seed: int,
        duration: float,
        variant: str,
        recorder: Recorder,
        tracker: Tracker,
        placement: Callable[[int, int], str | None] | None = None,
    ) -> None:
        """Set up the group (nothing runs until :meth:`start`).

        ``placement(ip, port)`` tells which backend a connection from that client
        address was pinned to, for balancers that pin connections (L4); it feeds
        the ``backend`` column of client-side connection records.
        """
        self.env = env
        self._placement = placement
        self.cfg = cfg
        self.name: str = cfg.name
        self.hosts = hosts
        self.seed = seed
        self.duration = duration
        self.variant = variant
        self.recorder = recorder
        self.tracker = tracker
        self.in_flight: dict[str, Session] = {}
        #: The random streams of the group's users, sessions and streams, by index.
        self.client_streams = StreamFamily(seed, "client", cfg.name)
        self.open_sessions: dict[str, Session] = {}
        specs = cfg.requests
        self._specs = specs
        self._cum_weights = list(itertools.accumulate(s.weight for s in specs))
        self._total = self._cum_weights[-1]
        self._mixed = len(specs) > 1  # else the one spec, without a search
        #: Per spec, its request and response sizes when they are constants.
        self._fixed_sizes = [(_fixed_size(s.size), _fixed_size(s.response)) for s in specs]
        self._raw = cfg.protocol == "raw"
        # Header fields common to the group's requests: identity, then its own.
        common: list[tuple[str, str]] = [("User-Agent", cfg.user_agent)]
        assert cfg.user is not None  # the schema fills it in (the group's name)
        token = token_header(cfg.user, cfg.token)
        if token is not None:
            common.append(token)
        common += list(cfg.headers)
        self._common_headers = tuple(common)
        self._templated = any("{user}" in v for _, v in self._common_headers)
        #: Session tickets kept per user/session id (TLS resumption).
        self.tickets: dict[str, Ticket] = {}
        #: Cookie jar per user/session id: cookies set by responses, sent back on
        #: every later request of that user, whatever the connection.
        self.cookies: dict[str, dict[str, str]] = {}

    def placement(self, ip: int, port: int) -> str | None:
        """Backend the balancer pinned the connection from ``ip:port`` to, if any."""
        return None if self._placement is None else self._placement(ip, port)

    def keep_cookie(self, who: str, set_cookie: str) -> None:
        """Store the cookie of a ``Set-Cookie`` value (``NAME=VALUE; attrs``) for ``who``."""
        name, sep, value = set_cookie.split(";", 1)[0].strip().partition("=")
        if sep:
            self.cookies.setdefault(who, {})[name] = value

    def open_channel(self, session: Session) -> tuple[TcpListener, int]:
        """The listener for a new connection of ``session``, and the VIP port to use.

        Without TLS the session listens to TCP itself. With TLS a client TLS end
        sits in between, offering the session ticket of this user (if resumption
        is on and it holds a valid one) and keeping the ticket it is given.
        """
        tls = self.cfg.tls
        if tls is None:
            return session, VIP_PORT
        who = session.conn_id.rsplit("-c", 1)[0]
        ticket = self.tickets.get(who) if tls.resumption else None
        if ticket is not None and not ticket.valid(self.env.now):
            ticket = None

        def keep(new: Ticket | None) -> None:
            if new is None:
                self.tickets.pop(who, None)
            elif tls.resumption:
                self.tickets[who] = new

        endpoint = TlsEndpoint(
            "client", tls.version, name=f"{self.name}:{session.conn_id}", ticket=ticket
        )
        channel = TlsChannel(self.env, endpoint, session, session.host.stack, on_ticket=keep)
        session.channel = channel
        return channel, VIP_TLS_PORT

    def start(self) -> None:
        """Start the users, streams or arrival process of the group's workload."""
        cfg = self.cfg
        if cfg.protocol == "multiplexed":
            if cfg.count is not None:
                for user in range(cfg.count):
                    holder = MultiplexedUser(self, user)
                    for k in range(cfg.streams):
                        self.tracker.started()
                        self.env.process(started(MultiplexedStream(self, holder, k)))
            else:
                self.tracker.started()
                self.env.process(multiplexed_arrivals(self))
        elif cfg.count is not None:
            for user in range(cfg.count):
                self.tracker.started()
                self.env.process(started(ClosedLoopUser(self, user)))
        else:
            self.tracker.started()
            self.env.process(started(OpenLoopArrivals(self)))

    def make_request(self, rng: random.Random, request_id: str, who: str = "") -> Request:
        """Draw the next request from ``rng`` (always the same number of draws).

        Args:
            rng: The user's, session's or stream's own random stream.
            request_id: Its stable id.
            who: Id of the user or session, substituted for ``{user}`` in headers.
        """
        u = rng.random()
        index = bisect.bisect_right(self._cum_weights, u * self._total) if self._mixed else 0
        spec = self._specs[index]
        # A fixed size still takes its draw: every request draws the same count.
        size, response = self._fixed_sizes[index]
        if size is None:
            size = max(1, round(spec.size.sample(rng)))
        else:
            rng.random()
        if response is None:
            response = max(1, round(spec.response.sample(rng)))
        else:
            rng.random()
        service_u = rng.random()
        id_u = rng.random()
        path = spec.path
        if "{n}" in path:
            path = path.replace("{n}", str(pick_id(id_u, spec.ids, spec.zipf)))
        if self._raw:
            return RawRequest(request_id, path, size, response, service_u, spec.service_time)
        headers = self._common_headers
        if self._templated:
            headers = tuple((k, v.replace("{user}", who)) for k, v in headers)
        if spec.headers:
            headers = headers + tuple(spec.headers)
        if self.cookies:
            jar = self.cookies.get(who)
            if jar:
                headers = (*headers, ("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items())))
        return new_http_request(
            request_id, spec.method, path, size, response, service_u, spec.service_time, headers
        )

    def new_session(self, conn_id: str, host: ClientHost) -> Session:
        """A session (not yet connected) for a new client connection."""
        session = Session(self, conn_id, host)
        self.open_sessions[conn_id] = session
        return session

    def finalize(self, now: float) -> None:
        """End of run: every open request becomes a timeout; open connections are recorded."""
        for session in {id(s): s for s in self.in_flight.values()}.values():
            session.abandon(now)
        for session in list(self.open_sessions.values()):
            if session.tcp is None:
                self.open_sessions.pop(session.conn_id, None)
            else:
                session.record(None)
