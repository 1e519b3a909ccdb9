"""Sans-IO TCP: handshake, segmentation, seq/ack, slow start, reassembly, close, reset.

No SimPy here: two endpoints talk over the fake wire in ``tcp_pair``.
"""

from __future__ import annotations

import collections
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tcp_pair import Pair

from lbsim.net.segment import ACK, FIN, PSH, RST, SEQ_MASK, SYN, flag_names, mss_for_mtu
from lbsim.transport.states import TcpEvent, TcpProtocolError, TcpState, next_state
from lbsim.transport.tcp import TcpParams


def test_mss_is_mtu_minus_40() -> None:
    assert mss_for_mtu(1500) == 1460
    assert mss_for_mtu(9000) == 8960


def test_three_way_handshake_fields() -> None:
    pair = Pair(client_mss=1460, server_mss=8960)
    pair.handshake()
    syn, ack = pair.sent("c>s")
    (synack,) = pair.sent("s>c")
    assert flag_names(syn.flags) == "SYN" and syn.seq == 1000 and syn.mss == 1460
    assert synack.flags == SYN | ACK and synack.ack == 1001 and synack.mss == 8960
    assert synack.seq == 0xFFFFFF00
    assert ack.flags == ACK and ack.seq == 1001 and ack.ack == (0xFFFFFF00 + 1) & SEQ_MASK
    assert pair.client.state is TcpState.ESTABLISHED
    assert pair.server.state is TcpState.ESTABLISHED
    # MSS negotiated as the minimum of both ends.
    assert pair.client.mss == pair.server.mss == 1460
    # Established one RTT (client) and 1.5 RTT (server) after the SYN.
    assert pair.cr.events == [("established", pytest.approx(0.02))]
    assert pair.sr.events == [("established", pytest.approx(0.03))]


@pytest.mark.parametrize("nbytes", [1, 1459, 1460, 1461, 14_600, 100_000, 1_000_000])
@pytest.mark.parametrize("mss", [536, 1460, 8960])
def test_segment_count_and_sequence_numbers(nbytes: int, mss: int) -> None:
    pair = Pair(client_mss=mss, server_mss=mss)
    pair.handshake()
    pair.client.send(nbytes, "msg", pair.now)
    pair.run()
    data = pair.sent("c>s", data_only=True)
    assert len(data) == math.ceil(nbytes / mss)
    assert all(s.length <= mss for s in data)
    # Sequence numbers are contiguous from ISN + 1.
    expect = 1001
    for seg in data:
        assert seg.seq == expect
        expect += seg.length
    assert sum(s.length for s in data) == nbytes
    # Only the last segment carries the message mark, and it completes once.
    assert [s.ends for s in data if s.ends] == [((data[-1].length, "msg"),)]
    assert [m for m, _, _ in pair.sr.messages] == ["msg"]
    # Cumulative ACKs: the last ACK acknowledges every byte.
    assert pair.sent("s>c")[-1].ack == 1001 + nbytes
    assert pair.server.bytes_received == nbytes


@pytest.mark.parametrize("delayed_ack", [True, False])
@pytest.mark.parametrize(
    ("size", "rounds"), [(14_000, 1), (14_600, 1), (100_000, 3), (1_000_000, 7)]
)
def test_slow_start_round_trips(size: int, rounds: int, delayed_ack: bool) -> None:
    """docs/validation.md: S bytes need ceil(log2(S/(10 MSS) + 1)) round trips.

    With delayed ACKs the first 16 segments are quick-ACKed and the rest draw one
    ACK per two segments that opens the window by two MSS, so the rounds are the same.
    """
    assert rounds == math.ceil(math.log2(size / (10 * 1460) + 1))
    pair = Pair(delay=0.05, params=TcpParams(delayed_ack=delayed_ack))
    pair.handshake()
    start = pair.now
    pair.server.send(size, "response", start)
    pair.run()
    (_, first, done) = pair.cr.messages[0]
    # Last byte arrives half an RTT after the last flight left.
    rtt = 0.1
    assert (done - start) == pytest.approx((rounds - 1) * rtt + rtt / 2)
    assert first == pytest.approx(start + rtt / 2)


def test_message_boundaries_and_first_byte_times() -> None:
    pair = Pair()
    pair.handshake()
    t0 = pair.now
    pair.client.send(3000, "a", t0)
    pair.client.send(100, "b", t0)
    pair.client.send(5000, "c", t0)
    pair.run()
    names = [m for m, _, _ in pair.sr.messages]
    assert names == ["a", "b", "c"]
    # Without Nagle each write is pushed at once, so messages do not share segments.
    data = pair.sent("c>s", data_only=True)
    assert [s.length for s in data] == [1460, 1460, 80, 100, 1460, 1460, 1460, 620]
    assert [s.ends for s in data if s.ends] == [((80, "a"),), ((100, "b"),), ((620, "c"),)]
    # All were sent in one flight, so every first byte arrived one delay later.
    assert [first for _, first, _ in pair.sr.messages] == [pytest.approx(t0 + 0.01)] * 3


