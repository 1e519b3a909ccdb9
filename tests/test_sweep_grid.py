"""Sweep grids and plans (lbsim.sweep.grid, lbsim.sweep.plan): parsing, expansion, seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbsim.scenario import ScenarioError
from lbsim.sweep import (
    GridAxis,
    GridError,
    SweepPlan,
    expand_grid,
    parse_grid,
    parse_range,
    replication_seed,
    run_key,
)
from lbsim.sweep.grid import split_values
from scenarios import tiny_sweep_yaml

SCENARIO = tiny_sweep_yaml(seed=7)


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


# --- value lists and ranges ------------------------------------------------------------


def test_split_values_keeps_bracketed_and_quoted_commas() -> None:
    text = 'exp(5ms),lognormal(mean=20ms, cv=0.5),[a, b],{latency: 1ms, mtu: 9000},"x,y"'
    assert split_values(text) == [
        "exp(5ms)",
        "lognormal(mean=20ms, cv=0.5)",
        "[a, b]",
        "{latency: 1ms, mtu: 9000}",
        '"x,y"',
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100:1000:100", [str(v) for v in range(100, 1001, 100)]),
        ("1:10:4", ["1", "5", "9"]),  # STOP is included only when a step lands on it
        ("0.1:0.3:0.1", ["0.1", "0.2", "0.3"]),  # decimal, no 0.30000000000000004
        ("5:1:-2", ["5", "3", "1"]),
        ("10ms:30ms:10ms", ["10ms", "20ms", "30ms"]),
        ("100:300:100/s", ["100/s", "200/s", "300/s"]),  # one unit, written once
        ("1e3:3e3:1e3", ["1000", "2000", "3000"]),
        ("7:7:1", ["7"]),
    ],
)
def test_parse_range(text: str, expected: list[str]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1:10", "expected START:STOP:STEP"),
        ("1:10:2:3", "expected START:STOP:STEP"),
        ("a:b:c", "malformed range"),
        ("1::2", "malformed range"),
        ("1:10:0", "must not be 0"),
        ("10:1:1", "is empty"),
        ("10ms:1s:10ms", "mixes units"),
        ("0:1000000:1", "at most"),
    ],
)
def test_malformed_ranges(text: str, fragment: str) -> None:
    with pytest.raises(GridError) as caught:
        parse_range(text, "clients.browsers.count")
    message = str(caught.value)
    assert message.startswith("--grid: clients.browsers.count: ")
    assert fragment in message
    assert "\n" not in message


# --- --grid options ----------------------------------------------------------------------


def test_parse_grid_mixes_values_and_ranges() -> None:
    axis = parse_grid(" clients.browsers.count = 1,5:7:1, 20")
    assert axis == GridAxis("clients.browsers.count", ("1", "5", "6", "7", "20"))
    assert axis.spec == "clients.browsers.count=1,5,6,7,20"
    assert [axis.parsed(v) for v in axis.values[:2]] == [1, 5]
    assert parse_grid("balancers.l7.algorithm=random,p2c").values == ("random", "p2c")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("clients.browsers.count", "expected PATH=V1,V2"),
        ("=1,2", "expected PATH=V1,V2"),
        ("clients..count=1", "empty part"),
        ("clients.browsers.count=1,,2", "empty value"),
        ("clients.browsers.count=", "empty value"),
        ("clients.browsers.count=1,2,1", 'value "1" appears twice'),
        ("clients.browsers.count=1:3:1,2", 'value "2" appears twice'),
        ("seed=1,2", "--replications"),
    ],
)
def test_bad_grid_options(text: str, fragment: str) -> None:
    with pytest.raises(GridError) as caught:
        parse_grid(text)
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("--grid: ")


def test_expand_grid_is_the_cartesian_product_first_axis_slowest() -> None:
    axes = [parse_grid("a=1,2"), parse_grid("b=x,y,z")]
    points = expand_grid(axes)
    assert [p.index for p in points] == list(range(6))
    assert [p.overrides() for p in points[:4]] == [
        ["a=1", "b=x"],
        ["a=1", "b=y"],
        ["a=1", "b=z"],
        ["a=2", "b=x"],
    ]
    assert points[5].label() == "a=2, b=z"


def test_expand_grid_without_axes_is_one_empty_point() -> None:
    (point,) = expand_grid([])
    assert point.overrides() == [] and point.label() == "(no grid)"


def test_expand_grid_rejects_a_path_swept_twice_and_huge_grids() -> None:
    with pytest.raises(GridError, match="swept twice"):
        expand_grid([parse_grid("a=1,2"), parse_grid("a=3")])
    big = [parse_grid("a=1:200:1"), parse_grid("b=1:200:1")]
    with pytest.raises(GridError, match="40000 points"):
        expand_grid(big)


# --- seeds and identities ------------------------------------------------------------------


def test_replication_seeds_are_reproducible_distinct_and_start_at_the_scenario_seed() -> None:
    seeds = [replication_seed(7, r) for r in range(50)]
    assert seeds[0] == 7
    assert seeds == [replication_seed(7, r) for r in range(50)]
    assert len(set(seeds)) == 50
    assert all(0 <= s < 2**31 for s in seeds)
    assert replication_seed(8, 1) != seeds[1]


def test_run_key_ignores_axis_order() -> None:
    assert run_key([("a", "1"), ("b", "2")], 3) == run_key({"b": "2", "a": "1"}, 3)
    assert run_key([("a", "1")], 3) != run_key([("a", "1")], 4)


# --- plans: validation up front ----------------------------------------------------------


def test_plan_tasks_carry_overrides_seeds_and_identities(scenario_file: Path) -> None:
    plan = SweepPlan.load(
        scenario_file,
        ["clients.browsers.count=1,2", "balancers.l7.algorithm=random,round_robin"],
        overrides=["duration=0.5s"],
        replications=3,
    )
    assert plan.name == "tiny" and plan.seed == 7 and plan.variants == ("l4", "l7")
    tasks = plan.tasks()
    assert len(tasks) == 4 * 3
    first = tasks[0]
    assert first.overrides == (
        "duration=0.5s",
        "clients.browsers.count=1",
        "balancers.l7.algorithm=random",
    )
    assert [t.seed for t in tasks[:3]] == plan.seeds() == [replication_seed(7, r) for r in range(3)]
    assert len({t.key for t in tasks}) == len(tasks)
    scenario = first.scenario()
    assert scenario.seed == 7 and scenario.clients[0].count == 1
    assert scenario.balancers[1].algorithm == "random"


def test_plan_seed_option_replaces_the_first_replication_seed(scenario_file: Path) -> None:
    plan = SweepPlan.load(scenario_file, [], seed=11, replications=2)
    assert plan.seeds() == [11, replication_seed(11, 1)]
    assert len(plan.tasks()) == 2


def test_fingerprint_covers_data_overrides_and_seed(scenario_file: Path) -> None:
    base = SweepPlan.load(scenario_file, ["clients.browsers.count=1,2"])
    assert base.fingerprint() == SweepPlan.load(scenario_file, ["warmup=0.1s,0.3s"]).fingerprint()
    assert base.fingerprint() != SweepPlan.load(scenario_file, seed=8).fingerprint()
    assert (
        base.fingerprint() != SweepPlan.load(scenario_file, overrides=["warmup=0.1s"]).fingerprint()
    )


@pytest.mark.parametrize(
    ("grid", "fragments"),
    [
        (["clients.browsers.cout=1,2"], ["clients.browsers.cout", 'unknown key "cout"', "--grid"]),
        (["clients.nobody.count=1"], ["clients.nobody.count", "--grid:", "browsers"]),
        (["clients.browsers.count=1,many"], ["clients.browsers.count", "whole number"]),
        (["duration=1s,2 parsecs"], ["duration", "parsecs"]),
        (["balancers.l7.algorithm=two_choices"], ["balancers.l7.algorithm", "layer-7"]),
        # each value is fine alone; the combination is not (warm must not exceed max)
        (
            ["balancers.l7.pool.warm=1,8", "balancers.l7.pool.max=4,16"],
            [
                "balancers.l7.pool.warm",
                "must not exceed max",
                "pool.warm=8, balancers.l7.pool.max=4",
            ],
        ),
    ],
)
def test_bad_grid_points_are_rejected_before_running(
    scenario_file: Path, grid: list[str], fragments: list[str]
) -> None:
    with pytest.raises(ScenarioError) as caught:
        SweepPlan.load(scenario_file, grid)
    message = str(caught.value)
    assert message.startswith(str(scenario_file))
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_plan_rejects_zero_replications(scenario_file: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SweepPlan.load(scenario_file, [], replications=0)
