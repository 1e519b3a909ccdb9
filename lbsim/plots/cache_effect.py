"""Sweep figure: what a layer-7 response cache does, against a swept parameter.

Theory of operation: a layer-7 balancer with a cache answers a fresh copy of a
response itself, so the request never reaches a backend (concept C19); a
layer-4 balancer cannot read requests and has no cache (C14). From the sweep's
summaries, three panels share the swept parameter (typically the cache size):

* the cache hit ratio (``cache.hit_ratio``: hits over lookups of the window's
  cacheable requests). Variants without a cache have no value and are named in
  a note instead of a line;
* the share of the window's requests that reached a backend, derived per run
  as ``(requests - cache.hits - outcomes.blocked - outcomes.rejected) /
  requests``. Requests refused at the edge (``blocked``: failed authentication,
  authorization or a blocked client) and cache hits never reach a backend,
  so an L7 balancer with edge policy stays below 100% even with no hits, and an
  L4 balancer stays at 100%. (Requests that ended in ``error`` or ``timeout``
  are counted as reaching a backend, which they may not have.)
* a latency percentile, because a hit is answered one balancer↔backend round
  trip and one service time sooner.

Every value is the mean over replications with a 95% confidence band
(:func:`lbsim.plots.sweep_metric.draw_metric`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lbsim.plots.quantities import metric_axis
from lbsim.plots.style import new_figure, styled, variants_legend_title
from lbsim.plots.sweep_metric import apply_parameter_axis, draw_metric, variant_names

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.sweep.tables import SweepTable

__all__ = ["BACKEND_SHARE", "cache_effect", "with_backend_share"]

#: Name of the derived column: share of the window's requests that reached a backend.
BACKEND_SHARE = "requests.reached_backend_share"

_HIT_RATIO = "cache.hit_ratio"


def _column(table: SweepTable, name: str) -> np.ndarray:
    runs = table.runs
    if name not in runs.columns:
        return np.zeros(len(runs))
    return runs[name].to_numpy(dtype=float, na_value=np.nan)


def with_backend_share(table: SweepTable) -> SweepTable:
    """``table`` with a :data:`BACKEND_SHARE` column (fraction 0–1) per run and variant."""
    requests = _column(table, "requests")
    hits = np.nan_to_num(_column(table, "cache.hits"))
    refused = np.nan_to_num(_column(table, "outcomes.blocked")) + np.nan_to_num(
        _column(table, "outcomes.rejected")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (requests - hits - refused) / requests
    share[~np.isfinite(share)] = np.nan
    return table.derive(BACKEND_SHARE, share)


def cache_effect(
    table: SweepTable,
    x: str,
    *,
    latency: str | None = "latency.p50",
    x_label: str | None = None,
    title: str | None = None,
) -> Figure:
    """Cache hit ratio, share of requests reaching a backend, and latency against ``x``.

    Args:
        table: The sweep.
        x: Swept key path (e.g. ``balancers.l7.cache.size``).
        latency: Latency metric of the third panel; None leaves the panel out.
        x_label: Label of the x axes (default: the path with its unit).
        title: Figure title.

    Returns:
        The figure (not saved).
    """
    table = with_backend_share(table)
    runs = table.runs
    cached = [
        v
        for v in table.variants
        if _HIT_RATIO in runs.columns and runs.loc[runs["variant"] == v, _HIT_RATIO].notna().any()
    ]
    uncached = [v for v in table.variants if v not in cached]
    labels = variant_names(table)
    with styled():
        count = 3 if latency else 2
        figure = new_figure(width=3.7 * count, height=4.6)
        axes = list(figure.subplots(1, count, sharex=True))
        hit_ax, share_ax = axes[0], axes[1]
        if cached:
            draw_metric(hit_ax, table, x, _HIT_RATIO, variants=cached, scale=100.0)
        draw_metric(share_ax, table, x, BACKEND_SHARE, scale=100.0)
        if latency:
            draw_metric(axes[2], table, x, latency)
            axes[2].set_ylabel(metric_axis(latency).label)
            axes[2].set_ylim(bottom=0)
            axes[2].set_title("Latency of successful requests", loc="left")
        for ax in axes:
            apply_parameter_axis(ax, table, x, None)
            if x_label:
                ax.set_xlabel(x_label)
        hit_ax.set_ylabel("cache hit ratio (% of cacheable requests)")
        hit_ax.set_ylim(0, 100)
        hit_ax.set_title("Cache hit ratio", loc="left")
        if uncached:
            note = "\n".join(f"{labels[v]}:\nno cache, no hits" for v in uncached)
            hit_ax.text(0.97, 0.04, note, transform=hit_ax.transAxes, ha="right", va="bottom")
        share_ax.set_ylabel("requests reaching a backend (% of requests)")
        share_ax.set_ylim(0, 105)
        share_ax.set_title("Backend load", loc="left")
        handles, names = share_ax.get_legend_handles_labels()
        figure.legend(
            handles,
            names,
            loc="outside lower center",
            ncols=max(len(names), 1),
            title=variants_legend_title(table.replications),
        )
        figure.suptitle(title or f"Response cache vs {x} — {table.scenario}")
    return figure
