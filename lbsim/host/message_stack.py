"""A request-level host stack: carriers held back by slow start, CPU per carried segment.

Theory of operation: at request level (``fidelity: request``) every TCP stack of
a run becomes a :class:`MessageStack` once the run is wired (see
:func:`to_request_level`). It is the same stack -- ports, demultiplexing, RST,
timers -- whose connections are
:class:`~lbsim.transport.message.MessageConnection`: they send each burst of
bytes as one carrier segment standing for ``k`` segments. The stack adds two
things:

* a carrier that slow start holds back (its idle gaps, see
  :mod:`lbsim.transport.message`) is handed to the link at its release time, by
  one scheduled call, so the link stays free for other traffic meanwhile;
* a stack charged CPU per segment (a terminating balancer) pays ``k`` segment
  costs for a carrier received or sent, as it would for ``k`` segments.

Each connection learns the byte rate of the slowest link towards its peer from
:attr:`MessageStack.rate_to`, which the run sets from its links.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from lbsim.host.stack import TcpStack
from lbsim.host.timer_heap import TimerHeap, timer_heap
from lbsim.net.segment import (
    ACK_RIDES,
    ACKS_SHIFT,
    CARRIED_MASK,
    FIN,
    FIN_ACK_COUNTED,
    SEQ_MASK,
    SYN,
    Segment,
    represented,
)
from lbsim.sched import call_at
from lbsim.transport.message import MessageConnection
from lbsim.transport.states import CLOSED
from lbsim.transport.tcp import INF, TcpConnection, TcpListener


def _no_rate(ip: int) -> float:
    return 0.0


class MessageStack(TcpStack):
    """A TCP stack whose connections send one carrier per burst (request level).

    Every connection of a message stack is a
    :class:`~lbsim.transport.message.MessageConnection` (:attr:`connection_class`;
    :func:`to_request_level` refuses a stack that already holds others).

    Attributes:
        rate_to: Bytes per second of the slowest link towards an address.
    """

    connection_class = MessageConnection

    # Set by to_request_level (a stack converted in place runs no __init__).
    rate_to: Callable[[int], float] = staticmethod(_no_rate)
    #: Whether its connections count the ACK of a closing FIN instead of sending
    #: it (off where a balancer must see that ACK and cannot be told of it).
    count_fin_ack = True
    _timers: TimerHeap
    #: ``self._timer``, bound once: every entry of the timer heap holds it.
    _serve: Callable[[TcpConnection, float], None]
    #: rate_to's answers (a stack talks to few addresses); emptied when it changes.
    _rates: dict[int, float]

    def __init__(self, env: simpy.Environment, *args: object, **kwargs: object) -> None:
        super().__init__(env, *args, **kwargs)  # type: ignore[arg-type]
        self._timers = timer_heap(env)
        self._serve = self._timer
        self._rates = {}

    def discard(self) -> None:
        """As :meth:`TcpStack.discard`, and the run's timer heap (shared) is emptied too."""
        super().discard()
        self._timers.discard()

    def _rate(self, ip: int) -> float:
        """:attr:`rate_to` of ``ip``, remembered."""
        rate = self._rates[ip] = self.rate_to(ip)
        return rate

    def _isn(self, key: tuple[int, int, int, int]) -> int:
        """Initial sequence number: RFC 6528's 4-us clock plus the host's salt.

        Nothing at request level sees sequence numbers but the two ends, which
        work relative to them, so the keyed hash of the 4-tuple that spreads them
        at segment level is left out; the clock still starts a reused 4-tuple
        elsewhere.
        """
        return (int(self.env.now * 250_000) + self.salt) & SEQ_MASK

    def _new_connection(
        self, key: tuple[int, int, int, int], listener: TcpListener, passive: bool
    ) -> TcpConnection:
        """TcpStack's new connection (a :class:`MessageConnection`), told its path's rate."""
        conn: MessageConnection = super()._new_connection(key, listener, passive)  # type: ignore[assignment]
        remote_ip = key[2]
        rate = self._rates.get(remote_ip)
        conn.path_rate = self._rate(remote_ip) if rate is None else rate
        conn.count_fin_ack = self.count_fin_ack
        return conn

    # The receive path, written out for request level: at request level a
    # connection takes in few segments, so each is a large share of a run's calls;
    # TcpStack.receive is repeated here with the usual flush inline, and the general
    # one stays the reference (TcpStack, used at segment level).

    def receive(self, seg: Segment, now: float) -> None:
        """Entry point for segments delivered by a link at time ``now``."""
        if self.silent:
            return
        # Indexing a segment is cheaper than reading its fields by name.
        key = (seg[1], seg[3], seg[0], seg[2])  # dst, dport, src, sport
        conn: MessageConnection | None = self.conns.get(key)  # type: ignore[assignment]
        if conn is None:
            conn = self._incoming(seg, key)  # type: ignore[assignment]  # a MessageConnection
            if conn is None:
                if self.cpu is not None:
                    self.cpu.run(now, self.segment_cost)
                return
        conn.receive(seg, now)
        if self.cpu is not None:
            # Receiving was one job; the reply segments are charged with it.
            self.flush(conn, 1, now)
            return
        out = conn.out
        if out:
            if conn.holds or self.silent:
                self.flush(conn)
                return
            # self.flush(conn), inlined for its usual case here: everything leaves now.
            link = self.uplink or self.routes[conn.remote_ip]
            for sent in out:
                link.send(sent)
            out.clear()
        if conn.state is CLOSED:
            TcpStack.after_flush(self, conn)
        elif conn.deadline < conn.timer_at:
            self._timers.arm(conn, self._serve)

    def _timer(self, conn: TcpConnection, armed_for: float) -> None:
        """TcpStack._timer, with the flush of a connection that has nothing to send inline."""
        if conn.timer_at != armed_for:
            return  # superseded by an earlier timer
        conn.timer_at = INF
        if conn.state is CLOSED:
            return
        now = self.env.now
        if conn.deadline <= now:
            conn.on_timer(now)
        if self.cpu is not None or conn.out:
            self.flush(conn)
        elif conn.state is CLOSED:
            TcpStack.after_flush(self, conn)
        elif conn.deadline < conn.timer_at:
            self._timers.arm(conn, self._serve)

    def flush(self, conn: TcpConnection, received: int = 0, now: float | None = None) -> None:
        """Send what ``conn`` produced: held carriers at their release time.

        On a stack charged CPU per segment, each carrier leaves once the work for
        the segments received and its own segments is done; the work for the ACKs
        it draws (they come back later, elided) ends the batch.
        """
        mconn: MessageConnection = conn  # type: ignore[assignment]
        out = mconn.out
        cpu = self.cpu
        later = 0  # work for ACKs this host sends later (elided), after what it sends now
        if received:
            # The segment just received was a carrier: its own segments first.
            later = received * (mconn.rx_carried - mconn.rx_own)
            received *= mconn.rx_own
        if not out or self.silent:
            if out:
                out.clear()  # a vanished host sends nothing
            if cpu is not None:
                t = self.env.now if now is None else now
                cpu.run(t, self.segment_cost * (received + later))
        elif cpu is None and not mconn.holds:  # the common case: everything leaves now
            link = self.uplink or self.routes[mconn.remote_ip]
            for seg in out:
                link.send(seg)
            out.clear()
        else:
            # Paced: after the CPU work, held carriers at their release time.
            holds = mconn.holds
            link = self.uplink or self.routes[mconn.remote_ip]
            t = self.env.now
            ready: float | None = None
            cost = self.segment_cost
            if cpu is not None:
                if len(out) == 1:
                    # represented(out[0]), inline.
                    seg = out[0]
                    w = seg[10]
                    flags = seg[6]
                    data = seg[8] and not flags & FIN
                    if w <= 1 or flags & SYN:
                        sending = 2 if data else 1
                    else:
                        k = (w & CARRIED_MASK) or 1
                        rides = 1 if w & ACK_RIDES else 0
                        if data:
                            sending = 2 * k + rides - (w >> ACKS_SHIFT)
                        else:
                            sending = k + rides + (1 if w & FIN_ACK_COUNTED else 0)
                else:
                    sending = sum(represented(seg) for seg in out)
                done = cpu.run(t if now is None else now, cost * (received + sending + later))
                ready = done - cost * (sending + later)
            for seg in out:
                if ready is not None:
                    # sent_with(seg), inline.
                    w = seg[10]
                    if w <= 1 or seg[6] & SYN:
                        ready += cost
                    else:
                        ready += cost * (((w & CARRIED_MASK) or 1) + (1 if w & ACK_RIDES else 0))
                if holds and holds[0][0] is seg:
                    release = holds.pop(0)[1]
                    if release > t:
                        call_at(self.env, release, link.send, seg, ready)
                        continue
                link.send(seg, ready)
            out.clear()
        # self.after_flush(mconn), inlined (one call less per flush).
        if mconn.state is CLOSED:
            super().after_flush(mconn)
        elif mconn.deadline < mconn.timer_at:
            self._timers.arm(mconn, self._serve)

    def after_flush(self, conn: TcpConnection) -> None:
        """Forget ``conn`` once closed, else give its deadline to the run's timer heap."""
        if conn.state is CLOSED:
            super().after_flush(conn)
        elif conn.deadline < conn.timer_at:
            self._timers.arm(conn, self._serve)


def to_request_level(
    stack: TcpStack, rate_to: Callable[[int], float], count_fin_ack: bool = True
) -> None:
    """Turn a freshly built stack into a request-level one.

    The object keeps its identity (the balancer, health checker and nodes hold
    it), so only its class changes, and it shares the run's :class:`TimerHeap`. A
    stack that opened connections while the run was wired (a balancer's warm
    pool) must be made a :class:`MessageStack` from the start
    (``Wiring.stack_class``).

    Raises:
        RuntimeError: If the stack already holds segment-level connections.
    """
    if type(stack) is TcpStack:
        if stack.conns:
            raise RuntimeError(f"{stack.name}: connections opened before request level was set")
        stack.__class__ = MessageStack
        stack._timers = timer_heap(stack.env)  # type: ignore[attr-defined]
        stack._serve = stack._timer  # type: ignore[attr-defined]
    stack.rate_to = rate_to  # type: ignore[attr-defined]
    stack._rates = {}  # type: ignore[attr-defined]
    stack.count_fin_ack = count_fin_ack  # type: ignore[attr-defined]
