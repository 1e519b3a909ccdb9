"""Sweep figure: segments on each side of the balancer against a swept parameter.

Theory of operation: the summary counts the segments carried on client-side
links (``segments.client_side``) and on backend-side links
(``segments.backend_side``) over a whole run. Drawing both for every variant
against, say, the backend link's MTU shows what each balancer does with the
byte stream: a layer-4 NAT forwards every segment as it is, so both sides carry
the same segments, cut to the smaller MSS the two ends negotiated; a layer-7
proxy terminates TCP on both sides, so each side is segmented for its own link.
Each variant gets its own panel (same y scale), so lines that coincide, such as
the two sides of a NAT, cannot hide another variant's line. Within a panel the
side is told by line style and marker (solid, filled circles: client side;
dashed, hollow squares: backend side), so the figure reads in greyscale and
coinciding sides still show both markers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from lbsim.plots.style import new_figure, styled
from lbsim.plots.sweep_metric import apply_parameter_axis, draw_metric, variant_names

if TYPE_CHECKING:
    from lbsim.sweep.tables import SweepTable

__all__ = ["segments_vs_parameter"]

_SIDES = (("segments.client_side", "client side"), ("segments.backend_side", "backend side"))


def segments_vs_parameter(
    table: SweepTable, x: str, *, x_label: str | None = None, title: str | None = None
) -> Figure:
    """Client-side and backend-side segment counts per variant against ``x``.

    Args:
        table: The sweep.
        x: Swept key path.
        x_label: Label of the x axis (default: the path with its unit).
        title: Figure title.

    Returns:
        The figure (not saved).
    """
    with styled():
        count = max(len(table.variants), 1)
        figure = new_figure(width=5.0 * count, height=4.6)
        axes = figure.subplots(1, count, sharey=True, squeeze=False)[0]
        labels = variant_names(table)
        for ax, name in zip(axes, table.variants, strict=False):
            for offset, (metric, side) in enumerate(_SIDES):
                draw_metric(
                    ax,
                    table,
                    x,
                    metric,
                    variants=[name],
                    scale=1e-3,
                    label_suffix=f": {side}",
                    style_offset=offset,
                )
            for line in ax.get_lines()[1::2]:  # backend side: hollow, larger markers
                line.set_markerfacecolor("none")
                line.set_markersize(8)
            apply_parameter_axis(ax, table, x, False)
            if x_label:
                ax.set_xlabel(x_label)
            ax.set_title(labels[name], loc="left")
            ax.legend(
                handles=ax.get_lines()[: len(_SIDES)],
                labels=[side for _, side in _SIDES],
                loc="upper right",
            )
        top = max(ax.dataLim.y1 for ax in axes) * 1.08  # shared scale, no marker clipped
        for ax in axes:
            ax.set_ylim(0, top)
        axes[0].set_ylabel("segments per run (thousands, ACKs included)")
        reps = table.replications
        how = f"mean of {reps} replications" if reps > 1 else "one run per point"
        figure.suptitle((title or f"Segments per side vs {x} — {table.scenario}") + f" ({how})")
    return figure
