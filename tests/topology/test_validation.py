"""Each topology check fails with the key path of the violation (exit 2 on the command line)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbsim.cli import main
from lbsim.scenario import ScenarioError, parse_scenario

Raw = dict[str, Any]
ErrorFor = Callable[[Raw], ScenarioError]


def _topo(raw: Raw) -> Raw:
    topology: Raw = raw["topology"]
    return topology


def _link(raw: Raw, a: str, b: str) -> Raw:
    return next(x for x in _topo(raw)["links"] if x["from"] == a and x["to"] == b)


def test_example_is_valid(raw: Raw) -> None:
    scenario = parse_scenario(raw)
    assert scenario.topology is not None
    assert scenario.topology.variant_tier().name == "proxies"
    assert scenario.topology.reach == "ecmp"


def test_round_trip_through_yaml(raw: Raw) -> None:
    scenario = parse_scenario(raw)
    again = parse_scenario(yaml.safe_load(scenario.to_yaml()))
    assert again == scenario
    assert "from: site-east" in scenario.to_yaml()


def test_without_topology_nothing_changes(raw: Raw) -> None:
    del raw["topology"]
    scenario = parse_scenario(raw)
    assert scenario.topology is None
    assert "\ntopology:" not in scenario.to_yaml()


def _break(raw: Raw, how: str) -> None:
    """Apply one violation to the example (see the cases below)."""
    topo = _topo(raw)
    if how == "unknown link end":
        _link(raw, "edge", "maglev")["to"] = "nowhere"
    elif how == "self loop":
        _link(raw, "edge", "maglev")["to"] = "edge"
    elif how == "duplicate node":
        topo["routers"][0]["name"] = "maglev"
    elif how == "no variant tier":
        topo["tiers"][1]["balancer"] = {"layer": 7, "algorithm": "round_robin"}
    elif how == "two variant tiers":
        topo["tiers"][0]["balancer"] = "variant"
    elif how == "named inline balancer":
        topo["tiers"][0]["balancer"]["name"] = "x"
    elif how == "bad inline balancer":
        topo["tiers"][0]["balancer"]["algorithm"] = "no_such_algorithm"
    elif how == "vip with instances":
        topo["tiers"][0]["reach"] = "vip"
    elif how == "reach on later tier":
        topo["tiers"][1]["reach"] = "dns"
    elif how == "unknown client group":
        topo["sites"][0]["clients"] = ["east", "north"]
    elif how == "client group twice":
        topo["sites"][1]["clients"] = ["west", "east"]
    elif how == "client group in no site":
        raw["clients"].append({**raw["clients"][1], "name": "north"})
    elif how == "unknown backend group":
        topo["services"][1]["groups"] = ["images"]
    elif how == "link into a site":
        topo["links"].append({"from": "edge", "to": "site-east"})
    elif how == "link out of a service":
        topo["links"].append({"from": "api", "to": "edge"})
    elif how == "not connected":
        topo["routers"].append({"name": "spare"})
    elif how == "forwarding loop":
        topo["routers"].append({"name": "core"})
        topo["links"] += [{"from": "edge", "to": "core"}, {"from": "core", "to": "edge"}]
    elif how == "site cannot reach first tier":
        topo["routers"].append({"name": "west-edge"})
        _link(raw, "site-west", "edge")["to"] = "west-edge"
        topo["links"].append({"from": "west-edge", "to": "proxies"})
    elif how == "tier cannot reach next tier":
        _link(raw, "maglev", "proxies")["from"] = "edge"
    elif how == "last tier cannot reach a service":
        _link(raw, "proxies", "static")["from"] = "maglev"
    elif how == "ecmp without a router":
        _link(raw, "edge", "maglev")["from"] = "site-east"
        _link(raw, "site-west", "edge")["to"] = "maglev"
        topo["routers"] = []
        topo["links"] = [x for x in topo["links"] if x["to"] != "edge"]
    else:  # pragma: no cover - a typo in a case below
        raise AssertionError(how)


CASES = [
    ("unknown link end", "topology.links.2.to", 'no node "nowhere"'),
    ("self loop", "topology.links.2.to", "two different nodes"),
    ("duplicate node", "topology.tiers.maglev.name", "node names must be unique"),
    ("no variant tier", "topology.tiers", "exactly one tier"),
    ("two variant tiers", "topology.tiers", "found maglev, proxies"),
    ("named inline balancer", "topology.tiers.maglev.balancer.name", "named after its tier"),
    ("bad inline balancer", "topology.tiers.maglev.balancer.algorithm", "no_such_algorithm"),
    ("vip with instances", "topology.tiers.maglev.reach", "single VIP"),
    ("reach on later tier", "topology.tiers.proxies.reach", "only the first tier"),
    ("unknown client group", "topology.sites.site-east.clients.1", 'no client group "north"'),
    ("client group twice", "topology.sites.site-west.clients.1", "already in site"),
    ("client group in no site", "topology.sites", '"north" is in no site'),
    ("unknown backend group", "topology.services.static.groups.0", 'no backend group "images"'),
    ("link into a site", "topology.links.6.to", "client site"),
    ("link out of a service", "topology.links.6.from", "is a service"),
    ("not connected", "topology.routers.spare", "not connected"),
    ("forwarding loop", "topology.links.7", "forwarding loop edge -> core -> edge"),
    ("site cannot reach first tier", "topology.sites.site-west", 'to the first tier "maglev"'),
    ("tier cannot reach next tier", "topology.tiers.maglev", 'next tier "proxies"'),
    ("last tier cannot reach a service", "topology.tiers.proxies", 'service "static"'),
    ("ecmp without a router", "topology.tiers.maglev.reach", "ECMP hashes flows at a router"),
]


@pytest.mark.parametrize(("how", "path", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_violation_names_its_key_path(
    raw: Raw, error_for: ErrorFor, how: str, path: str, words: str
) -> None:
    _break(raw, how)
    err = error_for(raw)
    assert err.path == path, str(err)
    assert words in err.message, str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize("how", ["forwarding loop", "not connected", "unknown link end"])
def test_command_line_exits_2_naming_the_path(
    raw: Raw, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    _break(raw, how)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    expected = dict((c[0], c[1]) for c in CASES)[how]
    assert f"{path}: {expected}:" in err
    assert "Traceback" not in err
