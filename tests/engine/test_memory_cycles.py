"""A finished connection is freed by reference counting, not left to the cycle collector.

A client session and its TCP connection refer to each other while the connection
lives. If the pair stayed a reference cycle after the connection closed, every
closed connection (with the requests and responses still marked on it) would wait
for Python's cycle collector, which a run calls rarely (it raises the first
generation's threshold for speed): memory then grew with the number of requests
served (about 700 B per request in quickstart). These tests run real variants with
the collector saving what it finds, and require it to find nothing.
"""

from __future__ import annotations

import gc

import pytest

from lbsim.run.runs import build_variant
from lbsim.scenario.loader import load_scenario


@pytest.mark.parametrize("fidelity", ["segment", "request"])
@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_closed_connections_leave_no_cyclic_garbage(variant: str, fidelity: str) -> None:
    overrides = ["duration=12s", "warmup=0s", "tcp.time_wait=1s", f"fidelity={fidelity}"]
    scenario = load_scenario(None, overrides)
    build = build_variant(scenario, variant)
    build.start()
    build.env.run(until=4.0)
    gc.collect()
    records_before = len(build.recorder.connections)
    flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        build.env.run(until=10.0)
        gc.collect()
        garbage = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
    # Connections did leave their stacks in the window (so the test exercises
    # something): each lasts a few seconds, then TIME_WAIT (shortened to 1 s).
    assert build.recorder.connections.spilled + len(build.recorder.connections) > records_before
    assert "TcpConnection" not in garbage
    assert "Session" not in garbage
    assert "HttpRequest" not in garbage
    assert not garbage, sorted(set(garbage))  # nothing else either (no TLS here)


@pytest.mark.parametrize(
    "scenario_name, variant", [("tls_bottleneck", "l7"), ("tls_tiers", "reencrypt")]
)
def test_tls_channels_let_go_of_their_applications(scenario_name: str, variant: str) -> None:
    """A TLS channel and its application (session, proxy side) must not stay a cycle.

    The L7 case terminates clients' TLS on the proxy; the re-encrypting tier also
    opens TLS from the proxy to the backends (its upstream connections).
    """
    scenario = load_scenario(scenario_name, ["duration=1.5s", "warmup=0s", "tcp.time_wait=0.2s"])
    build = build_variant(scenario, variant)
    build.start()
    build.env.run(until=0.5)
    gc.collect()
    connections = build.recorder.connections
    records_before = connections.spilled + len(connections)
    flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        build.env.run(until=1.5)
        gc.collect()
        garbage = sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
    assert connections.spilled + len(connections) > records_before  # connections did close
    assert garbage == []
