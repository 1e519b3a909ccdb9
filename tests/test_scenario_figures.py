"""Each bundled scenario names the figures that show its point, and ``lbsim run`` draws them.

Three layers of checks: every bundled scenario lists known figure names (and the
schema rejects unknown ones); a shortened run of every bundled scenario writes
exactly the PNGs it names; for the key figures, the data each figure draws shows
the concept (quickstart: L4 rows one backend, L7 rows several; l4_modes: DSR's
balancer handles far fewer bytes than NAT; slow_clients: broadband latency
protected behind L7; tls_bottleneck: the L7 CPU saturates and completes less
than offered, and its built-in load sweep puts the L7 knee where the balancer's
CPU cost per connection says it must be).
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
from lbsim.cli import main
from lbsim.plots.backend_sequence import backend_sequences, chosen_connections
from lbsim.plots.balancer_load import received_by_balancer
from lbsim.plots.client_ip_seen import client_ip_rows
from lbsim.plots.latency_by_client import group_latencies
from lbsim.plots.load_over_time import rates_over_time
from lbsim.plots.offered_load import LoadPoint, latency_vs_offered_load
from lbsim.plots.outcomes_by_client import outcome_shares
from lbsim.plots.path_groups import route_group_shares
from lbsim.report.load_sweep import load_points
from lbsim.results import Results, build_results, write_outputs
from lbsim.scenario import ScenarioError, list_bundled, load_scenario
from lbsim.scenario.figure_names import DEFAULT_FIGURES, FIGURE_NAMES, LOAD_SWEEP_FIGURES
from lbsim.scenario.loader import bundled_scenarios_dir
from lbsim.sim import run_scenario

BUNDLED = list_bundled()

# Shortened runs: enough simulated work for each figure's point, seconds of wall time.
SHORT: dict[str, list[str]] = {
    "quickstart": ["duration=6s", "warmup=1s"],
    "l4_modes": ["duration=4s", "warmup=1s"],
    "tls_bottleneck": ["duration=2s", "warmup=0.5s"],
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
    "client_ip": ["duration=2s", "warmup=0.5s"],
    "mesh": ["duration=2s", "warmup=0.5s"],
    "tls_tiers": ["duration=2s", "warmup=0.5s"],
    "front_health": ["duration=4s", "warmup=1s", "events.0.at=2s"],
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
    assert set(plots.CATALOGUE) | set(LOAD_SWEEP_FIGURES) == set(FIGURE_NAMES)
    assert not set(plots.CATALOGUE) & set(LOAD_SWEEP_FIGURES)
    assert set(DEFAULT_FIGURES) <= set(plots.CATALOGUE)


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
    named = [f for f in load_scenario(name).figures if f not in LOAD_SWEEP_FIGURES]
    assert written == sorted(f"{f}.png" for f in named)  # load-sweep ones: lbsim run
    for png in written:
        height, width = matplotlib.image.imread(tmp_path / "out" / "figures" / png).shape[:2]
        assert width >= 1000 and height >= 400


@pytest.mark.parametrize("figure", sorted(FIGURE_NAMES))
def test_every_figure_is_titled_labelled_and_has_a_legend(figure: str) -> None:
    if figure in LOAD_SWEEP_FIGURES:
        points = [
            LoadPoint(v, f"{v} (L{v[1]})", rate, rate * (0.6 if v == "l7" and rate > 2e3 else 1), p)
            for v in ("l4", "l7")
            for rate, p in ((500.0, 0.05), (1500.0, 0.06), (2500.0, 0.9))
        ]
        drawn = latency_vs_offered_load(points, marked_rps=2000.0)
    else:
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


def test_tls_load_sweep_puts_the_l7_knee_at_its_cpu_capacity() -> None:
    scenario = load_scenario("tls_bottleneck")
    rate = scenario.clients[0].rate or 0.0
    factors = (0.25, 0.75, 1.2)
    found = load_points(scenario, factors=factors)
    assert [p.variant for p in found] == ["l4", "l7"] * len(factors)
    low, below, above = ({p.variant: p for p in found[i : i + 2]} for i in (0, 2, 4))
    # The model's capacity of the one L7 core: connections it completes per second of
    # busy CPU, measured far below the knee (about 0.4 ms of CPU per connection).
    cpu = low["l7"].cpu_utilization
    assert cpu is not None and 0.05 < cpu < 0.5
    capacity = low["l7"].completed_rps / cpu
    assert 0.75 * rate < capacity < rate  # the scenario's rate is just past the L7 knee
    for side in (below, above):  # L4 passes TLS through: it keeps up, latency flat
        assert side["l4"].completed_rps == pytest.approx(side["l4"].offered_rps, rel=0.1)
        assert side["l4"].p99 == pytest.approx(low["l4"].p99, rel=0.1)
    assert below["l7"].completed_rps == pytest.approx(below["l7"].offered_rps, rel=0.1)
    assert (below["l7"].p99 or 0.0) < 2 * (below["l4"].p99 or 0.0)
    assert above["l7"].completed_rps < 1.05 * capacity
    assert (above["l7"].p99 or 0.0) > 5 * (above["l4"].p99 or 0.0)
    assert (above["l7"].cpu_utilization or 0.0) > 0.97


def test_lbsim_run_draws_the_load_sweep_figure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["run", "tls_bottleneck", "--out", str(out), "--set", "clients.newcomers.rate=100/s"]
    assert main([*argv, "--set", "duration=1s", "--set", "warmup=0.2s"]) == 0
    written = sorted(p.name for p in (out / "figures").iterdir())
    assert written == sorted(f"{f}.png" for f in load_scenario("tls_bottleneck").figures)
    assert "latency_vs_load.png" in written


def test_load_sweep_figure_needs_an_open_loop_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--set", "figures=[latency_vs_load]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "figures.0" in err[0] and "clients.*.rate" in err[0]
    assert "Traceback" not in err[0] and not out.exists()


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


def test_client_ip_shows_who_sees_the_client() -> None:
    rows = client_ip_rows(short_results("client_ip"))
    knows = {"nat", "dsr", "proxy_v1", "proxy_v2"}
    assert all(rows.loc[v, "seen_share"] == 1.0 for v in knows)
    assert rows.loc["proxy", "seen_share"] == 0.0 and rows.loc["proxy", "seen"] == "10.0.0.1"
    assert rows.loc["l7_xff", "seen"] == "10.0.0.1" and rows.loc["l7_xff", "xff_share"] == 1.0
    assert rows.loc[list(knows | {"proxy"}), "xff_share"].isna().all()
    assert (rows["served"] > 50).all()
