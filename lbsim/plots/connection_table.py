"""Figure: a layer-4 balancer's connection table over time, and what is really open.

Theory of operation: a layer-4 balancer keeps one table entry per client
connection (concept C5) and removes it only when the entry's state times out,
so an entry outlives its connection: after the closing handshake it waits in
TIME_WAIT (IPVS default 120 s). With short connections almost every entry
therefore belongs to a connection that has already closed, and the table grows
for one TIME_WAIT period before entries start to leave; it then levels off
where Little's law puts it, new connections per second × time an entry lingers.

The engine samples the table's total size (series ``lb.table_entries``); it
does not sample the per-state counts. The figure therefore splits the total
with data that is recorded: the client-side connections of the same variant
that are open at each sample (``t_open <= t < t_close`` in
``connections.csv``). The gap between the two is the entries of connections
that already closed. For each variant given a linger time, a dashed line
marks the Little's-law level (new connections per second in the statistics
window × linger) and a dotted one the moment the first entries expire (first
close + linger).

Top panel: the table sizes. Bottom panel, on its own small scale: connections
actually open, and any "comparison" variants' series, such as the TCP
connections a layer-7 proxy holds, which would hug zero on the top panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from lbsim.plots.balancer_timeseries import series
from lbsim.plots.style import new_figure, styled, variant_colors

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["connection_rate", "connection_table", "open_connections"]

_TABLE = "lb.table_entries"


def _client_side(results: Results, variant: str) -> tuple[np.ndarray, np.ndarray]:
    links = results.connections
    rows = links[(links["variant"] == variant) & (links["side"] == "client")]
    opened = rows["t_open"].to_numpy(float)
    closed = rows["t_close"].to_numpy(float)
    return opened, np.where(np.isnan(closed), np.inf, closed)


def open_connections(results: Results, variant: str, times: np.ndarray) -> np.ndarray:
    """Client-side connections of ``variant`` open at each of ``times``.

    A connection is open from ``t_open`` (its SYN) until ``t_close``; one that
    never closed stays open to the end.

    Args:
        results: Results of a run.
        variant: Balancer variant.
        times: Times in seconds.

    Returns:
        One count per time.
    """
    opened, closed = (np.sort(column) for column in _client_side(results, variant))
    started = np.searchsorted(opened, times, side="right")
    ended = np.searchsorted(closed, times, side="right")
    return (started - ended).astype(float)


def connection_rate(results: Results, variant: str) -> float:
    """New client-side connections per second of ``variant`` in the statistics window."""
    opened, _ = _client_side(results, variant)
    span = results.duration - results.warmup
    inside = np.count_nonzero((opened >= results.warmup) & (opened < results.duration))
    return inside / span if span > 0 else float("nan")


def connection_table(
    results: Results,
    table_variants: Sequence[str],
    *,
    compare: Sequence[str] = (),
    linger: Mapping[str, float] | None = None,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Connection-table size over time against the connections actually open.

    Args:
        results: Results of a run.
        table_variants: Layer-4 variants whose tables are drawn on the top panel;
            the first one's gap to its open connections is shaded.
        compare: Variants whose ``lb.table_entries`` series is drawn on the
            bottom panel only (e.g. a layer-7 proxy's TCP connections).
        linger: Variant -> seconds an entry outlives its connection, for the
            Little's-law level and the first-expiry marker.
        labels: Legend text per variant (default: the variant name).
        title: Figure title.

    Returns:
        The figure (not saved).

    Raises:
        KeyError: If a variant is not in the results.
    """
    known = results.variants
    for name in (*table_variants, *compare):
        if name not in known:
            raise KeyError(f'no variant "{name}" (variants: {", ".join(known)})')
    colors = dict(zip(known, variant_colors(len(known)), strict=True))
    text = {v: (labels or {}).get(v, v) for v in known}
    lingers = dict(linger or {})
    with styled():
        figure = new_figure(width=9.0, height=7.0)
        top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (2.2, 1.0)})
        end = 0.0
        for index, name in enumerate(table_variants):
            times, entries = series(results, name, _TABLE)
            end = max(end, float(times[-1]) if times.size else 0.0)
            color = colors[name]
            top.plot(
                times, entries, color=color, linewidth=2.0, label=f"{text[name]}: table entries"
            )
            still_open = open_connections(results, name, times)
            if index == 0:
                top.fill_between(
                    times,
                    still_open,
                    entries,
                    where=entries >= still_open,
                    color=color,
                    alpha=0.15,
                    linewidth=0,
                    label=f"{text[name]}: entries of connections that already closed",
                )
            bottom.plot(
                times,
                still_open,
                color=color,
                linewidth=1.2,
                linestyle="--",
                label=f"{text[name]}: client connections open (connections.csv)",
            )
            if name in lingers:
                _mark_linger(top, results, name, lingers[name], (color, text[name]), times)
        for name in compare:
            times, held = series(results, name, _TABLE)
            end = max(end, float(times[-1]) if times.size else 0.0)
            bottom.plot(times, held, color=colors[name], linewidth=1.8, label=text[name])
        top.set_ylabel("connection-table entries (count)")
        top.set_ylim(bottom=0)
        top.legend(loc="upper left")
        top.set_title("Connection-table size (sampled by the engine)", loc="left")
        bottom.set_ylabel("connections (count)")
        bottom.set_ylim(bottom=0, top=max(bottom.dataLim.y1 * 1.9, 1.0))
        bottom.legend(loc="upper left", ncols=1)
        bottom.set_title("Connections actually open, on a small scale", loc="left")
        bottom.set_xlabel("simulated time (s)")
        bottom.set_xlim(0.0, end)
        figure.suptitle(title or f"Connection table over time — {results.scenario}")
    return figure


def _mark_linger(
    ax: Axes,
    results: Results,
    name: str,
    seconds: float,
    style: tuple[str, str],
    times: np.ndarray,
) -> None:
    """Little's-law level and first-expiry marker of one variant's table.

    Args:
        ax: Target axes.
        results: Results of the run.
        name: Variant.
        seconds: How long its entries outlive their connections.
        style: The variant's colour and legend label.
        times: Sample times of its table series.
    """
    color, label = style
    rate = connection_rate(results, name)
    _, closed = _client_side(results, name)
    finite = closed[np.isfinite(closed)]
    first = float(finite.min()) + seconds if finite.size else seconds
    level = rate * seconds
    last = float(times[-1]) if times.size else first
    if first < last:
        ax.plot(
            [first, last],
            [level, level],
            color="0.15",
            linestyle=(0, (4, 2)),
            linewidth=1.1,
            label=f"{label}: Little's law, {rate:.1f} new conn/s × {seconds:g} s ≈ {level:,.0f}",
        )
    ax.axvline(first, color=color, linestyle=":", linewidth=1.2)
    ax.annotate(
        f"first entries expire\n({seconds:g} s after close)",
        xy=(first, 0.0),
        xycoords=("data", "axes fraction"),
        xytext=(-4, 6),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8.5,
        color="0.15",
    )
