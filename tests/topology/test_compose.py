"""Tiers compose: two L7 tiers, a proxy or a single NAT in front, a DSR last tier,
``reach: dns``; who answers whom; and every stack that is not run is refused with its key."""

from __future__ import annotations

from collections import Counter

import pytest

from lbsim.net.addresses import VIP, ip_from_str, ip_to_str, tier_address
from lbsim.run.dns import dns_address
from lbsim.run.runs import build_variant
from lbsim.run.tiers import TieredBuild
from lbsim.scenario import ScenarioError, load_scenario

SHORT = ["duration=2s", "warmup=0.5s"]


def _run(name: str, overrides: list[str], variant: str, **kw: bool) -> TieredBuild:
    build = build_variant(load_scenario(name, [*SHORT, *overrides]), variant, **kw)
    assert isinstance(build, TieredBuild)
    build.run()
    return build


def _all_ok(build: TieredBuild) -> int:
    requests = build.recorder.requests
    assert Counter(r.outcome for r in requests) == {"ok": len(requests)}
    assert sum(b.served for b in build.backends) == len(requests)
    assert all(r.unroutable == 0 for r in build.routers.values())
    return len(requests)


def _address(endpoint: str) -> int:
    return ip_from_str(endpoint.split(":")[0])


@pytest.fixture(scope="module")
def mesh() -> TieredBuild:
    return _run("mesh", [], "round_robin")


def test_two_l7_tiers_complete_every_request(mesh: TieredBuild) -> None:
    assert _all_ok(mesh) > 2000


def test_two_l7_tiers_count_every_request_once_per_tier(mesh: TieredBuild) -> None:
    counters = mesh.counters(mesh.scenario.duration)
    edge = sum(counters[f"instance.edge-proxies-{i}.requests"] for i in (1, 2))
    sidecars = sum(counters[f"instance.sidecars-{i}.requests"] for i in (1, 2, 3))
    assert edge == sidecars == sum(b.served for b in mesh.backends)


def test_two_l7_tiers_each_hop_is_its_own_connection(mesh: TieredBuild) -> None:
    edges = {tier_address(0, i) for i in (1, 2)}
    sidecars = {tier_address(1, j) for j in (1, 2, 3)}
    backends = {r.ip for r in mesh.refs}
    pairs = Counter()
    for record in mesh.recorder.connections:
        src, dst = _address(record.src), _address(record.dst)
        if record.side == "client":
            assert dst == VIP  # clients connect to the VIP only
            continue
        kind = (
            "edge>sidecar"
            if src in edges and dst in sidecars
            else "sidecar>backend"
            if src in sidecars and dst in backends
            else f"{ip_to_str(src)}>{ip_to_str(dst)}"
        )
        pairs[kind] += 1
    assert set(pairs) == {"edge>sidecar", "sidecar>backend"}
    assert pairs["edge>sidecar"] >= 2 and pairs["sidecar>backend"] >= 3


@pytest.mark.parametrize(
    ("overrides", "front"),
    [
        (["topology.tiers.maglev.balancer.mode=proxy"], "proxy"),
        (["topology.tiers.maglev.balancer.mode=nat", "topology.tiers.maglev.instances=1"], "nat"),
        (
            ["topology.tiers.maglev.balancer.mode=nat", "topology.tiers.maglev.source_nat=true"],
            "full-nat",
        ),
    ],
)
def test_an_l4_proxy_or_single_nat_tier_in_front_of_l7(overrides: list[str], front: str) -> None:
    build = _run("two_tier", overrides, "round_robin", trace_segments=True)
    assert _all_ok(build) > 500
    maglev = {tier_address(0, i) for i in (1, 2)}
    proxies = {tier_address(1, j) for j in (1, 2, 3)}
    into = [
        s
        for s in build.recorder.segments
        if s.link.startswith("maglev-") and s.link.split(">")[1].startswith("proxies-")
    ]
    assert into and all(_address(s.dst) in proxies and s.dport == 8080 for s in into)
    if front in ("proxy", "full-nat"):  # the L7 instances see the tier in front
        assert all(_address(s.src) in maglev for s in into)
    else:  # NAT rewrites the destination only: the L7 tier sees the clients' addresses
        assert all(_address(s.src) >> 22 == (100 << 2 | 1) for s in into)


