"""``Scenario.to_yaml()``: the resolved scenario with units, loadable back unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbsim.scenario import Scenario, list_bundled, load_scenario, parse_scenario

Minimal = Callable[..., dict[str, Any]]

EVERYTHING = """\
name: everything
description: "uses every key, family and unit: a round-trip torture test"
seed: 42
duration: 2h
warmup: 90s
drain: 1.5s
tcp: {initial_window: 4, receive_window: 64KiB, initial_rto: 3s, min_rto: 1ms,
      max_rto: 2min, time_wait: 0}
network:
  client_link: {latency: 12.5ms, bandwidth: 56Kbps, mtu: 576, queue: 1.5KB}
  backend_link: {latency: 0, bandwidth: 1.5Tbps, mtu: 65535, queue: 1GiB}
backends:
  - {group: web, count: 3, workers: 2, service_time: "erlang(k=4, mean=5ms)",
     weight: 2.5, queue_limit: 0}
  - {group: api_v2, service_time: "hyperexp(mean=1ms, cv=3.5)", queue_limit: 100}
  - {group: slow-db, service_time: "pareto(mean=50ms, alpha=1.5)"}
clients:
  - name: browsers
    count: 7
    hosts: 3
    requests_per_connection: 100
    think_time: "uniform(0.1s, 2s)"
    requests:
      - {method: POST, path: "/upload/{n}", weight: 0.25, size: "exp(1MiB)",
         response: 0, service_time: "lognormal(mean=20ms, cv=0.333)", ids: 7}
      - {path: /, response: "uniform(1KB, 1.5KB)"}
  - name: crawler
    rate: 5/min
    think_time: 333us
    requests:
      - {method: HEAD, path: /robots.txt, response: 123B}
balancers:
  - {name: l4, layer: 4, mode: proxy, algorithm: maglev, groups: [web, api_v2], cores: 4,
     params: {table_size: 251}, source_ports: 40000-40999,
     pool: {warm: 2, max: 2, idle_timeout: 90s, refill: false},
     costs: {per_segment: 0.5us, per_request: 0}}
  - {name: l4nat, layer: 4, algorithm: round_robin, mss_clamp: false,
     table: {capacity: 1000, timeouts: {established: 300s, close: 5s}}}
  - name: l7
    layer: 7
    algorithm: peak_ewma
    routes:
      - {match: {path_prefix: /upload/}, group: slow-db}
      - {match: {path_prefix: /}, group: api_v2}
      - {group: web}
"""


def _round_trip(scenario: Scenario) -> Scenario:
    return parse_scenario(yaml.safe_load(scenario.to_yaml()), source="dumped")


def test_example_round_trip(example_path: Path) -> None:
    scenario = load_scenario(example_path)
    again = _round_trip(scenario)
    assert again == scenario
    assert again.to_yaml() == scenario.to_yaml()


def test_everything_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "everything.yaml"
    path.write_text(EVERYTHING)
    scenario = load_scenario(path)
    assert _round_trip(scenario) == scenario


def test_minimal_round_trip(minimal: Minimal) -> None:
    scenario = parse_scenario(minimal())
    assert _round_trip(scenario) == scenario


@pytest.mark.parametrize("name", list_bundled())
def test_bundled_round_trip(name: str) -> None:
    scenario = load_scenario(name)
    assert _round_trip(scenario) == scenario


def test_dump_uses_human_units(example_path: Path) -> None:
    text = load_scenario(example_path).to_yaml()
    for fragment in (
        "duration: 60s",
        "latency: 10ms",
        "bandwidth: 100Mbps",
        "latency: 200us",
        "receive_window: 4MiB",
        "service_time: exp(5ms)",
        "rate: 5/s",
        "response: 20KB",
        "per_request: 20us",
    ):
        assert fragment in text
    assert "e-0" not in text  # no floats such as 1e-06


def test_dump_shows_resolved_defaults(minimal: Minimal) -> None:
    dumped = yaml.safe_load(parse_scenario(minimal()).to_yaml())
    balancer = dumped["balancers"][0]
    assert balancer["mode"] == "nat"
    assert balancer["costs"] == {
        "per_segment": "1us",
        "per_request": "0s",
        "per_header_byte": "0s",
        "per_route_rule": "0s",
        "per_cache_lookup": "0s",
    }
    assert dumped["clients"][0]["hosts"] == 1
    assert dumped["drain"] == "30s"
    assert dumped["tcp"]["initial_window"] == 10
    assert "routes" not in balancer  # None values are left out
