"""Weights from backend-reported load (Envoy client-side WRR with ORCA reports).

Three equal backends report utilisation and request rate every 1 s on their
responses; the layer-7 weighted round robin sets each weight to qps/utilisation.
At 10 s web-2 slows down 3x: it needs three times the utilisation for the same
rate, so its weight falls to about a third of the others' and its share of the
requests from 1/3 to (1/3)/(1 + 1 + 1/3) = 1/7.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbsim.app.load_report import LoadReporter, parse_report
from lbsim.records import RequestRecord
from lbsim.scenario import ScenarioError
from lbsim.sim import run_variant
from scenarios import FREE, scenario


def _scenario(reports: bool) -> Any:
    l7: dict[str, Any] = {
        "name": "l7",
        "layer": 7,
        "algorithm": "weighted_round_robin",
        "costs": FREE,
    }
    if reports:
        l7["weights_from_reports"] = True
    return scenario(
        duration="30s",
        backends=[
            {
                "group": "web",
                "count": 3,
                "workers": 4,
                "service_time": "exp(10ms)",
                "load_report_period": "1s",
            }
        ],
        clients=[
            {
                "name": "c",
                "count": 30,
                "think_time": "exp(30ms)",
                "requests_per_connection": 100000,
                "requests": [{"path": "/", "size": "400B", "response": "2KB"}],
            }
        ],
        events=[{"at": "10s", "action": "slowdown", "backend": "web-2", "factor": 3}],
        balancers=[l7],
    )


def _share(records: list[RequestRecord], start: float, end: float) -> tuple[float, int]:
    window = [r for r in records if r.backend and start <= r.t_start < end]
    return sum(r.backend == "web-2" for r in window) / len(window), len(window)


def test_a_slowed_backend_loses_weight_and_share() -> None:
    run = run_variant(_scenario(True), "l7")
    records = run.recorder.requests
    before, n_before = _share(records, 3.0, 10.0)
    after, n_after = _share(records, 15.0, 30.0)
    # Binomial standard error of a share with n > 2000 is < 0.011; +-0.04 is > 3.5 of them
    # (the weights themselves fluctuate with each 1 s report, hence the margin).
    assert n_before > 2000 and n_after > 4000
    assert before == pytest.approx(1 / 3, abs=0.04)
    assert after == pytest.approx(1 / 7, abs=0.04)
    assert run.recorder.counters["lb.weight_updates"] > 1000


def test_without_reports_weights_stay_static() -> None:
    records = run_variant(_scenario(False), "l7").recorder.requests
    after, _ = _share(records, 15.0, 30.0)
    assert after == pytest.approx(1 / 3, abs=0.01)  # plain rotation, slow or not


def test_reporter_measures_utilisation_and_rate() -> None:
    reporter = LoadReporter(1.0, 0.0)
    assert reporter.header(0.5, 0.2, 10, 4) is None  # no period has ended yet
    name, value = reporter.header(2.0, 4.0, 300, 4) or ("", "")
    assert name == "Endpoint-Load-Metrics"
    assert parse_report(value) == pytest.approx((0.5, 150.0))  # 4 s busy / (4 x 2 s)


def test_weights_from_reports_refused_at_layer_4() -> None:
    with pytest.raises(ScenarioError, match="cannot read the load reports"):
        scenario(
            balancers=[
                {
                    "name": "l4",
                    "layer": 4,
                    "algorithm": "weighted_round_robin",
                    "weights_from_reports": True,
                }
            ]
        )
