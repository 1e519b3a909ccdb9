"""Tables of a run read from its (possibly spilled) record logs, chunk by chunk.

Theory of operation: :mod:`lbsim.spill` keeps a long run's records in chunk files.
This module turns them into the outputs without ever holding every record at once:

* :class:`SortedRequests` orders one variant's requests as ``requests.csv`` does
  (by ``t_start``, ties by ``request_id``) from the ``t_start`` column alone (8 bytes
  a request; the request ids of tied rows only are read), then serves the rows in
  that order in blocks, reading each chunk file as the blocks need it (requests are
  recorded when they end, nearly in start order, so a block needs few chunks);
* the summary (:mod:`lbsim.results.summary`) reads a few of those columns in the same
  order, block by block, and keeps only aggregates;
* :class:`LazyTable` is a table of :class:`~lbsim.results.Results` that is built as
  a DataFrame only when read, and otherwise written to CSV block by block, each
  block formatted by pandas exactly as the whole table would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lbsim.spill import Columns, RecordLog, chunk_rows

if TYPE_CHECKING:  # the blocks are made by the callers, which import pandas
    import pandas as pd

__all__ = ["LazyFrame", "LazyTable", "SortedRequests"]


class SortedRequests:
    """One variant's request log in ``requests.csv`` order, served in blocks.

    Args:
        log: The variant's request records.
    """

    def __init__(self, log: RecordLog[Any]) -> None:
        self.log = log
        starts = [
            np.asarray(c["t_start"], dtype=np.float64) for c in log.column_chunks(["t_start"])
        ]
        sizes = [len(s) for s in starts]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        t_start = np.concatenate(starts) if starts else np.empty(0)
        order = np.argsort(t_start, kind="stable")
        self.order = self._break_ties(t_start, order)

    def __len__(self) -> int:
        return len(self.order)

    def _break_ties(self, t_start: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Order rows of equal ``t_start`` by ``request_id`` (reading only those ids)."""
        ordered = t_start[order]
        tied = np.zeros(len(order), dtype=bool)
        equal = ordered[1:] == ordered[:-1]
        tied[1:] |= equal
        tied[:-1] |= equal
        if not tied.any():
            return order
        wanted = set(order[tied].tolist())
        ids: dict[int, str] = {}
        for index, chunk in enumerate(self.log.column_chunks(["request_id"])):
            base = int(self.offsets[index])
            for row, value in enumerate(chunk["request_id"]):
                if base + row in wanted:
                    ids[base + row] = value
        result = order.copy()
        start = 0
        positions = np.flatnonzero(tied)
        while start < len(positions):
            end = start
            while (
                end + 1 < len(positions)
                and positions[end + 1] == positions[end] + 1
                and equal[positions[end]]
            ):
                end += 1
            lo, hi = int(positions[start]), int(positions[end]) + 1
            result[lo:hi] = sorted(order[lo:hi].tolist(), key=lambda i: ids[i])
            start = end + 1
        return result

    def blocks(self, names: Sequence[str], rows: int | None = None) -> Iterator[Columns]:
        """The rows in ``requests.csv`` order, ``rows`` at a time, as columns ``names``."""
        rows = rows or chunk_rows()
        cache: dict[int, Columns] = {}
        for begin in range(0, len(self.order), rows):
            index = self.order[begin : begin + rows]
            chunk_ids = np.searchsorted(self.offsets, index, side="right") - 1
            local = index - self.offsets[chunk_ids]
            needed = dict.fromkeys(chunk_ids.tolist())
            # Only this block's chunks stay loaded: a loaded chunk is some megabytes of
            # Python objects, and keeping more than a short run has would make peak
            # memory grow with the length of the run.
            for old in [c for c in cache if c not in needed]:
                del cache[old]
            for chunk_id in needed:
                if chunk_id not in cache:
                    cache[chunk_id] = self.log.chunk(chunk_id, names)
            pairs = list(zip(chunk_ids.tolist(), local.tolist(), strict=True))
            yield {name: [cache[c][name][i] for c, i in pairs] for name in names}


def _built(frame: pd.DataFrame) -> pd.DataFrame:
    """A lazy table unpickled: the frame it was built into."""
    return frame


class LazyTable:
    """A table built from record logs on demand, or written to CSV block by block.

    Args:
        blocks: Returns the table's row blocks, each a typed DataFrame, in order.
        empty: Returns the typed table with no rows (its columns and dtypes).
        rows: Number of rows (without building anything).
    """

    def __init__(
        self,
        blocks: Callable[[], Iterator[pd.DataFrame]],
        empty: Callable[[], pd.DataFrame],
        rows: int,
    ) -> None:
        self._blocks = blocks
        self._empty = empty
        self.rows = rows

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the built table (its block source is a closure over this process's logs).

        ``lbsim figures --jobs N`` and process sweeps send results between processes.
        """
        return (_built, (self.load(),))

    def load(self) -> pd.DataFrame:
        """The whole table as one DataFrame."""
        import pandas as pd

        empty = self._empty()
        frames = [f for f in self._blocks() if not f.empty]
        if not frames:
            return empty
        return pd.concat(frames, ignore_index=True).astype(empty.dtypes.to_dict())

    def write_csv(self, path: Path) -> Path:
        """Write the table to ``path`` as ``DataFrame.to_csv`` would, block by block."""
        dtypes = self._empty().dtypes.to_dict()
        with path.open("w", encoding="utf-8", newline="") as handle:
            header = True
            for frame in self._blocks():
                if frame.empty:
                    continue
                frame.astype(dtypes).to_csv(handle, index=False, header=header, lineterminator="\n")
                header = False
            if header:
                self._empty().to_csv(handle, index=False, lineterminator="\n")
        return path


class LazyFrame:
    """Descriptor of a :class:`~lbsim.results.Results` table.

    The table is given as a DataFrame or a :class:`LazyTable`; a lazy table is built
    on first read and then kept.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_table"

    def __get__(self, obj: Any, owner: type | None = None) -> pd.DataFrame:
        if obj is None:
            # No class-level default: the dataclass field stays a required argument.
            raise AttributeError(self.slot)
        value = obj.__dict__[self.slot]
        if isinstance(value, LazyTable):
            value = value.load()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: Any, value: pd.DataFrame | LazyTable) -> None:
        obj.__dict__[self.slot] = value

    def raw(self, obj: Any) -> pd.DataFrame | LazyTable:
        """The DataFrame, or the :class:`LazyTable` when it was not read yet."""
        value: pd.DataFrame | LazyTable = obj.__dict__[self.slot]
        return value
