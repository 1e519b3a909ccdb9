"""Serial-number arithmetic (RFC 1982) on 32-bit sequence numbers, in isolation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbsim.transport.seqnum import (
    SEQ_HALF,
    SEQ_MASK,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_le,
    seq_lt,
    unwrap,
)

seqs = st.integers(0, SEQ_MASK)
#: Distances at which order is defined: strictly less than half the space.
distances = st.integers(-(SEQ_HALF - 1), SEQ_HALF - 1)


@given(a=seqs, d=distances)
def test_order_follows_the_short_way_round(a: int, d: int) -> None:
    b = seq_add(a, d)
    assert seq_lt(a, b) == (d > 0)
    assert seq_gt(a, b) == (d < 0)
    assert seq_le(a, b) == (d >= 0)
    assert seq_ge(a, b) == (d <= 0)
    assert seq_diff(b, a) == d
    assert seq_diff(a, b) == -d
    # Exactly one of <, ==, > holds.
    assert [seq_lt(a, b), a == b, seq_gt(a, b)].count(True) == 1


@given(a=seqs)
def test_half_the_space_apart_is_neither_before_nor_after(a: int) -> None:
    b = seq_add(a, SEQ_HALF)
    assert not seq_lt(a, b) and not seq_gt(a, b)
    assert not seq_lt(b, a) and not seq_gt(b, a)


@given(a=seqs, d1=st.integers(1, SEQ_HALF // 2 - 1), d2=st.integers(1, SEQ_HALF // 2 - 1))
def test_order_is_transitive_within_half_the_space(a: int, d1: int, d2: int) -> None:
    b, c = seq_add(a, d1), seq_add(a, d1 + d2)
    assert seq_lt(a, b) and seq_lt(b, c)
    assert seq_lt(a, c) and seq_gt(c, a)


@given(isn=seqs, x=st.integers(0, 1 << 44), delta=distances)
def test_unwrap_recovers_the_unbounded_offset(isn: int, x: int, delta: int) -> None:
    """Any offset is recovered from its 32-bit field given a reference within 2**31."""
    near = max(0, x + delta)
    assert unwrap((isn + x) & SEQ_MASK, isn, near) == x


@pytest.mark.parametrize(
    ("a", "b", "lt"),
    [(0xFFFFFFF0, 0x10, True), (0x10, 0xFFFFFFF0, False), (5, 5, False), (0, 1, True)],
)
def test_examples_around_the_wrap(a: int, b: int, lt: bool) -> None:
    assert seq_lt(a, b) is lt
    assert seq_diff(0x10, 0xFFFFFFF0) == 0x20
