"""Engine speed: segment deliveries per wall-second against a bare SimPy loop.

Run from the repository root::

    python benchmarks/engine_speed.py            # speed ratio, L4 and L7
    python benchmarks/engine_speed.py --memory   # also peak memory of a 200,000-request run
    python benchmarks/engine_speed.py --delayed-ack on   # one setting only (default: both)

The bare loop is one SimPy process yielding ``env.timeout(1)`` over and over: the
cheapest thing SimPy can do per event. A segment delivery in lbsim includes
everything the engine does for it (link timing, the delivery event, the receiving
node's TCP or NAT work, records), so the ratio

    (segment deliveries per second) / (bare timeouts per second)

says how many bare SimPy events one segment costs: 0.25 means four. Both are
measured in the same process, each engine run right after its own bare loop, so
machine noise mostly cancels out of each ratio; the median over ``--repeat`` rounds is
reported. Runs are made with delayed ACKs on (the default) and off: with them on
there are fewer segments (about half the pure ACKs go) but each costs a little more
on average, so compare wall time per run (in bare timeouts) as well as the ratio.
This is a benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
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


def engine_rate(variant: str, duration: str, delayed_ack: str) -> tuple[float, int, float]:
    """Segment deliveries per wall-second for one variant of the quickstart."""
    overrides = [f"duration={duration}", "warmup=0s"]
    overrides.append(f"tcp.delayed_ack={'true' if delayed_ack == 'on' else 'false'}")
    scenario = load_scenario(SCENARIO, overrides)
    build = build_variant(scenario, variant)
    # Start every run from the same collector state: otherwise the generation-1 and
    # generation-2 collections that earlier runs in this process made due land on
    # whichever run comes next, and one setting looks slower only for its place in
    # the order (up to a third more on the AsyncFlow workload, seen as an L7 delayed-
    # ACK "cost" that vanished when the runs were reordered).
    gc.collect()
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
    parser.add_argument(
        "--delayed-ack", choices=("on", "off", "both"), default="both", help="TCP setting"
    )
    args = parser.parse_args()

    settings = ("on", "off") if args.delayed_ack == "both" else (args.delayed_ack,)
    keys = [(variant, ack) for variant in ("l4", "l7") for ack in settings]
    ratios: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
    walls: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
    bares: list[float] = []
    segments: dict[tuple[str, str], int] = {}
    for _ in range(args.repeat):
        for variant, ack in keys:
            # Measure the bare loop right before each run: the pair sees the same load.
            bare = bare_simpy_rate(500_000)
            rate, delivered, wall = engine_rate(variant, args.duration, ack)
            bares.append(bare)
            rates[variant, ack].append(rate)
            ratios[variant, ack].append(rate / bare)
            walls[variant, ack].append(wall * bare)
            segments[variant, ack] = delivered
    median = statistics.median
    print(f"bare SimPy timeouts: median {median(bares):>11,.0f} /s")
    for variant, ack in keys:
        r = sorted(ratios[variant, ack])
        print(
            f"{variant} delayed ACKs {ack:<3}: segment deliveries median "
            f"{median(rates[variant, ack]):>9,.0f} /s, {segments[variant, ack]:,} per run; "
            f"ratio median {median(r):.3f} (min {r[0]:.3f}, max {r[-1]:.3f}; a segment costs "
            f"{1 / median(r):.1f} bare timeouts; the run {median(walls[variant, ack]) / 1e6:.2f}M)"
        )
    if args.memory:
        mem = peak_memory(200_000)
        print(
            f"memory: {mem['requests']:,} requests (L4) in {mem['wall_seconds']:.1f} s, "
            f"peak RSS {mem['peak_rss_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
