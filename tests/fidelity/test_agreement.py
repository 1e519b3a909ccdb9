"""Request level agrees with segment level on every bundled scenario it accepts.

Each scenario runs at both levels on the same seed (common random numbers: the
same arrivals, service times and choices), shortened where a full-length
segment-level run would be too slow for the suite; every shortened run still
completes thousands of requests (the sample sizes are asserted). Tolerances are
issue 15's: throughput 2 %, mean latency 5 %, p99 10 % (relative); per-backend
shares, stickiness and Jain's index 0.02 (absolute); balancer CPU 5 % (relative,
or 0.05 % of a core absolutely below 1 % utilisation).

Where an L4 balancer places a few long-lived connections, one connection opening a
few microseconds earlier or later at request level can be given another backend,
and all its requests move with it: per-backend shares then differ by about one
connection's worth of requests. Those rows, and the L4 NAT's CPU in
tls_bottleneck, are held to the looser bounds of ``LOOSE``; docs/validation.md
lists and explains them. Scenarios request level refuses are checked in
test_refusals.py.
"""

from __future__ import annotations

import pytest
from fidelity_compare import compare, requests_counted, summaries

#: (scenario, overrides, smallest sample per variant). Durations are shortened
#: where the full length would take the suite too long; events stay inside.
#: port_exhaustion is left out: its 60 s of TIME_WAIT warm-up at 600 new
#: connections/s is minutes of segment-level simulation (docs/validation.md).
SCENARIOS = [
    ("quickstart", ("duration=12s", "warmup=2s"), 1900),
    ("backend_crash", ("duration=24s", "warmup=2s"), 3000),
    ("cache_auth", (), 4000),
    ("grpc_cycling", ("duration=8s", "warmup=1s"), 4000),
    ("grpc_stickiness", ("duration=8s", "warmup=1s"), 4000),
    ("l4_modes", ("duration=10s", "warmup=1s"), 300),
    ("mtu", ("duration=6s", "warmup=1s"), 350),
    ("proxy_cpu", (), 750),
    ("routing", ("duration=10s", "warmup=1s"), 900),
    ("scale_out", ("duration=24s", "warmup=2s"), 1000),
    ("slow_start", ("duration=24s", "warmup=2s"), 1000),
    ("stickiness", ("duration=30s",), 1000),
    # Below the L7 knee: past it queues grow for as long as the run lasts.
    ("tls_bottleneck", ("duration=3s", "warmup=1s", "clients.0.rate=1500/s"), 2000),
    ("upstream_pool", (), 300),
]

#: (scenario, variant, metric prefix) -> the looser tolerance it is held to, each
#: explained in docs/validation.md: L4 placement of few long-lived connections
#: (shares), the L4 NAT's per-segment CPU under a storm of TLS handshakes, and
#: the delayed ACKs of gRPC's streams, which ride on data more often than the
#: closed form counts.
LOOSE = {
    ("cache_auth", "l4", "share."): 0.05,
    ("grpc_cycling", "l4", "share."): 0.05,
    ("tls_bottleneck", "l4", "cpu"): 0.08,
    ("routing", "l7", "stickiness"): 0.05,
    ("cache_auth", "l7", "stickiness"): 0.04,
    ("grpc_cycling", "l7", "cpu"): 0.08,
    ("grpc_stickiness", "l7", "cpu"): 0.08,
}


@pytest.mark.parametrize(("name", "overrides", "sample"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_request_level_agrees(name: str, overrides: tuple[str, ...], sample: int) -> None:
    seg, req = summaries(name, overrides)
    for variant, n in requests_counted(seg).items():
        assert n >= sample, f"{variant}: only {n} requests in the window"
    bad = []
    for m in compare(seg, req):
        loose = [t for (s, v, p), t in LOOSE.items() if (s, v) == (name, m.variant) and
                 m.name.startswith(p)]  # fmt: skip
        if loose:
            if m.error > loose[0]:
                bad.append(f"{m.variant} {m.name}: {m.segment:.4g} vs {m.request:.4g}")
        elif not m.ok:
            bad.append(
                f"{m.variant} {m.name}: segment {m.segment:.4g}, request {m.request:.4g}, "
                f"error {m.error:.4f} > {m.tolerance}"
            )
    assert not bad, "; ".join(bad)
