"""Two choices / p2c, balls into bins (docs/validation.md) and peak EWMA."""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from typing import Any

import pytest

from lbsim import theory
from lbsim.lb.algorithms import PeakEwma, TwoChoices, make_algorithm

TWO_CHOICE_ALGOS = [("two_choices", 4), ("p2c", 7)]


# --- two choices -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "layer"), TWO_CHOICE_ALGOS)
def test_two_choices_never_picks_a_strict_unique_maximum(make_backends, name, layer):
    """If one backend's active/weight is strictly above every other's, and there are
    at least two candidates, it is never picked: the two samples are distinct, so
    whenever it is sampled the other sample is strictly lower and wins."""
    algo = make_algorithm(name, layer, random.Random(5))
    backends = make_backends(weights=[1, 1, 2, 1, 1])
    for b, active in zip(backends, [3, 0, 9, 4, 1], strict=True):
        b.active = active  # c: 9/2 = 4.5 is the unique maximum
    counts = Counter(algo.pick(backends, 0.0).name for _ in range(20_000))
    assert counts["c"] == 0
    # The unique minimum (b) wins whenever it is one of the two samples: P = 2/n.
    assert counts["b"] / 20_000 == pytest.approx(2 / 5, abs=0.015)


@pytest.mark.parametrize(("name", "layer"), TWO_CHOICE_ALGOS)
def test_two_choices_with_two_backends_always_compares_both(make_backends, name, layer):
    algo = make_algorithm(name, layer, random.Random(1))
    a, b = make_backends(2)
    a.active = 1
    assert {algo.pick([a, b], 0.0).name for _ in range(200)} == {"b"}


def test_two_choices_single_candidate_and_ties(make_backends):
    algo = TwoChoices(random.Random(3))
    (only,) = make_backends(1)
    assert algo.pick([only], 0.0) is only
    # All tied: the first sample wins, so picks are uniform.
    backends = make_backends(4)
    counts = Counter(algo.pick(backends, 0.0).name for _ in range(40_000))
    assert all(abs(counts[b.name] / 40_000 - 0.25) < 0.01 for b in backends)


# --- balls into bins (docs/validation.md "Placing long-lived connections") -------------

N_BINS = 10_000
SEEDS = range(10)


def place_balls(name: str, seed: int, make_backends, **params) -> int:
    """Place N_BINS long-lived connections on N_BINS backends; return the max load."""
    backends = make_backends(N_BINS, prefix="b")
    algo = make_algorithm(name, 4, random.Random(seed), **params)
    for _ in range(N_BINS):
        algo.pick(backends, 0.0).active += 1  # connections stay where they were placed
    return max(b.active for b in backends)


def test_balls_into_bins_one_versus_two_choices(make_backends):
    ln_n = math.log(N_BINS)
    one_formula = ln_n / math.log(ln_n)  # 4.15 for n = 10,000
    two_formula = math.log(ln_n) / math.log(2)  # 3.20
    # weighted=False: all weights are equal and it keeps the pick O(1) at n = 10,000.
    one = [place_balls("random", s, make_backends, weighted=False) for s in SEEDS]
    two = [place_balls("two_choices", s, make_backends) for s in SEEDS]
    print(
        f"\nballs into bins n={N_BINS}: one choice max loads {one} "
        f"(mean {sum(one) / len(one):.2f}, ln n/ln ln n = {one_formula:.2f}); "
        f"two choices {two} (mean {sum(two) / len(two):.2f}, "
        f"ln ln n/ln 2 = {two_formula:.2f})"
    )
    # The formulas are leading order only: for one choice the true maximum sits
    # well above ln n / ln ln n at this n (about 7), hence the wide band.
    mean_one = sum(one) / len(one)
    assert 0.8 * one_formula <= mean_one <= 2.0 * one_formula
    assert all(m <= two_formula + 2 for m in two)
    assert min(one) > max(two)


# --- peak EWMA -------------------------------------------------------------------------


def test_peak_ewma_estimate_rules():
    algo = PeakEwma(random.Random(0), tau=10.0, default_latency=0.02)

    class View:
        name, weight, active = "x", 1.0, 0

    x = View()
    assert algo.latency_estimate(x, 0.0) == 0.02  # no sample yet
    algo.on_complete(x, 0.0, 0.1)
    assert algo.latency_estimate(x, 0.0) == 0.1
    # A lower sample 10 s (= tau) later is blended with weight 1 - e^-1 ...
    algo.on_complete(x, 10.0, 0.01)
    blended = 0.1 * math.exp(-1) + 0.01 * (1 - math.exp(-1))
    assert algo.latency_estimate(x, 10.0) == pytest.approx(blended)
    # ... a higher one replaces the estimate at once (the peak) ...
    algo.on_complete(x, 10.001, 0.5)
    assert algo.latency_estimate(x, 10.001) == 0.5
    # ... and, unread by samples, the estimate decays toward zero with time.
    assert algo.latency_estimate(x, 20.001) == pytest.approx(0.5 * math.exp(-1))
    assert algo.cost(x, 10.001) == 0.5
    with pytest.raises(ValueError, match="latency"):
        algo.on_complete(x, 11.0, -1.0)


