"""Report figures (lbsim.report) and sweep plots (lbsim.plots sweep modules)."""

from __future__ import annotations

import shlex
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from lbsim import plots
from lbsim.cli import main
from lbsim.plots.balancer_timeseries import (
    Panel,
    balancer_timeseries,
    byte_unit,
    moving_average,
    series,
)
from lbsim.plots.cache_effect import BACKEND_SHARE, cache_effect, with_backend_share
from lbsim.plots.connection_setup import new_connection_latency, setup_parts
from lbsim.plots.connection_table import connection_rate, connection_table, open_connections
from lbsim.plots.imbalance import MAX_MIN_SHARE, imbalance_vs_parameter, with_max_min_share
from lbsim.plots.load_curve import latency_throughput_vs_load
from lbsim.plots.quantities import metric_axis, parameter_axis
from lbsim.plots.segments_per_side import segments_vs_parameter
from lbsim.plots.style import save_figure_as
from lbsim.plots.sweep_metric import metric_vs_parameter
from lbsim.plots.upstream_connects import new_upstream_requests, upstream_connects
from lbsim.report import (
    REGISTRY,
    FigureRegistry,
    Inputs,
    RunData,
    SweepData,
    readme_text,
    regenerate,
)
from lbsim.report.build import compute_run
from lbsim.results import Results
from lbsim.sweep import SweepPlan, SweepTable, load_sweep, run_sweep
from scenarios import tiny_sweep_yaml

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = tiny_sweep_yaml(browsers=3, response="8KB")


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, scenario_path: Path) -> SweepTable:
    """Two replications over keep-alive length and the backend MTU."""
    directory = tmp_path_factory.mktemp("sweep") / "sweep"
    plan = SweepPlan.load(
        scenario_path,
        ["clients.browsers.requests_per_connection=1,10", "network.backend_link.mtu=1500,9000"],
        replications=2,
    )
    run_sweep(plan, directory)
    return load_sweep(directory)


def texts(figure: Figure) -> str:
    """Every title, label, tick and legend text of a figure, joined."""
    found = [figure.get_suptitle()] if figure.get_suptitle() else []
    for ax in figure.axes:
        found += [ax.get_title(loc) for loc in ("left", "center", "right")]
        found += [ax.get_xlabel(), ax.get_ylabel()]
        found += [t.get_text() for t in ax.get_xticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            found += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    for legend in figure.legends:
        found += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    return "\n".join(found)


# --- axis labels and units -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "values", "label", "positions"),
    [
        ("clients.c.rate", ["50/s", "100/s"], "clients.c.rate (per second)", (50.0, 100.0)),
        ("network.client_link.latency", ["10ms", "2s"], "(s)", (0.01, 2.0)),
        ("network.client_link.latency", ["1ms", "20ms"], "(ms)", (1.0, 20.0)),
        ("network.backend_link.bandwidth", ["100Mbps", "1Gbps"], "(Gbps)", (0.1, 1.0)),
        ("network.backend_link.mtu", ["1500", "9000"], "mtu (bytes)", (1500.0, 9000.0)),
        ("balancers.l7.cores", ["1", "2"], "(cores)", (1.0, 2.0)),
    ],
)
def test_parameter_axis_units(
    path: str, values: list[str], label: str, positions: tuple[float, ...]
) -> None:
    axis = parameter_axis(path, values)
    assert not axis.categorical
    assert axis.label.endswith(label)
    assert axis.positions == pytest.approx(positions)


def test_parameter_axis_categorical() -> None:
    axis = parameter_axis("balancers.l7.algorithm", ["random", "p2c"])
    assert axis.categorical and axis.positions == (0.0, 1.0) and axis.ticks == ("random", "p2c")


def test_metric_axis_labels_carry_units_and_scales() -> None:
    assert metric_axis("latency.p99").label == "p99 latency (ms)"
    assert metric_axis("latency.p99").scale == 1e3
    assert metric_axis("lb.cpu_utilization").scale == 100.0
    assert "(%)" in metric_axis("lb.cpu_utilization").label
    assert "web-1" in metric_axis("backend_share.web-1").label
    assert metric_axis("something.new").label == "something.new"


# --- sweep plots -----------------------------------------------------------------------------


