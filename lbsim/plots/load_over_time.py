"""Figure ``load_over_time.png``: offered and completed load, failures and latency over time.

Theory of operation: requests are binned by time, about 60 bins over the run
(:func:`lbsim.plots.share_over_time.nice_bin_seconds`). Three panels share the time
axis, one line per variant (its own colour, line style and marker):

1. *requests per second*: completed (``ok`` requests whose last byte arrived in
   the bin, solid) against offered (requests issued in the bin, thin grey
   dotted). A system that keeps up completes what it is offered; an overloaded
   one (a balancer CPU saturated by TLS handshakes, concept C20) completes less
   and its line falls away from the offered one;
2. *failed requests per second* (any outcome but ``ok``, by the time they ended):
   a crash, a refused connection or exhausted source ports (C2, C13) show up as a
   burst here;
3. *latency* of the bin's successful requests: the median (line) and the 99th
   percentile (thin line, same style), on a log axis, so a queue building up
   behind a saturated balancer shows as a climb.

Scheduled events (``timeseries.csv``: ``event.*``) are marked by vertical lines
named at the top, and the warm-up is veiled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from lbsim.plots.share_over_time import nice_bin_seconds
from lbsim.plots.style import (
    label_log_axis,
    line_styles,
    mark_events,
    new_figure,
    scheduled_events,
    shade_warmup,
    styled,
    variant_colors,
    variant_label,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "load_over_time", "rates_over_time"]

FILENAME = "load_over_time.png"


def rates_over_time(results: Results, variant: str, bin_seconds: float) -> pd.DataFrame:
    """Per-bin offered, completed and failed rates and latency quantiles of one variant.

    Args:
        results: Results of a run.
        variant: Balancer variant.
        bin_seconds: Bin width in seconds.

    Returns:
        Indexed by bin start (``time``, s): ``offered``, ``completed`` and
        ``failed`` (requests per second), ``p50`` and ``p99`` (latency of the bin's
        ``ok`` requests by issue time, seconds; NaN for a bin without any).
    """
    rows = results.requests[results.requests["variant"] == variant]
    count = max(int(np.ceil(results.duration / bin_seconds - 1e-9)), 1)
    edges = np.arange(count + 1) * bin_seconds

    def per_second(times: pd.Series) -> np.ndarray:
        counts, _ = np.histogram(times.to_numpy(float), bins=edges)
        return counts / bin_seconds

    ok = rows["outcome"] == "ok"
    issued_bin = np.floor(rows["t_start"].to_numpy(float) / bin_seconds).astype(int)
    latency = rows["latency"].to_numpy(float)
    p50 = np.full(count, np.nan)
    p99 = np.full(count, np.nan)
    okay = ok.to_numpy()
    for index in range(count):
        mine = latency[okay & (issued_bin == index)]
        if mine.size:
            p50[index], p99[index] = np.percentile(mine, [50, 99])
    return pd.DataFrame(
        {
            "offered": per_second(rows["t_start"]),
            "completed": per_second(rows.loc[ok, "t_end"]),
            "failed": per_second(rows.loc[~ok, "t_end"]),
            "p50": p50,
            "p99": p99,
        },
        index=pd.Index(edges[:-1], name="time"),
    )


def load_over_time(results: Results) -> Figure:
    """Draw offered vs completed load, failures and latency over time, one line per variant.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    variants = results.summary["variants"]
    bin_width = nice_bin_seconds(results.duration)
    rates = {v: rates_over_time(results, v, bin_width) for v in variants}
    looks = line_styles(len(variants))
    with styled():
        figure = new_figure(width=9.0, height=8.4)
        top, middle, bottom = figure.subplots(3, 1, sharex=True)
        for (name, color), (linestyle, marker) in zip(
            zip(variants, variant_colors(len(variants)), strict=True), looks, strict=True
        ):
            data = rates[name]
            mid = data.index.to_numpy(float) + bin_width / 2
            every = max(len(mid) // 12, 1)
            style = {
                "color": color,
                "linestyle": linestyle,
                "marker": marker,
                "markevery": every,
                "markersize": 4.5,
                "markerfacecolor": "white",
            }
            top.plot(mid, data["offered"], color=color, linestyle=":", linewidth=1.0, alpha=0.8)
            top.plot(mid, data["completed"], **style)
            middle.plot(mid, data["failed"], **style)
            bottom.plot(
                mid, data["p99"] * 1e3, color=color, linestyle=linestyle, linewidth=0.9, alpha=0.7
            )
            bottom.plot(mid, data["p50"] * 1e3, **style)
        top.set_ylabel("requests per second")
        top.set_title("Completed (bold) vs offered (dotted) load", loc="left")
        middle.set_ylabel("failed requests per second")
        middle.set_title("Failures (any outcome but ok)", loc="left")
        bottom.set_ylabel("latency (ms, log scale)")
        bottom.set_title(
            "Latency of successful requests: median (bold), 99th percentile (thin)", loc="left"
        )
        bottom.set_xlabel(f"simulated time (s), {bin_width:g} s bins")
        for ax in (top, middle):
            ax.set_ylim(0, max(ax.get_ylim()[1] * 1.12, 1e-9))  # headroom for event names
        if not any(rates[v]["failed"].any() for v in variants):
            middle.text(
                0.5,
                0.5,
                "no failed requests",
                transform=middle.transAxes,
                ha="center",
                va="center",
                color="0.3",
            )
        has_latency = any(rates[v]["p50"].notna().any() for v in variants)
        if has_latency:
            low = min(
                float(np.nanmin(rates[v]["p50"])) for v in variants if rates[v]["p50"].notna().any()
            )
            high = max(
                float(np.nanmax(rates[v]["p99"])) for v in variants if rates[v]["p99"].notna().any()
            )
            bottom.set_yscale("log")
            bottom.set_ylim(low * 1e3 / 1.15, high * 1e3 * 1.15)
            label_log_axis(bottom.yaxis)
        for ax in (top, middle, bottom):
            ax.set_xlim(0, results.duration)
            shade_warmup(ax, results.warmup)
        mark_events([top, middle, bottom], scheduled_events(results))
        handles = [
            Line2D(
                [],
                [],
                color=color,
                linestyle=ls,
                marker=mk,
                markerfacecolor="white",
                label=_label(results, name),
            )
            for (name, color), (ls, mk) in zip(
                zip(variants, variant_colors(len(variants)), strict=True), looks, strict=True
            )
        ]
        handles.append(Line2D([], [], color="0.4", linestyle=":", label="offered (each variant)"))
        figure.legend(
            handles=handles, loc="outside lower center", ncols=2, title="balancer variant"
        )
        figure.suptitle(f"Load, failures and latency over time — {results.scenario}")
    return figure


def _label(results: Results, name: str) -> str:
    info = results.summary["variants"][name]
    return variant_label(name, info["layer"], info["algorithm"])
