"""Mutated bundled scenarios: always exit 0 or 2 with one line, never a traceback.

Hypothesis takes a bundled scenario's raw data and changes it a few times: a value
replaced by one of another type or an absurd magnitude (huge or negative numbers,
NaN, control characters, tricky YAML-1.1 spellings, units that do not fit), a key
deleted, a value wrapped in a list or a mapping, a list item repeated. The file
goes through ``lbsim check`` (validation, the engine's build checks and the work
estimate, which ``run`` uses to refuse over-budget work). Whatever the mutation,
the answer must be exit 0 (with the estimate printed) or exit 2 with exactly one
``lbsim: error:`` line, quickly and without growing memory.
"""

from __future__ import annotations

import contextlib
import io
import resource
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbsim.cli import main
from lbsim.scenario import list_bundled, read_scenario_data

_TRICKY = [
    "10ms", "1e3", "0x1", "010", "0o7", "1:30", "yes", "off", "null", "~", "", "-1s",
    "exp(5ms)", "lognormal(mean=5ms, cv=1e300)", "hyperexp(mean=1s, cv=1e200)", "100GB",
    "1e9/s", "1e30Tbps", "0s", "1ns", "nan", ".inf", "{n}", "/x/{m}", "\x1b[2J", "a\nb",
]  # fmt: skip

VALUES = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25),
    st.sampled_from([0, -1, 1, 2**31, 2**64, 10**9, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(_TRICKY),
    st.none(),
    st.booleans(),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.sampled_from(["a", "size", "name", "count"]), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in the tree (mapping keys and list positions)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(data: dict[str, Any], draw: Any) -> None:
    paths = _paths(data)
    path = draw(st.sampled_from(paths))
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    operation = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "nest", "repeat"]))
    if operation == "replace":
        parent[key] = draw(VALUES)
    elif operation == "delete":
        del parent[key]
    elif operation == "wrap":
        parent[key] = [parent[key]]
    elif operation == "nest":
        parent[key] = {"value": parent[key]}
    elif isinstance(parent[key], list) and parent[key]:
        parent[key].append(parent[key][0])  # a repeated list item
    else:
        parent[key] = draw(VALUES)


@st.composite
def mutated_scenarios(draw: Any) -> str:
    data, _ = read_scenario_data(draw(st.sampled_from(list_bundled())))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        _mutate(data, draw)
    return yaml.safe_dump(data, allow_unicode=False)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=mutated_scenarios())
def test_mutated_scenario_is_accepted_or_refused_in_one_line(text: str, tmp_path: Path) -> None:
    path = tmp_path / "mutated.yaml"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check", str(path)])
    elapsed = time.perf_counter() - started
    assert status in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()
    if status == 0:
        assert "# work estimate of one run:" in out.getvalue()
        assert err.getvalue() == ""
    else:
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lbsim: error: "), lines
    assert elapsed < 10  # generous for a loaded machine; typical is tens of ms
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < 1000  # the whole test process, pytest included
