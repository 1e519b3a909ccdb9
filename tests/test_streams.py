"""Random streams: a stream family gives exactly the streams ``stream()`` gives.

The faster derivations must not change a single number a run draws, so each is
checked against the plain definition it replaces.
"""

from __future__ import annotations

import random

import pytest

from lbsim.streams import MASK64, StreamFamily, mix64, mix_ints, stream


@pytest.mark.parametrize(
    "rest", [(0,), (17,), (123_456,), (-3,), (3, "age"), (3, "stream", 2), (5, 7)]
)
def test_a_family_member_is_the_stream_of_the_whole_key(rest: tuple[int | str, ...]) -> None:
    member = StreamFamily(42, "client", "web")(*rest)
    plain = stream(42, "client", "web", *rest)
    assert member.getstate() == plain.getstate()
    assert [member.random() for _ in range(5)] == [plain.random() for _ in range(5)]
    assert member.gauss(0.0, 1.0) == plain.gauss(0.0, 1.0)  # the Gaussian cache is clear


def test_members_of_a_family_differ() -> None:
    family = StreamFamily(1, "client", "web")
    assert family(0).random() != family(1).random()
    assert family(1).random() != StreamFamily(2, "client", "web")(1).random()


def test_mix_ints_chains_mix64() -> None:
    rng = random.Random(5)
    for n in range(6):
        values = [rng.getrandbits(70) - (1 << 69) for _ in range(n)]
        expected = 0
        for v in values:
            expected = mix64(expected ^ (v & MASK64))
        assert mix_ints(*values) == expected