def test_piggybacked_ack_when_application_answers_at_once() -> None:
    pair = Pair()
    pair.sr.on_message_hook = lambda conn, msg, now: conn.send(500, "reply", now)
    pair.handshake()
    pair.client.send(400, "req", pair.now)
    pair.run()
    replies = pair.sent("s>c", data_only=True)
    assert len(replies) == 1 and replies[0].flags == ACK | PSH
    # The reply acknowledges the request, so no separate pure ACK was sent for it.
    assert replies[0].ack == 1001 + 400
    pure_acks = [s for s in pair.sent("s>c") if s.flags == ACK and not s.length]
    assert pure_acks == []


def test_orderly_close_and_time_wait() -> None:
    params = TcpParams(time_wait=60.0)
    pair = Pair(params=params)
    pair.sr.on_message_hook = None
    pair.handshake()
    pair.client.send(100, "req", pair.now)
    pair.run()
    pair.client.close(pair.now)
    pair.run(until=pair.now + 1.0)
    assert pair.client.state is TcpState.FIN_WAIT_2
    assert pair.server.state is TcpState.CLOSE_WAIT
    assert ("peer_fin", pytest.approx(pair.now - 0.01)) in pair.sr.events
    pair.server.close(pair.now)
    pair.run(until=pair.now + 1.0)
    assert pair.server.state is TcpState.CLOSED
    assert pair.client.state is TcpState.TIME_WAIT
    t_tw = pair.now
    pair.run()
    assert pair.client.state is TcpState.CLOSED
    assert pair.cr.events[-1] == ("closed", pytest.approx(t_tw + 60.0 - 0.01, abs=0.02), None)
    fins = [s for s in pair.sent("c>s") if s.flags & FIN]
    assert len(fins) == 1 and fins[0].seq == 1001 + 100


def test_fin_rides_on_last_data_segment_when_data_is_still_queued() -> None:
    pair = Pair()
    pair.handshake()
    # More than the initial window: the tail is still queued when close() is called.
    pair.client.send(15 * 1460, "req", pair.now)
    assert pair.client.unsent == 5 * 1460
    pair.client.close(pair.now)
    pair.run(until=pair.now + 0.5)
    data = pair.sent("c>s", data_only=True)
    assert data[-1].flags == ACK | PSH | FIN


def test_reset_closes_both_ends() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.abort(pair.now)
    pair.run()
    assert pair.sent("c>s")[-1].flags & RST
    assert pair.client.state is TcpState.CLOSED and pair.server.state is TcpState.CLOSED
    assert pair.sr.events[-1][2] == "reset"
    assert pair.cr.events[-1][2] == "aborted"


def test_send_after_close_is_a_protocol_error() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.close(pair.now)
    with pytest.raises(TcpProtocolError):
        pair.client.send(10, None, pair.now)


def test_illegal_transition_raises() -> None:
    with pytest.raises(TcpProtocolError):
        next_state(TcpState.LISTEN, TcpEvent.RECV_FIN)


def test_syn_retransmission_then_timeout() -> None:
    params = TcpParams(initial_rto=1.0, syn_retries=2)
    pair = Pair(params=params, drop=lambda d, s, i: d == "c>s")
    pair.client.connect(0.0)
    pair.run()
    syns = pair.sent("c>s")
    assert [round(t, 6) for t, d, s in pair.log if d == "c>s"] == [0.0, 1.0, 3.0]
    assert all(s.flags == SYN for s in syns)
    assert pair.cr.events[-1] == ("closed", 7.0, "timeout")


def test_lost_segment_is_recovered_by_fast_retransmit() -> None:
    seen: set[int] = set()

    def drop_once(direction: str, seg, index: int) -> bool:  # type: ignore[no-untyped-def]
        target = 1001 + 2 * 1460
        if direction == "c>s" and seg.length and seg.seq == target and seg.seq not in seen:
            seen.add(seg.seq)
            return True
        return False

    pair = Pair(drop=drop_once)
    pair.handshake()
    pair.client.send(20 * 1460, "big", pair.now)
    pair.run()
    assert [m for m, _, _ in pair.sr.messages] == ["big"]
    assert pair.client.retransmissions == 1
    # Recovered well before any RTO could fire (1 s initial RTO, 200 ms floor) ...
    assert pair.sr.messages[0][2] < 0.2
    # ... because three duplicate ACKs (four ACKs of the same byte) asked for it.
    acks = collections.Counter(s.ack for s in pair.sent("s>c") if not s.length)
    assert acks[1001 + 2 * 1460] >= 4


