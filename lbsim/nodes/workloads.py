"""Client workloads: what decides when requests are issued.

Theory of operation: a client group runs one of four workloads.

* closed loop, ``http`` or ``raw`` (``count`` users): each user loops think ->
  request -> wait for the answer, reusing its connection for
  ``requests_per_connection`` requests and then closing it (:class:`ClosedLoopUser`);
* open loop, ``http`` or ``raw`` (``rate``): sessions (connections) arrive as a
  Poisson process (:class:`OpenLoopArrivals`); each sends its requests with think
  time between them (:class:`OpenLoopSession`);
* closed loop, ``multiplexed`` (``count`` users): each user keeps one long-lived
  connection on which ``streams`` request loops (:class:`MultiplexedStream`) run at
  the same time, like gRPC calls sharing an HTTP/2 connection;
* open loop, ``multiplexed`` (``rate``): requests (not sessions) arrive as a Poisson
  process and are spread round robin over ``connections`` long-lived connections
  (:func:`multiplexed_arrivals`).

Users, sessions and streams are :class:`RequestLoop` objects, and open-loop
arrivals an :class:`OpenLoopArrivals`: they wait without a SimPy process, which
would cost a generator and three more events per session, and more per wait. A
think time (or the gap to the next arrival) is one call scheduled after it; an
answer is one call the session schedules at the time of the outcome, where the
event a process waited on would have fired. A workload starts where its process
would have taken its first step (:func:`started`; an arriving session right after
its arrival, once the next arrival is scheduled), so the order of events, and
every output, is what it was with processes. Each loop draws from its own random
stream keyed by (seed, group, who), in the same order whatever the balancer does,
so every balancer variant sees the same workload (common random numbers).

A :class:`ConnectionSlot` is the connection a user (or an open-loop session, or a
multiplexed user's streams) currently uses, numbered ``c0, c1, ...`` as it is
replaced. Every loop waits for a request through the one retry rule of
:meth:`RequestLoop.issue`: a request whose attempt ends in :data:`RETRY` is issued
again on the connection the loop's rule gives (a fresh one for HTTP/1.1-style
clients, the shared one, renewed if needed, for multiplexed ones).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

import simpy

from lbsim.nodes.session import RETRY, Request, Session
from lbsim.sched import call_later
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


class RequestLoop(ABC):
    """A loop that issues one request at a time and waits for it without a process.

    Subclasses say what follows a final outcome (:meth:`answered`) and, unless the
    loop thinks before its first request, how it starts (:meth:`start`);
    :meth:`issue` sends a request and sends it again after each :data:`RETRY`.
    """

    def __init__(self, group: ClientGroupRunner, rng: random.Random) -> None:
        """A loop of ``group`` drawing from ``rng``; nothing happens until :meth:`start`."""
        self.group = group
        self.env = group.env
        self.rng = rng
        self.think = group.cfg.think_time
        self._req: Request | None = None
        self._again: Callable[[], Session] | None = None
        self._attempt = 0
        self._first = 0.0

    def start(self, now: float) -> None:
        """Take the loop's first step at ``now``: by default, think before the first request."""
        self._after_think()

    @abstractmethod
    def answered(self, outcome: str) -> None:
        """The request issued last has its final ``outcome`` (as recorded)."""

    def _wake(self) -> None:
        """The think time is over (loops that think override this)."""
        raise NotImplementedError

    def _after_think(self) -> None:
        """Wake (:meth:`_wake`) after a think time drawn from the loop's stream."""
        call_later(self.env, self.think.sample(self.rng), self._wake)

    def issue(
        self, req: Request, session: Session, again: Callable[[], Session], now: float
    ) -> None:
        """Issue ``req`` on ``session`` at ``now``; :meth:`answered` follows its final outcome.

        Each attempt that ends in :data:`RETRY` is issued again on ``again()``; the
        request's latency counts from the first attempt.
        """
        self._req = req
        self._again = again
        self._attempt = 0
        self._first = now
        session.request(req, now, self._outcome, first_start=now)

    def _outcome(self, outcome: str) -> None:
        if outcome != RETRY:
            self.answered(outcome)
            return
        assert self._req is not None and self._again is not None  # set by issue()
        self._attempt += 1
        self._again().request(
            self._req, self.env.now, self._outcome, attempt=self._attempt, first_start=self._first
        )


