"""The packet viewer without a browser: decisions, page model, page text, command line.

The browser tests (tests/viewer/) open the page; these check what the page is
built from: the L4 balancer's decision records against its connection records, the
event model against the segment trace, and the command's bad-input handling.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lbsim.cli import main
from lbsim.records import DecisionRecord, Recorder
from lbsim.scenario import load_scenario
from lbsim.sim import run_variant
from lbsim.teach import PageTooLarge, view
from lbsim.teach.viewer import model
from lbsim.teach.viewer.frames import payload_view
from scenarios import FREE, scenario

QUICK = ["clients.browsers.count=4", "duration=1s", "warmup=0s"]
WINDOW = (0.0, 0.25)


@pytest.fixture(scope="module")
def quick() -> Any:
    return load_scenario("quickstart", QUICK)


@pytest.fixture(scope="module")
def page(quick: Any) -> Any:
    return view(quick, window=WINDOW)


def _data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="lbsim-data">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_recorder_keeps_decisions_as_records() -> None:
    rec = Recorder("l4")
    rec.decide(1.5, "l4", "table_miss", connection="a-b", backend="web-2", algorithm="rr", n=3)
    assert rec.decisions == [
        DecisionRecord(
            1.5, "l4", "table_miss", "a-b", None, "web-2", (("algorithm", "rr"), ("n", 3))
        )
    ]


def test_l4_records_one_table_miss_per_connection_with_its_backend(quick: Any) -> None:
    run = run_variant(quick, "l4")
    misses = [d for d in run.recorder.decisions if d.reason == "table_miss"]
    opened = {f"{c.src}-{c.dst}": c.backend for c in run.recorder.connections if c.side == "client"}
    assert len(opened) >= 4
    assert {d.connection: d.backend for d in misses} == opened
    assert all(dict(d.values)["algorithm"] == "round_robin" for d in misses)
    # Round robin over four backends: consecutive misses take the next one.
    names = [d.backend for d in sorted(misses, key=lambda d: d.time)]
    assert names[:4] == sorted(names[:4]) and len(set(names[:4])) == 4
    clamps = [d for d in run.recorder.decisions if d.reason == "mss_clamp"]
    # The backends' SYN-ACKs announce 8960 (MTU 9000); the client side fits 1460.
    assert {(dict(d.values)["before"], dict(d.values)["after"]) for d in clamps} == {(8960, 1460)}
    assert len(clamps) == len(opened)


def test_l4_mss_clamp_on_client_syn() -> None:
    jumbo_clients = scenario(
        network={
            "client_link": {"latency": "1ms", "bandwidth": "1Gbps", "mtu": 9000},
            "backend_link": {"latency": "1ms", "bandwidth": "1Gbps", "mtu": 1500},
        },
        balancers=[{"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE}],
        duration="20ms",
    )
    run = run_variant(jumbo_clients, "l4")
    clamps = [dict(d.values) for d in run.recorder.decisions if d.reason == "mss_clamp"]
    assert clamps and all(c == {"before": 8960, "after": 1460} for c in clamps)


def test_page_model_matches_the_segment_trace(quick: Any, page: Any) -> None:
    data = _data(page.html)
    strings = data["strings"]
    run = run_variant(quick, "l4", trace_segments=True)
    inside = sorted(
        (s for s in run.recorder.segments if WINDOW[0] <= s.time < WINDOW[1]), key=lambda s: s.time
    )
    l4 = next(v for v in data["variants"] if v["name"] == "l4")
    events = l4["events"]
    assert l4["count"] == len(inside) == page.events["l4"]
    for i, seg in enumerate(inside):
        assert strings[events["src"][i]] == seg.src
        assert strings[events["dst"][i]] == seg.dst
        assert (events["sp"][i], events["dp"][i]) == (seg.sport, seg.dport)
        assert (events["seq"][i], events["ack"][i], events["len"][i]) == (
            seg.seq,
            seg.ack,
            seg.payload,
        )
    # Every forwarded packet leaves the L4 balancer with TTL 63, and a NAT "out" of
    # a client packet keeps seq/ack and changes the destination to a backend.
    for i in range(l4["count"]):
        o = events["out"][i]
        if strings[events["at"][i]] == "l4" and o >= 0:
            assert events["ttl"][o] == 63 and events["seq"][o] == events["seq"][i]
            if strings[events["from"][i]].startswith("browsers"):
                assert strings[events["dst"][o]].startswith("10.0.1.")
    # The IPv4 checksums shown are real: each header's words sum to 0xffff.
    for i in range(l4["count"]):
        words = [0x4500, events["iplen"][i], events["ipid"][i], 0x4000]
        words += [(events["ttl"][i] << 8) | 6, events["ipsum"][i]]
        for name in ("src", "dst"):
            a, b, c, d = (int(x) for x in strings[events[name][i]].split("."))
            words += [(a << 8) | b, (c << 8) | d]
        total = sum(words)
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        assert total == 0xFFFF


def test_page_is_self_contained_and_deterministic(quick: Any, page: Any) -> None:
    html = page.html
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched
    assert "default-src 'none'" in html
    assert view(quick, window=WINDOW).html == html
    assert page._repr_html_().startswith("<iframe srcdoc=")


def test_page_too_large_names_the_option(quick: Any) -> None:
    with pytest.raises(PageTooLarge, match="more than 100 events in the page; use"):
        view(quick, window=WINDOW, max_events=100)


def test_connection_limit_keeps_whole_connections(quick: Any) -> None:
    data = _data(view(quick, ["l4"], window=(0.0, 0.5), connections=1).html)
    strings = data["strings"]
    events = data["variants"][0]["events"]
    clients = {strings[i] for i in events["src"] + events["dst"] if strings[i].startswith("100.")}
    assert len(clients) == 1
    kinds = {strings[k] for k in events["kind"]}
    assert {"SYN", "SYN-ACK", "HTTP request", "HTTP response"} <= kinds


def test_payload_view_reads_http_and_tls() -> None:
    head = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nbody"
    assert payload_view(head, False) == ("", "GET /a HTTP/1.1\r\nHost: x")
    assert payload_view(b"\x00\x01", False) == ("", "")
    hello = bytes([22, 3, 1, 0, 4, 1, 0, 0, 0]) + bytes([23, 3, 3, 0, 2, 0, 0])
    assert payload_view(hello, True) == (
        "Handshake ClientHello (4 B), ApplicationData (2 B)",
        "(encrypted)",
    )


def test_tls_records_and_the_dsr_router_in_the_page() -> None:
    tls = load_scenario("tls_bottleneck", ["duration=1s", "warmup=0s"])
    data = _data(view(tls, ["l4"], window=(0.0, 0.3), connections=1).html)
    strings, events = data["strings"], data["variants"][0]["events"]
    l6 = {strings[i] for i in events["l6"]}
    assert "Handshake ClientHello (512 B)" in l6
    assert any("ChangeCipherSpec (1 B), Handshake (encrypted: Finished)" in x for x in l6)
    assert "TLS record" in {strings[k] for k in events["kind"]}
    dsr = load_scenario("quickstart", [*QUICK, "balancers.l4.mode=dsr"])
    data = _data(view(dsr, ["l4"], window=WINDOW, connections=1).html)
    strings, variant = data["strings"], data["variants"][0]
    events = variant["events"]
    assert {"name": "router", "role": "router", "ip": "backends' gateway"} in variant["nodes"]
    assert not any("switch" in link["name"] for link in variant["links"])
    at_router = [i for i in range(variant["count"]) if strings[events["at"][i]] == "router"]
    assert at_router
    for i in at_router:
        o = events["out"][i]
        assert strings[events["src"][i]] == strings[events["src"][o]] == "203.0.113.10"
        assert (events["ttl"][i], events["ttl"][o]) == (64, 63)
        assert events["smac"][i] != events["smac"][o]


def test_cli_view_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.html"
    args = ["view", "quickstart", "--window", "0:0.1", "--variant", "l7", "--out", str(out)]
    for item in QUICK:
        args += ["--set", item]
    assert main(args) == 0
    assert "packet viewer written to" in capsys.readouterr().out
    assert [v["name"] for v in _data(out.read_text("utf-8"))["variants"]] == ["l7"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--window", "0:0.1", "--out", "x.txt"], "--out"),
        (["--window", "5:1"], "--window"),
        (["--window", "0:0.1", "--variant", "l9"], "--variant"),
        (["--window", "0:0.1", "--connections", "0"], "--connections"),
        (["--window", "0:0.1", "--client", "nobody"], "nobody"),
        (["--window", "0:0.1", "--out", "missing/dir/v.html"], "does not exist"),
    ],
)
def test_cli_view_bad_input_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["view", "quickstart", *extra]
    for item in QUICK:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lbsim: error: ") and expected in err
    assert "Traceback" not in err


def test_cli_view_refuses_a_page_past_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model, "MAX_EVENTS", 50)
    out = tmp_path / "big.html"
    args = ["view", "quickstart", "--out", str(out)]
    for item in QUICK:
        args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "more than 50 events" in err and "--window" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing half-written
