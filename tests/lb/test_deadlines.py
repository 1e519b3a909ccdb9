"""DeadlineQueue: one pending event fires timeouts exactly as one event each would."""

from __future__ import annotations

import random

import simpy

from lbsim.lb.deadlines import DeadlineQueue
from lbsim.sched import call_at


def _arming_times(seed: int, n: int) -> list[float]:
    """Times at which timeouts are armed: random gaps, with bursts at equal times."""
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        if rng.random() < 0.8:
            t += rng.expovariate(50.0)
        out.append(t)  # a zero gap arms several at the same instant
    return out


def _fired(seed: int, length: float, shared: bool) -> list[tuple[float, int]]:
    """(time, item) of every timeout that fired, per-event or through a DeadlineQueue."""
    env = simpy.Environment()
    fired: list[tuple[float, int]] = []

    def fire(item: int) -> None:
        fired.append((env.now, item))

    queue = DeadlineQueue(env, fire)

    def arm(item: int) -> None:
        if shared:
            queue.add(env.now + length, item)
        else:
            call_at(env, env.now + length, fire, item)

    for item, at in enumerate(_arming_times(seed, 400)):
        call_at(env, at, arm, item)
    env.run()
    return fired


def test_same_times_and_order_as_one_event_each() -> None:
    for seed in range(5):
        for length in (0.02, 0.3, 60.0, 1 / 3):
            per_event = _fired(seed, length, shared=False)
            assert len(per_event) == 400
            assert _fired(seed, length, shared=True) == per_event  # exact floats, same order


class _Counting(DeadlineQueue):
    """Counts the events it is served by."""

    runs = 0

    def _run(self, token: int) -> None:
        type(self).runs += 1
        super()._run(token)


def test_stale_entries_cost_no_event() -> None:
    env = simpy.Environment()
    fired: list[int] = []
    cancelled = set(range(0, 100, 2))  # every other timeout becomes stale before its time
    queue = _Counting(env, fired.append, stale=lambda item: item in cancelled)
    for item in range(100):
        call_at(env, item * 0.01, lambda i=item: queue.add(env.now + 1.0, i))
    env.run()
    # The first was armed before it went stale, so fire sees it (and must check it
    # itself); every later stale one is dropped unseen and costs no event.
    assert fired == [0, *range(1, 100, 2)]
    assert _Counting.runs == 51
