"""Shared look of every lbsim figure: palette, fonts, sizes, resolution, saving.

Theory of operation: figure modules never touch matplotlib's global state. They
build a :class:`matplotlib.figure.Figure` directly (no ``pyplot``, so nothing is
registered with a GUI backend and nothing leaks between figures) inside
:func:`styled`, a ``matplotlib.rc_context`` that applies :data:`RC` while artists are
created. Saving goes through :func:`save_figure`, which renders with matplotlib's
Agg raster backend at :data:`DPI`.

Lines that may coincide (two variants with the same latency) also differ in
line style and marker (:func:`line_styles`), so a curve hidden under another still
shows its markers and its legend entry matches something visible. Log-scale axes
get plain-number labels at both ends of the range (:func:`label_log_axis`), even
when the range spans less than a decade.

Colours come from the Okabe–Ito palette, designed to stay distinguishable for the
common forms of colour blindness and in greyscale print. Balancer variants and
backends draw from two fixed orders of it so the same variant keeps its colour in
every figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import matplotlib
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter
from matplotlib.typing import LineStyleType

if TYPE_CHECKING:
    from lbsim.results import Results

__all__ = [
    "DPI",
    "FIGSIZE",
    "FORMATS",
    "OKABE_ITO",
    "RC",
    "backend_colors",
    "label_log_axis",
    "line_styles",
    "mark_events",
    "new_figure",
    "save_figure",
    "save_figure_as",
    "scheduled_events",
    "styled",
    "variant_colors",
    "variant_label",
]

#: Okabe & Ito (2008), "Color Universal Design": name -> hex colour.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
}

# Lines and bars: strongest contrasts first, yellow (weak on white) last.
_VARIANT_ORDER = (
    "blue",
    "vermillion",
    "bluish green",
    "orange",
    "reddish purple",
    "sky blue",
    "black",
    "yellow",
)
# Filled areas: neighbours differ in hue and lightness; black replaced by grey.
_BACKEND_ORDER = (
    "orange",
    "sky blue",
    "bluish green",
    "yellow",
    "blue",
    "vermillion",
    "reddish purple",
)
_GREY = "#999999"

#: Width and height in inches of a single-panel figure (fits a report column).
FIGSIZE = (7.0, 4.2)
#: Resolution of saved PNGs, in dots per inch.
DPI = 200

#: Matplotlib settings applied while a figure is built.
RC: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 12,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=[OKABE_ITO[name] for name in _VARIANT_ORDER]),
    "lines.linewidth": 1.8,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


@contextmanager
def styled() -> Iterator[None]:
    """Apply :data:`RC` while the body builds a figure."""
    # The stubs want literal rc keys; RC's keys are checked by matplotlib at run time.
    with matplotlib.rc_context(cast(Any, RC)):
        yield


def new_figure(height: float | None = None, width: float | None = None) -> Figure:
    """A blank figure of the standard size with constrained layout (call inside :func:`styled`).

    Args:
        height: Height in inches (default from :data:`FIGSIZE`).
        width: Width in inches (default from :data:`FIGSIZE`).
    """
    return Figure(
        figsize=(width or FIGSIZE[0], height or FIGSIZE[1]), dpi=DPI, layout="constrained"
    )


def shade_warmup(ax: Axes, warmup: float) -> None:
    """Hatch the warm-up window ``[0, warmup)`` of a time axis (excluded from statistics)."""
    if warmup > 0:
        ax.axvspan(
            0.0, warmup, facecolor="white", alpha=0.55, hatch="//", edgecolor="0.5", linewidth=0
        )


def scheduled_events(results: Results) -> list[tuple[float, str]]:
    """The run's scheduled events (``timeseries.csv``: ``event.*``) as ``(time, action)``.

    Every variant replays the same events, so each appears once.
    """
    frame = results.timeseries
    rows = frame[frame["series"].str.startswith("event.")]
    names = (str(s).removeprefix("event.") for s in rows["series"])
    return sorted(set(zip(rows["time"].astype(float), names, strict=True)))


def mark_events(axes: Sequence[Axes], events: Sequence[tuple[float, str]]) -> None:
    """Draw each event as a dash-dotted vertical line on every axes, named on the first."""
    for time, action in events:
        for ax in axes:
            ax.axvline(time, color="0.25", linestyle="-.", linewidth=1.0)
        axes[0].annotate(
            action.replace("_", " "),
            (time, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=8.5,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7, "linewidth": 0},
        )


def variants_legend_title(replications: int) -> str:
    """Legend title of a sweep figure: what each line and band stands for."""
    how = (
        f"mean of {replications} replications, band: 95% CI"
        if replications > 1
        else "1 replication (no confidence band)"
    )
    return f"balancer variant ({how})"


def _palette(order: tuple[str, ...], count: int, fallback: str) -> list[str]:
    """``count`` colours from ``order``; a sampled colour-blind-safe map when too few."""
    if count <= len(order):
        return [OKABE_ITO[name] for name in order[:count]]
    cmap = matplotlib.colormaps[fallback]
    return [matplotlib.colors.to_hex(cmap(i / max(count - 1, 1))) for i in range(count)]


def variant_colors(count: int) -> list[str]:
    """Colours for ``count`` balancer variants, in variant order."""
    return _palette(_VARIANT_ORDER, count, "cividis")


def backend_colors(count: int) -> list[str]:
    """Colours for ``count`` backends, in backend order (grey for an eighth)."""
    if count == len(_BACKEND_ORDER) + 1:
        return [*_palette(_BACKEND_ORDER, count - 1, "viridis"), _GREY]
    return _palette(_BACKEND_ORDER, count, "viridis")


#: Line styles and markers in variant order: solid, dashed, dotted, dash-dot, ...
_LINE_STYLES: tuple[tuple[LineStyleType, str], ...] = (
    ("-", "o"),
    ("--", "s"),
    (":", "^"),
    ("-.", "D"),
    ((0, (5, 1, 1, 1, 1, 1)), "v"),
    ((0, (1, 3)), "P"),
    ((0, (8, 2)), "X"),
    ((0, (3, 2, 1, 2)), "*"),
)


def line_styles(count: int) -> list[tuple[LineStyleType, str]]:
    """``(linestyle, marker)`` for ``count`` variants, so coinciding lines stay apart."""
    return [_LINE_STYLES[i % len(_LINE_STYLES)] for i in range(count)]


def _plain(value: float, _pos: object = None) -> str:
    """Three significant digits, never in exponent notation (1000, not 1e+03)."""
    text = f"{value:.3g}"
    if "e" in text:
        text = f"{float(text):.0f}" if value >= 1 else f"{value:.6f}".rstrip("0")
    return text


def _round_inward(value: float, upward: bool) -> float:
    """``value`` rounded to two significant digits towards the inside of the axis.

    Rounds up at the low end and down at the high end, so the label stays on the
    axis; keeps ``value`` when rounding would move it by more than 10%.
    """
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    rounded = (math.ceil if upward else math.floor)(value / step) * step
    rounded = float(f"{rounded:.2g}")
    return rounded if abs(rounded - value) <= 0.1 * value else value


def label_log_axis(axis: Axis) -> None:
    """Label a log-scale axis with plain numbers, including both ends of its range.

    Ticks sit at 1, 2, 5 × 10^k over one to three decades, at the decades only
    over more, at 1, 1.5, 2, 3, ... × 10^k over less than one, and at evenly
    spaced round numbers over a sliver of a decade (where fewer than three of
    those fall in range). When the first
    (last) tick lies more than a factor 1.2 inside the axis, the axis limit itself
    is labelled too (three significant digits), so a narrow range never leaves
    its low end bare.

    Args:
        axis: ``ax.xaxis`` or ``ax.yaxis`` of an axes already set to log scale,
            with its limits final.
    """
    axis.axes.autoscale_view()  # limits are computed lazily: settle them first
    low, high = sorted(axis.get_view_interval())
    if not (low > 0 and high > low):
        return
    decades = math.log10(high / low)
    if decades > 3:
        mantissas: tuple[float, ...] = (1.0,)
    elif decades > 1:
        mantissas = (1.0, 2.0, 5.0)
    else:
        mantissas = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    ticks = [
        m * 10.0**exponent
        for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for m in mantissas
        if low <= m * 10.0**exponent <= high
    ]
    if len(ticks) < 3:  # a sliver of a decade: evenly spaced round numbers instead
        ticks = [t for t in MaxNLocator(nbins=5).tick_values(low, high) if low <= t <= high]
    if len(ticks) > 8:
        ticks = ticks[:: math.ceil(len(ticks) / 8)]
    # An added end label pushes out inner labels closer than 1.15x or 9% of the axis.
    gap = max(1.15, (high / low) ** 0.09)
    if not ticks or ticks[0] > low * 1.2:
        ticks = [_round_inward(low, upward=True), *(t for t in ticks if t > low * gap)]
    if ticks[-1] < high / 1.2:
        ticks = [*(t for t in ticks if t < high / gap), _round_inward(high, upward=False)]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())


def variant_label(name: str, layer: object, algorithm: object) -> str:
    """Legend text for a balancer variant, e.g. ``l4 (L4, round_robin)``."""
    return f"{name} (L{layer}, {algorithm})"


def save_figure(figure: Figure, path: str | Path, *, dpi: int = DPI) -> Path:
    """Render ``figure`` to a PNG file with the Agg backend.

    Args:
        figure: The figure to save.
        path: Destination file; parent directories are created.
        dpi: Resolution in dots per inch (at least 150 for print).

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png", dpi=dpi, facecolor="white")
    return target


