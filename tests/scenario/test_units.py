"""Quantities with units: parsing, formatting, exact round trips and error messages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbsim.scenario.units import (
    UnitError,
    format_bandwidth,
    format_duration,
    format_number,
    format_rate,
    format_size,
    parse_bandwidth,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10ms", 0.01),
        ("10 ms", 0.01),
        ("  1.5s ", 1.5),
        ("200us", 0.0002),
        ("200µs", 0.0002),  # micro sign
        ("200μs", 0.0002),  # greek mu
        ("5ns", 5e-9),
        ("2min", 120.0),
        ("1h", 3600.0),
        ("0.1s", 0.1),
        (".5ms", 0.0005),
        ("1e3ms", 1.0),
        ("-5ms", -0.005),
        ("0s", 0.0),
        (0, 0.0),
        (0.0, 0.0),
        ("0", 0.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("400B", 400),
        ("20KB", 20_000),
        ("20 KB", 20_000),
        ("1.5KB", 1500),
        ("3MB", 3_000_000),
        ("2GB", 2_000_000_000),
        ("1KiB", 1024),
        ("0.5KiB", 512),
        ("4MiB", 4 * 2**20),
        ("1GiB", 2**30),
        ("2.5B", 3),  # rounded to the nearest byte, halves up
        ("1.0004KB", 1000),
        (0, 0),
        ("0", 0),
        ("0B", 0),
    ],
)
def test_parse_size(text: object, size: int) -> None:
    result = parse_size(text)
    assert result == size
    assert isinstance(result, int)


@pytest.mark.parametrize(
    ("text", "bits"),
    [
        ("1bps", 1.0),
        ("56Kbps", 56e3),
        ("100Mbps", 1e8),
        ("100 Mbps", 1e8),
        ("1.5Gbps", 1.5e9),
        ("10Gbps", 1e10),
        ("1Tbps", 1e12),
    ],
)
def test_parse_bandwidth(text: str, bits: float) -> None:
    assert parse_bandwidth(text) == bits


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("80/s", 80.0),
        ("80 / s", 80.0),
        ("5/min", 5 / 60),
        ("2/ms", 2000.0),
        ("1/h", 1 / 3600),
        ("0.5/s", 0.5),
    ],
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == per_second


def test_decimal_parsing_is_exact() -> None:
    # Naive float arithmetic would give 0.00019999999999999998 for 200 * 1e-6.
    assert parse_duration("200us") == 0.0002
    assert parse_duration("0.3s") == 0.3
    assert parse_rate("5/min") == 5 / 60


@pytest.mark.parametrize(
    ("parse", "value", "expected"),
    [
        (
            parse_duration,
            "10 parsecs",
            'expected a duration with a unit such as "10ms" or "1.5s", got "10 parsecs"',
        ),
        (parse_duration, "10", 'got "10" (the unit is missing)'),
        (parse_duration, 10, "got 10 (a number without a unit)"),
        (parse_duration, 2.5, "got 2.5 (a number without a unit)"),
        (parse_duration, True, "got true"),
        (parse_duration, None, "got null"),
        (parse_duration, [1], "got a list"),
        (parse_duration, "ms", 'got "ms"'),
        (parse_duration, "1,5s", 'got "1,5s"'),
        (parse_duration, "", 'got ""'),
        (
            parse_size,
            "20",
            'expected a size with a unit such as "400B", "20KB" or "4MiB", got "20"',
        ),
        (parse_size, "20kb", 'unknown unit "kb"'),
        (parse_size, "20kb", 'did you mean "KB"?'),
        (parse_size, "20TB", "known units: B, KB, MB, GB, KiB, MiB, GiB"),
        (parse_size, 400, "(a number without a unit)"),
        (
            parse_bandwidth,
            0,
            'expected a bandwidth with a unit such as "100Mbps" or "10Gbps", got 0',
        ),
        (parse_bandwidth, "100", "(the unit is missing)"),
        (parse_bandwidth, "100MB/s", 'unknown unit "MB/s"'),
        (parse_bandwidth, "100mbps", 'did you mean "Mbps"?'),
        (parse_rate, "80", 'expected a rate such as "80/s" or "5/min", got "80"'),
        (parse_rate, 80, "(a number without a unit)"),
        (parse_rate, "80/parsec", 'unknown unit "/parsec"'),
        (parse_duration, "1e400s", '"1e400s" is too large'),
        (parse_size, "1e400GB", '"1e400GB" is too large'),
        (parse_duration, "inf s", 'got "inf s"'),
    ],
)
def test_parse_errors_say_what_is_expected(parse: object, value: object, expected: str) -> None:
    assert callable(parse)
    with pytest.raises(UnitError) as caught:
        parse(value)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0002, "200us"),
        (0.0, "0s"),
        (1e-6, "1us"),  # the double is a hair below 1 us; still shown as 1us
        (5e-9, "5ns"),
        (0.005, "5ms"),
        (0.1, "100ms"),
        (1.5, "1.5s"),
        (60.0, "60s"),
        (90.0, "90s"),
        (600.0, "10min"),
        (3600.0, "1h"),
        (5400.0, "90min"),
        (-0.005, "-5ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (20_000, "20KB"),
        (0, "0B"),
        (400, "400B"),
        (1500, "1.5KB"),
        (1536, "1.536KB"),
        (4 * 2**20, "4MiB"),
        (1_000_000, "1MB"),
        (2**30, "1GiB"),
        (20_000.0, "20KB"),
    ],
)
def test_format_size(size: float, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("bits", "text"),
    [(1e8, "100Mbps"), (1e10, "10Gbps"), (1.5e9, "1.5Gbps"), (999.0, "999bps"), (1e12, "1Tbps")],
)
def test_format_bandwidth(bits: float, text: str) -> None:
    assert format_bandwidth(bits) == text


@pytest.mark.parametrize(
    ("rate", "text"),
    [(80.0, "80/s"), (5 / 60, "5/min"), (0.5, "30/min"), (1 / 3600, "1/h"), (2000.0, "2000/s")],
)
def test_format_rate(rate: float, text: str) -> None:
    assert format_rate(rate) == text


@pytest.mark.parametrize("formatter", [format_duration, format_bandwidth, format_rate, format_size])
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_format_refuses_non_finite(formatter: object, value: float) -> None:
    assert callable(formatter)
    with pytest.raises(ValueError, match="cannot format"):
        formatter(value)


def test_format_number_is_short_and_exact() -> None:
    assert format_number(2.0) == "2"
    assert format_number(0.5) == "0.5"
    assert format_number(4) == "4"
    assert float(format_number(1 / 3)) == 1 / 3


@given(st.integers(min_value=1, max_value=999))
def test_whole_milliseconds_read_as_milliseconds(milliseconds: int) -> None:
    assert format_duration(milliseconds / 1000) == f"{milliseconds}ms"


@given(st.floats(min_value=1e-10, max_value=1e7, allow_nan=False, allow_infinity=False))
def test_duration_round_trip(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**13))
def test_size_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size


@given(st.floats(min_value=1.0, max_value=1e14, allow_nan=False, allow_infinity=False))
def test_bandwidth_round_trip(bits: float) -> None:
    assert parse_bandwidth(format_bandwidth(bits)) == bits


@given(st.floats(min_value=1e-6, max_value=1e8, allow_nan=False, allow_infinity=False))
def test_rate_round_trip(rate: float) -> None:
    assert parse_rate(format_rate(rate)) == rate


@given(st.decimals(min_value=0, max_value=10**6, places=3).map(str))
def test_written_milliseconds_survive_a_round_trip(text: str) -> None:
    seconds = parse_duration(f"{text}ms")
    assert parse_duration(format_duration(seconds)) == seconds
