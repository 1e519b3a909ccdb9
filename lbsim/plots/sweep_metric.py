"""Sweep figure: any metric against a swept parameter, with confidence bands.

Theory of operation: :meth:`lbsim.sweep.SweepTable.stats` reduces the tidy runs
table to one mean and 95% Student-t confidence interval per variant, per value of
the swept parameter, and per combination of the other swept parameters. Each
such series becomes one line with markers; its interval is a translucent band of
the same colour (no band where a point has a single replication). Variants keep
their colour from the shared palette; combinations of the other swept
parameters are told apart by line style and marker, so the figure stays
readable in greyscale.

:func:`draw_metric` draws onto a given axes (the report figures combine several
panels); :func:`metric_vs_parameter` makes the stand-alone figure of
``lbsim plot``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lbsim.plots.quantities import metric_axis, parameter_axis
from lbsim.plots.style import (
    new_figure,
    styled,
    variant_colors,
    variant_label,
    variants_legend_title,
)
from lbsim.values import parse_value

if TYPE_CHECKING:
    from lbsim.sweep.tables import SweepTable

__all__ = [
    "apply_parameter_axis",
    "draw_metric",
    "metric_vs_parameter",
    "plain_log_y",
    "variant_names",
]

_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D", "v", "P")
_MAX_VALUE_TICKS = 12  # up to this many swept values, each gets its own tick
_LOG_RATIO = 20.0  # a positive numeric axis spanning this factor or more is drawn in log scale


def variant_names(table: SweepTable) -> dict[str, str]:
    """Legend label of each variant of ``table`` (``l7 (L7, least_request)``)."""
    labels: dict[str, str] = {}
    runs = table.runs
    for name in table.variants:
        rows = runs[runs["variant"] == name]
        if rows.empty or "layer" not in runs.columns:
            labels[name] = name
        else:
            first = rows.iloc[0]
            labels[name] = variant_label(name, first["layer"], first.get("algorithm", "?"))
    return labels


def draw_metric(
    ax: Axes,
    table: SweepTable,
    x: str,
    y: str,
    *,
    variants: Sequence[str] | None = None,
    scale: float | None = None,
    label_suffix: str = "",
    style_offset: int = 0,
    band: bool = True,
) -> None:
    """Draw mean ``y`` against ``x`` with confidence bands onto ``ax``.

    Args:
        ax: Target axes.
        table: The sweep.
        x: Swept key path for the horizontal axis.
        y: Metric column.
        variants: Variants to draw (default: all, in scenario order).
        scale: Factor applied to ``y`` (default: the metric's display scale).
        label_suffix: Text appended to every legend label.
        style_offset: Shift of the line-style/marker cycle (to tell apart several
            metrics drawn on one axes).
        band: Draw the confidence bands.

    Raises:
        KeyError: If ``x`` was not swept, ``y`` is not a metric, or a variant is unknown.
    """
    stats = table.stats(x, y)
    chosen = list(table.variants if variants is None else variants)
    unknown = [v for v in chosen if v not in table.variants]
    if unknown:
        raise KeyError(f'no variant "{unknown[0]}" (variants: {", ".join(table.variants)})')
    colors = dict(zip(table.variants, variant_colors(len(table.variants)), strict=True))
    labels = variant_names(table)
    axis = table.axis(x)
    positions = parameter_axis(x, axis.values).positions
    factor = metric_axis(y).scale if scale is None else scale
    others = [a.path for a in table.axes if a.path != x]
    combos = list(itertools.product(*(table.axis(p).values for p in others)))
    alpha = 0.18 if len(chosen) * len(combos) <= 3 else 0.1  # overlapping bands stay readable
    for name in chosen:
        rows = stats[stats["variant"] == name]
        for k, combo in enumerate(combos):
            part = rows
            for path, text in zip(others, combo, strict=True):
                part = part[part[path] == parse_value(text)]
            if part.empty:
                continue
            xs = np.array([positions[i] for i in part["x_index"]], dtype=float)
            mean = part["mean"].to_numpy(float) * factor
            extra = ", ".join(f"{p}={t}" for p, t in zip(others, combo, strict=True))
            label = labels[name] + (f" ({extra})" if extra else "") + label_suffix
            style = k + style_offset
            ax.plot(
                xs,
                mean,
                color=colors[name],
                linestyle=_LINESTYLES[style % len(_LINESTYLES)],
                marker=_MARKERS[style % len(_MARKERS)],
                markersize=5,
                label=label,
            )
            if band and (part["n"] >= 2).any():
                low = part["ci_low"].to_numpy(float) * factor
                high = part["ci_high"].to_numpy(float) * factor
                ax.fill_between(xs, low, high, color=colors[name], alpha=alpha, linewidth=0)


def apply_parameter_axis(ax: Axes, table: SweepTable, x: str, log_x: bool | None) -> bool:
    """Label, scale and tick the x axis for swept path ``x``; returns whether it is log."""
    prepared = parameter_axis(x, table.axis(x).values)
    ax.set_xlabel(prepared.label)
    if prepared.categorical:
        ax.set_xticks(prepared.positions, prepared.ticks)
        return False
    values = [p for p in prepared.positions if p > 0]
    positive = len(values) == len(prepared.positions) and values
    if log_x is None:
        log_x = bool(positive) and max(values) / min(values) >= _LOG_RATIO
    ticks = [f"{p:g}" for p in prepared.positions]
    if log_x and positive:
        ax.set_xscale("log")
        ax.set_xticks(prepared.positions, ticks)
        ax.minorticks_off()
        return True
    if len(prepared.positions) <= _MAX_VALUE_TICKS:  # tick exactly the swept values
        ax.set_xticks(prepared.positions, ticks)
    return False


def plain_log_y(ax: Axes) -> None:
    """Log-scale y axis labelled with plain numbers (20, 30, 50, 100) instead of powers of ten.

    Minor ticks at 2, 3 and 5 times a power of ten are labelled too while the axis
    spans at most two decades, so a line in the middle of a decade can be read.
    Call it after the data are drawn.
    """
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    decades = math.log10(high / low) if low > 0 and high > low else 0.0
    digits = (2, 3, 5) if decades <= 2 else ()
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.yaxis.set_minor_formatter(
        FuncFormatter(lambda value, _pos: f"{value:g}" if _leading_digit(value) in digits else "")
    )


def _leading_digit(value: float) -> int:
    if value <= 0 or not math.isfinite(value):
        return 0
    return int(round(value / 10 ** math.floor(math.log10(value)), 6))


def metric_vs_parameter(
    table: SweepTable,
    x: str,
    y: str,
    *,
    variants: Sequence[str] | None = None,
    log_x: bool | None = None,
    log_y: bool = False,
    title: str | None = None,
) -> Figure:
    """One metric against one swept parameter, one line per variant, 95% CI bands.

    Args:
        table: The sweep.
        x: Swept key path.
        y: Metric column (see :meth:`SweepTable.metrics`).
        variants: Variants to draw (default all).
        log_x: Logarithmic x axis; by default when the values span a factor of 20
            or more.
        log_y: Logarithmic y axis.
        title: Figure title (default: metric vs parameter and the scenario).

    Returns:
        The figure (not saved; see :func:`lbsim.plots.style.save_figure_as`).

    Raises:
        KeyError: If ``x``, ``y`` or a variant is unknown.
    """
    with styled():
        figure = new_figure()
        ax = figure.add_subplot()
        draw_metric(ax, table, x, y, variants=variants)
        apply_parameter_axis(ax, table, x, log_x)
        if log_y:
            plain_log_y(ax)
        ax.set_ylabel(metric_axis(y).label)
        ax.legend(title=variants_legend_title(table.replications), loc="best")
        where = f" — {table.scenario}" if table.scenario else ""
        ax.set_title(title or f"{y} vs {x}{where}")
    return figure
