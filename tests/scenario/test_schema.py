"""The schema: resolved defaults, cross-references, and errors with exact key paths."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lbsim.lb.algorithms import ALGORITHMS_BY_LAYER
from lbsim.scenario import (
    L4_ALGORITHMS,
    L7_ALGORITHMS,
    Constant,
    CostConfig,
    Exponential,
    LogNormal,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
)

Minimal = Callable[..., dict[str, Any]]
ErrorFor = Callable[..., ScenarioError]


def test_example_loads_with_internal_units(example_path: Path) -> None:
    scenario = load_scenario(example_path)
    assert scenario.name == "quickstart_like"
    assert scenario.duration == 60.0
    assert scenario.warmup == 5.0
    link = scenario.network.client_link
    assert (link.latency, link.bandwidth, link.mtu, link.queue) == (0.01, 1e8, 1500, 1_000_000)
    assert scenario.network.backend_link.latency == 0.0002
    web, pictures = scenario.backends
    assert web.service_time == Exponential(0.005)
    assert pictures.service_time == LogNormal(0.02, 0.5)
    browsers = scenario.clients[0]
    assert browsers.count == 50
    assert browsers.requests[1].path == "/pictures/{n}"
    assert browsers.requests[0].response == Constant(20_000.0, kind="size")
    assert scenario.clients[1].rate == 5.0


def test_defaults_are_resolved(minimal: Minimal) -> None:
    scenario = parse_scenario(minimal())
    assert (scenario.seed, scenario.warmup, scenario.drain, scenario.description) == (1, 0, 30, "")
    tcp = scenario.tcp
    assert (tcp.initial_window, tcp.receive_window) == (10, 4 * 2**20)
    assert (tcp.initial_rto, tcp.min_rto, tcp.max_rto, tcp.time_wait) == (1.0, 0.2, 60.0, 60.0)
    assert scenario.network.client_link.mtu == 1500
    assert scenario.network.client_link.queue == 1_000_000
    backend = scenario.backends[0]
    assert (backend.count, backend.workers, backend.weight, backend.queue_limit) == (
        1,
        1,
        1.0,
        None,
    )
    client = scenario.clients[0]
    assert client.protocol == "http"
    assert client.requests_per_connection == 1
    assert client.think_time == Constant(0.0)
    assert client.hosts == 1  # closed loop: one address per user
    request = client.requests[0]
    assert (request.method, request.weight, request.ids, request.service_time) == (
        "GET",
        1.0,
        1000,
        None,
    )
    assert request.size == Constant(400.0, kind="size")
    balancer = scenario.balancers[0]
    assert balancer.mode == "nat"
    assert balancer.costs == CostConfig(per_segment="1us", per_request=0)
    assert (balancer.groups, balancer.routes, balancer.cores) == (None, None, 1)
    assert (balancer.pool.warm, balancer.pool.max, balancer.pool.idle_timeout) == (0, None, 60.0)


def test_layer_7_defaults(minimal: Minimal) -> None:
    data = minimal(balancers=[{"name": "proxy", "layer": 7, "algorithm": "p2c"}])
    balancer = parse_scenario(data).balancers[0]
    assert balancer.mode is None
    assert balancer.costs == CostConfig(
        per_segment="2us",
        per_request="20us",
        per_header_byte="25ns",
        per_route_rule="0.2us",
        per_cache_lookup="1us",
    )
    assert (balancer.costs.per_segment, balancer.costs.per_request) == (2e-6, 20e-6)


def test_partial_costs_are_completed_from_the_layer_defaults(minimal: Minimal) -> None:
    data = minimal(
        balancers=[
            {"name": "proxy", "layer": 7, "algorithm": "p2c", "costs": {"per_request": "100us"}}
        ]
    )
    costs = parse_scenario(data).balancers[0].costs
    assert costs == CostConfig(
        per_segment="2us",
        per_request="100us",
        per_header_byte="25ns",
        per_route_rule="0.2us",
        per_cache_lookup="1us",
    )


def test_open_loop_hosts_default(minimal: Minimal) -> None:
    clients = [{"name": "crowd", "rate": "80/s", "requests": [{"path": "/", "response": "1KB"}]}]
    client = parse_scenario(minimal(clients=clients)).clients[0]
    assert (client.count, client.rate, client.hosts) == (None, 80.0, 64)


def test_backend_names(minimal: Minimal) -> None:
    backends = [
        {"group": "web", "count": 3, "service_time": "5ms"},
        {"group": "db-replica", "count": 2, "service_time": "5ms"},
    ]
    scenario = parse_scenario(minimal(backends=backends))
    assert scenario.backend_names() == ("web-1", "web-2", "web-3", "db-replica-1", "db-replica-2")
    assert scenario.backends[1].instance_names() == ("db-replica-1", "db-replica-2")


@pytest.mark.parametrize("algorithm", L4_ALGORITHMS)
def test_every_layer_4_algorithm_is_accepted(minimal: Minimal, algorithm: str) -> None:
    data = minimal(balancers=[{"name": "lb", "layer": 4, "algorithm": algorithm}])
    assert parse_scenario(data).balancers[0].algorithm == algorithm


@pytest.mark.parametrize("algorithm", L7_ALGORITHMS)
def test_every_layer_7_algorithm_is_accepted(minimal: Minimal, algorithm: str) -> None:
    data = minimal(balancers=[{"name": "lb", "layer": 7, "algorithm": algorithm}])
    assert parse_scenario(data).balancers[0].algorithm == algorithm


def test_algorithm_lists() -> None:
    # The algorithm registry is the one definition of the names.
    assert ALGORITHMS_BY_LAYER[4] == L4_ALGORITHMS
    assert ALGORITHMS_BY_LAYER[7] == L7_ALGORITHMS


def test_models_are_frozen_and_hashable(example_path: Path) -> None:
    scenario = load_scenario(example_path)
    with pytest.raises(ValidationError):
        scenario.seed = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        scenario.network.client_link.mtu = 9000  # type: ignore[misc]
    assert isinstance(scenario.backends, tuple)
    assert hash(scenario) == hash(load_scenario(example_path))


def test_python_dump_gives_the_engine_plain_numbers(example_path: Path) -> None:
    dumped = load_scenario(example_path).model_dump()
    assert dumped["duration"] == 60.0
    assert dumped["network"]["client_link"]["bandwidth"] == 1e8
    assert dumped["backends"][0]["service_time"] == "exp(5ms)"  # text, not a dict of fields


def test_python_code_also_writes_units() -> None:
    # Units are explicit everywhere, also when models are built in Python.
    assert CostConfig(per_segment="1us", per_request=0).per_segment == 1e-6
    with pytest.raises(ValidationError, match="a number without a unit"):
        CostConfig(per_segment=1e-6, per_request=0)  # type: ignore[arg-type]


def test_tuples_and_lists_are_both_accepted(minimal: Minimal) -> None:
    data = minimal()
    data["backends"] = tuple(data["backends"])
    assert parse_scenario(data) == parse_scenario(minimal())


# Each case: overrides applied to the example, the expected key path, a message fragment.
ERROR_CASES: list[tuple[list[str], str, str]] = [
    # unknown keys at several depths (with the allowed keys listed)
    (["colour=blue"], "colour", 'unknown key "colour" (expected one of: name, description, seed,'),
    (
        ["network.client_link.latncy=1ms"],
        "network.client_link.latncy",
        'unknown key "latncy" (did you mean "latency"? '
        "expected one of: latency, bandwidth, mtu, queue, loss)",
    ),
    (
        ["clients.browsers.requests.0.bogus=1"],
        "clients.browsers.requests.0.bogus",
        "expected one of: method, path, weight, size, response, service_time, ids, zipf, headers",
    ),
    (
        ["balancers.l7.routes.pictures.match.host=a.example"],
        "balancers.l7.routes.pictures.match.host",
        'unknown key "host" (expected one of: path_prefix, path, methods, headers)',
    ),
    (["clients.browsers.tls=1.4"], "clients.browsers.tls.version", '"1.4"'),
    (
        ["balancers.l7.pool.size=3"],
        "balancers.l7.pool.size",
        "expected one of: warm, max, idle_timeout",
    ),
    # units
    (
        ["network.client_link.latency=10 parsecs"],
        "network.client_link.latency",
        'expected a duration with a unit such as "10ms" or "1.5s", got "10 parsecs"',
    ),
    (["network.client_link.latency=10"], "network.client_link.latency", "a number without a unit"),
    (["network.client_link.bandwidth=100MB"], "network.client_link.bandwidth", 'unknown unit "MB"'),
    (
        ["network.client_link.bandwidth=0Mbps"],
        "network.client_link.bandwidth",
        "must be greater than 0",
    ),
    (
        ["network.backend_link.queue=4 MBs"],
        "network.backend_link.queue",
        "expected a size with a unit",
    ),
    (
        ["network.client_link.latency=-1ms"],
        "network.client_link.latency",
        'must not be negative, got "-1ms"',
    ),
    (["clients.bots.rate=5"], "clients.bots.rate", 'expected a rate such as "80/s"'),
    (["tcp.receive_window=0"], "tcp.receive_window", "must be greater than 0"),
    (["duration=0s"], "duration", 'must be greater than 0, got "0s"'),
    # distributions
    (
        ["backends.web.service_time=expo(5ms)"],
        "backends.web.service_time",
        'unknown distribution "expo" '
        "(known: const, exp, uniform, lognormal, erlang, hyperexp, pareto)",
    ),
    (
        ["clients.browsers.think_time=exp(200)"],
        "clients.browsers.think_time",
        "the unit is missing",
    ),
    (
        ["clients.browsers.requests.1.response=exp(5ms)"],
        "clients.browsers.requests.1.response",
        "expected a size with a unit",
    ),
    (
        ["backends.pictures.service_time=5"],
        "backends.pictures.service_time",
        'expected a distribution such as "exp(5ms)"',
    ),
    # plain numbers and text
    (["clients.browsers.count=0"], "clients.browsers.count", "must be at least 1, got 0"),
    (
        ["clients.browsers.count=true"],
        "clients.browsers.count",
        "expected a whole number, got true",
    ),
    (
        ["clients.browsers.count='50'"],
        "clients.browsers.count",
        'expected a whole number, got "50"',
    ),
    (["backends.web.workers=2.5"], "backends.web.workers", "expected a whole number, got 2.5"),
    (["backends.web.weight=0"], "backends.web.weight", "must be greater than 0, got 0"),
    (["backends.web.weight=.nan"], "backends.web.weight", "expected a finite number"),
    (["network.backend_link.mtu=100"], "network.backend_link.mtu", "must be at least 576, got 100"),
    (["seed=-1"], "seed", "must be at least 0, got -1"),
    (["name=' '"], "name", "must not be empty"),
    (["clients.browsers.protocol=smtp"], "clients.browsers.protocol", '"smtp"'),
    (["balancers.l4.layer=3"], "balancers.l4.layer", "expected 4 or 7, got 3"),
    (["backends.web.group=web server"], "backends.0.group", "letters, digits"),
    (
        ["clients.browsers.requests.0.method=get"],
        "clients.browsers.requests.0.method",
        'an HTTP method in capitals such as "GET"',
    ),
    (
        ["clients.browsers.requests.0.path=index.html"],
        "clients.browsers.requests.0.path",
        'expected a path starting with "/"',
    ),
    (
        ["clients.browsers.requests.1.path=/p/{id}"],
        "clients.browsers.requests.1.path",
        'unknown placeholder "{id}"',
    ),
    (
        ["network.client_link=fast"],
        "network.client_link",
        "expected a mapping with keys (latency, bandwidth, mtu, queue, loss)",
    ),
    (["clients=[]"], "clients", "must have at least 1 item"),
    (["backends={web: 1}"], "backends", "expected a list"),
    # combinations inside one model
    (
        ["balancers.l4.routes=[{group: web}]"],
        "balancers.l4.routes",
        "a layer-4 balancer sees only IP addresses and ports, so it cannot route on paths, "
        "methods or headers (concept C6); use layer: 7",
    ),
    (["balancers.l7.mode=nat"], "balancers.l7.mode", "applies only to layer-4 balancers"),
    (
        ["balancers.l4.algorithm=least_request"],
        "balancers.l4.algorithm",
        'unknown layer-4 algorithm "least_request" (expected one of: round_robin, '
        "weighted_round_robin, least_connections, random, two_choices, source_hash, "
        "consistent_hash, maglev); it exists at layer 7",
    ),
    (
        ["balancers.l7.algorithm=least_connections"],
        "balancers.l7.algorithm",
        "expected one of: round_robin, weighted_round_robin, random, least_request, p2c, "
        "peak_ewma, consistent_hash, maglev); it exists at layer 4",
    ),
    (
        ["balancers.l4.costs.per_request=5us"],
        "balancers.l4.costs.per_request",
        "must be 0 at layer 4: a layer-4 balancer never parses requests",
    ),
    (["balancers.l4.mode=tunnel"], "balancers.l4.mode", '"tunnel"'),
    (["clients.browsers.rate=5/s"], "clients.browsers", "give either count"),
    (
        ["clients.bots.rate=null"],
        "clients.bots",
        'or rate (open loop: sessions per second, e.g. "80/s")',
    ),
    (
        ["network.client_link.queue=1KB"],
        "network.client_link.queue",
        "must hold at least one packet",
    ),
    (["tcp.min_rto=2min"], "tcp.min_rto", "must not exceed max_rto (60s)"),
    (
        ["tcp.initial_rto=100ms"],
        "tcp.initial_rto",
        "must lie between min_rto (200ms) and max_rto (60s)",
    ),
    (["balancers.l7.pool.warm=40"], "balancers.l7.pool.warm", "must not exceed max (32)"),
    (["balancers.l4.groups=[web, web]"], "balancers.l4.groups.1", 'group "web" is listed twice'),
    # references across the file
    (["warmup=60s"], "warmup", "must be shorter than duration (60s), got 60s"),
    (
        ["balancers.l4.groups=[web, videos]"],
        "balancers.l4.groups.1",
        'no backend group "videos" (backend groups: web, pictures)',
    ),
    (
        ["balancers.l7.routes.pictures.group=videos"],
        "balancers.l7.routes.videos.group",
        'no backend group "videos"',
    ),
    (["backends.pictures.group=web"], "backends.1.group", '"web" is already used by another entry'),
    (["clients.bots.name=browsers"], "clients.1.name", "names must be unique"),
    (["balancers.l7.name=l4"], "balancers.1.name", "names must be unique"),
]


@pytest.mark.parametrize(("overrides", "path", "message"), ERROR_CASES, ids=lambda v: str(v)[:60])
def test_errors_name_the_key_path(
    error_for: ErrorFor, overrides: list[str], path: str, message: str
) -> None:
    error = error_for(*overrides)
    assert error.file == "example.yaml"
    assert error.path == path
    assert message in error.message
    assert str(error).startswith(f"example.yaml: {path}: ")


@pytest.mark.parametrize(
    ("delete", "path"),
    [
        (("name",), "name"),
        (("duration",), "duration"),
        (("network",), "network"),
        (("network", "backend_link"), "network.backend_link"),
        (("network", "client_link", "bandwidth"), "network.client_link.bandwidth"),
        (("backends", 0, "service_time"), "backends.web.service_time"),
        (("clients", 0, "requests", 1, "response"), "clients.browsers.requests.1.response"),
        (("clients", 1, "name"), "clients.1.name"),
        (("balancers", 1, "layer"), "balancers.l7.layer"),
        (("balancers", 1, "routes", 0, "group"), "balancers.l7.routes.0.group"),
    ],
)
def test_missing_keys(
    error_for: ErrorFor, example_data: dict[str, Any], delete: tuple[Any, ...], path: str
) -> None:
    parent: Any = example_data
    for key in delete[:-1]:
        parent = parent[key]
    del parent[delete[-1]]
    error = error_for(data=example_data)
    assert error.path == path
    assert error.message.startswith("missing required key")


def test_error_text_is_one_human_line(error_for: ErrorFor) -> None:
    error = error_for("network.client_link.latency=10", "clients.browsers.count=many")
    text = str(error)
    assert "\n" not in text
    for noise in ("Traceback", "pydantic", "Value error", "errors.pydantic.dev", "input_value"):
        assert noise not in text


def test_first_problem_only_without_noise(error_for: ErrorFor) -> None:
    error = error_for("network.client_link.latency=10", "clients.browsers.count=many")
    assert error.path == "network.client_link.latency"
    assert "more problem" not in error.message
    error = error_for("seed=x", "warmup=x", "drain=x")
    assert "more problem" not in error.message


def test_scenario_error_without_path() -> None:
    error = ScenarioError("a.yaml", "", "the file is empty")
    assert str(error) == "a.yaml: the file is empty"
    assert str(ScenarioError("a.yaml", "seed", "bad\nvalue")) == "a.yaml: seed: bad value"


def test_scenario_error_survives_pickling(error_for: ErrorFor) -> None:
    # Sweeps run scenarios in other processes; their errors must cross back intact.
    error = error_for("clients.browsers.count=0")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.file, copy.path, copy.message) == (error.file, error.path, error.message)
    assert str(copy) == str(error)


def test_labels_fall_back_to_positions_for_unnamed_items(error_for: ErrorFor) -> None:
    error = error_for("clients.browsers.requests.1.weight=0")
    assert error.path == "clients.browsers.requests.1.weight"


def test_scenario_is_the_root_model() -> None:
    assert Scenario.model_config.get("frozen") is True
    assert Scenario.model_config.get("extra") == "forbid"


# ---- layer-4 modes, tables and protocols (issue 3) ----------------------------


def _l4(**balancer: object) -> dict:  # type: ignore[type-arg]
    return {
        "name": "t",
        "duration": "1s",
        "network": {
            "client_link": {"latency": "1ms", "bandwidth": "1Gbps"},
            "backend_link": {"latency": "1ms", "bandwidth": "1Gbps"},
        },
        "backends": [{"group": "web", "service_time": "1ms"}],
        "clients": [{"name": "c", "count": 1, "requests": [{"path": "/", "response": "1KB"}]}],
        "balancers": [{"name": "b", "layer": 4, "algorithm": "round_robin", **balancer}],
    }


def test_layer4_resolved_defaults_by_mode() -> None:
    from lbsim.scenario import parse_scenario

    nat = parse_scenario(_l4()).balancers[0]
    assert nat.mode == "nat" and nat.mss_clamp is True and nat.source_ports is None
    assert nat.table is not None and nat.table.timeouts.established == 900
    proxy = parse_scenario(_l4(mode="proxy")).balancers[0]
    assert proxy.mss_clamp is None and proxy.source_ports == (32768, 60999)


@pytest.mark.parametrize(
    ("balancer", "path", "words"),
    [
        ({"pool": {"warm": 2}}, "balancers.b.pool", "nat mode"),
        ({"mode": "dsr", "source_ports": "1000-2000"}, "balancers.b.source_ports", "dsr mode"),
        ({"mode": "proxy", "mss_clamp": True}, "balancers.b.mss_clamp", "proxy"),
        ({"source_ports": "9-3"}, "balancers.b.source_ports", "port range"),
        ({"table": {"capacity": 0}}, "balancers.b.table.capacity", ""),
    ],
)
def test_layer4_option_errors(balancer: dict, path: str, words: str) -> None:  # type: ignore[type-arg]
    from lbsim.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError) as err:
        parse_scenario(_l4(**balancer))
    assert err.value.path == path
    assert words in err.value.message


def test_layer7_rejects_table_and_raw_clients() -> None:
    from lbsim.scenario import ScenarioError, parse_scenario

    data = _l4()
    data["balancers"] = [{"name": "p", "layer": 7, "algorithm": "random", "table": {}}]
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    assert err.value.path == "balancers.p.table"
    data["balancers"] = [{"name": "p", "layer": 7, "algorithm": "random"}]
    data["clients"][0]["protocol"] = "raw"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    assert err.value.path == "balancers.p.layer" and "C20" in err.value.message


def test_streams_and_connections_belong_to_multiplexed_clients() -> None:
    from lbsim.scenario import ScenarioError, parse_scenario

    data = _l4()
    data["clients"][0]["streams"] = 4
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    assert err.value.path == "clients.c.streams"
    data["clients"][0]["protocol"] = "multiplexed"
    assert parse_scenario(data).clients[0].streams == 4


def test_algorithm_params_are_hashable_and_round_trip() -> None:
    from lbsim.scenario import parse_scenario

    sc = parse_scenario(_l4(algorithm="maglev", params={"table_size": 251}))
    assert sc.balancers[0].params == (("table_size", 251),)
    hash(sc)
    assert parse_scenario(__import__("yaml").safe_load(sc.to_yaml())) == sc