class Startable(Protocol):
    """A workload that waits without a process (a :class:`RequestLoop`, the arrivals)."""

    env: simpy.Environment

    def start(self, now: float) -> None:
        """Take the first step, at ``now``."""


def started(loop: Startable) -> Process:
    """A process whose one step starts ``loop`` (at the start of the run).

    Its first step runs where the workload's own process used to run its first
    one, so the workload's events keep their place in the event order.
    """
    loop.start(loop.env.now)
    yield from ()


# ------------------------------------------------------- one request at a time


class ClosedLoopUser(RequestLoop):
    """A closed-loop user: think, request, wait; a connection per ``requests_per_connection``."""

    def __init__(self, group: ClientGroupRunner, user: int) -> None:
        """User number ``user`` of ``group``."""
        super().__init__(group, group.client_streams(user))
        self.who = f"{group.name}-{user}"
        self.slot = ConnectionSlot(group, self.who, group.hosts[user % len(group.hosts)])
        self.per_conn = group.cfg.requests_per_connection
        self.seq = 0

    def _wake(self) -> None:
        group = self.group
        now = self.env.now
        if now >= group.duration:
            self.slot.release()
            group.tracker.finished()
            return
        session = self.slot.usable()
        req = group.make_request(self.rng, f"{self.who}-{self.seq}", self.who)
        self.seq += 1
        self.issue(req, session, self.slot.fresh, now)

    def answered(self, outcome: str) -> None:
        """Close the connection if it is used up or broken; think again."""
        current = self.slot.current
        if current is not None and (current.count >= self.per_conn or not current.usable):
            self.slot.release()
        self._after_think()


class OpenLoopArrivals:
    """Open loop: sessions arrive as a Poisson process of rate ``rate``."""

    def __init__(self, group: ClientGroupRunner) -> None:
        """The arrivals of ``group``; the first comes after :meth:`start`."""
        self.group = group
        self.env = group.env
        self.rng = stream(group.seed, "arrivals", group.name)
        rate = group.cfg.rate
        assert rate is not None  # open loop: the schema requires a rate
        self.rate = rate
        self.count = 0  # sessions started

    def start(self, now: float) -> None:
        """Wait for the first arrival."""
        call_later(self.env, self.rng.expovariate(self.rate), self._arrive)

    def _arrive(self) -> None:
        group = self.group
        now = self.env.now
        if now >= group.duration:
            group.tracker.finished()
            return
        # The next arrival is scheduled before this session starts, as it was when
        # each session was a process whose first step came right after this one.
        call_later(self.env, self.rng.expovariate(self.rate), self._arrive)
        group.tracker.started()
        OpenLoopSession(group, self.count).start(now)
        self.count += 1


class OpenLoopSession(RequestLoop):
    """One arriving session: ``requests_per_connection`` requests, think time between."""

    def __init__(self, group: ClientGroupRunner, index: int) -> None:
        """Session number ``index`` of ``group``."""
        super().__init__(group, group.client_streams(index))
        self.who = f"{group.name}-{index}"
        self.slot = ConnectionSlot(group, self.who, group.hosts[index % len(group.hosts)])
        self.k = 0  # requests answered

    def start(self, now: float) -> None:
        """Open the connection with the first request."""
        self.slot.fresh()
        self._request(now)

    def _request(self, now: float) -> None:
        session = self.slot.current
        assert session is not None  # held from start() until _end()
        req = self.group.make_request(self.rng, f"{self.who}-{self.k}", self.who)
        self.issue(req, session, self.slot.fresh, now)

    def answered(self, outcome: str) -> None:
        """The next request after a think time, or the end of the session."""
        self.k += 1
        current = self.slot.current
        if self.k >= self.group.cfg.requests_per_connection or (
            current is not None and not current.usable
        ):
            self._end()
        else:
            self._after_think()

    def _wake(self) -> None:
        now = self.env.now
        if now >= self.group.duration:
            self._end()
        else:
            self._request(now)

    def _end(self) -> None:
        self.slot.release()
        self.group.tracker.finished()


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
        self._age_rng = group.client_streams(user, "age")
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


