"""What a worker does with one run of a sweep, and how a summary becomes a row.

Theory of operation: :func:`run_task` is the only function executors ship to
workers (local processes or Dask workers), so it is a plain top-level function of
a picklable :class:`~lbsim.sweep.plan.RunTask`. It validates the scenario, runs
every balancer variant on the same workload, builds the results, and returns one
flat row per variant made *only* from ``summary.json`` content: nested keys are
joined with dots (``latency.p99``, ``backend_share.web-1``, ``lb.cpu_utilization``).
The run is a pure function of the task, so any executor gives the same rows.

``wall_seconds`` is wall-clock time, the one machine-dependent value of a summary.
It is returned apart from the rows (:attr:`RunResult.wall_seconds`) and stored in
its own table, so the results table is byte-identical whichever machine ran it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lbsim.collector import freed_after
from lbsim.sweep.plan import RunTask

__all__ = ["MACHINE_KEYS", "RunResult", "flatten", "run_task", "summary_rows"]

#: Per-variant summary keys that measure the machine, not the simulation.
MACHINE_KEYS = frozenset({"wall_seconds"})


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run: a row per variant and the wall-clock times.

    Attributes:
        key: The run's identity (:attr:`RunTask.key`).
        values: The grid point's ``(path, text)`` pairs.
        replication: Replication index.
        seed: Seed the run used.
        rows: One flattened summary per variant, in scenario order; each starts
            with ``variant``.
        wall_seconds: Variant -> wall-clock seconds it took (machine-dependent).
    """

    key: str
    values: tuple[tuple[str, str], ...]
    replication: int
    seed: int
    rows: tuple[dict[str, Any], ...]
    wall_seconds: dict[str, float]

    def to_record(self) -> dict[str, Any]:
        """The JSON-serializable form stored in the sweep journal."""
        return {
            "values": dict(self.values),
            "replication": self.replication,
            "seed": self.seed,
            "rows": list(self.rows),
            "wall_seconds": self.wall_seconds,
        }


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into one level, joining keys with dots.

    Args:
        mapping: A nested mapping (``{"latency": {"p99": 0.1}}``).
        prefix: Text put before every key (used by the recursion).

    Returns:
        ``{"latency.p99": 0.1}``; key order follows ``mapping``.
    """
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def summary_rows(summary: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Rows (one per variant) and wall-clock times from ``summary.json`` content.

    Args:
        summary: A :attr:`lbsim.results.Results.summary`.

    Returns:
        The rows, each ``{"variant": name, **flattened variant summary}`` without the
        machine-dependent keys, and variant -> ``wall_seconds``.
    """
    rows: list[dict[str, Any]] = []
    walls: dict[str, float] = {}
    for name, variant in summary["variants"].items():
        kept = {k: v for k, v in variant.items() if k not in MACHINE_KEYS}
        rows.append({"variant": name, **flatten(kept)})
        walls[name] = float(variant.get("wall_seconds") or 0.0)
    return rows, walls


def run_task(task: RunTask) -> RunResult:
    """Run one grid point × replication and flatten its summary.

    Args:
        task: The run.

    Returns:
        Its rows and wall-clock times.
    """
    # The finished run's own structure (environment, processes, hosts and links that
    # refer to each other) is cyclic garbage: freed now rather than left for the next
    # runs of this process to pile up behind.
    with freed_after():
        rows, walls = _summary_of(task)
    return RunResult(
        key=task.key,
        values=task.point.values,
        replication=task.replication,
        seed=task.seed,
        rows=tuple(rows),
        wall_seconds=walls,
    )


def _summary_of(task: RunTask) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Run ``task`` and keep only its summary rows (everything else is dropped on return)."""
    from lbsim.results import build_results  # imported here: workers import lazily
    from lbsim.sim import run_scenario

    scenario = task.scenario()
    results = build_results(scenario, run_scenario(scenario))
    return summary_rows(results.summary)
