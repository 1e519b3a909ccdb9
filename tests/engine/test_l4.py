"""Layer-4 balancing in depth: one test (at least) per concept C4-C12 (issue 3).

Small, deterministic scenarios through the full engine, checked on requests,
segment traces and the balancer's own objects.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from lbsim.lb.conntable import EntryState
from lbsim.net.addresses import LB_INSIDE, ip_to_str
from lbsim.net.link import wire_bytes
from lbsim.net.segment import mss_for_mtu
from lbsim.records import SegmentRecord
from lbsim.scenario import ScenarioError, parse_scenario
from lbsim.sim import build_variant, run_variant
from scenarios import FREE, scenario

VIP = "203.0.113.10"


def l4_scenario(
    *,
    mode: str = "nat",
    client_mtu: int = 1500,
    backend_mtu: int = 1500,
    request: str = "400B",
    response: str = "1000B",
    count: int = 1,
    per_connection: int = 1,
    duration: str = "1ms",
    backends: int = 1,
    client_latency: str = "10ms",
    backend_latency: str = "1ms",
    bandwidth: str = "1Gbps",
    extra: dict | None = None,  # type: ignore[type-arg]
    protocol: str = "http",
    think: str = "0s",
) -> object:
    balancer = {"name": mode, "layer": 4, "mode": mode, "algorithm": "round_robin", "costs": FREE}
    balancer.update(extra or {})
    return scenario(
        duration=duration,
        network={
            "client_link": {
                "latency": client_latency,
                "bandwidth": bandwidth,
                "mtu": client_mtu,
            },
            "backend_link": {"latency": backend_latency, "bandwidth": "10Gbps", "mtu": backend_mtu},
        },
        backends=[{"group": "web", "count": backends, "workers": 4, "service_time": "2ms"}],
        clients=[
            {
                "name": "c",
                "count": count,
                "protocol": protocol,
                "requests_per_connection": per_connection,
                "think_time": think,
                "requests": [{"path": "/x", "size": request, "response": response}],
            }
        ],
        balancers=[balancer],
    )


def data_segments(segments: list[SegmentRecord], side: str, src_prefix: str) -> list[SegmentRecord]:
    return [s for s in segments if s.side == side and s.payload and s.src.startswith(src_prefix)]


# --------------------------------------------------------------------- C7, C12


@pytest.mark.parametrize("mode", ["nat", "proxy", "dsr"])
def test_a_connection_never_spans_two_backends(mode: str) -> None:
    sc = l4_scenario(
        mode=mode, count=12, per_connection=8, duration="3s", backends=4, think="exp(20ms)"
    )
    run = run_variant(sc, mode)  # type: ignore[arg-type]
    backends_per_connection: dict[str, set[str]] = {}
    for r in run.recorder.requests:
        assert r.outcome == "ok"
        backends_per_connection.setdefault(r.connection, set()).add(str(r.backend))
    assert len(backends_per_connection) >= 30
    assert all(len(b) == 1 for b in backends_per_connection.values())
    # ...while different connections do land on different backends.
    assert len(set().union(*backends_per_connection.values())) == 4


# -------------------------------------------------------------------- C8, C1


def test_nat_rewrites_destination_inbound_and_source_outbound() -> None:
    run = run_variant(l4_scenario(mode="nat"), "nat", trace_segments=True)  # type: ignore[arg-type]
    seg = run.recorder.segments
    client_side = [s for s in seg if s.side == "client"]
    backend_side = [s for s in seg if s.side == "backend"]
    # The client only ever talks to the VIP and never sees the backend's address (C1).
    assert {s.dst for s in client_side if s.src.startswith("100.64.")} == {VIP}
    assert {s.src for s in client_side if not s.src.startswith("100.64.")} == {VIP}
    # Behind the balancer the same connection carries the backend's address instead.
    assert {s.dst for s in backend_side if s.src.startswith("100.64.")} == {"10.0.1.1"}
    assert {s.src for s in backend_side if s.dst.startswith("100.64.")} == {"10.0.1.1"}
    assert {s.dport for s in backend_side if s.src.startswith("100.64.")} == {8080}
    # Sequence numbers pass unchanged: it is one end-to-end TCP connection.
    seqs_in = [(s.seq, s.ack, s.flags) for s in client_side if s.src.startswith("100.64.")]
    seqs_out = [(s.seq, s.ack, s.flags) for s in backend_side if s.src.startswith("100.64.")]
    assert seqs_in == seqs_out


def test_dsr_responses_bypass_the_balancer() -> None:
    run = run_variant(l4_scenario(mode="dsr"), "dsr", trace_segments=True)  # type: ignore[arg-type]
    seg = run.recorder.segments
    # The backend receives the VIP unchanged as destination and answers from it...
    to_backend = [s for s in seg if s.link == "dsr>web-1"]
    assert {s.dst for s in to_backend} == {VIP}
    replies = [s for s in seg if s.link.startswith("web-1>")]
    assert {s.src for s in replies} == {VIP}
    # ...through the router (its gateway), never through the balancer.
    assert {s.link for s in replies} == {"web-1>router"}
    assert not [s for s in seg if s.link.startswith("dsr>c-")]
    assert run.recorder.requests[0].outcome == "ok"


def test_proxy_hides_the_client_address_from_the_backend() -> None:
    run = run_variant(l4_scenario(mode="proxy"), "proxy", trace_segments=True)  # type: ignore[arg-type]
    to_backend = [s for s in run.recorder.segments if s.link == "proxy>web-1"]
    assert {s.src for s in to_backend} == {"10.0.0.1"}  # the proxy's inside address


# ------------------------------------------------------------------------ C9


def test_nat_is_cut_through_backend_sees_first_byte_before_client_sends_last() -> None:
    """A 200 KB upload on a 10 Mbit/s client link takes ~160 ms to send."""
    sc = l4_scenario(mode="nat", request="200KB", bandwidth="10Mbps")
    run = run_variant(sc, "nat", trace_segments=True)  # type: ignore[arg-type]
    seg = run.recorder.segments
    uploads = data_segments(seg, "client", "100.64.")
    first_at_backend = min(s.time for s in data_segments(seg, "backend", "100.64."))
    last_sent_by_client = max(s.time for s in uploads)
    assert first_at_backend < last_sent_by_client - 0.1
    (req,) = run.recorder.requests
    assert req.t_backend_first_byte is not None
    assert req.t_backend_first_byte < last_sent_by_client
    # Nothing is held in the balancer's memory.
    assert run.recorder.counters["lb.peak_buffer_bytes"] == 0


# ----------------------------------------------------------------------- C11


@pytest.mark.parametrize(("client_mtu", "backend_mtu"), [(1500, 9000), (9000, 1500), (576, 1500)])
def test_proxy_resegments_to_each_sides_mss(client_mtu: int, backend_mtu: int) -> None:
    request, response = 100_000, 300_000
    sc = l4_scenario(
        mode="proxy",
        client_mtu=client_mtu,
        backend_mtu=backend_mtu,
        request=f"{request}B",
        response=f"{response}B",
    )
    run = run_variant(sc, "proxy", trace_segments=True)  # type: ignore[arg-type]
    seg = run.recorder.segments
    mss_c, mss_b = mss_for_mtu(client_mtu), mss_for_mtu(backend_mtu)
    assert len(data_segments(seg, "client", "100.64.")) == math.ceil(request / mss_c)
    assert len(data_segments(seg, "backend", "10.0.0.1")) == math.ceil(request / mss_b)
    assert len(data_segments(seg, "backend", "10.0.1.1")) == math.ceil(response / mss_b)
    assert len(data_segments(seg, "client", VIP)) == math.ceil(response / mss_c)
    assert all(s.payload <= mss_c for s in seg if s.side == "client")
    assert all(s.payload <= mss_b for s in seg if s.side == "backend")


@pytest.mark.parametrize(("client_mtu", "backend_mtu"), [(1500, 9000), (9000, 1500)])
def test_nat_clamps_the_mss_to_the_smaller_mtu(client_mtu: int, backend_mtu: int) -> None:
    request = 100_000
    sc = l4_scenario(
        mode="nat", client_mtu=client_mtu, backend_mtu=backend_mtu, request=f"{request}B"
    )
    build = build_variant(sc, "nat", trace_segments=True)  # type: ignore[arg-type]
    run = build.run()
    seg = run.recorder.segments
    smaller = mss_for_mtu(min(client_mtu, backend_mtu))
    # Both sides carry the same segments, each at most the smaller MSS.
    up_c = data_segments(seg, "client", "100.64.")
    up_b = data_segments(seg, "backend", "100.64.")
    assert len(up_c) == len(up_b) == math.ceil(request / smaller)
    assert build.lb.clamped == 1  # exactly one SYN carried a larger MSS than fits


def test_nat_clamps_each_connection_to_its_own_path() -> None:
    """Two client groups at MTU 1400 and 576 behind one NAT keep their own MSS.

    The clamp is the smaller of that client's access MSS and the backend link's
    (1360 and 536 here, against 1460), not the smallest MSS of any client: a
    30,000-byte response reaches the MTU-1400 client in ceil(30000 / 1360) = 23
    segments of at most 1360 bytes, and the MTU-576 client in 56 of 536.
    """
    response = 30_000
    client = {
        "count": 1,
        "requests_per_connection": 1,
        "think_time": "50ms",
        "requests": [{"path": "/x", "size": "200B", "response": f"{response}B"}],
    }
    sc = scenario(
        duration="1s",
        network={
            "client_link": {"latency": "5ms", "bandwidth": "100Mbps", "mtu": 1400},
            "backend_link": {"latency": "1ms", "bandwidth": "10Gbps", "mtu": 1500},
        },
        backends=[{"group": "web", "count": 1, "workers": 4, "service_time": "1ms"}],
        clients=[
            {"name": "big", **client},
            {
                "name": "small",
                "link": {"latency": "5ms", "bandwidth": "100Mbps", "mtu": 576},
                **client,
            },
        ],
        balancers=[{"name": "nat", "layer": 4, "mode": "nat", "algorithm": "round_robin"}],
    )
    run = run_variant(sc, "nat", trace_segments=True)
    rec = run.recorder
    for group, mtu in (("big", 1400), ("small", 576)):
        ip = next(c.src.split(":")[0] for c in rec.connections if c.connection.startswith(group))
        done = [r for r in rec.requests if r.client.startswith(group) and r.outcome == "ok"]
        to_client = [
            s for s in rec.segments if s.side == "client" and s.dst == ip and s.payload > 0
        ]
        mss = mss_for_mtu(mtu)
        assert len(done) >= 5
        assert max(s.payload for s in to_client) == mss
        # Every response in ceil(response / own MSS) segments (no retransmissions here).
        assert len(to_client) == len(done) * math.ceil(response / mss)


def test_splicing_proxy_records_every_backend_connection() -> None:
    """connections.csv has one backend-side row per connection the proxy opened.

    Checked against the wire: every SYN the proxy sent from its inside address
    opened one backend connection, and the rows' requests add up to the requests
    the backends served.
    """
    sc = l4_scenario(mode="proxy", count=6, per_connection=3, duration="2s", backends=2)
    run = run_variant(sc, "proxy", trace_segments=True)  # type: ignore[arg-type]
    rec = run.recorder
    rows = [c for c in rec.connections if c.side == "backend"]
    syns = {
        s.connection
        for s in rec.segments
        if s.side == "backend" and s.flags == "SYN" and s.src == ip_to_str(LB_INSIDE)
    }
    assert len(syns) > 20
    assert len(rows) == len(syns)
    assert len({r.connection for r in rows}) == len(rows)  # ids are unique
    served = sum(v for k, v in rec.counters.items() if k.endswith(".served"))
    assert sum(r.requests for r in rows) == served > 0
    assert all(r.backend is not None and r.src.startswith(ip_to_str(LB_INSIDE)) for r in rows)


# ------------------------------------------------------------------------ C4


def test_warm_pool_saves_exactly_one_backend_round_trip() -> None:
    """Idle network: the proxy with a warm connection vs the same proxy connecting cold."""
    rtt_b = 2 * 0.004

    def latency(warm: int) -> float:
        sc = l4_scenario(
            mode="proxy",
            backend_latency="4ms",
            bandwidth="1000Gbps",  # serialization negligible: only round trips remain
            extra={"pool": {"warm": warm}},
            duration="1s",
            think="100ms",
        )
        run = run_variant(sc, "proxy")  # type: ignore[arg-type]
        lats = [r.latency for r in run.recorder.requests]
        assert len(set(round(x, 9) for x in lats)) == 1  # every request alike
        return lats[0]

    cold, warm = latency(0), latency(2)
    # Exactly one backend round trip, up to serializing the cold handshake's three
    # small segments at 10 Gbit/s (about 0.2 us): within 1 us of 8 ms.
    assert 3 * wire_bytes(48) * 8 / 10e9 < 1e-6
    assert cold - warm == pytest.approx(rtt_b, abs=1e-6)


# ------------------------------------------------------------------------ C5


def test_table_entries_follow_states_and_expire_per_timeouts() -> None:
    timeouts = {"established": "2s", "fin_wait": "3s", "time_wait": "4s", "syn_recv": "1s"}
    sc = l4_scenario(mode="nat", extra={"table": {"timeouts": timeouts}}, duration="1ms")
    build = build_variant(sc, "nat")  # type: ignore[arg-type]
    run = build.run()
    table = build.lb.table
    (entry,) = list(table)
    assert entry.state is EntryState.TIME_WAIT  # closed cleanly: waits out TIME_WAIT
    expires = table.expiry(entry)
    assert expires == pytest.approx(entry.last_seen + 4.0)
    # Run the same environment on: the entry is gone exactly at its expiry.
    build.env.run(until=expires - 1e-6)
    assert len(table) == 1
    build.env.run(until=expires + 1e-6)
    assert len(table) == 0 and table.expired == 1
    assert run.recorder.counters["lb.peak_table_entries"] == 1


def test_idle_established_entry_expires_and_later_packets_are_dropped() -> None:
    """An established connection idle longer than the table's timeout loses its entry."""
    sc = l4_scenario(
        mode="nat",
        per_connection=2,
        think="3s",
        duration="8s",
        extra={"table": {"timeouts": {"established": "1s"}}},
    )
    build = build_variant(sc, "nat")  # type: ignore[arg-type]
    run = build.run()
    first, second = sorted(run.recorder.requests, key=lambda r: r.t_start)[:2]
    assert first.outcome == "ok"
    # The second request on the same connection comes 3 s later: the entry expired
    # after 1 s idle, so the balancer drops its segments and the request never
    # completes (the client's TCP retries until the run ends).
    assert second.outcome != "ok"
    assert build.lb.table.expired >= 1 and build.lb.stray > 0


