"""Spilled record logs: a run's records kept on disk in chunks, so memory stays flat.

Theory of operation: a long run emits one record per request, per connection and
per decision (and per segment when traced). Held as Python objects they cost about
a kilobyte per request, so memory grew with simulated time. A :class:`RecordLog`
is the append-only sequence the engine appends records to instead of a plain list:

* appends go to a small in-memory buffer of records;
* when the buffer holds :func:`chunk_rows` records it becomes one **chunk**: the
  records turned into columns (one Python list per dataclass field, so the values
  are kept exactly, ``None`` included) and pickled into a file of the log's
  :class:`SpillArea`, a private temporary directory; the buffer is emptied;
* reading (iteration, indexing, :meth:`RecordLog.column_chunks`) walks the chunk
  files in order and then the buffer, so a log reads back exactly as a list of the
  same records would, in append order.

Chunks are read one at a time, so whoever consumes them chunk by chunk (the CSV
writers of :mod:`lbsim.results.frames`, the summary of :mod:`lbsim.results.summary`) holds one chunk
at a time, whatever the length of the run. Runs shorter than one chunk never touch the disk.

Clean-up: a :class:`SpillArea` deletes its directory when it is garbage collected,
when :meth:`SpillArea.close` is called, and at interpreter exit (``weakref.finalize``
runs at exit, also after an exception or Ctrl-C ended the program). Only a process
killed outright (SIGKILL) leaves an ``lbsim-spill-*`` directory in the temporary
directory (``TMPDIR``). Each directory therefore holds an ``owner`` file naming the
process that made it (its pid and, on Linux, its start time, so a recycled pid is not
mistaken for the owner); :func:`remove_stale_spills`, called by the next ``lbsim
run`` or ``lbsim sweep``, deletes the directories of the current user whose owner is
no longer alive. A directory without an owner file (still being made, or made by an
older lbsim) is left alone until it is an hour old.

The chunk size is :data:`DEFAULT_CHUNK_ROWS` records, or the ``LBSIM_SPILL_ROWS``
environment variable when set (tests force it low to exercise the spilled path).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from operator import attrgetter
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "Columns",
    "RecordLog",
    "SpillArea",
    "chunk_rows",
    "remove_stale_spills",
]

#: Records per chunk when ``LBSIM_SPILL_ROWS`` is not set.
DEFAULT_CHUNK_ROWS = 8192

#: Prefix of every spill directory's name (in the temporary directory).
SPILL_PREFIX = "lbsim-spill-"

#: Name of the file inside a spill directory that names its owner process.
OWNER_FILE = "owner"

#: Age after which a spill directory without an owner file counts as abandoned.
UNOWNED_AGE = 3600.0

#: One chunk as columns: field name -> that field's values, in row order.
Columns = dict[str, list[Any]]

R = TypeVar("R")


def chunk_rows() -> int:
    """Records per chunk: ``LBSIM_SPILL_ROWS`` if set to a whole number >= 1, else the default."""
    text = os.environ.get("LBSIM_SPILL_ROWS", "")
    return int(text) if text.isdigit() and int(text) >= 1 else DEFAULT_CHUNK_ROWS


class SpillArea:
    """A private temporary directory holding chunk files; created on first use."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._finalizer: weakref.finalize | None = None
        self._count = 0

    @property
    def path(self) -> Path | None:
        """The directory, or ``None`` while nothing was spilled."""
        return self._path

    def new_file(self) -> Path:
        """A fresh file name inside the area (the directory is made if needed)."""
        if self._path is None:
            self._path = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._path, True)
            (self._path / OWNER_FILE).write_text(_owner_text(os.getpid()), encoding="ascii")
        self._count += 1
        return self._path / f"chunk-{self._count:06d}.pickle"

    def close(self) -> None:
        """Delete the directory and every chunk in it now."""
        if self._finalizer is not None:
            self._finalizer()


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), where /proc has it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    rest = stat.rpartition(")")[2].split()
    return rest[19] if len(rest) > 19 else None


def _owner_text(pid: int) -> str:
    """What the owner file of a directory made by process ``pid`` holds."""
    return f"{pid} {_start_time(pid) or '-'}\n"


