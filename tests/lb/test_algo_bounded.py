"""Consistent hashing with bounded loads (``balance_factor``) on the ring and Maglev.

The guarantee (Mirrokni, Thorup and Zadimoghaddam): every placement lands on a
backend that then holds at most ``ceil(c * (total + 1) / n)`` in flight, the
average counting the item being placed.  The workload is made to break plain
hashing: 2000 keys with Zipf(1.1) popularity, so the hottest key alone wants
about 12 % of all work on 10 backends; Poisson arrivals at 1000/s, each item in
flight for an exponential time of mean 50 ms (about 50 in flight, 5 a backend).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random

import pytest

from lbsim import theory
from lbsim.lb.algorithms import make_algorithm, stable_hash

N = 10
KEYS = [stable_hash("user", i) for i in range(2000)]
ZIPF = list(itertools.accumulate(1 / (i + 1) ** 1.1 for i in range(len(KEYS))))
HASHES = [("consistent_hash", 4), ("consistent_hash", 7), ("maglev", 4), ("maglev", 7)]
SMALL = {"maglev": {"table_size": 1009}, "consistent_hash": {}}


def run(name, layer, factor, make_backends, seed=3, items=20_000):
    """Place ``items`` keyed items; return (violations of the cap, picks, home picks, algo).

    A violation is a placement after which the chosen backend holds more than
    ``theory.bounded_load_cap(c, total, n)`` (computed independently of the
    algorithm, with ``factor`` = 1.25 when the algorithm runs without one)."""
    params = dict(SMALL[name])
    if factor is not None:
        params["balance_factor"] = factor
    algo = make_algorithm(name, layer, random.Random(0), **params)
    plain = make_algorithm(name, layer, random.Random(0), **SMALL[name])
    backends = make_backends(N, prefix="web-")
    rng = random.Random(seed)
    now, total, k = 0.0, 0, 0
    in_flight: list[tuple[float, int, object]] = []
    violations = home = 0
    for k in range(items):
        now += rng.expovariate(1000.0)
        while in_flight and in_flight[0][0] <= now:
            heapq.heappop(in_flight)[2].active -= 1
            total -= 1
        key = KEYS[bisect.bisect(ZIPF, rng.random() * ZIPF[-1])]
        chosen = algo.pick(backends, now, key)
        home += chosen is plain.pick(backends, now, key)
        if chosen.active + 1 > theory.bounded_load_cap(factor or 1.25, total, N):
            violations += 1
        chosen.active += 1
        total += 1
        heapq.heappush(in_flight, (now + rng.expovariate(20.0), k, chosen))
    return violations, items, home, algo


@pytest.mark.parametrize(("name", "layer"), HASHES)
@pytest.mark.parametrize("factor", [1.0, 1.25, 2.0])
def test_every_placement_respects_the_cap(make_backends, name, layer, factor):
    violations, items, home, algo = run(name, layer, factor, make_backends)
    assert violations == 0
    assert algo.spills == items - home  # every pick away from home is counted
    if factor == 2.0:
        assert home / items > 0.8  # a loose cap keeps most keys at home


@pytest.mark.parametrize(("name", "layer"), HASHES)
def test_plain_hashing_breaks_the_cap_on_this_workload(make_backends, name, layer):
    """Without a balance factor the hot keys overload their backends: the test
    above would fail, so its workload does exercise the walk."""
    violations, items, _home, _algo = run(name, layer, None, make_backends)
    assert violations / items > 0.05


def test_bounded_cap_reference_values():
    assert theory.bounded_load_cap(1.25, 0, 10) == 1  # an idle pool: room for one each
    assert theory.bounded_load_cap(1.25, 39, 10) == 5  # average 4 -> 5
    assert theory.bounded_load_cap(1.0, 40, 10) == 5  # ceil(4.1)


@pytest.mark.parametrize(("name", "layer"), HASHES)
def test_idle_backends_keep_plain_affinity(make_backends, name, layer):
    """While nothing is in flight the cap never binds: same backend as without it."""
    params = SMALL[name]
    bounded = make_algorithm(name, layer, random.Random(0), balance_factor=1.0, **params)
    plain = make_algorithm(name, layer, random.Random(0), **params)
    backends = make_backends(N, prefix="web-")
    for key in KEYS[:500]:
        assert bounded.pick(backends, 0.0, key) is plain.pick(backends, 0.0, key)
    assert bounded.spills == 0


def test_weighted_caps_follow_weights(make_backends):
    """A backend of weight 3 among weight-1 ones may hold three times as much:
    with 3 + 1 + 1 + 1 weights and 11 in flight, c = 1: caps are 6, 2, 2, 2."""
    algo = make_algorithm("consistent_hash", 7, random.Random(0), balance_factor=1.0)
    backends = make_backends(weights=[3, 1, 1, 1])
    loads = [5, 2, 2, 2]  # the heavy one has room for one more, the others none
    for b, load in zip(backends, loads, strict=True):
        b.active = load
    assert {algo.pick(backends, 0.0, key).name for key in KEYS[:200]} == {"a"}