def test_full_table_refuses_new_connections_with_reset() -> None:
    sc = l4_scenario(
        mode="nat",
        count=6,
        per_connection=1000,
        think="50ms",
        duration="2s",
        extra={"table": {"capacity": 4}},
    )
    build = build_variant(sc, "nat")  # type: ignore[arg-type]
    run = build.run()
    outcomes = Counter(r.outcome for r in run.recorder.requests)
    assert outcomes["ok"] > 0 and outcomes["rejected"] > 0
    assert set(outcomes) <= {"ok", "rejected"}
    refused = [r for r in run.recorder.requests if r.outcome == "rejected"]
    assert all(r.reason == "connection refused (RST)" for r in refused)
    assert build.lb.table.peak == 4
    assert run.recorder.counters["lb.table_refused"] >= 2


def test_table_size_over_time_is_recorded() -> None:
    sc = l4_scenario(mode="nat", count=5, per_connection=1, think="20ms", duration="2s")
    run = run_variant(sc, "nat")  # type: ignore[arg-type]
    series = run.recorder.series["lb.table_entries"]
    assert len(series) > 100
    assert max(v for _, v in series) >= 5


def test_table_snapshot_rows() -> None:
    sc = l4_scenario(mode="nat", count=3, per_connection=100, think="10ms", duration="1s")
    build = build_variant(sc, "nat")  # type: ignore[arg-type]
    build.start()
    build.env.run(until=0.5)
    rows = build.lb.table.snapshot(build.env.now)
    assert len(rows) == 3
    assert {r["state"] for r in rows} == {"ESTABLISHED"}
    assert {"client_ip", "client_port", "backend", "age", "idle", "expires_in"} <= set(rows[0])