def simulate_slow_then_recovered(seed: int, make_backends) -> list[tuple[float, str]]:
    """5 backends, requests every 5 ms for 90 s, exponential latency mean 10 ms;
    backend b0 has mean 100 ms (10x) during the first 30 s."""
    backends = make_backends(5, prefix="b")
    algo = make_algorithm("peak_ewma", 7, random.Random(seed))
    rng = random.Random(seed + 1000)
    completions: list[tuple[float, int, Any, float]] = []
    picks: list[tuple[float, str]] = []
    for step in range(18_000):
        now = step * 0.005
        while completions and completions[0][0] <= now:
            done, _, b, latency = heapq.heappop(completions)
            b.active -= 1
            algo.on_complete(b, done, latency)
        b = algo.pick(backends, now)
        b.active += 1
        slow = b.name == "b0" and now < 30.0
        latency = rng.expovariate(1 / (0.100 if slow else 0.010))
        heapq.heappush(completions, (now + latency, step, b, latency))
        picks.append((now, b.name))
    return picks


def share_of_b0(picks: list[tuple[float, str]], start: float, end: float) -> float:
    window = [name for t, name in picks if start <= t < end]
    return window.count("b0") / len(window)


def test_peak_ewma_avoids_slow_backend_then_recovers(make_backends):
    picks = simulate_slow_then_recovered(3, make_backends)
    slow_share = share_of_b0(picks, 1.0, 30.0)
    recovered_share = share_of_b0(picks, 50.0, 90.0)
    print(
        f"\npeak_ewma: slow backend share {slow_share:.4f} while 10x slower, "
        f"{recovered_share:.3f} after recovery (fair share 0.2)"
    )
    assert slow_share < 0.05  # fair share is 0.2
    assert 0.12 < recovered_share < 0.3


# --- d choices, with or without replacement -----------------------------------------


@pytest.mark.parametrize(("name", "layer"), TWO_CHOICE_ALGOS)
def test_with_replacement_two_hosts_pick_the_busier_a_quarter_of_the_time(
    make_backends, name, layer
):
    """Envoy samples with replacement (envoy #11004, #14859): with 2 hosts both
    draws land on the busier one with probability 1/4.  40,000 picks: standard
    error 0.0022, tolerance 0.01 (4.5 of them)."""
    algo = make_algorithm(name, layer, random.Random(17), replacement=True)
    idle, busy = make_backends(2)
    busy.active = 5
    picks = 40_000
    busier = sum(algo.pick([idle, busy], 0.0) is busy for _ in range(picks))
    assert busier / picks == pytest.approx(theory.choice_win_probability(2, 2, 2, True), abs=0.01)
    assert busier / picks == pytest.approx(0.25, abs=0.01)
    distinct = make_algorithm(name, layer, random.Random(17))
    assert not any(distinct.pick([idle, busy], 0.0) is busy for _ in range(1000))


@pytest.mark.parametrize(
    ("choices", "replacement"), [(2, False), (2, True), (3, False), (3, True), (4, False)]
)
def test_d_choices_win_probability_by_rank(make_backends, choices, replacement):
    """Six backends with distinct loads: how often each rank wins matches the
    closed form of lbsim.theory.  60,000 picks: standard error <= 0.002 per rank,
    tolerance 0.008."""
    algo = make_algorithm(
        "p2c", 7, random.Random(choices), choices=choices, replacement=replacement
    )
    backends = make_backends(6)
    for load, b in enumerate(backends):
        b.active = load  # rank = load + 1
    picks = 60_000
    counts = Counter(algo.pick(backends, 0.0).active for _ in range(picks))
    for load in range(6):
        expected = theory.choice_win_probability(load + 1, 6, choices, replacement)
        assert counts[load] / picks == pytest.approx(expected, abs=0.008), load


def test_more_choices_than_candidates_compares_them_all(make_backends):
    algo = make_algorithm("two_choices", 4, random.Random(3), choices=5)
    backends = make_backends(3)
    backends[0].active, backends[1].active, backends[2].active = 4, 1, 2
    assert {algo.pick(backends, 0.0).name for _ in range(100)} == {"b"}
