"""``--set PATH=VALUE`` overrides on raw scenario data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lbsim.scenario import ScenarioError, apply_overrides, parse_scenario
from lbsim.scenario.overrides import parse_override


def test_by_name(example_data: dict[str, Any]) -> None:
    result = apply_overrides(
        example_data, ["balancers.l7.algorithm=random", "clients.browsers.count=200"]
    )
    assert result["balancers"][1]["algorithm"] == "random"
    assert result["clients"][0]["count"] == 200


def test_by_group_name(example_data: dict[str, Any]) -> None:
    result = apply_overrides(example_data, ["backends.pictures.workers=16"])
    assert result["backends"][1]["workers"] == 16


def test_by_index(example_data: dict[str, Any]) -> None:
    result = apply_overrides(example_data, ["clients.0.requests.1.weight=5"])
    assert result["clients"][0]["requests"][1]["weight"] == 5


def test_routes_by_their_group(example_data: dict[str, Any]) -> None:
    result = apply_overrides(example_data, ["balancers.l7.routes.pictures.match.path_prefix=/img/"])
    assert result["balancers"][1]["routes"][0]["match"] == {"path_prefix": "/img/"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("seed=200", 200),
        ("seed=1.5", 1.5),
        ("balancers.l7.algorithm=random", "random"),
        ("warmup=10ms", "10ms"),
        ("backends.web.service_time=lognormal(mean=5ms, cv=2)", "lognormal(mean=5ms, cv=2)"),
        ("clients.bots.rate=80/s", "80/s"),
        ("balancers.l4.groups=[web, pictures]", ["web", "pictures"]),
        (
            "network.client_link={latency: 1ms, bandwidth: 1Gbps}",
            {"latency": "1ms", "bandwidth": "1Gbps"},
        ),
        ("description=", None),
        ("description=null", None),
        ("description='a = b'", "a = b"),
        ("description=yes", "yes"),  # YAML 1.2: only true and false are booleans
        ("description=true", True),
        ("description=1e3", 1000.0),  # YAML 1.2 numbers
        ("description=010", 10),  # ten, never eight
        ("description=0x1F", 31),
        ("description=1:30", "1:30"),  # no sexagesimal numbers
    ],
)
def test_values_are_yaml(example_data: dict[str, Any], text: str, value: object) -> None:
    _, parsed = parse_override(text)
    assert parsed == value
    node: Any = apply_overrides(example_data, [text])
    path = text.partition("=")[0].split(".")
    for segment in path[:-1]:
        node = (
            node[segment]
            if isinstance(node, dict)
            else next(item for item in node if segment in (item.get("name"), item.get("group")))
        )
    assert node[path[-1]] == value


def test_new_keys_and_sections_are_created(example_data: dict[str, Any]) -> None:
    assert "tcp" not in example_data
    result = apply_overrides(
        example_data, ["tcp.initial_window=4", "balancers.l4.costs.per_segment=3us"]
    )
    assert result["tcp"] == {"initial_window": 4}
    assert result["balancers"][0]["costs"] == {"per_segment": "3us"}
    scenario = parse_scenario(result)
    assert scenario.tcp.initial_window == 4
    assert scenario.balancers[0].costs.per_segment == 3e-6


def test_replacing_a_whole_list_item(example_data: dict[str, Any]) -> None:
    result = apply_overrides(
        example_data, ["backends.1={group: pictures, count: 1, service_time: 1ms}"]
    )
    assert result["backends"][1] == {"group": "pictures", "count": 1, "service_time": "1ms"}


def test_later_overrides_win_and_input_is_untouched(example_data: dict[str, Any]) -> None:
    before = copy.deepcopy(example_data)
    result = apply_overrides(
        example_data, ["seed=2", "seed=3", "clients.browsers.requests.0.weight=1"]
    )
    assert result["seed"] == 3
    assert example_data == before
    result["clients"][0]["requests"][0]["weight"] = 99
    assert example_data == before  # a deep copy


def test_overridden_values_are_validated_like_file_values(example_data: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(example_data, source="x.yaml", overrides=["clients.browsers.count=-1"])
    assert str(caught.value) == "x.yaml: clients.browsers.count: must be at least 1, got -1"


def test_unknown_key_through_override(example_data: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(example_data, source="x.yaml", overrides=["network.client_link.jitter=1ms"])
    assert caught.value.path == "network.client_link.jitter"
    assert 'unknown key "jitter"' in caught.value.message


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            "clients.phones.count=3",
            "clients.phones.count",
            '--set: in clients: no item "phones" (available: browsers, bots)',
        ),
        ("clients.7.count=3", "clients.7.count", 'no item "7" (available: browsers, bots)'),
        (
            "backends.web.count.x=3",
            "backends.web.count.x",
            "--set: backends.web.count is a single value, not a mapping or a list, "
            'so it has no "x"',
        ),
        ("name.first=a", "name.first", "--set: name is a single value"),
        (
            "clients.browsers",
            "clients.browsers",
            '--set expects PATH=VALUE (e.g. clients.browsers.count=200), got "clients.browsers"',
        ),
        ("=3", "", "--set expects PATH=VALUE"),
        ("a..b=1", "a..b", "--set: the path has an empty part"),
        ("description=[unclosed", "description", '--set: cannot read the value "[unclosed"'),
    ],
)
def test_override_errors(example_data: dict[str, Any], text: str, path: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        apply_overrides(example_data, [text], source="x.yaml")
    error = caught.value
    assert (error.file, error.path) == ("x.yaml", path)
    assert message in error.message
    assert "\n" not in str(error)


def test_ambiguous_names_need_a_position(example_data: dict[str, Any]) -> None:
    example_data["balancers"][1]["routes"].append({"group": "web"})
    with pytest.raises(ScenarioError, match='2 items are named "web"; use a position instead'):
        apply_overrides(example_data, ["balancers.l7.routes.web.group=pictures"])
    result = apply_overrides(example_data, ["balancers.l7.routes.2.group=pictures"])
    assert result["balancers"][1]["routes"][2]["group"] == "pictures"


def test_empty_list_says_so(example_data: dict[str, Any]) -> None:
    example_data["clients"] = []
    with pytest.raises(ScenarioError, match="none, the list is empty"):
        apply_overrides(example_data, ["clients.browsers.count=1"])


def test_a_single_string_is_not_a_list_of_overrides(example_data: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="not one string"):
        apply_overrides(example_data, "seed=3")
