"""The fused receive paths of a request-level connection do what the general path does.

``CarrierReceiver.receive`` runs the usual cases (data in order, the first data of a
connection, the peer's FIN, the FIN that ends our close) as single blocks; every
other segment takes ``_receive_general``, TCP's own receive with the carrier's
accounting. Here two request-level endpoints exchange messages over a fake wire
twice -- once as they are, once with every segment forced through the general path
-- and after every step each field of both endpoints (counters, sequence offsets,
deadlines, window, congestion and RTT state, message marks), the segments they emit
and the listener calls they make must be the same. The exchanges cover one and
several requests per connection, small and multi-segment messages, delayed ACKs on
and off, the counted and the sent ACK of the last FIN, either end closing first,
answers sent from inside the callback (flushed or left unsent), an abort from inside
the callback, several messages in one carrier, and byte-stream listeners.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from lbsim.net.segment import Segment
from lbsim.transport.message import MessageConnection
from lbsim.transport.message_receive import CarrierReceiver
from lbsim.transport.tcp import INF, TcpConnection, TcpParams

DELAY = 0.005
SERVICE = 0.004


class GeneralOnly(MessageConnection):
    """A request-level connection whose every segment takes the general path."""

    __slots__ = ()

    def receive(self, seg: Segment, now: float) -> None:
        self._receive_general(seg, now, len(self.out))


def fields(conn: TcpConnection) -> dict[str, Any]:
    """Every field of ``conn``, helper objects by their own fields."""
    values: dict[str, Any] = {}
    for klass in type(conn).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name == "listener":
                continue
            value = getattr(conn, name, None)
            if hasattr(value, "__slots__") and not isinstance(value, tuple):
                value = {a: getattr(value, a) for a in type(value).__slots__}
            elif isinstance(value, dict):
                value = dict(value)
            elif isinstance(value, list):
                value = list(value)
            values[name] = value
    return values


class Exchange:
    """Two request-level endpoints, a wire, timers and a scripted application."""

    def __init__(self, cls: type[MessageConnection], script: dict[str, Any]) -> None:
        self.script = script
        params = TcpParams(delayed_ack=script.get("delayed_ack", True))
        self.now = 0.0
        self.trace: list[Any] = []
        self.wire: list[tuple[float, int, str, Any]] = []
        self.order = itertools.count()
        self.answered = 0
        self.client = cls(
            1, 40000, 2, 80, mss=1460, isn=1000, listener=self._listener("c"), params=params,
            path_rate=1.25e7, count_fin_ack=script.get("count_fin_ack", True),
        )  # fmt: skip
        self.server = cls(
            2, 80, 1, 40000, mss=1460, isn=0xFFFFFF00, listener=self._listener("s"),
            params=params, passive=True, path_rate=1.25e7,
            count_fin_ack=script.get("count_fin_ack", True),
        )  # fmt: skip
        for conn in (self.client, self.server):
            conn.stream_data = script.get("stream", False)

    # ----------------------------------------------------------- the application

    def _listener(self, side: str) -> Any:
        ex = self

        class App:
            def on_established(self, conn: TcpConnection, now: float) -> None:
                ex.trace.append((side, "established", now))
                if side == "c":
                    for i in range(ex.script.get("burst", 1)):
                        ex.request(conn, i)

            def on_message(
                self, conn: TcpConnection, message: Any, first: float, now: float
            ) -> None:
                ex.trace.append((side, "message", message, first, now))
                if side == "s":
                    if ex.script.get("abort") == "server":
                        conn.abort(now)
                    elif ex.script.get("answer") == "later":
                        ex.at(now + SERVICE, lambda: ex.answer(conn, message))
                    else:
                        ex.answer(conn, message)
                else:
                    ex.answered += 1
                    if ex.script.get("abort") == "client":
                        conn.abort(now)
                    elif ex.answered < ex.script.get("requests", 1) * ex.script.get("burst", 1):
                        if ex.answered % ex.script.get("burst", 1) == 0:
                            ex.request(conn, ex.answered)
                    elif ex.script.get("closer", "client") == "client":
                        conn.close(now)
                        ex.flush(conn)

            def on_data(
                self, conn: TcpConnection, n: int, ends: Any, push: bool, now: float
            ) -> None:
                ex.trace.append((side, "data", n, ends, push, now))

            def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
                ex.trace.append((side, "peer_fin", now))
                if conn.state.value == "CLOSE-WAIT":
                    conn.close(now)  # left for the wire's own flush, as a backend does

            def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
                ex.trace.append((side, "closed", now, error))

        return App()

    def request(self, conn: TcpConnection, i: int) -> None:
        conn.send(self.script.get("request", 400), f"req-{i}", self.now)
        self.flush(conn)

    def answer(self, conn: TcpConnection, message: Any) -> None:
        if conn.state.value not in ("ESTABLISHED", "CLOSE-WAIT"):
            return
        conn.send(self.script.get("response", 1000), f"resp-{message}", self.now)
        if self.script.get("answer") != "unflushed":
            self.flush(conn)
        if self.script.get("closer") == "server":
            conn.close(self.now)
            self.flush(conn)

    # --------------------------------------------------------------- the wire

    def flush(self, conn: TcpConnection) -> None:
        """What a stack does after each call: put the output on the wire."""
        side = "c" if conn is self.client else "s"
        for seg in conn.take():
            self.trace.append((side, "sent", self.now, tuple(seg)))
            heapq.heappush(self.wire, (self.now + DELAY, next(self.order), side, seg))
        if isinstance(conn, MessageConnection):
            conn.holds.clear()

    def at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.wire, (when, next(self.order), "call", fn))

    def run(self) -> list[Any]:
        self.client.connect(self.now)
        self.flush(self.client)
        for _ in range(10_000):
            t_timer = min(self.client.deadline, self.server.deadline)
            t_wire = self.wire[0][0] if self.wire else INF
            t = min(t_timer, t_wire)
            if t == INF or t > 120.0:
                break
            self.now = t
            if t_wire <= t_timer:
                _, _, side, item = heapq.heappop(self.wire)
                if side == "call":
                    item()
                    continue
                conn = self.server if side == "c" else self.client
                conn.receive(item, t)
                self.trace.append(("rx", t, fields(self.client), fields(self.server)))
                self.flush(conn)
            else:
                for conn in (self.client, self.server):
                    if conn.deadline <= t:
                        conn.on_timer(t)
                        self.flush(conn)
                self.trace.append(("timer", t, fields(self.client), fields(self.server)))
        return self.trace


SCRIPTS = [
    pytest.param({}, id="one-request"),
    pytest.param({"requests": 3}, id="keep-alive"),
    pytest.param({"requests": 2, "response": 300_000}, id="large-responses"),
    pytest.param({"requests": 2, "response": 300_000, "delayed_ack": False}, id="no-delayed-ack"),
    pytest.param({"request": 20_000, "response": 50}, id="large-request"),
    pytest.param({"count_fin_ack": False}, id="fin-ack-sent"),
    pytest.param({"closer": "server"}, id="server-closes"),
    pytest.param({"answer": "later", "requests": 2}, id="answer-later"),
    pytest.param({"answer": "unflushed", "requests": 2}, id="answer-left-unsent"),
    pytest.param({"abort": "server"}, id="server-aborts"),
    pytest.param({"abort": "client", "requests": 2}, id="client-aborts"),
    pytest.param({"burst": 3, "requests": 2}, id="several-messages-per-carrier"),
    pytest.param({"stream": True, "requests": 2, "response": 30_000}, id="byte-stream"),
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_fused_paths_match_the_general_path(script: dict[str, Any]) -> None:
    fused = Exchange(MessageConnection, script).run()
    general = Exchange(GeneralOnly, script).run()
    assert len(fused) == len(general)
    for step, (a, b) in enumerate(zip(fused, general, strict=True)):
        assert a == b, f"step {step}: {a!r} != {b!r}"


def test_an_ordinary_exchange_never_takes_the_general_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every segment of an ordinary exchange takes a fused path."""
    seen: list[int] = []
    general = CarrierReceiver._receive_general

    def counted(self: CarrierReceiver, seg: Segment, now: float, before: int) -> None:
        seen.append(seg.flags)
        general(self, seg, now, before)

    monkeypatch.setattr(CarrierReceiver, "_receive_general", counted)
    ex = Exchange(MessageConnection, {"requests": 2})
    trace = ex.run()
    received = sum(1 for entry in trace if entry[0] == "rx")
    assert received == 8  # SYN, SYN-ACK, 2 requests, 2 responses, 2 FINs (last ACK counted)
    assert seen == []
    assert ex.client.state.value == ex.server.state.value == "CLOSED"
    client = ex.client
    assert client.closed_at is not None and client.finished_at is not None
    assert client.closed_at - client.finished_at == pytest.approx(60.0)  # TIME-WAIT
