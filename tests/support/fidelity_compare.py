"""Run a scenario at segment and at request level and compare the headline numbers.

Used by tests/fidelity: both runs use the same scenario and seed (common random
numbers), so the two differ only in how network time is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lbsim.results import build_results
from lbsim.run.runs import run_scenario
from lbsim.scenario.loader import load_scenario

#: Tolerances of issue 15: relative for throughput, latency and CPU; absolute for
#: shares, stickiness and Jain's index.
RELATIVE = {"throughput": 0.02, "mean": 0.05, "p99": 0.10, "cpu": 0.05}
ABSOLUTE = {"share": 0.02, "stickiness": 0.02, "jain": 0.02}
#: CPU below this utilisation is compared absolutely (5% of a tiny number is noise).
CPU_FLOOR = 0.01


@dataclass(frozen=True)
class Metric:
    """One number of one variant at both levels, and whether they agree."""

    variant: str
    name: str
    segment: float
    request: float
    tolerance: float
    relative: bool

    @property
    def error(self) -> float:
        """Relative or absolute difference, as the tolerance is stated."""
        diff = abs(self.request - self.segment)
        if self.relative:
            return diff / abs(self.segment) if self.segment else diff
        return diff

    @property
    def ok(self) -> bool:
        """Within tolerance."""
        return self.error <= self.tolerance


def summaries(scenario: str, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], ...]:
    """``summary.json`` of the scenario at segment and at request level."""
    out = []
    for fidelity in ("segment", "request"):
        sc = load_scenario(scenario, [*overrides, f"fidelity={fidelity}"])
        out.append(build_results(sc, run_scenario(sc)).summary)
    return tuple(out)


def compare(seg: dict[str, Any], req: dict[str, Any]) -> list[Metric]:
    """Every compared number of every variant of two summaries."""
    metrics: list[Metric] = []
    for name, a in seg["variants"].items():
        b = req["variants"][name]

        def add(metric: str, x: Any, y: Any, tol: float, relative: bool, name: str = name) -> None:
            if x is None or y is None:
                return
            metrics.append(Metric(name, metric, float(x), float(y), tol, relative))

        add("throughput", a["throughput_rps"], b["throughput_rps"], RELATIVE["throughput"], True)
        add("mean", a["latency"]["mean"], b["latency"]["mean"], RELATIVE["mean"], True)
        add("p99", a["latency"]["p99"], b["latency"]["p99"], RELATIVE["p99"], True)
        for backend, share in a["backend_share"].items():
            other = b["backend_share"].get(backend, 0.0)
            add(f"share.{backend}", share, other, ABSOLUTE["share"], False)
        add("stickiness", a["stickiness"], b["stickiness"], ABSOLUTE["stickiness"], False)
        add("jain", a["jain_fairness"], b["jain_fairness"], ABSOLUTE["jain"], False)
        cpu_a, cpu_b = a["lb"]["cpu_utilization"], b["lb"]["cpu_utilization"]
        if max(cpu_a, cpu_b) >= CPU_FLOOR:
            add("cpu", cpu_a, cpu_b, RELATIVE["cpu"], True)
        else:
            add("cpu", cpu_a, cpu_b, RELATIVE["cpu"] * CPU_FLOOR, False)
    return metrics


def requests_counted(summary: dict[str, Any]) -> dict[str, int]:
    """Requests in the statistics window per variant (the sample size)."""
    return {name: int(v["requests"]) for name, v in summary["variants"].items()}
