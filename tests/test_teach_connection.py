"""Whole-connection listings (``lbsim trace --connection``) and the ladder's time axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lbsim.cli import main
from lbsim.records import DecisionRecord
from lbsim.teach.connection import connection_text
from lbsim.teach.ladder_axis import TimeAxis
from lbsim.teach.sentences import sentence
from lbsim.teach.trace import trace_variant
from scenarios import FREE, scenario

ONE = scenario(
    duration="300ms",
    network={
        "client_link": {"latency": "10ms", "bandwidth": "100Mbps", "mtu": 1500},
        "backend_link": {"latency": "200us", "bandwidth": "10Gbps", "mtu": 9000},
    },
    clients=[
        {
            "name": "c",
            "count": 1,
            "requests_per_connection": 2,
            "requests": [{"path": "/", "size": "400B", "response": "3000B"}],
        }
    ],
    balancers=[
        {"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE},
        {"name": "dsr", "layer": 4, "mode": "dsr", "algorithm": "round_robin", "costs": FREE},
        {"name": "l7", "layer": 7, "algorithm": "round_robin", "costs": FREE},
    ],
)


def _listing(variant: str) -> list[str]:
    return connection_text(trace_variant(ONE, variant, request_id="c-0-0"), "c-0-0").splitlines()


def test_l4_connection_from_syn_to_fin_with_its_decisions() -> None:
    lines = _listing("l4")
    assert "SYN to FIN" in lines[0]
    assert "c-h0>l4" in lines[2] and lines[2].endswith("SYN seq=0")
    assert lines[3].strip() == (
        "-> l4: NAT table miss: new entry \u2192 web-1 (round_robin: next in rotation, "
        "1 candidates)"
    )
    syn_ack = next(i for i, line in enumerate(lines) if "web-1>l4" in line and "SYN,ACK" in line)
    assert lines[syn_ack + 1].strip() == "-> l4: MSS option clamped 8960 \u2192 1460"
    # Both requests of the connection, on both sides of the NAT balancer.
    assert sum("l4>web-1" in line and "GET /" in line for line in lines) == 2
    assert any("FIN" in line for line in lines)
    assert sum(line.strip().startswith("->") for line in lines) == 2


def test_l7_connection_names_each_pick_and_dsr_goes_through_the_router() -> None:
    picks = [line for line in _listing("l7") if "request complete" in line]
    assert len(picks) == 2
    assert "opens a new connection" in picks[0] and "reuses a pooled connection" in picks[1]
    dsr = _listing("dsr")
    assert any("web-1>router" in line for line in dsr)
    assert not any("switch" in line for line in dsr)


def test_cli_trace_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["trace", "quickstart", "--variant", "l4", "--connection"]
    args += ["--set", "clients.browsers.requests_per_connection=1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Whole connection of" in out and "NAT table miss: new entry" in out


def test_sentences_of_every_reason() -> None:
    def d(reason: str, backend: str | None = "web-3", **values: Any) -> str:
        return sentence(DecisionRecord(0.0, "lb", reason, "", None, backend, tuple(values.items())))

    assert d("mss_clamp", before=8960, after=1460) == "MSS option clamped 8960 \u2192 1460"
    assert d("cache_hit", path="/a") == "cache hit: answered /a without a backend"
    assert d("backend_down") == "backend web-3 marked down: skipped"
    pick = {"algorithm": "least_request", "in_flight": 1, "others": "3", "upstream": "pooled"}
    assert d("rule_match", rule="/pictures/", group="pictures", **pick) == (
        "rule /pictures/ matched \u2192 group pictures \u2192 least_request: fewest requests "
        "in flight picked web-3 (1 in flight, others 3); reuses a pooled connection"
    )
    assert d("retry", tries=2, **{**pick, "others": "", "upstream": "new"}) == (
        "retry (try 2): least_request: fewest requests in flight picked web-3 "
        "(1 in flight, no other candidate); opens a new connection to it"
    )
    assert d("backend_down", state="ejected") == "backend web-3 ejected: skipped"
    assert d("backend_down", by="health_check", probes=3) == (
        "health checks: web-3 failed 3 probes in a row: marked down"
    )
    assert d("backend_up", by="health_check", probes=2) == (
        "health checks: web-3 passed 2 probes in a row: marked up again"
    )
    assert d("refused", None, why="blocked", status=403) == (
        "request refused (blocked): answered 403 without a backend"
    )
    assert d("ejected", failures=5, ms=30000) == (
        "outlier detection: web-3 failed 5 requests in a row: ejected for 30000 ms"
    )
    assert d("proxy_pick", algorithm="round_robin", warm=1) == (
        "new client connection: round_robin: next in rotation picked web-3; "
        "the proxy splices a warm pooled connection to it"
    )
    assert d("proxy_pick", algorithm="round_robin", warm=0, proxy_protocol="v2") == (
        "new client connection: round_robin: next in rotation picked web-3; "
        "the proxy opens its own connection to it (cold connect), "
        "writing a PROXY v2 header naming the client first"
    )
    assert d("something_new", x=1) == "something_new {'x': 1}"


def test_time_axis_keeps_order_and_scale_where_it_can() -> None:
    # A 10 ms link and a 0.2 ms one: the fast arrows' instants are 0.2 ms apart.
    instants = [0.0, 10.0, 10.2, 10.4, 20.4, 30.4, 30.6]
    axis = TimeAxis(instants, label_fraction=0.05)
    ys = [axis.y(t) for t in instants]
    assert ys == sorted(ys)
    gaps = np.diff(ys)
    assert axis.stretched
    assert min(gaps) >= 0.05 * axis.span * (1 - 1e-6)  # every gap holds a label
    # Long intervals keep their real length; ticks map back to real times.
    assert gaps[0] == pytest.approx(10.0) and gaps[3] == pytest.approx(10.0)
    for t in (0.0, 5.0, 10.1, 25.0, 30.6):
        assert axis.t(axis.y(t)) == pytest.approx(t)
    # Nothing crowds: nothing is stretched.
    assert not TimeAxis([0.0, 10.0, 20.0], label_fraction=0.05).stretched


@pytest.mark.parametrize(("client", "backend"), [("10ms", "200us"), ("100ms", "1us")])
def test_ladder_labels_never_overlap_at_any_link_ratio(client: str, backend: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Annotation

    from lbsim.teach.ladder import ladder_figure

    fast = scenario(
        duration="300ms",
        network={
            "client_link": {"latency": client, "bandwidth": "100Mbps", "mtu": 1500},
            "backend_link": {"latency": backend, "bandwidth": "10Gbps", "mtu": 9000},
        },
        clients=[
            {
                "name": "c",
                "count": 1,
                "requests": [{"path": "/", "size": "400B", "response": "20KB"}],
            }
        ],
        balancers=[{"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE}],
    )
    fig = ladder_figure(trace_variant(fast, "l4", request_id="c-0-0"), "c-0-0", max_segments=60)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.texts if isinstance(t, Annotation)]
    assert len(boxes) >= 8  # the handshake, the request and the response are labelled
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_w = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_h = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert overlap_w <= 1 or overlap_h <= 1, (a, b)
    assert "stretched" in ax.get_ylabel()
