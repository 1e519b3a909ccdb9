"""Sweep tables: the tidy runs table, the aggregate with confidence intervals, timings.

Theory of operation: tables are always rebuilt from journal records (see
``journal.py``), never accumulated while runs finish, so their content and order
depend only on *which* runs are recorded, not on when or where they ran.

* **runs** (``runs.csv``), tidy: one row per grid point × replication × variant.
  Columns: ``point`` (grid index), ``replication``, ``seed``, one column per grid
  path holding the value as YAML reads it, ``variant``, then every key of the
  variant's ``summary.json`` block flattened with dots, in summary order
  (``backend_share.*`` columns are the union over all rows, in first-seen order).
  Rows are sorted by point, then replication, then variant in scenario order.
* **aggregate** (``aggregate.csv``), long: one row per grid point × variant ×
  numeric metric with ``n`` (replications with a value), ``mean``, ``std`` (sample
  standard deviation) and the two-sided 95% Student-t confidence interval
  ``ci_low``/``ci_high`` (:func:`lbsim.metrics.confidence_interval`). ``std`` and the
  interval are empty with fewer than two values. Missing values (``null`` in the
  summary) are left out of ``n``.
* **timings** (``timings.csv``): wall-clock seconds per run and variant, the only
  machine-dependent numbers, kept apart so the two tables above are
  byte-identical across machines and executors.

CSV cells: empty for missing, ``True``/``False`` for booleans, integers as such,
floats in Python's shortest round-tripping form. Files are written to a temporary
sibling and renamed into place, so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lbsim.fsio import write_text_atomic
from lbsim.metrics import confidence_interval
from lbsim.sweep.grid import GridAxis, expand_grid, parse_value
from lbsim.sweep.plan import run_key

__all__ = [
    "LEVEL",
    "SweepTable",
    "Table",
    "aggregate_table",
    "format_cell",
    "runs_table",
    "timings_table",
    "write_csv",
]

#: Confidence level of the aggregate table's intervals.
LEVEL = 0.95

_LEAD = ("point", "replication", "seed")
#: Row columns that describe a variant rather than measure it.
_NOT_METRICS = frozenset({"variant", "layer", "algorithm"})


@dataclass(frozen=True)
class Table:
    """Columns and rows of a CSV table, in order.

    Attributes:
        columns: Column names.
        rows: One mapping per row; a missing key is an empty cell.
    """

    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]

    def to_csv(self) -> str:
        r"""The table as CSV text (see :func:`format_cell`), ``\n`` line ends."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([format_cell(row.get(column)) for column in self.columns])
        return buffer.getvalue()

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame (missing cells become NaN/None)."""
        return pd.DataFrame.from_records(
            [[row.get(c) for c in self.columns] for row in self.rows], columns=list(self.columns)
        )


def format_cell(value: Any) -> str:
    """One CSV cell: empty for None/NaN, shortest round-trip text for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def _positions(axes: Sequence[GridAxis], seeds: Sequence[int]) -> dict[str, tuple[int, int]]:
    """Run key -> (point index, replication) for the runs of the current plan."""
    positions: dict[str, tuple[int, int]] = {}
    for point in expand_grid(list(axes)):
        for replication, seed in enumerate(seeds):
            positions[run_key(point.values, seed)] = (point.index, replication)
    return positions


def _planned(
    records: Iterable[Mapping[str, Any]], axes: Sequence[GridAxis], seeds: Sequence[int]
) -> list[tuple[int, int, Mapping[str, Any]]]:
    """Records of the planned runs with their (point, replication), sorted, first copy kept."""
    positions = _positions(axes, seeds)
    found: dict[tuple[int, int], Mapping[str, Any]] = {}
    for record in records:
        where = positions.get(run_key(record["values"], int(record["seed"])))
        if where is not None and where not in found:
            found[where] = record
    return [(p, r, found[(p, r)]) for p, r in sorted(found)]


