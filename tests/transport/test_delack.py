"""Delayed ACKs (lbsim/transport/delack.py): the Linux rules, one by one, on the fake wire."""

from __future__ import annotations

import pytest
from tcp_pair import Pair

from lbsim.net.segment import ACK, PSH
from lbsim.transport.delack import MAX_QUICKACKS, quick_acks
from lbsim.transport.tcp import TcpParams

MSS = 1460


def acks_from_server(pair: Pair, after: float) -> list[tuple[float, int]]:
    """(time, ack field) of the server's pure ACKs sent after ``after``."""
    return [(t, s.ack) for t, d, s in pair.log if d == "s>c" and not s.length and t > after]


def test_quick_ack_budget_follows_linux() -> None:
    # rcv_wnd / (2 rcv_mss), at least 2, at most TCP_MAX_QUICKACKS (16).
    assert quick_acks(4 * 1024 * 1024, MSS) == MAX_QUICKACKS == 16
    assert quick_acks(10 * MSS, MSS) == 5
    assert quick_acks(MSS, MSS) == 2


def test_every_segment_is_acknowledged_while_quick_acks_last() -> None:
    pair = Pair()
    pair.handshake()
    t0 = pair.now
    pair.client.send(10 * MSS, "m", t0)
    pair.run()
    # Ten segments in one flight, all within the 16 quick ACKs: ten ACKs, none delayed.
    acks = acks_from_server(pair, t0)
    assert len(acks) == 10
    assert all(t == pytest.approx(t0 + 0.01) for t, _ in acks)
    assert pair.server._quick == 16 - 10


def spend_quick_acks(pair: Pair) -> float:
    """Send 16 single-segment messages so the server's quick ACKs are spent."""
    pair.handshake()
    for _ in range(16):
        pair.client.send(MSS, "warm", pair.now)
        pair.run()
    assert pair.server._quick == 0
    return pair.now


def test_two_full_segments_draw_one_ack_and_a_lone_one_waits_40ms() -> None:
    pair = Pair()
    t0 = spend_quick_acks(pair)
    base = pair.server.rcv_nxt
    pair.client.send(3 * MSS, "m", t0)
    pair.run()
    acks = acks_from_server(pair, t0)
    isn = pair.server.irs
    # The second full segment draws an ACK at once; the third waits for the timer.
    assert [(t - t0, (a - isn - base)) for t, a in acks] == [
        (pytest.approx(0.01), 2 * MSS),
        (pytest.approx(0.01 + 0.04), 3 * MSS),
    ]
    assert pair.server.deadline == float("inf")


def test_delayed_ack_timeout_is_a_parameter() -> None:
    pair = Pair(params=TcpParams(delayed_ack_timeout=0.2))
    t0 = spend_quick_acks(pair)
    pair.client.send(100, "small", t0)
    pair.run()
    ((t, _),) = acks_from_server(pair, t0)
    assert t == pytest.approx(t0 + 0.01 + 0.2)


def test_ack_rides_on_the_answer_and_the_timer_is_cancelled() -> None:
    pair = Pair()
    t0 = spend_quick_acks(pair)
    answered: list[float] = []

    def answer_later(conn: object, msg: object, now: float) -> None:
        answered.append(now)

    pair.sr.on_message_hook = answer_later
    pair.client.send(300, "req", t0)
    pair.run(until=t0 + 0.02)
    # The request arrived; its ACK waits. The server answers 10 ms later.
    assert pair.server._dack_at == pytest.approx(t0 + 0.01 + 0.04)
    pair.now = answered[0] + 0.01
    pair.server.send(500, "resp", pair.now)
    assert pair.server._dack_at == float("inf")
    pair.run()
    after = [s for t, d, s in pair.log if d == "s>c" and t > t0]
    # One segment: the response, carrying the ACK of the request; no pure ACK at all.
    assert len(after) == 1 and after[0].flags == ACK | PSH
    assert after[0].ack == (pair.server.irs + pair.server.rcv_nxt) & 0xFFFFFFFF


def test_out_of_order_data_and_the_hole_filling_segment_are_acknowledged_at_once() -> None:
    def drop_first(direction: str, seg: object, index: int) -> bool:
        return direction == "c>s" and index == 18  # the first of the three below

    pair = Pair(drop=drop_first)
    t0 = spend_quick_acks(pair)
    assert pair._sent["c>s"] == 18
    pair.client.send(3 * MSS, "m", t0)
    pair.run(until=t0 + 0.011)
    # Two segments beyond a hole: two immediate duplicate ACKs of the hole's start.
    acks = acks_from_server(pair, t0)
    hole = (pair.server.irs + pair.server.rcv_nxt) & 0xFFFFFFFF
    assert [a for _, a in acks] == [hole, hole]
    pair.run()
    # The retransmission fills the hole and is acknowledged at once: all three covered.
    last_t, last_ack = acks_from_server(pair, t0)[-1]
    assert last_ack == (pair.server.irs + pair.server.rcv_nxt) & 0xFFFFFFFF
    retransmit_t = max(t for t, d, s in pair.log if d == "c>s" and s.length)
    assert last_t == pytest.approx(retransmit_t + 0.01)


def test_idle_longer_than_the_rto_refills_the_quick_acks() -> None:
    pair = Pair()
    t0 = spend_quick_acks(pair)
    later = t0 + 5.0  # far beyond the RTO
    pair.now = later
    pair.client.send(MSS, "after idle", later)
    pair.run()
    ((t, _),) = acks_from_server(pair, later)
    assert t == pytest.approx(later + 0.01)  # quick again: no 40 ms wait


def test_off_acknowledges_every_segment_at_once() -> None:
    pair = Pair(params=TcpParams(delayed_ack=False))
    t0 = spend_quick_acks(pair)
    pair.client.send(3 * MSS, "m", t0)
    pair.run()
    acks = acks_from_server(pair, t0)
    assert len(acks) == 3 and all(t == pytest.approx(t0 + 0.01) for t, _ in acks)


def test_pure_acks_halve_on_a_long_transfer() -> None:
    counts = {}
    for on in (True, False):
        pair = Pair(params=TcpParams(delayed_ack=on))
        pair.handshake()
        pair.client.send(1_000_000, "bulk", pair.now)
        pair.run()
        counts[on] = len(acks_from_server(pair, 0.03))
    segments = -(-1_000_000 // MSS)
    assert counts[False] == segments
    # 16 quick ACKs, then one per two segments (the odd last one on the timer).
    assert counts[True] == 16 + -(-(segments - 16) // 2)


def test_idle_refill_restores_the_whole_budget_even_if_some_is_left() -> None:
    # Linux tcp_incr_quickack raises the budget to the full amount, not only from zero.
    pair = Pair()
    pair.handshake()
    pair.client.send(10 * MSS, "first", pair.now)
    pair.run()
    assert pair.server._quick == 6
    later = pair.now + 5.0
    pair.now = later
    pair.client.send(MSS, "after idle", later)
    pair.run()
    assert pair.server._quick == 16 - 1
