"""Figure ``outcomes_by_client.png``: what became of each client group's requests.

Theory of operation: a layer-7 balancer reads each request, so it can refuse a
missing or forged token (401), refuse a path to a client not allowed on it or a
blocked client (403), and answer a fresh copy from its cache without a backend;
a layer-4 balancer passes every connection through, so all of that reaches the
backends, which would have to check it themselves (concepts C14, C19). Each
request of the statistics window falls into one category:

* served by a backend (a 2xx or 3xx status from a backend),
* answered from the balancer's cache (``cache_hit``),
* refused at the balancer, 401 (authentication),
* refused at the balancer, 403 (authorization or blocked client),
* anything else (another status, an error or a timeout).

One panel per variant, one horizontal bar per client group, split by category
as a share of the group's requests (with the count at the end of the bar).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from lbsim.plots.style import OKABE_ITO, new_figure, styled, variant_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["CATEGORIES", "FILENAME", "outcome_shares", "outcomes_by_client"]

FILENAME = "outcomes_by_client.png"

#: Category -> (colour, hatch): what became of a request.
CATEGORIES: dict[str, tuple[str, str]] = {
    "served by a backend": (OKABE_ITO["bluish green"], ""),
    "answered from the balancer's cache": (OKABE_ITO["sky blue"], ".."),
    "refused at the balancer: 401 (no valid token)": (OKABE_ITO["orange"], "//"),
    "refused at the balancer: 403 (not allowed, blocked)": (OKABE_ITO["vermillion"], "xx"),
    "other status, error or timeout": ("0.55", "\\\\"),
}


def _category(row: pd.Series) -> str:
    names = list(CATEGORIES)
    if row["cache_hit"] is True:
        return names[1]
    status = row["status"]
    if pd.notna(row["backend"]) and pd.notna(status) and 200 <= int(status) < 400:
        return names[0]
    if row["outcome"] == "blocked" and pd.notna(status):
        return names[2] if int(status) == 401 else names[3]
    return names[4]


def outcome_shares(results: Results, variant: str) -> pd.DataFrame:
    """Requests of the window per client group and category (counts).

    Args:
        results: Results of a run.
        variant: Balancer variant.

    Returns:
        One row per client group (in the order groups appear), one column per
        :data:`CATEGORIES` entry, request counts.
    """
    window = results.window_requests(variant)
    groups = list(dict.fromkeys(results.requests["client"]))
    if window.empty:
        return pd.DataFrame(0, index=groups, columns=list(CATEGORIES))
    categories = window.apply(_category, axis=1)
    counts = pd.crosstab(window["client"], categories)
    return counts.reindex(index=groups, columns=list(CATEGORIES), fill_value=0)


def outcomes_by_client(results: Results) -> Figure:
    """Draw, per variant, each client group's requests split by what became of them.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    variants = results.summary["variants"]
    counts = {v: outcome_shares(results, v) for v in variants}
    groups = list(dict.fromkeys(results.requests["client"]))
    rows = np.arange(len(groups))
    count = max(len(variants), 1)
    with styled():
        figure = new_figure(width=max(7.0, 5.0 * count), height=2.6 + 0.5 * max(len(groups), 1))
        axes = figure.subplots(1, count, sharey=True, squeeze=False)[0]
        for ax, name in zip(axes, variants, strict=False):
            frame = counts[name]
            totals = frame.sum(axis=1).to_numpy(float)
            start = np.zeros(len(groups))
            for category, (color, hatch) in CATEGORIES.items():
                with np.errstate(invalid="ignore", divide="ignore"):
                    widths = np.nan_to_num(frame[category].to_numpy(float) / totals * 100)
                ax.barh(
                    rows,
                    widths,
                    left=start,
                    height=0.62,
                    color=color,
                    hatch=hatch,
                    edgecolor="white",
                    linewidth=0.6,
                )
                start = start + widths
            for row, total in zip(rows, totals, strict=True):
                ax.text(100.5, row, f"n={int(total)}", va="center", fontsize=8)
            info = variants[name]
            title = variant_label(name, info["layer"], info["algorithm"])
            if info["layer"] == 4:  # it cannot read a token or a path: the check moves
                title += "\ncannot read requests: backends must check"
            elif any(variants[v]["layer"] == 4 for v in variants):
                title += "\nreads each request: checks at the edge"
            ax.set_title(title, loc="left")
            ax.set_xlim(0, 112)
            ax.set_xticks([0, 20, 40, 60, 80, 100])
            ax.set_xlabel("share of the group's requests (%)")
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(rows, groups)
        axes[0].invert_yaxis()
        axes[0].set_ylabel("client group")
        handles = [
            Patch(facecolor=color, hatch=hatch, edgecolor="white", label=text)
            for text, (color, hatch) in CATEGORIES.items()
        ]
        figure.legend(
            handles=handles, loc="outside lower center", ncols=2, title="what became of the request"
        )
        figure.suptitle(f"Outcome of each client group's requests — {results.scenario}")
    return figure
