"""The per-hop layer view (lbsim.teach): what each component read and rewrote (C1, C3, C8, C15).

The scenario is the tiny one of ``tests/engine/test_exact_trace.py``: one client, one
backend, one 400-byte request, no CPU cost, so every segment is known. The checks
follow concept C3: an L4 NAT balancer rewrites L3/L4 and never reads L7; an L4 proxy
ends TCP without reading L7; an L7 balancer ends TCP (two connections with different
4-tuples and sequence numbers) and parses the HTTP request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lbsim.cli import main
from lbsim.teach import (
    LayerView,
    arrival_times,
    component_layers,
    layer_span,
    layer_table,
    layer_view,
    trace_variant,
)
from lbsim.teach.report import TraceInputError, trace_report
from scenarios import FREE, scenario

NETWORK = {
    "client_link": {"latency": "10ms", "bandwidth": "1Gbps"},
    "backend_link": {"latency": "1ms", "bandwidth": "1Gbps"},
}
BALANCERS: list[dict[str, Any]] = [
    {"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE},
    {"name": "proxy", "layer": 4, "mode": "proxy", "algorithm": "round_robin", "costs": FREE},
    {"name": "dsr", "layer": 4, "mode": "dsr", "algorithm": "round_robin", "costs": FREE},
    {"name": "l7", "layer": 7, "algorithm": "round_robin", "costs": FREE},
]
TINY_DATA: dict[str, Any] = {
    "duration": "1ms",
    "network": NETWORK,
    "backends": [{"group": "web", "count": 1, "workers": 1, "service_time": "5ms"}],
    "clients": [
        {"name": "c", "count": 1, "requests": [{"path": "/", "size": "400B", "response": "1000B"}]}
    ],
    "balancers": BALANCERS,
}
TINY = scenario(**TINY_DATA)
VIP = "203.0.113.10 (VIP)"
BACKEND = "10.0.1.1 (web-1)"


def view(variant: str, request_id: str = "c-0-0") -> LayerView:
    return layer_view(trace_variant(TINY, variant, request_id=request_id), request_id)


def row(hop: Any, layer: int, field: str) -> Any:
    (found,) = [r for r in hop.rows if r.layer == layer and r.field == field]
    return found


def test_component_layers_follow_concept_c3() -> None:
    assert component_layers("client").summary() == "reads L1–L7, endpoint"
    assert component_layers("backend").summary() == "reads L1–L7, endpoint"
    assert component_layers("l4-nat").summary() == "reads L2–L4, rewrites L3–L4"
    assert component_layers("l4-proxy").summary() == "reads L2–L4, terminates L4"
    assert component_layers("l7").summary() == "reads L2–L7, terminates L4"
    assert component_layers("l7", tls=True).terminates == (4, 6)
    assert 6 not in component_layers("l4-nat", tls=True).reads  # TLS passes through unopened
    table = layer_table()
    assert list(table["component"]) == [
        "client",
        "L4 balancer (NAT)",
        "L4 balancer (DSR)",
        "L4 balancer (proxy)",
        "L7 balancer",
        "backend",
    ]
    assert layer_span((2, 3, 4, 6)) == "L2–L4, L6"
    with pytest.raises(ValueError, match="unknown component kind"):
        component_layers("router")


def test_l4_nat_view_rewrites_l3_and_l4_and_never_reads_l7() -> None:
    v = view("l4")
    assert [h.role for h in v.hops] == ["client", "balancer", "backend", "balancer", "client"]
    lb = v.hop("balancer")
    assert lb.rewrote == (3, 4)  # seen in the trace, not only declared
    assert lb.terminated == ()
    assert 7 not in lb.reads and lb.declared.rewrites == (3, 4)
    assert set(lb.actions(7)) == {"not read"}
    dst = row(lb, 3, "destination")
    assert (dst.action, dst.before, dst.after) == ("rewrote", VIP, BACKEND)  # C8, way in
    assert row(lb, 4, "ports").after == "32768 -> 8080"
    seq = row(lb, 4, "seq")
    assert seq.action == "kept" and seq.before == seq.after  # one end-to-end connection
    back = v.hop("balancer", "response")
    src = row(back, 3, "source")
    assert (src.action, src.before, src.after) == ("rewrote", BACKEND, VIP)  # C8, way out
    assert back.rewrote == (3, 4)
    # C1: the client only ever sees the VIP.
    client = v.hop("client", "response")
    assert row(client, 3, "source").before == VIP
    assert v.backend_connection_same_tcp


def test_l7_view_terminates_tcp_and_parses_http() -> None:
    v = view("l7")
    lb = v.hop("balancer")
    assert lb.terminated == (4,)
    assert lb.rewrote == ()
    assert 7 in lb.reads
    line = row(lb, 7, "request line")
    assert (line.action, line.before) == ("parsed", "GET / HTTP/1.1")
    # Two connections: different 4-tuples and independent sequence numbers.
    assert v.client_connection == "100.64.0.1:32768-203.0.113.10:80"
    # The proxy's own source port, from its own allocator: not a copy of the client's.
    proxy_end, backend_end = v.backend_connection.split("-")
    assert proxy_end.startswith("10.0.0.1:") and backend_end == "10.0.1.1:8080"
    assert 32768 < int(proxy_end.split(":")[1]) <= 60999
    assert lb.inbound is not None and lb.outbound is not None
    assert lb.inbound.connection != lb.outbound.connection
    assert lb.inbound.isn != lb.outbound.isn
    assert lb.inbound.rel_seq == lb.outbound.rel_seq == 1  # each stream's first data byte
    assert row(lb, 3, "source").after == "10.0.0.1 (balancer, inside)"
    assert set(lb.actions(4)) == {"new connection"}
    # C16: the whole request reached the balancer before its first byte left it.
    assert v.record["t_lb_last_byte"] <= lb.outbound.sent
    assert not v.backend_connection_same_tcp
    assert "parsed" in v.to_text()


def test_l4_proxy_view_terminates_tcp_without_reading_l7() -> None:
    v = view("proxy")
    lb = v.hop("balancer")
    assert lb.terminated == (4,)
    assert set(lb.actions(7)) == {"not read"}
    assert 7 not in lb.reads
    assert lb.inbound is not None and lb.outbound is not None
    assert lb.inbound.isn != lb.outbound.isn


def test_dsr_view_changes_no_l3_or_l4_field_and_answers_through_a_router() -> None:
    v = view("dsr")
    lb = v.hop("balancer")
    assert lb.rewrote == () and lb.terminated == ()
    assert lb.declared.rewrites == (2,)
    assert row(lb, 3, "destination").after == VIP  # the backend owns the VIP too
    assert [h.role for h in v.hops][3] == "router"
    router = v.hops[3]
    assert router.node == "router" and "switch" not in router.title
    assert row(router, 3, "source").after == VIP  # the backend answers as the VIP
    assert row(router, 3, "TTL").before == "64" and row(router, 3, "TTL").after == "63"
    assert row(router, 2, "source MAC").before != row(router, 2, "source MAC").after


def test_view_as_tables_and_text() -> None:
    v = view("l4")
    frame = v.frame()
    assert list(frame.columns) == ["step", "node", "layer", "field", "action", "before", "after"]
    assert set(frame["layer"]) == {"L1", "L2", "L3", "L4", "L7"}  # no TLS: no L6 row
    summary = v.summary()
    assert list(summary["rewrote (seen)"]) == ["–", "L3–L4", "–", "L3–L4", "–"]
    text = v.to_text()
    assert text.startswith("Request c-0-0 through variant l4")
    assert "the same TCP connection, addresses rewritten" in text


def test_request_answered_by_the_balancer_has_no_backend_hop() -> None:
    refused = scenario(
        **{
            **TINY_DATA,
            "clients": [{**TINY_DATA["clients"][0], "token": "invalid"}],
            "balancers": [{**BALANCERS[3], "auth": {"required": True}}],
        }
    )
    trace = trace_variant(refused, "l7", request_id="c-0-0")
    v = layer_view(trace, "c-0-0")
    assert [h.role for h in v.hops] == ["client", "balancer", "client"]
    lb = v.hop("balancer")
    assert lb.outbound is not None and lb.outbound.message.l7.startswith("HTTP/1.1 401")
    assert v.backend_connection is None


def test_tls_row_appears_when_the_trace_carries_tls() -> None:
    tls = scenario(
        **{
            **TINY_DATA,
            "clients": [{**TINY_DATA["clients"][0], "tls": "1.3"}],
            "balancers": [BALANCERS[0], {**BALANCERS[3], "tls": {"key": "ecdsa_p256"}}],
        }
    )
    l4 = layer_view(trace_variant(tls, "l4", request_id="c-0-0"), "c-0-0")
    l7 = layer_view(trace_variant(tls, "l7", request_id="c-0-0"), "c-0-0")
    assert l4.tls_observed
    assert l4.tls == "1.3" and l4.handshake
    assert row(l4.hop("balancer"), 6, "TLS").action == "not read (passed through encrypted)"
    assert 6 in l7.hop("balancer").terminated
    assert row(l7.hop("balancer"), 6, "TLS").after == "none: plain TCP"


def test_trace_stops_soon_after_the_request() -> None:
    longer = scenario(**{**TINY_DATA, "duration": "5s"})
    trace = trace_variant(longer, "l4", request_id="c-0-0")
    assert not trace.complete
    assert trace.end_time < 0.2
    assert list(trace.requests["request_id"]) == ["c-0-0"]


def test_arrival_times_match_the_engine() -> None:
    trace = trace_variant(TINY, "l4")
    assert trace.complete
    rebuilt = arrival_times(trace.segments, trace.links)
    assert list(rebuilt) == pytest.approx(list(trace.segments["arrival"]), abs=1e-15)
    # The segment that carries the request to the backend arrives when the engine
    # says the backend got its first byte.
    lb = layer_view(trace, "c-0-0").hop("balancer")
    assert lb.outbound is not None
    assert lb.outbound.arrival == trace.request("c-0-0")["t_backend_first_byte"]


def test_unknown_variant_or_request_is_reported() -> None:
    with pytest.raises(TraceInputError, match="no balancer variant 'nope'"):
        trace_report(TINY, "nope")
    with pytest.raises(TraceInputError, match="GROUP-USER-SEQ"):
        trace_report(TINY, "l4", "zzz-0-0")
    with pytest.raises(TraceInputError, match="no request 'c-0-9'"):
        trace_report(TINY, "l4", "c-0-9")


def _scenario_file(tmp_path: Path) -> Path:
    data = {"name": "tiny", "seed": 1, **TINY_DATA}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_cli_trace_prints_the_view_and_saves_the_ladder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scenario_file(tmp_path)
    ladder = tmp_path / "ladder.png"
    status = main(
        ["trace", str(path), "--variant", "l4", "--request", "c-0-0", "--ladder", str(ladder)]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "balancer l4 passes the request on to web-1" in out
    assert "rewrote" in out
    assert ladder.stat().st_size > 10_000
    status = main(["trace", str(path), "--variant", "l7"])  # default: the first request
    assert status == 0
    assert "Request c-0-0 through variant l7" in capsys.readouterr().out


def test_cli_trace_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _scenario_file(tmp_path)
    assert main(["trace", str(path), "--variant", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbsim: error: ") and "--variant" in err
    assert main(["trace", str(path), "--ladder", str(tmp_path / "x.gif")]) == 2
    assert "--ladder" in capsys.readouterr().err