def test_metric_vs_parameter_draws_one_line_per_variant_and_combination(
    sweep: SweepTable,
) -> None:
    figure = metric_vs_parameter(sweep, "clients.browsers.requests_per_connection", "latency.p99")
    ax = figure.axes[0]
    assert len(ax.get_lines()) == 2 * 2  # variants × MTU values
    assert len(ax.collections) == 4  # one confidence band per line
    shown = texts(figure)
    assert "p99 latency (ms)" in shown
    assert "requests per connection" in shown
    assert "95% CI" in shown and "network.backend_link.mtu=9000" in shown
    assert ax.get_xscale() == "linear"  # 1 to 10 spans less than a factor of 20
    only = metric_vs_parameter(sweep, "network.backend_link.mtu", "jain_fairness", variants=["l7"])
    assert len(only.axes[0].get_lines()) == 2


def test_report_sweep_figures_draw(sweep: SweepTable) -> None:
    keepalive = "clients.browsers.requests_per_connection"
    ratios = with_max_min_share(sweep).runs[MAX_MIN_SHARE]
    assert (ratios.dropna() >= 1.0).all()
    figure = imbalance_vs_parameter(sweep, keepalive)
    assert len(figure.axes) == 2
    assert "Jain's fairness index" in texts(figure)
    figure = latency_throughput_vs_load(sweep, keepalive, offered_per_unit=2.0)
    shown = texts(figure)
    assert "throughput (successful requests/s)" in shown and "offered load" in shown
    assert figure.axes[0].get_yscale() == "log"
    figure = segments_vs_parameter(sweep, "network.backend_link.mtu")
    assert len(figure.axes) == 2  # one panel per variant
    assert "client side" in texts(figure) and "backend side" in texts(figure)


def test_upstream_connects_finds_the_cold_pool_connects() -> None:
    results = compute_run(RunData("upstream_pool", ("duration=0.3s",)))
    cold = new_upstream_requests(results, "cold")
    warm = new_upstream_requests(results, "warm")
    assert cold["new_upstream"].sum() > warm["new_upstream"].sum() >= 0
    assert cold["new_upstream"].iloc[0]  # the very first request had to connect
    extra = cold.loc[cold["new_upstream"], "forward"].median() - cold["forward"].median()
    assert extra == pytest.approx(0.010, abs=0.002)  # one 10 ms backend round trip
    figure = upstream_connects(results, labels={"cold": "cold pool"})
    assert len(figure.axes) == 3
    assert "cold pool" in texts(figure)


# --- balancer state over time, connection setup, cache -------------------------------------------


@pytest.fixture(scope="module")
def l4_modes() -> Results:
    """A short l4_modes run; its NAT keeps entries 1 s after close, so the table levels off."""
    return compute_run(
        RunData(
            "l4_modes",
            (
                "clients.browsers.count=8",
                "duration=4s",
                "warmup=0.5s",
                "balancers.nat.table.timeouts.time_wait=1s",
            ),
        )
    )


def test_connection_table_outlives_connections_and_levels_off(l4_modes: Results) -> None:
    """C5: entries outlive their connections by TIME_WAIT; Little's law gives the level."""
    times, entries = series(l4_modes, "nat", "lb.table_entries")
    still_open = open_connections(l4_modes, "nat", times)
    assert times.size > 100 and (still_open >= 0).all()
    late = (times >= 2.0) & (times < l4_modes.duration)
    assert entries[late].mean() > 3 * still_open[late].mean()  # most entries: closed connections
    level = connection_rate(l4_modes, "nat") * 1.0  # new connections/s × 1 s TIME_WAIT
    assert entries[late].mean() == pytest.approx(level, rel=0.3)
    _, proxy_entries = series(l4_modes, "proxy", "lb.table_entries")
    assert proxy_entries.max() > 2 * entries.max()  # the proxy's 60 s TCP TIME_WAIT: no expiry yet
    figure = connection_table(
        l4_modes, ["nat", "proxy"], compare=["l7"], linger={"nat": 1.0}, labels={"l7": "the L7"}
    )
    assert len(figure.axes) == 2
    shown = texts(figure)
    assert "Little's law" in shown and "the L7" in shown and "connections.csv" in shown
    with pytest.raises(KeyError, match="no variant"):
        connection_table(l4_modes, ["nope"])


