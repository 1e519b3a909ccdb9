"""Labels of a ladder diagram: what each arrow says, and where it goes.

Theory of operation: every arrow of a ladder diagram is labelled the way a capture
tool shows a segment: flags, sequence and acknowledgement numbers relative to that
direction's ISN, the payload length, and, when the segment completes an application
message, what that message is (``GET /x``, ``200 OK``, ``TLS ClientHello``). Drawn
to scale, arrows that a fast link sent within microseconds lie on top of each
other; :func:`merge_bursts` gives such a burst one label. :class:`LabelPlacer`
then puts each label on its arrow where it covers no earlier label: the middle
first, then further along the arrow, then a few points above or below, judged in
display pixels once the figure is laid out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

from lbsim.teach.messages import describe, tls_version
from lbsim.teach.trace import Trace

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Label", "LabelPlacer", "merge_bursts", "message_tag", "place_labels", "segment_label"]


def segment_label(
    flags: str, rel_seq: int | None, seq: int, rel_ack: int | None, ack: int, payload: int
) -> str:
    """``PSH,ACK seq=1 ack=1 len=400``: a segment as a capture tool lists it.

    Relative numbers are used when known (``rel_seq``/``rel_ack``), else absolute ones.
    """
    if flags == "ACK" and not payload:
        # A pure ACK's sequence number carries no information: show what it acknowledges.
        return f"ACK ack={ack if rel_ack is None else rel_ack}"
    parts = [flags or "-", f"seq={seq if rel_seq is None else rel_seq}"]
    if "ACK" in flags:
        parts.append(f"ack={ack if rel_ack is None else rel_ack}")
    if payload:
        parts.append(f"len={payload}")
    return " ".join(parts)


def message_tag(trace: Trace, row: int) -> str:
    """`` · GET /`` for a segment that completes a message: what that message is."""
    tags = []
    for _, message in trace.marks.get(row, ()):
        if tls_version(message) is not None and getattr(message, "inner", None) is None:
            tags.append(f"TLS {getattr(message, 'kind', 'handshake')}")
            continue
        text = describe(message)
        short = _short_l7(text.l7)
        tags.append(f"TLS[{short}]" if text.l6 is not None else short)
    return "".join(f" · {tag}" for tag in tags)


def _short_l7(line: str) -> str:
    """``GET /x HTTP/1.1`` -> ``GET /x``; ``HTTP/1.1 200 OK`` -> ``200 OK``."""
    if line.startswith("HTTP/"):
        return line.split(" ", 1)[1] if " " in line else line
    if line.endswith(" HTTP/1.1"):
        line = line[: -len(" HTTP/1.1")]
    return line if len(line) <= 24 else line[:23] + "…"


#: An arrow to label: x0, y0, x1, y1 (data coordinates), text, colour, dropped.
Label = tuple[float, float, float, float, str, str, bool]


def merge_bursts(labels: list[Label], frame: pd.DataFrame, burst_ms: float) -> list[Label]:
    """One label for a burst of near-identical arrows (same link, sent almost together).

    A fast link sends a window of segments within microseconds; drawn to scale their
    arrows lie on top of each other, and so would their labels. Such a burst gets a
    single label, e.g. ``5 segments seq=1…5841, 6000 B · POST /orders``.
    """
    rows = frame.to_dict("records")
    merged: list[Label] = []
    start = 0
    while start < len(labels):
        end = start + 1
        while (
            end < len(labels)
            and rows[end]["link"] == rows[start]["link"]
            and labels[end][1] - labels[end - 1][1] < burst_ms
            and not rows[end]["dropped"]
        ):
            end += 1
        if end - start == 1:
            merged.append(labels[start])
        else:
            burst = rows[start:end]
            middle = labels[(start + end - 1) // 2]
            merged.append((*middle[:4], _burst_label(burst), middle[5], False))
        start = end
    return merged


def _number(value: Any) -> int | None:
    """A relative sequence number from a table cell (``None`` when unknown)."""
    if value is None or value != value:  # NaN
        return None
    return int(value)


def _burst_label(burst: list[dict[Any, Any]]) -> str:
    """One label for several segments sent together on one link."""
    tags = [t for r in burst for t in str(r["label"]).split(" · ")[1:]]
    data = [r for r in burst if int(r["payload"])]
    others = len(burst) - len(data)
    if not data:
        acks = [a for a in (_number(r["rel_ack"]) for r in burst) if a is not None]
        flags = "/".join(dict.fromkeys(str(r["flags"]) for r in burst))
        span = (
            ""
            if not acks
            else f" ack={acks[0]}"
            if acks[0] == acks[-1]
            else (f" ack={acks[0]}…{acks[-1]}")
        )
        return f"{len(burst)}× {flags}{span}" + "".join(f" · {t}" for t in tags)
    if len(data) == 1:
        text = str(data[0]["label"]).split(" · ")[0]
    else:
        seqs = [_number(r["rel_seq"]) for r in data]
        span = f" seq={seqs[0]}…{seqs[-1]}" if seqs[0] is not None else ""
        text = f"{len(data)} segments{span}, {sum(int(r['payload']) for r in data)} B"
    if others:
        text += f" (+{others} ACK)" if others == 1 else f" (+{others} ACKs)"
    return text + "".join(f" · {t}" for t in tags)


class LabelPlacer:
    """Puts arrow labels where they do not cover each other.

    A label goes at the middle of its arrow if that spot is free, else further
    along it (30 % or 70 %), else a few points above or below. Overlap is judged in
    display pixels, from the laid-out axes' transform and an estimate of each
    label's box (6.5-point text), which is close enough for a few dozen arrows.
    """

    #: (fraction along the arrow, offset in points), nearest to the middle first.
    _CANDIDATES = tuple(
        sorted(
            ((f, o) for f in (0.5, 0.3, 0.7, 0.2, 0.8) for o in (0, 8, -8, 16, -16, 24, -24)),
            key=lambda c: (abs(c[1]) + 40 * abs(c[0] - 0.5), -c[1]),
        )
    )

    def __init__(self, ax: Any) -> None:
        self.ax = ax
        self.px_per_pt = ax.figure.dpi / 72
        self.boxes: list[tuple[float, float, float, float]] = []

    def place(
        self, x0: float, y0: float, x1: float, y1: float, text: str, colour: str, dropped: bool
    ) -> bool:
        """Add ``text`` for the arrow from (x0, y0) to (x1, y1), in data coordinates.

        Returns:
            Whether it was placed; a label that would cover another one is left out
            rather than drawn illegibly on top of it.
        """
        ppt = self.px_per_pt
        width, height = len(text) * 6.5 * 0.6 * ppt, 10.0 * ppt
        best: tuple[float, tuple[float, int], tuple[float, float, float, float]] | None = None
        for fraction, offset in self._CANDIDATES:
            px, py = self.ax.transData.transform(
                (x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction)
            )
            py += offset * ppt
            box = (px - width / 2, py - height / 2, px + width / 2, py + height / 2)
            covered = sum(_overlap_area(box, other) for other in self.boxes)
            if best is None or covered < best[0]:
                best = (covered, (fraction, offset), box)
            if covered == 0:
                break
        assert best is not None
        if best[0] > 0:
            return False
        self.boxes.append(best[2])
        fraction, offset = best[1]
        self.ax.annotate(
            text,
            (x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction),
            xytext=(0, offset),
            textcoords="offset points",
            fontsize=6.5,
            ha="center",
            va="center",
            color="#777777" if dropped else colour,
            zorder=5,
            bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.85},
        )
        return True


def place_labels(fig: Figure, ax: Axes, pending: list[Label]) -> None:
    """Place ``pending`` labels on ``ax`` where they do not overlap, and say how many were not.

    The figure is laid out first, so labels are placed in real display units.
    """
    if not pending:
        return
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    placer = LabelPlacer(ax)
    left_out = sum(not placer.place(*label) for label in pending)
    if left_out:
        ax.text(
            1.0, 1.0, f"{left_out} label(s) left out where they would overlap",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="#666666",
        )  # fmt: skip


def _overlap_area(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0
