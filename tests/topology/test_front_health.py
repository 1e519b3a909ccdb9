"""A tier in front health-checks the next tier's instances and stops sending to a failed one.

An instance of the next tier fails dark (``mode: silent``) at ``T``. Each instance
of the tier in front probes it every ``interval`` (probes of the three instances
spread over the interval) and marks it down at its ``fall``-th failed probe in a
row; a dark instance fails each probe at its ``timeout``, and the first probe
after ``T`` starts within one interval, so the detection time ``D`` of each
prober lies in ``[T + (fall-1)*interval + timeout, T + fall*interval + timeout]``.

* after ``D`` that prober sends nothing more to the failed instance (0 picks);
* between ``T`` and ``D`` it keeps sending as before: an L7 round robin over
  three instances gives it exactly a third of its picks in the window (within
  one), which is also the prober's request rate before ``T`` times ``(D - T)/3``
  within three standard deviations of a Poisson count (one request per
  connection, so requests arrive open loop); a Maglev L4 tier sends it its
  table's share of the new connections in the window (its slice of the hash
  space, about a third), within three binomial standard deviations.
"""

from __future__ import annotations

import math

import pytest

from lbsim.records import DecisionRecord
from lbsim.run.runs import build_variant
from lbsim.run.tier_health import HealthFleet
from lbsim.run.tiers import TieredBuild
from lbsim.scenario import ScenarioError, load_scenario

T, INTERVAL, TIMEOUT, FALL = 1.5, 0.3, 0.2, 3
CHECK = f"{{interval: {INTERVAL}s, timeout: {TIMEOUT}s, fall: {FALL}}}"
EARLIEST, LATEST = T + (FALL - 1) * INTERVAL + TIMEOUT, T + FALL * INTERVAL + TIMEOUT
PICKS = ("l7_pick", "rule_match", "retry", "table_miss")
#: One request per connection: requests arrive as the connections do, open loop, so a
#: request stalled on the dark instance does not hold back the next (as it would on
#: a keep-alive connection) and the rate before ``T`` holds in the window.
OPEN_LOOP = [
    "clients.east.requests_per_connection=1",
    "clients.west.requests_per_connection=1",
    "clients.east.rate=600/s",
    "clients.west.rate=300/s",
]


def _run(name: str, variant: str, overrides: list[str]) -> TieredBuild:
    sc = load_scenario(name, ["duration=4s", "warmup=0.5s", *overrides])
    build = build_variant(sc, variant, trace_segments=True)  # records every pick
    assert isinstance(build, TieredBuild)
    build.run()
    return build


def _picks(build: TieredBuild, device: str) -> list[DecisionRecord]:
    return [d for d in build.recorder.decisions if d.device == device and d.reason in PICKS]


def _detections(build: TieredBuild, failed: str) -> dict[str, float]:
    assert isinstance(build.health, HealthFleet)
    out = {}
    for name, checker in build.health.checkers.items():
        downs = [t for t, backend, healthy in checker.transitions if backend == failed]
        if downs:
            assert len(downs) == 1 and not any(
                healthy for _, b, healthy in checker.transitions if b == failed
            )
            out[name] = downs[0]
    return out


@pytest.fixture(scope="module")
def edge() -> TieredBuild:
    return _run(
        "mesh",
        "round_robin",
        [
            *OPEN_LOOP,
            f"topology.tiers.edge-proxies.balancer.health_check={CHECK}",
            f"events=[{{at: {T}s, action: fail_instance, instance: sidecars-2, mode: silent}}]",
        ],
    )


def test_an_l7_edge_stops_sending_to_a_failed_sidecar_after_its_checks_fail(
    edge: TieredBuild,
) -> None:
    detected = _detections(edge, "sidecars-2")
    assert set(detected) == {"edge-proxies-1", "edge-proxies-2"}
    for device, d in detected.items():
        assert EARLIEST - 1e-9 <= d <= LATEST + 1e-9
        picks = _picks(edge, device)
        assert not [p for p in picks if p.time > d and p.backend == "sidecars-2"]
        window = [p for p in picks if T <= p.time < d]
        to_failed = sum(p.backend == "sidecars-2" for p in window)
        assert abs(to_failed - len(window) / 3) <= 1  # round robin: a third, within one
        rate = sum(0.5 <= p.time < T for p in picks) / (T - 0.5)
        expected = rate * (d - T) / 3
        assert abs(to_failed - expected) <= 3 * math.sqrt(expected)
        assert to_failed > 20  # enough work for the tolerance to mean something
    # Every tier instance that was not failed kept getting work after detection.
    late = {p.backend for p in _picks(edge, "edge-proxies-1") if p.time > max(detected.values())}
    assert late == {"sidecars-1", "sidecars-3"}


def test_without_checks_the_tier_in_front_stops_at_once() -> None:
    build = _run(
        "mesh",
        "round_robin",
        [f"events=[{{at: {T}s, action: fail_instance, instance: sidecars-2, mode: silent}}]"],
    )
    for device in ("edge-proxies-1", "edge-proxies-2"):
        assert not [p for p in _picks(build, device) if p.time > T and p.backend == "sidecars-2"]


def test_a_maglev_tier_stops_placing_connections_on_a_failed_proxy() -> None:
    build = _run(
        "two_tier",
        "round_robin",
        [
            f"topology.tiers.maglev.balancer.health_check={CHECK}",
            f"events=[{{at: {T}s, action: fail_instance, instance: proxies-2, mode: silent}}]",
        ],
    )
    detected = _detections(build, "proxies-2")
    assert set(detected) == {"maglev-1", "maglev-2"}
    for device, d in detected.items():
        assert EARLIEST - 1e-9 <= d <= LATEST + 1e-9
        picks = _picks(build, device)
        assert not [p for p in picks if p.time > d and p.backend == "proxies-2"]
        lb = next(x for x in build.tiers["maglev"] if x.name == device)
        table = lb.algorithm.lookup_table(lb.backends)  # type: ignore[attr-defined]
        share = table.count("proxies-2") / len(table)  # its slice of the hash space
        assert share == pytest.approx(1 / 3, abs=0.01)
        window = [p for p in picks if T <= p.time < d]
        to_failed = sum(p.backend == "proxies-2" for p in window)
        expected = share * len(window)
        assert abs(to_failed - expected) <= 3 * math.sqrt(expected * (1 - share))
        assert to_failed > 10


def test_probes_are_tcp_connects_http_is_refused_on_a_tier_in_front() -> None:
    from lbsim.sim import check_buildable

    sc = load_scenario("mesh", ["balancers.round_robin.health_check={kind: http}"])
    check_buildable(sc)  # the last tier: http probes of the backends
    sc = load_scenario("mesh", ["topology.tiers.edge-proxies.balancer.health_check={kind: http}"])
    with pytest.raises(ScenarioError) as info:
        check_buildable(sc)
    assert info.value.path == "topology.tiers.0.balancer.health_check.kind"
