"""Client workloads: the SimPy processes that decide when requests are issued.

Theory of operation: a client group runs one of four workloads.

* closed loop, ``http`` or ``raw`` (``count`` users): each user loops think ->
  request -> wait for the answer, reusing its connection for
  ``requests_per_connection`` requests and then closing it (:func:`closed_loop_user`);
* open loop, ``http`` or ``raw`` (``rate``): sessions (connections) arrive as a
  Poisson process (:func:`open_loop_arrivals`); each sends its requests with think
  time between them (:func:`open_loop_session`);
* closed loop, ``multiplexed`` (``count`` users): each user keeps one long-lived
  connection on which ``streams`` request loops (:func:`multiplexed_stream`) run at
  the same time, like gRPC calls sharing an HTTP/2 connection;
* open loop, ``multiplexed`` (``rate``): requests (not sessions) arrive as a Poisson
  process and are spread round robin over ``connections`` long-lived connections
  (:func:`multiplexed_arrivals`).

Users, sessions and streams are processes because they wait; everything below them
is callbacks. Each draws from its own random stream keyed by (seed, group, who), in
the same order whatever the balancer does, so every balancer variant sees the same
workload (common random numbers).

A :class:`ConnectionSlot` is the connection a user (or an open-loop session, or a
multiplexed user's streams) currently uses, numbered ``c0, c1, ...`` as it is
replaced. Every workload waits for a request through the one retry helper,
:func:`until_answered`: a request whose attempt ends in :data:`RETRY` is issued
again on the connection the workload's rule gives (a fresh one for HTTP/1.1-style
clients, the shared one, renewed if needed, for multiplexed ones).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from lbsim.nodes.session import RETRY, Request, Session
from lbsim.streams import stream

if TYPE_CHECKING:
    from lbsim.nodes.client import ClientGroupRunner, ClientHost

Process = Generator[simpy.Event, Any, None]


class ConnectionSlot:
    """The current connection of one user, session or multiplexed user.

    Attributes:
        group: The client group.
        who: Id prefix of the connections, e.g. ``"browsers-3"``.
        host: The client machine they are opened from.
        current: The session in use, or None before the first / after a release.
        connections: How many have been opened (the next is ``c<connections>``).
    """

    def __init__(self, group: ClientGroupRunner, who: str, host: ClientHost) -> None:
        """An empty slot: no connection yet."""
        self.group = group
        self.who = who
        self.host = host
        self.current: Session | None = None
        self.connections = 0

    def fresh(self) -> Session:
        """Close the current connection (once idle) and start a new session."""
        if self.current is not None:
            self.current.close()
        self.current = self.group.new_session(f"{self.who}-c{self.connections}", self.host)
        self.connections += 1
        return self.current

    def usable(self, limit: float = float("inf")) -> Session:
        """The current session if it may take another request, else a fresh one.

        Args:
            limit: Requests a connection carries at most (``requests_per_connection``).
        """
        current = self.current
        if current is None or not current.usable or current.count >= limit:
            return self.fresh()
        return current

    def release(self) -> None:
        """Close the current connection (once idle) and leave the slot empty."""
        if self.current is not None:
            self.current.close()
            self.current = None


def until_answered(
    env: simpy.Environment, req: Request, session: Session, again: Callable[[], Session]
) -> Generator[simpy.Event, Any, str]:
    """Issue ``req`` on ``session`` and wait until it has an outcome, retrying.

    Each attempt that ends in :data:`RETRY` is issued again on ``again()``; the
    request's latency counts from the first attempt. Use with ``yield from``.

    Returns:
        The final outcome (as recorded).
    """
    first = env.now
    attempt = 0
    while (outcome := (yield session.request(req, attempt=attempt, first_start=first))) == RETRY:
        attempt += 1
        session = again()
    return str(outcome)


# ------------------------------------------------------- one request at a time


def closed_loop_user(group: ClientGroupRunner, user: int) -> Process:
    """A closed-loop user: think, request, wait; a connection per ``requests_per_connection``."""
    env = group.env
    cfg = group.cfg
    rng = stream(group.seed, "client", group.name, user)
    slot = ConnectionSlot(group, f"{group.name}-{user}", group.hosts[user % len(group.hosts)])
    think = cfg.think_time
    per_conn = cfg.requests_per_connection
    seq = 0
    while True:
        yield env.timeout(think.sample(rng))
        if env.now >= group.duration:
            break
        session = slot.usable()
        req = group.make_request(rng, f"{group.name}-{user}-{seq}", f"{group.name}-{user}")
        seq += 1
        yield from until_answered(env, req, session, slot.fresh)
        current = slot.current
        if current is not None and (current.count >= per_conn or not current.usable):
            slot.release()
    slot.release()
    group.tracker.finished()


def open_loop_arrivals(group: ClientGroupRunner) -> Process:
    """Open loop: sessions arrive as a Poisson process of rate ``rate``."""
    env = group.env
    rng = stream(group.seed, "arrivals", group.name)
    rate = group.cfg.rate
    assert rate is not None  # open loop: the schema requires a rate
    i = 0
    while True:
        yield env.timeout(rng.expovariate(rate))
        if env.now >= group.duration:
            break
        group.tracker.started()
        env.process(open_loop_session(group, i))
        i += 1
    group.tracker.finished()


def open_loop_session(group: ClientGroupRunner, index: int) -> Process:
    """One arriving session: ``requests_per_connection`` requests, think time between."""
    env = group.env
    cfg = group.cfg
    rng = stream(group.seed, "client", group.name, index)
    slot = ConnectionSlot(group, f"{group.name}-{index}", group.hosts[index % len(group.hosts)])
    slot.fresh()
    for k in range(cfg.requests_per_connection):
        if k:
            yield env.timeout(cfg.think_time.sample(rng))
            if env.now >= group.duration:
                break
        assert slot.current is not None
        req = group.make_request(rng, f"{group.name}-{index}-{k}", f"{group.name}-{index}")
        yield from until_answered(env, req, slot.current, slot.fresh)
        if not slot.current.usable:
            break
    slot.release()
    group.tracker.finished()


# ----------------------------------------------------------------- multiplexed


class MultiplexedUser(ConnectionSlot):
    """The connection a multiplexed user's streams share.

    A connection carries ``requests_per_connection`` requests in all, or lives
    ``max_connection_age`` (each connection's own limit spread by the jitter);
    the next request then opens a fresh one, and the old one closes once its
    last answer is in. That is what a client does on an HTTP/2 GOAWAY: streams
    already open finish on the old connection, new streams go on a new one,
    which an L4 balancer places afresh.
    """

    def __init__(self, group: ClientGroupRunner, user: int) -> None:
        """No connection yet; all of the group's ``streams`` are live."""
        super().__init__(group, f"{group.name}-{user}", group.hosts[user % len(group.hosts)])
        self.user = user
        self.live_streams = group.cfg.streams
        self._age_rng = stream(group.seed, "client", group.name, user, "age")
        self._age_limit = float("inf")
        #: Connections drained because they reached their age limit (GOAWAY).
        self.aged_out = 0

    def _draw_age_limit(self) -> float:
        """This connection's age limit: ``max_connection_age`` spread by the jitter."""
        age = self.group.cfg.max_connection_age
        if age is None:
            return float("inf")
        jitter = self.group.cfg.max_connection_age_jitter
        return float(age * (1.0 + jitter * (2.0 * self._age_rng.random() - 1.0)))

    def session(self) -> Session:
        """The connection to issue the next request on."""
        current = self.current
        if current is not None and self.group.env.now - current.created >= self._age_limit:
            if current.usable:
                self.aged_out += 1
            fresh = self.fresh()  # graceful: open streams finish on the old one first
        else:
            fresh = self.usable(self.group.cfg.requests_per_connection)
            if fresh is current:
                return fresh
        self._age_limit = self._draw_age_limit()
        return fresh

    def stream_done(self, all_streams: bool = False) -> None:
        """A stream stopped; the last one closes the connection."""
        self.live_streams = 0 if all_streams else self.live_streams - 1
        if self.live_streams <= 0 and self.current is not None:
            self.current.close()


def multiplexed_stream(group: ClientGroupRunner, holder: MultiplexedUser, k: int) -> Process:
    """One request loop of a multiplexed user (its streams share a connection)."""
    env = group.env
    user = holder.user
    rng = stream(group.seed, "client", group.name, user, "stream", k)
    think = group.cfg.think_time
    seq = 0
    while True:
        yield env.timeout(think.sample(rng))
        if env.now >= group.duration:
            break
        req = group.make_request(rng, f"{group.name}-{user}.{k}-{seq}", f"{group.name}-{user}")
        seq += 1
        yield from until_answered(env, req, holder.session(), holder.session)
    holder.stream_done()
    group.tracker.finished()


def multiplexed_arrivals(group: ClientGroupRunner) -> Process:
    """Open-loop multiplexed: Poisson requests over long-lived connections."""
    env = group.env
    cfg = group.cfg
    rng = stream(group.seed, "arrivals", group.name)
    n = cfg.connections or cfg.hosts
    holders = [MultiplexedUser(group, c) for c in range(n)]
    rate = cfg.rate
    assert rate is not None  # open loop: the schema requires a rate
    i = 0
    while True:
        yield env.timeout(rng.expovariate(rate))
        if env.now >= group.duration:
            break
        holder = holders[i % n]
        req = group.make_request(rng, f"{group.name}-r{i}", f"{group.name}-{holder.user}")
        holder.session().request(req)
        i += 1
    # No process waits for these requests one by one: wait for all of them here,
    # so the run does not end while some are still being served.
    open_requests = [
        pending.event
        for holder in holders
        if holder.current is not None
        for pending in holder.current.pending.values()
    ]
    if open_requests:
        yield env.all_of(open_requests)
    for holder in holders:
        holder.stream_done(all_streams=True)
    group.tracker.finished()
