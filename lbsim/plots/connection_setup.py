"""Figure: where the time of a request on a new connection goes, per balancer variant.

Theory of operation: every ``ok`` request that had to open its connection
(``new_connection``) in the statistics window is cut into three consecutive
parts with the timestamps the engine records:

1. *connect and send*: from the moment the client starts connecting until the
   backend sees the first request byte (``t_backend_first_byte - t_start``).
   This is where the balancer modes differ: the client's handshake, plus any
   handshake the balancer itself must make towards the backend, plus the trip
   of the request. A balancer that hands the client's connection to a warm,
   already-open backend connection saves one balancer↔backend round trip here
   (concept C4).
2. *at the backend*: the rest of the request arriving, waiting for a worker,
   and service (``t_backend_last_byte - t_backend_first_byte + queue_wait +
   service_time``).
3. *response*: everything after, until the last response byte reaches the
   client (``latency`` minus the two parts above).

The left panel stacks the *means* of the three parts per variant (means add up,
so each bar's length is the mean latency); the first part is labelled with its
value and, when a reference variant is given, with its difference to that
variant. The right panel shows the distribution of the whole latency (box:
quartiles, whiskers: 5th and 95th percentiles, line: median).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lbsim.plots.style import OKABE_ITO, new_figure, styled, variant_colors, variant_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["PARTS", "connection_setup", "new_connection_latency", "setup_parts"]

#: Column name and legend text of each part, in time order.
PARTS: tuple[tuple[str, str], ...] = (
    ("connect", "connect and send: until the backend sees the first request byte"),
    ("backend", "at the backend: rest of the request, queueing, service"),
    ("response", "response: until the last byte reaches the client"),
)

_PART_STYLE = (
    (OKABE_ITO["sky blue"], ""),
    (OKABE_ITO["orange"], "//"),
    (OKABE_ITO["bluish green"], ".."),
)


def setup_parts(results: Results, variant: str) -> pd.DataFrame:
    """The three parts of each window request on a new connection, in seconds.

    Args:
        results: Results of a run.
        variant: Balancer variant.

    Returns:
        Columns ``connect``, ``backend``, ``response`` and ``latency``, one row per
        ``ok`` request of the statistics window that opened its connection and
        reached a backend.
    """
    window = results.window_requests(variant)
    rows = window[(window["outcome"] == "ok") & (window["new_connection"] == True)]  # noqa: E712
    rows = rows[rows["t_backend_first_byte"].notna()]
    first = rows["t_backend_first_byte"].to_numpy(float)
    upload = rows["t_backend_last_byte"].to_numpy(float) - first
    waited = rows["queue_wait"].fillna(0.0).to_numpy(float)
    served = rows["service_time"].fillna(0.0).to_numpy(float)
    latency = rows["latency"].to_numpy(float)
    connect = first - rows["t_start"].to_numpy(float)
    backend = upload + waited + served
    return pd.DataFrame(
        {
            "connect": connect,
            "backend": backend,
            "response": latency - connect - backend,
            "latency": latency,
        }
    )


def new_connection_latency(
    results: Results,
    *,
    variants: Sequence[str] | None = None,
    reference: str | None = None,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Mean latency of requests on new connections, split in parts, per variant.

    Args:
        results: Results of a run.
        variants: Variants to show, top to bottom (default: all, in run order).
        reference: Variant whose *connect and send* part the others are compared
            with (a dotted line and a difference in each bar).
        labels: Row label per variant (default: name, layer and algorithm).
        title: Figure title.

    Returns:
        The figure (not saved).

    Raises:
        KeyError: If a variant is not in the results.
    """
    info = results.summary["variants"]
    chosen = list(results.variants if variants is None else variants)
    for name in [*chosen, *([reference] if reference else [])]:
        if name not in info:
            raise KeyError(f'no variant "{name}" (variants: {", ".join(info)})')
    parts = {name: setup_parts(results, name) * 1e3 for name in chosen}
    means = {name: frame.mean() for name, frame in parts.items()}
    names = [
        (labels or {}).get(v) or variant_label(v, info[v]["layer"], info[v]["algorithm"])
        for v in chosen
    ]
    rows = np.arange(len(chosen))
    palette = dict(zip(results.variants, variant_colors(len(results.variants)), strict=True))
    with styled():
        figure = new_figure(width=11.0, height=1.9 + 0.62 * len(chosen))
        left, right = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": (2.3, 1.0)})
        start = np.zeros(len(chosen))
        for (column, _), (color, hatch) in zip(PARTS, _PART_STYLE, strict=True):
            widths = np.array([float(means[v][column]) if len(parts[v]) else 0.0 for v in chosen])
            left.barh(
                rows,
                widths,
                left=start,
                height=0.62,
                color=color,
                hatch=hatch,
                edgecolor="white",
                linewidth=0.8,
            )
            start = start + widths
        base = float(means[reference]["connect"]) if reference and len(parts[reference]) else None
        for row, name in zip(rows, chosen, strict=True):
            if not len(parts[name]):
                left.text(1.0, row, "no requests on new connections", va="center", fontsize=8.5)
                continue
            connect = float(means[name]["connect"])
            text = f"{connect:.1f} ms"
            if base is not None and name != reference:
                difference = round(connect - base, 1)
                text += f" ({difference:+.1f})" if difference else " (±0.0)"
            left.text(connect - 1.0, row, text, ha="right", va="center", fontsize=8.5)
            total = float(means[name]["latency"])
            left.text(total + 1.0, row, f"{total:.1f} ms", ha="left", va="center", fontsize=8.5)
        if base is not None:
            left.axvline(base, color="0.2", linestyle=":", linewidth=1.2)
        left.invert_yaxis()
        left.set_xlim(0, float(start.max()) * 1.14 if start.size else 1.0)
        left.set_xlabel("mean latency (ms), split into consecutive parts")
        left.grid(axis="y", visible=False)
        left.set_title("Where the time goes (means)", loc="left")

        boxes = [
            frame["latency"].to_numpy() if len(frame) else np.array([np.nan])
            for frame in parts.values()
        ]
        plot = right.boxplot(
            boxes,
            positions=rows,
            orientation="horizontal",
            whis=(5, 95),
            showfliers=False,
            patch_artist=True,
            widths=0.55,
        )
        for patch, name in zip(plot["boxes"], chosen, strict=True):
            patch.set_facecolor(palette[name])
            patch.set_alpha(0.75)
        for median in plot["medians"]:
            median.set_color("black")
        right.set_xlabel("latency (ms)")
        right.set_title("Distribution (box: quartiles,\nwhiskers: p5–p95)", loc="left")
        right.grid(axis="y", visible=False)
        right.tick_params(axis="y", left=False)
        left.set_yticks(rows, names)  # after the box plot, which numbers the shared axis
        counts = ", ".join(f"{v}: {len(parts[v])}" for v in chosen)
        handles: list[Patch | Line2D] = [
            Patch(facecolor=color, hatch=hatch, edgecolor="white", label=text)
            for (_, text), (color, hatch) in zip(PARTS, _PART_STYLE, strict=True)
        ]
        if base is not None:
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.2",
                    linestyle=":",
                    linewidth=1.2,
                    label=f"{reference}'s connect and send; (+x): difference to it, ms",
                )
            )
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=1,
            title=f"part of the latency (ok requests on new connections: {counts})",
        )
        figure.suptitle(title or f"Latency of requests on new connections — {results.scenario}")
    return figure


def connection_setup(results: Results) -> Figure:
    """Figure ``connection_setup.png``: :func:`new_connection_latency` against the first variant.

    Args:
        results: Results of a run.

    Returns:
        The figure (not saved).
    """
    return new_connection_latency(
        results, reference=results.variants[0] if results.variants else None
    )
