"""``lbsim view`` on topologies: the page's model holds every element of the graph, and
its events go hop by hop through the instances the routers and tiers picked.

A page of two_tier (0.03 s of simulated time) is built once; its JSON model is read
back and checked against the scenario's graph and the run's own decision records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from viewer_model import page_model

from lbsim.scenario import load_scenario
from lbsim.scenario.topology_graph import build_graph
from lbsim.teach import view
from lbsim.teach.messages import request_id_of
from lbsim.teach.tier_trace import tier_path
from lbsim.teach.trace import trace_variant

SETS = ["duration=0.2s", "warmup=0s"]
WINDOW = (0.0, 0.03)
VIP = "203.0.113.10"


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    return page_model(view(load_scenario("two_tier", SETS), ["round_robin"], window=WINDOW).html)


def _events(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of the first variant as records (strings resolved)."""
    v, s = model["variants"][0], model["strings"]
    e = v["events"]
    named = ("from", "at", "conn", "fl", "kind", "dst")
    return [
        {
            **{k: s[e[k][i]] for k in named},
            **{k: e[k][i] for k in ("seq", "ack", "len", "out", "link")},
            "req": s[e["req"][i]] if e["req"][i] >= 0 else None,
        }
        for i in range(v["count"])
    ]


def test_model_has_every_element_of_the_graph(model: dict[str, Any]) -> None:
    sc = load_scenario("two_tier", SETS)
    topo = sc.topology
    assert topo is not None
    v = model["variants"][0]
    names = {n["name"]: n for n in v["nodes"]}
    graph = build_graph(topo)
    for node, kind in graph.nodes(data="kind"):
        if kind == "tier":
            for i in range(1, graph.nodes[node]["instances"] + 1):
                assert names[f"{node}-{i}"]["role"] == "balancer"
        else:
            assert names[node]["role"] == kind
    for group in sc.backends:
        for i in range(1, group.count + 1):
            assert names[f"{group.group}-{i}"]["role"] == "backend"
    assert [t["name"] for t in v["layout"]["tiers"]] == ["maglev", "proxies"]
    assert names["proxies-2"]["kind"] == "l7" and names["maglev-1"]["kind"] == "l4-dsr"
    # Requests flow left to right: each column of the graph further right.
    x = {n: names[n]["x"] for n in ("east-h0", "site-east", "edge", "maglev-1", "proxies-1")}
    assert list(x.values()) == sorted(x.values()) and len(set(x.values())) == len(x)
    assert names["api"]["x"] < names["api-1"]["x"]
    # Every event goes between two drawn elements.
    for ev in _events(model):
        assert ev["from"] in names and ev["at"] in names


def test_events_visit_the_instances_the_decisions_name(model: dict[str, Any]) -> None:
    v = model["variants"][0]
    events = _events(model)
    checked = 0
    for d in v["decisions"]:
        if d["reason"] not in ("ecmp_pick", "table_miss"):
            continue
        # Every segment of that client connection the deciding element sent on
        # towards the VIP goes to the element it picked.
        sent = [
            ev
            for ev in events
            if ev["conn"] == d["conn"] and ev["from"] == d["device"] and ev["dst"] == VIP
        ]
        assert sent, d
        assert {ev["at"] for ev in sent} == {d["backend"]}
        checked += 1
    assert checked >= 10
    reasons = {d["reason"] for d in v["decisions"]}
    assert {"ecmp_pick", "table_miss", "rule_match"} <= reasons


def test_each_hop_points_to_the_next(model: dict[str, Any]) -> None:
    events = _events(model)
    forwarded = ended = 0
    for ev in events:
        if ev["out"] < 0:
            continue
        nxt = events[ev["out"]]
        assert nxt["from"] == ev["at"]
        if nxt["conn"] == ev["conn"] or ev["at"].startswith(("edge", "site-", "maglev-")):
            # A router or an L4 DSR instance forwards the same segment.
            assert (nxt["seq"], nxt["ack"], nxt["fl"], nxt["len"]) == (
                ev["seq"], ev["ack"], ev["fl"], ev["len"],
            )  # fmt: skip
            forwarded += 1
        else:
            # An L7 instance sends the same request (or response) on its other connection.
            assert ev["at"].startswith("proxies-") and nxt["req"] == ev["req"] is not None
            ended += 1
    assert forwarded > 200 and ended > 5


