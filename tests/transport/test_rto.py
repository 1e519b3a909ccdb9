"""The RFC 6298 estimator and backoff, in isolation (numbers in, RTO out)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbsim.transport.rto import RtoEstimator


def test_initial_rto_before_any_sample() -> None:
    est = RtoEstimator(1.0, 0.2, 60.0)
    assert est.rto == 1.0 and est.srtt == 0.0


def test_first_sample_sets_srtt_and_half_of_it_as_variation() -> None:
    est = RtoEstimator(1.0, 0.01, 60.0)
    est.sample(0.1)
    assert est.srtt == 0.1 and est.rttvar == 0.05
    assert est.rto == pytest.approx(0.1 + 4 * 0.05)  # RFC 6298 2.2


def test_later_samples_are_smoothed_with_gains_one_eighth_and_one_quarter() -> None:
    est = RtoEstimator(1.0, 0.01, 60.0)
    est.sample(0.1)
    est.sample(0.3)
    rttvar = 0.75 * 0.05 + 0.25 * abs(0.1 - 0.3)
    srtt = 0.875 * 0.1 + 0.125 * 0.3
    assert est.rttvar == pytest.approx(rttvar)
    assert est.srtt == pytest.approx(srtt)
    assert est.rto == pytest.approx(srtt + 4 * rttvar)


def test_rto_is_clamped_to_its_bounds() -> None:
    est = RtoEstimator(1.0, 0.2, 5.0)
    est.sample(0.001)
    assert est.rto == 0.2  # Linux's 200 ms floor
    est = RtoEstimator(1.0, 0.2, 5.0)
    est.sample(10.0)
    assert est.rto == 5.0


def test_backoff_doubles_up_to_the_maximum() -> None:
    est = RtoEstimator(1.0, 0.2, 60.0)
    seen = []
    for _ in range(8):
        est.backoff()
        seen.append(est.rto)
    assert seen == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    est.sample(0.1)  # a new sample replaces the backed-off value
    assert est.rto == pytest.approx(0.3)


@given(st.lists(st.floats(0.001, 2.0), min_size=1, max_size=50))
def test_constant_samples_converge_and_rto_stays_in_bounds(samples: list[float]) -> None:
    est = RtoEstimator(1.0, 0.2, 60.0)
    for r in samples:
        est.sample(r)
        assert 0.2 <= est.rto <= 60.0
        assert min(samples) <= est.srtt <= max(samples)
    for _ in range(200):
        est.sample(0.5)
    assert est.srtt == pytest.approx(0.5, rel=1e-6)
    assert est.rttvar == pytest.approx(0.0, abs=1e-6)
