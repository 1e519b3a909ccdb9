"""Results memory: peak RSS of building and writing the results of N requests.

Run from the repository root::

    python benchmarks/results_memory.py                  # 12 000 and 120 000 requests
    python benchmarks/results_memory.py --src OTHER_CHECKOUT

What a long run costs after its simulation, without simulating: each size runs in
its own child process, which fills two variants' recorders with ``N`` synthetic
requests each (200 a second per variant, as in quickstart, ten to a connection),
then calls :func:`lbsim.results.build_results` and
:func:`lbsim.results.write_outputs`. It prints the child's peak RSS after making the
records, after building the results and after writing them, and the bytes of peak
RSS per extra request between the two sizes, net of the records themselves. Memory
that the results need per request shows there; a summary and writers that stream
the spilled chunks show a few tens of bytes. ``benchmarks/memory_growth.py``
measures whole runs (simulation included) but takes long. This is a benchmark, not
a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import os, random, sys, tempfile
from types import SimpleNamespace
from lbsim.records import ConnectionRecord, Recorder, RequestRecord
from lbsim.results import build_results, write_outputs
from lbsim.sim import VariantRun

def peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")

n, rng, runs, t = int(sys.argv[1]), random.Random(1), [], 0.0
for variant, layer in (("l4", 4), ("l7", 7)):
    recorder, t = Recorder(variant), 0.0
    for i in range(n):
        t += rng.expovariate(200.0)
        end = t + rng.expovariate(20.0)
        connection = f"browsers-{i % 50}-c{i // 500}"
        recorder.requests.append(RequestRecord(
            variant, f"browsers-{i % 50}-{i}", "browsers", connection,
            f"web-{rng.randrange(3) + 1}", "GET", f"/item/{rng.randrange(1000)}", 200, "ok",
            t, end, 400, 20000, None, i % 10 == 0, i % 10, 0.01, 0.001, t + 0.001,
            t + 0.002, None, None, None, 1, 1, "100.64.0.1", None))
        if i % 10 == 9:
            recorder.connections.append(ConnectionRecord(
                variant, connection, "client", "100.64.0.1:32768", "203.0.113.10:80",
                "web-1", t - 1, t - 0.99, end, 10, 4000, 200000, 300, 0, False))
    backends = ("web-1", "web-2", "web-3")
    runs.append(VariantRun(variant, layer, "round_robin", recorder, backends, 0.1, 1.0))
made = peak()
results = build_results(SimpleNamespace(name="synthetic", seed=1, duration=t, warmup=1.0), runs)
built = peak()
with tempfile.TemporaryDirectory() as folder:
    write_outputs(results, os.path.join(folder, "out"))
print(made, built, peak())
"""


def measure(requests: int, src: Path) -> tuple[float, float, float]:
    """Peak RSS in MB after making, building and writing ``requests`` per variant."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(requests)],
        env=env, cwd=src, capture_output=True, text=True, check=True,
    )  # fmt: skip
    made, built, written = (float(x) for x in done.stdout.split())
    return made, built, written


def main() -> None:
    """Measure both sizes and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=12_000, help="requests per variant")
    parser.add_argument("--large", type=int, default=120_000, help="requests per variant")
    parser.add_argument("--src", type=Path, default=ROOT, help="checkout to measure")
    args = parser.parse_args()
    rows = []
    for size in (args.small, args.large):
        made, built, written = measure(size, args.src.resolve())
        rows.append((size, made, written))
        print(
            f"{size:8d} requests per variant: peak RSS {made:7.1f} MB with the records, "
            f"{built:7.1f} MB built, {written:7.1f} MB written",
            flush=True,
        )
    (n_small, made_small, peak_small), (n_large, made_large, peak_large) = rows
    extra = (peak_large - made_large) - (peak_small - made_small)
    per_request = extra * 1024 * 1024 / max(2 * (n_large - n_small), 1)
    print(f"peak RSS ratio large/small: {peak_large / peak_small:.3f}")
    print(f"bytes of results memory per extra request: {per_request:.0f}")


if __name__ == "__main__":
    main()