def _owner_alive(text: str) -> bool:
    """Whether the process an owner file names still runs (unreadable: assume it does)."""
    parts = text.split()
    if not parts or not parts[0].isdigit():
        return True
    pid = int(parts[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    except OSError:
        return True
    started = parts[1] if len(parts) > 1 else "-"
    now = _start_time(pid)
    return started == "-" or now is None or now == started  # else: the pid was reused


def remove_stale_spills(directory: str | Path | None = None) -> list[Path]:
    """Delete spill directories that killed processes left behind.

    A directory is removed when it belongs to the current user and either its owner
    file names a process that is no longer alive, or it has no owner file and is
    older than :data:`UNOWNED_AGE` seconds. Directories of live processes, of other
    users, and anything that is not a spill directory are never touched.

    Args:
        directory: Where to look; the temporary directory (``TMPDIR``) by default.

    Returns:
        The directories removed, sorted.
    """
    where = Path(directory) if directory is not None else Path(tempfile.gettempdir())
    try:
        entries = sorted(where.glob(SPILL_PREFIX + "*"))
    except OSError:
        return []
    uid = os.getuid() if hasattr(os, "getuid") else None
    removed = []
    for entry in entries:
        try:
            info = entry.lstat()
            if not entry.is_dir() or entry.is_symlink() or uid not in (None, info.st_uid):
                continue
            owner = entry / OWNER_FILE
            if owner.exists():
                stale = not _owner_alive(owner.read_text(encoding="ascii", errors="replace"))
            else:
                stale = time.time() - info.st_mtime > UNOWNED_AGE
        except OSError:
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(entry)
    return removed


def _to_columns(records: Sequence[Any], names: Sequence[str]) -> Columns:
    """Records -> one list per field name.

    Each record's fields are read in one call (``attrgetter`` of every name) and the
    rows transposed with ``zip``: no Python-level step per value.
    """
    if not names:
        return {}
    if len(names) == 1:
        getter = attrgetter(names[0])
        return {names[0]: [getter(r) for r in records]}
    rows = map(attrgetter(*names), records)
    columns = zip(*rows, strict=True) if records else ((),) * len(names)
    return {name: list(column) for name, column in zip(names, columns, strict=True)}


class RecordLog(Generic[R]):
    """An append-only sequence of dataclass records that spills chunks to disk.

    Args:
        record_type: The dataclass of the records (its fields are the columns).
        area: Where chunks go.
        rows: Records per chunk (default: :func:`chunk_rows`).
        make: Builds a record from its field values, in field order, when chunks
            are read back (default: ``record_type`` itself; a faster equivalent
            such as :func:`lbsim.records.fast_constructor`'s may be given).
    """

    def __init__(
        self,
        record_type: type[R],
        area: SpillArea,
        rows: int | None = None,
        make: Callable[..., R] | None = None,
    ) -> None:
        self.record_type = record_type
        self._make: Callable[..., R] = make if make is not None else record_type
        self.names = tuple(f.name for f in fields(record_type))  # type: ignore[arg-type]
        self.area = area
        self.rows = rows if rows is not None else chunk_rows()
        self._buffer: list[R] = []
        self._chunks: list[tuple[Path, int]] = []
        self._spilled = 0

    def append(self, record: R) -> None:
        """Add one record; a full buffer becomes a chunk file."""
        buffer = self._buffer
        buffer.append(record)
        if len(buffer) >= self.rows:
            self._spill()

    def extend(self, records: Iterable[R]) -> None:
        """Add records in order."""
        for record in records:
            self.append(record)

    def _spill(self) -> None:
        path = self.area.new_file()
        with path.open("wb") as handle:
            pickle.dump(_to_columns(self._buffer, self.names), handle, pickle.HIGHEST_PROTOCOL)
        self._chunks.append((path, len(self._buffer)))
        self._spilled += len(self._buffer)
        self._buffer = []

    @property
    def spilled(self) -> int:
        """Records held in chunk files (the rest are in memory)."""
        return self._spilled

    def __len__(self) -> int:
        return self._spilled + len(self._buffer)

    def __bool__(self) -> bool:
        return len(self) > 0

    def column_chunks(self, names: Sequence[str] | None = None) -> Iterator[Columns]:
        """The records as column chunks, in append order (``names``: only these fields)."""
        wanted = self.names if names is None else tuple(names)
        for index in range(len(self._chunks)):
            yield self.chunk(index, wanted)
        if self._buffer:
            yield _to_columns(self._buffer, wanted)

    def chunk(self, index: int, names: Sequence[str]) -> Columns:
        """Chunk ``index`` as columns ``names`` (the index after the last file: the buffer)."""
        if index == len(self._chunks):
            return _to_columns(self._buffer, names)
        with self._chunks[index][0].open("rb") as handle:
            chunk: Columns = pickle.load(handle)
        return {name: chunk[name] for name in names}

    def __iter__(self) -> Iterator[R]:
        make = self._make
        for path, _ in self._chunks:
            with path.open("rb") as handle:
                chunk: Columns = pickle.load(handle)
            # One record per row, the columns' values passed in field order.
            yield from map(make, *(chunk[n] for n in self.names))
        yield from list(self._buffer)

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        if not self._chunks:
            return self._buffer[index]
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        """Equal to a list, tuple or log holding the same records in the same order."""
        if isinstance(other, RecordLog | list | tuple):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        kind = self.record_type.__name__
        return f"RecordLog({kind}, {len(self)} records, {self._spilled} spilled)"
