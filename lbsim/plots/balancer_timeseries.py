"""Figure: a balancer's sampled state over simulated time, one panel per series.

Theory of operation: the engine samples each variant's balancer at a fixed step
(``timeseries.csv``: ``lb.cpu_utilization``, ``lb.cpu_queue_delay``,
``lb.buffer_bytes``, ``lb.table_entries``). A :class:`Panel` names one series, its
axis label and its display unit; :func:`balancer_timeseries` draws the panels
stacked on a shared time axis, one line per variant in the shared variant
colours. The warm-up (excluded from statistics) is veiled and, when the samples
run on into the drain, the end of arrivals (``duration``) is marked.

Units: ``%`` shows a 0–1 fraction as percent, ``ms`` shows seconds as
milliseconds, ``bytes`` picks B, KB or MB (decimal, as scenario sizes are
written) from the largest value drawn, ``count`` leaves values alone.

Short sampling steps make busy-fraction series jumpy (a 10 ms interval holds a
few dozen jobs), so a panel may ask for a trailing moving average: the samples
are then drawn thin and faint, the average thick on top. A variant whose series
is zero at every sample says so in the legend, and the y axis starts a little
below zero so that its line stays visible above the axis (the point of showing
a layer-4 balancer's buffers is that they stay empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from lbsim.plots.style import new_figure, shade_warmup, styled, variant_colors, variant_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = [
    "UNITS",
    "Panel",
    "balancer_cpu",
    "balancer_timeseries",
    "byte_unit",
    "moving_average",
    "series",
]

#: Display units: name -> factor from the stored value (``bytes`` is chosen per panel).
UNITS: dict[str, float] = {"%": 100.0, "ms": 1e3, "count": 1.0, "bytes": 1.0}

_BYTE_UNITS = (("MB", 1e6), ("KB", 1e3), ("B", 1.0))


@dataclass(frozen=True)
class Panel:
    """One panel: a sampled series and how to show it.

    Attributes:
        series: Series name in ``timeseries.csv`` (``lb.cpu_utilization``).
        label: Axis label without the unit (the unit is appended).
        unit: A key of :data:`UNITS`.
        smooth: Width in seconds of a trailing moving average drawn over the
            samples; None draws the samples only.
        ceiling: A reference value in display units drawn as a dotted line
            (100 for a CPU in percent); None for none.
        title: Panel title (default: none).
    """

    series: str
    label: str
    unit: str = "count"
    smooth: float | None = None
    ceiling: float | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r} (expected one of {', '.join(UNITS)})")
        if self.smooth is not None and self.smooth <= 0:
            raise ValueError("smooth must be a positive number of seconds")


def series(results: Results, variant: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sample times (s) and values of one variant's series, in time order.

    Args:
        results: Results of a run.
        variant: Balancer variant.
        name: Series name.

    Returns:
        Two arrays (empty when the series was not recorded).
    """
    frame = results.timeseries
    rows = frame[(frame["variant"] == variant) & (frame["series"] == name)]
    rows = rows.sort_values("time", kind="stable")
    return rows["time"].to_numpy(float), rows["value"].to_numpy(float)


def moving_average(times: np.ndarray, values: np.ndarray, width: float) -> np.ndarray:
    """Trailing mean of ``values`` over ``width`` seconds of evenly spaced samples.

    The first samples, before a full window is available, average what there is.

    Args:
        times: Sample times, evenly spaced.
        values: Sampled values.
        width: Window width in seconds.

    Returns:
        One averaged value per sample.
    """
    if values.size < 2:
        return values.copy()
    step = float(np.median(np.diff(times)))
    count = max(1, round(width / step)) if step > 0 else 1
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - count, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def byte_unit(largest: float) -> tuple[str, float]:
    """The decimal byte unit (MB, KB or B) that shows ``largest`` as at least 1."""
    for unit, size in _BYTE_UNITS:
        if largest >= size:
            return unit, size
    return "B", 1.0


