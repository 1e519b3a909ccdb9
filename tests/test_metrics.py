"""Metrics on hand-computed examples (lbsim.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lbsim.metrics import (
    backend_share,
    backend_share_over_time,
    confidence_interval,
    jain_fairness,
    latency_stats,
    stickiness,
    student_t_ppf,
)


def requests(rows: list[tuple[str, str, str | None, float]], variant: str = "l4") -> pd.DataFrame:
    """A requests frame from (request_id, connection, backend, t_start) rows."""
    return pd.DataFrame(
        {
            "variant": [variant] * len(rows),
            "request_id": [r[0] for r in rows],
            "connection": [r[1] for r in rows],
            "backend": pd.Series([r[2] for r in rows], dtype="str"),
            "t_start": [r[3] for r in rows],
        }
    )


# --- latency_stats -------------------------------------------------------------------


def test_latency_stats_linear_interpolation() -> None:
    # Ranks (n-1)·p: p50 -> 1.5 (between 2 and 3), p95 -> 2.85, p99 -> 2.97.
    stats = latency_stats([4.0, 1.0, 3.0, 2.0])
    assert stats == pytest.approx({"mean": 2.5, "p50": 2.5, "p95": 3.85, "p99": 3.97})


def test_latency_stats_single_value_and_nan_ignored() -> None:
    assert latency_stats([0.02, math.nan]) == pytest.approx(
        {"mean": 0.02, "p50": 0.02, "p95": 0.02, "p99": 0.02}
    )


def test_latency_stats_empty_has_all_keys_none() -> None:
    assert latency_stats([]) == {"mean": None, "p50": None, "p95": None, "p99": None}


# --- stickiness ----------------------------------------------------------------------


def test_stickiness_counts_pairs_on_each_connection() -> None:
    frame = requests(
        [
            ("a-0", "A", "web-1", 0.0),
            ("a-1", "A", "web-1", 1.0),  # same as previous: sticky
            ("a-2", "A", "web-2", 2.0),  # moved
            ("b-0", "B", "web-2", 0.5),
            ("b-1", "B", None, 0.6),  # no backend: skipped as current and as previous
            ("b-2", "B", "web-2", 0.7),  # compared with b-0: sticky
            ("c-0", "C", "web-3", 0.1),  # alone on its connection: no pair
        ]
    )
    assert stickiness(frame) == pytest.approx(2 / 3)


def test_stickiness_orders_by_t_start_then_request_id() -> None:
    frame = requests(
        [
            ("x-2", "A", "web-2", 1.0),
            ("x-1", "A", "web-1", 1.0),  # same t_start as x-2: x-1 comes first by id
            ("x-0", "A", "web-1", 0.0),
        ]
    )
    # Order x-0 (web-1), x-1 (web-1), x-2 (web-2): one sticky pair out of two.
    assert stickiness(frame) == pytest.approx(0.5)


def test_stickiness_never_pairs_across_variants() -> None:
    frame = pd.concat(
        [
            requests([("r-0", "A", "web-1", 0.0)], variant="l4"),
            requests([("r-0", "A", "web-1", 0.0), ("r-1", "A", "web-2", 1.0)], variant="l7"),
        ],
        ignore_index=True,
    )
    assert stickiness(frame) == 0.0


def test_stickiness_none_without_pairs() -> None:
    assert stickiness(requests([("r", "A", "web-1", 0.0), ("s", "B", "web-1", 0.0)])) is None
    assert stickiness(requests([("r", "A", None, 0.0), ("s", "A", None, 1.0)])) is None
    assert stickiness(requests([])) is None


# --- jain_fairness -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([5, 5, 5, 5], 1.0),
        ([4, 0, 0, 0], 0.25),  # one of n backends takes all: 1/n
        ([1, 2, 3], 36 / 42),  # (1+2+3)² / (3·(1+4+9))
        ([3000, 1], 3001**2 / (2 * (3000**2 + 1))),  # docs/validation.md: ≈ 0.5
    ],
)
def test_jain_fairness_hand_computed(counts: list[int], expected: float) -> None:
    assert jain_fairness(counts) == pytest.approx(expected)


def test_jain_fairness_undefined_without_load() -> None:
    assert jain_fairness([0, 0, 0]) is None
    assert jain_fairness([]) is None


def test_jain_fairness_rejects_negative_loads() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        jain_fairness([1, -1])


# --- backend_share -------------------------------------------------------------------


def test_backend_share_lists_every_backend_and_skips_unserved() -> None:
    frame = requests(
        [
            ("r0", "A", "web-1", 0),
            ("r1", "A", "web-1", 1),
            ("r2", "B", "web-2", 0),
            ("r3", "B", None, 1),
        ]
    )
    share = backend_share(frame, ["web-1", "web-2", "web-3"])
    assert share == pytest.approx({"web-1": 2 / 3, "web-2": 1 / 3, "web-3": 0.0})
    assert list(share) == ["web-1", "web-2", "web-3"]


def test_backend_share_appends_unlisted_backends() -> None:
    frame = requests([("r0", "A", "web-1", 0), ("r1", "A", "zeta", 1), ("r2", "A", "alpha", 2)])
    share = backend_share(frame, ["web-1"])
    assert list(share) == ["web-1", "alpha", "zeta"]
    assert sum(share.values()) == pytest.approx(1.0)


def test_backend_share_all_zero_when_nothing_served() -> None:
    assert backend_share(requests([("r0", "A", None, 0)]), ["a", "b"]) == {"a": 0.0, "b": 0.0}


# --- backend_share_over_time ---------------------------------------------------------


def test_backend_share_over_time_bins() -> None:
    frame = requests(
        [
            ("r0", "A", "a", 0.1),
            ("r1", "A", "b", 0.5),
            ("r2", "A", "a", 0.9),
            ("r3", "A", None, 1.5),  # unserved: ignored, so bin 1 has no data
            ("r4", "A", "b", 2.2),
            ("r5", "A", "a", 3.0),  # at `end`: outside [start, end)
        ]
    )
    shares = backend_share_over_time(frame, ["a", "b", "c"], 1.0, start=0.0, end=3.0)
    assert list(shares.index) == [0.0, 1.0, 2.0]
    assert shares.index.name == "time"
    assert list(shares.columns) == ["a", "b", "c"]
    np.testing.assert_allclose(shares.loc[0.0], [2 / 3, 1 / 3, 0.0])
    assert shares.loc[1.0].isna().all()
    np.testing.assert_allclose(shares.loc[2.0], [0.0, 1.0, 0.0])


def test_backend_share_over_time_default_end_covers_last_request() -> None:
    frame = requests([("r0", "A", "a", 0.2), ("r1", "A", "b", 4.5)])
    shares = backend_share_over_time(frame, ["a", "b"], 2.0)
    assert list(shares.index) == [0.0, 2.0, 4.0]
    sums = shares.sum(axis=1, min_count=1)
    assert sums.dropna().tolist() == pytest.approx([1.0, 1.0])


def test_backend_share_over_time_rejects_bad_bins() -> None:
    with pytest.raises(ValueError, match="bin_seconds"):
        backend_share_over_time(requests([]), ["a"], 0.0)


def test_backend_share_over_time_empty() -> None:
    shares = backend_share_over_time(requests([]), ["a"], 1.0)
    assert shares.empty
    assert list(shares.columns) == ["a"]


# --- confidence_interval -------------------------------------------------------------


def test_confidence_interval_hand_computed() -> None:
    # mean 3, s = √2.5, s/√5 = √0.5, t(0.975, 4) = 2.776445 (statistical tables).
    ci = confidence_interval([1, 2, 3, 4, 5])
    half = 2.776445 * math.sqrt(0.5)
    assert ci.mean == 3.0
    assert ci.half_width == pytest.approx(half, rel=1e-6)
    assert (ci.low, ci.high) == pytest.approx((3 - half, 3 + half), rel=1e-6)
    assert (ci.n, ci.level) == (5, 0.95)


def test_confidence_interval_single_value_has_no_width() -> None:
    ci = confidence_interval([7.0])
    assert ci.mean == 7.0
    assert math.isnan(ci.low) and math.isnan(ci.high) and math.isnan(ci.half_width)


def test_confidence_interval_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        confidence_interval([])
    with pytest.raises(ValueError):
        confidence_interval([1.0, 2.0], level=1.0)


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706205),
        (0.975, 2, 4.302653),
        (0.975, 9, 2.262157),
        (0.975, 30, 2.042272),
        (0.995, 4, 4.604095),
        (0.95, 10, 1.812461),
        (0.975, 1000, 1.962339),
        (0.025, 9, -2.262157),
    ],
)
def test_student_t_quantiles_match_tables(p: float, df: int, expected: float) -> None:
    assert student_t_ppf(p, df) == pytest.approx(expected, abs=2e-6)
