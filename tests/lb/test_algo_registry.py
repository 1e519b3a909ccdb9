"""Registry, parameter validation and properties common to every algorithm."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbsim.lb.algorithms import (
    ALGORITHMS_BY_LAYER,
    Algorithm,
    algorithm_class,
    make_algorithm,
)

L4 = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "random",
    "two_choices",
    "source_hash",
    "consistent_hash",
    "maglev",
)
L7 = ("round_robin", "random", "least_request", "p2c", "peak_ewma", "consistent_hash")
ALL = [(name, 4) for name in L4] + [(name, 7) for name in L7]
HASHING = [("source_hash", 4), ("consistent_hash", 4), ("consistent_hash", 7), ("maglev", 4)]


def test_algorithms_by_layer_is_exactly_the_documented_list():
    assert ALGORITHMS_BY_LAYER == {4: L4, 7: L7}


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
        make_algorithm("maglev", 7, random.Random(0))
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
        ("least_connections", 4, {"weighted": True}, "accepted: none"),
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


@settings(max_examples=300, deadline=None)
@given(
    algo_id=st.sampled_from(ALL),
    rounds=st.lists(
        st.tuples(candidate_lists(), st.integers(0, 2**64 - 1), st.floats(0, 1.0)),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_pick_always_returns_one_of_the_candidates(algo_id, rounds, seed):
    """Any algorithm, any non-empty candidate lists (changing from call to call),
    any key: pick returns one of the candidate objects themselves."""
    name, layer = algo_id
    params = {"table_size": 251} if name == "maglev" else {}  # keep table builds cheap
    algo = make_algorithm(name, layer, random.Random(seed), **params)
    now = 0.0
    for candidates, key, latency in rounds:
        for _ in range(3):
            now += 0.01
            chosen = algo.pick(candidates, now, key)
            assert any(chosen is c for c in candidates)
            algo.on_complete(chosen, now + latency, latency)


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
