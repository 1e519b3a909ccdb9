"""Memory growth: peak RSS of a long quickstart run against a short one.

Run from the repository root::

    python benchmarks/memory_growth.py                   # 60 s and 600 s runs
    python benchmarks/memory_growth.py --short 10 --long 60
    python benchmarks/memory_growth.py --src OTHER_CHECKOUT  # measure another checkout

Each duration is one ``python -m lbsim run quickstart --set duration=Ns --no-figures``
in its own child process; its peak resident set size comes from that child's own
resource usage (``os.wait4``), so the two runs never share a high-water mark. The
requests each run issued are the rows of its ``requests.csv``. It prints

* the peak RSS of each run and their ratio (long / short);
* the bytes of peak RSS per extra request: (RSS long - RSS short) / (requests long -
  requests short), i.e. what each further request costs the run's memory.

A run whose records spill to disk (``lbsim.spill``) should show a ratio near 1 and a
few bytes per request; holding every record in memory costs about a kilobyte per
request. ``--src`` puts another checkout first on ``PYTHONPATH`` (for example a
``git worktree`` of an older commit) to measure the code before a change. This is a
benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(duration: float, src: Path) -> tuple[float, int, float]:
    """Run quickstart for ``duration`` seconds; (peak RSS in MB, requests, wall s)."""
    with tempfile.TemporaryDirectory(prefix="lbsim-memgrowth-") as tmp:
        out = Path(tmp) / "out"
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])
        )
        command = [
            sys.executable, "-m", "lbsim", "run", "quickstart",
            "--set", f"duration={duration:g}s", "--no-figures", "--out", str(out),
        ]  # fmt: skip
        start = time.perf_counter()
        child = subprocess.Popen(
            command, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        if child.returncode != 0:
            error = child.stderr.read().decode() if child.stderr else ""
            raise SystemExit(f"run of {duration:g} s failed ({child.returncode}): {error}")
        with (out / "requests.csv").open("rb") as handle:
            requests = sum(1 for _ in handle) - 1
    # ru_maxrss is in kilobytes on Linux.
    return usage.ru_maxrss / 1024, requests, wall


def main() -> None:
    """Measure both durations and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=float, default=60.0, help="short run, seconds")
    parser.add_argument("--long", type=float, default=600.0, help="long run, seconds")
    parser.add_argument("--src", type=Path, default=ROOT, help="checkout to measure")
    args = parser.parse_args()
    rows = []
    for duration in (args.short, args.long):
        rss, requests, wall = measure(duration, args.src.resolve())
        rows.append((duration, rss, requests))
        print(
            f"{duration:7g} s simulated: {requests:8d} requests, peak RSS {rss:8.1f} MB, "
            f"{wall:6.1f} s wall",
            flush=True,
        )
    (_, rss_short, n_short), (_, rss_long, n_long) = rows
    per_request = (rss_long - rss_short) * 1024 * 1024 / max(n_long - n_short, 1)
    print(f"peak RSS ratio long/short: {rss_long / rss_short:.3f}")
    print(f"bytes of peak RSS per extra request: {per_request:.0f}")


if __name__ == "__main__":
    main()
