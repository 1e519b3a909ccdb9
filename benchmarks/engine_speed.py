"""Engine speed: segment deliveries per wall-second against a bare SimPy loop.

Run from the repository root::

    python benchmarks/engine_speed.py            # speed ratio, L4 and L7
    python benchmarks/engine_speed.py --memory   # also peak memory of a 200,000-request run

The bare loop is one SimPy process yielding ``env.timeout(1)`` over and over: the
cheapest thing SimPy can do per event. A segment delivery in lbsim includes
everything the engine does for it (link timing, the delivery event, the receiving
node's TCP or NAT work, records), so the ratio

    (segment deliveries per second) / (bare timeouts per second)

says how many bare SimPy events one segment costs: 0.25 means four. Both are
measured in the same process, each engine run right after its own bare loop, so
machine noise mostly cancels out of each ratio; the median over ``--repeat`` rounds is
reported. This is a benchmark, not a test: it prints
numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lbsim.scenario import load_scenario  # noqa: E402
from lbsim.sim import build_variant  # noqa: E402

SCENARIO = ROOT / "scenarios" / "quickstart.yaml"


def bare_simpy_rate(events: int = 1_000_000) -> float:
    """Timeouts per wall-second of a process that only waits."""
    env = simpy.Environment()

    def ticker(env: simpy.Environment):  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(1)

    env.process(ticker(env))
    start = time.perf_counter()
    env.run(until=events)
    return events / (time.perf_counter() - start)


def engine_rate(variant: str, duration: str) -> tuple[float, int, float]:
    """Segment deliveries per wall-second for one variant of the quickstart."""
    scenario = load_scenario(SCENARIO, [f"duration={duration}", "warmup=0s"])
    build = build_variant(scenario, variant)
    start = time.perf_counter()
    build.run()
    wall = time.perf_counter() - start
    delivered = sum(link.sent for link in build.links)
    return delivered / wall, delivered, wall


def peak_memory(requests: int) -> dict[str, float]:
    """Run a scenario of about ``requests`` requests in a child process; report its peak RSS."""
    code = f"""
import json, resource, time
from lbsim.scenario import load_scenario
from lbsim.sim import run_variant
# 200 closed-loop users at ~16 requests/s each (25 ms think + ~37 ms per request
# over a 20 ms round trip) -> about {requests} requests.
users, rate = 200, 16.0
duration = {requests} / (users * rate)
sc = load_scenario({str(SCENARIO)!r}, [
    f"duration={{duration:.3f}}s", "warmup=0s",
    "clients.browsers.count=200", "clients.browsers.think_time=exp(25ms)",
    "backends.web.count=8",
])
t = time.perf_counter()
run = run_variant(sc, "l4")
print(json.dumps({{
    "requests": len(run.recorder.requests),
    "wall_seconds": time.perf_counter() - t,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (the median is kept)")
    parser.add_argument("--duration", default="15s", help="simulated duration per run")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory")
    args = parser.parse_args()

    ratios: dict[str, list[float]] = {"l4": [], "l7": []}
    rates: dict[str, list[float]] = {"bare": [], "l4": [], "l7": []}
    segments: dict[str, int] = {}
    for _ in range(args.repeat):
        for variant in ("l4", "l7"):
            # Measure the bare loop right before each run: the pair sees the same load.
            bare = bare_simpy_rate(500_000)
            rate, delivered, _wall = engine_rate(variant, args.duration)
            rates["bare"].append(bare)
            rates[variant].append(rate)
            ratios[variant].append(rate / bare)
            segments[variant] = delivered
    median = statistics.median
    print(f"bare SimPy timeouts: median {median(rates['bare']):>11,.0f} /s")
    for variant in ("l4", "l7"):
        r = sorted(ratios[variant])
        print(
            f"{variant} segment deliveries: median {median(rates[variant]):>11,.0f} /s, "
            f"{segments[variant]:,} per run; ratio median {median(r):.3f} "
            f"(min {r[0]:.3f}, max {r[-1]:.3f}; a segment costs "
            f"{1 / median(r):.1f} bare timeouts)"
        )
    if args.memory:
        mem = peak_memory(200_000)
        print(
            f"memory: {mem['requests']:,} requests (L4) in {mem['wall_seconds']:.1f} s, "
            f"peak RSS {mem['peak_rss_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
