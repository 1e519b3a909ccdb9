"""Figure ``segments_per_side.png``: segments on each side of the balancer, per variant.

Theory of operation: the summary counts the segments carried by the links on the
client side of the balancer (``segments.client_side``) and on the backend side
(``segments.backend_side``) over the whole run. A layer-4 NAT forwards every
segment unchanged, so both sides carry the same segments, cut to the smaller MSS
the two ends negotiated; a proxy (layer-4 proxy or layer 7) terminates TCP on
both sides, so each side is segmented for its own link and a large MTU on the
backend side needs far fewer segments there (concepts C10, C11). Grouped bars,
one group per variant: client side (plain) and backend side (hatched), with their
counts, and the backend/client ratio under each group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.patches import Patch

from lbsim.plots.style import OKABE_ITO, new_figure, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "segments_per_side"]

FILENAME = "segments_per_side.png"

_SIDES = (
    ("client_side", "client side (clients ↔ balancer)", OKABE_ITO["sky blue"], ""),
    ("backend_side", "backend side (balancer ↔ backends)", OKABE_ITO["blue"], "//"),
)


def segments_per_side(results: Results) -> Figure:
    """Draw client-side and backend-side segment counts, one bar pair per variant.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    variants = results.summary["variants"]
    names = list(variants)
    positions = np.arange(len(names), dtype=float)
    with styled():
        figure = new_figure(width=max(7.0, 2.2 * len(names) + 2.0), height=4.8)
        ax = figure.add_subplot()
        for offset, (key, _text, color, hatch) in zip((-0.2, 0.2), _SIDES, strict=True):
            values = [(variants[v]["segments"].get(key) or 0) / 1e3 for v in names]
            bars = ax.bar(
                positions + offset, values, 0.38, color=color, hatch=hatch, edgecolor="white"
            )
            ax.bar_label(bars, labels=[f"{v:.3g}k" for v in values], padding=2, fontsize=8.5)
        labels = []
        for v in names:
            info, mode = variants[v], results.modes.get(v)
            client = info["segments"].get("client_side") or 0
            backend = info["segments"].get("backend_side") or 0
            ratio = f"{backend / client:.2f}" if client else "n/a"
            kind = f"L4 {mode}" if info["layer"] == 4 and mode else f"L{info['layer']}"
            labels.append(f"{v} ({kind})\nbackend/client {ratio}")
        ax.set_xticks(positions, labels)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("segments over the whole run (thousands)")
        ax.set_xlabel("balancer variant")
        ax.margins(y=0.12)
        handles = [
            Patch(facecolor=color, hatch=hatch, edgecolor="white", label=text)
            for _, text, color, hatch in _SIDES
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=2, title="link side")
        figure.suptitle(f"Segments on each side of the balancer — {results.scenario}")
    return figure