class MultiplexedStream(RequestLoop):
    """One request loop of a multiplexed user (its streams share a connection)."""

    def __init__(self, group: ClientGroupRunner, holder: MultiplexedUser, k: int) -> None:
        """Stream ``k`` of the user whose connection ``holder`` keeps."""
        super().__init__(group, group.client_streams(holder.user, "stream", k))
        self.holder = holder
        self.prefix = f"{group.name}-{holder.user}.{k}-"
        self.who = f"{group.name}-{holder.user}"
        self.seq = 0

    def _wake(self) -> None:
        group = self.group
        now = self.env.now
        if now >= group.duration:
            self.holder.stream_done()
            group.tracker.finished()
            return
        req = group.make_request(self.rng, f"{self.prefix}{self.seq}", self.who)
        self.seq += 1
        self.issue(req, self.holder.session(), self.holder.session, now)

    def answered(self, outcome: str) -> None:
        """Think again."""
        self._after_think()


class OpenMultiplexedRequest(RequestLoop):
    """One open-loop multiplexed request: a loop of a single request.

    The arrivals do not wait for answers, so each request is its own loop, sent
    on its user's connection (renewed if need be) and again after each
    :data:`RETRY` by :meth:`RequestLoop.issue`; ``done`` gets its final outcome.
    """

    def __init__(
        self,
        group: ClientGroupRunner,
        rng: random.Random,
        req: Request,
        holder: MultiplexedUser,
        done: Callable[[str], None],
    ) -> None:
        """``req`` for ``holder``'s connection; nothing is sent until :meth:`start`."""
        super().__init__(group, rng)
        self.req = req
        self.holder = holder
        self.done = done

    def start(self, now: float) -> None:
        """Send the first attempt (latency counts from ``now``)."""
        self.issue(self.req, self.holder.session(), self.holder.session, now)

    def answered(self, outcome: str) -> None:
        """Hand the final outcome to the arrivals."""
        self.done(outcome)


def multiplexed_arrivals(group: ClientGroupRunner) -> Process:
    """Open-loop multiplexed: Poisson requests over long-lived connections.

    A request whose attempt ends in :data:`RETRY` is sent again on its user's
    connection (renewed if need be); the arrivals end once every request issued
    has its final outcome.
    """
    env = group.env
    cfg = group.cfg
    rng = stream(group.seed, "arrivals", group.name)
    n = cfg.connections or cfg.hosts
    holders = [MultiplexedUser(group, c) for c in range(n)]
    rate = cfg.rate
    assert rate is not None  # open loop: the schema requires a rate
    open_requests = [0]
    drained: list[simpy.Event] = []

    def answered(_outcome: str) -> None:
        open_requests[0] -= 1
        if not open_requests[0] and drained:
            drained[0].succeed()

    i = 0
    while True:
        yield env.timeout(rng.expovariate(rate))
        if env.now >= group.duration:
            break
        holder = holders[i % n]
        req = group.make_request(rng, f"{group.name}-r{i}", f"{group.name}-{holder.user}")
        open_requests[0] += 1
        OpenMultiplexedRequest(group, rng, req, holder, answered).start(env.now)
        i += 1
    # No process waits for these requests one by one: wait for all of them here,
    # so the run does not end while some are still being served (or retried).
    if open_requests[0]:
        drained.append(env.event())
        yield drained[0]
    for holder in holders:
        holder.stream_done(all_streams=True)
    group.tracker.finished()
