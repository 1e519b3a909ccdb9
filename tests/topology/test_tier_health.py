"""Health checks and scaling of backends in a topology: the last tier's instances each
check the backends, and all of them see backends added and removed (issue 16)."""

from __future__ import annotations

from collections import Counter

from lbsim.net.addresses import ip_to_str
from lbsim.run.runs import build_variant
from lbsim.run.tier_health import HealthFleet
from lbsim.run.tiers import TieredBuild
from lbsim.scenario import load_scenario

SHORT = ["duration=4s", "warmup=0.5s"]
CHECK = "balancers.round_robin.health_check={interval: 0.25s, timeout: 0.2s, fall: 2, rise: 2}"


def _run(*overrides: str) -> TieredBuild:
    build = build_variant(load_scenario("two_tier", [*SHORT, *overrides]), "round_robin")
    assert isinstance(build, TieredBuild)
    build.run()
    return build


def test_every_instance_checks_and_marks_a_crashed_backend_down() -> None:
    crash_at = 1.0
    build = _run(
        CHECK, f"events=[{{at: {crash_at}s, action: crash, backend: api-1, mode: silent}}]"
    )
    health = build.health
    assert isinstance(health, HealthFleet)
    assert set(health.checkers) == {"proxies-1", "proxies-2", "proxies-3"}
    # Each instance probes from its own address and marks its own ref down after
    # `fall` failed probes: at most fall x interval + timeout after the crash.
    for name, checker in health.checkers.items():
        down = [t for t, backend, up in checker.transitions if backend == "api-1" and not up]
        assert len(down) == 1, name
        assert crash_at < down[0] <= crash_at + 2 * 0.25 + 0.2 + 0.25, (name, down)
        assert checker.checks > 0 and checker.failures >= 2
    counters = build.recorder.counters
    assert counters["health.transitions"] == 3
    assert counters["health.checks"] == sum(c.checks for c in health.checkers.values())
    # After every instance has seen it down, no request is sent to api-1.
    last_down = max(t for t, backend, up in health.transitions if backend == "api-1")
    late = [r for r in build.recorder.requests if r.backend == "api-1" and r.t_start > last_down]
    assert late == []


def test_every_instance_uses_an_added_backend_and_drains_a_removed_one() -> None:
    build = _run(
        "events=[{at: 1s, action: add_backend, group: api}, "
        "{at: 1s, action: remove_backend, backend: api-1}]"
    )
    rows = build.recorder.requests
    assert "api-4" in build.eligible
    served = Counter(r.backend for r in rows if r.t_start > 1.1)
    assert served["api-4"] > 50
    assert served["api-1"] == 0
    # Each proxy instance reached the new backend from its own address.
    new_ip = ip_to_str(next(ref.ip for ref in build.refs if ref.name == "api-4"))
    sources = {
        r.src.split(":")[0]
        for r in build.recorder.connections
        if r.side == "backend" and r.dst.split(":")[0] == new_ip
    }
    assert sources == {"172.16.2.1", "172.16.2.2", "172.16.2.3"}
    assert {r.outcome for r in rows} == {"ok"}
