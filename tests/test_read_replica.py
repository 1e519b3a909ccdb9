"""Read-replica backends (``read_only: true``) refuse writes with 405; reads are served.

Notebook 05 uses this to show what an L4 balancer cannot promise: it cannot see the
method, so some writes land on read replicas and fail; an L7 route by method sends
every write to the primary.
"""

from __future__ import annotations

import pandas as pd

from lbsim.results import build_results
from lbsim.scenario import load_scenario
from lbsim.sim import run_scenario


def _requests(*overrides: str) -> pd.DataFrame:
    scenario = load_scenario("routing", ["duration=3s", "warmup=0.5s", *overrides])
    return build_results(scenario, run_scenario(scenario)).window_requests()


def test_read_replicas_refuse_writes_and_serve_reads() -> None:
    w = _requests("backends.read.read_only=true")
    on_replicas = w[w.backend.str.startswith("read-")]
    writes = on_replicas[on_replicas.method == "POST"]
    reads = on_replicas[on_replicas.method == "GET"]
    assert len(writes) > 0 and (writes.status == 405).all() and (writes.outcome == "error").all()
    assert len(reads) > 0 and (reads.status == 200).all()
    assert set(writes.variant) == {"l4"}  # the L7 route sends every POST to the primary
    elsewhere = w[~w.backend.str.startswith("read-") & w.backend.notna()]
    assert (elsewhere.status == 200).all()


def test_backends_accept_writes_by_default() -> None:
    w = _requests()
    assert (w.status == 200).all()
