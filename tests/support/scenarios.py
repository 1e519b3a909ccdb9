"""Small scenario builders for tests: dictionaries in, validated scenarios out."""

from __future__ import annotations

import copy
from typing import Any

from lbsim.scenario import Scenario, parse_scenario

#: A network so fast that it adds (almost) nothing: for queueing validation.
NEGLIGIBLE_NETWORK: dict[str, Any] = {
    "client_link": {"latency": "0s", "bandwidth": "1000Gbps", "mtu": 1500},
    "backend_link": {"latency": "0s", "bandwidth": "1000Gbps", "mtu": 1500},
}
#: A balancer that spends no CPU at all (every cost zero).
FREE = {
    "per_segment": "0s",
    "per_request": "0s",
    "per_header_byte": "0s",
    "per_route_rule": "0s",
    "per_cache_lookup": "0s",
}


def scenario(**overrides: Any) -> Scenario:
    """A minimal valid scenario; keyword arguments replace top-level keys."""
    data: dict[str, Any] = {
        "name": "test",
        "seed": 1,
        "duration": "10s",
        "network": {
            "client_link": {"latency": "10ms", "bandwidth": "100Mbps"},
            "backend_link": {"latency": "1ms", "bandwidth": "10Gbps"},
        },
        "backends": [{"group": "web", "count": 1, "workers": 1, "service_time": "exp(10ms)"}],
        "clients": [
            {
                "name": "c",
                "count": 1,
                "requests": [{"path": "/", "size": "400B", "response": "1000B"}],
            }
        ],
        "balancers": [
            {"name": "l4", "layer": 4, "algorithm": "round_robin"},
            {"name": "l7", "layer": 7, "algorithm": "round_robin"},
        ],
    }
    data.update(copy.deepcopy(overrides))
    return parse_scenario(data, source="<test>")


def queueing_scenario(
    *, rate: float, mean_service: float, workers: int, duration: float, seed: int
) -> Scenario:
    """Open-loop Poisson requests, one per connection, to one exponential server."""
    return scenario(
        seed=seed,
        duration=f"{duration}s",
        warmup=f"{duration * 0.05}s",
        drain="1000s",
        network=NEGLIGIBLE_NETWORK,
        backends=[
            {
                "group": "web",
                "count": 1,
                "workers": workers,
                "service_time": f"exp({mean_service * 1000}ms)",
            }
        ],
        clients=[
            {
                "name": "poisson",
                "rate": f"{rate}/s",
                "hosts": 16,
                "requests": [{"path": "/", "size": "200B", "response": "200B"}],
            }
        ],
        balancers=[{"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE}],
    )


def per_request_scenario(
    *, algorithm: str, backends: int, rho: float, mean_service: float, duration: float, seed: int
) -> Scenario:
    """Poisson requests over long-lived multiplexed connections to an L7 balancer.

    Each of ``backends`` identical backends has one worker and exponential service;
    the network and the balancer cost nothing, so each backend is a queue fed by
    the balancer's per-request choices (docs/validation.md, "Per-request balancing").
    """
    rate = rho * backends / mean_service
    return scenario(
        seed=seed,
        duration=f"{duration}s",
        warmup=f"{duration * 0.1}s",
        drain="60s",
        network=NEGLIGIBLE_NETWORK,
        backends=[
            {
                "group": "web",
                "count": backends,
                "workers": 1,
                "service_time": f"exp({mean_service * 1000}ms)",
            }
        ],
        clients=[
            {
                "name": "poisson",
                "rate": f"{rate}/s",
                "protocol": "multiplexed",
                "connections": 16,
                "hosts": 16,
                "requests_per_connection": 100_000_000,
                "requests": [{"path": "/", "size": "200B", "response": "200B"}],
            }
        ],
        balancers=[
            {
                "name": "l7",
                "layer": 7,
                "algorithm": algorithm,
                "costs": FREE,
                "pool": {"warm": 4},
            }
        ],
    )


def tiny_sweep_yaml(*, seed: int = 3, browsers: int = 2, response: str = "2KB") -> str:
    """A one-second L4-vs-L7 scenario file, small enough to sweep many times in a test."""
    return f"""\
name: tiny
seed: {seed}
duration: 1s
warmup: 0.2s
network:
  client_link:  {{latency: 1ms, bandwidth: 100Mbps, mtu: 1500}}
  backend_link: {{latency: 0.1ms, bandwidth: 10Gbps, mtu: 9000}}
backends:
  - {{group: web, count: 2, workers: 2, service_time: exp(5ms)}}
clients:
  - name: browsers
    count: {browsers}
    requests_per_connection: 3
    think_time: exp(50ms)
    requests:
      - {{method: GET, path: /index.html, size: 400B, response: {response}}}
balancers:
  - {{name: l4, layer: 4, algorithm: round_robin}}
  - {{name: l7, layer: 7, algorithm: least_request}}
"""
