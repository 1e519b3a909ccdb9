"""Counters of what reached the balancer, per side, against the segment trace."""

from __future__ import annotations

import pytest

from lbsim.scenario import load_scenario
from lbsim.sim import build_variant


@pytest.mark.parametrize("name", ["nat", "proxy", "dsr", "l7"])
def test_segments_into_the_balancer_match_the_trace(name: str) -> None:
    scenario = load_scenario("l4_modes", ["duration=0.5s", "warmup=0s"])
    build = build_variant(scenario, name, trace_segments=True)
    run = build.run()
    counters = build.counters(run.end_time)
    for side in ("client", "backend"):
        into = [
            s
            for s in run.recorder.segments
            if s.side == side and not s.dropped and s.link.endswith(">" + name)
        ]
        assert counters[f"lb.segments_in.{side}"] == len(into)
    assert counters["lb.segments_in.client"] > 100
    if name == "dsr":  # the replies go through the router, never the balancer
        assert counters["lb.segments_in.backend"] == 0
    else:  # every response segment comes back through the balancer
        assert counters["lb.segments_in.backend"] > 100


@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_bounded_load_spills_are_counted(variant: str) -> None:
    sets = [
        "duration=3s",
        "warmup=0s",
        f"balancers.{variant}.algorithm=consistent_hash",
        f"balancers.{variant}.params={{balance_factor: 1.0}}",
    ]
    build = build_variant(load_scenario("scale_out", sets), variant)
    run = build.run()
    counters = build.counters(run.end_time)
    (algorithm,) = build.lb.algorithms()
    assert counters["algorithm.spills"] == algorithm.spills > 0


def test_no_spill_counter_without_an_algorithm_that_spills() -> None:
    build = build_variant(load_scenario("scale_out", ["duration=1s", "warmup=0s"]), "l4")
    assert "algorithm.spills" not in build.counters(build.run().end_time)
