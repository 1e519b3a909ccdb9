"""Running a sweep into a directory that keeps every finished run.

Theory of operation: a sweep directory holds

* ``sweep.json``, the manifest: the scenario, its fingerprint, base overrides and
  seed, the grid, the replications and their seeds, and ``complete``;
* ``runs.jsonl``, the journal (``journal.py``): one line per finished run, appended
  and flushed to disk the moment the run's result arrives;
* ``runs.csv``, ``aggregate.csv`` and ``timings.csv`` (``tables.py``), rebuilt from
  the journal once every planned run is in it.

:func:`run_sweep` first checks the directory (nothing is created on bad input),
then writes the manifest with ``complete: false`` and removes the tables of an
earlier state, so tables only ever sit next to a manifest that says
``complete: true``, which is written last. Runs already in the journal are
skipped (``resume``), the rest go to the executor, and each result is appended as
it arrives, in completion order. A killed sweep therefore loses at most the runs
that were still running; resuming it repairs a torn last journal line and runs
only what is missing.

Resuming requires the same scenario data, base overrides and seed (the plan's
fingerprint). The grid and the number of replications may change: runs are
recognised by their grid values and seed, so a sweep can be extended with more
points or replications, and the tables cover exactly the current plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbsim.fsio import FolderBusyError, FolderLock, write_text_atomic
from lbsim.sweep.executors import CallFailed, Executor, SerialExecutor
from lbsim.sweep.grid import GridAxis
from lbsim.sweep.journal import Journal, JournalError
from lbsim.sweep.plan import RunTask, SweepPlan, run_key
from lbsim.sweep.worker import run_task

if TYPE_CHECKING:  # the tables need pandas: imported only when they are built
    from lbsim.sweep.tables import SweepTable

__all__ = [
    "FILES",
    "MANIFEST_FORMAT",
    "RunFailed",
    "SweepDirError",
    "SweepOutcome",
    "SweepProgress",
    "check_sweep_dir",
    "load_sweep",
    "read_manifest",
    "run_sweep",
]

#: Manifest format version.
MANIFEST_FORMAT = 1
#: Names a sweep directory may hold (``figures/`` is where ``lbsim plot`` draws).
FILES = frozenset(
    {"sweep.json", "runs.jsonl", "runs.csv", "aggregate.csv", "timings.csv", "figures"}
)
_TABLES = ("runs.csv", "aggregate.csv", "timings.csv")


class SweepDirError(ValueError):
    """The sweep directory cannot be used (bad input: nothing was run or written)."""


class RunFailed(RuntimeError):
    """A run raised; the finished runs are kept in the journal.

    Attributes:
        task: The run that failed.
        done: Runs recorded in the journal (including earlier ones).
        total: Runs in the plan.
    """

    def __init__(self, task: RunTask, error: BaseException, done: int, total: int) -> None:
        super().__init__(f"run {task.label()} failed: {type(error).__name__}: {error}")
        self.task = task
        self.done = done
        self.total = total


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands, passed to the progress callback.

    Attributes:
        done: Runs recorded, including those skipped because already done.
        total: Runs in the plan.
        skipped: Runs that were already in the journal at the start.
        last: The run that just finished (None for the initial call).
    """

    done: int
    total: int
    skipped: int
    last: RunTask | None


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`run_sweep` did.

    Attributes:
        directory: The sweep directory.
        total: Runs in the plan.
        ran: Runs executed by this call.
        skipped: Runs found already done.
        files: Table files written.
    """

    directory: Path
    total: int
    ran: int
    skipped: int
    files: tuple[Path, ...]


def _manifest(plan: SweepPlan, complete: bool) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "scenario": plan.name,
        "source": plan.source,
        "fingerprint": plan.fingerprint(),
        "seed": plan.seed,
        "overrides": list(plan.overrides),
        "grid": [{"path": a.path, "values": list(a.values)} for a in plan.axes],
        "replications": plan.replications,
        "replication_seeds": plan.seeds(),
        "variants": list(plan.variants),
        "runs_total": len(plan.points()) * plan.replications,
        "complete": complete,
    }


def _write_json(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text_atomic(json.dumps(data, indent=2) + "\n", path)


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The ``sweep.json`` of a sweep directory.

    Raises:
        SweepDirError: If it is missing or unreadable.
    """
    path = Path(directory) / "sweep.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepDirError(f"{directory}: not a sweep directory (no sweep.json)") from None
    except (OSError, ValueError) as exc:
        raise SweepDirError(f"{path}: cannot read the sweep manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise SweepDirError(f"{path}: not an lbsim sweep manifest (format {MANIFEST_FORMAT})")
    return data


def check_sweep_dir(directory: str | Path, plan: SweepPlan, *, resume: bool) -> None:
    """Check that ``directory`` may receive ``plan``'s sweep.

    A missing or empty directory is fine. An existing sweep of the same scenario
    (same fingerprint) may be continued with ``resume``. Anything else is refused,
    so a finished sweep, or a user's files, are never overwritten.

    Raises:
        SweepDirError: With a one-line explanation.
    """
    path = Path(directory)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise SweepDirError(f"{path}: exists and is not a directory; choose another --out")
    entries = sorted(entry.name for entry in path.iterdir())
    if not entries:
        return
    foreign = [name for name in entries if name not in FILES and not name.startswith(".")]
    if foreign or "sweep.json" not in entries:
        shown = ", ".join((foreign or entries)[:3])
        raise SweepDirError(
            f"{path}: exists and is not a sweep directory ({shown}); choose another --out"
        )
    manifest = read_manifest(path)
    if not resume:
        raise SweepDirError(
            f"{path}: already holds a sweep; add --resume to continue it, or choose another --out"
        )
    if manifest.get("fingerprint") != plan.fingerprint():
        raise SweepDirError(
            f"{path}: holds a sweep of a different scenario, --set or --seed "
            f"({manifest.get('source')}); choose another --out"
        )


def _record_key(record: dict[str, Any]) -> str:
    return run_key(record["values"], int(record["seed"]))


def _write_tables(directory: Path, plan: SweepPlan, records: list[dict[str, Any]]) -> list[Path]:
    seeds = plan.seeds()
    from lbsim.sweep.tables import aggregate_table, runs_table, timings_table, write_csv

    runs = runs_table(records, plan.axes, seeds)
    return [
        write_csv(runs, directory / "runs.csv"),
        write_csv(aggregate_table(runs, plan.axes), directory / "aggregate.csv"),
        write_csv(timings_table(records, plan.axes, seeds), directory / "timings.csv"),
    ]


def run_sweep(
    plan: SweepPlan,
    directory: str | Path,
    *,
    executor: Executor | None = None,
    resume: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepOutcome:
    """Run every planned run not yet recorded, then write the tables.

    Args:
        plan: The validated sweep.
        directory: The sweep directory (created if missing).
        executor: Where runs execute; :class:`SerialExecutor` by default. It is not
            closed here.
        resume: Continue a sweep already in ``directory``.
        progress: Called once before the first run and after every finished run.

    Returns:
        What was done.

    Raises:
        SweepDirError: If ``directory`` cannot be used (checked before anything is
            written), or its journal is corrupt.
        RunFailed: If a run raised (the finished runs stay in the journal).
    """
    path = Path(directory)
    lock = FolderLock(path)
    try:
        lock.acquire()
    except FolderBusyError as exc:
        raise SweepDirError(str(exc)) from None
    try:
        return _run_locked(plan, path, executor, resume, progress)
    finally:
        lock.release()


def _remove_temporaries(path: Path) -> None:
    """Delete the temporary files of atomic writes a killed sweep left in ``path``."""
    prefixes = tuple(f".{name}." for name in FILES)
    for entry in path.iterdir():
        if entry.is_file() and entry.name.startswith(prefixes):
            entry.unlink(missing_ok=True)


def _run_locked(
    plan: SweepPlan,
    path: Path,
    executor: Executor | None,
    resume: bool,
    progress: Callable[[SweepProgress], None] | None,
) -> SweepOutcome:
    """:func:`run_sweep` once the sweep directory's lock is held."""
    check_sweep_dir(path, plan, resume=resume)
    path.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(path)
    journal = Journal(path / "runs.jsonl")
    try:
        journal.repair()
        records = journal.read()
    except JournalError as exc:
        raise SweepDirError(str(exc)) from None
    for name in _TABLES:  # tables exist only next to a complete manifest
        (path / name).unlink(missing_ok=True)
    _write_json(_manifest(plan, complete=False), path / "sweep.json")

    done_keys = {_record_key(r) for r in records}
    tasks = plan.tasks()
    todo = [t for t in tasks if t.key not in done_keys]
    skipped = len(tasks) - len(todo)
    runner = executor if executor is not None else SerialExecutor()
    if progress is not None:
        progress(SweepProgress(skipped, len(tasks), skipped, None))
    finished = skipped

    def keep(index: int, result: Any) -> None:
        nonlocal finished
        record = result.to_record()
        journal.append(record)
        records.append(record)
        finished += 1
        if progress is not None:
            progress(SweepProgress(finished, len(tasks), skipped, todo[index]))

    try:
        for index, result in runner.run_unordered([(run_task, t) for t in todo]):
            keep(index, result)
    except CallFailed as exc:
        for index, result in runner.salvage():
            keep(index, result)
        raise RunFailed(todo[exc.index], exc.error, finished, len(tasks)) from exc.error
    except KeyboardInterrupt:
        for index, result in runner.salvage():  # runs that finished as Ctrl-C came
            keep(index, result)
        raise
    finally:
        journal.close()
    files = _write_tables(path, plan, records)
    _write_json(_manifest(plan, complete=True), path / "sweep.json")
    return SweepOutcome(path, len(tasks), len(todo), skipped, tuple(files))


def load_sweep(directory: str | Path) -> SweepTable:
    """Read a sweep directory (complete or not) as a :class:`SweepTable`.

    The table is rebuilt from the journal, so an unfinished sweep can be looked at
    too; it then holds the runs finished so far.

    Raises:
        SweepDirError: If ``directory`` is not a readable sweep directory.
    """
    path = Path(directory)
    manifest = read_manifest(path)
    try:
        axes = tuple(
            GridAxis(str(axis["path"]), tuple(str(v) for v in axis["values"]))
            for axis in manifest["grid"]
        )
        seeds = [int(s) for s in manifest["replication_seeds"]]
        variants = [str(v) for v in manifest["variants"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SweepDirError(f"{path / 'sweep.json'}: malformed manifest ({exc})") from None
    try:
        records = Journal(path / "runs.jsonl").read()
    except JournalError as exc:
        raise SweepDirError(str(exc)) from None
    from lbsim.sweep.tables import SweepTable

    return SweepTable.from_records(
        records, axes, seeds, variants, str(manifest.get("scenario", ""))
    )
