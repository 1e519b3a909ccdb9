"""Results: a run's records turned into DataFrames, a summary, and files on disk.

Theory of operation: the engine hands over one :class:`~lbsim.records.Recorder` per
balancer variant. :func:`build_results` converts every recorder to pandas exactly
once (records are never turned into tables while the simulation runs) and computes
the per-variant summary with the pure functions of :mod:`lbsim.metrics`.
:func:`write_outputs` then writes the CSV files, ``summary.json`` and the figures.

Two time ranges matter:

* ``requests.csv`` holds **every** request issued, warm-up included, so nothing a
  student might look for is missing;
* the **statistics window** is ``[warmup, duration)`` of simulated time: a request
  counts in ``summary.json`` (and in the figures' statistics) when its ``t_start``
  lies in it. Requests still in flight at ``duration`` drain and keep their place.

Determinism: the same records give byte-identical CSV files and a ``summary.json``
that differs only in the ``wall_seconds`` values (wall-clock time is not simulated).
Floats are written with Python's shortest round-tripping representation, so CSV
values read back exactly; NaN never reaches JSON (it becomes ``null``).

Writing is atomic at the directory level: everything is written into a hidden
temporary sibling directory, which is renamed into place only when complete. An
interrupted write leaves either the previous directory or nothing under the final
name, never a directory that looks complete but is not.

Column and key reference: ``docs/reference/outputs.md``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import pandas as pd

from lbsim import metrics
from lbsim.records import OUTCOMES, ConnectionRecord, Recorder, RequestRecord, SegmentRecord
from lbsim.scenario.topology import TopologyConfig
from lbsim.spill import Columns, RecordLog
from lbsim.tables import LazyFrame, LazyTable, SortedRequests

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

#: The contract columns of ``requests.csv``, first and in this order; the remaining
#: :class:`~lbsim.records.RequestRecord` fields follow in declaration order.
REQUEST_COLUMNS = (
    "variant",
    "request_id",
    "client",
    "connection",
    "backend",
    "method",
    "path",
    "status",
    "outcome",
    "t_start",
    "t_end",
    "latency",
    "request_bytes",
    "response_bytes",
    "cache_hit",
)

#: Names :func:`write_outputs` may create inside an output directory.
OUTPUT_NAMES = frozenset(
    {
        "requests.csv",
        "connections.csv",
        "segments.csv",
        "timeseries.csv",
        "summary.json",
        "figures",
        "pcap",
    }
)

#: Columns of ``timeseries.csv`` and their dtypes.
TIMESERIES_DTYPES = {"variant": "str", "series": "str", "time": "float64", "value": "float64"}

# Record field annotation (a string, records use postponed annotations) -> pandas
# dtype. Nullable numbers and booleans use pandas' nullable types so ``None`` stays
# "missing" instead of becoming 0 or False; strings use pandas' ``str`` dtype (NaN
# for missing, written as an empty CSV field).
_DTYPES = {
    "str": "str",
    "str | None": "str",
    "int": "int64",
    "int | None": "Int64",
    "float": "float64",
    "float | None": "float64",
    "bool": "bool",
    "bool | None": "boolean",
}


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


class VariantRunLike(Protocol):
    """What :func:`build_results` reads from one variant's run (``lbsim.sim.VariantRun``)."""

    @property
    def name(self) -> str:
        """Variant name, as the scenario gives it."""

    @property
    def layer(self) -> int:
        """Balancing layer, 4 or 7."""

    @property
    def algorithm(self) -> str:
        """Balancing algorithm's registered name."""

    @property
    def recorder(self) -> Recorder:
        """The records the run collected."""

    @property
    def backends(self) -> tuple[str, ...]:
        """Backend names, in the scenario's order."""

    @property
    def wall_seconds(self) -> float:
        """Wall-clock seconds the run took."""


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


# The three record tables are LazyFrame descriptors (installed after the dataclass is
# made, so they stay required arguments): each accepts a DataFrame or a LazyTable and
# builds a lazy one on first read (``lbsim.tables``).
_TABLES: dict[str, LazyFrame] = {}
for _name in ("requests", "connections", "segments"):
    _TABLES[_name] = LazyFrame()
    _TABLES[_name].__set_name__(Results, _name)
    setattr(Results, _name, _TABLES[_name])


