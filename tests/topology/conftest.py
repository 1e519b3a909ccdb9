"""Shared fixtures of the topology tests: the two-tier example as raw data."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbsim.scenario import Scenario, ScenarioError, parse_scenario

TWO_TIER = Path(__file__).resolve().parents[2] / "scenarios" / "two_tier.yaml"

Raw = dict[str, Any]


@pytest.fixture
def raw() -> Raw:
    """The two-tier example scenario as raw data (a fresh copy per test)."""
    return copy.deepcopy(yaml.safe_load(TWO_TIER.read_text(encoding="utf-8")))


@pytest.fixture
def error_for() -> Callable[[Raw], ScenarioError]:
    """Validate raw data and return the ScenarioError it must raise."""

    def check(data: Raw) -> ScenarioError:
        with pytest.raises(ScenarioError) as info:
            parse_scenario(data, source="t.yaml")
        return info.value

    return check


@pytest.fixture
def two_tier(raw: Raw) -> Scenario:
    return parse_scenario(raw)
