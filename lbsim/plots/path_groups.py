"""Figure ``path_groups.png``: which backend group served each kind of request.

Theory of operation: a layer-7 balancer reads the method and path of each
request and can send pictures to the picture servers and writes to the writable
database replica; a layer-4 balancer sees only addresses and ports, so every kind
of request lands on every group, including writes on read-only replicas (concept
C18). Requests of the statistics window are grouped by *route*: method plus path,
with numeric path segments folded into ``{n}`` (``GET /pictures/{n}``). For each
variant, a panel draws one horizontal bar per route, split by the backend group
(a backend's name without its ``-k`` instance number) that served the requests,
as a share of the route's served requests. One colour per bar means the route
went to one group.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from lbsim.plots.style import backend_colors, new_figure, styled, variant_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "path_groups", "route_group_shares"]

FILENAME = "path_groups.png"

_NUMBER = re.compile(r"/\d+(?=/|$)")
_INSTANCE = re.compile(r"-\d+$")


def _route(method: str, path: str) -> str:
    return f"{method} {_NUMBER.sub('/{n}', path)}"


def route_group_shares(results: Results, variant: str) -> pd.DataFrame:
    """Share of each route's served window requests per backend group.

    Args:
        results: Results of a run.
        variant: Balancer variant.

    Returns:
        One row per route (``GET /pictures/{n}``), one column per backend group;
        rows sum to 1. Routes no backend served are left out.
    """
    window = results.window_requests(variant)
    served = window[window["backend"].notna()]
    routes = [_route(m, p) for m, p in zip(served["method"], served["path"], strict=True)]
    groups = [_INSTANCE.sub("", str(b)) for b in served["backend"]]
    counts = pd.crosstab(pd.Series(routes, name="route"), pd.Series(groups, name="group"))
    return counts.div(counts.sum(axis=1), axis=0)


def path_groups(results: Results) -> Figure:
    """Draw, per variant, each route's requests split by the backend group that served them.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    variants = results.summary["variants"]
    shares = {v: route_group_shares(results, v) for v in variants}
    routes = sorted({r for frame in shares.values() for r in frame.index})
    groups = list(
        dict.fromkeys(_INSTANCE.sub("", b) for names in results.backends.values() for b in names)
    )
    groups += sorted({g for f in shares.values() for g in f.columns} - set(groups))
    colors = dict(zip(groups, backend_colors(len(groups)), strict=True))
    hatches = dict(zip(groups, ["", "//", "..", "xx", "\\\\", "oo", "--", "++"] * 4, strict=False))
    rows = np.arange(len(routes))
    count = max(len(variants), 1)
    with styled():
        figure = new_figure(width=max(7.0, 5.2 * count), height=2.0 + 0.5 * max(len(routes), 1))
        axes = figure.subplots(1, count, sharey=True, squeeze=False)[0]
        for ax, name in zip(axes, variants, strict=False):
            frame = shares[name].reindex(index=routes, columns=groups, fill_value=0.0)
            start = np.zeros(len(routes))
            for group in groups:
                widths = frame[group].to_numpy(float) * 100
                ax.barh(
                    rows,
                    widths,
                    left=start,
                    height=0.62,
                    color=colors[group],
                    hatch=hatches[group],
                    edgecolor="white",
                    linewidth=0.6,
                )
                start = start + widths
            info = variants[name]
            ax.set_title(variant_label(name, info["layer"], info["algorithm"]), loc="left")
            ax.set_xlim(0, 100)
            ax.set_xlabel("share of the route's requests (%)")
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(rows, routes)
        axes[0].invert_yaxis()
        axes[0].set_ylabel("request (method and path)")
        handles = [
            Patch(facecolor=colors[g], hatch=hatches[g], edgecolor="white", label=g) for g in groups
        ]
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=min(len(groups), 6),
            title="backend group that served it",
        )
        figure.suptitle(f"Which backend group served each kind of request — {results.scenario}")
    return figure
