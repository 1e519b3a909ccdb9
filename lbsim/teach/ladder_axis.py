"""The time axis of a ladder diagram: to scale where it can be, stretched where it must.

Theory of operation: in a ladder diagram time flows down and an arrow's slope is
its link's delay. When one link is much faster than another (0.2 ms to the
backends, 10 ms to the clients) the fast link's arrows, drawn to scale, lie within
a few points of each other and their labels collide, whatever the figure's size.

:class:`TimeAxis` maps simulated time to the vertical coordinate through the sorted
instants at which something is sent or arrives. Between two consecutive instants
the distance is the real time between them, or a minimum gap ``g`` if that is
longer; ``g`` is chosen so that ``g`` is one label's height on the figure (solved
by bisection, as the total length itself grows with ``g``). So long intervals keep
their proportions, short ones open up to legible size, and the order of events is
never changed. Tick labels are the *real* times (the inverse mapping), and
:attr:`TimeAxis.stretched` says whether anything was stretched, so the axis label
can say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["TimeAxis", "label_ladder_axes"]


class TimeAxis:
    """A monotonic map from real time (ms) to the diagram's vertical coordinate.

    Args:
        instants: Times (ms) at which arrows start or end.
        label_fraction: One label's height as a fraction of the axis height.
    """

    def __init__(self, instants: Iterable[float], label_fraction: float) -> None:
        t = np.unique(np.asarray([float(x) for x in instants if np.isfinite(x)], dtype=float))
        if t.size < 2:
            t = np.asarray([0.0, 1.0]) if t.size == 0 else np.asarray([t[0], t[0] + 1.0])
        gaps = np.diff(t)
        gap = _min_gap(gaps, label_fraction)
        self.gap = gap
        self.real = t
        self.warped = np.concatenate(([t[0]], t[0] + np.cumsum(np.maximum(gaps, gap))))
        #: Whether some interval was drawn longer than its real duration.
        self.stretched = bool(np.any(gaps < gap * (1 - 1e-9)))

    @property
    def span(self) -> float:
        """Length of the axis from the first to the last instant (warped units)."""
        return float(self.warped[-1] - self.warped[0])

    def y(self, t_ms: float) -> float:
        """Vertical coordinate of real time ``t_ms`` (linear beyond the ends)."""
        r, w = self.real, self.warped
        if t_ms <= r[0]:
            return float(w[0] - (r[0] - t_ms))
        if t_ms >= r[-1]:
            return float(w[-1] + (t_ms - r[-1]))
        return float(np.interp(t_ms, r, w))

    def t(self, y: float) -> float:
        """Real time (ms) at vertical coordinate ``y`` (the inverse of :meth:`y`)."""
        r, w = self.real, self.warped
        if y <= w[0]:
            return float(r[0] - (w[0] - y))
        if y >= w[-1]:
            return float(r[-1] + (y - w[-1]))
        return float(np.interp(y, w, r))


def label_ladder_axes(ax: Axes, axis: TimeAxis, t0: float, xlabel: str) -> None:
    """Label a ladder's axes: lifelines named on top, time (real ticks) flowing down.

    Args:
        ax: The ladder's axes.
        axis: The time axis the arrows were placed on.
        t0: Simulated time (s) of the diagram's origin.
        xlabel: What the lifelines are.
    """
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{axis.t(y):.4g}"))
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel(xlabel)
    ylabel = f"time (ms after t = {t0 * 1000:.3f} ms), flowing down"
    if axis.stretched:
        ylabel += "\nshort intervals stretched to fit their labels; ticks show real times"
    ax.set_ylabel(ylabel)
    ax.spines["bottom"].set_visible(False)


def _min_gap(gaps: np.ndarray, fraction: float) -> float:
    """The gap g with g = fraction x (sum of max(gap, g)): one label per gap at least.

    The left side grows with slope 1 and the right side with slope fraction x (number
    of gaps below g); when fraction x n >= 1 no g fits and every gap gets the same
    length (events evenly spaced, in order).
    """
    total = float(gaps.sum())
    if fraction * gaps.size >= 1 or total <= 0:
        return max(total, 1.0)
    lo, hi = 0.0, total
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid < fraction * float(np.maximum(gaps, mid).sum()):
            lo = mid
        else:
            hi = mid
    return hi