def test_cli_view_on_a_topology(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from lbsim.cli import main

    out = tmp_path / "mesh.html"
    base = ["view", "mesh", "--set", "duration=0.2s", "--set", "warmup=0s", "--out", str(out)]
    assert main([*base, "--window", "0:0.02"]) == 0
    assert "packet viewer written" in capsys.readouterr().out and out.exists()
    out.unlink()
    assert main([*base, "--connections", "2"]) == 0
    assert main([*base, "--client", "east"]) == 0
    capsys.readouterr()
    out.unlink()
    for bad in (["--connections", "0"], ["--client", "nobody"], ["--window", "2:1"]):
        assert main([*base, *bad]) == 2
        err = capsys.readouterr().err
        assert bad[0] in err or bad[1] in err
        assert "Traceback" not in err and not out.exists()


def test_many_client_hosts_share_one_node_per_site() -> None:
    from lbsim.teach.viewer.tier_model import MAX_HOSTS, graph_layout

    sc = load_scenario("ecmp_failover", SETS)
    hosts = [f"{g.name}-h{h}" for g in sc.clients for h in range(g.hosts)]
    assert len(hosts) > MAX_HOSTS
    nodes, _ = graph_layout(sc, "maglev", set(hosts))
    clients = [n for n in nodes if n["role"] == "client"]
    assert len(clients) <= MAX_HOSTS + len(sc.topology.sites)  # type: ignore[union-attr]
    folded = [n for n in clients if "members" in n]
    assert [n["name"] for n in folded] == [f"users: +{len(folded[0]['members'])} hosts"]
    drawn = {n["name"] for n in clients} | {m for n in folded for m in n["members"]}
    assert set(hosts) <= drawn  # every host's packets have a place to start from
    # Fewer hosts than the limit are drawn one by one.
    few, _ = graph_layout(sc, "maglev", set(hosts[:5]))
    assert sorted(n["name"] for n in few if n["role"] == "client") == sorted(hosts[:5])


def _linked_oracle(name: str, variant: str, host: str) -> tuple[set[str], set[str], str]:
    """From ``lbsim trace``'s own path finder: the requests of ``host``'s first
    connection, the TCP connections their steps cross, and that client connection."""
    trace = trace_variant(load_scenario(name, SETS), variant)
    seg = trace.segments
    first = seg[seg["link"] == f"{host}>site-east"].iloc[0]["connection"]
    on = seg.index[(seg["connection"] == first) & (seg["link"] == f"{host}>site-east")]
    requests = {
        rid for row in on for _, m in trace.marks.get(int(row), ()) if (rid := request_id_of(m))
    }
    connections = {s.connection for rid in requests for s in tier_path(trace, rid)}
    return requests, connections, str(first)


@pytest.mark.parametrize(("name", "variant"), [("two_tier", "round_robin"), ("mesh", None)])
def test_connections_limit_keeps_the_linked_connections_on_every_tier(
    name: str, variant: str | None
) -> None:
    sc = load_scenario(name, SETS)
    chosen = variant or sc.balancers[0].name
    model = page_model(view(sc, [chosen], connections=1).html)
    events = _events(model)
    requests, connections, client = _linked_oracle(name, chosen, "east-h0")
    assert len(requests) >= 2 and len(connections) >= 3
    # Exactly the connections the requests of the first client connection crossed.
    assert {ev["conn"] for ev in events} == connections
    # Only those requests' messages; every one of them on every link it crossed.
    assert {ev["req"] for ev in events if ev["req"]} == requests
    full = page_model(view(sc, [chosen]).html)
    everything = _events(full)
    assert sum(ev["conn"] == client for ev in events) == sum(
        ev["conn"] == client for ev in everything
    )
    hops = {(ev["req"], ev["from"], ev["at"]) for ev in everything if ev["req"] in requests}
    assert {(ev["req"], ev["from"], ev["at"]) for ev in events if ev["req"]} == hops
    # Each connection (a pooled upstream one too) shows its handshake.
    for conn in connections:
        assert any(ev["conn"] == conn and ev["fl"] == "SYN" for ev in events)


def test_client_limit_keeps_one_hosts_traffic_through_the_tiers() -> None:
    sc = load_scenario("two_tier", SETS)
    events = _events(page_model(view(sc, ["round_robin"], client="east-h1").html))
    starts = {ev["from"] for ev in events if ev["from"].startswith(("east-h", "west-h"))}
    assert starts == {"east-h1"}
    reached = {ev["at"] for ev in events}
    assert any(n.startswith("proxies-") for n in reached)
    assert any(n.startswith(("api-", "static-")) for n in reached)
    assert all(ev["req"].startswith("east-1-") for ev in events if ev["req"])
