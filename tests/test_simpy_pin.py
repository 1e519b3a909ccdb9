"""SimPy is pinned to the versions whose internals the hot path uses, and they exist.

``lbsim/sched.py`` and ``lbsim/net/link.py`` read ``env._now`` and push onto
``env._queue`` with ids from ``env._eid``, and hand SimPy duck-typed events
(objects with ``callbacks``, ``_ok`` and ``_value``). Everything else uses the
public API. These tests fail if a SimPy outside the pin is installed, or if the
pinned one stops behaving as the engine assumes.
"""

from __future__ import annotations

import heapq
import re
import tomllib
from pathlib import Path
from typing import Any

import simpy
from simpy.events import NORMAL

from lbsim.sched import call_at

ROOT = Path(__file__).resolve().parents[1]


def _pin() -> tuple[tuple[int, ...], tuple[int, ...]]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("simpy"))
    low = re.search(r">=\s*([\d.]+)", spec)
    high = re.search(r"<\s*([\d.]+)", spec)
    assert low and high, f"simpy must be pinned with a lower and an upper bound: {spec!r}"
    return (
        tuple(int(x) for x in low.group(1).split(".")),
        tuple(int(x) for x in high.group(1).split(".")),
    )


def test_installed_simpy_is_within_the_pin() -> None:
    low, high = _pin()
    installed = tuple(int(x) for x in simpy.__version__.split(".")[:3])
    assert low <= installed < high


def test_the_internals_the_hot_path_uses_exist() -> None:
    env = simpy.Environment()
    assert env._now == env.now == 0
    assert isinstance(env._queue, list)
    first, second = next(env._eid), next(env._eid)
    assert second == first + 1
    assert isinstance(NORMAL, int)


class _Duck:
    """An object SimPy must accept as an event, as a link is."""

    def __init__(self, log: list[tuple[float, str]], env: simpy.Environment, tag: str) -> None:
        self.callbacks: list[Any] | None = [lambda _ev: log.append((env.now, tag))]
        self._ok = True
        self._value = None


def test_a_duck_typed_event_pushed_onto_the_queue_fires_in_time_order() -> None:
    env = simpy.Environment()
    log: list[tuple[float, str]] = []
    # As the link does: push (time, priority, id, event) straight onto the heap.
    heapq.heappush(env._queue, (2.0, NORMAL, next(env._eid), _Duck(log, env, "b")))
    heapq.heappush(env._queue, (1.0, NORMAL, next(env._eid), _Duck(log, env, "a")))
    # As sched.call_at does: through schedule(), equal times in scheduling order.
    call_at(env, 1.0, log.append, (1.0, "c"))
    env.run()
    assert log == [(1.0, "a"), (1.0, "c"), (2.0, "b")]
