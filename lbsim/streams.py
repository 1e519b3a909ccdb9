"""Named random streams: common random numbers across balancer variants.

Theory of operation: a run never touches a global random generator. Every entity
that needs randomness asks for its own stream, keyed by the run seed and a path of
names, for example ``stream(seed, "client", "browsers", 17)``. The key is hashed
with BLAKE2b (stable across processes and Python versions, unlike ``hash()``) into
the seed of a private :class:`random.Random`. Because the keys name workload
entities and not balancer variants, every variant of a scenario sees the same
arrivals, request mix, sizes and service times: they differ only by the balancer.

Entities made by the thousand (a client session, a user) take their streams from a
:class:`StreamFamily`, which keeps the encoded common part of the key and builds
the generator without :class:`random.Random`'s Python-level constructor: the same
seeds and the same generators as :func:`stream`, for about half the calls.
"""

from __future__ import annotations

import _random
import hashlib
import random

_blake2b = hashlib.blake2b
#: ``random.Random``'s constructor, for an int seed, does no more than these two:
#: make the object, seed the C generator (``Random.seed`` hands ints to
#: ``_random.Random.seed``) and clear the cached Gaussian.
_new_random = random.Random.__new__
_seed_random = _random.Random.seed


def stream_seed(seed: int, *key: str | int) -> int:
    """The 64-bit seed of the stream named ``key`` under run seed ``seed``."""
    text = "\x1f".join([str(seed), *map(str, key)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def stream(seed: int, *key: str | int) -> random.Random:
    """A private random generator for the entity named by ``key``.

    Args:
        seed: The run's seed.
        *key: Names identifying the consumer, e.g. ``("client", "browsers", 3)``.

    Returns:
        A :class:`random.Random` seeded deterministically from ``seed`` and ``key``.
    """
    return random.Random(stream_seed(seed, *key))


class StreamFamily:
    """The streams of many entities whose keys share a prefix, e.g. every client session.

    ``StreamFamily(seed, "client", "web")(17)`` is the generator
    ``stream(seed, "client", "web", 17)`` would give, in the same state.
    """

    __slots__ = ("_prefix",)

    def __init__(self, seed: int, *key: str | int) -> None:
        """Keep the encoded key prefix (run seed and ``key``)."""
        self._prefix = "\x1f".join([str(seed), *map(str, key), ""]).encode()

    def __call__(self, index: int, *rest: str | int) -> random.Random:
        """The stream of member ``index`` (further key parts in ``rest``)."""
        text = self._prefix + b"%d" % index
        if rest:
            text += "".join(f"\x1f{part}" for part in rest).encode()
        seed = int.from_bytes(_blake2b(text, digest_size=8).digest(), "big")
        rng = _new_random(random.Random)
        _seed_random(rng, seed)
        rng.gauss_next = None  # type: ignore[attr-defined]  # set by Random.seed
        return rng


MASK64 = (1 << 64) - 1


def mix64(key: int) -> int:
    """Scramble a 64-bit integer; a bijection on ``[0, 2**64)``.

    This is the SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable
    pseudorandom number generators", OOPSLA 2014): cheap, with good avalanche, so
    small or structured keys (addresses, ports) spread over the whole 64-bit range.

    Args:
        key: Any integer; only its low 64 bits are used.

    Returns:
        An integer in ``[0, 2**64)``.
    """
    z = (key + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def mix_ints(*values: int) -> int:
    """Combine several integers into one well-mixed 64-bit key (order matters).

    Each step is ``h = mix64(h ^ v)``; the finaliser is written out here rather
    than called, since this runs for every connection opened (ISNs, ECMP and
    placement keys) and a call per value cost more than the arithmetic.
    """
    h = 0
    for v in values:
        z = ((h ^ (v & MASK64)) + 0x9E3779B97F4A7C15) & MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        h = z ^ (z >> 31)
    return h
