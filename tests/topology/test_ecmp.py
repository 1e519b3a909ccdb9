"""ECMP at a router: flows spread evenly, stay put, and only a failed hop's flows move."""

from __future__ import annotations

import random

import simpy

from lbsim.net.addresses import VIP, VIP_PORT, client_address
from lbsim.net.link import Link
from lbsim.net.segment import SYN, Segment
from lbsim.run.ecmp import BUCKETS_PER_HOP, Router
from lbsim.streams import stream_seed

FLOWS = 30_000
HOPS = 3


def _router(hops: int = HOPS) -> tuple[simpy.Environment, Router, list[Link]]:
    env = simpy.Environment()
    links = [
        Link(
            env, f"edge>l4-{i}", "client", latency=1e-5, bandwidth=1e10, mtu=1500, queue_bytes=10**9
        )
        for i in range(hops)
    ]
    router = Router("edge", stream_seed(1, "ecmp", "edge"))
    router.add_ecmp(VIP, links)
    return env, router, links


def _flows(n: int, seed: int = 7) -> list[Segment]:
    """SYNs of ``n`` distinct flows from random client hosts and ephemeral ports."""
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    out = []
    while len(out) < n:
        key = (client_address(rng.randrange(5000)), rng.randrange(32768, 61000))
        if key not in seen:
            seen.add(key)
            out.append(Segment(key[0], VIP, key[1], VIP_PORT, 0, 0, SYN, 65535, 0))
    return out


def test_flows_spread_within_tolerance_of_uniform() -> None:
    # Each flow lands on hop i with probability 1/3 if the hash is uniform; the
    # standard deviation of a share over 30 000 flows is sqrt(p(1-p)/n) = 0.0027,
    # so a tolerance of 0.015 (5.5 standard deviations) cannot fail by chance but
    # catches any real bias (a hash that ignored the port would put 5000 hosts'
    # flows in lumps, and a broken bucket table skews a share by 1/3).
    _env, router, _links = _router()
    for seg in _flows(FLOWS):
        router.receive(seg, 0.0)
    group = router.groups[VIP]
    shares = [n / FLOWS for n in group.forwarded]
    assert sum(group.forwarded) == FLOWS
    for share in shares:
        assert abs(share - 1 / HOPS) < 0.015, shares


def test_every_segment_of_a_flow_takes_the_same_hop() -> None:
    _env, router, _links = _router()
    group = router.groups[VIP]
    for seg in _flows(500):
        first = group.pick(seg)
        later = seg._replace(flags=0, seq=1000, length=500)
        assert group.pick(later) == first


def test_a_failed_hop_moves_only_its_own_flows_spread_over_the_rest() -> None:
    _env, router, _links = _router()
    group = router.groups[VIP]
    flows = _flows(FLOWS)
    before = [group.pick(seg) for seg in flows]
    moved_buckets = group.fail(1)
    assert moved_buckets == BUCKETS_PER_HOP
    after = [group.pick(seg) for seg in flows]
    kept = [b == a for b, a in zip(before, after, strict=True) if b != 1]
    assert all(kept)  # flows on surviving hops keep their path
    moved = [a for b, a in zip(before, after, strict=True) if b == 1]
    assert 1 not in after
    # The failed hop's flows split evenly over the two survivors (buckets handed
    # out round robin): each share within 0.03 of 1/2 (about 5 standard deviations
    # for the ~10 000 moved flows).
    assert abs(moved.count(0) / len(moved) - 0.5) < 0.03


def test_unroutable_segments_are_counted_not_sent() -> None:
    _env, router, links = _router()
    seg = Segment(client_address(0), client_address(1), 1, 2, 0, 0, SYN, 0, 0)
    router.receive(seg, 0.0)
    assert router.unroutable == 1
    assert all(link.sent == 0 for link in links)


def test_segments_are_delivered_over_the_chosen_link() -> None:
    env, router, links = _router()
    got: list[tuple[str, Segment]] = []
    for link in links:
        link.attach(lambda seg, now, name=link.name: got.append((name, seg)))
    flows = _flows(30)
    for seg in flows:
        router.receive(seg, 0.0)
    env.run()
    group = router.groups[VIP]
    assert sorted(got, key=lambda x: flows.index(x[1])) == [
        (links[group.pick(seg)].name, seg) for seg in flows
    ]
