"""Figure ``backend_sequence.png``: which backend served each request of a few connections.

Theory of operation: a layer-4 balancer chooses a backend once per TCP connection,
so every request a client sends on one connection reaches the same backend; a
layer-7 balancer reads each request and chooses again (concepts C12, C17). The
figure makes that visible without reading a number. Connection ids are the same
in every variant (the workload is replayed), so the same connections are picked
for each variant: the first ones opened that carried at least a few requests.
Each variant gets a panel, side by side; each connection is a row, each of its
first requests a cell (in the order they were sent, ``index_on_connection``)
coloured by the backend that served it. Cells of requests no backend served
(failed, blocked, answered from a cache) are crossed out; a row ends early
when its connection carried fewer requests. Layer-4 rows come out in a
single colour, layer-7 rows change colour along the row.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.patches import Patch, Rectangle

from lbsim.plots.share_over_time import all_backends
from lbsim.plots.style import backend_colors, new_figure, styled, variant_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "backend_sequence", "backend_sequences", "chosen_connections"]

FILENAME = "backend_sequence.png"


def chosen_connections(results: Results, count: int = 6, requests: int = 20) -> list[str]:
    """Connection ids to show: the first opened that carried enough requests in every variant.

    A connection qualifies when, in every variant, it carried at least
    ``min(requests, 5)`` requests; the ``count`` earliest (by first request) are
    returned. When fewer qualify, the busiest connections fill the list.

    Args:
        results: Results of a run.
        count: How many connections.
        requests: How many requests per connection the figure shows.
    """
    frame = results.requests
    if frame.empty:
        return []
    need = min(requests, 5)
    per_variant = frame.groupby(["connection", "variant"]).size().unstack(fill_value=0)
    everywhere = per_variant.min(axis=1)
    first = frame.groupby("connection")["t_start"].min()
    ranked = pd.DataFrame({"first": first, "carried": everywhere})
    good = ranked[ranked["carried"] >= need].sort_values(["first"], kind="mergesort")
    picked = list(good.index[:count])
    if len(picked) < count:
        rest = ranked.drop(index=picked).sort_values(
            ["carried", "first"], ascending=[False, True], kind="mergesort"
        )
        picked.extend(rest.index[: count - len(picked)])
    return [str(c) for c in picked]


def backend_sequences(
    results: Results, variant: str, connections: list[str], requests: int = 20
) -> list[list[str | None]]:
    """The backends that served the first ``requests`` requests of each connection.

    Args:
        results: Results of a run.
        variant: Balancer variant.
        connections: Connection ids (see :func:`chosen_connections`).
        requests: Requests per connection.

    Returns:
        One list per connection, in send order; ``None`` where no backend served it.
    """
    frame = results.requests
    rows = frame[(frame["variant"] == variant) & frame["connection"].isin(connections)]
    rows = rows.sort_values(["index_on_connection", "t_start"], kind="mergesort")
    out: list[list[str | None]] = []
    for connection in connections:
        mine = rows[rows["connection"] == connection].head(requests)
        out.append([None if pd.isna(b) else str(b) for b in mine["backend"]])
    return out


def backend_sequence(results: Results, connections: int = 6, requests: int = 20) -> Figure:
    """Draw the backend of each request of a few connections, one panel per variant.

    Args:
        results: Results of one scenario run.
        connections: Rows (connections) per panel.
        requests: Cells (requests) per row.

    Returns:
        The figure (not saved).
    """
    variants = results.summary["variants"]
    chosen = chosen_connections(results, connections, requests)
    backends = all_backends(results)
    colors = dict(zip(backends, backend_colors(len(backends)), strict=True))
    count = max(len(variants), 1)
    failed = False
    with styled():
        figure = new_figure(width=max(7.0, 4.6 * count), height=1.9 + 0.42 * max(len(chosen), 1))
        axes = figure.subplots(1, count, sharey=True, squeeze=False)[0]
        for ax, name in zip(axes, variants, strict=False):
            info = variants[name]
            sequences = backend_sequences(results, name, chosen, requests)
            changes = 0
            for row, sequence in enumerate(sequences):
                served = [b for b in sequence if b is not None]
                changes += sum(a != b for a, b in itertools.pairwise(served))
                for column, backend in enumerate(sequence):
                    if backend is None:
                        failed = True
                        ax.add_patch(_cell(column, row, "white", hatch="xx"))
                    else:
                        ax.add_patch(_cell(column, row, colors.get(backend, "0.5")))
            ax.set_xlim(-0.5, requests - 0.5)
            ax.set_ylim(len(chosen) - 0.5, -0.5)
            ax.set_yticks(range(len(chosen)), [_short(c) for c in chosen])
            ticks = [t for t in range(requests) if t % 5 == 0 or t == requests - 1]
            ax.set_xticks(ticks, [str(t + 1) for t in ticks])
            ax.set_xlabel("request on the connection (1st, 2nd, ...)")
            ax.grid(False)
            ax.set_title(
                f"{variant_label(name, info['layer'], info['algorithm'])}\n"
                f"backend changes within a connection: {changes}",
                loc="left",
            )
        axes[0].set_ylabel("client connection")
        handles = [Patch(facecolor=colors[b], edgecolor="white", label=b) for b in backends]
        if failed:
            handles.append(
                Patch(facecolor="white", edgecolor="0.6", hatch="xx", label="no backend (failed)")
            )
        rows = math.ceil(len(handles) / 8)
        figure.legend(
            handles=handles,
            loc="outside lower center",
            ncols=math.ceil(len(handles) / rows),
            title="backend that served the request",
        )
        figure.suptitle(
            "Backend serving each request of the same client connections: L4 keeps a "
            f"connection on one backend, L7 chooses per request — {results.scenario}",
            wrap=True,
        )
    return figure


def _cell(column: int, row: int, color: str, hatch: str | None = None) -> Rectangle:
    return Rectangle(
        (column - 0.5, row - 0.45),
        1.0,
        0.9,
        facecolor=color,
        edgecolor="0.6" if hatch else "white",
        hatch=hatch,
        linewidth=1.0,
    )


def _short(connection: str) -> str:
    """A connection id short enough for an axis label."""
    return connection if len(connection) <= 18 else connection[:8] + "…" + connection[-8:]
