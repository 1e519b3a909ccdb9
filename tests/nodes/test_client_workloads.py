"""The client workloads' shared pieces, in isolation: the retry helper and connection slots.

Fake sessions stand in for real ones, so these tests check the rules themselves
(which connection an attempt goes on, when connections are closed and renumbered,
when latency starts); the engine tests check them end to end.
"""

from __future__ import annotations

from typing import Any

import simpy

from lbsim.nodes.client import ClientGroupRunner, ClientHost, Tracker
from lbsim.nodes.session import RETRY
from lbsim.nodes.workloads import ConnectionSlot, MultiplexedUser, until_answered


class FakeSession:
    """Answers each request after 1 s with the next outcome of a script."""

    def __init__(self, env: simpy.Environment, conn_id: str, script: list[str]) -> None:
        self.env = env
        self.conn_id = conn_id
        self.script = script
        self.calls: list[tuple[Any, int, float | None, float]] = []
        self.count = 0
        self.usable = True
        self.closed = False

    def request(self, req: Any, *, attempt: int = 0, first_start: float | None = None) -> Any:
        self.calls.append((req, attempt, first_start, self.env.now))
        self.count += 1
        outcome = self.script.pop(0)
        if outcome == RETRY:
            self.usable = False
        return self.env.timeout(1.0, outcome)

    def close(self) -> None:
        self.closed = True


class FakeGroup:
    """What a connection slot needs of a client group."""

    def __init__(self, env: simpy.Environment, scripts: list[list[str]]) -> None:
        self.env = env
        self.scripts = scripts
        self.sessions: list[FakeSession] = []

        class Cfg:
            requests_per_connection = 2
            streams = 3
            max_connection_age = None
            max_connection_age_jitter = 0.1

        self.cfg = Cfg()
        self.seed = 1
        self.name = "g"
        self.hosts = ["h0", "h1"]

    def new_session(self, conn_id: str, host: Any) -> FakeSession:
        session = FakeSession(self.env, conn_id, self.scripts.pop(0))
        self.sessions.append(session)
        return session


def test_until_answered_retries_on_a_new_connection_and_keeps_the_first_start() -> None:
    env = simpy.Environment()
    group = FakeGroup(env, [[RETRY], [RETRY], ["ok"]])
    slot = ConnectionSlot(group, "g-0", "h0")  # type: ignore[arg-type]
    outcomes: list[str] = []

    def user() -> Any:
        yield env.timeout(5.0)
        outcome = yield from until_answered(env, "req", slot.fresh(), slot.fresh)  # type: ignore[arg-type]
        outcomes.append(outcome)

    env.process(user())
    env.run()
    assert outcomes == ["ok"]
    assert [s.conn_id for s in group.sessions] == ["g-0-c0", "g-0-c1", "g-0-c2"]
    # Attempts 0, 1, 2, each on its own connection, all timed from the first (t=5).
    assert [s.calls[0][1:] for s in group.sessions] == [(0, 5.0, 5.0), (1, 5.0, 6.0), (2, 5.0, 7.0)]
    # The connections given up on were closed; the last one is still in use.
    assert [s.closed for s in group.sessions] == [True, True, False]


def test_until_answered_without_failure_is_one_attempt() -> None:
    env = simpy.Environment()
    group = FakeGroup(env, [["ok"]])
    slot = ConnectionSlot(group, "g-1", "h1")  # type: ignore[arg-type]
    got: list[str] = []

    def user() -> Any:
        got.append((yield from until_answered(env, "r", slot.fresh(), slot.fresh)))  # type: ignore[arg-type]

    env.process(user())
    env.run()
    assert got == ["ok"] and len(group.sessions) == 1


def test_slot_reuses_a_connection_until_its_limit_then_renumbers() -> None:
    env = simpy.Environment()
    group = FakeGroup(env, [["ok"] * 5 for _ in range(4)])
    slot = ConnectionSlot(group, "g-2", "h0")  # type: ignore[arg-type]
    first = slot.usable(2)
    first.count = 1
    assert slot.usable(2) is first
    first.count = 2
    second = slot.usable(2)
    assert second is not first and first.closed
    second.usable = False  # failed: replaced whatever its count
    third = slot.usable(2)
    assert third is not second and second.closed
    slot.release()
    assert third.closed and slot.current is None
    assert [s.conn_id for s in group.sessions] == ["g-2-c0", "g-2-c1", "g-2-c2"]


def test_multiplexed_user_closes_its_connection_when_the_last_stream_ends() -> None:
    env = simpy.Environment()
    group = FakeGroup(env, [["ok"] * 5])
    holder = MultiplexedUser(group, 1)  # type: ignore[arg-type]
    assert holder.host == "h1" and holder.live_streams == 3
    session = holder.session()
    assert session.conn_id == "g-1-c0"
    holder.stream_done()
    holder.stream_done()
    assert not session.closed  # type: ignore[attr-defined]
    holder.stream_done()
    assert session.closed  # type: ignore[attr-defined]


def test_public_names_are_still_importable_from_nodes_client() -> None:
    """sim.py imports these from lbsim.nodes.client."""
    assert ClientGroupRunner.__module__ == "lbsim.nodes.client"
    assert ClientHost.__module__ == "lbsim.nodes.client"
    assert Tracker.__module__ == "lbsim.nodes.client"
