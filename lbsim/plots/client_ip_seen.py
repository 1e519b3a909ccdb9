"""Figure ``client_ip_seen.png``: the address each variant's backends take to be the client's.

Theory of operation: every served request records the address the backend
recorded as its client (``client_ip_seen``: the connection's peer, or the
address a PROXY protocol header named) and the ``X-Forwarded-For`` it received.
The client's real address is the source of its client-side connection
(``connections.csv``, side ``client``), matched by connection id. For each
variant the figure is one row of a table: the addresses the backends recorded,
the share of served requests in the statistics window where that is the
client's real address, the first address of ``X-Forwarded-For`` and the share
where that is the client's. Cells are green where the backend knows the client
and red where it does not, so NAT and DSR (the client's own packets), a proxy
(its own address) and a proxy that writes the address down read at a glance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from lbsim.plots.style import new_figure, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "client_ip_rows", "client_ip_seen"]

FILENAME = "client_ip_seen.png"

_HEADERS = (
    "variant",
    "backend records the client as",
    "= client's\naddress",
    "X-Forwarded-For\n(first address)",
    "= client's\naddress",
)
_KNOWN = "#d9f0d3"  # pale green: the backend knows the client
_LOST = "#f8d5cc"  # pale red: it does not
_NONE = "#f0f0f0"  # no header at all


def _addresses(values: pd.Series, real: pd.Series) -> str:
    """Short text for the addresses in ``values``: the client's own, or the others."""
    others = sorted(set(values[values != real].dropna()))
    own = int((values == real).sum())
    parts = []
    if own:
        parts.append(f"the client's own ({real[values == real].nunique()} addresses)")
    if others:
        shown = ", ".join(others[:2]) + (", ..." if len(others) > 2 else "")
        parts.append(shown)
    return "; ".join(parts) if parts else "-"


def client_ip_rows(results: Results) -> pd.DataFrame:
    """Per variant: what the backends recorded as the client, and how often it was right.

    Args:
        results: Results of one scenario run.

    Returns:
        One row per variant (index), columns ``seen`` (text), ``seen_share``
        (fraction of served window requests whose ``client_ip_seen`` is the
        client's address), ``xff`` (text; ``"-"`` without the header) and
        ``xff_share`` (fraction whose first ``X-Forwarded-For`` address is the
        client's; NaN when no request had the header) and ``served``.
    """
    conns = results.connections
    client_side = conns[conns["side"] == "client"]
    rows = {}
    for variant in results.variants:
        mine = client_side[client_side["variant"] == variant]
        source = dict(zip(mine["connection"], mine["src"].str.rsplit(":", n=1).str[0], strict=True))
        window = results.window_requests(variant)
        served = window[window["client_ip_seen"].notna()]
        real = served["connection"].map(source)
        seen = served["client_ip_seen"].astype(str)
        xff_all = served["forwarded_for"]
        with_xff = xff_all.notna()
        first = xff_all[with_xff].astype(str).str.split(",").str[0].str.strip()
        rows[variant] = {
            "seen": _addresses(seen, real),
            "seen_share": float((seen == real).mean()) if len(served) else float("nan"),
            "xff": _addresses(first, real[with_xff]) if with_xff.any() else "-",
            "xff_share": float((first == real[with_xff]).mean())
            if with_xff.any()
            else float("nan"),
            "served": len(served),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _share_text(share: float) -> str:
    return "-" if share != share else f"{share * 100:.0f} %"


def _share_color(share: float) -> str:
    if share != share:
        return _NONE
    return _KNOWN if share >= 0.5 else _LOST


def client_ip_seen(results: Results) -> Figure:
    """Draw the table of the client address each variant's backends record.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    rows = client_ip_rows(results)
    variants = results.summary["variants"]
    cells, colors = [], []
    for name, row in rows.iterrows():
        info = variants[name]
        mode = results.modes.get(str(name))
        label = f"{name} (L{info['layer']}{', ' + mode if mode else ''})"
        cells.append(
            [
                label,
                row["seen"],
                _share_text(row["seen_share"]),
                row["xff"],
                _share_text(row["xff_share"]),
            ]
        )
        seen_color = _share_color(row["seen_share"])
        xff_color = _share_color(row["xff_share"])
        colors.append(["white", seen_color, seen_color, xff_color, xff_color])
    with styled():
        figure = new_figure(width=11.0, height=1.6 + 0.42 * max(len(cells), 1))
        ax = figure.add_subplot()
        ax.axis("off")
        table = ax.table(
            cellText=cells or [["-"] * len(_HEADERS)],
            cellColours=colors or None,
            colLabels=list(_HEADERS),
            colWidths=[0.25, 0.33, 0.1, 0.22, 0.1],
            cellLoc="left",
            loc="center",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1.0, 1.9)
        for (line, _col), cell in table.get_celld().items():
            if line == 0:
                cell.set_text_props(fontweight="bold")
                cell.set_facecolor("#e8e8e8")
            cell.set_edgecolor("#999999")
        figure.suptitle(
            f"Who sees the client's address — {results.scenario}\n"
            "share of served requests (statistics window) where the backend "
            "learned the client's real address",
            fontsize=10,
        )
    return figure
