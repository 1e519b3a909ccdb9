"""The distribution grammar: every call form, canonical text, and clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbsim.scenario.distributions import (
    Constant,
    Distribution,
    DistributionError,
    Erlang,
    Exponential,
    HyperExponential,
    Kind,
    LogNormal,
    Pareto,
    Uniform,
)
from lbsim.scenario.grammar import parse_distribution


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5ms", Constant(0.005)),
        ("5 ms", Constant(0.005)),
        ("const(5ms)", Constant(0.005)),
        ("const(value=5ms)", Constant(0.005)),
        ("0", Constant(0.0)),
        (0, Constant(0.0)),
        ("exp(5ms)", Exponential(0.005)),
        ("exp(mean=5ms)", Exponential(0.005)),
        (" exp ( mean = 5 ms ) ", Exponential(0.005)),
        ("uniform(1ms, 9ms)", Uniform(0.001, 0.009)),
        ("uniform(low=1ms, high=9ms)", Uniform(0.001, 0.009)),
        ("uniform(1ms, high=9ms)", Uniform(0.001, 0.009)),
        ("uniform(high=9ms, low=1ms)", Uniform(0.001, 0.009)),
        ("lognormal(mean=20ms, cv=0.5)", LogNormal(0.02, 0.5)),
        ("lognormal(20ms, 0.5)", LogNormal(0.02, 0.5)),
        ("erlang(k=4, mean=5ms)", Erlang(4, 0.005)),
        ("erlang(4, 5ms)", Erlang(4, 0.005)),
        ("hyperexp(mean=5ms, cv=2)", HyperExponential(0.005, 2.0)),
        ("pareto(mean=5ms, alpha=2.5)", Pareto(0.005, 2.5)),
        ("exp(1.5s)", Exponential(1.5)),
        ("exp(200us)", Exponential(0.0002)),
    ],
)
def test_time_forms(text: object, expected: Distribution) -> None:
    assert parse_distribution(text, "time") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20KB", Constant(20_000.0, kind="size")),
        ("exp(20KB)", Exponential(20_000.0, kind="size")),
        ("lognormal(mean=300KB, cv=1)", LogNormal(300_000.0, 1.0, kind="size")),
        ("uniform(1KiB, 4KiB)", Uniform(1024.0, 4096.0, kind="size")),
        (0, Constant(0.0, kind="size")),
    ],
)
def test_size_forms(text: object, expected: Distribution) -> None:
    result = parse_distribution(text, "size")
    assert result == expected
    assert isinstance(result.mean, float)


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        ("5 ms", "time", "5ms"),
        ("const(5ms)", "time", "5ms"),
        ("0", "time", "0s"),
        ("exp(mean=0.005s)", "time", "exp(5ms)"),
        ("uniform(low=1ms, high=9ms)", "time", "uniform(1ms, 9ms)"),
        ("lognormal(20ms, 0.5)", "time", "lognormal(mean=20ms, cv=0.5)"),
        ("erlang(4, 5ms)", "time", "erlang(k=4, mean=5ms)"),
        ("hyperexp(5ms, 2)", "time", "hyperexp(mean=5ms, cv=2)"),
        ("pareto(5ms, 2.5)", "time", "pareto(mean=5ms, alpha=2.5)"),
        ("exp(20000B)", "size", "exp(20KB)"),
        ("400B", "size", "400B"),
    ],
)
def test_canonical_text(text: str, kind: Kind, canonical: str) -> None:
    dist = parse_distribution(text, kind)
    assert str(dist) == canonical
    assert parse_distribution(str(dist), kind) == dist


def test_distribution_objects_pass_through() -> None:
    dist = Exponential(0.005)
    assert parse_distribution(dist, "time") is dist
    with pytest.raises(DistributionError, match="expected a size distribution"):
        parse_distribution(dist, "size")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "expo(5ms)",
            'unknown distribution "expo" (known: const, exp, uniform, lognormal, '
            "erlang, hyperexp, pareto)",
        ),
        ("exp(5ms, 3ms)", "exp(mean) takes 1 argument, got 2"),
        ("uniform(1ms, 2ms, 3ms)", "uniform(low, high) takes 2 arguments, got 3"),
        ("exp()", 'exp(mean) is missing "mean"'),
        ("lognormal(mean=20ms)", 'lognormal(mean, cv) is missing "cv"'),
        ("exp(avg=5ms)", 'exp(mean) has no argument "avg"'),
        ("exp(5ms, mean=5ms)", 'argument "mean" is given twice'),
        ("exp(mean=5ms, mean=6ms)", 'argument "mean" is given twice'),
        ("lognormal(mean=20ms, 0.5)", "positional arguments must come before keyword"),
        ("exp(5)", 'mean: expected a duration with a unit such as "10ms" or "1.5s", got "5"'),
        ("5", "the unit is missing"),
        ("exp(5 parsecs)", 'unknown unit "parsecs"'),
        ("lognormal(mean=20ms, cv=0.5ms)", 'cv is a plain number without a unit, got "0.5ms"'),
        ("erlang(k=4.5, mean=5ms)", 'k must be a whole number, got "4.5"'),
        ("erlang(k=0, mean=5ms)", "k must be between 1 and 100"),
        ("exp(-5ms)", "the mean must be greater than 0"),
        ("exp(0)", "the mean must be greater than 0"),
        ("uniform(9ms, 1ms)", "low must not be greater than high"),
        ("hyperexp(mean=5ms, cv=0.5)", "cv must be at least 1"),
        ("pareto(mean=5ms, alpha=1)", "alpha must be greater than 1"),
        ("exp(5ms", 'expected "," or ")" but found the end'),
        ("exp 5ms", 'expected "(" but found "5ms"'),
        ("exp(5ms))", 'unexpected ")" after the end'),
        ("exp(5ms) + 1ms", 'unexpected character "+"'),
        ("exp(5ms;)", 'unexpected character ";"'),
        ("exp(,)", 'expected an argument but found ","'),
        ("exp(mean=)", 'expected a value after "mean="'),
        ("(5ms)", "expected a family name or a quantity"),
        ("__import__('os').system('true')", 'unexpected character "\'"'),
    ],
)
def test_grammar_errors(text: str, message: str) -> None:
    with pytest.raises(DistributionError) as caught:
        parse_distribution(text, "time")
    assert message in str(caught.value)
    assert str(caught.value).startswith(f'invalid distribution "{text}": ')


def test_size_units_in_a_time_field() -> None:
    with pytest.raises(DistributionError, match=r'mean: expected a duration.*unknown unit "KB"'):
        parse_distribution("exp(20KB)", "time")
    with pytest.raises(DistributionError, match=r'mean: expected a size.*unknown unit "ms"'):
        parse_distribution("exp(5ms)", "size")


@pytest.mark.parametrize("value", [5, 2.5, True, None, "", "   ", [1], {"exp": "5ms"}])
def test_non_text_is_refused_with_examples(value: object) -> None:
    with pytest.raises(DistributionError, match='expected a distribution such as "exp'):
        parse_distribution(value, "time")


def test_errors_are_value_errors() -> None:
    assert issubclass(DistributionError, ValueError)


_milliseconds = st.integers(min_value=1, max_value=10**6).map(lambda n: n / 1000)
_numbers = st.floats(min_value=1.0, max_value=50.0)


@st.composite
def written(draw: st.DrawFn) -> Distribution:
    mean = draw(_milliseconds)
    return draw(
        st.sampled_from(
            [
                Constant(mean),
                Exponential(mean),
                Uniform(mean, mean + draw(_milliseconds)),
                LogNormal(mean, draw(st.floats(min_value=0.01, max_value=10.0))),
                Erlang(draw(st.integers(min_value=1, max_value=100)), mean),
                HyperExponential(mean, draw(_numbers)),
                Pareto(mean, draw(st.floats(min_value=1.01, max_value=10.0))),
            ]
        )
    )


@given(written())
def test_text_round_trip(dist: Distribution) -> None:
    assert parse_distribution(str(dist), "time") == dist
