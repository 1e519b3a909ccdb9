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
@pytest.mark.parametrize(
    "scenario_name, variant",
    [(None, "l4"), (None, "l7"), ("l4_modes", "proxy")],  # the proxy: spliced pairs of legs
)
def test_closed_connections_leave_no_cyclic_garbage(
    scenario_name: str | None, variant: str, fidelity: str
) -> None:
    overrides = ["duration=12s", "warmup=0s", "tcp.time_wait=1s", f"fidelity={fidelity}"]
    scenario = load_scenario(scenario_name, overrides)
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


#: Objects there is one of (or more) per connection: none may be left to the collector.
PER_CONNECTION = {
    "TcpConnection",
    "MessageConnection",
    "NewReno",
    "MessageMarks",
    "Session",
    "PlainChannel",
    "TlsChannel",
    "HttpRequest",
    "HttpResponse",
    "RequestContext",
    "Entry",
    "Upstream",
    "_Leg",
}


@pytest.mark.parametrize(
    "scenario_name, variant, fidelity",
    [
        ("quickstart", "l4", "segment"),
        ("quickstart", "l4", "request"),
        ("quickstart", "l7", "segment"),
        ("quickstart", "l7", "request"),
        ("l4_modes", "proxy", "request"),  # spliced legs refer to each other
        ("tls_tiers", "reencrypt", "segment"),  # tiers, TLS channels, upstream pools
    ],
)
def test_a_finished_run_is_freed_by_reference_counting(
    scenario_name: str, variant: str, fidelity: str
) -> None:
    """What is open at the end of a run (TIME_WAIT, NAT entries, pools) goes with it.

    ``run_variant`` takes the build apart once its results are out
    (``VariantBuild.discard``); without that, every connection still held at the
    end (all of them here: TIME_WAIT lasts 60 s) waited for a slow full collection.
    Only the hosts and links themselves, a few hundred objects, are left to it.
    """
    from lbsim.run.runs import run_variant

    scenario = load_scenario(scenario_name, ["duration=2s", "warmup=0s", f"fidelity={fidelity}"])
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    flags = gc.get_debug()
    try:
        run = run_variant(scenario, variant)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert run.recorder.requests.spilled + len(run.recorder.requests) > 50  # it did work
    left = sorted({name for name in garbage if name in PER_CONNECTION})
    assert left == [], f"{len(garbage)} objects left to the collector, among them {left}"


@pytest.mark.parametrize("fidelity", ["segment", "request"])
@pytest.mark.parametrize("variant", ["l4", "l7"])
def test_connections_let_go_of_acknowledged_messages(variant: str, fidelity: str) -> None:
    """A message the peer has acknowledged is not kept by its sender's connection.

    One request per connection, so every client connection closes after its answer
    and then waits out TIME_WAIT (60 s) holding its marks: before they were emptied
    on acknowledgement, each such connection kept its request (and its context) alive
    for that minute.
    """
    from lbsim.transport.tcp import TcpConnection

    overrides = [
        "duration=3s",
        "warmup=0s",
        f"fidelity={fidelity}",
        "clients.browsers.requests_per_connection=1",
        "clients.browsers.think_time=50ms",
    ]
    build = build_variant(load_scenario(None, overrides), variant)
    build.run()
    held = 0
    finished = 0
    for conn in gc.get_objects():
        if isinstance(conn, TcpConnection) and conn.finished_at is not None:
            finished += 1
            held += len(conn._marks.msgs)
    build.discard()
    assert finished > 100  # connections did finish (and most wait in TIME_WAIT)
    assert held == 0


def test_the_end_of_a_run_collects_rarely_too() -> None:
    """Writing the records of the connections still open is part of the run.

    At the end of a busy run most client connections are still in TIME_WAIT (60 s),
    each with its session: the end writes a record for every one. It used to run
    after the raised thresholds were restored, so Python's collector ran every 700
    allocations over a heap holding the whole run (113 collections and 1.3 s of a
    10 s run of tls_bottleneck behind L7, at request level).
    """
    import traceback

    from lbsim.collector import YOUNG

    overrides = [
        "duration=3s",
        "warmup=0s",
        "fidelity=request",
        "clients.browsers.requests_per_connection=1",
        "clients.browsers.think_time=20ms",
    ]
    build = build_variant(load_scenario(None, overrides), "l4")
    at_default: list[str] = []  # where each collection at Python's thresholds began

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and gc.get_threshold()[0] < YOUNG:
            at_default.append(" < ".join(f.name for f in traceback.extract_stack()[-6:-1]))

    gc.collect()
    gc.callbacks.append(watch)
    try:
        run = build.run()
    finally:
        gc.callbacks.remove(watch)
    assert len(run.recorder.connections) > 1000  # the end had records to write
    # Restoring Python's thresholds may start one collection as the block is left;
    # none may start while the end's records are written.
    assert not [where for where in at_default if "finalize" in where or "append" in where]
    assert len(at_default) <= 1, at_default
    build.discard()
