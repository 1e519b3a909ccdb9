"""Round robin, smooth weighted round robin, random and least connections/request."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lbsim.lb.algorithms import (
    LeastConnections,
    RandomChoice,
    WeightedRoundRobin,
    make_algorithm,
)

# Upper 0.1 % points of the chi-square distribution (standard tables); a correct
# sampler exceeds them with probability 0.001 for a given seed.
CHI2_999 = {3: 16.266, 9: 27.877}


class NoRandomness(random.Random):
    """A Random that fails the test if any draw is made."""

    def random(self) -> float:
        raise AssertionError("this algorithm must not use randomness")

    def getrandbits(self, k: int) -> int:
        raise AssertionError("this algorithm must not use randomness")


def names_of(algo, candidates, picks: int, now: float = 0.0) -> list[str]:
    return [algo.pick(candidates, now).name for _ in range(picks)]


def chi_square(counts: Counter[str], expected: dict[str, float]) -> float:
    return sum((counts[k] - e) ** 2 / e for k, e in expected.items())


# --- round robin -----------------------------------------------------------------------


def test_l4_round_robin_rotates_in_order_and_ignores_weights(make_backends):
    algo = make_algorithm("round_robin", 4, NoRandomness())
    backends = make_backends(weights=[5, 1, 1])
    assert names_of(algo, backends, 7) == ["a", "b", "c", "a", "b", "c", "a"]


@pytest.mark.parametrize(("name", "layer"), [("round_robin", 7), ("weighted_round_robin", 4)])
def test_smooth_weighted_round_robin_interleaves_5_1_1(make_backends, name, layer):
    algo = make_algorithm(name, layer, NoRandomness())
    backends = make_backends(weights=[5, 1, 1])
    cycle = ["a", "a", "b", "a", "c", "a", "a"]
    assert names_of(algo, backends, 21) == cycle * 3


def test_l7_round_robin_with_equal_weights_is_plain_rotation(make_backends):
    algo = make_algorithm("round_robin", 7, NoRandomness())
    backends = make_backends(weights=[2, 2, 2, 2])
    assert names_of(algo, backends, 8) == ["a", "b", "c", "d"] * 2


@pytest.mark.parametrize("weights", [[3, 2, 1], [0.5, 1.5, 2.0], [10, 1, 1, 1, 7]])
def test_smooth_weighted_round_robin_long_run_proportions(make_backends, weights):
    algo = WeightedRoundRobin(random.Random(0))
    backends = make_backends(weights=weights)
    picks = 6000
    counts = Counter(names_of(algo, backends, picks))
    total = sum(weights)
    for b in backends:
        # SWRR is exact over every window of sum(weights) picks; allow one for the
        # incomplete last window and float rounding of non-integer weights.
        assert abs(counts[b.name] - picks * b.weight / total) <= 1


@pytest.mark.parametrize(("name", "layer"), [("round_robin", 4), ("round_robin", 7)])
def test_round_robin_survives_set_changes_without_lasting_bias(make_backends, name, layer):
    algo = make_algorithm(name, layer, NoRandomness())
    a, b, c, d = make_backends(4)
    full = [a, b, c]
    names_of(algo, full, 5)
    # b leaves: the next 100 picks split evenly between a and c (the smooth variant
    # carries its scores over, which can shift one pick).
    counts = Counter(names_of(algo, [a, c], 100))
    assert abs(counts["a"] - 50) <= 1 and counts["a"] + counts["c"] == 100
    # b comes back and d joins: one rotation later everybody is served equally.
    counts = Counter(names_of(algo, [a, b, c, d], 400))
    assert all(abs(counts[x] - 100) <= 1 for x in "abcd")
    # Shrinking to one backend and growing again never crashes.
    assert names_of(algo, [d], 3) == ["d"] * 3
    assert set(names_of(algo, full, 3)) == {"a", "b", "c"}


def test_weighted_round_robin_keeps_scores_by_name_on_set_change(make_backends):
    algo = WeightedRoundRobin(random.Random(0))
    a, b, c = make_backends(weights=[5, 1, 1])
    names_of(algo, [a, b, c], 3)
    counts = Counter(names_of(algo, [a, c], 600))
    assert abs(counts["a"] - 500) <= 1 and abs(counts["c"] - 100) <= 1


# --- random ----------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [4, 7])
def test_random_is_uniform_chi_square(make_backends, layer):
    backends = make_backends(10)
    algo = make_algorithm("random", layer, random.Random(2024))
    picks = 100_000
    counts = Counter(names_of(algo, backends, picks))
    stat = chi_square(counts, {b.name: picks / 10 for b in backends})
    # df = 9; uniformity rejected only above the 0.1 % point.
    assert stat < CHI2_999[9], f"chi2={stat:.1f}"


def test_random_is_weighted_when_weights_differ(make_backends):
    backends = make_backends(weights=[1, 2, 3, 4])
    algo = RandomChoice(random.Random(7))
    picks = 100_000
    counts = Counter(names_of(algo, backends, picks))
    stat = chi_square(counts, {b.name: picks * b.weight / 10 for b in backends})
    assert stat < CHI2_999[3], f"chi2={stat:.1f}"


def test_random_unweighted_option_ignores_weights(make_backends):
    backends = make_backends(weights=[1, 2, 3, 4])
    algo = RandomChoice(random.Random(7), weighted=False)
    picks = 100_000
    counts = Counter(names_of(algo, backends, picks))
    stat = chi_square(counts, {b.name: picks / 4 for b in backends})
    assert stat < CHI2_999[3], f"chi2={stat:.1f}"


def test_random_is_deterministic_for_a_seed(make_backends):
    backends = make_backends(weights=[1, 1, 2, 5])
    first = names_of(RandomChoice(random.Random(99)), backends, 1000)
    again = names_of(RandomChoice(random.Random(99)), backends, 1000)
    other = names_of(RandomChoice(random.Random(100)), backends, 1000)
    assert first == again
    assert first != other


# --- least connections / least request -------------------------------------------------


@pytest.mark.parametrize(("name", "layer"), [("least_connections", 4), ("least_request", 7)])
def test_least_picks_minimum_active_per_weight(make_backends, name, layer):
    algo = make_algorithm(name, layer, NoRandomness())
    a, b, c = make_backends(3)
    a.active, b.active, c.active = 5, 2, 7
    assert algo.pick([a, b, c], 0.0) is b
    # Weights scale: 4/4 = 1.0 beats 3/1 and 2/1.
    a.weight, a.active, b.active, c.active = 4.0, 4, 3, 2
    assert algo.pick([a, b, c], 0.0) is a


@pytest.mark.parametrize(("name", "layer"), [("least_connections", 4), ("least_request", 7)])
def test_least_rotates_among_ties_without_randomness(make_backends, name, layer):
    algo = make_algorithm(name, layer, NoRandomness())
    backends = make_backends(4)
    assert names_of(algo, backends, 8) == ["a", "b", "c", "d"] * 2
    a, b, c, d = backends
    a.active, b.active, c.active, d.active = 1, 0, 1, 0
    assert names_of(algo, backends, 4) == ["b", "d", "b", "d"]


def test_least_connections_balances_when_active_is_updated(make_backends):
    algo = LeastConnections(random.Random(0))
    backends = make_backends(weights=[1, 1, 2])
    for _ in range(400):
        algo.pick(backends, 0.0).active += 1
    assert [b.active for b in backends] == [100, 100, 200]
