"""Figure ``backend_requests.png``: requests each backend served, per variant.

Theory of operation: count the requests issued in the statistics window that each
backend served, per balancer variant, and draw them as grouped bars (one group per
backend, one bar per variant), labelled with their counts while those stay legible.
Every backend a variant could use appears, so an idle backend shows as a zero bar
rather than disappearing. The legend repeats each variant's Jain fairness index
from ``summary.json`` (1.0 = perfectly even).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from lbsim.plots.style import new_figure, styled, variant_colors, variant_label

if TYPE_CHECKING:
    from lbsim.results import Results

__all__ = ["FILENAME", "backend_requests"]

FILENAME = "backend_requests.png"


def backend_requests(results: Results) -> Figure:
    """Draw grouped bars of requests per backend, one bar per variant.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved; see :func:`lbsim.plots.style.save_figure`).
    """
    variants = results.summary["variants"]
    backends: list[str] = []
    for name in variants:
        backends.extend(b for b in variants[name]["backend_share"] if b not in backends)
    positions = np.arange(len(backends), dtype=float)
    width = 0.8 / max(len(variants), 1)
    with styled():
        figure = new_figure()
        ax = figure.add_subplot()
        for i, (name, color) in enumerate(
            zip(variants, variant_colors(len(variants)), strict=True)
        ):
            info = variants[name]
            served = results.window_requests(name)["backend"].value_counts()
            counts = [int(served.get(b, 0)) for b in backends]
            jain = info["jain_fairness"]
            jain_text = "n/a" if jain is None else f"{jain:.3f}"
            label = f"{variant_label(name, info['layer'], info['algorithm'])}, Jain {jain_text}"
            offset = (i - (len(variants) - 1) / 2) * width
            bars = ax.bar(positions + offset, counts, width, color=color, label=label)
            if len(backends) * len(variants) <= 24:  # exact counts while they stay legible
                ax.bar_label(bars, padding=2, fontsize=8)
        ax.set_xticks(
            positions,
            backends,
            rotation=45 if len(backends) > 8 else 0,
            ha="right" if len(backends) > 8 else "center",
        )
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("backend")
        ax.set_ylabel("requests served (count)")
        ax.set_title(f"Requests per backend, statistics window — {results.scenario}")
        figure.legend(
            loc="outside lower center",
            ncols=min(len(variants), 2) or 1,
            title="balancer variant (Jain fairness)",
        )
    return figure
