"""Many timeouts of one length, served by one pending SimPy event.

Theory of operation: a balancer arms the same kind of timeout again and again --
an idle pooled connection is closed ``idle_timeout`` after its release, a new
connection-table entry is checked when its SYN_RECV timeout could have run out --
and most of them come to nothing (the connection is reused, the entry moves on).
Scheduling one SimPy event each fills the event queue with stale events that
every push and pop then sorts through. When the timeouts all have the same
length, their deadlines come in the order they are armed, so a first-in,
first-out queue holds them sorted, and one event, for the earliest deadline that
still matters, serves them all.

The deadlines fire at exactly the times, and in exactly the order, that one
event per timeout would have given:

* :meth:`DeadlineQueue.add` takes the time ``when`` as :func:`~lbsim.sched.call_at`
  would, and stores the time SimPy would have given that event
  (``now + (when - now)``, the same float operations);
* deadlines that fall at the same time fire in the order they were armed, as
  SimPy orders events at equal times by when they were scheduled; all of them
  fire from one event, one after the other, as consecutive events would have;
* the one pending event is scheduled for a stored deadline ``d`` from a later
  time ``t`` (the previous deadline): ``t + (d - t)`` is ``d`` exactly, since
  ``t <= d <= 2 t`` makes the subtraction exact (Sterbenz's lemma) -- the queue
  only takes one timeout length, so ``d`` is at most ``t`` plus that length and
  ``t`` is at least that length.

An entry is a deadline and an item; when its time comes the owner's ``fire``
callback gets the item and decides, as the handler of a separate event would
have, whether the timeout still applies. An owner that can tell an entry is stale
before its time (``stale``) saves the event it would have cost.

What a shared event changes is only the place of the deadlines among *other*
events due at exactly the same float time (they are ordered by when the shared
event was scheduled, not when each timeout was armed); the outputs snapshot of
the bundled scenarios is byte-identical.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import simpy

from lbsim.sched import call_at

INF = float("inf")


class DeadlineQueue:
    """Deadlines of one timeout length, in the order armed, with one pending event.

    Args:
        env: The run's environment.
        fire: Called with an entry's item when its deadline comes.
        stale: Optional test of an item already known to need nothing: such an
            entry is dropped unseen when the pending event is chosen.
    """

    __slots__ = ("_armed", "_env", "_fire", "_queue", "_stale", "_token")

    def __init__(
        self,
        env: simpy.Environment,
        fire: Callable[[Any], None],
        stale: Callable[[Any], bool] | None = None,
    ) -> None:
        self._env = env
        self._fire = fire
        self._stale = stale
        self._queue: deque[tuple[float, Any]] = deque()
        self._armed = INF  # time of the pending event (INF: none)
        self._token = 0  # names the pending event; an earlier one armed later replaces it

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, when: float, item: Any, now: float | None = None) -> None:
        """Arm a deadline at absolute time ``when`` (as ``call_at(env, when, ...)`` would).

        ``now``, if the caller has it at hand, is the current time (saves reading
        the clock).
        """
        env = self._env
        if now is None:
            now = env.now
        delay = when - now
        due = now + (delay if delay > 0 else 0.0)  # the time SimPy would give the event
        queue = self._queue
        if not queue or due >= queue[-1][0]:
            queue.append((due, item))
        else:  # rounding put it before an earlier-armed one: keep the queue sorted
            i = len(queue)
            while i and queue[i - 1][0] > due:
                i -= 1
            queue.insert(i, (due, item))
        if due < self._armed:
            self._armed = due
            self._token += 1
            call_at(env, when, self._run, self._token)

    def discard(self) -> None:
        """The run is over: drop every deadline (each refers to its item)."""
        self._queue.clear()

    def _run(self, token: int) -> None:
        if token != self._token:
            return  # an earlier deadline, armed later, took over from this event
        now = self._env.now
        queue = self._queue
        fire = self._fire
        while queue and queue[0][0] <= now:
            fire(queue.popleft()[1])
        stale = self._stale
        if stale is not None:
            while queue and stale(queue[0][1]):
                queue.popleft()
        if queue:
            nxt = self._armed = queue[0][0]
            self._token += 1
            call_at(self._env, nxt, self._run, self._token)
        else:
            self._armed = INF
