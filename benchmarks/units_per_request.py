"""Cost per request, in bare SimPy timeouts: a plain SimPy model, lbsim per segment and per request.

Run from the repository root::

    python benchmarks/units_per_request.py              # default: 20 s of each workload
    python benchmarks/units_per_request.py --duration 60s --repeat 3
    python benchmarks/units_per_request.py --duration 10s --counts   # calls/events per request
    python benchmarks/units_per_request.py --duration 10s --repeat 10 --shares  # time by layer

The unit is one bare SimPy timeout: what a process that only does
``yield env.timeout(1)`` costs per event, measured in the same process right before
each model runs, so machine noise mostly cancels. A model that takes ``w`` wall
seconds for ``n`` requests while the bare loop does ``b`` timeouts per second costs

    units per request = b * w / n

bare timeouts per request. Models, on the AsyncFlow workload
(``benchmarks/asyncflow_workload.yaml``: Poisson arrivals at 280/s, one request per
connection, round robin over 4 single-worker servers, exponential 10 ms service, 1 ms
links, rho = 0.7):

* ``plain SimPy``: the same queueing in about 40 lines of SimPy (:func:`plain_model`),
  with no TCP at all: the floor any SimPy model of this workload pays;
* ``direct skeleton``: lbsim's request-level hops and nothing else
  (``benchmarks/direct_floor.py``): 12 link crossings as scheduled calls, or 7 with
  the handshake and the close in closed form, a per-session random stream, a
  balancer CPU and NAT entry, a 27-field record: the floor under lbsim's request
  level, against which the 45-unit target can be judged;
* ``lbsim segment L4/L7``: lbsim with every TCP segment simulated, delayed ACKs on
  (the default) and off;
* ``lbsim request L4/L7``: lbsim with ``fidelity=request`` (network time in closed
  form), where that mode exists; otherwise the line says it is not available.

The same is printed for the quickstart (keep-alive browsers, 20 KB and 300 KB
responses), whose segment/request ratio is the one the request-level target is set
against. With ``--shares`` it prints instead, for each request-level run, its units per
request split over the layers (transport, balancer, link, application, engine) in
proportion to where a CPU-time sampler found the interpreter (:func:`sample_layers`):
what each layer costs, whose sum the speed targets bound.

This is a benchmark: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import direct_floor  # noqa: E402

from lbsim.scenario import ScenarioError, load_scenario  # noqa: E402
from lbsim.sim import build_variant  # noqa: E402

WORKLOAD = ROOT / "benchmarks" / "asyncflow_workload.yaml"
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def bare_rate(events: int = 300_000) -> float:
    """Bare SimPy timeouts per wall-second."""
    env = simpy.Environment()

    def ticker() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(1)

    env.process(ticker())
    start = time.perf_counter()
    env.run(until=events)
    return events / (time.perf_counter() - start)


def plain_model(duration: float, seed: int = 1) -> int:
    """The AsyncFlow workload as a request-level SimPy model; returns requests done."""
    rate, servers, service, link = 280.0, 4, 0.010, 0.001
    rng = random.Random(seed)
    env = simpy.Environment()
    queues = [simpy.Resource(env, capacity=1) for _ in range(servers)]
    done = [0]
    latencies: list[float] = []

    def request(server: simpy.Resource) -> Generator[simpy.Event, Any, None]:
        start = env.now
        yield env.timeout(2 * link)  # client -> balancer -> server
        with server.request() as slot:
            yield slot
            yield env.timeout(rng.expovariate(1 / service))
        yield env.timeout(2 * link)  # server -> balancer -> client
        latencies.append(env.now - start)
        done[0] += 1

    def arrivals() -> Generator[simpy.Event, Any, None]:
        turn = 0
        while True:
            yield env.timeout(rng.expovariate(rate))
            env.process(request(queues[turn]))
            turn = (turn + 1) % servers  # round robin

    env.process(arrivals())
    env.run(until=duration)
    return done[0]


def lbsim_model(path: Path, variant: str, overrides: list[str]) -> Callable[[], int]:
    """A zero-argument runner of one lbsim variant; raises ScenarioError if refused."""
    scenario = load_scenario(path, overrides)

    def run() -> int:
        build = build_variant(scenario, variant)
        return len(build.run().recorder.requests)

    return run


def measure(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Median units per request over ``repeat`` rounds, and the requests per round."""
    units = []
    n = 0
    for _ in range(repeat):
        # Collections an earlier run made due would otherwise land on this one.
        gc.collect()
        bare = bare_rate()
        start = time.perf_counter()
        n = run()
        wall = time.perf_counter() - start
        units.append(bare * wall / max(n, 1))
    return statistics.median(units), n


