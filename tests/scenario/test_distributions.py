"""Distribution objects against theory: means, cvs, quantiles, one uniform per sample.

Sample statistics use N = 200,000 draws from a seeded ``random.Random``. The relative
standard error of a sample mean is cv/sqrt(N) (0.22% for cv = 1), so the tolerances
below are at least four standard errors for the mean; for the cv they were set from
the spread over eight seeds with a margin of two or more. Pareto with alpha = 3 has an
infinite fourth moment, so its sample cv does not settle and is not checked.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbsim.scenario.distributions import (
    FAMILIES,
    Constant,
    Distribution,
    DistributionError,
    Erlang,
    Exponential,
    HyperExponential,
    LogNormal,
    Pareto,
    Uniform,
)

SAMPLES = 200_000

STATISTICS_CASES = [
    # distribution, relative tolerance on the mean, on the cv (None: not checked)
    (Exponential(0.005), 0.01, 0.02),
    (Uniform(0.001, 0.009), 0.01, 0.02),
    (LogNormal(0.02, 0.5), 0.01, 0.02),
    (Erlang(4, 0.005), 0.01, 0.02),
    (Erlang(1, 0.005), 0.01, 0.02),
    (HyperExponential(0.005, 2.0), 0.02, 0.04),
    (HyperExponential(0.005, 1.0), 0.01, 0.02),
    (Pareto(0.005, 3.0), 0.02, None),
    (Pareto(0.005, 6.0), 0.01, 0.04),
    (Exponential(20_000.0, kind="size"), 0.01, 0.02),
]

ALL_FAMILIES = [
    Constant(0.005),
    Exponential(0.005),
    Uniform(0.001, 0.009),
    LogNormal(0.02, 0.5),
    LogNormal(0.02, 3.0),
    Erlang(4, 0.005),
    Erlang(30, 0.005),
    HyperExponential(0.005, 2.0),
    HyperExponential(0.005, 10.0),
    Pareto(0.005, 1.5),
    Pareto(0.005, 2.5),
]


@pytest.mark.parametrize(("dist", "mean_tolerance", "cv_tolerance"), STATISTICS_CASES, ids=str)
def test_sample_mean_and_cv_match_theory(
    dist: Distribution, mean_tolerance: float, cv_tolerance: float | None
) -> None:
    rng = random.Random(20240601)
    values = [dist.sample(rng) for _ in range(SAMPLES)]
    mean = statistics.fmean(values)
    assert mean == pytest.approx(dist.mean, rel=mean_tolerance)
    if cv_tolerance is not None:
        cv = statistics.pstdev(values, mu=mean) / mean
        assert cv == pytest.approx(dist.cv, rel=cv_tolerance)


def test_constant_samples_are_constant() -> None:
    rng = random.Random(1)
    assert {Constant(0.005).sample(rng) for _ in range(100)} == {0.005}


@pytest.mark.parametrize(
    ("dist", "cv"),
    [
        (Constant(1.0), 0.0),
        (Exponential(1.0), 1.0),
        (Uniform(0.0, 2.0), 1 / math.sqrt(3)),
        (Uniform(0.0, 0.0), 0.0),
        (LogNormal(1.0, 0.7), 0.7),
        (Erlang(4, 1.0), 0.5),
        (HyperExponential(1.0, 3.0), 3.0),
        (Pareto(1.0, 3.0), 1 / math.sqrt(3)),
        (Pareto(1.0, 2.0), math.inf),
        (Pareto(1.0, 1.5), math.inf),
    ],
    ids=str,
)
def test_analytic_cv(dist: Distribution, cv: float) -> None:
    assert dist.cv == pytest.approx(cv)


@pytest.mark.parametrize("dist", ALL_FAMILIES, ids=str)
def test_quantile_is_monotone(dist: Distribution) -> None:
    grid = [i / 2000 for i in range(2000)]
    grid += sorted(random.Random(7).random() for _ in range(2000))
    grid += [1e-300, 1e-12, 1 - 1e-12, 1 - 2**-53]
    grid.sort()
    values = [dist.quantile(u) for u in grid]
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert all(math.isfinite(value) and value >= 0 for value in values)


@pytest.mark.parametrize("dist", ALL_FAMILIES, ids=str)
def test_sample_is_inverse_transform_of_one_uniform(dist: Distribution) -> None:
    # Common random numbers: a sample consumes exactly one rng.random().
    drawing, reference = random.Random(99), random.Random(99)
    for _ in range(50):
        assert dist.sample(drawing) == dist.quantile(reference.random())
    assert drawing.getstate() == reference.getstate()


@pytest.mark.parametrize(
    ("dist", "u", "expected"),
    [
        (Exponential(2.0), 0.5, 2.0 * math.log(2)),
        (Exponential(2.0), 0.0, 0.0),
        (Uniform(1.0, 9.0), 0.25, 3.0),
        (Uniform(1.0, 9.0), 0.0, 1.0),
        # median of a lognormal is exp(mu) = mean / sqrt(1 + cv^2)
        (LogNormal(10.0, 0.5), 0.5, 10.0 / math.sqrt(1.25)),
        (LogNormal(10.0, 0.5), 0.0, 0.0),
        # Erlang(2) with rate 1 (mean 2): 1 - exp(-y)(1 + y) = 1/2 at y = 1.678346990016661
        (Erlang(2, 2.0), 0.5, 1.678346990016661),
        (Erlang(1, 3.0), 0.5, 3.0 * math.log(2)),
        (HyperExponential(2.0, 1.0), 0.5, 2.0 * math.log(2)),
        # Pareto: minimum = mean (alpha - 1) / alpha, quantile = minimum (1 - u)^(-1/alpha)
        (Pareto(3.0, 3.0), 0.0, 2.0),
        (Pareto(3.0, 3.0), 0.875, 4.0),
    ],
    ids=str,
)
def test_known_quantiles(dist: Distribution, u: float, expected: float) -> None:
    assert dist.quantile(u) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def _erlang_cdf(k: int, rate: float, x: float) -> float:
    y = rate * x
    return 1 - math.exp(-y) * sum(y**n / math.factorial(n) for n in range(k))


@pytest.mark.parametrize("k", [2, 3, 4, 7, 10, 25])
def test_erlang_quantile_inverts_the_cdf(k: int) -> None:
    dist = Erlang(k, 1.0)
    for u in [1e-6, 0.001, 0.01, *(i / 20 for i in range(1, 20)), 0.99, 0.999999]:
        assert _erlang_cdf(k, k, dist.quantile(u)) == pytest.approx(u, rel=1e-8, abs=1e-14)


def test_erlang_quantile_far_in_the_tails() -> None:
    dist = Erlang(4, 4.0)  # rate 1
    x = dist.quantile(1e-300)
    assert x > 0
    assert x**4 / 24 == pytest.approx(1e-300, rel=1e-6)  # P(4, x) ~ x^4 / 4! near zero
    assert _erlang_cdf(4, 1.0, dist.quantile(1 - 2**-53)) == pytest.approx(1.0)


@pytest.mark.parametrize("cv", [1.0, 1.5, 2.0, 5.0, 20.0])
def test_hyperexponential_quantile_inverts_the_cdf(cv: float) -> None:
    mean = 2.0
    dist = HyperExponential(mean, cv)
    square = cv * cv
    p_fast = (1 + math.sqrt((square - 1) / (square + 1))) / 2
    fast, slow = 2 * p_fast / mean, 2 * (1 - p_fast) / mean
    for u in [1e-9, 0.001, *(i / 20 for i in range(1, 20)), 0.999, 1 - 1e-12]:
        x = dist.quantile(u)
        survival = p_fast * math.exp(-fast * x) + (1 - p_fast) * math.exp(-slow * x)
        assert survival == pytest.approx(1 - u, rel=1e-9)


def test_hyperexponential_balanced_means_phase_split() -> None:
    # cv = 1 is exactly the exponential distribution.
    for u in (0.1, 0.5, 0.9):
        assert HyperExponential(3.0, 1.0).quantile(u) == pytest.approx(
            Exponential(3.0).quantile(u), rel=1e-12
        )


@pytest.mark.parametrize("u", [-0.1, 1.0, 1.5, math.nan])
def test_quantile_refuses_probabilities_outside_zero_one(u: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Exponential(1.0).quantile(u)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Constant(-1.0), "must not be negative"),
        (lambda: Constant(math.inf), "finite"),
        (lambda: Exponential(0.0), "mean must be greater than 0"),
        (lambda: Exponential(-1.0), "mean must be greater than 0"),
        (lambda: Uniform(2.0, 1.0), "low must not be greater than high"),
        (lambda: Uniform(-1.0, 1.0), "low must not be negative"),
        (lambda: LogNormal(1.0, 0.0), "cv must be greater than 0"),
        (lambda: Erlang(0, 1.0), "k must be between 1 and 100"),
        (lambda: Erlang(1.5, 1.0), "k must be a whole number"),  # type: ignore[arg-type]
        (lambda: HyperExponential(1.0, 0.5), "cv must be at least 1"),
        (lambda: Pareto(1.0, 1.0), "alpha must be greater than 1"),
        (lambda: Exponential(1.0, kind="volume"), 'kind must be "time" or "size"'),  # type: ignore[arg-type]
    ],
)
def test_invalid_parameters(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(DistributionError, match=message):
        build()


def test_distributions_are_frozen_slotted_values() -> None:
    dist = LogNormal(0.02, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dist.mean = 1.0  # type: ignore[misc]
    assert not hasattr(dist, "__dict__")
    assert dist == LogNormal(0.02, 0.5)
    assert hash(dist) == hash(LogNormal(0.02, 0.5))
    assert dist != LogNormal(0.02, 0.5, kind="size")


def test_families_registry() -> None:
    assert list(FAMILIES) == [
        "const",
        "exp",
        "uniform",
        "lognormal",
        "erlang",
        "hyperexp",
        "pareto",
    ]
    assert all(issubclass(cls, Distribution) for cls in FAMILIES.values())


@st.composite
def distributions(draw: st.DrawFn) -> Distribution:
    mean = draw(st.floats(min_value=1e-6, max_value=1e3))
    family = draw(st.sampled_from(sorted(FAMILIES)))
    if family == "const":
        return Constant(mean)
    if family == "exp":
        return Exponential(mean)
    if family == "uniform":
        return Uniform(mean, mean * draw(st.floats(min_value=1.0, max_value=10.0)))
    if family == "lognormal":
        return LogNormal(mean, draw(st.floats(min_value=0.01, max_value=5.0)))
    if family == "erlang":
        return Erlang(draw(st.integers(min_value=1, max_value=100)), mean)
    if family == "hyperexp":
        return HyperExponential(mean, draw(st.floats(min_value=1.0, max_value=20.0)))
    return Pareto(mean, draw(st.floats(min_value=1.05, max_value=10.0)))


@given(distributions(), st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_quantile_stays_in_the_support(dist: Distribution, u: float) -> None:
    value = dist.quantile(u)
    assert math.isfinite(value)
    assert value >= 0
    if isinstance(dist, Uniform):
        assert dist.low <= value <= dist.high
    if isinstance(dist, Pareto):
        assert value >= dist.mean * (dist.alpha - 1) / dist.alpha * (1 - 1e-12)
    if isinstance(dist, Constant):
        assert value == dist.value
