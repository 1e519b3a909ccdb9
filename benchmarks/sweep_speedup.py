"""Sweep speed-up: wall time of the same sweep with ``--jobs 2`` against ``--jobs 1``.

Run from the repository root::

    python benchmarks/sweep_speedup.py                 # 12 runs, jobs 1 vs 2
    python benchmarks/sweep_speedup.py --repeat 3      # median of 3 alternating rounds
    python benchmarks/sweep_speedup.py --jobs 4 --replications 8

The sweep is the bundled quickstart, shortened (10 s of simulated time, 20
browsers), over two grid points and ``--replications`` replications: ``2 × R``
runs of a second or two each. It is run once in this process (``--jobs 1``) and
once on ``--jobs`` worker processes, each into a fresh temporary directory, and the
two ``runs.csv`` files are compared byte for byte (they must be identical). The
parallel time includes starting the workers (``spawn``: a fresh interpreter each),
as a user would see it. With ``--repeat N`` the two alternate N times and the
median speed-up is reported, so a burst of other work on the machine affects one
round rather than the result, together with the ratio of the best times (the
rounds least disturbed by other work). The load average is printed before and after,
because on a shared machine other work steals cores and lowers the speed-up.

This is a benchmark, not a test: it prints numbers and asserts only that both
executors produced the same table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lbsim.sweep import SweepPlan, open_executor, run_sweep  # noqa: E402


def timed_sweep(plan: SweepPlan, jobs: int, directory: Path) -> float:
    """Wall seconds to run ``plan`` with ``jobs`` local processes into ``directory``."""
    executor = open_executor(jobs)
    started = time.perf_counter()
    try:
        run_sweep(plan, directory, executor=executor)
    finally:
        executor.close()
    return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel worker processes")
    parser.add_argument("--replications", type=int, default=6, help="replications per point")
    parser.add_argument("--repeat", type=int, default=1, help="alternating rounds")
    args = parser.parse_args()

    plan = SweepPlan.load(
        "quickstart",
        ["clients.browsers.count=15,20"],
        overrides=["duration=10s", "warmup=1s"],
        replications=args.replications,
    )
    runs = len(plan.tasks())
    print(f"sweep: {runs} runs of quickstart (10 s simulated, 15-20 browsers, 2 variants)")
    print(f"cpus: {os.cpu_count()}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    ratios: list[float] = []
    serial_times: list[float] = []
    parallel_times: list[float] = []
    for round_ in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory() as scratch:
            serial = timed_sweep(plan, 1, Path(scratch) / "serial")
            parallel = timed_sweep(plan, args.jobs, Path(scratch) / "parallel")
            same = (Path(scratch) / "serial" / "runs.csv").read_bytes() == (
                Path(scratch) / "parallel" / "runs.csv"
            ).read_bytes()
        if not same:
            raise SystemExit("the two executors produced different tables")
        ratios.append(serial / parallel)
        serial_times.append(serial)
        parallel_times.append(parallel)
        print(
            f"round {round_}: --jobs 1 {serial:6.1f} s, --jobs {args.jobs} {parallel:6.1f} s, "
            f"speed-up {serial / parallel:.2f}x, identical runs.csv"
        )
    print(f"load average after:  {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"speed-up (median of {len(ratios)}): {statistics.median(ratios):.2f}x")
    best = min(serial_times) / min(parallel_times)
    print(f"speed-up (best --jobs 1 / best --jobs {args.jobs}): {best:.2f}x")


if __name__ == "__main__":
    main()
