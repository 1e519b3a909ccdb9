"""The scenario reference documents every key of the topology models; the figure draws."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image
import pytest
from pydantic import BaseModel

from lbsim.plots import CATALOGUE, write_figures
from lbsim.results import build_results
from lbsim.scenario import Scenario, load_scenario, topology
from lbsim.scenario.topology_graph import build_graph, star_topology

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "scenario.md"
MODELS = [
    topology.TopologyConfig,
    topology.ClientSite,
    topology.Router,
    topology.TierConfig,
    topology.ServiceConfig,
    topology.TopologyLink,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_key_has_a_table_row(model: type[BaseModel]) -> None:
    page = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"^## `{model.__name__}`[^\n]*$(.*?)(?=^## )", page, re.M | re.S)
    assert match, f"no section for {model.__name__}"
    for name, info in model.model_fields.items():
        key = info.alias or name
        assert f"| `{key}` |" in match.group(1), f"{model.__name__}.{key} has no row"


def test_star_is_drawn_as_a_graph_of_the_scenario() -> None:
    scenario = load_scenario("routing")
    graph = build_graph(star_topology(scenario))
    kinds = dict(graph.nodes(data="kind"))
    assert kinds["balancer"] == "tier"
    assert sorted(n for n, k in kinds.items() if k == "service") == sorted(
        g.group for g in scenario.backends
    )
    assert all(graph.has_edge("balancer", g.group) for g in scenario.backends)
    latency = graph.edges["balancer", scenario.backends[0].group]["latency"]
    assert latency == scenario.network.backend_link.latency


def test_topology_figure_is_written_from_results(two_tier: Scenario, tmp_path: Path) -> None:
    assert "topology" in CATALOGUE
    results = build_results(two_tier, [])
    assert results.topology == two_tier.topology
    (png,) = write_figures(results, tmp_path, ["topology"])
    height, width = matplotlib.image.imread(png).shape[:2]
    assert png.name == "topology.png" and width > 1000 and height > 500