def _in_window(requests: pd.DataFrame, warmup: float, duration: float) -> pd.DataFrame:
    """Rows whose ``t_start`` lies in the statistics window ``[warmup, duration)``."""
    return requests[(requests["t_start"] >= warmup) & (requests["t_start"] < duration)]


def _frame(records: Sequence[Any] | Columns, record_type: type) -> pd.DataFrame:
    """Build a DataFrame with one column per dataclass field, typed from its annotation.

    ``records`` is a sequence of records or a chunk of columns (:mod:`lbsim.spill`).
    """
    columns: dict[str, Any] = {}
    for spec in fields(record_type):
        dtype = _DTYPES.get(str(spec.type), "object")
        if isinstance(records, dict):
            values = records[spec.name]
        else:
            getter = attrgetter(spec.name)
            values = [getter(r) for r in records]
        columns[spec.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns)


def _request_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``requests.csv`` columns: the latency added, contract columns first."""
    frame["latency"] = frame["t_end"] - frame["t_start"]
    rest = [c for c in frame.columns if c not in REQUEST_COLUMNS]
    return frame[[*REQUEST_COLUMNS, *rest]]


def _requests_frame(records: Sequence[RequestRecord]) -> pd.DataFrame:
    """``requests.csv`` rows: contract columns first, ordered by issue time."""
    frame = _request_columns(_frame(records, RequestRecord))
    return frame.sort_values(["t_start", "request_id"], kind="mergesort", ignore_index=True)


def _timeseries_frame(run: VariantRunLike) -> pd.DataFrame:
    """Long-format time series of one run, series in name order."""
    rows = [
        (run.name, name, float(time), float(value))
        for name in sorted(run.recorder.series)
        for time, value in run.recorder.series[name]
    ]
    return pd.DataFrame(rows, columns=list(TIMESERIES_DTYPES)).astype(TIMESERIES_DTYPES)


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """Concatenate keeping dtypes; the typed ``empty`` frame when there is nothing."""
    non_empty = [f for f in frames if not f.empty]
    if not non_empty:
        return empty
    return pd.concat(non_empty, ignore_index=True).astype(empty.dtypes.to_dict())


def _counter(counters: dict[str, float], name: str, kind: Callable[[float], Any]) -> Any:
    """A counter converted with ``kind``; ``None`` when the engine did not record it."""
    value = counters.get(name)
    if value is None or math.isnan(float(value)):
        return None
    return kind(value)


def _cache_summary(window: pd.DataFrame) -> dict[str, Any] | None:
    """Cache effect on the window's requests; None when the variant has no cache."""
    looked_up = window["cache_hit"].dropna()
    if looked_up.empty:
        return None
    hits = int((looked_up == True).sum())  # noqa: E712  (a nullable boolean column)
    return {
        "lookups": len(looked_up),
        "hits": hits,
        "hit_ratio": hits / len(looked_up),
        "backend_requests_saved": hits,
    }


def _variant_summary(
    run: VariantRunLike, window: pd.DataFrame, window_seconds: float, finished_in_window: int
) -> dict[str, Any]:
    """The per-variant block of ``summary.json``, computed on the window's requests.

    ``finished_in_window`` counts the ``ok`` requests whose last response byte
    arrived inside the window, whenever they were issued: that rate is the
    throughput, so an overloaded system shows what it actually completed.
    ``offered_rps`` is the rate at which requests were issued in the window; an
    overloaded run completes fewer per second than it is offered.
    """
    outcome_counts = window["outcome"].value_counts()
    outcomes = {name: int(outcome_counts.get(name, 0)) for name in OUTCOMES}
    completed = outcomes["ok"]
    ok_latencies = window.loc[window["outcome"] == "ok", "latency"]
    backends = list(run.backends)
    served = window["backend"].dropna().value_counts()
    counters = run.recorder.counters
    summary = {
        "layer": run.layer,
        "algorithm": run.algorithm,
        "requests": len(window),
        "completed": completed,
        "failed": len(window) - completed,
        "outcomes": outcomes,
        "offered_rps": len(window) / window_seconds if window_seconds > 0 else None,
        "throughput_rps": finished_in_window / window_seconds if window_seconds > 0 else None,
        "latency": metrics.latency_stats(ok_latencies.to_numpy()),
        "backend_share": metrics.backend_share(window, backends),
        "jain_fairness": metrics.jain_fairness(int(served.get(b, 0)) for b in backends),
        "stickiness": metrics.stickiness(window),
        "segments": {
            "client_side": _counter(counters, "segments.client_side", int),
            "backend_side": _counter(counters, "segments.backend_side", int),
        },
        "lb": {
            "cpu_utilization": _counter(counters, "lb.cpu_utilization", float),
            "peak_buffer_bytes": _counter(counters, "lb.peak_buffer_bytes", int),
            "peak_table_entries": _counter(counters, "lb.peak_table_entries", int),
            "cpu_queue_delay": _counter(counters, "lb.cpu_mean_queue_delay", float),
        },
        "cache": _cache_summary(window),
        "counters": {k: v for k, v in sorted(counters.items()) if not k.startswith("backend.")},
        "wall_seconds": run.wall_seconds,
    }
    instances = _instances(counters)
    if instances:  # a topology's run: per-instance results (absent for the star)
        summary["instances"] = instances
    return summary


