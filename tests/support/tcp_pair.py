"""A fake network between two sans-IO TCP endpoints, for tests without SimPy.

``Pair`` connects a client and a server endpoint with a lossless, in-order wire of
one-way delay ``delay``: a segment emitted at time ``t`` is received at
``t + delay``. A ``drop`` predicate can discard chosen segments and ``reorder`` can
shuffle what is in flight, which is enough to exercise reassembly and recovery.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lbsim.net.segment import Segment
from lbsim.transport.tcp import TcpConnection, TcpParams


@dataclass
class Recorder:
    """A TcpListener that writes down what happened."""

    name: str
    events: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, float, float]] = field(default_factory=list)
    on_message_hook: Callable[[TcpConnection, Any, float], None] | None = None

    def on_established(self, conn: TcpConnection, now: float) -> None:
        self.events.append(("established", now))

    def on_message(self, conn: TcpConnection, message: Any, first_byte: float, now: float) -> None:
        self.messages.append((message, first_byte, now))
        if self.on_message_hook is not None:
            self.on_message_hook(conn, message, now)

    def on_data(self, conn: TcpConnection, nbytes: int, ends: Any, push: bool, now: float) -> None:
        self.events.append(("data", nbytes, ends, push, now))

    def on_peer_fin(self, conn: TcpConnection, now: float) -> None:
        self.events.append(("peer_fin", now))

    def on_closed(self, conn: TcpConnection, now: float, error: str | None) -> None:
        self.events.append(("closed", now, error))


class Pair:
    """Client and server endpoints joined by a fake wire."""

    def __init__(
        self,
        *,
        client_mss: int = 1460,
        server_mss: int = 1460,
        delay: float = 0.01,
        params: TcpParams | None = None,
        drop: Callable[[str, Segment, int], bool] | None = None,
        client_isn: int = 1000,
        server_isn: int = 0xFFFFFF00,
        keep_log: bool = True,
    ) -> None:
        self.delay = delay
        self.now = 0.0
        self.cr = Recorder("client")
        self.sr = Recorder("server")
        self.client = TcpConnection(
            1, 40000, 2, 80, mss=client_mss, isn=client_isn, listener=self.cr, params=params
        )
        self.server = TcpConnection(
            2,
            80,
            1,
            40000,
            mss=server_mss,
            isn=server_isn,
            listener=self.sr,
            params=params,
            passive=True,
        )
        self.drop = drop
        self.wire: list[tuple[float, int, str, Segment]] = []
        self.log: list[tuple[float, str, Segment]] = []
        self._order = itertools.count()
        self._sent = {"c>s": 0, "s>c": 0}
        self.keep_log = keep_log
        #: Called with every segment put on the wire (direction, segment).
        self.watch: Callable[[str, Segment], None] | None = None

    def pump(self) -> None:
        """Move everything both endpoints emitted onto the wire."""
        for direction, conn in (("c>s", self.client), ("s>c", self.server)):
            for seg in conn.take():
                index = self._sent[direction]
                self._sent[direction] += 1
                if self.keep_log:
                    self.log.append((self.now, direction, seg))
                if self.watch is not None:
                    self.watch(direction, seg)
                if self.drop is not None and self.drop(direction, seg, index):
                    continue
                arrival = self.now + self.delay
                heapq.heappush(self.wire, (arrival, next(self._order), direction, seg))

    def run(self, until: float = 1e9, max_steps: int = 1_000_000) -> None:
        """Deliver segments and fire timers until nothing is left (or ``until``)."""
        self.pump()
        for _ in range(max_steps):
            t_timer = min(self.client.deadline, self.server.deadline)
            t_wire = self.wire[0][0] if self.wire else float("inf")
            t = min(t_timer, t_wire)
            if t == float("inf") or t > until:
                return
            self.now = t
            if t_wire <= t_timer:
                _, _, direction, seg = heapq.heappop(self.wire)
                (self.server if direction == "c>s" else self.client).receive(seg, t)
            else:
                for conn in (self.client, self.server):
                    if conn.deadline <= t:
                        conn.on_timer(t)
            self.pump()
        raise AssertionError("pair did not settle")

    def handshake(self) -> None:
        """Open the connection and run until it is quiet."""
        self.client.connect(self.now)
        self.run()

    def sent(self, direction: str, data_only: bool = False) -> list[Segment]:
        """Segments emitted in one direction (optionally only those with payload)."""
        return [s for _, d, s in self.log if d == direction and (s.length or not data_only)]
