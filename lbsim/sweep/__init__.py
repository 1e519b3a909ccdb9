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

from lbsim.sweep.executors import (
    CallFailed,
    DaskExecutor,
    Executor,
    ExecutorError,
    ProcessExecutor,
    SerialExecutor,
    open_executor,
)
from lbsim.sweep.grid import GridAxis, GridError, GridPoint, expand_grid, parse_grid, parse_range
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