def runs_table(
    records: Iterable[Mapping[str, Any]], axes: Sequence[GridAxis], seeds: Sequence[int]
) -> Table:
    """The tidy runs table of the planned runs found in ``records``.

    Args:
        records: Journal records (:meth:`~lbsim.sweep.worker.RunResult.to_record`).
        axes: The grid axes (their order fixes the point indices).
        seeds: Replication seeds by replication index.

    Returns:
        The table; records of runs outside the grid or replications are left out.
    """
    columns: dict[str, None] = dict.fromkeys([*_LEAD, *(axis.path for axis in axes)])
    rows: list[dict[str, Any]] = []
    for point, replication, record in _planned(records, axes, seeds):
        lead: dict[str, Any] = {"point": point, "replication": replication, "seed": record["seed"]}
        for axis in axes:
            lead[axis.path] = parse_value(record["values"][axis.path])
        for variant_row in record["rows"]:
            columns.update(dict.fromkeys(variant_row))
            rows.append({**lead, **variant_row})
    return Table(tuple(columns), tuple(rows))


def timings_table(
    records: Iterable[Mapping[str, Any]], axes: Sequence[GridAxis], seeds: Sequence[int]
) -> Table:
    """Wall-clock seconds per planned run and variant (machine-dependent)."""
    rows = [
        {"point": p, "replication": r, "seed": rec["seed"], "variant": v, "wall_seconds": s}
        for p, r, rec in _planned(records, axes, seeds)
        for v, s in rec.get("wall_seconds", {}).items()
    ]
    return Table(("point", "replication", "seed", "variant", "wall_seconds"), tuple(rows))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metric_columns(table: Table) -> list[str]:
    """Columns after ``variant`` whose values are all numbers (or missing)."""
    start = table.columns.index("variant") + 1 if "variant" in table.columns else len(table.columns)
    metrics = []
    for column in table.columns[start:]:
        if column in _NOT_METRICS:
            continue
        values = [row.get(column) for row in table.rows]
        if all(v is None or _is_number(v) for v in values) and any(_is_number(v) for v in values):
            metrics.append(column)
    return metrics


def aggregate_table(runs: Table, axes: Sequence[GridAxis], level: float = LEVEL) -> Table:
    """Mean and confidence interval of every numeric metric per grid point and variant.

    Args:
        runs: The tidy runs table.
        axes: The grid axes (their columns are repeated in the aggregate).
        level: Confidence level.

    Returns:
        The long aggregate table (columns ``point``, the grid paths, ``variant``,
        ``metric``, ``n``, ``mean``, ``std``, ``ci_low``, ``ci_high``).
    """
    paths = [axis.path for axis in axes]
    metrics = metric_columns(runs)
    groups: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for row in runs.rows:
        groups.setdefault((int(row["point"]), str(row["variant"])), []).append(row)
    rows: list[dict[str, Any]] = []
    for (point, variant), members in groups.items():
        lead = {"point": point, **{p: members[0].get(p) for p in paths}, "variant": variant}
        for metric in metrics:
            values = [float(m[metric]) for m in members if _is_number(m.get(metric))]
            stats: dict[str, Any] = {"n": len(values)}
            if values:
                ci = confidence_interval(values, level)
                stats["mean"] = ci.mean
                if ci.n >= 2:
                    stats["std"] = float(pd.Series(values).std(ddof=1))
                    stats["ci_low"], stats["ci_high"] = ci.low, ci.high
            rows.append({**lead, "metric": metric, **stats})
    columns = ("point", *paths, "variant", "metric", "n", "mean", "std", "ci_low", "ci_high")
    return Table(columns, tuple(rows))