# ---------------------------------------------------------------- ports


def test_proxy_port_exhaustion_caps_new_connections_at_ports_over_time_wait() -> None:
    """A scaled-down case of docs/validation.md: 1000 ports and a 10 s TIME_WAIT give 100/s."""
    ports, time_wait, offered = 1000, 10.0, 150.0
    data = {
        "name": "ports",
        "duration": "40s",
        "warmup": "20s",
        "tcp": {"time_wait": f"{time_wait}s"},
        "network": {
            "client_link": {"latency": "1ms", "bandwidth": "1Gbps"},
            "backend_link": {"latency": "0.2ms", "bandwidth": "10Gbps"},
        },
        "backends": [{"group": "api", "workers": 16, "service_time": "exp(2ms)"}],
        "clients": [
            {
                "name": "callers",
                "rate": f"{offered}/s",
                "hosts": 64,
                "requests": [{"path": "/ping", "size": "200B", "response": "500B"}],
            }
        ],
        "balancers": [
            {
                "name": "l4proxy",
                "layer": 4,
                "mode": "proxy",
                "algorithm": "round_robin",
                "source_ports": f"40000-{40000 + ports - 1}",
            },
            {
                "name": "l7pool",
                "layer": 7,
                "algorithm": "round_robin",
                "pool": {"warm": 8},
                "source_ports": f"40000-{40000 + ports - 1}",
            },
        ],
    }
    sc = parse_scenario(data)
    ceiling = ports / time_wait
    window = sc.duration - sc.warmup
    for name, expect_ok in (("l4proxy", ceiling), ("l7pool", offered)):
        build = build_variant(sc, name)
        run = build.run()
        in_window = [r for r in run.recorder.requests if sc.warmup <= r.t_start < sc.duration]
        ok = sum(r.outcome == "ok" for r in in_window) / window
        assert ok == pytest.approx(expect_ok, rel=0.05), name
        failed = [r for r in in_window if r.outcome != "ok"]
        assert all(r.outcome == "error" for r in failed)
    assert run.recorder.counters.get("lb.connect_failures", 0) == 0


