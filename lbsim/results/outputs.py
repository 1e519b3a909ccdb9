"""Outputs: a run's results written into a folder, atomically.

Theory of operation: :func:`write_outputs` writes the CSV tables, ``summary.json``
and whatever extra writers add (figures, packet captures) into a hidden temporary
sibling directory, which is renamed into place only when complete. An interrupted
write leaves either the previous directory or nothing under the final name, never a
directory that looks complete but is not (the next run into that folder removes the
hidden leftovers, :func:`lbsim.fsio.remove_leftovers`). Tables not read yet are
streamed into their files block by block (:class:`~lbsim.tables.LazyTable`).
:func:`check_output_dir` refuses to replace a folder holding files lbsim did not
write, so a mistyped ``--out`` never deletes a user's files.

Floats are written with Python's shortest round-tripping representation, so CSV
values read back exactly; NaN never reaches JSON (it becomes ``null``).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lbsim.results.summary import json_safe
from lbsim.tables import LazyTable

if TYPE_CHECKING:
    import pandas as pd

    from lbsim.results import Results

__all__ = ["OUTPUT_NAMES", "ExtraWriter", "OutputDirError", "check_output_dir", "write_outputs"]

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
    table = results.raw_table(name)
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
    text = json.dumps(json_safe(results.summary), indent=2, allow_nan=False)
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
