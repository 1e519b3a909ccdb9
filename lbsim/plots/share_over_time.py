"""Figure ``stickiness.png``: each backend's share of requests over time, per variant.

Theory of operation: requests are binned by the time they were issued
(:func:`lbsim.metrics.backend_share_over_time`), and each variant gets one panel of
stacked areas whose heights are the backends' shares of the requests in each bin
(so every stack reaches 1). A layer-4 balancer keeps every request of a connection
on one backend, so with few long-lived connections its bands stay lopsided; a
layer-7 balancer places each request, so its bands converge to the algorithm's
target. Bins without served requests are left blank rather than drawn as zero.
The warm-up, excluded from statistics, is veiled; scheduled events (a backend
added, a crash) are marked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from lbsim import metrics
from lbsim.plots.style import (
    backend_colors,
    mark_events,
    new_figure,
    scheduled_events,
    shade_warmup,
    styled,
    variant_label,
)

if TYPE_CHECKING:
    from lbsim.results import Results

__all__ = ["FILENAME", "all_backends", "nice_bin_seconds", "share_over_time"]

FILENAME = "stickiness.png"

_TARGET_BINS = 60


def nice_bin_seconds(duration: float, target_bins: int = _TARGET_BINS) -> float:
    """Smallest 1-2-5 × 10^k bin width giving at most ``target_bins`` bins over ``duration``."""
    if duration <= 0:
        return 1.0
    raw = duration / target_bins
    exponent = math.floor(math.log10(raw))
    for step in (1.0, 2.0, 5.0, 10.0):
        width = step * 10.0**exponent
        if width >= raw * (1 - 1e-12):
            return width
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def all_backends(results: Results) -> list[str]:
    """Every backend of every variant, in first-seen order (one colour each)."""
    seen: dict[str, None] = {}
    for names in results.backends.values():
        seen.update(dict.fromkeys(names))
    seen.update(dict.fromkeys(sorted(results.requests["backend"].dropna().unique())))
    return list(seen)


def share_over_time(results: Results, bin_seconds: float | None = None) -> Figure:
    """Draw per-backend request shares over time, one stacked-area panel per variant.

    Args:
        results: Results of one scenario run.
        bin_seconds: Width of a time bin in simulated seconds; by default about 60
            bins over the scenario's duration (see :func:`nice_bin_seconds`).

    Returns:
        The figure (not saved; see :func:`lbsim.plots.style.save_figure`).
    """
    variants = results.summary["variants"]
    bin_width = bin_seconds or nice_bin_seconds(results.duration)
    backends = all_backends(results)
    colors = dict(zip(backends, backend_colors(len(backends)), strict=True))
    with styled():
        figure = new_figure(height=1.5 + 2.3 * max(len(variants), 1))
        axes = figure.subplots(max(len(variants), 1), 1, sharex=True, squeeze=False)[:, 0]
        for ax, name in zip(axes, variants, strict=False):
            info = variants[name]
            rows = results.requests[results.requests["variant"] == name]
            shares = metrics.backend_share_over_time(
                rows, backends, bin_width, start=0.0, end=results.duration
            )
            # Repeat the last bin at its right edge so step="post" draws it full width.
            edges = np.append(shares.index.to_numpy(float), results.duration)
            values = np.vstack([shares.to_numpy(), shares.to_numpy()[-1:]]).T
            ax.stackplot(
                edges,
                values,
                step="post",
                colors=[colors[b] for b in shares.columns],
                edgecolor="white",
                linewidth=0.4,
            )
            shade_warmup(ax, results.warmup)
            mark_events([ax], scheduled_events(results))
            sticky = info["stickiness"]
            sticky_text = "n/a" if sticky is None else f"{sticky:.2f}"
            ax.set_title(
                f"{variant_label(name, info['layer'], info['algorithm'])} — "
                f"stickiness {sticky_text}",
                loc="left",
            )
            ax.set_xlim(0.0, results.duration)
            ax.set_ylim(0.0, 1.0)
            ax.set_ylabel("share of requests")
            ax.set_xlabel("simulated time (s)")
            ax.tick_params(labelbottom=True)  # every panel readable on its own
            ax.grid(False)
        handles = [Patch(facecolor=colors[b], edgecolor="white", label=b) for b in backends]
        if results.warmup > 0:
            handles.append(
                Patch(facecolor="white", hatch="//", edgecolor="0.5", label="warm-up (excluded)")
            )
        rows = math.ceil(len(handles) / 5)
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=math.ceil(len(handles) / rows),
            title="backend",
        )
        figure.suptitle(
            f"Per-backend share of requests over time ({bin_width:g} s bins) — {results.scenario}"
        )
    return figure
