"""``lbsim trace`` on topologies: one request across every tier, each instance named.

The exact-trace tests follow the first request of the bundled two_tier and mesh
scenarios (0.1 s of simulated time: tracing stops once that request is done), and
check the path, the connections and the decisions word for word; the
cross-checks compare the trace with the run's own records (requests.csv's
backend, the decision records), so they fail if the path and the decisions
disagree, whatever the seed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lbsim.scenario import load_scenario
from lbsim.teach.report import TraceInputError, trace_report
from lbsim.teach.tier_trace import tier_path
from lbsim.teach.trace import trace_variant

TINY = ["duration=0.1s", "warmup=0s"]


def _lines(text: str) -> list[str]:
    """The report without the per-link detail lines (times and ports)."""
    return [line for line in text.splitlines() if not line.startswith("   link ")]


def test_two_tier_trace_names_each_instance_and_decision() -> None:
    report = trace_report(load_scenario("two_tier", TINY), request_id="east-0-0")
    lines = _lines(report.text)
    assert lines[:7] == [
        "Request east-0-0 through variant round_robin on the topology of two_tier",
        "  GET /api/items -> api-1, status 200 (ok), latency 15.521 ms",
        "  request path: east-h0 > site-east > edge > maglev-2 > proxies-3 > api > api-1",
        "  response path: api-1 > api > proxies-3 > maglev-1 > edge > site-east > east-h0",
        "  TCP connections: 2, linked by the request's id",
        "    #1 100.64.0.1:32768 -> 203.0.113.10:80: opened by east-h0, ended by proxies-3",
        "    #2 172.16.2.3:59564 -> 10.0.1.1:8080: opened by proxies-3, ended by api-1",
    ]
    text = "\n".join(lines)
    for expected in (
        "3. edge (router)\n   forwards it to maglev-2 (addresses and ports kept)\n"
        "   decided at 8.215 ms: ECMP: the 5-tuple hashes to bucket 15 of 128 \u2192 maglev-2 "
        "(2 of 2 next hops in service)",
        "4. maglev-2 (instance 2 of 2 of tier maglev: L4 DSR maglev)\n"
        "   forwards it to proxies-3 (addresses and ports kept)\n"
        "   decided at 8.265 ms: DSR table miss: new entry \u2192 proxies-3 "
        "(maglev: Maglev lookup table, 3 candidates)",
        "5. proxies-3 (instance 3 of 3 of tier proxies: L7 round_robin; the variant's tier)\n"
        "   ends TCP connection #1 and sends the request on connection #2 to api; "
        "adds X-Forwarded-For: 100.64.0.1\n"
        "   decided at 14.558 ms: rule / matched \u2192 group api \u2192 round_robin: next in "
        "rotation picked api-1 (0 in flight, others 0, 0); opens a new connection to it",
        "10. proxies-3 (instance 3 of 3 of tier proxies: L7 round_robin; the variant's tier)\n"
        "   ends TCP connection #2 and sends the response on connection #1 to maglev-1",
        "14. east-h0 (client host of group east)\n   reads the response",
    ):
        assert expected in text


def test_mesh_trace_links_three_connections_and_appends_x_forwarded_for() -> None:
    report = trace_report(load_scenario("mesh", TINY), request_id="east-0-0")
    lines = _lines(report.text)
    assert lines[2:8] == [
        "  request path: east-h0 > site-east > edge > edge-proxies-2 > sidecars-1 > api > api-1",
        "  response path: api-1 > api > sidecars-1 > edge-proxies-2 > edge > site-east > east-h0",
        "  TCP connections: 3, linked by the request's id",
        "    #1 100.64.0.1:32768 -> 203.0.113.10:80: opened by east-h0, ended by edge-proxies-2",
        "    #2 172.16.1.2:59073 -> 172.16.2.1:8080: opened by edge-proxies-2, ended by sidecars-1",
        "    #3 172.16.2.1:49194 -> 10.0.1.1:8080: opened by sidecars-1, ended by api-1",
    ]
    text = "\n".join(lines)
    # Each L7 tier appends the address it took the request from.
    assert "sidecars-1; adds X-Forwarded-For: 100.64.0.1\n" in text
    assert "to api; adds X-Forwarded-For: 100.64.0.1, 172.16.1.2\n" in text
    assert (
        "   decided at 14.405 ms: request complete (400 B): GET /api/items \u2192 round_robin: "
        "next in rotation picked sidecars-1 (0 in flight, others 0, 0); opens a new "
        "connection to it" in text
    )


@pytest.mark.parametrize(
    ("name", "variant"), [("two_tier", "least_request"), ("ecmp_failover", "maglev")]
)
def test_trace_path_agrees_with_the_runs_records(name: str, variant: str) -> None:
    trace = trace_variant(load_scenario(name, TINY), variant, first_request=True)
    record = trace.requests.sort_values("t_end").iloc[0]
    steps = tier_path(trace, str(record["request_id"]))
    up = [s for s in steps if s.request]
    nodes = [up[0].sender, *(s.receiver for s in up)]
    assert nodes[-1] == record["backend"]  # the backend requests.csv names
    # Every decision on the path names the element the request went to next.
    for d in trace.decisions:
        if d.reason in ("ecmp_pick", "table_miss") and d.connection == up[0].connection:
            assert nodes[nodes.index(d.device) + 1] == d.backend, d
        if d.request == record["request_id"] and d.reason in ("rule_match", "l7_pick"):
            assert d.device in nodes and d.backend == record["backend"]
    # The client's connection is #1 until the first terminating tier; each tier
    # that ends TCP opens the next.
    l7_tiers = sum(1 for n in nodes if n.startswith(("proxies-", "edge-proxies-", "sidecars-")))
    assert max(s.number for s in steps) == 1 + l7_tiers
    assert {s.number for s in steps if not s.request} == {s.number for s in up}


def test_whole_connections_list_every_hop_with_the_ecmp_pick() -> None:
    report = trace_report(
        load_scenario("two_tier", TINY), request_id="east-0-0", whole_connection=True
    )
    listing = report.text.split("Whole connections of east-0-0: 2 TCP connections")[1]
    assert "edge>maglev-2" in listing and "maglev-2>proxies-3" in listing
    assert "proxies-3>api" in listing and "api>api-1" in listing
    assert "-> edge: ECMP: the 5-tuple hashes to bucket 15 of 128" in listing
    assert "-> maglev-2: DSR table miss: new entry \u2192 proxies-3" in listing


def test_bad_ladder_file_and_unknown_request_are_bad_input(tmp_path: Path) -> None:
    sc = load_scenario("two_tier", TINY)
    with pytest.raises(TraceInputError, match=r"--ladder: .*\.png"):
        trace_report(sc, ladder=tmp_path / "l.txt")
    with pytest.raises(TraceInputError, match="--request"):
        trace_report(sc, request_id="nobody-0-0")


def test_cli_trace_on_a_topology(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from lbsim.cli import main

    args = ["trace", "mesh", "--set", "duration=0.1s", "--set", "warmup=0s"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "edge-proxies-2 (instance 2 of 2 of tier edge-proxies: L7 round_robin)" in out
    assert main([*args, "--ladder", str(tmp_path / "l.svg")]) == 0
    assert "ladder diagram written to" in capsys.readouterr().out
    assert (tmp_path / "l.svg").read_text().count("<svg") == 1
    assert main([*args, "--ladder", str(tmp_path / "l.txt")]) == 2
    err = capsys.readouterr().err
    assert "--ladder" in err and "Traceback" not in err and not (tmp_path / "l.txt").exists()
    assert main([*args, "--variant", "nope"]) == 2
    assert "--variant" in capsys.readouterr().err


def test_l4_proxy_tier_with_proxy_protocol_opens_a_third_connection() -> None:
    sets = [
        *TINY,
        "topology.tiers.0.balancer.mode=proxy",
        "topology.tiers.0.balancer.proxy_protocol=v2",
    ]
    report = trace_report(load_scenario("two_tier", sets), request_id="east-0-0")
    text = "\n".join(_lines(report.text))
    assert "  TCP connections: 3, linked by the request's id" in text
    assert "opened by maglev-2, ended by proxies-3" in text
    assert (
        "4. maglev-2 (instance 2 of 2 of tier maglev: L4 proxy maglev)\n"
        "   ends TCP connection #1 and sends the request on connection #2 to proxies-3\n"
        "   decided at 14.369 ms: new client connection: maglev: Maglev lookup table picked "
        "proxies-3; the proxy opens its own connection to it (cold connect), writing a PROXY "
        "v2 header naming the client first" in text
    )
    # The L7 tier read the client's address from the PROXY header.
    assert "on connection #3 to api; adds X-Forwarded-For: 100.64.0.1\n" in text


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        (
            "two_tier",
            # maglev-1 carries only the response (DSR: the proxies' replies leave by it).
            ["east-h0", "site-east", "edge", "maglev-2", "maglev-1", "proxies-3", "api", "api-1"],
        ),
        ("mesh", ["east-h0", "site-east", "edge", "edge-proxies-2", "sidecars-1", "api", "api-1"]),
    ],
)
def test_ladder_has_a_lifeline_per_element_and_an_arrow_per_segment(
    name: str, columns: list[str]
) -> None:
    from lbsim.teach.tier_ladder import SEGMENT_GID, tier_columns, tier_ladder_figure

    trace = trace_variant(load_scenario(name, TINY), "round_robin", request_id="east-0-0")
    steps = tier_path(trace, "east-0-0")
    assert tier_columns(trace, steps) == columns
    fig = tier_ladder_figure(trace, "east-0-0")
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if p.get_gid() == SEGMENT_GID]
    # One arrow per segment the trace lists (its "N segments" on every link).
    assert len(arrows) == sum(len(s.rows) for s in steps) == 18
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == columns
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(legend) == len({s.number for s in steps})
    # A short cap draws the earliest segments and says so.
    few = tier_ladder_figure(trace, "east-0-0", max_segments=5)
    assert sum(p.get_gid() == SEGMENT_GID for p in few.axes[0].patches) == 5
    assert "first 5 of 18 segments" in few.texts[0].get_text()


def test_an_l7_retry_over_the_same_link_shows_both_tries(tmp_path: Path) -> None:
    # api-1 crashes (its connections reset) while it holds east-16-1: proxies-2
    # retries on api-2, over the same proxies-2>api link, on another connection.
    sets = [
        "duration=0.3s",
        "warmup=0s",
        "balancers.0.retries={attempts: 2}",
        "events=[{at: 0.1s, action: crash, backend: api-1, mode: reset}]",
    ]
    sc = load_scenario("two_tier", sets)
    trace = trace_variant(sc, "round_robin", request_id="east-16-1")
    rec = trace.request("east-16-1")
    assert int(rec["upstream_tries"]) == 2 and rec["backend"] == "api-2"
    steps = tier_path(trace, "east-16-1")
    tries = [s for s in steps if s.link == "proxies-2>api" and s.request]
    assert len(tries) == 2 and tries[0].number != tries[1].number
    assert [s.receiver for s in steps if s.request and s.sender == "api"] == ["api-1", "api-2"]
    report = trace_report(sc, request_id="east-16-1", ladder=tmp_path / "retry.png")
    lines = _lines(report.text)
    assert lines[2] == (
        "  request path: east-h16 > site-east > edge > maglev-1 > proxies-2 > api > api-1; "
        "then proxies-2 > api > api-2"
    )
    assert lines[4] == "  TCP connections: 3, linked by the request's id"
    assert lines[7].endswith("opened by proxies-2, ended by api-2")
    assert (
        "   tries again (try 2): ends TCP connection #1 and sends the request on connection "
        "#3 to api; adds X-Forwarded-For: 100.64.0.17" in lines
    )
    assert report.ladder is not None and report.ladder.exists()
