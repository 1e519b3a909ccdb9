"""Sequence-number arithmetic on the 32-bit TCP sequence space (RFC 1982, RFC 9293).

Theory of operation: on the wire a sequence or acknowledgement number is 32 bits and
wraps, so after 4 GiB a stream reuses every value. Compared as plain integers,
``0x00000010`` would look *smaller* than ``0xFFFFFFF0`` although it comes 32 bytes
later. Serial-number arithmetic (RFC 1982, the rule RFC 9293 section 3.4 relies on)
compares two values by the *shortest way round the circle*: ``a`` precedes ``b`` when
``b`` is less than half the space (2**31) ahead of ``a``. Two values exactly half the
space apart are neither before nor after each other (RFC 1982 leaves that undefined).

A :class:`~lbsim.transport.tcp.TcpConnection` keeps its own positions as unbounded
offsets from its initial sequence numbers (the SYN is offset 0, the first data byte
offset 1), so windows and byte counts are plain integer arithmetic however long the
stream. Only at the edge does it convert: an outgoing field is ``(isn + offset) mod
2**32``, and an incoming field is *unwrapped* with :func:`unwrap` to the offset
congruent to it that lies nearest a reference offset the receiver already knows (the
oldest unacknowledged byte for an ACK, the next expected byte for data). That is
exact as long as the peer never has more than 2**31 bytes in flight, which the window
guarantees: the largest window TCP can advertise is 2**30 bytes (RFC 7323 section 2.3).

The per-segment code in ``tcp.py`` inlines :func:`unwrap`'s one expression rather than
calling it; these functions are the reference it must agree with (tests check both).
"""

from __future__ import annotations

#: Bits in a sequence number.
SEQ_BITS = 32
#: Values are taken modulo ``2 ** SEQ_BITS``: mask with this.
SEQ_MASK = (1 << SEQ_BITS) - 1
#: Half the sequence space: the largest distance at which order is defined.
SEQ_HALF = 1 << (SEQ_BITS - 1)


def seq_add(a: int, n: int) -> int:
    """``a + n`` in sequence space (wraps at 2**32)."""
    return (a + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance from ``b`` to ``a`` the short way round, in ``[-2**31, 2**31)``.

    ``seq_add(b, seq_diff(a, b)) == a & SEQ_MASK`` always holds.
    """
    return ((a - b + SEQ_HALF) & SEQ_MASK) - SEQ_HALF


def seq_lt(a: int, b: int) -> bool:
    """``a`` comes before ``b`` (RFC 1982 section 3.2): ``b`` is 1 to 2**31 - 1 ahead."""
    return 0 < ((b - a) & SEQ_MASK) < SEQ_HALF


def seq_le(a: int, b: int) -> bool:
    """``a`` equals ``b`` or comes before it."""
    return ((b - a) & SEQ_MASK) < SEQ_HALF


def seq_gt(a: int, b: int) -> bool:
    """``a`` comes after ``b``."""
    return seq_lt(b, a)


def seq_ge(a: int, b: int) -> bool:
    """``a`` equals ``b`` or comes after it."""
    return seq_le(b, a)


def unwrap(wire: int, isn: int, near: int) -> int:
    """The stream offset that the 32-bit field ``wire`` stands for.

    Args:
        wire: A sequence or acknowledgement number as carried in a segment.
        isn: The initial sequence number of that direction (offset 0).
        near: An offset known to be within 2**31 of the answer (for example the
            oldest unacknowledged byte, or the next byte expected).

    Returns:
        The offset ``x`` with ``(isn + x) % 2**32 == wire`` closest to ``near``
        (ties, exactly 2**31 away, resolve below ``near``).
    """
    return near + (((wire - isn - near + SEQ_HALF) & SEQ_MASK) - SEQ_HALF)
