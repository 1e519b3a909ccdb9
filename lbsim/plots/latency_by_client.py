"""Figure ``latency_by_client.png``: latency per client group, one panel per group.

Theory of operation: when client groups differ (slow mobile uploads next to fast
broadband users, a lossy link next to a clean one), one latency curve over all
requests mixes them and hides who suffers. Here each client group gets its own
panel with the latency CDF of its successful requests in the statistics window,
one line per variant (colour, line style and markers as in ``latency_cdf.png``).
Reading across a panel compares the balancers for that group: behind a layer-4
balancer slow clients' uploads hold blocking backend workers, so broadband
requests queue behind them; a layer-7 balancer buffers the upload first, so the
broadband curve stays where it would be without the slow clients (concept C16).
The latency axis is logarithmic. When all groups fit within two decades the
panels share it, so magnitudes compare at a glance (a lossy mobile link next to
broadband); otherwise each panel fits its own group, so that the shape of a group
far slower than the others stays readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.lines import Line2D

from lbsim.plots.latency_cdf import ecdf
from lbsim.plots.style import (
    label_log_axis,
    line_styles,
    new_figure,
    styled,
    variant_colors,
    variant_label,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "group_latencies", "latency_by_client"]

FILENAME = "latency_by_client.png"

# Panels share one latency axis when every group fits in this ratio (two decades).
_SHARE_WITHIN = 100.0


def group_latencies(results: Results, variant: str) -> dict[str, np.ndarray]:
    """Latencies (s) of the ``ok`` window requests of each client group, groups in order."""
    window = results.window_requests(variant)
    ok = window[window["outcome"] == "ok"]
    groups = list(dict.fromkeys(results.requests["client"]))
    return {g: ok.loc[ok["client"] == g, "latency"].to_numpy(float) for g in groups}


def latency_by_client(results: Results) -> Figure:
    """Draw one latency-CDF panel per client group, one line per variant.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    variants = results.summary["variants"]
    data = {v: group_latencies(results, v) for v in variants}
    groups = list(dict.fromkeys(results.requests["client"])) or ["(no requests)"]
    looks = line_styles(len(variants))
    colors = variant_colors(len(variants))
    with styled():
        figure = new_figure(width=max(7.0, 4.6 * len(groups)), height=4.8)
        axes = figure.subplots(1, len(groups), sharey=True, squeeze=False)[0]
        for ax, group in zip(axes, groups, strict=True):
            for index, name in enumerate(variants):
                values = data[name].get(group, np.array([])) * 1e3
                if values.size == 0:
                    continue
                x, y = ecdf(values)
                spots = np.searchsorted(y, (np.arange(6) + 0.3 + 0.5 * index / len(variants)) / 6)
                ax.step(
                    x,
                    y,
                    where="post",
                    color=colors[index],
                    linestyle=looks[index][0],
                    marker=looks[index][1],
                    markerfacecolor="white",
                    markersize=5,
                    markevery=sorted({int(i) for i in np.minimum(spots, x.size - 1)}),
                )
                median = float(np.median(values))
                ax.plot([median], [0.5], "|", color=colors[index], markersize=14, mew=2)
            ax.set_title(f"client group: {group}", loc="left")
            ax.set_xlabel("latency (ms, log scale)")
            ax.set_ylim(0, 1.02)
        axes[0].set_ylabel("fraction of the group's successful requests")
        drawn = [v for per_group in data.values() for v in per_group.values() if v.size]
        spread = (
            max(float(v.max()) for v in drawn) / max(min(float(v.min()) for v in drawn), 1e-6)
            if drawn
            else 1.0
        )
        if spread <= _SHARE_WITHIN:
            for ax in axes[1:]:
                ax.sharex(axes[0])
        for ax in axes:
            if ax.get_lines():
                ax.set_xscale("log")
                label_log_axis(ax.xaxis)
        handles = [
            Line2D(
                [],
                [],
                color=colors[i],
                linestyle=looks[i][0],
                marker=looks[i][1],
                markerfacecolor="white",
                label=_label(results, name),
            )
            for i, name in enumerate(variants)
        ]
        handles.append(
            Line2D(
                [], [], color="0.35", marker="|", linestyle="", markersize=10, mew=2, label="median"
            )
        )
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(handles), 4),
            title="balancer variant",
        )
        figure.suptitle(f"Latency per client group (CDF) — {results.scenario}")
    return figure


def _label(results: Results, name: str) -> str:
    info = results.summary["variants"][name]
    return variant_label(name, info["layer"], info["algorithm"])
