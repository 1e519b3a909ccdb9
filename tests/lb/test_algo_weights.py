"""Effective weights: slow start for new backends, and weights set at run time.

The slow-start tests drive the real algorithm objects with a simple simulated
request stream (Poisson arrivals at 200/s, exponential time in flight of mean
0.5 s, so about 20 requests in flight per backend): four backends serve from the
start and a fifth joins at t = 10 s.  With a 30 s window and Envoy's default shape
(linear, 10 % minimum) the newcomer's fair share of the picks at time t is
``f / (4 + f)`` with ``f = max(0.1, (t - 10) / 30)``, rising from 2.4 % to 20 %,
for the rotations and random.  The least-request family uses Envoy's weights for
unequal weights, ``f / (active + 1)``, under which the in-flight counts settle
where ``x (100 x + 1)`` is proportional to the weight (x a backend's share, 100
requests in flight): the newcomer starts near 7.5 % (about ``sqrt(f)`` of a full
share when many requests are in flight) and still ramps smoothly to 20 %.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from dataclasses import dataclass

import pytest

from lbsim.lb.algorithms import SlowStart, make_algorithm, weight_from_report


@dataclass(slots=True)
class Backend:
    name: str
    weight: float = 1.0
    active: int = 0


JOIN = 10.0
WINDOW = 30.0
RATE = 200.0  # requests per second
HOLD = 0.5  # mean seconds in flight
PROPORTIONAL = [("weighted_round_robin", 7), ("round_robin", 7), ("random", 7), ("random", 4)]
LEAST_REQUEST = [("least_request", 7), ("p2c", 7), ("least_connections", 4), ("two_choices", 4)]


def simulate(name: str, layer: int, seed: int, **params: object) -> list[tuple[float, bool]]:
    """Run the request stream for 60 s; return (pick time, picked the newcomer?)."""
    algo = make_algorithm(name, layer, random.Random(seed), **params)
    rng = random.Random(seed + 1000)
    old = [Backend(f"old-{i}") for i in range(4)]
    new = Backend("new")
    candidates = old
    now = 0.0
    in_flight: list[tuple[float, int, Backend]] = []
    picks: list[tuple[float, bool]] = []
    k = 0
    while now < 60.0:
        now += rng.expovariate(RATE)
        if now >= JOIN and candidates is old:
            candidates = [*old, new]  # scale out: a new list with one more backend
        while in_flight and in_flight[0][0] <= now:
            heapq.heappop(in_flight)[2].active -= 1
        chosen = algo.pick(candidates, now)
        chosen.active += 1
        k += 1
        heapq.heappush(in_flight, (now + rng.expovariate(1 / HOLD), k, chosen))
        picks.append((now, chosen is new))
    return picks


def share(picks: list[tuple[float, bool]], start: float, end: float) -> float:
    window = [is_new for t, is_new in picks if start <= t < end]
    return sum(window) / len(window)


def fair_share(t: float) -> float:
    """Newcomer's share when picks are proportional to effective weight."""
    f = SlowStart(WINDOW).factor(t - JOIN)
    return f / (4 + f)


def least_request_share(t: float, in_flight: float = RATE * HOLD) -> float:
    """Newcomer's share x at equilibrium under Envoy's weights ``w / (active + 1)``.

    Picks are proportional to ``w / (active + 1)`` and ``active`` to the share, so
    ``x (in_flight x + 1) / (o (in_flight o + 1)) = f``, ``o = (1 - x) / 4`` the
    share of each established backend; solved by bisection."""
    f = SlowStart(WINDOW).factor(t - JOIN)
    low, high = 0.0, 0.2
    for _ in range(60):
        x = (low + high) / 2
        o = (1 - x) / 4
        if x * (in_flight * x + 1) / (o * (in_flight * o + 1)) < f:
            low = x
        else:
            high = x
    return (low + high) / 2


def test_envoy_ramp_formula():
    linear = SlowStart(30.0)
    assert linear.factor(0.0) == 0.1  # min_weight_percent 10 at the start
    assert linear.factor(15.0) == pytest.approx(0.5)
    assert linear.factor(29.999) == pytest.approx(1.0, abs=1e-4)
    assert linear.factor(30.0) == 1.0
    assert linear.factor(1e9) == 1.0
    aggressive = SlowStart(30.0, aggression=2.0, min_fraction=0.05)
    assert aggressive.factor(7.5) == pytest.approx(0.5)  # (1/4)^(1/2)
    assert aggressive.factor(0.03) == pytest.approx(0.05)  # sqrt(0.001) < 5 %
    gentle = SlowStart(30.0, aggression=0.5)
    assert gentle.factor(15.0) == pytest.approx(0.25)  # (1/2)^2


def test_weighted_round_robin_follows_the_ramp_exactly():
    """Smooth WRR is deterministic: every 5 s bin of the window holds the newcomer's
    fair share to within one pick in a hundred."""
    picks = simulate("weighted_round_robin", 7, seed=1, slow_start_window=WINDOW)
    for start in range(10, 45, 5):
        t = start + 2.5
        assert share(picks, start, start + 5) == pytest.approx(fair_share(t), abs=0.01), start


