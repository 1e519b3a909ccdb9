"""Message marks (sender) and the out-of-order hold (receiver), in isolation."""

from __future__ import annotations

from lbsim.net.segment import ACK, Segment
from lbsim.transport.marks import MessageMarks
from lbsim.transport.reassembly import OutOfOrder


def test_marks_of_new_data_are_found_from_the_next_cursor() -> None:
    marks = MessageMarks()
    marks.add(0, ((100, "a"), (3000, "b")))  # a chunk of bytes 1..3000
    assert marks.offs == [100, 3000]
    assert marks.collect(marks.next, 0, 1460, True) == ((100, "a"),)
    assert marks.next == 1
    assert marks.collect(marks.next, 2920, 3000, True) == ((80, "b"),)
    assert marks.next == 2


def test_a_retransmission_searches_without_moving_the_next_cursor() -> None:
    marks = MessageMarks()
    marks.add(0, ((100, "a"), (3000, "b")))
    marks.collect(0, 0, 3000, True)
    i = marks.first_after(0)
    assert i == 0
    assert marks.collect(i, 0, 1460, False) == ((100, "a"),)
    assert marks.next == 2


def test_trim_forgets_acknowledged_marks_and_compacts() -> None:
    marks = MessageMarks()
    marks.add(0, tuple((k, k) for k in range(1, 1001)))
    marks.collect(0, 0, 1000, True)
    marks.trim(100)
    assert marks.head == 100 and len(marks.offs) == 1000
    marks.trim(600)  # more than 256 dead and over half the list: deleted
    assert marks.head == 0 and marks.offs[0] == 601 and len(marks.offs) == 400
    assert marks.next == 400
    assert marks.first_after(700) == 100


def test_trim_keeps_nothing_once_every_mark_is_acknowledged() -> None:
    marks = MessageMarks()
    request, response = object(), object()
    marks.add(0, ((400, request), (900, response)))
    marks.collect(0, 0, 900, True)
    marks.trim(899)  # the last byte of the second message is still unacknowledged
    assert marks.msgs == [request, response] and marks.head == 1
    marks.trim(900)
    assert marks.offs == [] and marks.msgs == [] and marks.head == marks.next == 0
    marks.add(900, ((100, "next"),))  # the stream goes on: offsets keep counting
    assert marks.first_after(900) == 0 and marks.collect(0, 900, 1000, True) == ((100, "next"),)


def _seg(length: int) -> Segment:
    return Segment(1, 2, 3, 4, 0, 0, ACK, 0, length)


def test_out_of_order_segments_come_back_in_stream_order() -> None:
    ooo = OutOfOrder()
    ooo.hold(2001, _seg(1000))
    ooo.hold(1001, _seg(500))
    ooo.hold(1001, _seg(1000))  # the longer of two at one offset is kept
    ooo.hold(1001, _seg(200))
    assert len(ooo) == 2
    assert ooo.next_ready(1) is None  # gap 1..1000 still open
    seg, skip = ooo.next_ready(1001)  # type: ignore[misc]
    assert (seg.length, skip) == (1000, 0)
    seg, skip = ooo.next_ready(2001)  # type: ignore[misc]
    assert (seg.length, skip) == (1000, 0)
    assert not ooo


def test_overlapping_and_stale_segments() -> None:
    ooo = OutOfOrder()
    ooo.hold(100, _seg(50))  # entirely below what will be received: dropped
    ooo.hold(500, _seg(1000))  # overlaps rcv_nxt = 900 by 400 bytes
    seg, skip = ooo.next_ready(900)  # type: ignore[misc]
    assert (seg.length, skip) == (1000, 400)
    assert not ooo
