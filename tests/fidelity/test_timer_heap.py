"""Request level's run-wide timer heap serves deadlines as lazy per-connection timers do."""

from __future__ import annotations

import gc
import weakref

import simpy

from lbsim.host.timer_heap import TimerHeap, timer_heap
from lbsim.transport.tcp import INF


class _Conn:
    """Just what the heap reads: a deadline and the driver's ``timer_at``."""

    def __init__(self, name: str, deadline: float) -> None:
        self.name = name
        self.deadline = deadline
        self.timer_at = INF


def _calls(env: simpy.Environment) -> int:
    """Calls the heap has scheduled and SimPy has not made yet."""
    return sum(type(entry[3]).__name__ == "_Call" for entry in env._queue)


def test_deadlines_served_at_their_time_in_arming_order() -> None:
    env = simpy.Environment()
    heap = TimerHeap(env)
    served: list[tuple[float, str]] = []

    def serve(conn: _Conn, armed_for: float) -> None:  # the stack's timer: on_timer, flush
        conn.timer_at = INF
        served.append((env.now, conn.name))
        conn.deadline = INF

    a, b, c = _Conn("a", 2.0), _Conn("b", 1.0), _Conn("c", 2.0)
    for conn in (a, b, c):
        heap.arm(conn, serve)  # type: ignore[arg-type]
    env.run()
    assert served == [(1.0, "b"), (2.0, "a"), (2.0, "c")]


def test_cancelled_deadlines_cost_no_call_and_moved_ones_are_served_later() -> None:
    env = simpy.Environment()
    heap = TimerHeap(env)
    served: list[tuple[float, str]] = []

    def serve(conn: _Conn, armed_for: float) -> None:  # on_timer only if the deadline has come
        conn.timer_at = INF
        if conn.deadline <= env.now:
            served.append((env.now, conn.name))
            conn.deadline = INF

    # 100 retransmission timers a second out, all cancelled within a millisecond.
    conns = [_Conn(f"c{i}", 1.0 + i * 0.001) for i in range(100)]
    for i, conn in enumerate(conns):
        env.run(until=i * 0.001 + 1e-9)
        heap.arm(conn, serve)  # type: ignore[arg-type]
    assert _calls(env) == 1  # one call, for the first: the rest come after it
    for conn in conns[:-1]:
        conn.deadline = INF  # the handshake completed
    conns[-1].deadline = 5.0  # moved later (the lazy timer re-arms it when it fires)
    env.run()
    assert served == [(5.0, "c99")]
    # The first call found the rest cancelled without waiting for their times.
    assert env.now == 5.0


def test_an_earlier_deadline_schedules_one_more_call() -> None:
    env = simpy.Environment()
    heap = timer_heap(env)
    assert timer_heap(env) is heap  # one per run
    served: list[tuple[float, str]] = []

    def serve(conn: _Conn, armed_for: float) -> None:
        conn.timer_at = INF
        served.append((env.now, conn.name))
        conn.deadline = INF

    late, early = _Conn("late", 3.0), _Conn("early", 0.5)
    heap.arm(late, serve)  # type: ignore[arg-type]
    heap.arm(early, serve)  # type: ignore[arg-type]
    assert _calls(env) == 2
    env.run()
    assert served == [(0.5, "early"), (3.0, "late")]


def test_a_heap_goes_with_its_run() -> None:
    env = simpy.Environment()
    ref = weakref.ref(timer_heap(env))
    gc.collect()
    assert ref() is None  # nothing held it: the registry keeps no run alive
