"""The sweep journal: an append-only file that no crash can corrupt.

Theory of operation: every finished run is one line of JSON in ``runs.jsonl``,
appended with a single ``write`` to a file opened in append mode and flushed to
disk (``fsync``) before the next run is recorded. Appending never rewrites earlier
bytes, so a crash, a kill or a full disk can at worst leave one incomplete *last*
line. :meth:`Journal.read` ignores such a tail (a line without its newline or that
is not valid JSON) and :meth:`Journal.repair` cuts it off before new lines are
appended, so every complete line, and only those, counts as a finished run.

Floats are written with Python's shortest round-tripping representation (what
:func:`json.dumps` does), so values read back are bit-identical to the ones the run
produced. The journal is the sweep's source of truth: the tidy tables are
rebuilt from it, in a fixed order, whatever order the runs finished in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["Journal", "JournalError"]


class JournalError(ValueError):
    """A journal line other than the last one is not a complete JSON record."""


class Journal:
    """Append-only JSON-lines file of finished runs.

    Args:
        path: The journal file (created on the first append).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def read(self) -> list[dict[str, Any]]:
        """Every complete record, in file order.

        Returns:
            The records; an incomplete last line is left out.

        Raises:
            JournalError: If a line before the last one is not a JSON object.
        """
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().split(b"\n")
        records: list[dict[str, Any]] = []
        complete, tail = lines[:-1], lines[-1]
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if number == len(complete) and not tail:
                    break  # a torn last line that happens to end with a newline byte
                raise JournalError(f"{self.path}: line {number} is not a complete record") from None
            if not isinstance(record, dict):
                raise JournalError(f"{self.path}: line {number} is not a JSON object")
            records.append(record)
        return records

    def repair(self) -> int:
        """Cut off an incomplete last line so appends start on a fresh line.

        Returns:
            The number of bytes removed (0 when the journal was intact or absent).
        """
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
            return len(data) - keep
        if keep:  # the last complete-looking line may still be torn JSON
            start = data.rfind(b"\n", 0, keep - 1) + 1
            try:
                json.loads(data[start:keep])
            except ValueError:
                with self.path.open("r+b") as handle:
                    handle.truncate(start)
                    handle.flush()
                    os.fsync(handle.fileno())
                return keep - start
        return 0

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as a line and force it to disk.

        Args:
            record: JSON-serializable mapping (NaN and infinity are refused).
        """
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        data = line.encode("utf-8")
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file if it is open (appending reopens it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
