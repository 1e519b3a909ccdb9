"""Axis labels with units for summary metrics and swept scenario parameters.

Theory of operation: sweep figures put any metric against any swept scenario key,
so labels cannot be written by hand per figure. :func:`metric_axis` maps a
flattened ``summary.json`` key (``latency.p99``, ``lb.cpu_utilization``) to a label
with its unit and the factor that converts the stored value (seconds, fractions)
into the displayed one (milliseconds, percent). :func:`parameter_axis` turns the
values of a grid axis, which are texts as the user wrote them, into numbers for
a numeric axis: plain numbers stay as they are; values with units are converted
with the scenario's own unit parsers (``10ms``, ``20KB``, ``100Mbps``, ``80/s``) and
shown in a readable unit. Values that are neither (algorithm names, say) give a
categorical axis in grid order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lbsim.scenario.units import parse_bandwidth, parse_duration, parse_rate, parse_size
from lbsim.values import parse_value

__all__ = ["MetricAxis", "ParameterAxis", "metric_axis", "parameter_axis"]


@dataclass(frozen=True)
class MetricAxis:
    """How to show a metric.

    Attributes:
        label: Axis label including the unit.
        scale: Factor from stored to displayed values.
    """

    label: str
    scale: float = 1.0


_LATENCY_NAMES = {"mean": "mean latency", "p50": "median latency (p50)"}

_METRICS: dict[str, MetricAxis] = {
    "requests": MetricAxis("requests issued in the window (count)"),
    "completed": MetricAxis("successful requests (count)"),
    "failed": MetricAxis("failed requests (count)"),
    "throughput_rps": MetricAxis("throughput (successful requests/s)"),
    "jain_fairness": MetricAxis("Jain's fairness index (1/n … 1)"),
    "stickiness": MetricAxis("stickiness (fraction of request pairs, 0 … 1)"),
    "segments.client_side": MetricAxis("segments on client-side links (count)"),
    "segments.backend_side": MetricAxis("segments on backend-side links (count)"),
    "lb.cpu_utilization": MetricAxis("balancer CPU utilization (%)", 100.0),
    "lb.peak_buffer_bytes": MetricAxis("peak bytes buffered by the balancer (B)"),
    "lb.peak_table_entries": MetricAxis("peak connection-table entries (count)"),
    "wall_seconds": MetricAxis("wall-clock time (s)"),
}


def metric_axis(name: str) -> MetricAxis:
    """Label and scale for a flattened summary key.

    Args:
        name: A runs-table metric column, e.g. ``latency.p99``.

    Returns:
        The label with unit (the key itself for keys not known here) and scale.
    """
    if name in _METRICS:
        return _METRICS[name]
    head, _, tail = name.partition(".")
    if head == "latency":
        return MetricAxis(f"{_LATENCY_NAMES.get(tail, f'{tail} latency')} (ms)", 1e3)
    if head == "backend_share":
        return MetricAxis(f"share of requests served by {tail} (fraction)")
    if head == "outcomes":
        return MetricAxis(f"requests with outcome {tail} (count)")
    return MetricAxis(name)


@dataclass(frozen=True)
class ParameterAxis:
    """A grid axis prepared for plotting.

    Attributes:
        label: Axis label including the unit.
        positions: x position of each grid value, in grid order (the numbers
            themselves, or 0, 1, 2, ... for a categorical axis).
        categorical: Whether positions are indices with ``ticks`` as labels.
        ticks: Tick labels of a categorical axis (the value texts).
    """

    label: str
    positions: tuple[float, ...]
    categorical: bool
    ticks: tuple[str, ...] = ()


# Parsers for values with units: (parser, base unit) and display choices
# (unit, factor from base), first whose factor keeps the largest value >= 1.
_UNIT_PARSERS: tuple[tuple[Callable[[object], float], tuple[tuple[str, float], ...]], ...] = (
    (parse_rate, (("per second", 1.0),)),
    (parse_duration, (("s", 1.0), ("ms", 1e3), ("µs", 1e6))),
    (parse_bandwidth, (("Gbps", 1e-9), ("Mbps", 1e-6), ("kbps", 1e-3), ("bps", 1.0))),
    (parse_size, (("MB", 1e-6), ("KB", 1e-3), ("B", 1.0))),
)

# Units of plain numbers, by the last part of the key path.
_PLAIN_UNITS = {
    "mtu": "bytes",
    "queue": "bytes",
    "count": "count",
    "workers": "workers per server",
    "cores": "cores",
    "requests_per_connection": "requests per connection",
    "warm": "connections per backend",
    "max": "connections per backend",
    "hosts": "client addresses",
    "initial_window": "segments",
}


def _numbers(parser: Callable[[object], float], texts: Sequence[str]) -> list[float] | None:
    try:
        return [float(parser(text)) for text in texts]
    except ValueError:
        return None


def parameter_axis(path: str, texts: Sequence[str]) -> ParameterAxis:
    """Positions and label for the values of a grid axis.

    Args:
        path: The swept key path.
        texts: Its values as written, in grid order.

    Returns:
        A numeric axis when every value is a number, or every value parses with
        one unit parser; a categorical axis otherwise.
    """
    parsed = [parse_value(text) for text in texts]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in parsed):
        unit = _PLAIN_UNITS.get(path.rsplit(".", 1)[-1])
        label = f"{path} ({unit})" if unit else path
        return ParameterAxis(label, tuple(float(v) for v in parsed), False)
    for parser, displays in _UNIT_PARSERS:
        numbers = _numbers(parser, texts)
        if numbers is None:
            continue
        largest = max((abs(n) for n in numbers), default=0.0)
        unit, factor = displays[-1]
        for candidate, candidate_factor in displays:
            if largest * candidate_factor >= 1:
                unit, factor = candidate, candidate_factor
                break
        return ParameterAxis(f"{path} ({unit})", tuple(n * factor for n in numbers), False)
    return ParameterAxis(
        path, tuple(float(i) for i in range(len(texts))), True, tuple(str(t) for t in texts)
    )
