"""The streaming summary (lbsim.results.summary) equals lbsim.metrics on the whole window."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from lbsim import metrics
from lbsim.records import OUTCOMES, Recorder, RequestRecord
from lbsim.results import build_results
from lbsim.sim import VariantRun

BACKENDS = ("web-1", "web-2", "web-3")
SCENARIO = SimpleNamespace(name="unit", seed=3, duration=20.0, warmup=4.0)


def _records(rng: random.Random, count: int) -> list[RequestRecord]:
    """Requests with tied start times, unknown backends, missing connections, caches."""
    out = []
    for i in range(count):
        t_start = round(rng.uniform(0.0, 24.0), 1)  # one decimal: many ties
        outcome = rng.choice([*OUTCOMES, "ok", "ok", "ok"])
        served = outcome == "ok" and rng.random() < 0.9
        backend = rng.choice([*BACKENDS, "web-9"]) if served else None  # web-9: not listed
        out.append(
            RequestRecord(
                "v", f"u{rng.randrange(40)}-{i}", "c",
                None if rng.random() < 0.05 else f"conn-{rng.randrange(60)}",
                backend, "GET", "/", 200 if served else None, outcome, t_start,
                t_start + rng.expovariate(20.0), 400, 2000,
                cache_hit=None if rng.random() < 0.5 else rng.random() < 0.3,
            )
        )  # fmt: skip
    rng.shuffle(out)  # records arrive in completion order, not start order
    return out


@pytest.mark.parametrize("rows", [7, 100_000])  # spilled in many chunks, or not at all
def test_streaming_summary_equals_metrics_on_the_window(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBSIM_SPILL_ROWS", str(rows))
    recorder = Recorder("v")
    recorder.requests.extend(_records(random.Random(rows), 600))
    run = VariantRun("v", 7, "round_robin", recorder, BACKENDS, 0.1, 1.0)
    results = build_results(SCENARIO, [run])
    got = results.summary["variants"]["v"]
    window = results.window_requests("v")
    ok = window["outcome"] == "ok"
    assert got["requests"] == len(window)
    assert got["outcomes"] == {o: int((window["outcome"] == o).sum()) for o in OUTCOMES}
    assert got["latency"] == metrics.latency_stats(window.loc[ok, "latency"].to_numpy())
    assert got["backend_share"] == metrics.backend_share(window, BACKENDS)
    assert list(got["backend_share"]) == [*BACKENDS, "web-9"]
    served = window["backend"].value_counts()
    assert got["jain_fairness"] == metrics.jain_fairness(int(served.get(b, 0)) for b in BACKENDS)
    sticky = metrics.stickiness(window.assign(connection=window["connection"].fillna("?")))
    assert sticky is not None and got["stickiness"] == sticky
    looked_up = window["cache_hit"].dropna()
    assert got["cache"]["lookups"] == len(looked_up)
    assert got["cache"]["hits"] == int(looked_up.astype(bool).sum())
    frame = results.requests
    ends = frame["t_end"]
    finished = (frame["outcome"] == "ok") & (ends >= 4.0) & (ends < 20.0)
    assert got["throughput_rps"] == int(finished.sum()) / 16.0


def test_latency_mean_sums_in_table_order() -> None:
    # The mean of an array depends on summation order in the last bits: the summary's
    # must be numpy's mean over the table's order, as metrics.latency_stats computes it.
    recorder = Recorder("v")
    recorder.requests.extend(_records(random.Random(5), 300))
    results = build_results(SCENARIO, [VariantRun("v", 4, "rr", recorder, BACKENDS, 0.1, 1.0)])
    window = results.window_requests("v")
    latencies = window.loc[window["outcome"] == "ok", "latency"].to_numpy()
    mean = results.summary["variants"]["v"]["latency"]["mean"]
    assert mean == float(np.mean(latencies))
