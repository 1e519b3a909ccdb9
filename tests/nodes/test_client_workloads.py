"""The client workloads' shared pieces, in isolation: the retry rule and connection slots.

Fake sessions stand in for real ones, so these tests check the rules themselves
(which connection an attempt goes on, when connections are closed and renumbered,
when latency starts); the engine tests check them end to end.
"""

from __future__ import annotations

from typing import Any

import simpy

from lbsim.nodes.client import ClientGroupRunner, ClientHost, Tracker
from lbsim.nodes.session import RETRY
from lbsim.nodes.workloads import ConnectionSlot, MultiplexedUser, RequestLoop, started
from lbsim.scenario.distributions import Constant
from lbsim.sched import call_later
from lbsim.streams import StreamFamily


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

    def request(
        self, req: Any, now: float, then: Any, *, attempt: int = 0, first_start: float | None = None
    ) -> None:
        self.calls.append((req, attempt, first_start, self.env.now))
        self.count += 1
        outcome = self.script.pop(0)
        if outcome == RETRY:
            self.usable = False
        self.env.timeout(1.0, outcome).callbacks.append(lambda event: then(event.value))

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
        self.client_streams = StreamFamily(self.seed, "client", self.name)

    def new_session(self, conn_id: str, host: Any) -> FakeSession:
        session = FakeSession(self.env, conn_id, self.scripts.pop(0))
        self.sessions.append(session)
        return session


class OneRequest(RequestLoop):
    """Issues one request on ``slot`` at t=5 and notes its final outcome."""

    def __init__(self, group: FakeGroup, slot: ConnectionSlot) -> None:
        group.cfg.think_time = Constant(5.0)  # type: ignore[attr-defined]
        super().__init__(group, group.client_streams(0))  # type: ignore[arg-type]
        self.slot = slot
        self.outcomes: list[str] = []

    def start(self, now: float) -> None:
        call_later(self.env, self.think.sample(self.rng), self._go)

    def _go(self) -> None:
        self.issue("req", self.slot.fresh(), self.slot.fresh, self.env.now)  # type: ignore[arg-type]

    def answered(self, outcome: str) -> None:
        self.outcomes.append(outcome)


def test_a_loop_retries_on_a_new_connection_and_keeps_the_first_start() -> None:
    env = simpy.Environment()
    group = FakeGroup(env, [[RETRY], [RETRY], ["ok"]])
    slot = ConnectionSlot(group, "g-0", "h0")  # type: ignore[arg-type]
    loop = OneRequest(group, slot)
    env.process(started(loop))
    env.run()
    outcomes = loop.outcomes
    assert outcomes == ["ok"]
    assert [s.conn_id for s in group.sessions] == ["g-0-c0", "g-0-c1", "g-0-c2"]
    # Attempts 0, 1, 2, each on its own connection, all timed from the first (t=5).
    assert [s.calls[0][1:] for s in group.sessions] == [(0, 5.0, 5.0), (1, 5.0, 6.0), (2, 5.0, 7.0)]
    # The connections given up on were closed; the last one is still in use.
    assert [s.closed for s in group.sessions] == [True, True, False]


def test_a_loop_without_failure_makes_one_attempt() -> None:
    env = simpy.Environment()
    group = FakeGroup(env, [["ok"]])
    slot = ConnectionSlot(group, "g-1", "h1")  # type: ignore[arg-type]
    loop = OneRequest(group, slot)
    env.process(started(loop))
    env.run()
    assert loop.outcomes == ["ok"] and len(group.sessions) == 1


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