#: Where a function's calls are counted in ``--counts``: the first part of lbsim
#: whose path it lies under (``lbsim/`` relative), else SimPy, else built-ins.
LAYERS = (
    ("transport", ("transport/", "host/stack", "host/message_stack", "host/channel", "host/timer")),
    ("balancer", ("lb/", "run/fidelity", "host/cpu")),
    ("link", ("net/",)),
    ("app", ("nodes/", "app/", "records", "spill", "streams", "scenario/", "metrics")),
    ("engine", ("sched", "run/")),
)


def _layer(filename: str) -> str:
    """The layer of :data:`LAYERS` a profiled function's file belongs to."""
    if "/lbsim/" in filename:
        inner = filename.rsplit("/lbsim/", 1)[1]
        for name, prefixes in LAYERS:
            if inner.startswith(prefixes):
                return name
        return "other lbsim"
    if "/simpy/" in filename:
        return "engine"
    return "built-ins" if filename == "~" else "other"


def profile_counts(path: Path, variant: str, overrides: list[str]) -> str:
    """Python function calls, scheduled events and link deliveries per request (deterministic).

    Counted with cProfile over one run: unlike wall time they do not depend on
    the machine's load, so they show what a change to the engine saves. The calls
    are also split by layer (:data:`LAYERS`; SimPy counts as the engine).
    """
    scenario = load_scenario(path, overrides)
    build = build_variant(scenario, variant)
    profiler = cProfile.Profile()
    profiler.enable()
    n = max(1, len(build.run().recorder.requests))
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    # Every entry ever put in SimPy's queue drew one id from this counter (lbsim's
    # own run loop and links pop some entries without Environment.step).
    events = next(build.env._eid)
    deliveries = sum(v[1] for k, v in stats.items() if k[2] == "_fire" and k[0].endswith("link.py"))
    calls = sum(v[1] for v in stats.values())
    layers: dict[str, int] = {}
    for key, value in stats.items():
        layer = _layer(key[0])
        layers[layer] = layers.get(layer, 0) + value[1]
    order = [name for name, _ in LAYERS] + ["other lbsim", "built-ins", "other"]
    split = ", ".join(f"{name} {layers[name] / n:.0f}" for name in order if name in layers)
    return (
        f"{calls / n:.0f} calls, {events / n:.1f} events, {deliveries / n:.1f} deliveries"
        f"\n    calls by layer: {split}"
    )


def sample_layers(run: Callable[[], int], interval: float = 0.0005) -> tuple[int, dict[str, int]]:
    """Run ``run`` while a CPU-time timer samples which layer the interpreter is in.

    Every ``interval`` seconds of process CPU time (``ITIMER_PROF``) the signal
    handler looks at the frame it interrupted and counts it for that frame's layer
    (:data:`LAYERS`); time spent in a built-in (a heap push, a dict lookup) counts
    for the Python function that called it. Unlike the calls of ``--counts`` this
    weighs each function by the time it takes, not by how often it is called, and
    adds no cost per call.

    Returns:
        The requests the run served and the samples per layer.
    """
    samples: dict[str, int] = {}

    def take(_signum: int, frame: Any) -> None:
        name = frame.f_code.co_filename
        # The generated constructors of records and messages (lbsim.records,
        # lbsim.app.http) are compiled from strings: they are the application's.
        layer = "app" if name == "<string>" else _layer(name)
        samples[layer] = samples.get(layer, 0) + 1

    previous = signal.signal(signal.SIGPROF, take)
    signal.setitimer(signal.ITIMER_PROF, interval, interval)
    try:
        n = run()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, previous)
    return n, samples


