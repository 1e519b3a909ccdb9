"""Registry, parameter validation and properties common to every algorithm."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lbsim.lb.algorithms as algorithms_package
from lbsim.lb.algorithms import (
    ALGORITHMS_BY_LAYER,
    Algorithm,
    algorithm_class,
    make_algorithm,
)
from lbsim.scenario import L4_ALGORITHMS, L7_ALGORITHMS

L4 = ALGORITHMS_BY_LAYER[4]
L7 = ALGORITHMS_BY_LAYER[7]
ALL = [(name, 4) for name in L4] + [(name, 7) for name in L7]
HASHING = [
    ("source_hash", 4),
    ("consistent_hash", 4),
    ("consistent_hash", 7),
    ("maglev", 4),
    ("maglev", 7),
]
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "scenario.md"


# --- the registry is the one definition of the names ----------------------------------


def test_the_registry_offers_these_names():
    assert set(L4) == {
        "round_robin", "weighted_round_robin", "least_connections", "random",
        "two_choices", "source_hash", "consistent_hash", "maglev",
    }  # fmt: skip
    assert set(L7) == {
        "round_robin", "weighted_round_robin", "random", "least_request", "p2c",
        "peak_ewma", "consistent_hash", "maglev",
    }  # fmt: skip


def test_scenario_schema_takes_the_names_from_the_registry():
    assert L4_ALGORITHMS == L4
    assert L7_ALGORITHMS == L7


def test_scenario_reference_lists_exactly_the_registry_names_per_layer():
    text = REFERENCE.read_text(encoding="utf-8")
    for layer, names in ALGORITHMS_BY_LAYER.items():
        row = re.search(rf"^\| {layer} \| (.*) \|$", text, re.M)
        assert row, f"no algorithm row for layer {layer}"
        assert tuple(re.findall(r"`([a-z0-9_]+)`", row.group(1))) == names


def test_package_docstring_table_lists_every_name_with_its_layers():
    doc = algorithms_package.__doc__ or ""
    rows = re.findall(r"^``([a-z0-9_]+)``(?:/``([a-z0-9_]+)``)?\s+([47, /]+?)\s{2,}", doc, re.M)
    documented: dict[str, set[int]] = {}
    for first, second, layers in rows:
        numbers = [int(x) for x in re.findall(r"[47]", layers)]
        if second:  # "a``/``b``  4 / 7": a at the first layer, b at the second
            documented.setdefault(first, set()).add(numbers[0])
            documented.setdefault(second, set()).add(numbers[1])
        else:
            documented.setdefault(first, set()).update(numbers)
    offered: dict[str, set[int]] = {}
    for layer, names in ALGORITHMS_BY_LAYER.items():
        for name in names:
            offered.setdefault(name, set()).add(layer)
    assert documented == offered


@pytest.mark.parametrize(("name", "layer"), ALL)
def test_make_algorithm_builds_the_named_algorithm(name, layer):
    algo = make_algorithm(name, layer, random.Random(0))
    assert isinstance(algo, Algorithm)
    assert algo.name == name
    assert layer in algo.layers
    assert algorithm_class(name, layer) is type(algo)


def test_unknown_name_lists_the_names_of_that_layer():
    with pytest.raises(ValueError) as info:
        make_algorithm("fastest", 7, random.Random(0))
    message = str(info.value)
    assert all(name in message for name in L7)
    assert "fastest" in message


def test_name_from_the_other_layer_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match="exists at layer 4") as info:
        make_algorithm("least_connections", 7, random.Random(0))
    assert all(name in str(info.value) for name in L7)
    with pytest.raises(ValueError, match="exists at layer 7"):
        make_algorithm("p2c", 4, random.Random(0))


def test_unknown_layer_is_rejected():
    with pytest.raises(ValueError, match="layer must be one of 4, 7"):
        make_algorithm("random", 3, random.Random(0))


@pytest.mark.parametrize(
    ("name", "layer", "params", "match"),
    [
        ("consistent_hash", 7, {"vnode": 10}, "unknown parameter.*vnode.*accepted: vnodes"),
        ("consistent_hash", 4, {"vnodes": 0}, "vnodes must be a positive integer"),
        ("consistent_hash", 4, {"vnodes": True}, "vnodes"),
        ("least_connections", 4, {"weighted": True}, "accepted: slow_start_window"),
        ("round_robin", 4, {"slow_start_window": 10}, "ignores weights.*weighted_round_robin"),
        ("random", 7, {"weighted": False, "slow_start_window": 5}, "ignores weights"),
        ("least_request", 7, {"slow_start_window": 0}, "slow_start_window must be finite"),
        ("least_request", 7, {"slow_start_aggression": 2.0}, "give slow_start_window"),
        ("p2c", 7, {"slow_start_window": 5, "slow_start_aggression": -1}, "aggression"),
        ("p2c", 7, {"slow_start_window": 5, "slow_start_min_percent": 150}, r"\(0, 100\]"),
        ("maglev", 7, {"slow_start_window": 5}, "does not apply: hashing"),
        ("source_hash", 4, {"slow_start_window": 5}, "does not apply: hashing"),
        ("p2c", 7, {"choices": 1}, "choices must be >= 2"),
        ("two_choices", 4, {"choices": 2.0}, "choices must be a positive integer"),
        ("p2c", 7, {"replacement": "yes"}, "replacement must be true or false"),
        ("consistent_hash", 7, {"balance_factor": 0.9}, "balance_factor must be a number >= 1"),
        ("maglev", 4, {"balance_factor": 150}, "HAProxy's hash-balance-factor 125"),
        ("maglev", 7, {"balance_factor": True}, "balance_factor"),
        ("weighted_round_robin", 4, {"weighted": False}, "always weighted"),
        ("round_robin", 7, {"weighted": "yes"}, "weighted must be true or false"),
        ("peak_ewma", 7, {"tau": 0}, "tau must be finite and > 0"),
        ("peak_ewma", 7, {"default_latency": float("nan")}, "default_latency"),
        ("peak_ewma", 7, {"tau": "10s"}, "tau must be a number"),
        ("maglev", 4, {"table_size": 1000}, "table_size must be prime"),
    ],
)
def test_invalid_parameters_raise_value_error(name, layer, params, match):
    with pytest.raises(ValueError, match=match):
        make_algorithm(name, layer, random.Random(0), **params)


def test_rng_must_be_a_random_instance():
    with pytest.raises(ValueError, match=r"random\.Random"):
        make_algorithm("random", 4, 42)  # type: ignore[arg-type]


def test_layer_default_parameters_can_be_overridden(make_backends):
    algo = make_algorithm("round_robin", 4, random.Random(0), weighted=True)
    picks = [algo.pick(make_backends(weights=[5, 1, 1]), 0.0).name for _ in range(7)]
    assert picks == ["a", "a", "b", "a", "c", "a", "a"]


@pytest.mark.parametrize(("name", "layer"), HASHING)
def test_hashing_pick_without_key_raises(make_backends, name, layer):
    algo = make_algorithm(name, layer, random.Random(0))
    with pytest.raises(ValueError, match="needs a key"):
        algo.pick(make_backends(3), 0.0)
    with pytest.raises(ValueError, match="needs a key"):
        algo.pick(make_backends(3), 0.0, key=None)


def test_exactly_the_hashing_algorithms_use_the_key():
    """Balancers hash a key only for ``uses_key`` algorithms: those must be the hashing ones."""
    assert {(n, layer) for n, layer in ALL if algorithm_class(n, layer).uses_key} == set(HASHING)


# --- properties ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrozenView:
    """Read-only backend view: any attempt by an algorithm to mutate it raises."""

    name: str
    weight: float
    active: int


backend_fields = st.tuples(
    st.floats(min_value=0.05, max_value=20.0, allow_nan=False),  # weight
    st.integers(min_value=0, max_value=50),  # active
)


@st.composite
def candidate_lists(draw: st.DrawFn) -> list[FrozenView]:
    names = draw(st.lists(st.integers(0, 30), min_size=1, max_size=12, unique=True))
    fields = draw(st.lists(backend_fields, min_size=len(names), max_size=len(names)))
    return [FrozenView(f"web-{n}", w, a) for n, (w, a) in zip(names, fields, strict=True)]


# Rounds of picks: a candidate list, a key and a latency to report after each pick.
PICK_ROUNDS = st.lists(
    st.tuples(candidate_lists(), st.integers(0, 2**64 - 1), st.floats(0, 1.0)),
    min_size=1,
    max_size=4,
)

# Each algorithm once more with its optional behaviour switched on.
SLOW = {"slow_start_window": 0.02, "slow_start_aggression": 2.0}
VARIANT: dict[str, dict[str, object]] = {
    "round_robin": {"weighted": True, **SLOW},
    "weighted_round_robin": SLOW,
    "least_connections": SLOW,
    "least_request": SLOW,
    "random": SLOW,
    "two_choices": {"choices": 3, "replacement": True, **SLOW},
    "p2c": {"choices": 5, **SLOW},
    "consistent_hash": {"balance_factor": 1.25, "vnodes": 20},
    "maglev": {"balance_factor": 1.0},
}


@settings(max_examples=300, deadline=None)
@given(
    algo_id=st.sampled_from(ALL),
    rounds=PICK_ROUNDS,
    seed=st.integers(0, 2**32 - 1),
)
def test_pick_always_returns_one_of_the_candidates(algo_id, rounds, seed):
    """Any algorithm, any non-empty candidate lists (changing from call to call),
    any key: pick returns one of the candidate objects themselves."""
    name, layer = algo_id
    params = {"table_size": 251} if name == "maglev" else {}  # keep table builds cheap
    algo = make_algorithm(name, layer, random.Random(seed), **params)
    variant = make_algorithm(name, layer, random.Random(seed), **params, **VARIANT.get(name, {}))
    now = 0.0
    for candidates, key, latency in rounds:
        for _ in range(3):
            now += 0.01
            for a in (algo, variant):
                chosen = a.pick(candidates, now, key)
                assert any(chosen is c for c in candidates)
                a.on_complete(chosen, now + latency, latency)


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_lists(), seed=st.integers(0, 2**32 - 1))
def test_two_choices_never_picks_a_strict_unique_maximum_property(candidates, seed):
    loads = [c.active / c.weight for c in candidates]
    top = max(loads)
    unique_max = len(candidates) >= 2 and loads.count(top) == 1
    for name, layer in (("two_choices", 4), ("p2c", 7)):
        algo = make_algorithm(name, layer, random.Random(seed))
        for _ in range(20):
            chosen = algo.pick(candidates, 0.0)
            if unique_max:
                assert chosen.active / chosen.weight < top


@settings(max_examples=100, deadline=None)
@given(candidates=candidate_lists(), key=st.integers(0, 2**64 - 1))
def test_hashing_is_a_function_of_key_and_set(candidates, key):
    """Same key and same candidate set → same backend, even for a fresh instance."""
    for name, layer in HASHING:
        params = {"table_size": 251} if name == "maglev" else {}
        first = make_algorithm(name, layer, random.Random(1), **params).pick(candidates, 0.0, key)
        again = make_algorithm(name, layer, random.Random(2), **params).pick(candidates, 5.0, key)
        assert first is again


@pytest.mark.parametrize(("name", "layer"), ALL)
def test_every_parameter_is_documented_for_its_algorithm(name, layer):
    """Each parameter an algorithm accepts has a row in the scenario reference's
    parameter table that names the algorithm."""
    text = REFERENCE.read_text(encoding="utf-8")
    for param in algorithm_class(name, layer).accepted_params():
        row = re.search(rf"^\| `{param}` \| ([^|]*) \|", text, re.M)
        assert row, f"no row for {param}"
        cell = row.group(1)
        if cell.startswith("as `"):  # "as `slow_start_window`": same algorithms
            cell = re.search(rf"^\| {cell.split()[1]} \| ([^|]*) \|", text, re.M).group(1)
        assert f"`{name}`" in cell, (param, name)


@settings(max_examples=150, deadline=None)
@given(
    algo_id=st.sampled_from([a for a in ALL if a not in HASHING]),
    rounds=PICK_ROUNDS,
    seed=st.integers(0, 2**32 - 1),
)
def test_an_algorithm_that_does_not_use_the_key_picks_the_same_without_it(algo_id, rounds, seed):
    """What ``uses_key = False`` promises: the same picks with a key or with None."""
    name, layer = algo_id
    with_key = make_algorithm(name, layer, random.Random(seed), **VARIANT.get(name, {}))
    without = make_algorithm(name, layer, random.Random(seed), **VARIANT.get(name, {}))
    now = 0.0
    for candidates, key, latency in rounds:
        for _ in range(3):
            now += 0.01
            a = with_key.pick(candidates, now, key)
            b = without.pick(candidates, now, None)
            assert a is b
            with_key.on_complete(a, now + latency, latency)
            without.on_complete(b, now + latency, latency)
