"""docs/reference/outputs.md documents exactly what a run writes.

Every field of every record dataclass (``lbsim.records``) must have its row in the
table of the file it is written to, every column a run actually writes must be
documented, and every documented column must exist; the same for the keys of
``summary.json`` (nested ones as ``parent.child`` rows, or named in the parent's
row where they are data-dependent, like the cache's counts) and for the time
series names. The run is a short bundled scenario with a cache, an L4 NAT table
and a segment trace, so every file is populated.
"""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
from doclinks import DOCS

from lbsim.records import OUTCOMES, ConnectionRecord, RequestRecord, SegmentRecord
from lbsim.results import REQUEST_COLUMNS, Results, build_results
from lbsim.scenario import load_scenario
from lbsim.sim import run_scenario

PAGE = DOCS / "reference" / "outputs.md"
ROW = re.compile(r"^\| `([^`]+)`((?:, `[^`]+`)*)[^|]*\|(.*)$", re.MULTILINE)
#: Summary keys whose children are names from the run (backends, counters).
DATA_KEYED = {"backend_share", "counters", "outcomes"}


def section(title: str) -> str:
    """The text of the ``## title`` section of the page."""
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no section {title!r}"
    return match.group(1)


def rows(text: str) -> dict[str, str]:
    """First-column names of the tables in ``text`` -> the rest of the row.

    A row naming several keys (`` `latency.mean`, `.p50` ``) yields each of them,
    a leading dot continuing the first name's parent.
    """
    found: dict[str, str] = {}
    for first, more, rest in ROW.findall(text):
        found[first] = rest
        parent = first.rsplit(".", 1)[0]
        for name in re.findall(r"`([^`]+)`", more):
            found[parent + name if name.startswith(".") else name] = rest
    return found


@pytest.fixture(scope="module")
def results() -> Results:
    sc = load_scenario("cache_auth", ["duration=2s", "warmup=1s"])
    return build_results(sc, run_scenario(sc, trace_segments=True))


@pytest.mark.parametrize(
    ("title", "record"),
    [
        ("requests.csv", RequestRecord),
        ("connections.csv", ConnectionRecord),
        ("segments.csv", SegmentRecord),
    ],
)
def test_every_record_field_has_a_row(title: str, record: type) -> None:
    documented = rows(section(title))
    missing = [f.name for f in fields(record) if f.name not in documented]
    assert missing == [], f"{title}: fields without a row"


@pytest.mark.parametrize("title", ["requests.csv", "connections.csv", "segments.csv"])
def test_documented_columns_are_the_written_columns(results: Results, title: str) -> None:
    frame = {
        "requests.csv": results.requests,
        "connections.csv": results.connections,
        "segments.csv": results.segments,
    }[title]
    assert list(rows(section(title))) == list(frame.columns)


def test_requests_contract_columns_come_first() -> None:
    assert list(rows(section("requests.csv")))[: len(REQUEST_COLUMNS)] == list(REQUEST_COLUMNS)
    outcome_row = rows(section("requests.csv"))["outcome"]
    assert all(f"`{o}`" in outcome_row for o in OUTCOMES)


def test_every_time_series_is_documented(results: Results) -> None:
    documented = rows(section("timeseries.csv"))
    # `lb.table.<state>` stands for a family of series: <...> matches one name.
    patterns = [re.sub(r"<[^>]+>", r"[\\w-]+", re.escape(name)) for name in documented]
    for name in sorted(set(results.timeseries.series)):
        assert any(re.fullmatch(p, name) for p in patterns), name
    assert list(results.timeseries.columns) == ["variant", "series", "time", "value"]
    assert {"variant", "series", "time", "value"} <= set(documented)


def test_summary_keys_match_the_tables(results: Results) -> None:
    documented = rows(section("summary.json"))
    summary = results.summary
    top = [k for k in summary if k != "variants"]
    assert all(k in documented for k in [*top, "variants"])
    written = set(summary)
    for variant in summary["variants"].values():
        for key, value in variant.items():
            if isinstance(value, dict) and key not in DATA_KEYED:
                for child in value:
                    dotted = f"{key}.{child}"
                    assert dotted in documented or f"`{child}`" in documented.get(key, ""), dotted
                    written.add(dotted)
            else:
                assert key in documented, key
            written.add(key)
    outcomes = documented["outcomes"]
    assert "five" in outcomes and len(OUTCOMES) == 5
    # Per-instance rows are written only by a topology's run (test below).
    unwritten = [d for d in documented if d not in written and not d.startswith("instances")]
    assert unwritten == []


def test_instance_rows_match_a_topology_run() -> None:
    sc = load_scenario("two_tier", ["duration=1s", "warmup=0.5s"])
    summary = build_results(sc, run_scenario(sc, variants=["round_robin"])).summary
    documented = rows(section("summary.json"))
    instances = summary["variants"]["round_robin"]["instances"]
    fixed = {d.removeprefix("instances.*.") for d in documented if d.startswith("instances.*.")}
    assert set(instances) == {"maglev-1", "maglev-2", "proxies-1", "proxies-2", "proxies-3"}
    for name, values in instances.items():
        assert {"cpu_utilization", "cpu_jobs", "peak_table_entries", "peak_buffer_bytes"} <= set(
            values
        ), name
        assert set(values) - fixed <= {
            "mss_clamped",
            "stray_segments",
            "table_expired",
            "table_refused",
            "retries",
            "algorithm.spills",
        }, name
    assert all("requests" in instances[f"proxies-{i}"] for i in (1, 2, 3))
    assert all("flows" in instances[f"maglev-{i}"] for i in (1, 2))


def test_feature_counters_have_rows() -> None:
    """Counters of optional features (circuit breakers, ...) are documented by name."""
    documented = rows(section("Feature counters"))
    names = ["lb.breaker_trips", "lb.breaker_trips.<group>"]
    names += ["lb.affinity_hits", "lb.affinity_misses", "lb.affinity_breaks"]
    names += ["lb.weight_updates"]
    for name in names:
        assert name in documented, name
