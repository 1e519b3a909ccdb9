"""Calling a function at a simulated time without a SimPy process.

Theory of operation: most things in a run are callbacks at known times (a worker
finishes, a timer expires, a link delivers). A SimPy process for each would cost a
generator and several events; instead :func:`call_at` schedules one small event
whose only callback invokes the function. SimPy treats any object with
``callbacks``, ``_ok`` and ``_value`` attributes as an event, and keeps events at
equal times in scheduling order, so runs stay deterministic.

:func:`run_until` is SimPy's ``Environment.run(until=event)`` with one shortcut:
a :class:`_Call` popped from the queue is invoked directly instead of going
through ``Environment.step`` and the generic callback loop. Every other event is
processed exactly as SimPy does, in the same order (the queue is SimPy's own), so
a run gives the same results either way; it saves two Python calls per
scheduled call, which is most of a run's events.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import NORMAL, EventPriority


def _fire(event: _Call) -> None:
    fn, args = event._value
    fn(*args)


_CALLBACKS: list[Callable[[Any], None]] = [_fire]


class _Call:
    """The event of one scheduled call: ``_value`` is ``(fn, args)``.

    :func:`call_at` and :func:`call_later` fill the slots themselves, after
    ``object.__new__``: an ``__init__`` would cost a Python call per scheduled call.
    """

    __slots__ = ("_ok", "_value", "callbacks")
    callbacks: list[Callable[[Any], None]] | None
    _ok: bool
    _value: tuple[Callable[..., Any], tuple[Any, ...]]


_new_call = object.__new__


def call_at(env: simpy.Environment, when: float, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` at simulated time ``when`` (now, if ``when`` is past).

    Args:
        env: The run's environment.
        when: Absolute simulated time.
        fn: Function to call.
        *args: Its arguments.
    """
    now = env._now
    delay = when - now
    call = _new_call(_Call)
    call.callbacks = _CALLBACKS
    call._ok = True
    call._value = (fn, args)
    # Environment.schedule, inlined: the same entry (time now + delay) in the same queue.
    queue: list[Any] = env._queue
    heappush(queue, (now + delay if delay > 0 else now, NORMAL, next(env._eid), call))


def drop_pending(env: simpy.Environment) -> None:
    """Forget every event still scheduled: the run is over and will not be resumed.

    What is left in the queue (timers of connections in TIME_WAIT, the next
    arrivals and samples) refers to most of the run's objects; emptied, they are
    freed by reference counting instead of waiting for the cycle collector (see
    :meth:`lbsim.run.variant.VariantBuild.discard`).
    """
    env._queue.clear()


def call_later(env: simpy.Environment, delay: float, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` after ``delay`` seconds of simulated time."""
    call = _new_call(_Call)
    call.callbacks = _CALLBACKS
    call._ok = True
    call._value = (fn, args)
    env.schedule(call, NORMAL, delay if delay > 0 else 0.0)  # type: ignore[arg-type]


def run_until(env: simpy.Environment, until: simpy.Event) -> None:
    """Process events until ``until`` has been processed, as ``env.run(until=until)`` does.

    Raises:
        RuntimeError: If the queue empties before ``until`` is triggered (as SimPy).
    """
    if until.callbacks is None:
        return  # already processed
    until.callbacks.append(StopSimulation.callback)
    queue: list[Any] = env._queue
    calls = _CALLBACKS
    event: Any
    try:
        while True:
            try:
                env._now, _, _, event = heappop(queue)
            except IndexError:
                raise EmptySchedule from None
            callbacks, event.callbacks = event.callbacks, None
            if callbacks is calls:  # a _Call: invoke it directly
                fn, args = event._value
                fn(*args)
                continue
            try:
                for callback in callbacks:
                    callback(event)
            except StopSimulation:
                # As Environment.step: keep the callbacks not yet run for a later run.
                event.callbacks = callbacks[callbacks.index(callback) + 1 :]
                env.schedule(event, EventPriority(-1))
                raise
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
    except StopSimulation:
        return
    except EmptySchedule:
        if not until.triggered:
            raise RuntimeError(
                f'No scheduled events left but "until" event was not triggered: {until}'
            ) from None
