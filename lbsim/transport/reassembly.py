"""Out-of-order segments held by a receiver until the gap before them fills.

Theory of operation: TCP delivers a byte stream in order. A segment that arrives
beyond the next expected offset (``rcv_nxt``) cannot be delivered yet; the receiver
keeps it, keyed by the stream offset of its first byte, and still acknowledges
``rcv_nxt`` (a duplicate ACK, which is what tells the sender a segment is missing).
When the missing bytes arrive, :meth:`OutOfOrder.next_ready` hands back held segments
in stream order: one that starts exactly at ``rcv_nxt``, or one that overlaps it
(a retransmission may be cut differently from the original), with the number of its
leading bytes already received. Segments entirely below ``rcv_nxt`` are discarded.

Of two held segments starting at one offset the longer is kept. Offsets are unbounded
stream offsets (:mod:`lbsim.transport.seqnum`), so ordering is plain integer order.
Without SACK the sender only learns of the first hole, so the set held is small.
"""

from __future__ import annotations

from lbsim.net.segment import Segment


class OutOfOrder(dict[int, Segment]):
    """Held segments of one receiving direction, by first-byte offset.

    A dict subclass so that "is anything held?" -- asked for every segment received
    -- is the dict's own truth test, with no Python-level call.
    """

    __slots__ = ()

    def hold(self, rel: int, seg: Segment) -> None:
        """Keep ``seg``, whose first byte is at offset ``rel`` (beyond ``rcv_nxt``)."""
        held = self.get(rel)
        if held is None or held.length < seg.length:
            self[rel] = seg

    def next_ready(self, rcv: int) -> tuple[Segment, int] | None:
        """A held segment that continues the stream at ``rcv``, and the bytes to skip.

        Segments that ``rcv`` has overtaken entirely are dropped on the way. Returns
        None when the next held segment still lies beyond a gap.
        """
        held = self
        seg = held.pop(rcv, None)
        if seg is not None:
            return seg, 0
        for rel in sorted(held):
            candidate = held[rel]
            if rel + candidate.seq_space <= rcv:
                del held[rel]
            elif rel < rcv:
                del held[rel]
                return candidate, rcv - rel
        return None