def _instances(counters: dict[str, float]) -> dict[str, dict[str, float]]:
    """``instance.<name>.<key>`` counters grouped by instance, in run order."""
    out: dict[str, dict[str, float]] = {}
    for key, value in counters.items():
        if key.startswith("instance."):
            name, _, rest = key.removeprefix("instance.").partition(".")
            out.setdefault(name, {})[rest] = value
    return {name: dict(sorted(values.items())) for name, values in out.items()}


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by ``None`` and numpy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _request_table(runs: list[SortedRequests]) -> LazyTable:
    """``requests.csv``: each variant's requests in table order, block by block."""
    names = [f.name for f in fields(RequestRecord)]

    def blocks() -> Iterator[pd.DataFrame]:
        for requests in runs:
            for block in requests.blocks(names):
                yield _request_columns(_frame(block, RequestRecord))

    return LazyTable(blocks, lambda: _requests_frame([]), sum(len(r) for r in runs))


def _record_table(logs: list[RecordLog[Any]], record_type: type) -> LazyTable:
    """A table of records in append order, variant after variant, chunk by chunk."""

    def blocks() -> Iterator[pd.DataFrame]:
        for log in logs:
            for chunk in log.column_chunks():
                yield _frame(chunk, record_type)

    return LazyTable(blocks, lambda: _frame([], record_type), sum(len(log) for log in logs))


