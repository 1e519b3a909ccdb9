"""Records and messages built through ``fast_constructor`` are the values ``cls(...)`` builds.

The constructor builds a non-frozen twin and turns it into the frozen class, so
these tests check what a caller relies on: type, equality, hash, defaults
(including per-instance default factories), immutability and pickling.
"""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from lbsim.app.http import HttpRequest, HttpResponse, new_http_request
from lbsim.records import (
    ConnectionRecord,
    DecisionRecord,
    RequestRecord,
    fast_constructor,
    new_connection_record,
    new_decision,
    new_request_record,
)

REQUEST = {
    "variant": "l4",
    "request_id": "web-1-0",
    "client": "web",
    "connection": "web-1-c0",
    "backend": "srv-1",
    "method": "GET",
    "path": "/",
    "status": 200,
    "outcome": "ok",
    "t_start": 0.5,
    "t_end": 0.75,
    "request_bytes": 400,
    "response_bytes": 1000,
    "attempts": 2,
}


def test_a_request_record_equals_the_one_its_class_builds() -> None:
    fast = new_request_record(**REQUEST)  # type: ignore[arg-type]
    plain = RequestRecord(**REQUEST)  # type: ignore[arg-type]
    assert type(fast) is RequestRecord
    assert fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    assert fast.cache_hit is None and fast.index_on_connection == 0  # defaults
    assert fast.latency == 0.25
    assert pickle.loads(pickle.dumps(fast)) == plain


def test_built_values_stay_immutable() -> None:
    record = new_request_record(**REQUEST)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = 500  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        dataclasses.replace(record, status=500).path = "/x"  # type: ignore[misc]


def test_positional_arguments_and_other_records() -> None:
    args = (
        "l4",
        "c0",
        "client",
        "1.2.3.4:5",
        "6.7.8.9:80",
        None,
        0.0,
        0.1,
        0.2,
        3,
        400,
        900,
        12,
        0,
        False,
    )
    assert new_connection_record(*args) == ConnectionRecord(*args)
    decision = new_decision(1.0, "l4", "nat_miss", "a-b", None, "srv-1", (("key", 3),))
    assert decision == DecisionRecord(1.0, "l4", "nat_miss", "a-b", None, "srv-1", (("key", 3),))


def test_each_request_gets_its_own_context() -> None:
    first = new_http_request("r1", "GET", "/", 400, 1000, 0.5)
    second = new_http_request("r1", "GET", "/", 400, 1000, 0.5)
    assert type(first) is HttpRequest and first == HttpRequest("r1", "GET", "/", 400, 1000, 0.5)
    assert first.ctx is not second.ctx  # a default factory, called per instance
    first.ctx.backend = "srv-1"
    assert second.ctx.backend is None
    response = first.respond(200, 1000, "srv-1")
    assert type(response) is HttpResponse and response == HttpResponse(first, 200, 1000, "srv-1")


def test_a_class_that_is_not_slotted_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Loose:
        value: int

    with pytest.raises(TypeError, match="slotted"):
        fast_constructor(Loose)


def test_keyword_only_and_non_init_fields_follow_the_class() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Mixed:
        first: int
        tags: list[int] = dataclasses.field(default_factory=list)
        fixed: str = dataclasses.field(default="x", init=False)
        made: list[int] = dataclasses.field(default_factory=lambda: [7], init=False)
        flag: bool = dataclasses.field(default=False, kw_only=True)

    new = fast_constructor(Mixed)
    built = new(1, flag=True)  # type: ignore[call-arg]
    assert type(built) is Mixed and built == Mixed(1, flag=True)
    assert (built.fixed, built.made, built.tags) == ("x", [7], [])
    assert new(1).tags is not new(1).tags  # the factory runs per instance
    assert new(2, [3]) == Mixed(2, [3])
    with pytest.raises(TypeError):
        new(1, [], True)  # type: ignore[misc]  # flag is keyword-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.first = 2  # type: ignore[misc]
