"""Figure: requests that had to wait for a new upstream connection at a layer-7 proxy.

Theory of operation: a layer-7 balancer forwards a request only once it holds the
whole request (``t_lb_last_byte``); the backend sees its first byte at
``t_backend_first_byte``. The gap between the two is the proxy's work plus one
backend-link trip when an idle pooled connection was available, and one backend
round trip more when the proxy first had to open a connection. The round trip is
measured from the run itself (median handshake time of the variant's backend-side
connections), and a request counts as "on a new upstream connection" when its gap
exceeds the variant's median gap by more than half of it.

Left panel: each request's latency against its issue time over the first
moments of the run, where a cold pool opens its connections; requests on new
upstream connections are drawn as filled markers. Right panel: latency of
requests on new versus pooled upstream connections per variant, as box plots
(box: quartiles, whiskers: 5th and 95th percentiles, line: median), with counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lbsim.plots.style import new_figure, styled, variant_colors, variant_label

if TYPE_CHECKING:
    from lbsim.results import Results

__all__ = ["new_upstream_requests", "upstream_connects"]


def new_upstream_requests(results: Results, variant: str) -> pd.DataFrame:
    """The variant's successful layer-7 requests, flagged by whether they opened a connection.

    Args:
        results: Results of a run.
        variant: A layer-7 variant.

    Returns:
        Columns ``t_start``, ``latency`` (s), ``forward`` (s, balancer to backend)
        and ``new_upstream`` (bool), in issue order.
    """
    rows = results.requests[
        (results.requests["variant"] == variant) & (results.requests["outcome"] == "ok")
    ]
    forward = (rows["t_backend_first_byte"] - rows["t_lb_last_byte"]).astype(float)
    keep = forward.notna()
    rows, forward = rows[keep], forward[keep]
    links = results.connections
    links = links[(links["variant"] == variant) & (links["side"] == "backend")]
    handshakes = (links["t_established"] - links["t_open"]).dropna().astype(float)
    typical = float(forward.median()) if len(forward) else 0.0
    rtt = float(handshakes.median()) if len(handshakes) else typical
    threshold = typical + 0.5 * rtt
    return pd.DataFrame(
        {
            "t_start": rows["t_start"].astype(float).to_numpy(),
            "latency": rows["latency"].astype(float).to_numpy(),
            "forward": forward.to_numpy(),
            "new_upstream": (forward > threshold).to_numpy(),
        }
    )


def upstream_connects(
    results: Results, *, head_seconds: float = 0.25, labels: Mapping[str, str] | None = None
) -> Figure:
    """Latency of requests on new vs pooled upstream connections, per layer-7 variant.

    Args:
        results: Results of a run with layer-7 variants (e.g. cold and warm pool).
        head_seconds: Span of the left panel, from the start of the run.
        labels: Legend text per variant (default: name, layer and algorithm).

    Returns:
        The figure (not saved).
    """
    variants = [name for name, info in results.summary["variants"].items() if info["layer"] == 7]
    colors = dict(zip(variants, variant_colors(len(variants)), strict=True))
    flagged = {name: new_upstream_requests(results, name) for name in variants}
    with styled():
        figure = new_figure(width=11.0, height=5.6)
        grid = figure.add_gridspec(max(len(variants), 1), 2, width_ratios=(3, 2))
        rows = [figure.add_subplot(grid[i, 0]) for i in range(len(variants))]
        right = figure.add_subplot(grid[:, 1])
        for ax, name in zip(rows, variants, strict=True):
            data = flagged[name]
            head = data[data["t_start"] < head_seconds]
            for new in (False, True):
                part = head[head["new_upstream"] == new]
                ax.plot(
                    part["t_start"] * 1e3,
                    part["latency"] * 1e3,
                    linestyle="",
                    marker="o",
                    markersize=5 if new else 4,
                    markerfacecolor=colors[name] if new else "none",
                    markeredgecolor=colors[name],
                )
            opened = int(head["new_upstream"].sum())
            label = (labels or {}).get(name) or _label(results, name)
            ax.set_title(f"{label}: {opened} of {len(head)} opened a connection", loc="left")
            ax.set_xlim(0, head_seconds * 1e3)
            highest = float(head["latency"].max()) * 1e3 if len(head) else 0.0
            ax.set_ylim(0, max(highest * 1.15, 1.0))
            ax.set_ylabel("latency (ms)")
            ax.set_xlabel("request issued at (ms after start)")
        if len(rows) > 1:
            top = max(ax.get_ylim()[1] for ax in rows)
            for ax in rows:
                ax.set_ylim(0, top)
        handles = [
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markerfacecolor="0.3",
                markeredgecolor="0.3",
                label="filled: waited for a new upstream connection",
            ),
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markerfacecolor="none",
                markeredgecolor="0.3",
                label="hollow: used a pooled upstream connection",
            ),
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=2)

        boxes, tick_labels, box_colors = [], [], []
        for name in variants:
            data = flagged[name]
            for new, what in ((True, "new"), (False, "pooled")):
                values = data.loc[data["new_upstream"] == new, "latency"].to_numpy() * 1e3
                boxes.append(values if values.size else np.array([np.nan]))
                tick_labels.append(f"{name}\n{what}\nn={values.size}")
                box_colors.append(colors[name])
        plot = right.boxplot(boxes, whis=(5, 95), showfliers=False, patch_artist=True, widths=0.6)
        for patch, color, tick in zip(plot["boxes"], box_colors, tick_labels, strict=True):
            patch.set_facecolor(color if "new" in tick else "white")
            patch.set_edgecolor(color)
            patch.set_alpha(0.85)
        for median in plot["medians"]:
            median.set_color("black")
        right.set_xticks(range(1, len(tick_labels) + 1), tick_labels)
        right.set_ylabel("latency (ms)")
        right.set_ylim(bottom=0)
        right.set_title("Whole run (box: quartiles,\nwhiskers: p5–p95)", loc="left")
        right.grid(axis="x", visible=False)
        figure.suptitle(f"Warm vs cold upstream connections at layer 7 — {results.scenario}")
    return figure


def _label(results: Results, name: str) -> str:
    info = results.summary["variants"][name]
    return variant_label(name, info["layer"], info["algorithm"])