#: File formats :func:`save_figure_as` writes, by file suffix.
FORMATS = ("png", "svg", "pdf")

# Metadata that would change on every save (dates) is left out, and SVG element
# ids are derived from a fixed salt, so saving the same figure twice gives the
# same bytes and regenerated report figures only differ where the data did.
_STABLE_METADATA: dict[str, dict[str, Any]] = {
    "png": {},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None},
}


def save_figure_as(figure: Figure, path: str | Path, *, dpi: int = DPI) -> Path:
    """Save ``figure`` in the format its file suffix names (PNG, SVG or PDF), atomically.

    The file is written to a temporary sibling and renamed into place, so an
    interrupted save never leaves a truncated figure under the final name. SVG and
    PDF output is reproducible byte for byte (no dates, fixed SVG ids).

    Args:
        figure: The figure to save.
        path: Destination file ending in ``.png``, ``.svg`` or ``.pdf``; parent
            directories are created.
        dpi: Resolution of raster output in dots per inch.

    Returns:
        The path written.

    Raises:
        ValueError: If the suffix is not one of :data:`FORMATS`.
    """
    target = Path(path)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(
            f"{target}: unknown figure format (expected a file ending in "
            f"{', '.join('.' + f for f in FORMATS)})"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.stem}.tmp-{os.getpid()}.{fmt}")
    try:
        with matplotlib.rc_context({"svg.hashsalt": "lbsim", "svg.fonttype": "path"}):
            figure.savefig(
                temporary,
                format=fmt,
                dpi=dpi,
                facecolor="white",
                metadata=_STABLE_METADATA[fmt],
            )
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
