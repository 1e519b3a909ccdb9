"""``sched.run_until`` runs events in exactly the order ``Environment.run`` does."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy

from lbsim.sched import call_at, run_until


def _noter(note: Callable[[str], None], what: str) -> Callable[[simpy.Event], None]:
    def callback(_event: simpy.Event) -> None:
        note(what)

    return callback


def _model(env: simpy.Environment, log: list[tuple[float, str]], seed: int) -> simpy.Event:
    """Processes, timeouts, scheduled calls and plain events, many at equal times."""
    rng = random.Random(seed)
    done = env.event()

    def note(what: str) -> None:
        log.append((env.now, what))

    def worker(k: int) -> Generator[simpy.Event, Any, None]:
        for step in range(20):
            # Coarse times so that many events tie and the tie-break order matters.
            yield env.timeout(rng.choice((0, 1, 1, 2)))
            note(f"w{k}.{step}")
            call_at(env, env.now + rng.choice((0, 1)), note, f"c{k}.{step}")
            if step % 7 == 3:
                signal = env.event()
                signal.callbacks.append(_noter(note, f"e{k}.{step}"))
                signal.succeed()
        if k == 0:
            done.succeed()

    for k in range(5):
        env.process(worker(k))
    return env.any_of([done, env.timeout(1000)])


@pytest.mark.parametrize("seed", range(5))
def test_same_order_as_simpy(seed: int) -> None:
    runs: list[list[tuple[float, str]]] = []
    for runner in (
        lambda env, until: env.run(until=until),
        run_until,
    ):
        run: Callable[[simpy.Environment, simpy.Event], Any] = runner
        env = simpy.Environment()
        log: list[tuple[float, str]] = []
        run(env, _model(env, log, seed))
        log.append((env.now, "end"))
        runs.append(log)
    assert len(runs[0]) > 100
    assert runs[0] == runs[1]


def test_a_failed_event_raises_as_in_simpy() -> None:
    env = simpy.Environment()

    def boom() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(1)
        raise ValueError("boom")

    env.process(boom())
    with pytest.raises(ValueError, match="boom"):
        run_until(env, env.timeout(5))


def test_an_empty_queue_before_until_is_an_error() -> None:
    env = simpy.Environment()
    with pytest.raises(RuntimeError, match="until"):
        run_until(env, env.event())