def _one_dsr_tier(extra: list[str]) -> list[str]:
    return [
        "balancers=[{name: l4, layer: 4, mode: dsr, algorithm: maglev}]",
        "topology.tiers=[{name: l4tier, balancer: variant, instances: 2, reach: ecmp}]",
        "topology.links=[{from: site-east, to: edge}, {from: site-west, to: edge}, "
        "{from: edge, to: l4tier}, {from: l4tier, to: api}, {from: l4tier, to: static}]",
        *extra,
    ]


@pytest.fixture(scope="module")
def dsr() -> TieredBuild:
    return _run("two_tier", _one_dsr_tier([]), "l4", trace_segments=True)


def test_a_dsr_last_tier_tunnels_in_and_backends_answer_the_clients(dsr: TieredBuild) -> None:
    assert _all_ok(dsr) > 500
    segments = dsr.recorder.segments
    backend_names = {r.name for r in dsr.refs}
    tunnelled = [s for s in segments if s.link.split(">")[0] in ("l4tier-1", "l4tier-2")]
    into_service = [s for s in tunnelled if s.link.split(">")[1] in ("api", "static")]
    # Forward: the client's packets, VIP unchanged, to the backends' service routers.
    assert into_service and all(_address(s.dst) == VIP for s in into_service)
    assert sum(d.delivered for d in dsr.decaps) == sum(not s.dropped for s in into_service)
    # Return: a backend answers from the VIP, straight to the client's address.
    replies = [s for s in segments if s.link.split(">")[0] in backend_names]
    assert replies and all(_address(s.src) == VIP for s in replies)
    assert all(_address(s.dst) >> 22 == (100 << 2 | 1) for s in replies)
    # The tier's tables saw only the clients' direction: nothing came back to them.
    assert all(lb.counters()["lb.stray_segments"] == 0 for lb in dsr.tiers["l4tier"])


def test_a_dsr_last_tier_keeps_segments_within_a_small_mtu_hop() -> None:
    build = _run(
        "two_tier",
        _one_dsr_tier(["topology.links.2.mtu=1000"]),
        "l4",
        trace_segments=True,
    )
    _all_ok(build)
    big = max(s.payload for s in build.recorder.segments)
    assert big == 1000 - 40  # the 20 KB responses fill every segment to the path's MSS


def test_path_mtu_is_the_connections_own_path() -> None:
    """A 1200-byte hop between the L4 and the L7 tier: the client connections (which
    cross it) carry at most 1160 bytes a segment; the proxies' connections to the
    backends (which do not) keep 1460."""
    build = _run("two_tier", ["topology.links.3.mtu=1200"], "round_robin", trace_segments=True)
    _all_ok(build)
    client = [s.payload for s in build.recorder.segments if s.side == "client"]
    backend = [s.payload for s in build.recorder.segments if s.side == "backend"]
    assert max(client) == 1160
    assert max(backend) == 1460


def test_dns_rotation_spreads_hosts_evenly_over_instances() -> None:
    """``reach: dns`` over 3 edge proxies, answers kept 0.5 s by 40 client hosts.

    The server's rotation puts each address first in exactly a third of the
    answers (within one); connections follow the hosts' cached answers, so their
    spread is within 15 % of a third (about 800 connections: one standard
    deviation of a uniform multinomial share is 1.7 %).
    """
    build = _run(
        "mesh",
        [
            "topology.tiers.edge-proxies.instances=3",
            "topology.tiers.edge-proxies.reach=dns",
            "topology.tiers.edge-proxies.dns_ttl=0.5s",
            "clients.east.hosts=20",
            "clients.west.hosts=20",
        ],
        "round_robin",
    )
    _all_ok(build)
    assert build.dns is not None
    firsts = list(build.dns.first.values())
    assert max(firsts) - min(firsts) <= 1 and build.dns.queries >= 80
    per = Counter(_address(r.dst) for r in build.recorder.connections if r.side == "client")
    assert set(per) == {dns_address(i) for i in (1, 2, 3)}
    total = sum(per.values())
    assert total > 500
    for count in per.values():
        assert abs(count / total - 1 / 3) < 0.15 / 3


