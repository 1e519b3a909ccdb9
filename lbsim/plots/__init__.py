"""Figures drawn from :class:`lbsim.results.Results`, never from live engine objects.

Theory of operation: each figure lives in its own module as a function
``results -> matplotlib.figure.Figure``; :mod:`lbsim.plots.style` holds the shared
palette, line styles, fonts, sizes and the PNG writer. :data:`CATALOGUE` maps each
figure *name* (the names a scenario lists under ``figures:``, see
:mod:`lbsim.scenario.figure_names`) to its function; the figure is written as
``NAME.png``. :func:`write_figures` draws the figures the scenario named, or the
default three when it named none (a load-sweep figure such as ``latency_vs_load``
needs extra runs: ``lbsim run`` draws it with :mod:`lbsim.report.load_sweep` and
:mod:`lbsim.plots.offered_load`); ``lbsim run`` hands :func:`figure_writer` to
:func:`lbsim.results.write_outputs`, which calls it for ``OUT/figures/``. In a
notebook, call a figure function and display the returned figure.

Layer: may import ``results``, ``metrics``, ``records`` and the leaf utilities;
sweep tables appear in signatures only (typing), so plots never import ``sweep``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from lbsim.plots import backend_requests as _backend_requests
from lbsim.plots import latency_cdf as _latency_cdf
from lbsim.plots import share_over_time as _share_over_time
from lbsim.plots.backend_sequence import backend_sequence
from lbsim.plots.balancer_load import balancer_load
from lbsim.plots.balancer_timeseries import balancer_cpu
from lbsim.plots.broken_connections import broken_connections
from lbsim.plots.client_ip_seen import client_ip_seen
from lbsim.plots.connection_setup import connection_setup
from lbsim.plots.fairness_over_time import fairness_over_time
from lbsim.plots.instance_load import instance_load
from lbsim.plots.latency_by_client import latency_by_client
from lbsim.plots.load_over_time import load_over_time
from lbsim.plots.newcomer_ramp import newcomer_ramp
from lbsim.plots.outcomes_by_client import outcomes_by_client
from lbsim.plots.path_groups import path_groups
from lbsim.plots.segment_sides import segments_per_side
from lbsim.plots.style import save_figure
from lbsim.plots.topology import topology
from lbsim.plots.upstream_connects import upstream_connects
from lbsim.scenario.figure_names import DEFAULT_FIGURES, FIGURE_NAMES, LOAD_SWEEP_FIGURES

if TYPE_CHECKING:
    from lbsim.results import Results

backend_requests = _backend_requests.backend_requests
latency_cdf = _latency_cdf.latency_cdf
share_over_time = _share_over_time.share_over_time

__all__ = [
    "CATALOGUE",
    "FIGURES",
    "FigureFunction",
    "backend_requests",
    "figure_names",
    "figure_writer",
    "latency_cdf",
    "save_figure",
    "share_over_time",
    "write_figures",
]

#: Signature of a figure function: results in, unsaved figure out.
FigureFunction = Callable[["Results"], Figure]

#: Figure name (``figures:`` in a scenario) -> function drawing it, as ``NAME.png``.
CATALOGUE: dict[str, FigureFunction] = {
    "latency_cdf": latency_cdf,
    "stickiness": share_over_time,
    "backend_requests": backend_requests,
    "backend_sequence": backend_sequence,
    "balancer_load": balancer_load,
    "connection_setup": connection_setup,
    "load_over_time": load_over_time,
    "balancer_cpu": balancer_cpu,
    "latency_by_client": latency_by_client,
    "path_groups": path_groups,
    "outcomes_by_client": outcomes_by_client,
    "segments_per_side": segments_per_side,
    "upstream_connects": upstream_connects,
    "topology": topology,
    "instance_load": instance_load,
    "fairness_over_time": fairness_over_time,
    "newcomer_ramp": newcomer_ramp,
    "client_ip_seen": client_ip_seen,
    "broken_connections": broken_connections,
}
if set(CATALOGUE) | set(LOAD_SWEEP_FIGURES) != set(FIGURE_NAMES):  # pragma: no cover
    raise RuntimeError("lbsim.plots.CATALOGUE and lbsim.scenario.figure_names disagree")

#: Output file name -> function, for the default figures (kept for callers by file name).
FIGURES: dict[str, FigureFunction] = {f"{name}.png": CATALOGUE[name] for name in DEFAULT_FIGURES}


def figure_writer(results: Results) -> Callable[[Path], list[Path]]:
    """A writer of ``figures/*.png`` for :func:`lbsim.results.write_outputs`'s ``extra``."""
    return lambda directory: write_figures(results, directory / "figures")


def figure_names(results: Results) -> tuple[str, ...]:
    """The figures to draw from ``results``: the scenario's ``figures:``, else the default.

    Load-sweep figures (:data:`~lbsim.scenario.figure_names.LOAD_SWEEP_FIGURES`) are left
    out: they are drawn from extra runs, not from these results.
    """
    if not results.figures:
        return DEFAULT_FIGURES
    return tuple(name for name in results.figures if name not in LOAD_SWEEP_FIGURES)


def write_figures(
    results: Results, directory: str | Path, names: Sequence[str] | None = None
) -> list[Path]:
    """Draw the named figures and save each as ``NAME.png`` in ``directory``.

    Args:
        results: Results of one scenario run.
        directory: Destination directory (created if missing).
        names: Figure names (keys of :data:`CATALOGUE`); by default the ones the
            scenario listed under ``figures:`` (:func:`figure_names`).

    Returns:
        The PNG paths written, in the order of ``names``.

    Raises:
        KeyError: If a name is not in :data:`CATALOGUE`.
    """
    target = Path(directory)
    chosen = figure_names(results) if names is None else tuple(names)
    unknown = [name for name in chosen if name not in CATALOGUE]
    if unknown:
        raise KeyError(f'no figure "{unknown[0]}" (figures: {", ".join(CATALOGUE)})')
    return [save_figure(CATALOGUE[name](results), target / f"{name}.png") for name in chosen]
