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


def mix64(*values: int) -> int:
    """Cheap deterministic 64-bit mixing of integers (SplitMix64 finaliser)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h