def test_dns_with_no_caching_rotates_connection_by_connection() -> None:
    build = _run(
        "mesh",
        [
            "topology.tiers.edge-proxies.instances=3",
            "topology.tiers.edge-proxies.reach=dns",
            "topology.tiers.edge-proxies.dns_ttl=0s",
        ],
        "round_robin",
    )
    _all_ok(build)
    per = Counter(_address(r.dst) for r in build.recorder.connections if r.side == "client")
    assert max(per.values()) - min(per.values()) <= 1


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        (["topology.tiers.maglev.balancer.mode=nat"], "topology.tiers.0.instances"),
        (
            ["topology.tiers.maglev.balancer={layer: 7, algorithm: round_robin}",
             "balancers.round_robin.mode=dsr", "balancers.round_robin.layer=4",
             "balancers.round_robin.routes=null", "balancers.least_request.mode=dsr",
             "balancers.least_request.layer=4", "balancers.least_request.routes=null",
             "balancers.least_request.algorithm=maglev"],
            "topology.tiers.1.balancer",
        ),
        (
            ["topology.tiers.maglev.balancer.mode=nat", "topology.tiers.maglev.instances=1",
             "balancers.round_robin.mode=dsr", "balancers.round_robin.layer=4",
             "balancers.round_robin.routes=null", "balancers.least_request.mode=dsr",
             "balancers.least_request.layer=4", "balancers.least_request.routes=null",
             "balancers.least_request.algorithm=maglev"],
            "topology.tiers.0.balancer",
        ),
        (["topology.tiers.maglev.reach=dns"], "topology.tiers.0.reach"),
        (
            ["topology.tiers.maglev.balancer={layer: 7, algorithm: round_robin, groups: [api]}"],
            "topology.tiers.0.balancer",
        ),
        (
            ["topology.tiers.maglev.balancer.mode=proxy", "clients.east.tls=1.3"],
            "balancers.0.layer",
        ),
        (
            [*_one_dsr_tier([]),
             "topology.routers=[{name: edge}, {name: core}]",
             "topology.links=[{from: site-east, to: edge}, {from: site-west, to: edge}, "
             "{from: edge, to: l4tier}, {from: l4tier, to: core}, {from: core, to: api}, "
             "{from: core, to: static}]"],
            "topology.tiers.0.balancer",
        ),
    ],
    ids=["nat-several", "l4-behind-l7", "nat-before-dsr", "dns-dsr", "front-routes",
         "tls-to-l7-without-cert", "dsr-tunnel-needs-link"],
)  # fmt: skip
def test_every_stack_that_is_not_run_is_refused_with_its_key(
    overrides: list[str], path: str
) -> None:
    from lbsim.sim import check_buildable

    sc = load_scenario("two_tier", overrides)
    with pytest.raises(ScenarioError) as info:
        check_buildable(sc)
    assert info.value.path == path


def test_a_refused_stack_exits_2_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    from lbsim.cli import main

    code = main(["check", "two_tier", "--set", "topology.tiers.maglev.reach=dns"])
    err = capsys.readouterr().err
    assert code == 2 and "topology.tiers.0.reach" in err and "dsr" in err
    assert "Traceback" not in err


def test_mesh_variants_run_on_the_same_workload(mesh: TieredBuild) -> None:
    """Common random numbers: the other variant (another sidecar algorithm) opens the
    same client connections at the same times, and the edge tier (the same in both)
    receives the same flows."""
    other = _run("mesh", [], "least_request")
    runs = (mesh, other)
    opened = [
        sorted((r.src, r.t_open) for r in b.recorder.connections if r.side == "client")
        for b in runs
    ]
    assert opened[0] == opened[1] and len(opened[0]) > 300
    flows = [
        [b.counters(b.scenario.duration)[f"instance.edge-proxies-{i}.flows"] for i in (1, 2)]
        for b in runs
    ]
    assert flows[0] == flows[1]


