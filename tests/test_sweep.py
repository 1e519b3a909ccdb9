"""Running sweeps (lbsim.sweep): determinism, executors, resume, journal, tables, CIs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from lbsim.sweep import (
    CallFailed,
    Journal,
    ProcessExecutor,
    RunFailed,
    SerialExecutor,
    SweepDirError,
    SweepPlan,
    Table,
    aggregate_table,
    load_sweep,
    run_sweep,
)
from lbsim.sweep.executors import Call
from lbsim.sweep.worker import flatten, summary_rows
from scenarios import tiny_sweep_yaml

SCENARIO = tiny_sweep_yaml()
GRID = ["clients.browsers.count=1,2", "balancers.l7.algorithm=least_request,random"]
TABLES = ("runs.csv", "aggregate.csv", "sweep.json")


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scenario file for the module: ``sweep.json`` records its path."""
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture
def plan(scenario_path: Path) -> SweepPlan:
    return SweepPlan.load(scenario_path, GRID, replications=2)


def contents(directory: Path, names: Sequence[str] = TABLES) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in names}


class ReversedExecutor:
    """Runs calls in this process, last first (a completion order unlike submission)."""

    description = "reversed"

    def __init__(self) -> None:
        self.ran: list[Any] = []

    def run_unordered(self, calls: Sequence[Call]) -> Iterator[tuple[int, Any]]:
        for index in reversed(range(len(calls))):
            function, argument = calls[index]
            self.ran.append(argument)
            yield index, function(argument)

    def close(self) -> None:
        pass


class InterruptingExecutor(SerialExecutor):
    """Serial, but raises KeyboardInterrupt after ``after`` results (a Ctrl-C)."""

    def __init__(self, after: int) -> None:
        self.after = after

    def run_unordered(self, calls: Sequence[Call]) -> Iterator[tuple[int, Any]]:
        for count, item in enumerate(super().run_unordered(calls)):
            if count == self.after:
                raise KeyboardInterrupt
            yield item


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, scenario_path: Path) -> dict[str, bytes]:
    """The tables of one uninterrupted, in-process sweep."""
    directory = tmp_path_factory.mktemp("reference") / "sweep"
    run_sweep(SweepPlan.load(scenario_path, GRID, replications=2), directory)
    return contents(directory)


# --- the tidy table ----------------------------------------------------------------------


def test_runs_table_has_one_row_per_point_replication_variant(
    plan: SweepPlan, tmp_path: Path
) -> None:
    outcome = run_sweep(plan, tmp_path / "sweep")
    assert (outcome.total, outcome.ran, outcome.skipped) == (8, 8, 0)
    table = load_sweep(tmp_path / "sweep")
    runs = table.runs
    assert len(runs) == 4 * 2 * 2
    assert list(runs.columns[:6]) == [
        "point",
        "replication",
        "seed",
        "clients.browsers.count",
        "balancers.l7.algorithm",
        "variant",
    ]
    for column in (
        "latency.p99",
        "backend_share.web-1",
        "backend_share.web-2",
        "lb.cpu_utilization",
        "segments.client_side",
        "outcomes.ok",
        "jain_fairness",
    ):
        assert column in runs.columns
    assert "wall_seconds" not in runs.columns
    assert list(runs["variant"][:4]) == ["l4", "l7", "l4", "l7"]
    assert list(runs["point"]) == sorted(runs["point"])
    assert sorted(set(runs["seed"])) == sorted(plan.seeds())
    timings = (tmp_path / "sweep" / "timings.csv").read_text().splitlines()
    assert timings[0] == "point,replication,seed,variant,wall_seconds"
    assert len(timings) == 1 + 16
    manifest = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert manifest["complete"] is True and manifest["replication_seeds"] == plan.seeds()


