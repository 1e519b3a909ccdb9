"""Figure ``balancer_load.png``: segments and bytes that reached the balancer, per variant.

Theory of operation: what a balancer must handle is what arrives *at it*, not what
crosses the network. Every mode receives the clients' segments. A NAT balancer
also receives every response segment from the backends and forwards it; a proxy
(layer-4 proxy or layer 7) receives the responses on its own backend connections.
With direct server return (DSR) the backends answer the clients straight through a
router, so the response path, nearly all the bytes of a download, never reaches
the balancer (concepts C4–C11). Two panels of stacked horizontal bars, one bar per
variant, split what arrived into *from clients* and *from backends*: payload bytes
(left) and segments (right).

Where the numbers come from, most exact first:

1. engine counters ``lb.segments_in.{client,backend}`` and
   ``lb.payload_in.{client,backend}`` (segments and payload bytes on the links
   that end at the balancer), each pair used when the engine records it;
2. the segment trace (``segments.csv``, ``lbsim run --trace-segments``): a link
   named ``A>B`` ends at the balancer when ``B`` is the variant's name;
3. otherwise the connection records: payload bytes from clients are the
   client-side connections' ``bytes_sent``; from backends, the layer-7 backend
   connections' ``bytes_received``, the client-side ``bytes_received`` for a
   layer-4 NAT or proxy (which pass every response byte), and nothing for DSR.
   Segments cannot be split by direction from these records, so the segments
   panel then says to rerun with ``--trace-segments``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from lbsim.plots.balancer_timeseries import byte_unit
from lbsim.plots.style import OKABE_ITO, new_figure, styled

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "balancer_load", "received_by_balancer"]

FILENAME = "balancer_load.png"

_SOURCES = ("client", "backend")
_STYLE = {
    "client": (OKABE_ITO["sky blue"], "", "from clients (requests, ACKs)"),
    "backend": (OKABE_ITO["vermillion"], "//", "from backends (responses)"),
}


def _from_counters(counters: dict[str, float], what: str) -> dict[str, float] | None:
    keys = {side: f"lb.{what}_in.{side}" for side in _SOURCES}
    if not all(key in counters for key in keys.values()):
        return None
    return {f"{what}.{side}": float(counters[key]) for side, key in keys.items()}


def _from_trace(segments: pd.DataFrame, variant: str) -> dict[str, float]:
    rows = segments[(segments["variant"] == variant) & ~segments["dropped"].astype(bool)]
    ends = rows["link"].str.rsplit(">", n=1).str[-1]
    arrived = rows[ends == variant]
    out: dict[str, float] = {}
    for side in _SOURCES:
        mine = arrived[arrived["side"] == side]
        out[f"segments.{side}"] = float(len(mine))
        out[f"payload.{side}"] = float(mine["payload"].sum())
    return out


def _from_connections(results: Results, variant: str) -> dict[str, float]:
    conns = results.connections[results.connections["variant"] == variant]
    client = conns[conns["side"] == "client"]
    backend = conns[conns["side"] == "backend"]
    layer = results.summary["variants"][variant]["layer"]
    mode = results.modes.get(variant)
    if layer == 7:
        from_backends = float(backend["bytes_received"].sum())
    elif mode == "dsr":
        from_backends = 0.0
    else:
        from_backends = float(client["bytes_received"].sum())
    nan = float("nan")
    return {
        "payload.client": float(client["bytes_sent"].sum()),
        "payload.backend": from_backends,
        "segments.client": nan,
        "segments.backend": nan,
    }


def received_by_balancer(results: Results, variant: str) -> dict[str, float]:
    """What reached one variant's balancer over the whole run.

    Args:
        results: Results of a run.
        variant: Balancer variant.

    Returns:
        ``segments.client``, ``segments.backend``, ``payload.client`` and
        ``payload.backend`` (payload in bytes); segment counts are NaN when the run
        recorded neither the engine counters nor a segment trace.
    """
    counters = results.summary["variants"][variant].get("counters") or {}
    if not results.segments.empty and (results.segments["variant"] == variant).any():
        found = _from_trace(results.segments, variant)
    else:
        found = _from_connections(results, variant)
    for what in ("segments", "payload"):
        found.update(_from_counters(counters, what) or {})
    return found


def balancer_load(results: Results) -> Figure:
    """Stacked bars of payload bytes and segments that reached the balancer, per variant.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    variants = list(results.summary["variants"])
    loads = {v: received_by_balancer(results, v) for v in variants}
    names = [_name(results, v) for v in variants]
    rows = np.arange(len(variants))
    with styled():
        figure = new_figure(width=11.0, height=2.2 + 0.55 * len(variants))
        left, right = figure.subplots(1, 2, sharey=True)
        largest = max(
            (loads[v]["payload.client"] + loads[v]["payload.backend"] for v in variants),
            default=0.0,
        )
        unit, size = byte_unit(largest)
        _stack(left, rows, loads, variants, "payload", 1.0 / size, lambda x: f"{x:.3g} {unit}")
        left.set_xlabel(f"application payload bytes received by the balancer ({unit})")
        left.set_title("Bytes through the balancer", loc="left")
        counted = all(not np.isnan(loads[v]["segments.client"]) for v in variants)
        if counted:
            _stack(right, rows, loads, variants, "segments", 1e-3, lambda x: f"{x:.3g}k")
        else:
            right.text(
                0.5,
                0.5,
                "segments by direction were not recorded in this run:\n"
                "rerun with  lbsim run --trace-segments",
                transform=right.transAxes,
                ha="center",
                va="center",
            )
        right.set_xlabel("segments received by the balancer (thousands)")
        right.set_title("Segments through the balancer", loc="left")
        for ax in (left, right):
            ax.grid(axis="y", visible=False)
            ax.set_xlim(left=0)
        left.set_yticks(rows, names)
        left.invert_yaxis()
        handles = [
            Patch(facecolor=color, hatch=hatch, edgecolor="white", label=text)
            for color, hatch, text in _STYLE.values()
        ]
        figure.legend(
            handles=handles, loc="outside lower center", ncols=2, title="arrived at the balancer"
        )
        figure.suptitle(
            "What the balancer itself must handle (whole run) — with DSR the responses "
            f"bypass it — {results.scenario}",
            wrap=True,
        )
    return figure


def _stack(
    ax: Axes,
    rows: np.ndarray,
    loads: dict[str, dict[str, float]],
    variants: list[str],
    what: str,
    scale: float,
    text: Callable[[float], str],
) -> None:
    """Stacked bars of ``what`` (from clients, then from backends), totals written at the end."""
    start = np.zeros(len(variants))
    for side in _SOURCES:
        color, hatch, _ = _STYLE[side]
        widths = np.array([loads[v][f"{what}.{side}"] * scale for v in variants])
        ax.barh(rows, widths, left=start, height=0.6, color=color, hatch=hatch, edgecolor="white")
        start = start + widths
    for row, total in zip(rows, start, strict=True):
        ax.text(total, row, " " + text(total), va="center", ha="left", fontsize=8.5)
    ax.set_xlim(0, float(start.max()) * 1.22 if start.size and start.max() > 0 else 1.0)


def _name(results: Results, variant: str) -> str:
    info = results.summary["variants"][variant]
    mode = results.modes.get(variant)
    kind = f"L4 {mode}" if info["layer"] == 4 and mode else f"L{info['layer']}"
    return f"{variant}\n({kind})"
