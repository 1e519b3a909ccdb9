"""Each bundled scenario names the figures that show its point, and ``lbsim run`` draws them.

Three layers of checks: every bundled scenario lists known figure names (and the
schema rejects unknown ones); a shortened run of every bundled scenario writes
exactly the PNGs it names; for the key figures, the data each figure draws shows
the concept (quickstart: L4 rows one backend, L7 rows several; l4_modes: DSR's
balancer handles far fewer bytes than NAT; slow_clients: broadband latency
protected behind L7; tls_bottleneck: the L7 CPU saturates and completes less
than offered).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml

from lbsim import plots
from lbsim.plots.backend_sequence import backend_sequences, chosen_connections
from lbsim.plots.balancer_load import received_by_balancer
from lbsim.plots.latency_by_client import group_latencies
from lbsim.plots.load_over_time import rates_over_time
from lbsim.plots.outcomes_by_client import outcome_shares
from lbsim.plots.path_groups import route_group_shares
from lbsim.results import Results, build_results, write_outputs
from lbsim.scenario import ScenarioError, list_bundled, load_scenario
from lbsim.scenario.figure_names import DEFAULT_FIGURES, FIGURE_NAMES
from lbsim.scenario.loader import bundled_scenarios_dir
from lbsim.sim import run_scenario

BUNDLED = list_bundled()

# Shortened runs: enough simulated work for each figure's point, seconds of wall time.
SHORT: dict[str, list[str]] = {
    "quickstart": ["duration=6s", "warmup=1s"],
    "l4_modes": ["duration=4s", "warmup=1s"],
    "tls_bottleneck": ["duration=2s", "warmup=0.5s", "clients.newcomers.rate=3000/s"],
    "slow_clients": ["duration=12s", "warmup=2s"],
    "stickiness": ["duration=10s"],
    "grpc_stickiness": ["duration=3s", "warmup=0.5s"],
    "grpc_cycling": ["duration=4s", "warmup=0.5s", "clients.busy.max_connection_age=1s"],
    "scale_out": ["duration=10s", "warmup=1s", "events.0.at=4s"],
    "slow_start": ["duration=6s", "warmup=1s", "events.0.at=3s"],
    "routing": ["duration=4s", "warmup=1s"],
    "cache_auth": ["duration=5s", "warmup=1s"],
    "backend_crash": ["duration=6s", "warmup=1s", "events.0.at=2s", "events.1.at=4s"],
    "lossy_link": ["duration=4s", "warmup=1s"],
    "mtu": ["duration=3s", "warmup=0.5s"],
    "port_exhaustion": ["duration=3s", "warmup=1s", "clients.callers.rate=100/s"],
    "upstream_pool": ["duration=1s"],
    "proxy_cpu": ["duration=3s", "warmup=0.5s"],
    "two_tier": ["duration=2s", "warmup=0.5s"],
    "ecmp_failover": [
        "duration=3s",
        "warmup=0.5s",
        "clients.0.count=60",
        "events.0.at=1s",
        "events.1.at=2s",
    ],
}

_cache: dict[str, Results] = {}


def short_results(name: str) -> Results:
    """Results of a shortened run of bundled scenario ``name`` (computed once)."""
    if name not in _cache:
        scenario = load_scenario(name, SHORT[name])
        _cache[name] = build_results(scenario, run_scenario(scenario))
    return _cache[name]


def test_catalogue_matches_the_schema_names() -> None:
    assert set(plots.CATALOGUE) == set(FIGURE_NAMES)
    assert set(DEFAULT_FIGURES) <= set(FIGURE_NAMES)


def test_every_bundled_scenario_is_shortened_here() -> None:
    assert sorted(SHORT) == sorted(BUNDLED)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_names_known_figures(name: str) -> None:
    raw = yaml.safe_load((bundled_scenarios_dir() / f"{name}.yaml").read_text())
    assert raw.get("figures"), f"{name}.yaml has no figures: key"
    assert set(raw["figures"]) <= set(FIGURE_NAMES)
    assert load_scenario(name).figures == tuple(raw["figures"])


def test_figures_default_and_validation() -> None:
    assert load_scenario(None, ["figures=[latency_cdf]"]).figures == ("latency_cdf",)
    with pytest.raises(ScenarioError) as error:
        load_scenario(None, ["figures=[latency_cdf, latency_plot]"])
    message = str(error.value)
    assert "figures.1" in message and '"latency_plot"' in message and "balancer_load" in message
    with pytest.raises(ScenarioError, match="listed twice"):
        load_scenario(None, ["figures=[stickiness, stickiness]"])


def test_scenario_without_figures_key_draws_the_default() -> None:
    data = yaml.safe_load((bundled_scenarios_dir() / "quickstart.yaml").read_text())
    del data["figures"]
    from lbsim.scenario.schema import Scenario

    assert Scenario.model_validate(data).figures == DEFAULT_FIGURES


@pytest.mark.parametrize("name", BUNDLED)
def test_short_run_writes_exactly_the_named_figures(name: str, tmp_path: Path) -> None:
    results = short_results(name)
    write_outputs(results, tmp_path / "out", extra=plots.figure_writer(results))
    written = sorted(p.name for p in (tmp_path / "out" / "figures").iterdir())
    assert written == sorted(f"{f}.png" for f in load_scenario(name).figures)
    for png in written:
        height, width = matplotlib.image.imread(tmp_path / "out" / "figures" / png).shape[:2]
        assert width >= 1000 and height >= 400


@pytest.mark.parametrize("figure", sorted(FIGURE_NAMES))
def test_every_figure_is_titled_labelled_and_has_a_legend(figure: str) -> None:
    drawn = plots.CATALOGUE[figure](short_results("backend_crash"))
    assert drawn.get_suptitle() or any(
        ax.get_title() or ax.get_title(loc="left") for ax in drawn.axes
    )
    assert drawn.legends or any(ax.get_legend() for ax in drawn.axes)
    for ax in drawn.axes:
        assert ax.get_xlabel() or ax.get_ylabel(), f"{figure}: an axis without labels"


def test_quickstart_l4_rows_one_backend_l7_rows_several() -> None:
    results = short_results("quickstart")
    chosen = chosen_connections(results, 6, 20)
    assert len(chosen) == 6
    for row in backend_sequences(results, "l4", chosen, 20):
        assert len(row) >= 5 and len(set(row)) == 1
    mixed = [len(set(row)) for row in backend_sequences(results, "l7", chosen, 20)]
    assert all(count >= 2 for count in mixed)
    assert sum(mixed) / len(mixed) >= 3  # least-request over 4 backends spreads each row


def test_l4_modes_dsr_balancer_handles_a_fraction_of_nat_bytes() -> None:
    results = short_results("l4_modes")
    load = {v: received_by_balancer(results, v) for v in results.variants}
    nat = load["nat"]["payload.client"] + load["nat"]["payload.backend"]
    dsr = load["dsr"]["payload.client"] + load["dsr"]["payload.backend"]
    # 400 B requests, 20 KB responses: DSR sees only the requests (about 2%).
    assert load["dsr"]["payload.backend"] == 0
    assert dsr < 0.05 * nat
    assert load["dsr"]["payload.client"] == pytest.approx(load["nat"]["payload.client"], rel=0.05)
    for variant in ("proxy", "proxy_cold", "l7"):
        total = load[variant]["payload.client"] + load[variant]["payload.backend"]
        assert total == pytest.approx(nat, rel=0.1)


def test_balancer_load_from_a_segment_trace_counts_only_arrivals() -> None:
    scenario = load_scenario("l4_modes", ["duration=1.5s", "warmup=0.5s"])
    traced = build_results(scenario, run_scenario(scenario, trace_segments=True))
    nat, dsr = (received_by_balancer(traced, v) for v in ("nat", "dsr"))
    assert dsr["segments.backend"] == 0 and nat["segments.backend"] > 0
    assert dsr["segments.client"] == pytest.approx(nat["segments.client"], rel=0.1)
    summary = traced.summary["variants"]["nat"]["segments"]
    # A NAT forwards every segment: what arrives at it is all the client side carries.
    assert nat["segments.client"] + nat["segments.backend"] == pytest.approx(
        summary["client_side"], rel=0.01
    )


def test_slow_clients_broadband_protected_behind_l7() -> None:
    results = short_results("slow_clients")
    l4, l7 = (group_latencies(results, v)["broadband"] for v in ("l4", "l7"))
    assert l4.size > 100 and l7.size > 100
    assert np.percentile(l7, 90) < 0.5 * np.percentile(l4, 90)


def test_tls_overload_shows_offered_above_completed_and_cpu_saturated() -> None:
    results = short_results("tls_bottleneck")
    l4, l7 = (results.summary["variants"][v] for v in ("l4", "l7"))
    assert l7["offered_rps"] == pytest.approx(l4["offered_rps"], rel=0.01)
    assert l7["throughput_rps"] < 0.8 * l7["offered_rps"]
    assert l4["throughput_rps"] == pytest.approx(l4["offered_rps"], rel=0.1)
    assert l7["lb"]["cpu_utilization"] > 0.9 > 0.2 > l4["lb"]["cpu_utilization"]
    rates = rates_over_time(results, "l7", 0.1)
    late = rates[rates.index >= 1.0]
    assert (late["completed"] < late["offered"]).mean() > 0.7


def test_backend_crash_failures_appear_at_the_crash() -> None:
    results = short_results("backend_crash")
    rates = rates_over_time(results, "l4", 0.5)
    before = rates[rates.index < 2.0]["failed"].sum()
    during = rates[(rates.index >= 2.0) & (rates.index < 4.0)]["failed"].sum()
    assert before == 0 and during > 0


def test_routing_l7_sends_each_route_to_one_group() -> None:
    results = short_results("routing")
    l7, l4 = route_group_shares(results, "l7"), route_group_shares(results, "l4")
    assert (l7.max(axis=1) == 1.0).all()
    assert l7.loc["POST /comments", "write"] == 1.0
    assert l4.loc["POST /comments", "write"] < 0.5  # L4 sends writes to every group


def test_cache_auth_l7_refuses_intruders_l4_lets_them_through() -> None:
    results = short_results("cache_auth")
    l4, l7 = outcome_shares(results, "l4"), outcome_shares(results, "l7")
    served = "served by a backend"
    assert l4.loc["intruders", served] == l4.loc["intruders"].sum() > 0
    assert l7.loc["intruders", served] == 0
    assert l7.loc["scraper"].filter(like="403").sum() == l7.loc["scraper"].sum()
    assert l7.loc["members", "answered from the balancer's cache"] > 0


def test_balancer_load_prefers_engine_counters() -> None:
    results = short_results("l4_modes")
    summary = copy.deepcopy(results.summary)
    summary["variants"]["dsr"]["counters"].update(
        {"lb.segments_in.client": 7, "lb.segments_in.backend": 0}
    )
    # The engine records them now; without them (older results) segments are unknown.
    assert "lb.segments_in.client" in summary["variants"]["nat"]["counters"]
    for key in ("lb.segments_in.client", "lb.segments_in.backend"):
        del summary["variants"]["nat"]["counters"][key]
    patched = dataclasses.replace(results, summary=summary)
    load = received_by_balancer(patched, "dsr")
    assert (load["segments.client"], load["segments.backend"]) == (7.0, 0.0)
    assert load["payload.client"] > 0  # still from the connection records
    assert np.isnan(received_by_balancer(patched, "nat")["segments.client"])
