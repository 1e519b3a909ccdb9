"""stable_hash, modulo hashing, the consistent-hash ring and Maglev (docs/validation.md
"Hashing when a backend leaves")."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from collections import Counter

import pytest

from lbsim.lb.algorithms import (
    ConsistentHash,
    Maglev,
    SourceHash,
    build_maglev_table,
    is_prime,
    make_algorithm,
    mix64,
    stable_hash,
)

N = 10
_KEY_RNG = random.Random(42)
KEYS = [_KEY_RNG.getrandbits(64) for _ in range(100_000)]


def assignment(algo, candidates, keys=KEYS) -> list[str]:
    return [algo.pick(candidates, 0.0, key=k).name for k in keys]


def moved_fraction(before: list[str], after: list[str]) -> float:
    return sum(x != y for x, y in zip(before, after, strict=True)) / len(before)


# --- stable_hash -----------------------------------------------------------------------


def test_stable_hash_is_pinned_and_typed():
    # Golden values: changing the encoding would silently change every run's results.
    assert stable_hash("web-1") == 15801813958633786835
    assert stable_hash("10.0.0.7", 51234) == 16966639150019867620
    assert stable_hash(b"x", -5) == 7417848672441398824
    assert stable_hash("ab", "c") != stable_hash("a", "bc")
    assert stable_hash(1) != stable_hash("1") != stable_hash(b"1")
    assert all(0 <= stable_hash(i) < 2**64 for i in range(100))
    with pytest.raises(TypeError):
        stable_hash(1.5)  # type: ignore[arg-type]


def test_stable_hash_does_not_depend_on_pythonhashseed():
    code = "from lbsim.lb.algorithms import stable_hash; print(stable_hash('web-1', 7))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == stable_hash("web-1", 7)


def test_mix64_is_a_64_bit_bijection_sample():
    values = {mix64(i) for i in range(10_000)}
    assert len(values) == 10_000 and all(0 <= v < 2**64 for v in values)


# --- source hash -----------------------------------------------------------------------


def test_source_hash_is_key_modulo_n(make_backends):
    backends = make_backends(7)
    algo = SourceHash(random.Random(0))
    for key in (0, 1, 6, 7, 2**64 - 1, 123456789):
        assert algo.pick(backends, 0.0, key=key) is backends[key % 7]


def test_source_hash_moves_most_keys_when_one_of_n_leaves(make_backends):
    backends = make_backends(N, prefix="web-")
    algo = make_algorithm("source_hash", 4, random.Random(0))
    moved = moved_fraction(assignment(algo, backends), assignment(algo, backends[1:]))
    print(f"\nmodulo hashing, 1 of {N} leaves: moved {moved:.4f} (theory {(N - 1) / N:.2f})")
    assert moved == pytest.approx((N - 1) / N, abs=0.02)


# --- consistent-hash ring --------------------------------------------------------------


@pytest.mark.parametrize("layer", [4, 7])
def test_ring_moves_about_one_nth_and_only_keys_of_the_leaver(make_backends, layer):
    backends = make_backends(N, prefix="web-")
    algo = make_algorithm("consistent_hash", layer, random.Random(0))
    gone = backends[3]
    before = assignment(algo, backends)
    after = assignment(algo, [b for b in backends if b is not gone])
    moved = moved_fraction(before, after)
    print(f"\nring (160 vnodes), web-3 of {N} leaves: moved {moved:.4f} (theory {1 / N})")
    # The moved keys are exactly those web-3 owned. With V = 160 points per backend
    # a backend's share is a sum of V exponential arcs: relative sd 1/sqrt(V) = 7.9 %,
    # i.e. 0.100 +- 0.008; the band below is about 4 sd wide on each side.
    assert 0.07 <= moved <= 0.14
    for x, y in zip(before, after, strict=True):
        assert x == y or x == gone.name


def test_ring_disruption_for_every_leaver(make_backends):
    backends = make_backends(N, prefix="web-")
    algo = ConsistentHash(random.Random(0))
    positions = [mix64(k) for k in KEYS]
    full = algo.ring_for(backends)
    before = [full.lookup(p) for p in positions]
    fractions = []
    for gone in range(N):
        rest = backends[:gone] + backends[gone + 1 :]
        ring = algo.ring_for(rest)
        after = [rest[ring.lookup(p)].name for p in positions]
        fractions.append(moved_fraction([backends[i].name for i in before], after))
    print(f"\nring, each of {N} leaving: moved {min(fractions):.4f}..{max(fractions):.4f}")
    assert all(0.07 <= f <= 0.14 for f in fractions)


def test_ring_is_order_independent_and_weight_aware(make_backends):
    backends = make_backends(weights=[2, 1, 1, 1], prefix="web-")
    algo = ConsistentHash(random.Random(0))
    keys = KEYS[:20_000]
    forward = assignment(algo, backends, keys)
    assert assignment(algo, backends[::-1], keys) == forward
    share = Counter(forward)["web-0"] / len(keys)
    assert share == pytest.approx(0.4, abs=0.05)  # 2 / (2 + 1 + 1 + 1)
    assert len(algo.ring_for(backends).points) == 4 * 160  # scaled by weight/mean


def test_ring_new_backend_only_takes_keys(make_backends):
    backends = make_backends(N + 1, prefix="web-")
    algo = ConsistentHash(random.Random(0))
    keys = KEYS[:20_000]
    before = assignment(algo, backends[:N], keys)
    after = assignment(algo, backends, keys)
    assert all(x == y or y == "web-10" for x, y in zip(before, after, strict=True))


# --- Maglev ----------------------------------------------------------------------------


def reference_maglev(names: list[str], size: int) -> list[str]:
    """Pseudocode 1 of the Maglev paper, literally, with lbsim's two name hashes."""
    ordered = sorted(names)
    offset = [stable_hash("maglev-offset", n) % size for n in ordered]
    skip = [stable_hash("maglev-skip", n) % (size - 1) + 1 for n in ordered]
    nxt = [0] * len(ordered)
    entry: list[str | None] = [None] * size
    filled = 0
    while True:
        for i, name in enumerate(ordered):
            c = (offset[i] + nxt[i] * skip[i]) % size
            while entry[c] is not None:
                nxt[i] += 1
                c = (offset[i] + nxt[i] * skip[i]) % size
            entry[c] = name
            nxt[i] += 1
            filled += 1
            if filled == size:
                return [e for e in entry if e is not None]


