"""Per-request balancing over n identical servers at load 0.8 (docs/validation.md).

An L7 balancer with no CPU cost spreads Poisson requests (multiplexed over
long-lived connections, so no handshake per request) over n = 100 identical
backends with one worker and exponential service (1/mu = 10 ms) each; the network
is negligible. Mean response time in units of 1/mu, against theory:

* random: every backend is an M/M/1 queue -> 1/(1 - rho) = 5.0;
* round robin: every backend gets every 100th arrival, Erlang-100 inter-arrival
  times -> E_100/M/1 (2.716; the D/M/1 large-n limit is 2.69);
* power of two choices: the supermarket model's large-n limit, 1.95 (n = 100 is
  expected within a few percent of it).

Tolerance 5%. Sample sizes: measured on seeds outside these tests, one run of
72,000 requests gave relative errors of about 1.5% (round robin), 1.3% (P2C) and
4% (random, whose M/M/1 queues at load 0.8 are the noisiest). Random therefore
pools three times as many requests (~210,000): its standard error is then about
1.7%, the tolerance three of them.
"""

from __future__ import annotations

import statistics

import pytest

from lbsim import theory
from lbsim.sim import run_scenario
from scenarios import per_request_scenario

MEAN_SERVICE = 0.01
RHO = 0.8
N = 100


def mean_response(algorithm: str, duration: float, seeds: range) -> float:
    latencies: list[float] = []
    for seed in seeds:
        sc = per_request_scenario(
            algorithm=algorithm,
            backends=N,
            rho=RHO,
            mean_service=MEAN_SERVICE,
            duration=duration,
            seed=seed,
        )
        (run,) = run_scenario(sc)
        window = [r for r in run.recorder.requests if sc.warmup <= r.t_start < sc.duration]
        assert all(r.outcome == "ok" for r in window)
        latencies += [r.latency for r in window]
    return statistics.fmean(latencies) / MEAN_SERVICE


@pytest.mark.parametrize(
    ("algorithm", "expected", "duration", "seeds"),
    [
        ("random", 1 / (1 - RHO), 10.0, range(21, 24)),
        ("round_robin", theory.ekm1_response(N, RHO), 10.0, range(31, 32)),
        ("p2c", theory.p2c_response(RHO), 10.0, range(41, 42)),
    ],
)
def test_per_request_mean_response_matches_theory(
    algorithm: str, expected: float, duration: float, seeds: range
) -> None:
    assert mean_response(algorithm, duration, seeds) == pytest.approx(expected, rel=0.05)


def test_reference_values() -> None:
    assert theory.ekm1_response(N, RHO) == pytest.approx(2.716, abs=0.001)
    assert theory.dm1_response(RHO) == pytest.approx(2.69, abs=0.005)
    assert theory.p2c_response(RHO) == pytest.approx(1.95, abs=0.005)
