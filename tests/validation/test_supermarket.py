"""The supermarket model: power of two choices against random, as published.

Mitzenmacher ("The Power of Two Choices in Randomized Load Balancing", IEEE TPDS
2001, Table 1): n exponential servers (mean service 1), Poisson arrivals at rate
``lam * n``, each arrival joining the shorter of two queues drawn at random.  For
large n the mean time in system is 1.2657, 1.6145, 1.9474, 2.6141 and 3.3830 at
lam = 0.5, 0.7, 0.8, 0.9, 0.95 (:func:`lbsim.theory.supermarket_response`), against
``1 / (1 - lam)`` = 2, 3.33, 5, 10, 20 when each arrival picks one queue at random.

Here the real ``p2c`` algorithm object (with replacement, as in the model) picks
among n = 100 FIFO queues in a pure-Python event loop (a heap of departures).  n is
finite, so the mean sits slightly above the limit: Mitzenmacher's own simulations
at n = 100 were 0.1 % (lam = 0.5) to 2.3 % (lam = 0.95) above it.  Tolerance:
between 1.5 % below and 5 % above the limit.  Noise, measured over 5 seeds outside
these tests: the standard deviation of one run's mean is 0.3 % (lam = 0.5) to 2 %
(lam = 0.95, 200,000 customers); each point pools 4 runs, so its standard error is
at most about 1 %, and the band is at least 3.5 of them either side of the
expected finite-n value.  Every run discards the first 20,000 customers (over 200
service times) as warm-up.

``random`` (the same loop with the ``random`` algorithm) is M/M/1 per queue; it is
checked at lam = 0.5 and 0.8, within 3 % (3 runs of 100,000 customers: standard
error about 0.6 % at 0.8).  Higher loads make M/M/1 too slow to converge for a test.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

import pytest

from lbsim import theory
from lbsim.lb.algorithms import make_algorithm

N = 100
WARMUP = 20_000


@dataclass(slots=True)
class Queue:
    """A FIFO server as the algorithm sees it: ``active`` customers in system."""

    name: str
    weight: float = 1.0
    active: int = 0
    free_at: float = 0.0


def mean_time_in_system(
    name: str, lam: float, customers: int, seed: int, **params: object
) -> float:
    """Mean sojourn time (units of the mean service time) of ``customers`` arrivals."""
    algo = make_algorithm(name, 7, random.Random(seed), **params)
    rng = random.Random(seed + 10_000)
    expovariate = rng.expovariate
    queues = [Queue(f"q{i}") for i in range(N)]
    departures: list[tuple[float, int, Queue]] = []
    rate = lam * N
    now = total = 0.0
    for k in range(WARMUP + customers):
        now += expovariate(rate)
        while departures and departures[0][0] <= now:
            heapq.heappop(departures)[2].active -= 1
        queue = algo.pick(queues, now)
        done = max(now, queue.free_at) + expovariate(1.0)
        queue.free_at = done
        queue.active += 1
        heapq.heappush(departures, (done, k, queue))
        if k >= WARMUP:
            total += done - now
    return total / customers


@pytest.mark.parametrize(
    ("lam", "published", "customers"),
    [
        (0.5, 1.2657, 100_000),
        (0.7, 1.6145, 100_000),
        (0.8, 1.9474, 100_000),
        (0.9, 2.6141, 150_000),
        (0.95, 3.3830, 200_000),
    ],
)
def test_two_choices_matches_the_supermarket_model(lam, published, customers):
    limit = theory.supermarket_response(lam, 2)
    assert limit == pytest.approx(published, abs=5e-5)
    runs = [mean_time_in_system("p2c", lam, customers, seed, replacement=True) for seed in range(4)]
    measured = sum(runs) / len(runs)
    random_choice = theory.supermarket_response(lam, 1)
    print(
        f"\nlam={lam}: p2c {measured:.4f} (limit {limit:.4f}, "
        f"{100 * (measured / limit - 1):+.1f}%), random would be {random_choice:.2f}"
    )
    assert limit * 0.985 <= measured <= limit * 1.05
    assert measured < 0.7 * random_choice


def test_distinct_samples_agree_for_many_servers():
    """Without replacement (the default) two choices are never wasted on one queue;
    at n = 100 that changes the mean by well under the 3 % tolerance."""
    runs = [mean_time_in_system("p2c", 0.9, 100_000, seed) for seed in range(4)]
    assert sum(runs) / len(runs) == pytest.approx(theory.supermarket_response(0.9, 2), rel=0.03)


@pytest.mark.parametrize("lam", [0.5, 0.8])
def test_random_is_mm1(lam):
    runs = [mean_time_in_system("random", lam, 100_000, seed) for seed in range(3)]
    expected = theory.supermarket_response(lam, 1)
    assert expected == pytest.approx(1 / (1 - lam))
    assert sum(runs) / len(runs) == pytest.approx(expected, rel=0.03)


def test_more_choices_help_less_and_less():
    """The limit for d = 3 is below d = 2 by far less than d = 2 is below random
    (Mitzenmacher: the big step is from one choice to two)."""
    lam = 0.9
    one, two, three = (theory.supermarket_response(lam, d) for d in (1, 2, 3))
    assert one - two > 5 * (two - three) > 0
    measured = sum(
        mean_time_in_system("p2c", lam, 60_000, seed, choices=3, replacement=True)
        for seed in range(3)
    )
    assert measured / 3 == pytest.approx(three, rel=0.04)
