"""Physical quantities written with explicit units: durations, sizes, bandwidths, rates.

Theory of operation:
    Every quantity in a scenario file is text such as ``"10ms"``, ``"20KB"``,
    ``"100Mbps"`` or ``"80/s"``. A quantity is a decimal number, optional whitespace,
    and a unit from a fixed table. The number is read as a :class:`decimal.Decimal` and
    multiplied (or divided) by the unit's exact factor before a single conversion to
    ``float``, so ``"200us"`` becomes the double nearest to 0.0002, not an approximation
    built from two roundings.

    Internally the simulator uses seconds, bytes, bits per second and events per
    second. The ``format_*`` functions go the other way: they choose the most readable
    unit and then the shortest decimal that parses back to exactly the same number, so
    ``parse_duration(format_duration(x)) == x``.

    A number without a unit is refused (is ``10`` ten seconds or ten milliseconds?),
    except zero for durations and sizes, where the unit does not matter.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Final

__all__ = [
    "BANDWIDTH_UNITS",
    "DURATION_UNITS",
    "RATE_UNITS",
    "SIZE_UNITS",
    "UnitError",
    "format_bandwidth",
    "format_duration",
    "format_number",
    "format_rate",
    "format_size",
    "parse_bandwidth",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "show_value",
]


class UnitError(ValueError):
    """A quantity is missing its unit, has an unknown unit, or is not a number."""


# Factors are exact decimals: the quantity in base units is number * factor.
DURATION_UNITS: Final[dict[str, Decimal]] = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),  # U+00B5 MICRO SIGN
    "μs": Decimal("1e-6"),  # U+03BC GREEK SMALL LETTER MU
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "min": Decimal(60),
    "h": Decimal(3600),
}
SIZE_UNITS: Final[dict[str, Decimal]] = {
    "B": Decimal(1),
    "KB": Decimal(10**3),
    "MB": Decimal(10**6),
    "GB": Decimal(10**9),
    "KiB": Decimal(2**10),
    "MiB": Decimal(2**20),
    "GiB": Decimal(2**30),
}
BANDWIDTH_UNITS: Final[dict[str, Decimal]] = {
    "bps": Decimal(1),
    "Kbps": Decimal(10**3),
    "Mbps": Decimal(10**6),
    "Gbps": Decimal(10**9),
    "Tbps": Decimal(10**12),
}
# A rate "N/unit" is N divided by the duration of one unit.
RATE_UNITS: Final[dict[str, Decimal]] = {
    f"/{name}": factor for name, factor in DURATION_UNITS.items()
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY_RE: Final = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>\S*?)\s*")
_RATE_RE: Final = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>/\s*\S+?)\s*")
# Enough digits that intermediate decimal arithmetic never rounds.
_EXACT: Final = Context(prec=80)

_DURATION_HINT: Final = 'a duration with a unit such as "10ms" or "1.5s"'
_SIZE_HINT: Final = 'a size with a unit such as "400B", "20KB" or "4MiB"'
_BANDWIDTH_HINT: Final = 'a bandwidth with a unit such as "100Mbps" or "10Gbps"'
_RATE_HINT: Final = 'a rate such as "80/s" or "5/min"'


def show_value(value: object) -> str:
    """Render a raw input value for an error message, the way YAML would spell it.

    Args:
        value: Any value read from a scenario file or an override.

    Returns:
        Strings in double quotes; ``true``/``false``/``null``; numbers and other values
        as Python prints them.
    """
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _is_zero_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _split(
    value: object, pattern: re.Pattern[str], hint: str, allow_bare_zero: bool
) -> tuple[Decimal, str]:
    """Split a raw value into (number, unit); unit is "" only for a bare zero."""
    if _is_zero_number(value):
        if allow_bare_zero:
            return Decimal(0), ""
        raise UnitError(f"expected {hint}, got {show_value(value)}")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UnitError(f"expected {hint}, got {show_value(value)}")
    if not isinstance(value, str):
        raise UnitError(f"expected {hint}, got {show_value(value)} (a number without a unit)")
    match = pattern.fullmatch(value)
    if match is None:
        raise UnitError(f"expected {hint}, got {show_value(value)}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex only admits numbers
        raise UnitError(f"expected {hint}, got {show_value(value)}") from exc
    unit = match["unit"]
    if unit == "" and not (allow_bare_zero and number == 0):
        raise UnitError(f"expected {hint}, got {show_value(value)} (the unit is missing)")
    return number, unit


def _unknown_unit(unit: str, table: dict[str, Decimal], hint: str, value: str) -> UnitError:
    known = ", ".join(table)
    near = [name for name in table if name.lower() == unit.lower()]
    advice = f'; did you mean "{near[0]}"?' if near else ""
    return UnitError(
        f"expected {hint}, got {show_value(value)}: unknown unit "
        f'"{unit}" (known units: {known}){advice}'
    )


def _finite(exact: Decimal, value: object) -> float:
    number = float(exact)
    if not math.isfinite(number):
        raise UnitError(f"{show_value(value)} is too large")
    return number


def parse_duration(value: object) -> float:
    """Parse a duration such as ``"10ms"`` or ``"1.5 s"`` into seconds.

    Args:
        value: Text with a unit (ns, us, µs, ms, s, min, h), or the number 0.

    Returns:
        The duration in seconds (may be negative if written so; callers check ranges).

    Raises:
        UnitError: If the value is not a number with a known duration unit.
    """
    number, unit = _split(value, _QUANTITY_RE, _DURATION_HINT, allow_bare_zero=True)
    if unit == "":
        return 0.0
    if unit not in DURATION_UNITS:
        raise _unknown_unit(unit, DURATION_UNITS, _DURATION_HINT, str(value))
    return _finite(_EXACT.multiply(number, DURATION_UNITS[unit]), value)


def parse_size(value: object) -> int:
    """Parse a size such as ``"20KB"`` or ``"1.5 MiB"`` into whole bytes.

    Fractional results are rounded to the nearest byte (halves round up).

    Args:
        value: Text with a unit (B, KB, MB, GB, KiB, MiB, GiB), or the number 0.

    Returns:
        The size in bytes.

    Raises:
        UnitError: If the value is not a number with a known size unit.
    """
    number, unit = _split(value, _QUANTITY_RE, _SIZE_HINT, allow_bare_zero=True)
    if unit == "":
        return 0
    if unit not in SIZE_UNITS:
        raise _unknown_unit(unit, SIZE_UNITS, _SIZE_HINT, str(value))
    exact = _EXACT.multiply(number, SIZE_UNITS[unit])
    _finite(exact, value)
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def parse_bandwidth(value: object) -> float:
    """Parse a bandwidth such as ``"100Mbps"`` into bits per second.

    Args:
        value: Text with a unit (bps, Kbps, Mbps, Gbps, Tbps).

    Returns:
        The bandwidth in bits per second.

    Raises:
        UnitError: If the value is not a number with a known bandwidth unit.
    """
    number, unit = _split(value, _QUANTITY_RE, _BANDWIDTH_HINT, allow_bare_zero=False)
    if unit not in BANDWIDTH_UNITS:
        raise _unknown_unit(unit, BANDWIDTH_UNITS, _BANDWIDTH_HINT, str(value))
    return _finite(_EXACT.multiply(number, BANDWIDTH_UNITS[unit]), value)


def parse_rate(value: object) -> float:
    """Parse an arrival rate such as ``"80/s"`` or ``"5/min"`` into events per second.

    Args:
        value: Text ``NUMBER/UNIT`` where UNIT is a duration unit (ns ... h).

    Returns:
        The rate in events per second.

    Raises:
        UnitError: If the value is not of the form ``NUMBER/UNIT``.
    """
    number, unit = _split(value, _RATE_RE, _RATE_HINT, allow_bare_zero=False)
    unit = "".join(unit.split())  # "80 / s" -> "/s"
    if unit not in RATE_UNITS:
        raise _unknown_unit(unit, RATE_UNITS, _RATE_HINT, str(value))
    return _finite(_EXACT.divide(number, RATE_UNITS[unit]), value)


def format_number(value: float) -> str:
    """Render a plain (unitless) number briefly and exactly: ``2.0`` -> ``"2"``.

    Args:
        value: A finite float or int.

    Returns:
        Text that ``float()`` turns back into exactly ``value``.
    """
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e16):
        return str(int(value))
    return repr(value)


def _shortest(value: float, factor: Decimal, per: bool) -> str | None:
    """Shortest decimal text N such that N display units convert back to ``value``.

    Args:
        value: The number in base units (non-negative).
        factor: Size of one display unit in base units (for rates: the duration of
            the unit in seconds).
        per: True for rates, where base = N / factor; False for base = N * factor.

    Returns:
        The digits, or None when no representation of at most 20 digits round-trips.
    """
    exact = Decimal(value)
    exact = _EXACT.multiply(exact, factor) if per else _EXACT.divide(exact, factor)
    for digits in range(1, 21):
        text = format(Context(prec=digits).plus(exact).normalize(), "f")
        number = Decimal(text)
        back = _EXACT.divide(number, factor) if per else _EXACT.multiply(number, factor)
        if float(back) == value:
            return text
    return None


def _readable(value: float, table: dict[str, Decimal], units: tuple[str, ...], per: bool) -> str:
    """Format with the first of ``units`` (largest first) whose number is at least 1.

    The number is judged after rounding to its shortest exact form, so 1e-6 seconds,
    whose double is a hair below one microsecond, still reads ``"1us"``.
    """
    fallback = None
    for unit in units:
        digits = _shortest(abs(value), table[unit], per)
        if digits is None:
            continue
        fallback = f"{'-' if value < 0 else ''}{digits}{unit}"
        if Decimal(digits) >= 1:
            return fallback
    if fallback is None:  # pragma: no cover - the smallest unit always works in practice
        raise ValueError(f"cannot format {value!r} exactly")
    return fallback


def _check_finite(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"cannot format {value!r} as a {what}")


def format_duration(seconds: float) -> str:
    """Render seconds with the most readable unit: ``0.0002`` -> ``"200us"``.

    The largest of s, ms, us, ns is chosen whose number is at least 1. Hours are used
    for whole hours, minutes for whole minutes from ten minutes up; otherwise seconds
    (``"90s"``, not ``"1.5min"``; ``"60s"``, as RFCs write timeouts).

    Args:
        seconds: A finite duration in seconds.

    Returns:
        Text that :func:`parse_duration` turns back into exactly ``seconds``.
    """
    _check_finite(seconds, "duration")
    if seconds == 0:
        return "0s"
    magnitude = Decimal(abs(seconds))
    for unit, at_least in (("h", 3600), ("min", 600)):
        factor = DURATION_UNITS[unit]
        if magnitude >= at_least and magnitude % factor == 0:
            return _readable(seconds, DURATION_UNITS, (unit,), per=False)
    return _readable(seconds, DURATION_UNITS, ("s", "ms", "us", "ns"), per=False)


def format_size(size: float) -> str:
    """Render bytes with the most readable unit: ``20000`` -> ``"20KB"``.

    The largest unit that divides the size exactly is preferred (``4194304`` ->
    ``"4MiB"``); sizes that no unit above a byte divides are shown in decimal units
    when they reach 1000 (``1536`` -> ``"1.536KB"``).

    Args:
        size: A whole number of bytes (an integral float is accepted).

    Returns:
        Text that :func:`parse_size` turns back into exactly ``size``.
    """
    _check_finite(float(size), "size")
    if not float(size).is_integer():
        return f"{format_number(float(size))}B"
    whole = int(size)
    magnitude = abs(whole)
    sign = "-" if whole < 0 else ""
    if magnitude == 0:
        return "0B"
    dividing = [
        (factor, unit)
        for unit, factor in SIZE_UNITS.items()
        if magnitude >= factor and magnitude % int(factor) == 0
    ]
    factor, unit = max(dividing)
    if unit == "B" and magnitude >= 1000:
        decimal_units = ("GB", "MB", "KB")
        unit = next(u for u in decimal_units if magnitude >= SIZE_UNITS[u])
        factor = SIZE_UNITS[unit]
    digits = format(_EXACT.divide(Decimal(magnitude), factor).normalize(), "f")
    return f"{sign}{digits}{unit}"


def format_bandwidth(bits_per_second: float) -> str:
    """Render bits per second with the most readable unit: ``1e8`` -> ``"100Mbps"``.

    Args:
        bits_per_second: A finite bandwidth.

    Returns:
        Text that :func:`parse_bandwidth` turns back into exactly the input.
    """
    _check_finite(bits_per_second, "bandwidth")
    if bits_per_second == 0:
        return "0bps"
    units = ("Tbps", "Gbps", "Mbps", "Kbps", "bps")
    return _readable(bits_per_second, BANDWIDTH_UNITS, units, per=False)


def format_rate(per_second: float) -> str:
    """Render events per second readably: ``80.0`` -> ``"80/s"``, ``1/12`` -> ``"5/min"``.

    Rates of at least one per second are shown per second; slower ones per minute,
    and slower still per hour.

    Args:
        per_second: A finite rate.

    Returns:
        Text that :func:`parse_rate` turns back into exactly the input.
    """
    _check_finite(per_second, "rate")
    if per_second == 0:
        return "0/s"
    return _readable(per_second, RATE_UNITS, ("/s", "/min", "/h"), per=True)