def test_lost_tail_is_recovered_by_timeout() -> None:
    seen: set[int] = set()

    def drop_last(direction: str, seg, index: int) -> bool:  # type: ignore[no-untyped-def]
        if direction == "c>s" and seg.flags & PSH and seg.seq not in seen:
            seen.add(seg.seq)
            return True
        return False

    pair = Pair(drop=drop_last, params=TcpParams(min_rto=0.2))
    pair.handshake()
    pair.client.send(3 * 1460, "m", pair.now)
    pair.run()
    assert [m for m, _, _ in pair.sr.messages] == ["m"]
    assert pair.client.retransmissions == 1
    assert pair.sr.messages[0][2] > 0.2


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40_000), min_size=1, max_size=6),
    loss=st.sets(st.integers(0, 80), max_size=12),
    mss=st.sampled_from([536, 1460, 8960]),
)
def test_lossy_transfer_delivers_every_byte_once(
    sizes: list[int], loss: set[int], mss: int
) -> None:
    """Property: whatever segments are lost (once each), every message arrives once, in order."""
    dropped: set[int] = set()

    def drop(direction: str, seg, index: int) -> bool:  # type: ignore[no-untyped-def]
        key = index if direction == "c>s" else 1000 + index
        if key in loss and key not in dropped and not seg.flags & SYN:
            dropped.add(key)
            return True
        return False

    pair = Pair(client_mss=mss, server_mss=mss, drop=drop)
    pair.handshake()
    for i, size in enumerate(sizes):
        pair.client.send(size, i, pair.now)
    pair.client.close(pair.now)
    pair.run(until=600.0)
    assert [m for m, _, _ in pair.sr.messages] == list(range(len(sizes)))
    assert pair.server.bytes_received == sum(sizes)
    assert pair.server.state is TcpState.CLOSE_WAIT


def test_send_chunk_places_marks_at_their_offsets() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.send_chunk(3000, ((100, "a"), (3000, "b")), pair.now)
    pair.run()
    assert [m for m, _, _ in pair.sr.messages] == ["a", "b"]
    data = pair.sent("c>s", data_only=True)
    assert [s.ends for s in data if s.ends] == [((100, "a"),), ((80, "b"),)]


def test_more_hint_holds_back_a_partial_tail_until_the_next_chunk() -> None:
    """Like MSG_MORE: full segments go at once, a partial one waits for more bytes."""
    pair = Pair()
    pair.handshake()
    pair.client.send_chunk(1000, (), pair.now, more=True)
    assert pair.client.take() == []  # less than one MSS: held
    pair.client.send_chunk(2000, (), pair.now, more=True)
    full = pair.client.take()  # 3000 bytes queued: two full segments, 80 held
    assert [s.length for s in full] == [1460, 1460]
    pair.client.send_chunk(500, ((500, "end"),), pair.now, more=False)
    tail = pair.client.take()
    assert [s.length for s in tail] == [580]
    # ceil(3500 / 1460) = 3 segments in all, exactly as if sent in one write.
    assert len(full) + len(tail) == math.ceil(3500 / 1460) == 3
    one_write = Pair()
    one_write.handshake()
    one_write.client.send_chunk(3500, ((3500, "end"),), one_write.now)
    assert [(s.length, s.ends) for s in one_write.client.take()] == [
        (s.length, s.ends) for s in full + tail
    ]


def test_on_data_reports_marks_relative_to_the_chunk() -> None:
    pair = Pair()
    pair.server.stream_data = True
    pair.handshake()
    pair.client.send_chunk(2000, ((1500, "m"),), pair.now)
    pair.run()
    data = [e for e in pair.sr.events if e[0] == "data"]
    assert [(n, ends, push) for _, n, ends, push, _ in data] == [
        (1460, (), False),
        (540, ((40, "m"),), True),
    ]


def test_segment_counters_include_the_syn_and_both_directions() -> None:
    """Each end counts every segment it emitted (SYN included) and every one it received."""
    pair = Pair()
    pair.handshake()
    assert pair.client.segments_sent == len(pair.sent("c>s")) == 2  # SYN, ACK
    assert pair.server.segments_sent == len(pair.sent("s>c")) == 1  # SYN-ACK
    pair.client.send(5000, "req", pair.now)
    pair.client.close(pair.now)
    pair.run(until=pair.now + 1.0)
    pair.server.close(pair.now)
    pair.run()
    c2s, s2c = len(pair.sent("c>s")), len(pair.sent("s>c"))
    assert pair.client.segments_sent == pair.server.segments_received == c2s
    assert pair.server.segments_sent == pair.client.segments_received == s2c
    assert pair.client.segments == pair.server.segments == c2s + s2c