def balancer_timeseries(
    results: Results,
    panels: Sequence[Panel],
    *,
    variants: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    height: float | None = None,
) -> Figure:
    """Sampled balancer series over time, one panel per series, one line per variant.

    Args:
        results: Results of a run.
        panels: The panels, top to bottom.
        variants: Variants to draw (default: all, in run order).
        labels: Legend text per variant (default: name, layer and algorithm).
        title: Figure title.
        height: Figure height in inches (default: grows with the panels).

    Returns:
        The figure (not saved).

    Raises:
        KeyError: If a variant is not in the results.
    """
    info = results.summary["variants"]
    chosen = list(results.variants if variants is None else variants)
    unknown = [v for v in chosen if v not in info]
    if unknown:
        raise KeyError(f'no variant "{unknown[0]}" (variants: {", ".join(info)})')
    palette = dict(zip(results.variants, variant_colors(len(results.variants)), strict=True))
    names = {
        v: (labels or {}).get(v) or variant_label(v, info[v]["layer"], info[v]["algorithm"])
        for v in chosen
    }
    smoothing = [p.smooth for p in panels if p.smooth is not None]
    with styled():
        figure = new_figure(width=9.0, height=height or 1.0 + 2.6 * len(panels))
        axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        flat_variants: set[str] = set()
        last = max(
            (float(frame["time"].max()) for _, frame in results.timeseries.groupby("variant")),
            default=0.0,
        )
        ends_after = last > results.duration
        for ax, panel in zip(axes, panels, strict=True):
            drawn = {v: series(results, v, panel.series) for v in chosen}
            largest = max((float(np.max(y)) for _, y in drawn.values() if y.size), default=0.0)
            factor, unit = UNITS[panel.unit], panel.unit
            if panel.unit == "bytes":
                unit, size = byte_unit(largest)
                factor = 1.0 / size
            for variant, (times, values) in drawn.items():
                if values.size and not np.any(values):
                    flat_variants.add(variant)
                shown = values * factor
                if panel.smooth is None:
                    ax.plot(times, shown, color=palette[variant], linewidth=1.6)
                    continue
                ax.plot(times, shown, color=palette[variant], linewidth=0.6, alpha=0.35)
                ax.plot(
                    times,
                    moving_average(times, shown, panel.smooth),
                    color=palette[variant],
                    linewidth=2.0,
                )
            if ends_after:
                ax.axvline(results.duration, color="0.3", linestyle="-.", linewidth=1.0)
            if panel.ceiling is not None:
                ax.axhline(panel.ceiling, color="0.3", linestyle=":", linewidth=1.0)
            top = max(largest * factor, panel.ceiling or 0.0, 1e-9) * 1.08
            ax.set_ylim(-0.03 * top, top)
            ax.set_ylabel(f"{panel.label} ({unit})")
            if panel.title:
                ax.set_title(panel.title, loc="left")
            shade_warmup(ax, results.warmup)
        axes[-1].set_xlabel("simulated time (s)")
        axes[-1].set_xlim(left=0.0)
        handles: list[Line2D | Patch] = [
            Line2D(
                [],
                [],
                color=palette[v],
                linewidth=2.0,
                label=names[v] + (": 0 at every sample" if v in flat_variants else ""),
            )
            for v in chosen
        ]
        if smoothing:
            width = min(smoothing)
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.4",
                    linewidth=0.6,
                    alpha=0.6,
                    label=f"thin: every sample; thick: {width * 1e3:g} ms moving average",
                )
            )
        if ends_after:
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.3",
                    linestyle="-.",
                    linewidth=1.0,
                    label="arrivals stop; work in flight drains",
                )
            )
        if results.warmup > 0:
            handles.append(
                Patch(facecolor="white", hatch="//", edgecolor="0.5", label="warm-up (excluded)")
            )
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=2 if len(handles) > 3 else len(handles),
            title="balancer variant",
        )
        figure.suptitle(title or f"Balancer state over time — {results.scenario}")
    return figure


def balancer_cpu(results: Results) -> Figure:
    """Figure ``balancer_cpu.png``: balancer CPU utilisation and CPU queueing delay over time.

    The utilisation panel shows every sample faintly and a moving average over
    about a fortieth of the run on top, with the 100% ceiling dotted: a balancer
    that terminates TLS on one core sits at the ceiling while a layer-4 balancer
    stays near zero (concepts C13, C20). The queueing panel shows how long work
    waited for the CPU.

    Args:
        results: Results of a run.

    Returns:
        The figure (not saved).
    """
    smooth = max(results.duration / 40, 0.005)
    return balancer_timeseries(
        results,
        [
            Panel(
                "lb.cpu_utilization",
                "balancer CPU busy",
                "%",
                smooth=smooth,
                ceiling=100.0,
                title="CPU utilisation (all cores)",
            ),
            Panel(
                "lb.cpu_queue_delay", "CPU queueing delay", "ms", title="Work waiting for the CPU"
            ),
        ],
        title=f"Balancer CPU over time — {results.scenario}",
    )
