"""Metrics: latency statistics, stickiness, fairness and shares, as pure functions.

Theory of operation: every function here takes plain values (a sequence of numbers,
or a requests DataFrame with the columns of ``requests.csv``) and returns plain
values. Nothing reads a clock, a file or a global; nothing mutates its input. That
keeps each metric small enough to check by hand, which the tests do.

The definitions are a contract, documented for users in
``docs/reference/outputs.md``:

* latency percentiles use numpy's default *linear* interpolation between order
  statistics (Hyndman and Fan's type 7, the same as R's default and Excel's
  ``PERCENTILE.INC``);
* stickiness is the fraction of consecutive request pairs on one client connection
  that were served by the same backend;
* Jain's fairness index is (Σx)² / (n·Σx²) over per-backend request counts;
* confidence intervals use Student's t distribution, computed here from the
  regularized incomplete beta function so the package does not need SciPy.

Callers decide *which* requests a metric sees (for instance only the statistics
window); the functions do not filter by time unless told to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # imported where a DataFrame is made: the summary needs numpy alone
    import pandas as pd

__all__ = [
    "ConfidenceInterval",
    "backend_share",
    "backend_share_over_time",
    "confidence_interval",
    "jain_fairness",
    "latency_stats",
    "stickiness",
    "student_t_ppf",
]

#: Percentiles reported by :func:`latency_stats`, by key.
LATENCY_PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}


def latency_stats(latencies: Iterable[float]) -> dict[str, float | None]:
    """Mean and tail percentiles of a set of latencies.

    Percentiles use numpy's default linear interpolation: for ``n`` sorted values
    the p-th percentile sits at fractional rank ``(n - 1) * p / 100`` and is
    interpolated linearly between the two neighbouring values. NaN values are
    ignored.

    Args:
        latencies: Latencies in seconds.

    Returns:
        ``{"mean", "p50", "p95", "p99"}`` in seconds (the unit of the input). Every
        value is ``None`` when there are no latencies, so the keys are always there.
    """
    given = latencies if isinstance(latencies, np.ndarray) else list(latencies)
    values = np.asarray(given, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return {"mean": None, **dict.fromkeys(LATENCY_PERCENTILES)}
    percentiles = np.percentile(values, list(LATENCY_PERCENTILES.values()))
    stats: dict[str, float | None] = {"mean": float(values.mean())}
    for key, value in zip(LATENCY_PERCENTILES, percentiles, strict=True):
        stats[key] = float(value)
    return stats


def stickiness(requests: pd.DataFrame) -> float | None:
    """Fraction of requests served by the same backend as the previous one on their connection.

    Requests are grouped by client ``connection`` (and by ``variant`` when that
    column exists, because connection ids repeat across variants). Within a
    connection they are ordered by ``t_start``, ties broken by ``request_id``.
    Requests without a backend (failed, blocked, answered from a cache) are removed
    first, so they are neither counted nor used as the "previous request": the
    request after one is compared with the last request before it that a backend
    served. Every remaining request that has such a predecessor forms one pair, and
    the result is the fraction of pairs whose two backends are equal.

    1.0 means fully sticky (every request on a connection stays on one backend, as
    through a layer-4 balancer); per-request random choice over ``n`` backends gives
    about ``1/n``.

    Args:
        requests: Rows of ``requests.csv`` (at least ``connection``, ``backend``,
            ``t_start`` and ``request_id``).

    Returns:
        The fraction in [0, 1], or ``None`` when there is no pair (for instance when
        every connection carried at most one served request).
    """
    served = requests[requests["backend"].notna()]
    if served.empty:
        return None
    group_keys = ["variant", "connection"] if "variant" in served.columns else ["connection"]
    ordered = served.sort_values([*group_keys, "t_start", "request_id"], kind="mergesort")
    previous = ordered.groupby(group_keys, sort=False)["backend"].shift(1)
    has_previous = previous.notna()
    pairs = int(has_previous.sum())
    if pairs == 0:
        return None
    same = int((ordered["backend"][has_previous] == previous[has_previous]).sum())
    return same / pairs


def jain_fairness(counts: Iterable[float]) -> float | None:
    """Jain's fairness index (Σx)² / (n·Σx²) of per-backend loads.

    It is 1.0 when all ``n`` loads are equal and ``1/n`` when a single backend takes
    everything.

    Args:
        counts: Non-negative loads, one per backend (request counts here); backends
            that received nothing must be included as zeros.

    Returns:
        The index in [1/n, 1], or ``None`` when there are no backends or every count
        is zero: with no load at all the index is 0/0, and reporting "perfectly fair"
        for a balancer that placed nothing would mislead.

    Raises:
        ValueError: If a count is negative or NaN.
    """
    values = np.asarray(list(counts), dtype=float)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError("loads must be non-negative numbers")
    squares = float(np.square(values).sum())
    if values.size == 0 or squares == 0.0:
        return None
    return float(values.sum()) ** 2 / (values.size * squares)


def _served_counts(requests: pd.DataFrame, backends: Sequence[str]) -> pd.Series:
    """Requests per backend, listed backends first (zeros kept), then any others seen."""
    counts = requests["backend"].dropna().value_counts()
    extra = sorted(name for name in counts.index if name not in set(backends))
    return counts.reindex([*backends, *extra], fill_value=0).astype("int64")


def backend_share(requests: pd.DataFrame, backends: Sequence[str]) -> dict[str, float]:
    """Fraction of the served requests that each backend served.

    Only requests with a backend count (the denominator is the number of requests
    some backend served), so the shares sum to 1 whenever any request was served.

    Args:
        requests: Rows of ``requests.csv`` (at least ``backend``), one variant.
        backends: Every backend the variant could use, in display order. Each one
            appears in the result, with 0.0 if it served nothing. A backend found in
            ``requests`` but missing here is appended (sorted by name) rather than
            dropped, so shares still add up.

    Returns:
        Backend name -> fraction in [0, 1]; all 0.0 when no request was served.
    """
    counts = _served_counts(requests, backends)
    total = int(counts.sum())
    return {str(name): (int(count) / total if total else 0.0) for name, count in counts.items()}


def backend_share_over_time(
    requests: pd.DataFrame,
    backends: Sequence[str],
    bin_seconds: float,
    *,
    start: float = 0.0,
    end: float | None = None,
) -> pd.DataFrame:
    """Per-backend share of the served requests in fixed time bins.

    A request falls in the bin that contains its ``t_start``; bins are
    ``[start + k·bin_seconds, start + (k+1)·bin_seconds)``. Requests without a
    backend are ignored, as in :func:`backend_share`.

    Args:
        requests: Rows of ``requests.csv`` for one variant.
        backends: Backends to report, in column order (extra ones seen are appended).
        bin_seconds: Bin width in seconds of simulated time.
        start: Start of the first bin (seconds).
        end: Requests at or after ``end`` are ignored; the bins cover ``[start, end)``.
            Defaults to the end of the bin holding the last request's ``t_start``.

    Returns:
        DataFrame indexed by bin start time (``time``, seconds) with one column per
        backend. Each row sums to 1 when the bin holds served requests; rows of bins
        without any are all NaN (no data, rather than a share of zero).

    Raises:
        ValueError: If ``bin_seconds`` is not positive or ``end`` precedes ``start``.
    """
    import pandas as pd

    if not bin_seconds > 0:
        raise ValueError(f"bin_seconds must be positive, got {bin_seconds}")
    served = requests[requests["backend"].notna()]
    times = served["t_start"].to_numpy(dtype=float)
    if end is None:  # the end of the bin holding the last request
        last = float(times.max()) if times.size else start - bin_seconds
        end = start + max(math.floor((last - start) / bin_seconds) + 1, 0) * bin_seconds
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    keep = (times >= start) & (times < end)
    served = served[keep]
    n_bins = math.ceil((end - start) / bin_seconds)
    edges = start + bin_seconds * np.arange(n_bins, dtype=float)
    columns = list(_served_counts(served, backends).index)
    if n_bins == 0:
        empty = pd.DataFrame(columns=columns, dtype=float)
        empty.index = pd.Index([], dtype=float, name="time")
        return empty
    bins = np.minimum(((times[keep] - start) // bin_seconds).astype(int), n_bins - 1)
    codes = pd.Categorical(served["backend"], categories=columns).codes
    counts = np.zeros((n_bins, len(columns)))
    np.add.at(counts, (bins, codes), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        shares = np.where(totals > 0, counts / totals, np.nan)
    return pd.DataFrame(
        shares,
        index=pd.Index(edges, name="time"),
        columns=pd.Index(columns, name="backend"),
    )


class ConfidenceInterval(NamedTuple):
    """A two-sided confidence interval for a mean.

    Attributes:
        mean: Sample mean.
        low: Lower bound (NaN when fewer than two values).
        high: Upper bound (NaN when fewer than two values).
        half_width: ``high - mean`` (NaN when fewer than two values).
        n: Number of values.
        level: Confidence level, e.g. 0.95.
    """

    mean: float
    low: float
    high: float
    half_width: float
    n: int
    level: float


def confidence_interval(values: Iterable[float], level: float = 0.95) -> ConfidenceInterval:
    """Student-t confidence interval for the mean of independent replications.

    ``mean ± t(1 - (1-level)/2, n-1) · s / √n`` with ``s`` the sample standard
    deviation (``n - 1`` in the denominator). Appropriate for the means of
    independent replications, whose distribution is close to normal.

    Args:
        values: One value per replication.
        level: Confidence level in (0, 1).

    Returns:
        The interval. With a single value the mean is returned and the bounds and
        half width are NaN: one replication says nothing about spread.

    Raises:
        ValueError: If ``values`` is empty, holds NaN, or ``level`` is outside (0, 1).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    data = np.asarray(list(values), dtype=float)
    if data.size == 0:
        raise ValueError("confidence_interval needs at least one value")
    if np.isnan(data).any():
        raise ValueError("values must not contain NaN")
    mean = float(data.mean())
    n = int(data.size)
    if n < 2:
        return ConfidenceInterval(mean, math.nan, math.nan, math.nan, n, level)
    scale = float(data.std(ddof=1)) / math.sqrt(n)
    half = student_t_ppf(1 - (1 - level) / 2, n - 1) * scale
    return ConfidenceInterval(mean, mean - half, mean + half, half, n, level)


# --- Student's t distribution ------------------------------------------------------
# CDF(t; ν) = 1 - ½·I_x(ν/2, ½) with x = ν / (ν + t²) for t ≥ 0, where I is the
# regularized incomplete beta function, evaluated with the continued fraction of
# Numerical Recipes (modified Lentz). The quantile is found by bisection, which is
# slow by numerical-library standards but exact to double precision and tiny next
# to a simulation run.

_TINY = 1e-300


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (Numerical Recipes ``betacf``)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _regularized_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def _student_t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_ppf(p: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t distribution.

    Args:
        p: Probability in (0, 1).
        df: Degrees of freedom, positive.

    Returns:
        The ``t`` with ``P(T ≤ t) = p``.

    Raises:
        ValueError: If ``p`` is outside (0, 1) or ``df`` is not positive.
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not df > 0:
        raise ValueError(f"df must be positive, got {df}")
    if p < 0.5:
        return -student_t_ppf(1.0 - p, df)
    low, high = 0.0, 1.0
    while _student_t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if _student_t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)
