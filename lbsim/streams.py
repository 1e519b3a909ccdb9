"""Named random streams: common random numbers across balancer variants.

Theory of operation: a run never touches a global random generator. Every entity
that needs randomness asks for its own stream, keyed by the run seed and a path of
names, for example ``stream(seed, "client", "browsers", 17)``. The key is hashed
with BLAKE2b (stable across processes and Python versions, unlike ``hash()``) into
the seed of a private :class:`random.Random`. Because the keys name workload
entities and not balancer variants, every variant of a scenario sees the same
arrivals, request mix, sizes and service times: they differ only by the balancer.
"""

from __future__ import annotations

import hashlib
import random


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
    """Combine several integers into one well-mixed 64-bit key (order matters)."""
    h = 0
    for v in values:
        h = mix64(h ^ (v & MASK64))
    return h
