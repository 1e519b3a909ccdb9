"""Results: a run's records turned into tables and a summary.

Theory of operation: the engine hands over one :class:`~lbsim.records.Recorder` per
balancer variant, whose record logs may have spilled to disk in chunks
(:mod:`lbsim.spill`). :func:`build_results` computes the summary in one streaming
pass over each variant's requests (:mod:`lbsim.results.summary`) and wraps the record logs
as lazy tables (:mod:`lbsim.results.frames`, :mod:`lbsim.tables`): a table becomes a pandas
DataFrame only when something reads it (a figure, a notebook); otherwise
:func:`~lbsim.results.outputs.write_outputs` streams it into its CSV file chunk by chunk. So
the memory a run needs after the simulation does not grow with its length.

Two time ranges matter:

* ``requests.csv`` holds **every** request issued, warm-up included, so nothing a
  student might look for is missing;
* the **statistics window** is ``[warmup, duration)`` of simulated time: a request
  counts in ``summary.json`` (and in the figures' statistics) when its ``t_start``
  lies in it. Requests still in flight at ``duration`` drain and keep their place.

Determinism: the same records give byte-identical CSV files and a ``summary.json``
that differs only in the ``wall_seconds`` values (wall-clock time is not simulated).

Column and key reference: ``docs/reference/outputs.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from lbsim.records import ConnectionRecord, SegmentRecord
from lbsim.results.frames import (
    REQUEST_COLUMNS,
    TIMESERIES_DTYPES,
    record_table,
    request_table,
    timeseries_columns,
    timeseries_table,
)
from lbsim.results.outputs import (
    OUTPUT_NAMES,
    ExtraWriter,
    OutputDirError,
    check_output_dir,
    write_outputs,
)
from lbsim.results.summary import VariantRunLike, json_safe, tally, variant_summary
from lbsim.scenario.topology import TopologyConfig
from lbsim.tables import LazyFrame, LazyTable, SortedRequests

if TYPE_CHECKING:  # tables become DataFrames when read: a sweep worker never imports pandas
    import pandas as pd

__all__ = [
    "OUTPUT_NAMES",
    "REQUEST_COLUMNS",
    "TIMESERIES_DTYPES",
    "ExtraWriter",
    "OutputDirError",
    "Results",
    "ScenarioLike",
    "VariantRunLike",
    "build_results",
    "check_output_dir",
    "write_outputs",
]


class ScenarioLike(Protocol):
    """What :func:`build_results` reads from a scenario (``lbsim.scenario.Scenario``)."""

    @property
    def name(self) -> str:
        """Scenario name, used in titles and file names."""

    @property
    def seed(self) -> int:
        """Master seed of the run."""

    @property
    def duration(self) -> float:
        """Simulated seconds, warm-up included."""

    @property
    def warmup(self) -> float:
        """Seconds at the start left out of the statistics."""


@dataclass
class Results:
    """Everything one scenario run produced, as DataFrames and a summary.

    Attributes:
        scenario: Scenario name.
        seed: Seed the run used.
        duration: Simulated seconds during which clients issued requests.
        warmup: Simulated seconds excluded from statistics.
        requests: One row per request issued, all variants (``requests.csv``).
        connections: One row per TCP connection, both sides (``connections.csv``).
        segments: One row per traced segment (``segments.csv``); empty unless the run
            traced segments.
        timeseries: Long table ``variant, series, time, value`` (``timeseries.csv``).
        summary: The ``summary.json`` content.
        backends: Variant name -> backends it could use, in order.
        figures: Names of the figures the scenario asks for (``figures:``); empty
            means the default set of :mod:`lbsim.plots`.
        modes: Variant name -> layer-4 mode (``nat``, ``proxy``, ``dsr``); ``None``
            for layer 7.
        topology: The scenario's ``topology:`` (a
            :class:`~lbsim.scenario.topology.TopologyConfig`), or its star drawn as
            one when it has none; None when built from something else than a scenario.
    """

    scenario: str
    seed: int
    duration: float
    warmup: float
    requests: pd.DataFrame
    connections: pd.DataFrame
    segments: pd.DataFrame
    timeseries: pd.DataFrame
    summary: dict[str, Any]
    backends: dict[str, tuple[str, ...]] = field(default_factory=dict)
    figures: tuple[str, ...] = ()
    modes: dict[str, str | None] = field(default_factory=dict)
    topology: TopologyConfig | None = None

    @property
    def variants(self) -> list[str]:
        """Variant names in run order."""
        return list(self.backends)

    def window_requests(self, variant: str | None = None) -> pd.DataFrame:
        """Requests issued inside the statistics window ``[warmup, duration)``.

        Args:
            variant: Keep only this variant's rows; all variants when ``None``.
        """
        frame = self.requests
        if variant is not None:
            frame = frame[frame["variant"] == variant]
        return _in_window(frame, self.warmup, self.duration)

    def raw_table(self, name: str) -> pd.DataFrame | LazyTable:
        """Table ``name`` as given: a DataFrame, or a :class:`LazyTable` not read yet."""
        return _TABLES[name].raw(self)


# The four tables are LazyFrame descriptors (installed after the dataclass is made, so
# they stay required arguments): each accepts a DataFrame or a LazyTable and builds a
# lazy one on first read (``lbsim.tables``).
_TABLES: dict[str, LazyFrame] = {}
for _name in ("requests", "connections", "segments", "timeseries"):
    _TABLES[_name] = LazyFrame()
    _TABLES[_name].__set_name__(Results, _name)
    setattr(Results, _name, _TABLES[_name])


def _in_window(requests: pd.DataFrame, warmup: float, duration: float) -> pd.DataFrame:
    """Rows whose ``t_start`` lies in the statistics window ``[warmup, duration)``."""
    return requests[(requests["t_start"] >= warmup) & (requests["t_start"] < duration)]


def build_results(scenario: ScenarioLike, runs: Sequence[VariantRunLike]) -> Results:
    """Turn the recorders of a scenario's variant runs into :class:`Results`.

    The summary is computed in one streaming pass over each variant's requests
    (:func:`lbsim.results.summary.tally`); the full tables are built only when read
    (``Results.requests`` ...) and are streamed chunk by chunk into the CSV files by
    :func:`write_outputs`.

    Args:
        scenario: The scenario that was run (name, seed, duration, warmup).
        runs: One run per balancer variant, in the order they should be reported.

    Returns:
        The results; ``summary`` follows the ``summary.json`` contract.
    """
    warmup, duration = float(scenario.warmup), float(scenario.duration)
    sorted_requests = [SortedRequests(run.recorder.requests) for run in runs]
    timeseries = timeseries_table([timeseries_columns(run) for run in runs])
    variants = {
        run.name: variant_summary(run, tally(requests, warmup, duration))
        for run, requests in zip(runs, sorted_requests, strict=True)
    }
    summary = json_safe(
        {
            "scenario": scenario.name,
            "seed": scenario.seed,
            "duration": duration,
            "warmup": warmup,
            "variants": variants,
        }
    )
    return Results(
        scenario=scenario.name,
        seed=scenario.seed,
        duration=duration,
        warmup=warmup,
        # LazyTables: the tables' descriptors build the DataFrames when first read.
        requests=cast("pd.DataFrame", request_table(sorted_requests)),
        connections=cast(
            "pd.DataFrame", record_table([r.recorder.connections for r in runs], ConnectionRecord)
        ),
        segments=cast(
            "pd.DataFrame", record_table([r.recorder.segments for r in runs], SegmentRecord)
        ),
        timeseries=cast("pd.DataFrame", timeseries),
        summary=summary,
        backends={run.name: tuple(run.backends) for run in runs},
        figures=tuple(getattr(scenario, "figures", ())),
        modes={b.name: b.mode for b in getattr(scenario, "balancers", ())},
        topology=_topology_of(scenario),
    )


def _topology_of(scenario: ScenarioLike) -> TopologyConfig | None:
    """The scenario's topology, or its star as one (None for a scenario-like stand-in)."""
    topology = getattr(scenario, "topology", None)
    if isinstance(topology, TopologyConfig):
        return topology
    if not all(hasattr(scenario, key) for key in ("clients", "backends", "network")):
        return None
    from lbsim.scenario.topology_graph import star_topology

    try:
        return star_topology(scenario)  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError):
        return None  # a stand-in that only looks like a scenario