def build_results(scenario: ScenarioLike, runs: Sequence[VariantRunLike]) -> Results:
    """Turn the recorders of a scenario's variant runs into :class:`Results`.

    The summary is computed from a few compact columns per request
    (:meth:`lbsim.tables.SortedRequests.summary_frame`); the full tables are built only when
    read (``Results.requests`` ...) and are streamed chunk by chunk into the CSV
    files by :func:`write_outputs`.

    Args:
        scenario: The scenario that was run (name, seed, duration, warmup).
        runs: One run per balancer variant, in the order they should be reported.

    Returns:
        The results; ``summary`` follows the ``summary.json`` contract.
    """
    warmup, duration = float(scenario.warmup), float(scenario.duration)
    sorted_requests = [SortedRequests(run.recorder.requests) for run in runs]
    empty_series = pd.DataFrame(columns=list(TIMESERIES_DTYPES)).astype(TIMESERIES_DTYPES)
    timeseries = _concat([_timeseries_frame(run) for run in runs], empty_series)

    variants: dict[str, Any] = {}
    for run, requests in zip(runs, sorted_requests, strict=True):
        frame = requests.summary_frame()
        window = _in_window(frame, warmup, duration)
        ends = frame["t_end"]
        finished = int(((frame["outcome"] == "ok") & (ends >= warmup) & (ends < duration)).sum())
        variants[run.name] = _variant_summary(run, window, duration - warmup, finished)
        del frame, window, ends
    summary = _json_safe(
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
        requests=cast(pd.DataFrame, _request_table(sorted_requests)),
        connections=cast(
            pd.DataFrame, _record_table([r.recorder.connections for r in runs], ConnectionRecord)
        ),
        segments=cast(
            pd.DataFrame, _record_table([r.recorder.segments for r in runs], SegmentRecord)
        ),
        timeseries=timeseries,
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


class OutputDirError(ValueError):
    """The output directory exists and holds files lbsim did not write."""


def check_output_dir(out_dir: str | Path) -> None:
    """Check that ``out_dir`` may be (re)placed by :func:`write_outputs`.

    A missing directory is fine. An existing one is replaced only if it is empty or
    holds nothing but names lbsim writes (:data:`OUTPUT_NAMES`), so a mistyped
    ``--out`` can never delete a user's files.

    Raises:
        OutputDirError: If ``out_dir`` is a file, a directory with foreign entries, or
            the current directory (or one containing it), which cannot be replaced.
    """
    path = Path(out_dir)
    if not path.exists() and not path.is_symlink():
        return
    cwd = Path.cwd()
    if path.resolve() in (cwd, *cwd.parents):
        raise OutputDirError(
            f"{path}: is the current directory or contains it; choose another --out"
        )
    if path.is_symlink() or not path.is_dir():
        raise OutputDirError(f"{path}: exists and is not a directory; choose another --out")
    foreign = sorted(entry.name for entry in path.iterdir() if entry.name not in OUTPUT_NAMES)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputDirError(
            f"{path}: exists and holds files lbsim did not write ({shown}); "
            "remove them or choose another --out"
        )


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def _write_table(results: Results, name: str, path: Path) -> Path | None:
    """Write table ``name``, streamed when it is not loaded yet.

    Returns:
        The file written, or ``None`` if the table is empty and optional (``segments``).
    """
    table = _TABLES[name].raw(results)
    rows = table.rows if isinstance(table, LazyTable) else len(table)
    if name == "segments" and rows == 0:
        return None
    if isinstance(table, LazyTable):
        return table.write_csv(path)
    return _write_csv(table, path)


def _write_all(results: Results, directory: Path) -> list[Path]:
    """Write every table and the summary into ``directory`` (which exists and is empty)."""
    written = []
    for name in ("requests", "connections", "segments"):
        path = _write_table(results, name, directory / f"{name}.csv")
        if path is not None:
            written.append(path)
    written.append(_write_csv(results.timeseries, directory / "timeseries.csv"))
    summary_path = directory / "summary.json"
    text = json.dumps(_json_safe(results.summary), indent=2, allow_nan=False)
    summary_path.write_text(text + "\n", encoding="utf-8")
    written.append(summary_path)
    return written


#: A writer of more outputs: called with the staging directory, returns its files.
ExtraWriter = Callable[[Path], Sequence[Path]]


def write_outputs(
    results: Results,
    out_dir: str | Path,
    *,
    extra: ExtraWriter | Sequence[ExtraWriter] | None = None,
) -> list[Path]:
    """Write ``results`` into ``out_dir``, atomically.

    Files: ``requests.csv``, ``connections.csv``, ``segments.csv`` (only when
    segments were traced), ``timeseries.csv``, ``summary.json``, and whatever the
    ``extra`` writers write: figures (``figures/*.png``, see
    :func:`lbsim.plots.figure_writer`), packet captures (``pcap/``). This module
    draws nothing itself, so it needs no plotting library.

    Everything is first written into a hidden temporary sibling directory
    (``.NAME.tmp-XXXXXXXX``). Only when it is complete does it take the final name: an
    existing ``out_dir`` is renamed aside, the new directory renamed into place, and
    the old one deleted. If writing fails, the temporary directory is removed and
    ``out_dir`` is left untouched. A hard crash can leave the hidden temporary
    directory behind, never a half-written ``out_dir``.

    Args:
        results: What to write.
        out_dir: Destination directory; its parent directories are created.
        extra: Writers called in order with the staging directory after the
            other files are written; each writes more outputs into it (under names
            in :data:`OUTPUT_NAMES`) and returns their paths. They become part of
            the same atomic swap.

    Returns:
        Paths of the files written, under their final names.

    Raises:
        OutputDirError: If ``out_dir`` exists and holds files lbsim did not write.
        OSError: If the files cannot be written.
    """
    final = Path(out_dir)
    check_output_dir(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(final, "tmp")
    staging.mkdir()
    try:
        written = _write_all(results, staging)
        writers = [] if extra is None else [extra] if callable(extra) else list(extra)
        for writer in writers:
            written.extend(writer(staging))
        _swap_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [final / path.relative_to(staging) for path in written]


def _sibling(path: Path, tag: str) -> Path:
    """A fresh hidden name next to ``path``: ``.NAME.TAG-XXXXXXXX``."""
    return path.parent / f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}"


def _swap_into_place(staging: Path, final: Path) -> None:
    """Rename the complete ``staging`` directory to ``final``, replacing an old one."""
    if not final.exists():
        os.replace(staging, final)
        return
    aside = _sibling(final, "old")
    os.replace(final, aside)
    try:
        os.replace(staging, final)
    except BaseException:
        os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)
