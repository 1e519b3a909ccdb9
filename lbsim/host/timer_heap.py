"""One heap for the timers of every request-level connection of a run.

Theory of operation: a segment-level stack (:mod:`lbsim.host.stack`) serves each
connection's single :attr:`~lbsim.transport.tcp.TcpConnection.deadline` with a
lazy timer of its own: one scheduled call per connection, armed whenever the
deadline moves earlier, which on firing re-arms itself if the deadline has since
moved later. At request level nothing is lost, so almost every deadline armed is
one that will never matter: the retransmission timer of a SYN, SYN-ACK or FIN is
armed for a second (or 200 ms) and cancelled a round trip later, yet each still
cost a SimPy event when its time came.

A :class:`TimerHeap` (one per run, shared by its
:class:`~lbsim.host.message_stack.MessageStack` s, see :func:`timer_heap`) keeps
the same deadlines in a heap of its own, ``(deadline, order, connection, serve)``,
and schedules a SimPy call only when no call it has already scheduled comes at or
before the new deadline. When a call fires, every entry due is served exactly as
the lazy timer would serve it (by the stack's own timer callback: the
connection's ``on_timer`` if its deadline has come, then a flush, which may arm
a new entry); then entries
at the head that no longer matter are dropped without waiting for their time --
their connection's deadline has moved later (it gets an entry at the new deadline,
which is what the lazy timer would have done at the old one), or the connection
has been forgotten -- and, unless a call already scheduled comes first, a call is
scheduled for the first entry that does matter.

So a deadline that takes effect costs at most one SimPy event, as before, and a
cancelled one a heap push and pop; calls that find nothing due come about once
per retransmission timeout for the whole run, not once per connection. Deadlines
are served at their times and, among those at one time, in the order they were
armed; only where a timer falls among *other* events at exactly the same time can
differ from the per-connection timers (its call may have been scheduled later).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING
from weakref import WeakValueDictionary

from lbsim.sched import call_at
from lbsim.transport.tcp import INF

if TYPE_CHECKING:
    import simpy

    from lbsim.transport.tcp import TcpConnection

#: Serves a connection whose entry is due, given the entry's deadline (the
#: stack's lazy-timer callback: it sets ``timer_at`` to ``inf``, calls ``on_timer``
#: if the connection's deadline has come, then flushes the connection).
Serve = Callable[["TcpConnection", float], None]

#: The heap of each live run, by ``id(env)``: held weakly, so it goes with the
#: run's stacks (a heap refers to its environment, so keying by the environment
#: itself would keep both alive for good).
_HEAPS: WeakValueDictionary[int, TimerHeap] = WeakValueDictionary()


def timer_heap(env: simpy.Environment) -> TimerHeap:
    """The run's timer heap (made on first use)."""
    heap = _HEAPS.get(id(env))
    if heap is None or heap._env is not env:  # none yet, or an id reused
        heap = _HEAPS[id(env)] = TimerHeap(env)
    return heap


class TimerHeap:
    """The deadlines of a run's request-level connections, served by its own calls.

    A connection's ``timer_at`` is the deadline of its entry (``inf`` if it has
    none), as for the per-connection lazy timers.
    """

    __slots__ = ("__weakref__", "_calls", "_env", "_heap", "_order")

    def __init__(self, env: simpy.Environment) -> None:
        """No deadlines yet."""
        self._env = env
        self._heap: list[tuple[float, int, TcpConnection, Serve]] = []
        self._order = 0
        self._calls: list[float] = []  # times of the calls scheduled and not yet made

    def arm(self, conn: TcpConnection, serve: Serve) -> None:
        """``conn.deadline`` moved earlier than its entry: give it an entry there."""
        deadline = conn.deadline
        conn.timer_at = deadline
        self._order += 1
        heappush(self._heap, (deadline, self._order, conn, serve))
        calls = self._calls
        if not calls or calls[0] > deadline:
            heappush(calls, deadline)
            call_at(self._env, deadline, self._fire)

    def discard(self) -> None:
        """The run is over: drop every entry (each refers to its connection)."""
        self._heap.clear()
        self._calls.clear()

    def _fire(self) -> None:
        """Serve every entry due, drop those that no longer matter, call again when needed."""
        heappop(self._calls)  # this call (calls come in time order)
        now = self._env.now
        heap = self._heap
        while heap:
            entry = heap[0]
            deadline = entry[0]
            if deadline > now:
                break
            heappop(heap)
            conn = entry[2]
            if conn.timer_at == deadline:
                entry[3](conn, deadline)  # it clears conn.timer_at and serves conn
        # Drop entries that no longer matter before choosing the next call.
        while heap:
            deadline, _, conn, serve = heap[0]
            if conn.timer_at != deadline:
                heappop(heap)  # superseded by an earlier entry, or forgotten
            elif conn.deadline > deadline:
                heappop(heap)  # moved later (or closed): an entry at the new deadline
                if conn.deadline < INF:
                    self._order += 1
                    conn.timer_at = conn.deadline
                    heappush(heap, (conn.deadline, self._order, conn, serve))
                else:
                    conn.timer_at = INF
            else:
                break
        if heap:
            deadline = heap[0][0]
            calls = self._calls
            if not calls or calls[0] > deadline:
                heappush(calls, deadline)
                call_at(self._env, deadline, self._fire)
