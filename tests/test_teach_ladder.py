"""Ladder diagrams (lbsim.teach.ladder): one arrow per segment, labelled, on the right lifelines.

The tiny scenario of ``tests/engine/test_exact_trace.py`` has an exact segment list:
20 segments through the L4 NAT balancer and 17 through the L7 proxy (which opens its
own backend connection only once the request is complete). A larger request shows
the difference between cut-through (C9) and buffering (C16).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.patches import FancyArrowPatch

from lbsim.plots.style import save_figure
from lbsim.teach import ladder_figure, ladder_segments, trace_variant
from lbsim.teach.ladder import SEGMENT_GID
from scenarios import FREE, scenario


def tiny(request_size: str = "400B", response: str = "1000B") -> Any:
    return scenario(
        duration="1ms",
        network={
            "client_link": {"latency": "10ms", "bandwidth": "1Gbps"},
            "backend_link": {"latency": "1ms", "bandwidth": "1Gbps"},
        },
        backends=[{"group": "web", "count": 1, "workers": 1, "service_time": "5ms"}],
        clients=[
            {
                "name": "c",
                "count": 1,
                "requests": [{"path": "/", "size": request_size, "response": response}],
            }
        ],
        balancers=[
            {"name": "l4", "layer": 4, "algorithm": "round_robin", "costs": FREE},
            {"name": "l7", "layer": 7, "algorithm": "round_robin", "costs": FREE},
        ],
    )


def arrows(figure: Any) -> list[FancyArrowPatch]:
    (ax,) = figure.axes
    return [p for p in ax.patches if p.get_gid() == SEGMENT_GID]


@pytest.mark.parametrize(("variant", "count"), [("l4", 20), ("l7", 17)])
def test_one_arrow_per_segment_of_the_exact_trace(variant: str, count: int) -> None:
    trace = trace_variant(tiny(), variant)
    assert len(trace.segments) == count  # the exact traces of test_exact_trace.py
    figure = ladder_figure(trace, "c-0-0")
    assert len(arrows(figure)) == count
    (ax,) = figure.axes
    assert "time" in ax.get_ylabel() and "ms" in ax.get_ylabel()
    assert ax.get_xlabel()
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[0].startswith("client side: 100.64.0.1:32768")
    if variant == "l4":
        assert "same TCP connection" in texts[1]
    else:
        assert "the balancer's own TCP connection" in texts[1]
        assert any(t.startswith("request held at the balancer") for t in texts)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0].startswith("client c-h0") and ticks[2].startswith("backend web-1")
    assert "reads L2–L4, rewrites L3–L4" in ticks[1] or "terminates L4" in ticks[1]


def test_labels_use_sequence_numbers_relative_to_the_isn() -> None:
    frame = ladder_segments(trace_variant(tiny(), "l4"), "c-0-0")
    assert frame["label"].iloc[0] == "SYN seq=0"
    assert frame["label"].iloc[2] == "SYN,ACK seq=0 ack=1"
    request = frame[frame["payload"] == 400]
    assert list(request["sender"]) == ["client", "balancer"]  # straight through the NAT
    assert list(request["rel_seq"]) == [1, 1]
    assert request["label"].iloc[0] == "PSH,ACK seq=1 ack=1 len=400 · GET /"
    assert (frame["arrival"] > frame["time"]).all()  # time flows down


def test_l7_upstream_request_waits_for_the_whole_client_request() -> None:
    trace = trace_variant(tiny("4000B"), "l7")
    frame = ladder_segments(trace, "c-0-0")
    sent = frame[(frame["payload"] > 0) & (frame["sender"] == "client")]
    upstream = frame[(frame["payload"] > 0) & (frame["sender"] == "balancer")]
    upstream = upstream[upstream["receiver"] == "backend"]
    assert len(sent) == 3  # 4000 B in 1460-byte segments
    assert upstream["time"].min() >= sent["arrival"].max()  # buffering (C16)


def test_l4_forwards_the_first_request_segment_before_the_last_arrives() -> None:
    trace = trace_variant(tiny("4000B"), "l4")
    frame = ladder_segments(trace, "c-0-0")
    sent = frame[(frame["payload"] > 0) & (frame["sender"] == "client")]
    forwarded = frame[(frame["payload"] > 0) & (frame["receiver"] == "backend")]
    assert forwarded["time"].min() < sent["arrival"].max()  # cut-through (C9)


def test_segment_limit_and_pure_acks(tmp_path: Path) -> None:
    trace = trace_variant(tiny(), "l4")
    figure = ladder_figure(trace, "c-0-0", max_segments=6)
    assert len(arrows(figure)) == 6
    assert "first 6 of 20 segments" in figure.get_suptitle()
    without_acks = ladder_segments(trace, "c-0-0", acks=False)
    assert not ((without_acks["flags"] == "ACK") & (without_acks["payload"] == 0)).any()
    path = save_figure(figure, tmp_path / "ladder.png", dpi=80)
    assert path.stat().st_size > 5_000
