"""A cold backend (warmup_penalty) added under least_request, with and without slow start.

The bundled ``slow_start`` scenario, shortened: the fifth server joins at 10 s
with service times 4x longer at first, the excess fading linearly over 15 s.
"""

from __future__ import annotations

import statistics

import pytest

from lbsim.records import RequestRecord
from lbsim.scenario import ScenarioError, load_scenario
from lbsim.sim import run_variant

_ADD = 10.0


def _requests(variant: str) -> list[RequestRecord]:
    sc = load_scenario("slow_start", ["duration=20s", "warmup=2s", f"events.0.at={_ADD}s"])
    return run_variant(sc, variant).recorder.requests


@pytest.fixture(scope="module")
def runs() -> dict[str, list[RequestRecord]]:
    return {v: _requests(v) for v in ("no_slow_start", "slow_start")}


def _service(records: list[RequestRecord], new: bool, start: float, end: float) -> list[float]:
    return [
        r.service_time
        for r in records
        if r.service_time is not None
        and r.backend is not None
        and (r.backend == "api-5") == new
        and start <= r.t_start < end
    ]


def test_cold_server_is_slower_at_first_and_warms_up(
    runs: dict[str, list[RequestRecord]],
) -> None:
    records = runs["no_slow_start"]
    # The factor is 1 + 3 (1 - t/15) at t s after the start: its mean is 3.7 over
    # [0, 3) s and 2.7 over [5, 8) s. The mean of n exponential service times has
    # a relative standard error 1/sqrt(n); with n > 150 that is < 8.2 %, so
    # +-20 % is about two and a half of them.
    for (a, b), factor in (((0, 3), 3.7), ((5, 8), 2.7)):
        cold = _service(records, True, _ADD + a, _ADD + b)
        warm = _service(records, False, _ADD + a, _ADD + b)
        assert len(cold) > 150 and len(warm) > 2000
        ratio = statistics.fmean(cold) / statistics.fmean(warm)
        assert ratio == pytest.approx(factor, rel=0.20)
        # The old servers stay warm: about the 10 ms of the group's distribution.
        assert statistics.fmean(warm) == pytest.approx(0.010, rel=0.06)


def test_slow_start_sends_fewer_requests_to_the_cold_server(
    runs: dict[str, list[RequestRecord]],
) -> None:
    def early_share(records: list[RequestRecord]) -> float:
        window = [r for r in records if r.backend and _ADD <= r.t_start < _ADD + 3]
        return sum(r.backend == "api-5" for r in window) / len(window)

    flood = early_share(runs["no_slow_start"])
    ramp = early_share(runs["slow_start"])
    # Measured: ~0.076 against ~0.040 over the first 3 s (each on > 2500 requests).
    assert ramp < 0.7 * flood
    assert ramp > 0.01  # ramped, not starved (min_percent keeps it in rotation)


def test_warmup_penalty_needs_a_window() -> None:
    with pytest.raises(ScenarioError, match="warmup_window"):
        load_scenario("slow_start", ["backends.api.warmup_window=0s"])