def pooled_bins(name: str, layer: int, expected_at) -> list[tuple[float, float]]:
    """(measured, expected) newcomer share per 5 s bin from 10 s to 55 s, 3 runs pooled."""
    runs = [simulate(name, layer, seed, slow_start_window=WINDOW) for seed in (11, 12, 13)]
    return [
        (
            sum(share(p, start, start + 5) for p in runs) / len(runs),
            sum(expected_at(start + 0.5 * k) for k in range(11)) / 11,
        )
        for start in range(10, 55, 5)
    ]


@pytest.mark.parametrize(("name", "layer"), PROPORTIONAL)
def test_slow_start_spreads_the_newcomer_over_the_window(name, layer):
    """Pooled over 3 runs (about 3000 picks a bin; the binomial standard error is
    <= 0.007), the newcomer's share in each 5 s bin follows f/(4+f) within 0.03,
    from 2.8 % in the first bin up to its full 20 % after the window."""
    for measured, expected in pooled_bins(name, layer, fair_share):
        assert measured == pytest.approx(expected, abs=0.03)


@pytest.mark.parametrize(("name", "layer"), LEAST_REQUEST)
def test_slow_start_under_least_request_follows_envoys_equilibrium(name, layer):
    """Same stream and bins; expected from Envoy's weights w/(active+1) at
    equilibrium (module docstring).  Tolerance 0.025; measured within 0.012."""
    bins = pooled_bins(name, layer, least_request_share)
    for measured, expected in bins:
        assert measured == pytest.approx(expected, abs=0.025)
    shares = [m for m, _ in bins]
    assert shares[0] < 0.1  # no spike: well under the full 20 % ...
    assert shares[0] < shares[2] < shares[4] < 0.19  # ... rising over the window


def test_least_request_floods_a_newcomer_without_slow_start_but_not_with_it():
    """The problem slow start exists for: a newcomer with nothing in flight is the
    least loaded backend, so least_request sends it nearly every request until it
    has caught up (~20 in flight).  With slow start its weight starts at 10 %, so
    it is the least loaded only while it holds about a tenth of the others' load
    (~2 requests): of the first 20 picks after joining it gets a few, not all."""
    plain, ramped = [], []
    for seed in range(5, 10):
        for out, params in ((plain, {}), (ramped, {"slow_start_window": WINDOW})):
            picks = simulate("least_request", 7, seed, **params)
            out.append(sum([is_new for t, is_new in picks if t >= JOIN][:20]))
    print(f"\nnewcomer's picks among the first 20 after joining: {plain} without "
          f"slow start, {ramped} with")  # fmt: skip
    assert min(plain) >= 18
    assert max(ramped) <= 7
    assert sum(ramped) / len(ramped) <= 5


def test_backends_present_at_the_first_pick_are_not_ramped(make_backends):
    algo = make_algorithm("weighted_round_robin", 7, random.Random(0), slow_start_window=30)
    backends = make_backends(4)
    counts = Counter(algo.pick(backends, 5.0).name for _ in range(400))
    assert set(counts.values()) == {100}
    assert algo.effective_weight(backends[0], 5.0) == 1.0


def test_explicit_join_restarts_the_ramp(make_backends):
    """A balancer may call backend_joined (e.g. health checks passing again)."""
    algo = make_algorithm("least_request", 7, random.Random(0), slow_start_window=20)
    a, b = make_backends(2)
    algo.pick([a, b], 0.0)
    algo.backend_joined("b", 100.0)
    assert algo.effective_weight(b, 100.0) == pytest.approx(0.1)
    assert algo.effective_weight(b, 110.0) == pytest.approx(0.5)
    assert algo.effective_weight(b, 120.0) == 1.0
    a.active = b.active = 3
    assert algo.pick([a, b], 105.0) is a  # 3/1 < 3/0.25
    # Without slow start the hook is accepted and ignored by every algorithm.
    for name in ("least_request", "consistent_hash", "peak_ewma"):
        make_algorithm(name, 7, random.Random(0)).backend_joined("b", 1.0)


def test_set_weight_overrides_the_configured_weight(make_backends):
    """Weights set at run time (as from load reports) steer weighted round robin."""
    algo = make_algorithm("weighted_round_robin", 7, random.Random(0))
    backends = make_backends(3)
    algo.set_weight("a", 3.0)
    counts = Counter(algo.pick(backends, 0.0).name for _ in range(500))
    assert counts == {"a": 300, "b": 100, "c": 100}
    algo.clear_weight("a")
    counts = Counter(algo.pick(backends, 1.0).name for _ in range(300))
    assert counts == {"a": 100, "b": 100, "c": 100}
    with pytest.raises(ValueError, match="weight must be finite and > 0"):
        algo.set_weight("a", 0.0)
    unweighted = make_algorithm("round_robin", 4, random.Random(0))
    with pytest.raises(ValueError, match="ignores weights"):
        unweighted.set_weight("a", 2.0)


def test_weight_from_report_is_envoys_formula():
    # qps / (utilization + penalty * eps / qps)
    assert weight_from_report(100.0, 0.5) == pytest.approx(200.0)
    assert weight_from_report(100.0, 0.5, eps=10.0, penalty=1.0) == pytest.approx(100 / 0.6)
    with pytest.raises(ValueError):
        weight_from_report(0.0, 0.5)