def _nat_tier(instances: int, source_nat: bool) -> list[str]:
    return [
        "balancers=[{name: l4, layer: 4, mode: nat, algorithm: maglev}]",
        f"topology.tiers=[{{name: l4tier, balancer: variant, instances: {instances}, "
        f"reach: ecmp, source_nat: {str(source_nat).lower()}}}]",
        "topology.links=[{from: site-east, to: edge}, {from: site-west, to: edge}, "
        "{from: edge, to: l4tier}, {from: l4tier, to: api}, {from: l4tier, to: static}]",
    ]


def test_a_full_nat_tier_of_several_instances_gets_its_replies_back() -> None:
    """Full NAT over 3 instances behind ECMP: every request completes, each backend
    sees only instances' addresses, and each reply reaches the instance that placed
    the connection (no stray segment anywhere)."""
    build = _run("two_tier", _nat_tier(3, True), "l4", trace_segments=True)
    assert _all_ok(build) > 500
    instances = {tier_address(0, i) for i in (1, 2, 3)}
    backend_names = {r.name for r in build.refs}
    to_backends = [s for s in build.recorder.segments if s.link.split(">")[1] in backend_names]
    assert to_backends and {_address(s.src) for s in to_backends} == instances
    from_backends = [s for s in build.recorder.segments if s.link.split(">")[0] in backend_names]
    assert {_address(s.dst) for s in from_backends} == instances
    lbs = build.tiers["l4tier"]
    assert all(lb.counters()["lb.stray_segments"] == 0 for lb in lbs)
    # Replies went back to the instance whose address they carry.
    for s in build.recorder.segments:
        sender, receiver = s.link.split(">")
        if receiver.startswith("l4tier-") and sender in ("api", "static"):
            assert _address(s.dst) == tier_address(0, int(receiver.rsplit("-", 1)[1]))
    # One source port per connection in the table: released when its entry goes.
    for lb in lbs:
        assert lb.snat is not None
        assert sum(len(ports) for ports in lb.snat.in_use.values()) == len(list(lb.table))


def test_source_nat_only_on_a_nat_tier() -> None:
    from lbsim.sim import check_buildable

    sc = load_scenario("two_tier", ["topology.tiers.maglev.source_nat=true"])
    with pytest.raises(ScenarioError) as info:
        check_buildable(sc)
    assert info.value.path == "topology.tiers.0.source_nat"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_an_l7_tier_reads_the_proxy_header_of_an_l4_proxy_tier(version: str) -> None:
    """The L7 tier takes the client's address from the PROXY header, not the proxy's."""
    front = [
        "topology.tiers.maglev.balancer.mode=proxy",
        f"topology.tiers.maglev.balancer.proxy_protocol={version}",
    ]
    build = _run("two_tier", front, "round_robin")
    assert _all_ok(build) > 500
    proxies = {ip_to_str(tier_address(1, j)) for j in (1, 2, 3)}
    maglev = {ip_to_str(tier_address(0, i)) for i in (1, 2)}
    for r in build.recorder.requests:
        assert r.client_ip_seen in proxies
        # one X-Forwarded-For entry: the client's own address (100.64.0.0/10), not the L4 proxy's
        assert r.forwarded_for is not None and "," not in r.forwarded_for
        assert r.forwarded_for not in maglev
        assert ip_from_str(r.forwarded_for) >> 22 == (100 << 2 | 1)


def test_without_the_proxy_header_the_l7_tier_sees_the_l4_proxy() -> None:
    build = _run("two_tier", ["topology.tiers.maglev.balancer.mode=proxy"], "round_robin")
    maglev = {ip_to_str(tier_address(0, i)) for i in (1, 2)}
    assert {r.forwarded_for for r in build.recorder.requests} <= maglev
