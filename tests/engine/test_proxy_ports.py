"""A proxy's backend connections take source ports from its own allocator.

A splicing proxy (and an L7 proxy) opens a new TCP connection to the backend;
its source port is the proxy's choice, not a copy of the client's, so a capture
of the two sides shows two different connections.
"""

from __future__ import annotations

import pytest

from lbsim.scenario import load_scenario
from lbsim.sim import run_variant


@pytest.mark.parametrize("name", ["proxy_cold", "l7"])
def test_backend_side_source_ports_are_the_proxys_own(name: str) -> None:
    scenario = load_scenario("l4_modes", ["duration=1s", "warmup=0s"])
    conns = run_variant(scenario, name).recorder.connections
    client = {int(c.src.rsplit(":", 1)[1]) for c in conns if c.side == "client"}
    backend = [int(c.src.rsplit(":", 1)[1]) for c in conns if c.side == "backend"]
    assert len(client) > 5 and len(backend) > 5
    (balancer,) = [b for b in scenario.balancers if b.name == name]
    assert balancer.source_ports is not None
    low, high = balancer.source_ports
    assert all(low <= p <= high for p in backend)
    assert not client & set(backend)  # no backend connection reuses a client's port
    assert len(set(backend)) == len(backend)  # and each has a port of its own
