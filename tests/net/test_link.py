"""Links: exact serialization and propagation timing, FIFO order, drop-tail, MTU."""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush

import pytest
import simpy
from simpy.events import NORMAL

from lbsim.net.link import ETHERNET_GAP, Link, wire_bytes
from lbsim.net.segment import ACK, SYN, Segment
from lbsim.sched import call_at


def _seg(length: int, flags: int = ACK, mss: int = 0) -> Segment:
    return Segment(1, 2, 1000, 80, 0, 0, flags, 100, length, mss)


def _link(env: simpy.Environment, log: list[tuple[float, Segment]], **kw: float) -> Link:
    params = {"latency": 0.005, "bandwidth": 1e8, "mtu": 1500, "queue_bytes": 100_000}
    params.update(kw)
    return Link(
        env,
        "a>b",
        "client",
        latency=params["latency"],
        bandwidth=params["bandwidth"],
        mtu=int(params["mtu"]),
        queue_bytes=int(params["queue_bytes"]),
        deliver=lambda s, now: log.append((now, s)),
    )


def test_wire_bytes_follow_ethernet_framing() -> None:
    assert wire_bytes(1500) == 1500 + 18 + ETHERNET_GAP  # full frame: 1538 bytes on the wire
    assert wire_bytes(40) == 64 + ETHERNET_GAP  # a bare ACK is padded to the minimum frame


def test_single_segment_arrives_after_serialization_plus_latency() -> None:
    env = simpy.Environment()
    log: list[tuple[float, Segment]] = []
    link = _link(env, log)
    seg = _seg(1460)
    link.send(seg)
    env.run()
    ser = 1538 * 8 / 1e8
    assert log == [(pytest.approx(ser + 0.005, rel=1e-12), seg)]


def test_back_to_back_segments_queue_behind_each_other() -> None:
    env = simpy.Environment()
    log: list[tuple[float, Segment]] = []
    link = _link(env, log)
    segs = [_seg(1460), _seg(0), _seg(0, flags=SYN, mss=1460)]
    for s in segs:
        link.send(s)
    env.run()
    t1 = 1538 * 8 / 1e8
    t2 = t1 + 84 * 8 / 1e8
    t3 = t2 + 86 * 8 / 1e8  # SYN: 40 + 8 option bytes, framed to 66, plus the gap
    assert [t for t, _ in log] == pytest.approx([t1 + 0.005, t2 + 0.005, t3 + 0.005], rel=1e-12)
    assert [s for _, s in log] == segs  # FIFO


def test_ready_time_delays_the_start_of_transmission() -> None:
    env = simpy.Environment()
    log: list[tuple[float, Segment]] = []
    link = _link(env, log)
    link.send(_seg(0), ready=0.001)
    env.run()
    assert log[0][0] == pytest.approx(0.001 + 84 * 8 / 1e8 + 0.005, rel=1e-12)


def test_drop_tail_when_backlog_exceeds_queue() -> None:
    env = simpy.Environment()
    log: list[tuple[float, Segment]] = []
    link = _link(env, log, queue_bytes=3 * 1538)
    accepted = [link.send(_seg(1460)) for _ in range(5)]
    # The first three fit (backlog counts the frame in service); then the queue is full.
    assert accepted == [True, True, True, False, False]
    assert (link.sent, link.dropped) == (3, 2)
    env.run()
    assert len(log) == 3


def test_queue_drains_over_time() -> None:
    env = simpy.Environment()
    log: list[tuple[float, Segment]] = []
    link = _link(env, log, queue_bytes=2 * 1538)
    assert link.send(_seg(1460)) and link.send(_seg(1460)) and not link.send(_seg(1460))
    env.run(until=1538 * 8 / 1e8 + 1e-9)  # one frame serialised
    assert link.backlog_bytes() == pytest.approx(1538, abs=0.1)
    assert link.send(_seg(1460))


def test_packet_larger_than_mtu_is_a_bug() -> None:
    env = simpy.Environment()
    link = _link(env, [], mtu=576)
    with pytest.raises(ValueError, match="exceeds MTU"):
        link.send(_seg(1460))


def test_one_pending_event_per_link_at_a_time() -> None:
    """Only the head of a link is in SimPy's queue; the rest wait in the link."""
    env = simpy.Environment()
    log: list[tuple[float, Segment]] = []
    link = _link(env, log)
    for _ in range(50):
        link.send(_seg(1460))
    assert len(env._queue) == 1 and link.in_flight == 50
    env.run()
    assert len(log) == 50 and link.in_flight == 0


class _SteppedLink(Link):
    """A link that lets SimPy process every delivery (one step each): the reference order."""

    __slots__ = ()

    def _fire(self, _event: object) -> None:
        arrival, seg = self._head  # type: ignore[misc]
        in_flight = self._in_flight
        if in_flight:
            nxt = self._head = in_flight.popleft()
            self.callbacks = self._fire_callbacks
            heappush(self._queue, (nxt[0], NORMAL, next(self._eid), self))
        else:
            self._head = None
        self._deliver(seg, arrival)


def _relay_run(link_class: type[Link]) -> list[tuple[float, str, int]]:
    """Three links that feed each other plus timers, with many equal times; the log."""
    env = simpy.Environment()
    log: list[tuple[float, str, int]] = []
    links: list[Link] = []
    # 1 Gb/s and 1 ms: a 1211-byte frame takes 9.688 us, so times repeat exactly
    # across links and coincide with the timers below.
    for name in ("a", "b", "c"):
        link = link_class(
            env, name, "client", latency=0.001, bandwidth=1e9, mtu=1500, queue_bytes=10**9
        )
        links.append(link)

    def receiver(name: str, onward: Link | None) -> Callable[[Segment, float], None]:
        def deliver(seg: Segment, now: float) -> None:
            log.append((now, name, seg.seq))
            if onward is not None and seg.seq % 11:
                onward.send(seg._replace(seq=seg.seq + 7))
            if seg.seq % 5 == 0:
                call_at(env, now, lambda: log.append((env.now, "timer", seg.seq)))

        return deliver

    links[0].attach(receiver("a", links[1]))
    links[1].attach(receiver("b", links[2]))
    links[2].attach(receiver("c", links[0]))
    for i in range(40):
        seg = Segment(1, 2, 1000, 80, i, 0, ACK, 100, 1171)
        call_at(env, 0.0005 * (i % 7), links[i % 3].send, seg)
    env.run(until=0.05)
    return log


def test_links_deliver_in_exactly_the_order_simpy_steps_would() -> None:
    # Link._fire delivers queue heads that are links itself, without a SimPy step;
    # the order of everything must stay what one SimPy step per delivery gives.
    reference = _relay_run(_SteppedLink)
    assert len(reference) > 200
    assert len({t for t, _, _ in reference}) < len(reference)  # equal times do occur
    assert _relay_run(Link) == reference