def test_rows_are_the_runs_summaries(plan: SweepPlan, tmp_path: Path) -> None:
    """A run's row is exactly its summary.json block, flattened (replication 0 = lbsim run)."""
    from lbsim.results import build_results
    from lbsim.sim import run_scenario

    run_sweep(plan, tmp_path / "sweep")
    runs = load_sweep(tmp_path / "sweep").runs
    task = plan.tasks()[0]
    scenario = task.scenario()
    summary = build_results(scenario, run_scenario(scenario)).summary
    expected, walls = summary_rows(summary)
    assert set(walls) == {"l4", "l7"}
    for row in expected:
        got = runs[(runs["point"] == 0) & (runs["replication"] == 0)]
        got = got[got["variant"] == row["variant"]].iloc[0]
        for key, value in row.items():
            if value is None:
                assert got[key] is None or math.isnan(got[key])
            else:
                assert got[key] == value, key


def test_flatten_joins_nested_keys_with_dots() -> None:
    nested = {"a": 1, "latency": {"p99": 0.5, "deep": {"x": None}}, "b": "t"}
    assert flatten(nested) == {"a": 1, "latency.p99": 0.5, "latency.deep.x": None, "b": "t"}


# --- determinism across runs and executors ---------------------------------------------


def test_same_sweep_twice_gives_identical_tables(
    plan: SweepPlan, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    run_sweep(plan, tmp_path / "again")
    assert contents(tmp_path / "again") == reference


def test_completion_order_does_not_change_the_tables(
    plan: SweepPlan, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    executor = ReversedExecutor()
    run_sweep(plan, tmp_path / "reversed", executor=executor)
    assert executor.ran[0].point.index == 3  # really ran backwards
    assert contents(tmp_path / "reversed") == reference


def test_two_local_processes_give_the_same_tables(
    plan: SweepPlan, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    run_sweep(plan, tmp_path / "jobs2", executor=ProcessExecutor(2))
    assert contents(tmp_path / "jobs2") == reference


def test_dask_local_cluster_gives_the_same_tables(
    plan: SweepPlan, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    pytest.importorskip(
        "distributed", reason="Dask is an optional extra (pip install -e '.[dask]')"
    )
    from distributed import LocalCluster

    from lbsim.sweep import DaskExecutor

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            run_sweep(plan, tmp_path / "dask", executor=executor)
        finally:
            executor.close()
    assert contents(tmp_path / "dask") == reference


# --- interruption, resume, a torn journal --------------------------------------------------


def test_interrupted_sweep_keeps_finished_runs_and_resumes_without_recomputing(
    plan: SweepPlan, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    directory = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, directory, executor=InterruptingExecutor(after=3))
    assert len(Journal(directory / "runs.jsonl").read()) == 3
    assert not (directory / "runs.csv").exists()  # no table looking complete
    assert json.loads((directory / "sweep.json").read_text())["complete"] is False
    assert len(load_sweep(directory).runs) == 3 * 2  # partial results are readable

    resumed = ReversedExecutor()
    outcome = run_sweep(plan, directory, executor=resumed, resume=True)
    assert (outcome.ran, outcome.skipped) == (5, 3)
    done_first = {t.key for t in plan.tasks()[:3]}
    assert len(resumed.ran) == 5 and not done_first & {t.key for t in resumed.ran}
    assert contents(directory) == reference
    assert len(Journal(directory / "runs.jsonl").read()) == 8

    again = ReversedExecutor()
    assert run_sweep(plan, directory, executor=again, resume=True).ran == 0
    assert again.ran == []


def test_a_torn_last_journal_line_is_dropped_and_rerun(
    plan: SweepPlan, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    directory = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, directory, executor=InterruptingExecutor(after=2))
    journal = directory / "runs.jsonl"
    whole = journal.read_bytes()
    with journal.open("ab") as handle:  # a kill in the middle of writing a third line
        handle.write(b'{"values": {"clients.browsers.count": "1"}, "repl')
    assert len(Journal(journal).read()) == 2
    outcome = run_sweep(plan, directory, resume=True)
    assert (outcome.ran, outcome.skipped) == (6, 2)
    assert journal.read_bytes().startswith(whole)
    assert contents(directory) == reference


def test_corrupt_journal_line_in_the_middle_is_reported(plan: SweepPlan, tmp_path: Path) -> None:
    directory = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, directory, executor=InterruptingExecutor(after=2))
    journal = directory / "runs.jsonl"
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([lines[0][:10], *lines[1:]]))
    with pytest.raises(SweepDirError, match="line 1"):
        run_sweep(plan, directory, resume=True)


def test_resume_may_add_replications_and_points(plan: SweepPlan, tmp_path: Path) -> None:
    directory = tmp_path / "sweep"
    run_sweep(plan, directory)
    bigger = SweepPlan.load(
        plan.source,
        ["clients.browsers.count=1,2,3", "balancers.l7.algorithm=least_request,random"],
        replications=3,
    )
    outcome = run_sweep(bigger, directory, resume=True)
    assert (outcome.ran, outcome.skipped) == (18 - 8, 8)
    assert len(load_sweep(directory).runs) == 18 * 2


# --- directory safety ------------------------------------------------------------------------


def test_existing_sweep_needs_resume(plan: SweepPlan, tmp_path: Path) -> None:
    run_sweep(plan, tmp_path / "sweep")
    with pytest.raises(SweepDirError, match="--resume"):
        run_sweep(plan, tmp_path / "sweep")


def test_resume_refuses_a_sweep_of_another_scenario(plan: SweepPlan, tmp_path: Path) -> None:
    run_sweep(plan, tmp_path / "sweep")
    other = SweepPlan.load(plan.source, GRID, overrides=["warmup=0.1s"])
    with pytest.raises(SweepDirError, match="different scenario"):
        run_sweep(other, tmp_path / "sweep", resume=True)


def test_foreign_directory_is_refused_untouched(plan: SweepPlan, tmp_path: Path) -> None:
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "notes.txt").write_text("keep me")
    with pytest.raises(SweepDirError, match="not a sweep directory"):
        run_sweep(plan, directory, resume=True)
    assert [p.name for p in directory.iterdir()] == ["notes.txt"]


def test_a_failing_run_keeps_the_others(
    plan: SweepPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lbsim.sweep import runner, worker

    def fail_on_third(task: Any) -> Any:
        if task.point.index == 1 and task.replication == 0:
            raise RuntimeError("engine exploded")
        return worker.run_task(task)

    monkeypatch.setattr(runner, "run_task", fail_on_third)
    with pytest.raises(RunFailed, match="engine exploded") as caught:
        run_sweep(plan, tmp_path / "sweep")
    assert caught.value.done == 2 and caught.value.total == 8
    assert "replication 0" in str(caught.value)
    assert len(Journal(tmp_path / "sweep" / "runs.jsonl").read()) == 2


def test_serial_executor_wraps_errors_with_their_index() -> None:
    def boom(value: int) -> int:
        raise ValueError(f"bad {value}")

    calls: list[Call] = [(abs, -1), (boom, 2)]
    results = SerialExecutor().run_unordered(calls)
    assert next(results) == (0, 1)
    with pytest.raises(CallFailed) as caught:
        next(results)
    assert caught.value.index == 1 and "bad 2" in str(caught.value)


def test_a_sweep_worker_run_never_imports_pandas(scenario_path: Path) -> None:
    """Each worker process starts afresh; pandas would add about half a second to each."""
    script = f"""
import sys
from lbsim.sweep import SweepPlan
from lbsim.sweep.worker import run_task
plan = SweepPlan.load({str(scenario_path)!r}, {GRID!r}, replications=1)
result = run_task(plan.tasks()[0])
assert result.rows and result.rows[0]["completed"] > 0, result.rows
print(sorted(name for name in sys.modules if name.split(".")[0] == "pandas")[:3])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_sweep_run_frees_its_own_structure_before_the_next(plan: SweepPlan) -> None:
    """A finished run is cyclic garbage; a sweep must not pile runs up (peak memory)."""
    import gc

    from lbsim.sweep.worker import run_task

    gc.collect()
    gc.disable()  # as if the run had been long enough for its graph to reach the oldest generation
    try:
        result = run_task(plan.tasks()[0])
        left = gc.collect()
    finally:
        gc.enable()
    assert result.rows
    # Left to the collector, this run's structure is about 6,400 unreachable objects;
    # other threads of a test process may leave a few dozen meanwhile.
    assert left < 1000, f"{left} unreachable objects left behind by one run"
    assert gc.get_freeze_count() == 0, "the objects frozen during the run stayed frozen"


def test_stopping_a_process_pool_early_leaves_no_thread_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C in a sweep stops the pool with calls still queued, again and again.

    Before Python 3.12 the pool's management thread raised InvalidStateError (printed
    as a traceback on stderr) when a queued future was cancelled from the caller's
    thread while it failed the futures of the killed workers; with the old stopping
    code this happened in most of these rounds.
    """
    import threading
    import time

    raised: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(repr(args.exc_value)))
    for _ in range(8):
        executor = ProcessExecutor(2)
        calls: list[Call] = [(time.sleep, 0.05 if i < 2 else 0.5) for i in range(100)]
        results = executor.run_unordered(calls)
        next(results)
        results.close()  # what Ctrl-C does to the sweep's loop
    time.sleep(0.5)  # the management threads finish failing their futures
    assert raised == []


# --- aggregate table and confidence intervals ------------------------------------------------


def test_aggregate_confidence_interval_on_a_known_sample() -> None:
    """Mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451 -> half width 1.9632432."""
    runs = Table(
        ("point", "replication", "seed", "variant", "layer", "latency.p99", "stickiness"),
        tuple(
            {
                "point": 0,
                "replication": r,
                "seed": r,
                "variant": "l7",
                "layer": 7,
                "latency.p99": float(value),
                "stickiness": None if r == 0 else 0.5,
            }
            for r, value in enumerate([1, 2, 3, 4, 5])
        ),
    )
    table = aggregate_table(runs, [])
    assert table.columns == (
        "point",
        "variant",
        "metric",
        "n",
        "mean",
        "std",
        "ci_low",
        "ci_high",
    )
    by_metric = {row["metric"]: row for row in table.rows}
    assert set(by_metric) == {"latency.p99", "stickiness"}  # layer describes, not measures
    p99 = by_metric["latency.p99"]
    assert p99["n"] == 5 and p99["mean"] == 3.0
    assert p99["std"] == pytest.approx(math.sqrt(2.5))
    assert p99["ci_low"] == pytest.approx(3.0 - 1.9632432, abs=1e-6)
    assert p99["ci_high"] == pytest.approx(3.0 + 1.9632432, abs=1e-6)
    sticky = by_metric["stickiness"]
    assert sticky["n"] == 4 and sticky["mean"] == 0.5  # the null is left out
    assert sticky["ci_high"] == pytest.approx(0.5)


def test_aggregate_with_one_replication_has_no_interval() -> None:
    runs = Table(
        ("point", "replication", "seed", "variant", "throughput_rps"),
        ({"point": 0, "replication": 0, "seed": 1, "variant": "l4", "throughput_rps": 9.5},),
    )
    (row,) = aggregate_table(runs, []).rows
    assert row["n"] == 1 and row["mean"] == 9.5 and "ci_low" not in row


def test_sweep_table_stats_match_the_aggregate(plan: SweepPlan, tmp_path: Path) -> None:
    run_sweep(plan, tmp_path / "sweep")
    table = load_sweep(tmp_path / "sweep")
    stats = table.stats("clients.browsers.count", "latency.mean")
    assert list(stats.columns[:3]) == [
        "variant",
        "balancers.l7.algorithm",
        "clients.browsers.count",
    ]
    assert len(stats) == 2 * 2 * 2
    assert list(stats["variant"][:4]) == ["l4"] * 4
    assert list(stats["x_index"][:2]) == [0, 1]
    aggregate = (tmp_path / "sweep" / "aggregate.csv").read_text().splitlines()
    header = aggregate[0].split(",")
    first = stats.iloc[0]
    for line in aggregate[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        if (row["point"], row["variant"], row["metric"]) == ("0", "l4", "latency.mean"):
            assert float(row["mean"]) == first["mean"]
            assert float(row["ci_high"]) == first["ci_high"]
            break
    else:
        pytest.fail("aggregate row not found")
    with pytest.raises(KeyError, match="not swept"):
        table.stats("duration", "latency.mean")
    with pytest.raises(KeyError, match="no metric"):
        table.stats("clients.browsers.count", "variant")