# ------------------------------------------------------------------- C10


@pytest.mark.parametrize("mode", ["nat", "proxy", "dsr"])
@pytest.mark.parametrize("protocol", ["raw", "multiplexed"])
def test_raw_and_multiplexed_clients_pass_through_l4(mode: str, protocol: str) -> None:
    sc = l4_scenario(
        mode=mode,
        protocol=protocol,
        count=3,
        per_connection=50,
        think="exp(10ms)",
        duration="1s",
        backends=2,
    )
    run = run_variant(sc, mode)  # type: ignore[arg-type]
    reqs = run.recorder.requests
    assert len(reqs) > 50  # three users, ~30 requests/s each over a 22 ms RTT
    assert all(r.outcome == "ok" for r in reqs)
    if protocol == "raw":
        assert {r.method for r in reqs} == {"RAW"} and {r.status for r in reqs} == {None}


def test_multiplexed_streams_overlap_on_one_connection() -> None:
    sc = scenario(
        duration="2s",
        clients=[
            {
                "name": "svc",
                "count": 1,
                "protocol": "multiplexed",
                "streams": 8,
                "requests_per_connection": 100000,
                "think_time": "exp(5ms)",
                "requests": [{"path": "/rpc", "size": "300B", "response": "300B"}],
            }
        ],
    )
    run = run_variant(sc, "l4")
    reqs = sorted(run.recorder.requests, key=lambda r: r.t_start)
    assert {r.connection for r in reqs} == {"svc-0-c0"}  # one connection for all
    overlapping = sum(1 for a, b in itertools.pairwise(reqs) if b.t_start < a.t_end)
    assert overlapping > len(reqs) / 2  # calls run concurrently on it


def test_layer7_refuses_a_raw_protocol_with_an_explanation() -> None:
    with pytest.raises(ScenarioError) as err:
        scenario(
            clients=[
                {
                    "name": "db",
                    "count": 1,
                    "protocol": "raw",
                    "requests": [{"path": "/q", "response": "1KB"}],
                }
            ]
        )
    assert err.value.path == "balancers.l7.layer"
    assert "C20" in err.value.message and "raw" in err.value.message


# ------------------------------------------------------------------- C13


def test_l4_spends_less_cpu_than_l7_on_the_same_work() -> None:
    sc = scenario(
        duration="3s",
        clients=[
            {
                "name": "c",
                "count": 10,
                "requests_per_connection": 10,
                "think_time": "exp(20ms)",
                "requests": [{"path": "/", "size": "400B", "response": "20KB"}],
            }
        ],
    )
    l4, l7 = (run_variant(sc, v).recorder.counters["lb.cpu_utilization"] for v in ("l4", "l7"))
    assert 0 < l4 < l7 / 2
