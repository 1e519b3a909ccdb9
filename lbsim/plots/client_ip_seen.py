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

from lbsim.plots.style import OKABE_ITO, new_figure, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lbsim.results import Results

__all__ = ["FILENAME", "client_ip_rows", "client_ip_seen"]

FILENAME = "client_ip_seen.png"

#: The two bars of a variant: column of the share, its colour, hatch and legend text.
_BARS = (
    ("seen_share", "seen", OKABE_ITO["blue"], "", "client_ip_seen (peer, or PROXY header)"),
    ("xff_share", "xff", OKABE_ITO["orange"], "//", "X-Forwarded-For, first address"),
)


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
    columns = ["seen", "seen_share", "xff", "xff_share", "served"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def client_ip_seen(results: Results) -> Figure:
    """Draw, per variant, how often the backend knew the client's address, and what it saw.

    Args:
        results: Results of one scenario run.

    Returns:
        The figure (not saved).
    """
    rows = client_ip_rows(results)
    variants = results.summary["variants"]
    labels = []
    for name in rows.index:
        mode = results.modes.get(str(name))
        labels.append(f"{name}\n(L{variants[name]['layer']}{' ' + mode if mode else ''})")
    with styled():
        figure = new_figure(width=9.0, height=1.8 + 0.85 * max(len(rows), 1))
        ax = figure.add_subplot()
        for offset, (share, text, color, hatch, legend) in zip((-0.2, 0.2), _BARS, strict=True):
            values = rows[share].fillna(0.0).to_numpy(float) * 100
            ys = [i + offset for i in range(len(rows))]
            ax.barh(ys, values, height=0.38, color=color, hatch=hatch, edgecolor="white",
                    label=legend)  # fmt: skip
            for y, (_, row) in zip(ys, rows.iterrows(), strict=True):
                what = row[text]
                if text == "seen":
                    lost = row["seen_share"] == 0
                    words = f"backend records {what}" + (", not the client's" if lost else "")
                else:
                    words = "no X-Forwarded-For" if what == "-" else f"X-Forwarded-For: {what}"
                ax.text(2, y, words, va="center", ha="left", fontsize=8,
                        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none",
                              "pad": 1.5})  # fmt: skip
        ax.set_yticks(range(len(rows)), labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("served requests where it is the client's real address (%)")
        ax.set_ylabel("variant (layer, mode)")
        ax.grid(axis="y", visible=False)
        figure.legend(
            loc="outside lower center", ncols=2, title="the address the backend learns from"
        )
        figure.suptitle(f"Who sees the client's address — {results.scenario}")
    return figure
