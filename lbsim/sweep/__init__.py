"""Parameter sweeps: grids × replications, run anywhere, recorded so nothing is lost.

Theory of operation: a sweep is planned, executed, recorded and tabulated by
separate modules, one concept each:

* ``grid``: ``--grid PATH=V1,V2,...`` and ``START:STOP:STEP`` ranges, expanded to
  the cartesian product of grid points;
* ``plan``: the scenario's raw data, the grid and the replications, validated up
  front, and the picklable :class:`RunTask` of each grid point × replication with
  its reproducible seed;
* ``worker``: :func:`run_task`, what a worker does with one run (every variant on
  one workload) and how a summary becomes flat rows;
* ``executors``: in-process, local processes, or a Dask cluster, interchangeable;
* ``journal``: the append-only record of finished runs, safe against kills;
* ``tables``: tidy runs table, aggregate with 95% confidence intervals, timings;
* ``runner``: :func:`run_sweep` ties them together in a sweep directory, with
  resume; :func:`load_sweep` reads one back for plots.

Typical use::

    from lbsim.sweep import SweepPlan, open_executor, run_sweep, load_sweep
    plan = SweepPlan.load("quickstart", ["clients.browsers.count=10,20,40"], replications=3)
    run_sweep(plan, "out/sweep", executor=open_executor(jobs=2))
    table = load_sweep("out/sweep")
    table.stats("clients.browsers.count", "latency.p99")

Reference: ``docs/reference/sweeps.md``.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lbsim.sweep.executors import (
        CallFailed,
        DaskExecutor,
        Executor,
        ExecutorError,
        ProcessExecutor,
        SerialExecutor,
        open_executor,
    )
    from lbsim.sweep.grid import (
        GridAxis,
        GridError,
        GridPoint,
        expand_grid,
        parse_grid,
        parse_range,
    )
    from lbsim.sweep.journal import Journal, JournalError
    from lbsim.sweep.plan import RunTask, SweepPlan, replication_seed, run_key
    from lbsim.sweep.runner import (
        FILES,
        RunFailed,
        SweepDirError,
        SweepOutcome,
        SweepProgress,
        check_sweep_dir,
        load_sweep,
        read_manifest,
        run_sweep,
    )
    from lbsim.sweep.tables import (
        LEVEL,
        SweepTable,
        Table,
        aggregate_table,
        runs_table,
        timings_table,
        write_csv,
    )
    from lbsim.sweep.worker import RunResult, flatten, run_task, summary_rows

# Imported on first use, so that `lbsim sweep` can refuse bad input before pandas
# (needed only by the tables) is loaded.
_HOME = {
    "CallFailed": "lbsim.sweep.executors",
    "DaskExecutor": "lbsim.sweep.executors",
    "Executor": "lbsim.sweep.executors",
    "ExecutorError": "lbsim.sweep.executors",
    "FILES": "lbsim.sweep.runner",
    "GridAxis": "lbsim.sweep.grid",
    "GridError": "lbsim.sweep.grid",
    "GridPoint": "lbsim.sweep.grid",
    "Journal": "lbsim.sweep.journal",
    "JournalError": "lbsim.sweep.journal",
    "LEVEL": "lbsim.sweep.tables",
    "ProcessExecutor": "lbsim.sweep.executors",
    "RunFailed": "lbsim.sweep.runner",
    "RunResult": "lbsim.sweep.worker",
    "RunTask": "lbsim.sweep.plan",
    "SerialExecutor": "lbsim.sweep.executors",
    "SweepDirError": "lbsim.sweep.runner",
    "SweepOutcome": "lbsim.sweep.runner",
    "SweepPlan": "lbsim.sweep.plan",
    "SweepProgress": "lbsim.sweep.runner",
    "SweepTable": "lbsim.sweep.tables",
    "Table": "lbsim.sweep.tables",
    "aggregate_table": "lbsim.sweep.tables",
    "check_sweep_dir": "lbsim.sweep.runner",
    "expand_grid": "lbsim.sweep.grid",
    "flatten": "lbsim.sweep.worker",
    "load_sweep": "lbsim.sweep.runner",
    "open_executor": "lbsim.sweep.executors",
    "parse_grid": "lbsim.sweep.grid",
    "parse_range": "lbsim.sweep.grid",
    "read_manifest": "lbsim.sweep.runner",
    "replication_seed": "lbsim.sweep.plan",
    "run_key": "lbsim.sweep.plan",
    "run_sweep": "lbsim.sweep.runner",
    "run_task": "lbsim.sweep.worker",
    "runs_table": "lbsim.sweep.tables",
    "summary_rows": "lbsim.sweep.worker",
    "timings_table": "lbsim.sweep.tables",
    "write_csv": "lbsim.sweep.tables",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'lbsim.sweep' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "FILES",
    "LEVEL",
    "CallFailed",
    "DaskExecutor",
    "Executor",
    "ExecutorError",
    "GridAxis",
    "GridError",
    "GridPoint",
    "Journal",
    "JournalError",
    "ProcessExecutor",
    "RunFailed",
    "RunResult",
    "RunTask",
    "SerialExecutor",
    "SweepDirError",
    "SweepOutcome",
    "SweepPlan",
    "SweepProgress",
    "SweepTable",
    "Table",
    "aggregate_table",
    "check_sweep_dir",
    "expand_grid",
    "flatten",
    "load_sweep",
    "open_executor",
    "parse_grid",
    "parse_range",
    "read_manifest",
    "replication_seed",
    "run_key",
    "run_sweep",
    "run_task",
    "runs_table",
    "summary_rows",
    "timings_table",
    "write_csv",
]