def layer_shares(path: Path, variant: str, overrides: list[str], repeat: int) -> str:
    """Units per request of a request-level run, and how they split over the layers.

    The split is the share of sampled time (:func:`sample_layers`, summed over
    ``repeat`` runs) applied to the units per request measured without sampling.
    """
    run = lbsim_model(path, variant, overrides)
    units, _ = measure(run, repeat)
    total: dict[str, int] = {}
    for _ in range(repeat):
        gc.collect()
        _, samples = sample_layers(run)
        for layer, count in samples.items():
            total[layer] = total.get(layer, 0) + count
    taken = max(1, sum(total.values()))
    order = sorted(total, key=lambda layer: -total[layer])
    split = ", ".join(f"{layer} {units * total[layer] / taken:.1f}" for layer in order)
    return f"{units:.1f} units/request ({taken} samples): {split}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="20s", help="simulated time of each run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (the median is kept)")
    parser.add_argument(
        "--counts",
        action="store_true",
        help="print only calls, events and deliveries per request of request level (cProfile)",
    )
    parser.add_argument(
        "--shares",
        action="store_true",
        help="print only the units per request of request level split by layer (sampled)",
    )
    args = parser.parse_args()
    seconds = float(args.duration.rstrip("s"))
    base = [f"duration={args.duration}", "warmup=0s"]
    if args.shares:
        for path, name in ((WORKLOAD, "asyncflow"), (QUICKSTART, "quickstart")):
            for variant in ("l4", "l7"):
                shares = layer_shares(path, variant, [*base, "fidelity=request"], args.repeat)
                print(f"{name}: lbsim request {variant.upper():<4} {shares}")
        return
    if args.counts:
        for path, name in ((WORKLOAD, "asyncflow"), (QUICKSTART, "quickstart")):
            for variant in ("l4", "l7"):
                counts = profile_counts(path, variant, [*base, "fidelity=request"])
                print(f"{name}: lbsim request {variant.upper():<4} per request: {counts}")
        return

    results: dict[str, float] = {}

    def report(label: str, run: Callable[[], int]) -> None:
        units, n = measure(run, args.repeat)
        results[label] = units
        print(f"{label:<42} {units:>9.1f} units/request  ({n:,} requests per run)")

    print(f"bare SimPy timeouts: {bare_rate():,.0f} /s (the unit)")
    report("asyncflow: plain SimPy request model", lambda: plain_model(seconds))
    report("asyncflow: direct skeleton, 12 hops", lambda: direct_floor.run(seconds))
    report(
        "asyncflow: direct skeleton, 7 calls",
        lambda: direct_floor.run(seconds, closed_form=True),
    )
    for path, name in ((WORKLOAD, "asyncflow"), (QUICKSTART, "quickstart")):
        for variant in ("l4", "l7"):
            for ack in ("on", "off"):
                overrides = [*base, f"tcp.delayed_ack={'true' if ack == 'on' else 'false'}"]
                label = f"{name}: lbsim segment {variant.upper()}, delayed ACKs {ack}"
                report(label, lbsim_model(path, variant, overrides))
            try:
                runner = lbsim_model(path, variant, [*base, "fidelity=request"])
            except ScenarioError:
                print(f"{name}: lbsim request {variant.upper():<21} request level: not available")
                continue
            report(f"{name}: lbsim request {variant.upper()}", runner)
    for variant in ("L4", "L7"):
        seg = results.get(f"quickstart: lbsim segment {variant}, delayed ACKs on")
        req = results.get(f"quickstart: lbsim request {variant}")
        if seg is not None and req is not None:
            print(f"quickstart {variant}: request level is {seg / req:.1f}x segment level")


if __name__ == "__main__":
    main()
