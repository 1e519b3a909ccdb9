"""Message marks: where application messages end in a sender's byte stream.

Theory of operation: the simulator does not materialise payload bytes. An
application message is a *mark* at the stream offset of its last byte; a segment
carries, in :attr:`~lbsim.net.segment.Segment.ends`, the marks that fall inside its
payload (offsets counted from 1 at the payload's first byte), so a receiver that has
reassembled the stream up to that byte knows the message is complete.

A sender keeps its marks in two parallel lists sorted by offset, plus two cursors:

* ``head``, the first mark not yet acknowledged by the peer: marks before it can never
  be needed again (a retransmission starts at or after the oldest unacknowledged
  byte), so :meth:`MessageMarks.trim` moves ``head`` forward and, once the dead prefix
  is large, deletes it (amortised O(1) per mark). When every mark is acknowledged
  (the usual case once a response or request has been delivered) both lists are
  emptied at once: the messages are not kept alive by a connection that no longer
  needs them -- for instance for a minute of TIME_WAIT;
* ``next``, the first mark not yet sent: a segment of new data finds its marks from
  there without searching. A retransmission searches (bisection) from ``head``.

Offsets are unbounded stream offsets (see :mod:`lbsim.transport.seqnum`), so marks
never wrap. The connection's send path reads ``offs`` and ``next`` directly to test
whether a segment carries any mark (the common case is none) and calls
:meth:`MessageMarks.collect` only when it does.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

#: Once this many acknowledged marks pile up (and they are most of the list), drop them.
COMPACT_AFTER = 256


class MessageMarks:
    """Marks of one sending direction.

    Attributes:
        offs: Stream offset of each message's last byte, increasing.
        msgs: The message of each mark, parallel to :attr:`offs`.
        head: Index of the first mark not yet acknowledged.
        next: Index of the first mark not yet sent.
    """

    __slots__ = ("head", "msgs", "next", "offs")

    def __init__(self) -> None:
        """No marks yet."""
        self.offs: list[int] = []
        self.msgs: list[Any] = []
        self.head = 0
        self.next = 0

    def add(self, start: int, ends: tuple[tuple[int, Any], ...]) -> None:
        """Append the marks of a chunk whose first byte is at offset ``start + 1``.

        Args:
            start: Offset just before the chunk.
            ends: ``(offset, message)`` pairs, offsets 1-based within the chunk.
        """
        for off, message in ends:
            self.offs.append(start + off)
            self.msgs.append(message)

    def first_after(self, a: int) -> int:
        """Index of the first live mark at an offset greater than ``a``."""
        return bisect_right(self.offs, a, self.head)

    def collect(self, i: int, a: int, b: int, new: bool) -> tuple[tuple[int, Any], ...]:
        """The marks from index ``i`` that fall in ``(a, b]``, relative to ``a``.

        Args:
            i: Index of the first candidate mark (it must be past ``a``).
            a: Offset just before the segment's first byte.
            b: Offset of the segment's last byte.
            new: The segment carries data never sent before: advance :attr:`next`.
        """
        offs = self.offs
        msgs = self.msgs
        found = []
        while i < len(offs) and offs[i] <= b:
            found.append((offs[i] - a, msgs[i]))
            i += 1
        if new:
            self.next = i
        return tuple(found)

    def trim(self, ack: int) -> None:
        """Forget marks at offsets up to ``ack``, which the peer has acknowledged."""
        offs = self.offs
        head = bisect_right(offs, ack, self.head)
        if head == len(offs):  # all acknowledged (so all sent): keep nothing
            offs.clear()
            self.msgs.clear()
            self.head = self.next = 0
            return
        if head > COMPACT_AFTER and head * 2 > len(offs):
            del offs[:head]
            del self.msgs[:head]
            self.next -= head
            head = 0
        self.head = head
        if self.next < head:
            self.next = head
