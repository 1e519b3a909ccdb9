"""Shared fixtures for the scenario tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbsim.scenario import ScenarioError, parse_scenario

DATA = Path(__file__).parent / "data"

ErrorFor = Callable[..., ScenarioError]


@pytest.fixture
def data_dir() -> Path:
    """The folder of example scenario files used by these tests."""
    return DATA


@pytest.fixture
def example_path() -> Path:
    """A realistic scenario shaped like the bundled quickstart."""
    return DATA / "quickstart_like.yaml"


@pytest.fixture
def example_data(example_path: Path) -> dict[str, Any]:
    """The raw data of the example scenario (a fresh copy for each test)."""
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def error_for(example_data: dict[str, Any]) -> ErrorFor:
    """``error_for("PATH=VALUE", ...)``: the ScenarioError the overrides provoke.

    ``error_for(data=...)`` validates other raw data instead of the example.
    """

    def provoke(*overrides: str, data: dict[str, Any] | None = None) -> ScenarioError:
        raw = example_data if data is None else data
        with pytest.raises(ScenarioError) as caught:
            parse_scenario(raw, source="example.yaml", overrides=list(overrides))
        return caught.value

    return provoke


def minimal_data(**changes: Any) -> dict[str, Any]:
    """The smallest valid raw scenario, with top-level keys replaced by ``changes``."""
    data: dict[str, Any] = {
        "name": "minimal",
        "duration": "10s",
        "network": {
            "client_link": {"latency": "1ms", "bandwidth": "1Gbps"},
            "backend_link": {"latency": "0", "bandwidth": "10Gbps"},
        },
        "backends": [{"group": "web", "service_time": "exp(5ms)"}],
        "clients": [{"name": "users", "count": 1, "requests": [{"path": "/", "response": "1KB"}]}],
        "balancers": [{"name": "lb", "layer": 4, "algorithm": "round_robin"}],
    }
    data.update(changes)
    return data


@pytest.fixture
def minimal() -> Callable[..., dict[str, Any]]:
    """``minimal(**changes)``: the smallest valid raw scenario, top-level keys replaced."""
    return minimal_data
