"""Calling a function at a simulated time without a SimPy process.

Theory of operation: most things in a run are callbacks at known times (a worker
finishes, a timer expires, a link delivers). A SimPy process for each would cost a
generator and several events; instead :func:`call_at` schedules one small event
whose only callback invokes the function. SimPy treats any object with
``callbacks``, ``_ok`` and ``_value`` attributes as an event, and keeps events at
equal times in scheduling order, so runs stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy
from simpy.events import NORMAL


def _fire(event: _Call) -> None:
    fn, args = event._value
    fn(*args)


_CALLBACKS: list[Callable[[Any], None]] = [_fire]


class _Call:
    __slots__ = ("_ok", "_value", "callbacks")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.callbacks: list[Callable[[Any], None]] | None = _CALLBACKS
        self._ok = True
        self._value = (fn, args)


def call_at(env: simpy.Environment, when: float, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` at simulated time ``when`` (now, if ``when`` is past).

    Args:
        env: The run's environment.
        when: Absolute simulated time.
        fn: Function to call.
        *args: Its arguments.
    """
    delay = when - env._now
    env.schedule(_Call(fn, args), NORMAL, delay if delay > 0 else 0.0)  # type: ignore[arg-type]


def call_later(env: simpy.Environment, delay: float, fn: Callable[..., Any], *args: Any) -> None:
    """Call ``fn(*args)`` after ``delay`` seconds of simulated time."""
    env.schedule(_Call(fn, args), NORMAL, delay if delay > 0 else 0.0)  # type: ignore[arg-type]