@pytest.mark.parametrize(("n", "size"), [(3, 13), (5, 251), (10, 1009), (13, 13)])
def test_maglev_table_matches_the_paper_pseudocode(make_backends, n, size):
    backends = make_backends(n, prefix="web-")
    algo = Maglev(random.Random(0), table_size=size)
    assert algo.lookup_table(backends) == reference_maglev([b.name for b in backends], size)


@pytest.mark.parametrize("n", [3, 10, 50])
def test_maglev_entries_per_backend_differ_by_at_most_one(make_backends, n):
    backends = make_backends(n, prefix="web-")
    counts = Counter(Maglev(random.Random(0)).lookup_table(backends))
    assert len(counts) == n
    assert max(counts.values()) - min(counts.values()) <= 1
    assert min(counts.values()) == 65537 // n


def test_maglev_removal_moves_a_little_more_than_one_nth(make_backends):
    backends = make_backends(N, prefix="web-")
    algo = make_algorithm("maglev", 4, random.Random(0))
    assert isinstance(algo, Maglev)
    rest = backends[1:]
    moved = moved_fraction(assignment(algo, backends), assignment(algo, rest))
    table_before = algo.lookup_table(backends)
    table_after = algo.lookup_table(rest)
    entries = sum(x != y for x, y in zip(table_before, table_after, strict=True)) / 65537
    print(
        f"\nmaglev M=65537, web-0 of {N} leaves: keys moved {moved:.4f}, "
        f"table entries changed {entries:.4f} (docs/validation.md: ~0.102)"
    )
    assert 0.10 <= moved <= 0.13
    assert 0.10 <= entries <= 0.13


def test_maglev_table_disruption_for_every_leaver(make_backends):
    backends = make_backends(N, prefix="web-")
    algo = Maglev(random.Random(0))
    full = algo.lookup_table(backends)
    fractions = []
    for gone in range(N):
        rest = algo.lookup_table(backends[:gone] + backends[gone + 1 :])
        fractions.append(sum(x != y for x, y in zip(full, rest, strict=True)) / len(full))
    mean = sum(fractions) / N
    print(
        f"\nmaglev, each of {N} leaving: entries changed {min(fractions):.4f}.."
        f"{max(fractions):.4f}, mean {mean:.4f}"
    )
    assert all(0.10 <= f <= 0.13 for f in fractions)


def test_maglev_weighted_and_order_independent(make_backends):
    backends = make_backends(weights=[2, 1, 1], prefix="web-")
    algo = Maglev(random.Random(0), table_size=10007)
    table = algo.lookup_table(backends)
    counts = Counter(table)
    assert counts["web-0"] / 10007 == pytest.approx(0.5, abs=0.005)
    assert algo.lookup_table(backends[::-1]) == table


def test_maglev_table_size_must_be_prime_and_large_enough(make_backends):
    for bad in (65536, 1, 0, 100, 65537.0, True):
        with pytest.raises(ValueError, match="table_size"):
            Maglev(random.Random(0), table_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="table_size"):
        make_algorithm("maglev", 4, random.Random(0), table_size=65535)
    algo = Maglev(random.Random(0), table_size=5)
    with pytest.raises(ValueError, match=r"table_size \(5\) must be >= number of backends \(6\)"):
        algo.pick(make_backends(6), 0.0, key=1)
    with pytest.raises(ValueError, match="unique"):
        build_maglev_table(["a", "a"], [1.0, 1.0], 7)


def test_is_prime():
    primes = [p for p in range(200) if is_prime(p)]
    sieve = [p for p in range(2, 200) if all(p % d for d in range(2, math.isqrt(p) + 1))]
    assert primes == sieve
    assert is_prime(65537) and is_prime(2**61 - 1) and not is_prime(65537 * 65539)
