"""Figures drawn from :class:`lbsim.results.Results`, never from live engine objects.

Theory of operation: each figure lives in its own module as a function
``results -> matplotlib.figure.Figure``; :mod:`lbsim.plots.style` holds the shared
palette, fonts, sizes and the PNG writer. :data:`FIGURES` maps each output file name
to its function, and :func:`write_figures` draws them all into a directory (this is
what ``lbsim run`` calls for ``OUT/figures/``, handing
:func:`figure_writer` to :func:`lbsim.results.write_outputs`). In a notebook, call
a figure function and display the returned figure.

Layer: may import ``results``, ``metrics``, ``records`` and the leaf utilities;
sweep tables appear in signatures only (typing), so plots never import ``sweep``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from lbsim.plots import backend_requests as _backend_requests
from lbsim.plots import latency_cdf as _latency_cdf
from lbsim.plots import share_over_time as _share_over_time
from lbsim.plots.style import save_figure

if TYPE_CHECKING:
    from lbsim.results import Results

backend_requests = _backend_requests.backend_requests
latency_cdf = _latency_cdf.latency_cdf
share_over_time = _share_over_time.share_over_time

__all__ = [
    "FIGURES",
    "FigureFunction",
    "backend_requests",
    "figure_writer",
    "latency_cdf",
    "save_figure",
    "share_over_time",
    "write_figures",
]

#: Signature of a figure function: results in, unsaved figure out.
FigureFunction = Callable[["Results"], Figure]

#: Output file name -> function drawing that figure.
FIGURES: dict[str, FigureFunction] = {
    _latency_cdf.FILENAME: latency_cdf,
    _share_over_time.FILENAME: share_over_time,
    _backend_requests.FILENAME: backend_requests,
}


def figure_writer(results: Results) -> Callable[[Path], list[Path]]:
    """A writer of ``figures/*.png`` for :func:`lbsim.results.write_outputs`'s ``extra``."""
    return lambda directory: write_figures(results, directory / "figures")


def write_figures(results: Results, directory: str | Path) -> list[Path]:
    """Draw every figure in :data:`FIGURES` and save it as a PNG in ``directory``.

    Args:
        results: Results of one scenario run.
        directory: Destination directory (created if missing).

    Returns:
        The PNG paths written, in :data:`FIGURES` order.
    """
    target = Path(directory)
    return [save_figure(draw(results), target / name) for name, draw in FIGURES.items()]