def test_warm_pool_saves_one_backend_round_trip(l4_modes: Results) -> None:
    """C4: a warm pool takes one balancer↔backend round trip (2 × 5 ms) off new connections."""
    connect = {v: float(setup_parts(l4_modes, v)["connect"].median()) for v in l4_modes.variants}
    assert connect["proxy_cold"] - connect["proxy"] == pytest.approx(0.010, abs=0.001)
    assert connect["nat"] - connect["proxy"] == pytest.approx(0.010, abs=0.001)
    assert connect["l7"] == pytest.approx(connect["proxy"], abs=0.001)
    parts = setup_parts(l4_modes, "nat")
    assert len(parts) > 50
    total = parts["connect"] + parts["backend"] + parts["response"]
    assert total.to_numpy() == pytest.approx(parts["latency"].to_numpy())
    figure = new_connection_latency(l4_modes, reference="proxy", labels={"nat": "NAT here"})
    rows = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert rows[0] == "NAT here" and rows[1] == "proxy (L4, round_robin)"
    shown = texts(figure)
    assert "proxy's connect and send" in shown and "latency (ms)" in shown
    with pytest.raises(KeyError, match="no variant"):
        new_connection_latency(l4_modes, variants=["nope"])


def test_balancer_timeseries_units_and_flat_variants(scenario_path: Path) -> None:
    results = compute_run(RunData(str(scenario_path)))
    figure = balancer_timeseries(
        results,
        [
            Panel("lb.cpu_utilization", "CPU busy", unit="%", smooth=0.05, ceiling=100.0),
            Panel("lb.buffer_bytes", "buffered", unit="bytes"),
        ],
    )
    assert len(figure.axes) == 2
    shown = texts(figure)
    assert "CPU busy (%)" in shown and "simulated time (s)" in shown
    assert "l4 (L4, round_robin): 0 at every sample" in shown  # a layer-4 balancer buffers nothing
    assert "moving average" in shown and "warm-up" in shown
    assert byte_unit(2.5e6) == ("MB", 1e6) and byte_unit(999.0) == ("B", 1.0)
    times = np.arange(6) * 0.5
    averaged = moving_average(times, np.array([0.0, 2, 4, 6, 8, 10]), 1.0)
    assert averaged == pytest.approx([0.0, 1, 3, 5, 7, 9])
    with pytest.raises(ValueError, match="unknown unit"):
        Panel("lb.buffer_bytes", "x", unit="furlongs")


CACHED = (
    SCENARIO.replace(
        "      - {method: GET, path: /index.html, size: 400B, response: 8KB}",
        "      - {method: GET, path: /index.html, size: 400B, response: 8KB}\n"
        '      - {method: GET, path: "/pic/{n}", response: 8KB, ids: 40, zipf: 1.1}',
    )
    .replace(
        "  - {name: l7, layer: 7, algorithm: least_request}",
        "  - {name: l7, layer: 7, algorithm: least_request, cache: {size: 20KB, ttl: 30s}}",
    )
    .replace(
        "    think_time: exp(50ms)\n",
        # A shared cache answers only requests without an Authorization header.
        "    think_time: exp(50ms)\n    token: none\n",
    )
)


def test_cache_effect_shows_hits_and_backend_share(tmp_path: Path) -> None:
    path = tmp_path / "cached.yaml"
    path.write_text(CACHED)
    plan = SweepPlan.load(path, ["balancers.l7.cache.size=10KB,200KB"], replications=2)
    run_sweep(plan, tmp_path / "sweep")
    table = with_backend_share(load_sweep(tmp_path / "sweep"))
    runs = table.runs
    l4 = runs[runs["variant"] == "l4"]
    l7 = runs[runs["variant"] == "l7"]
    assert (l4[BACKEND_SHARE] == 1.0).all() and l4["cache.hit_ratio"].isna().all()
    assert (l7[BACKEND_SHARE] < 1.0).all()  # every hit was answered by the balancer
    bigger = l7.groupby("balancers.l7.cache.size")["cache.hit_ratio"].mean()
    assert bigger["200KB"] > bigger["10KB"]
    figure = cache_effect(load_sweep(tmp_path / "sweep"), "balancers.l7.cache.size")
    assert len(figure.axes) == 3
    assert len(figure.axes[0].get_lines()) == 1  # only the variant with a cache has a hit ratio
    shown = texts(figure) + "\n".join(t.get_text() for t in figure.axes[0].texts)
    assert "no cache" in shown and "cache hit ratio" in shown and "(% of requests)" in shown


