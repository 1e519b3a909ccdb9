"""Frames: records and record logs turned into typed pandas tables.

Theory of operation: every output table is built from record dataclasses
(:mod:`lbsim.records`), one column per field. A field's annotation gives the
column's dtype (:data:`_DTYPES`): nullable numbers and booleans use pandas' nullable
types so ``None`` stays "missing" instead of becoming 0 or False, strings use pandas'
``str`` dtype (NaN for missing, written as an empty CSV field). The same conversion
is applied to a whole list of records or to one spilled chunk of columns
(:mod:`lbsim.spill`), so a table written chunk by chunk formats every value exactly
as the whole table would. The tables of a run are :class:`~lbsim.tables.LazyTable`
objects: built on first read, otherwise streamed into their CSV file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lbsim.records import RequestRecord
from lbsim.spill import Columns, RecordLog
from lbsim.tables import LazyTable, SortedRequests

if TYPE_CHECKING:  # pandas is imported where a table is built: a sweep worker never is
    import pandas as pd

__all__ = [
    "REQUEST_COLUMNS",
    "TIMESERIES_DTYPES",
    "record_frame",
    "record_table",
    "request_table",
    "timeseries_columns",
    "timeseries_table",
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

#: Columns of ``timeseries.csv`` and their dtypes.
TIMESERIES_DTYPES = {"variant": "str", "series": "str", "time": "float64", "value": "float64"}

# Record field annotation (a string, records use postponed annotations) -> pandas dtype.
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


class SeriesSource(Protocol):
    """What :func:`timeseries_frame` reads: a variant's name and its recorder's series."""

    @property
    def name(self) -> str:
        """Variant name."""

    @property
    def recorder(self) -> Any:
        """A :class:`~lbsim.records.Recorder` (its ``series``)."""


def record_frame(records: Sequence[Any] | Columns, record_type: type) -> pd.DataFrame:
    """Build a DataFrame with one column per dataclass field, typed from its annotation.

    ``records`` is a sequence of records or a chunk of columns (:mod:`lbsim.spill`).
    """
    import pandas as pd

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


def requests_frame(records: Sequence[RequestRecord]) -> pd.DataFrame:
    """``requests.csv`` rows: contract columns first, ordered by issue time."""
    frame = _request_columns(record_frame(records, RequestRecord))
    return frame.sort_values(["t_start", "request_id"], kind="mergesort", ignore_index=True)


def timeseries_columns(run: SeriesSource) -> dict[str, np.ndarray]:
    """Long-format time series of one run as columns, series in name order.

    Built column by column (two float arrays and two columns of shared name strings),
    not as one tuple per sample, so a long run's samples cost 32 bytes each here.
    """
    series = run.recorder.series
    names = sorted(series)
    sizes = [len(series[name]) for name in names]
    total = sum(sizes)

    def numbers(index: int) -> np.ndarray:
        values = (sample[index] for name in names for sample in series[name])
        return np.fromiter(values, dtype=np.float64, count=total)

    return {
        "variant": np.full(total, run.name, dtype=object),
        "series": np.repeat(np.array(names, dtype=object), sizes),
        "time": numbers(0),
        "value": numbers(1),
    }


def _timeseries(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns).astype(TIMESERIES_DTYPES)


def timeseries_table(runs: list[dict[str, np.ndarray]]) -> LazyTable:
    """``timeseries.csv``: each variant's :func:`timeseries_columns`, variant after variant.

    A DataFrame only when read, so a sweep worker, which needs the summary alone,
    never imports pandas (about 0.2 s of every worker's start).
    """

    def blocks() -> Iterator[pd.DataFrame]:
        for columns in runs:
            yield _timeseries(columns)

    def empty() -> pd.DataFrame:
        return _timeseries({name: np.empty(0) for name in TIMESERIES_DTYPES})

    return LazyTable(blocks, empty, sum(len(c["time"]) for c in runs))


def request_table(runs: list[SortedRequests]) -> LazyTable:
    """``requests.csv``: each variant's requests in table order, block by block."""
    names = [f.name for f in fields(RequestRecord)]

    def blocks() -> Iterator[pd.DataFrame]:
        for requests in runs:
            for block in requests.blocks(names):
                yield _request_columns(record_frame(block, RequestRecord))

    return LazyTable(blocks, lambda: requests_frame([]), sum(len(r) for r in runs))


def record_table(logs: list[RecordLog[Any]], record_type: type) -> LazyTable:
    """A table of records in append order, variant after variant, chunk by chunk."""

    def blocks() -> Iterator[pd.DataFrame]:
        for log in logs:
            for chunk in log.column_chunks():
                yield record_frame(chunk, record_type)

    return LazyTable(blocks, lambda: record_frame([], record_type), sum(len(log) for log in logs))
