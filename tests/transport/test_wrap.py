"""Sequence numbers wrap modulo 2**32 (RFC 9293): any number of bytes per connection.

Sans-IO, no SimPy: two real TcpConnection endpoints over the fake wire of
``tcp_pair``. Large MSS and windows keep the segment count small, but every segment
still goes through the real sequence / acknowledgement code.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tcp_pair import Pair

from lbsim.net.segment import SEQ_MASK, SYN
from lbsim.transport.states import TcpState
from lbsim.transport.tcp import TcpParams

GIB = 1 << 30
#: Big segments and windows: 1 MiB segments, the largest window TCP can advertise.
BULK = TcpParams(receive_window=GIB, initial_window=64)


class _WireWatch:
    """Follows one direction's data segments: contiguity mod 2**32 and wraps."""

    def __init__(self, direction: str, first_seq: int) -> None:
        self.direction = direction
        self.expect = first_seq
        self.wraps = 0
        self.data_segments = 0
        self.data_bytes = 0
        self.last_ack = {"c>s": -1, "s>c": -1}

    def __call__(self, direction: str, seg) -> None:  # type: ignore[no-untyped-def]
        self.last_ack[direction] = seg.ack
        if direction != self.direction or not seg.length:
            return
        assert seg.seq == self.expect  # lossless: each segment follows the last
        nxt = (seg.seq + seg.length) & SEQ_MASK
        if nxt < seg.seq:
            self.wraps += 1
        self.expect = nxt
        self.data_segments += 1
        self.data_bytes += seg.length


def test_more_than_4_gib_on_one_connection_every_byte_acknowledged() -> None:
    """5 GiB one way, 4.5 GiB back: the seq field wraps, every byte is acknowledged."""
    mss = 1 << 20
    pair = Pair(
        client_mss=mss,
        server_mss=mss,
        params=BULK,
        client_isn=0xFFFF0000,  # wraps after 64 KiB, and again 4 GiB later
        server_isn=0x12345678,
        keep_log=False,
    )
    up, down = 5 * GIB, 4 * GIB + GIB // 2
    c2s = _WireWatch("c>s", (0xFFFF0000 + 1) & SEQ_MASK)
    s2c = _WireWatch("s>c", 0x12345678 + 1)

    def watch(direction: str, seg) -> None:  # type: ignore[no-untyped-def]
        c2s(direction, seg)
        s2c(direction, seg)

    pair.watch = watch
    pair.sr.on_message_hook = lambda conn, msg, now: conn.send(down, "reply", now)
    pair.handshake()
    pair.client.send(up, "upload", pair.now)
    pair.run()
    assert [m for m, _, _ in pair.sr.messages] == ["upload"]
    assert [m for m, _, _ in pair.cr.messages] == ["reply"]
    assert pair.server.bytes_received == pair.client.bytes_sent == up
    assert pair.client.bytes_received == pair.server.bytes_sent == down
    # Every byte acknowledged: the offsets, and the last ACK field on the wire.
    assert pair.client.snd_una == pair.client.snd_end == 1 + up
    assert pair.server.snd_una == pair.server.snd_end == 1 + down
    assert c2s.last_ack["s>c"] == (0xFFFF0000 + 1 + up) & SEQ_MASK
    assert s2c.last_ack["c>s"] == (0x12345678 + 1 + down) & SEQ_MASK
    # The 32-bit field wrapped (twice for the 5 GiB starting just below 2**32).
    assert c2s.wraps == 2 and s2c.wraps == 1
    # Each byte went on the wire once (a window edge may split one segment).
    assert c2s.data_bytes == up and s2c.data_bytes == down
    assert c2s.data_segments >= up // mss and s2c.data_segments >= down // mss
    assert pair.client.retransmissions == pair.server.retransmissions == 0


def test_isn_at_the_top_of_the_space_handshake_and_first_byte_wrap() -> None:
    pair = Pair(client_isn=SEQ_MASK, server_isn=SEQ_MASK - 1)
    pair.handshake()
    syn, ack = pair.sent("c>s")
    (synack,) = pair.sent("s>c")
    assert syn.flags == SYN and syn.seq == SEQ_MASK
    assert synack.ack == 0 and synack.seq == SEQ_MASK - 1
    assert ack.seq == 0 and ack.ack == SEQ_MASK  # the server's first byte is 2**32 - 1
    pair.client.send(3000, "a", pair.now)
    pair.server.send(2000, "b", pair.now)
    pair.run()
    c_data = pair.sent("c>s", data_only=True)
    s_data = pair.sent("s>c", data_only=True)
    assert [s.seq for s in c_data] == [0, 1460, 2920]
    assert [s.seq for s in s_data] == [SEQ_MASK, 1459]
    assert [m for m, _, _ in pair.sr.messages] == ["a"]
    assert [m for m, _, _ in pair.cr.messages] == ["b"]
    assert pair.client.snd_una == 3001 and pair.server.snd_una == 2001


def test_fast_retransmit_across_the_wrap() -> None:
    """A segment lost right at the wrap is recovered by duplicate ACKs, not the RTO."""
    dropped: list[int] = []

    def drop(direction: str, seg, index: int) -> bool:  # type: ignore[no-untyped-def]
        if direction == "c>s" and seg.length and seg.seq == 0 and not dropped:
            dropped.append(seg.seq)
            return True
        return False

    # Client ISN 2**32 - 1461: the first data segment ends at 2**32 - 1, the second
    # (the one dropped) starts at 0.
    pair = Pair(client_isn=(1 << 32) - 1461, drop=drop)
    pair.handshake()
    pair.client.send(20 * 1460, "big", pair.now)
    pair.run()
    assert dropped == [0]
    assert [m for m, _, _ in pair.sr.messages] == ["big"]
    assert pair.client.retransmissions == 1
    assert pair.sr.messages[0][2] < 0.2  # long before the 1 s initial RTO


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30_000), min_size=1, max_size=5),
    loss=st.sets(st.integers(0, 60), max_size=10),
    client_isn=st.integers((1 << 32) - 60_000, SEQ_MASK),
    server_isn=st.integers((1 << 32) - 60_000, SEQ_MASK),
)
def test_lossy_transfer_across_the_wrap_delivers_every_byte_once(
    sizes: list[int], loss: set[int], client_isn: int, server_isn: int
) -> None:
    """Property: with both ISNs just below 2**32, losses never break the stream."""
    dropped: set[int] = set()

    def drop(direction: str, seg, index: int) -> bool:  # type: ignore[no-untyped-def]
        key = index if direction == "c>s" else 1000 + index
        if key in loss and key not in dropped and not seg.flags & SYN:
            dropped.add(key)
            return True
        return False

    pair = Pair(drop=drop, client_isn=client_isn, server_isn=server_isn)
    pair.sr.on_message_hook = lambda conn, msg, now: conn.send(sizes[msg], msg, now)
    pair.handshake()
    for i, size in enumerate(sizes):
        pair.client.send(size, i, pair.now)
    pair.run(until=600.0)
    assert [m for m, _, _ in pair.sr.messages] == list(range(len(sizes)))
    assert [m for m, _, _ in pair.cr.messages] == list(range(len(sizes)))
    assert pair.server.bytes_received == pair.client.bytes_received == sum(sizes)
    assert pair.client.state is pair.server.state is TcpState.ESTABLISHED
