"""The two-tier topology runs end to end: every instance its own balancer, ECMP even,
requests conserved across tiers, variants on the same workload; the star unchanged."""

from __future__ import annotations

from collections import Counter

import pytest

from lbsim.lb.base import Balancer
from lbsim.net.addresses import VIP, tier_address
from lbsim.run.runs import build_variant
from lbsim.run.tiers import TieredBuild
from lbsim.run.variant import VariantBuild, VariantRun
from lbsim.scenario import ScenarioError, load_scenario

SHORT = ["duration=4s", "warmup=1s"]


@pytest.fixture(scope="module")
def build() -> TieredBuild:
    built = build_variant(load_scenario("two_tier", SHORT), "round_robin", trace_segments=True)
    assert isinstance(built, TieredBuild)
    built.run()
    return built


def test_every_instance_is_its_own_balancer(build: TieredBuild) -> None:
    instances: list[Balancer] = [lb for lbs in build.tiers.values() for lb in lbs]
    assert [lb.name for lb in instances] == [
        "maglev-1",
        "maglev-2",
        "proxies-1",
        "proxies-2",
        "proxies-3",
    ]
    assert len({id(lb) for lb in instances}) == 5
    assert len({id(c) for c in build.instance_cpus.values()}) == 5
    stacks = [s for lb in build.tiers["proxies"] for s in lb.stacks()]
    assert len({id(s) for s in stacks}) == len(stacks) >= 3
    counters = build.recorder.counters
    # Each L7 instance did work of its own.
    assert all(counters[f"instance.proxies-{i}.cpu_jobs"] > 0 for i in (1, 2, 3))


def test_requests_are_conserved_across_tiers(build: TieredBuild) -> None:
    requests = build.recorder.requests
    outcomes = Counter(r.outcome for r in requests)
    counters = build.recorder.counters
    # Every request the clients issued completed, each went through exactly one L7
    # instance (the instances' backend-side records add up to the client count)
    # and was served by exactly one backend.
    assert outcomes == {"ok": len(requests)}
    through_l7 = sum(counters[f"instance.proxies-{i}.requests"] for i in (1, 2, 3))
    served = sum(b.served for b in build.backends)
    assert through_l7 == served == len(requests)


def test_ecmp_spreads_connections_over_the_l4_instances(build: TieredBuild) -> None:
    # Connections (first SYNs) per L4 instance, counted on the wire: ~1200 flows
    # over 2 instances; a share's standard deviation is sqrt(.25/1200) = 0.014, the
    # tolerance 0.06 is over 4 of them.
    syns = Counter(
        s.link
        for s in build.recorder.segments
        if s.flags == "SYN" and s.link.startswith("edge>maglev")
    )
    flows = sum(syns.values())
    assert flows > 1000
    assert flows == sum(build.recorder.counters[f"instance.maglev-{i}.flows"] for i in (1, 2))
    for link in ("edge>maglev-1", "edge>maglev-2"):
        assert abs(syns[link] / flows - 0.5) < 0.06, syns


def test_replies_bypass_the_l4_tier_and_paths_follow_the_graph(build: TieredBuild) -> None:
    links = {s.link for s in build.recorder.segments}
    assert "proxies-1>maglev-1" in links  # DSR replies cross the L4 switch, no CPU
    assert {"site-east>edge", "edge>site-west", "proxies-2>api", "static>proxies-3"} <= links
    router = build.routers["edge"]
    assert VIP in router.groups and len(router.groups[VIP].hops) == 2
    assert router.unroutable == 0
    assert all(build.routers[n].unroutable == 0 for n in build.routers)
    # L7 instances reach backends from their own addresses.
    sources = {s.src for s in build.recorder.segments if s.link == "proxies-2>api"}
    assert sources == {"172.16.2.2"} and tier_address(1, 2) == (172 << 24) | (16 << 16) | 0x202


def test_variants_share_the_workload() -> None:
    sc = load_scenario("two_tier", ["duration=2s", "warmup=0.5s"])
    runs: list[VariantRun] = [build_variant(sc, v).run() for v in ("round_robin", "least_request")]
    # The same connections open at the same times (arrivals come from streams keyed
    # by the seed and the hosts' names, not by the variant).
    opened = [
        sorted((c.src, c.t_open) for c in run.recorder.connections if c.side == "client")
        for run in runs
    ]
    assert opened[0] == opened[1] and len(opened[0]) > 400
    flows = [[run.recorder.counters[f"instance.maglev-{i}.flows"] for i in (1, 2)] for run in runs]
    assert flows[0] == flows[1]  # the L4 tier is the same in both variants


def test_without_topology_the_star_is_built() -> None:
    assert type(build_variant(load_scenario("quickstart"), "l4")) is VariantBuild


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ("topology.tiers.maglev.balancer.mode=nat", "topology.tiers.0.instances"),
        (
            "topology.tiers.maglev.balancer.health_check={kind: http}",
            "topology.tiers.0.balancer.health_check.kind",
        ),
    ],
)
def test_what_is_not_run_yet_is_refused_with_its_key(override: str, path: str) -> None:
    from lbsim.sim import check_buildable

    sc = load_scenario("two_tier", [override])
    with pytest.raises(ScenarioError) as info:
        check_buildable(sc)
    assert info.value.path == path


def _one_tier(mode: str, instances: int, reach: str) -> list[str]:
    """Overrides turning two_tier into one L4 tier (the variant) before the services."""
    return [
        "duration=2s",
        "warmup=0.5s",
        f"balancers=[{{name: l4, layer: 4, mode: {mode}, algorithm: maglev}}]",
        f"topology.tiers=[{{name: l4tier, balancer: variant, instances: {instances}, "
        f"reach: {reach}}}]",
        "topology.links=[{from: site-east, to: edge}, {from: site-west, to: edge}, "
        "{from: edge, to: l4tier}, {from: l4tier, to: api}, {from: l4tier, to: static}]",
    ]


@pytest.mark.parametrize(
    ("mode", "instances", "reach"), [("nat", 1, "vip"), ("proxy", 3, "ecmp"), ("dsr", 2, "ecmp")]
)
def test_a_single_l4_tier_runs_in_every_mode(mode: str, instances: int, reach: str) -> None:
    from lbsim.sim import check_buildable

    sc = load_scenario("two_tier", _one_tier(mode, instances, reach))
    check_buildable(sc)
    build = build_variant(sc, "l4")
    run = build.run()
    outcomes = Counter(r.outcome for r in run.recorder.requests)
    assert outcomes == {"ok": len(run.recorder.requests)} and len(run.recorder.requests) > 500
    assert sum(b.served for b in build.backends) == len(run.recorder.requests)
    assert all(r.unroutable == 0 for r in build.routers.values())


@pytest.mark.parametrize(
    ("mode", "instances", "path"),
    [("nat", 2, "topology.tiers.0.instances")],
)
def test_what_a_single_tier_cannot_run_yet_is_refused(mode: str, instances: int, path: str) -> None:
    from lbsim.sim import check_buildable

    sc = load_scenario("two_tier", _one_tier(mode, instances, "ecmp"))
    with pytest.raises(ScenarioError) as info:
        check_buildable(sc)
    assert info.value.path == path