def test_save_figure_as_is_reproducible_and_checks_the_format(
    sweep: SweepTable, tmp_path: Path
) -> None:
    figure = metric_vs_parameter(sweep, "network.backend_link.mtu", "segments.backend_side")
    first = save_figure_as(figure, tmp_path / "a" / "f.svg").read_bytes()
    second = save_figure_as(figure, tmp_path / "b" / "f.svg").read_bytes()
    assert first == second
    png = save_figure_as(figure, tmp_path / "f.png")
    assert matplotlib.image.imread(png).shape[1] == 7 * 200
    with pytest.raises(ValueError, match="unknown figure format"):
        save_figure_as(figure, tmp_path / "f.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "f.png"]


# --- the registry and the build ----------------------------------------------------------------


def test_registry_entries_are_complete() -> None:
    names = REGISTRY.names()
    assert names[:12] == [
        "latency_cdf",
        "stickiness",
        "imbalance_vs_keepalive",
        "load_knee",
        "segments_vs_mtu",
        "warm_vs_cold_connects",
        "connection_table",
        "l4_warm_pool",
        "tls_knee",
        "cpu_over_time",
        "buffer_over_time",
        "cache_effect",
    ]
    for figure in REGISTRY:
        assert figure.caption and "\n" not in figure.caption
        assert figure.data
        for command in figure.commands():
            assert command.startswith(("lbsim run ", "lbsim sweep "))


def test_registry_data_commands_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    """Every run command passes ``lbsim check``; every sweep's grid validates."""
    for figure in REGISTRY:
        for spec in figure.data.values():
            if isinstance(spec, RunData):
                argv = shlex.split(spec.command())[2:]
                assert main(["check", *argv]) == 0, spec
            else:
                plan = spec.plan()
                assert plan.tasks()
    capsys.readouterr()


def test_registry_refuses_duplicate_names() -> None:
    registry = FigureRegistry()

    @registry.figure("one", caption="c", data={"run": RunData("quickstart")})
    def _one(inputs: Inputs) -> Figure:
        return Figure()

    with pytest.raises(ValueError, match="already registered"):
        registry.figure("one", caption="c", data={})(_one)


def test_regenerate_writes_png_svg_and_readme(scenario_path: Path, tmp_path: Path) -> None:
    registry = FigureRegistry()
    run = RunData(str(scenario_path), ("warmup=0.1s",))
    grid = SweepData(str(scenario_path), ("clients.browsers.count=1,2",), replications=2)

    @registry.figure("cdf", caption="A CDF.", data={"run": run})
    def _cdf(inputs: Inputs) -> Figure:
        return plots.latency_cdf(inputs.run("run"))

    @registry.figure("p99", caption="A sweep.", data={"sweep": grid, "same": run})
    def _p99(inputs: Inputs) -> Figure:
        assert inputs.run("same").scenario == "tiny"
        return metric_vs_parameter(inputs.sweep("sweep"), "clients.browsers.count", "latency.p99")

    progress: list[tuple[int, int]] = []
    reports = regenerate(
        tmp_path / "figs",
        registry=registry,
        progress=lambda p: progress.append((p.done, p.total)),
    )
    assert [r.name for r in reports] == ["cdf", "p99"]
    assert progress[0] == (0, 5) and progress[-1] == (5, 5)  # one run, shared, + 4 sweep runs
    assert reports[0].runs == 1 and reports[1].runs == 5
    assert all(r.compute_seconds > 0 and r.draw_seconds > 0 for r in reports)
    files = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert files == ["README.md", "cdf.png", "cdf.svg", "p99.png", "p99.svg"]
    readme = (tmp_path / "figs" / "README.md").read_text()
    assert readme == readme_text(registry)
    assert "![cdf](cdf.png)" in readme and "A sweep." in readme
    assert "- figure: `lbsim figures --only p99`" in readme
    assert "--grid clients.browsers.count=1,2 --replications 2 --out sweeps/p99" in readme
    svg = (tmp_path / "figs" / "p99.svg").read_bytes()
    regenerate(tmp_path / "figs", registry=registry, only=["p99"])
    assert (tmp_path / "figs" / "p99.svg").read_bytes() == svg
    with pytest.raises(KeyError, match="no report figure"):
        regenerate(tmp_path / "figs", registry=registry, only=["nope"])


def test_committed_figures_match_the_registry() -> None:
    """``figures/`` holds every registered figure and the README ``lbsim figures`` writes."""
    folder = ROOT / "figures"
    readme = folder / "README.md"
    assert readme.exists(), "figures/ is committed; regenerate it with `lbsim figures`"
    stale = "figures/ is out of date with the registry: run `lbsim figures`"
    assert readme.read_text(encoding="utf-8") == readme_text(REGISTRY), stale
    for name in REGISTRY.names():
        for fmt in ("png", "svg"):
            assert (folder / f"{name}.{fmt}").is_file(), f"{name}.{fmt} missing: {stale}"
