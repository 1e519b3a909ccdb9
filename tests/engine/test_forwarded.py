"""What address a backend sees, per forwarding mode, and the L7 forwarded-for headers.

NAT and DSR forward the client's own packets, so the backend's peer is the
client; a splicing proxy and an L7 proxy open their own connections, so the peer
is the balancer's inside address -- and only the L7 proxy, which writes into the
request, can hand the client's address on in ``X-Forwarded-For``.
"""

from __future__ import annotations

from collections import Counter

import pytest

from lbsim.app.http import HttpRequest
from lbsim.lb.forwarded import forwarded_request
from lbsim.net.addresses import LB_INSIDE, ip_from_str, ip_to_str
from lbsim.records import RequestRecord
from lbsim.scenario import ScenarioError, load_scenario
from lbsim.sim import run_variant

SETS = ["duration=1s", "warmup=0s"]


def _served(name: str, *sets: str) -> list[RequestRecord]:
    scenario = load_scenario("l4_modes", [*SETS, *sets])
    run = run_variant(scenario, name)
    served = [r for r in run.recorder.requests if r.backend is not None]
    assert len(served) > 20
    return served


@pytest.mark.parametrize("mode", ["nat", "dsr"])
def test_nat_and_dsr_backends_see_the_client(mode: str) -> None:
    for r in _served(mode):
        assert r.client_ip_seen is not None and r.client_ip_seen.startswith("100.64.")
        assert r.forwarded_for is None


def test_proxy_backends_see_the_proxy_and_nothing_else() -> None:
    seen = Counter(r.client_ip_seen for r in _served("proxy"))
    assert seen == Counter({ip_to_str(LB_INSIDE): sum(seen.values())})
    assert all(r.forwarded_for is None for r in _served("proxy"))


def test_l7_backends_see_the_proxy_and_the_client_in_x_forwarded_for() -> None:
    served = _served("l7")
    assert {r.client_ip_seen for r in served} == {ip_to_str(LB_INSIDE)}
    # The same workload through NAT shows each request's client address as the peer.
    client_of = {r.request_id: r.client_ip_seen for r in _served("nat")}
    matched = [r for r in served if r.request_id in client_of]
    assert len(matched) > 20
    assert all(r.forwarded_for == client_of[r.request_id] for r in matched)


def test_l7_header_can_be_turned_off() -> None:
    served = _served("l7", "balancers.4.forwarded.x_forwarded_for=false")
    assert all(r.forwarded_for is None for r in served)


def test_forwarded_is_l7_only() -> None:
    with pytest.raises(ScenarioError, match="forwarded"):
        load_scenario("l4_modes", [*SETS, "balancers.0.forwarded.x_forwarded_for=true"])


def test_headers_append_through_tiers() -> None:
    req = HttpRequest("r1", "GET", "/", 300, 1000, 0.5, headers=(("User-Agent", "x"),))
    client, tier1, tier2 = (
        ip_from_str("100.64.0.7"),
        ip_from_str("10.0.0.1"),
        ip_from_str("10.9.0.1"),
    )
    first = forwarded_request(req, client, tier1, xff=True, forwarded=True)
    second = forwarded_request(first, tier1, tier2, xff=True, forwarded=True)
    assert dict(second.headers)["X-Forwarded-For"] == "100.64.0.7, 10.0.0.1"
    assert dict(second.headers)["Forwarded"] == (
        "for=100.64.0.7;by=10.0.0.1, for=10.0.0.1;by=10.9.0.1"
    )
    assert second.size == req.size and second.ctx is req.ctx  # same request, same notes
    assert forwarded_request(req, client, tier1, xff=False, forwarded=False) is req
    assert req.headers == (("User-Agent", "x"),)  # the client's request is untouched