def write_csv(table: Table, path: str | Path) -> Path:
    """Write ``table`` to ``path`` atomically (temporary sibling, then rename).

    Args:
        table: The table.
        path: Destination file.

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(table.to_csv(), target, newline="")


@dataclass(frozen=True)
class SweepTable:
    """A sweep's runs as a DataFrame, with its axes, for plots and notebooks.

    Attributes:
        axes: The grid axes.
        variants: Variant names in scenario order.
        runs: The tidy runs table as a DataFrame.
        replications: Replications per grid point.
        scenario: Scenario name (for titles).
    """

    axes: tuple[GridAxis, ...]
    variants: tuple[str, ...]
    runs: pd.DataFrame
    replications: int
    scenario: str = ""

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        axes: Sequence[GridAxis],
        seeds: Sequence[int],
        variants: Sequence[str],
        scenario: str = "",
    ) -> SweepTable:
        """Build from journal records (see :func:`runs_table`)."""
        table = runs_table(records, axes, seeds)
        return cls(tuple(axes), tuple(variants), table.to_frame(), len(seeds), scenario)

    def axis(self, path: str) -> GridAxis:
        """The axis swept along ``path``.

        Raises:
            KeyError: If ``path`` was not swept; the message lists the swept paths.
        """
        for axis in self.axes:
            if axis.path == path:
                return axis
        swept = ", ".join(a.path for a in self.axes) or "none"
        raise KeyError(f'"{path}" was not swept (swept: {swept})')

    def derive(self, name: str, values: Sequence[float] | pd.Series | Any) -> SweepTable:
        """A copy with one more metric column, computed by the caller per run row.

        Args:
            name: New column name (appended after the others).
            values: One value per row of :attr:`runs`, in order (NaN for none).

        Returns:
            The new table; this one is unchanged.
        """
        runs = self.runs.copy()
        runs[name] = pd.Series(values, index=runs.index, dtype=float)
        return SweepTable(self.axes, self.variants, runs, self.replications, self.scenario)

    def metrics(self) -> list[str]:
        """Metric columns: numeric columns after ``variant`` (``layer`` excluded)."""
        columns = list(self.runs.columns)
        start = columns.index("variant") + 1 if "variant" in columns else len(columns)
        return [
            c
            for c in columns[start:]
            if c not in _NOT_METRICS
            and pd.api.types.is_numeric_dtype(self.runs[c])
            and not pd.api.types.is_bool_dtype(self.runs[c])
        ]

    def stats(self, x: str, y: str, level: float = LEVEL) -> pd.DataFrame:
        """Mean and confidence interval of ``y`` per variant, other grid values, and ``x``.

        Args:
            x: A swept path.
            y: A metric column.
            level: Confidence level.

        Returns:
            Columns ``variant``, the other swept paths, ``x_index`` (position of the
            value on its axis), ``x`` (the value), ``n``, ``mean``, ``ci_low``,
            ``ci_high`` (NaN when ``n < 2``); rows in variant, other-axes, x order.

        Raises:
            KeyError: If ``x`` was not swept or ``y`` is not a metric column.
        """
        axis = self.axis(x)
        if y not in self.metrics():
            raise KeyError(f'no metric "{y}"')
        others = [a.path for a in self.axes if a.path != x]
        order = {parse_value(text): i for i, text in enumerate(axis.values)}
        variant_order = {v: i for i, v in enumerate(self.variants)}
        rows = []
        keys = ["variant", *others, x]
        for key, group in self.runs.groupby(keys, sort=False, dropna=False):
            values = group[y].dropna().astype(float).tolist()
            record = dict(zip(keys, key, strict=True))
            if values:
                ci = confidence_interval(values, level)
                mean, low, high = ci.mean, ci.low, ci.high
            else:
                mean = low = high = math.nan
            record.update(
                x_index=order.get(record[x], len(order)),
                n=len(values),
                mean=mean,
                ci_low=low,
                ci_high=high,
            )
            rows.append(record)
        frame = pd.DataFrame(rows, columns=[*keys, "x_index", "n", "mean", "ci_low", "ci_high"])
        sort_keys = {"_variant": frame["variant"].map(variant_order)}
        for i, path in enumerate(others):  # other axes in their grid order, not by value
            positions = {parse_value(t): k for k, t in enumerate(self.axis(path).values)}
            sort_keys[f"_other{i}"] = frame[path].map(positions)
        ordered = frame.assign(**sort_keys).sort_values([*sort_keys, "x_index"], kind="mergesort")
        return ordered.drop(columns=list(sort_keys)).reset_index(drop=True)
