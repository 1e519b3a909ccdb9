"""The reference page documents every key, algorithm, distribution family and unit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from lbsim.scenario import FAMILIES, L4_ALGORITHMS, L7_ALGORITHMS, faults, features, schema
from lbsim.scenario.units import BANDWIDTH_UNITS, DURATION_UNITS, SIZE_UNITS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "scenario.md"
MODELS = [
    value
    for module in (schema, features, faults)
    for value in vars(module).values()
    if isinstance(value, type)
    and issubclass(value, BaseModel)
    and value.__module__ == module.__name__
    and not value.__name__.startswith("_")
]


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def _section(page: str, model: type[BaseModel]) -> str:
    match = re.search(rf"^#+ [^\n]*`{model.__name__}`[^\n]*$(.*?)(?=^#+ |\Z)", page, re.M | re.S)
    assert match, f"no section for {model.__name__}"
    return match.group(1)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_key_has_a_table_row(page: str, model: type[BaseModel]) -> None:
    section = _section(page, model)
    for key in model.model_fields:
        assert re.search(rf"^\| `{key}` \|", section, re.M), f"{model.__name__}.{key}"


def test_algorithms_families_and_units_are_listed(page: str) -> None:
    for word in (*L4_ALGORITHMS, *L7_ALGORITHMS, *FAMILIES):
        assert f"`{word}`" in page, word
    for unit in (*DURATION_UNITS, *SIZE_UNITS, *BANDWIDTH_UNITS):
        assert f"`{unit}`" in page, unit
