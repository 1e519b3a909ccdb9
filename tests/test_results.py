"""Records to DataFrames, summary.json and atomic output writing (lbsim.results)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from lbsim import results as results_module
from lbsim.records import (
    OUTCOMES,
    ConnectionRecord,
    Recorder,
    RequestRecord,
    SegmentRecord,
)
from lbsim.results import (
    REQUEST_COLUMNS,
    OutputDirError,
    build_results,
    write_outputs,
)
from lbsim.results import outputs as outputs_module
from lbsim.sim import VariantRun

SCENARIO = SimpleNamespace(name="unit", seed=7, duration=10.0, warmup=2.0)
BACKENDS = ("web-1", "web-2", "web-3")


def request(
    variant: str,
    rid: str,
    conn: str,
    backend: str | None,
    t_start: float,
    latency: float,
    outcome: str = "ok",
    **extra: Any,
) -> RequestRecord:
    return RequestRecord(
        variant=variant,
        request_id=rid,
        client="browsers",
        connection=conn,
        backend=backend,
        method="GET",
        path="/index.html",
        status=200 if outcome == "ok" else None,
        outcome=outcome,
        t_start=t_start,
        t_end=t_start + latency,
        request_bytes=400,
        response_bytes=20_000 if outcome == "ok" else 0,
        **extra,
    )


def make_run(
    name: str,
    layer: int,
    records: list[RequestRecord],
    *,
    counters: dict[str, float] | None = None,
    wall_seconds: float = 0.25,
    segments: list[SegmentRecord] | None = None,
) -> VariantRun:
    recorder = Recorder(name)
    recorder.requests.extend(records)
    recorder.connections.append(
        ConnectionRecord(
            variant=name,
            connection="c1",
            side="client",
            src="10.0.0.1:40000",
            dst="10.0.1.1:80",
            backend=None,
            t_open=0.5,
            t_established=0.52,
            t_close=None,
            requests=3,
            bytes_sent=1200,
            bytes_received=60_000,
            segments=80,
            retransmissions=0,
            reset=False,
        )
    )
    recorder.segments.extend(segments or [])
    recorder.counters.update(
        counters
        if counters is not None
        else {
            "segments.client_side": 120.0,
            "segments.backend_side": 100.0,
            "segments.dropped": 0.0,
            "lb.cpu_utilization": 0.125,
            "lb.peak_buffer_bytes": 4096.0,
            "lb.peak_table_entries": 3.0,
        }
    )
    recorder.sample("lb.table_entries", 0.0, 0.0)
    recorder.sample("lb.table_entries", 1.0, 3.0)
    recorder.sample("lb.buffer_bytes", 1.0, 512.0)
    return VariantRun(name, layer, "round_robin", recorder, BACKENDS, wall_seconds, 12.0)


def l4_records() -> list[RequestRecord]:
    return [
        request("l4", "u1-0", "c1", "web-1", 1.0, 0.05),  # warm-up: CSV only
        request("l4", "u1-1", "c1", "web-1", 3.0, 0.02),
        request("l4", "u1-2", "c1", "web-1", 4.0, 0.04),
        request("l4", "u2-0", "c2", "web-2", 5.0, 0.03),
        request("l4", "u2-1", "c2", None, 6.0, 1.0, outcome="timeout"),
        request("l4", "u2-2", "c2", "web-2", 9.5, 0.01, new_connection=True),
        request("l4", "u3-0", "c3", "web-1", 10.0, 0.02),  # at duration: CSV only
    ]


def l7_records() -> list[RequestRecord]:
    return [
        request("l7", "u1-1", "c1", "web-1", 3.0, 0.02),
        request("l7", "u1-2", "c1", "web-2", 4.0, 0.04, cache_hit=False),
        request("l7", "u1-3", "c1", None, 4.5, 0.0, outcome="blocked", reason="auth"),
    ]


def make_results(**kwargs: Any) -> results_module.Results:
    runs = [make_run("l4", 4, l4_records(), **kwargs), make_run("l7", 7, l7_records(), **kwargs)]
    return build_results(SCENARIO, runs)


# --- DataFrames ----------------------------------------------------------------------


def test_requests_columns_contract_first_then_record_fields() -> None:
    frame = make_results().requests
    others = [f.name for f in dataclasses.fields(RequestRecord) if f.name not in REQUEST_COLUMNS]
    assert list(frame.columns) == [*REQUEST_COLUMNS, *others]
    assert REQUEST_COLUMNS[:4] == ("variant", "request_id", "client", "connection")


def test_requests_hold_every_request_issued() -> None:
    frame = make_results().requests
    assert len(frame) == 10  # warm-up and post-duration requests included
    assert frame["variant"].tolist() == ["l4"] * 7 + ["l7"] * 3
    assert frame.loc[0, "latency"] == pytest.approx(0.05)
    timeout = frame[frame["outcome"] == "timeout"].iloc[0]
    assert pd.isna(timeout["backend"]) and pd.isna(timeout["status"])


def test_missing_values_stay_missing() -> None:
    frame = make_results().requests
    assert str(frame["status"].dtype) == "Int64"
    assert str(frame["cache_hit"].dtype) == "boolean"
    assert frame["cache_hit"].isna().sum() == 9  # None means "no cache", never False
    assert frame["service_time"].isna().all()


def test_connections_timeseries_and_empty_segments() -> None:
    res = make_results()
    assert list(res.connections.columns) == [f.name for f in dataclasses.fields(ConnectionRecord)]
    assert res.connections["variant"].tolist() == ["l4", "l7"]
    assert res.segments.empty
    assert list(res.segments.columns) == [f.name for f in dataclasses.fields(SegmentRecord)]
    assert list(res.timeseries.columns) == ["variant", "series", "time", "value"]
    l4 = res.timeseries[res.timeseries["variant"] == "l4"]
    assert l4["series"].tolist() == ["lb.buffer_bytes", "lb.table_entries", "lb.table_entries"]


def test_window_requests() -> None:
    res = make_results()
    window = res.window_requests("l4")
    assert window["request_id"].tolist() == ["u1-1", "u1-2", "u2-0", "u2-1", "u2-2"]
    assert len(res.window_requests()) == 8
    assert res.variants == ["l4", "l7"]


# --- summary -------------------------------------------------------------------------


def test_summary_top_level_and_keys() -> None:
    summary = make_results().summary
    assert list(summary) == ["scenario", "seed", "duration", "warmup", "variants"]
    assert (summary["scenario"], summary["seed"]) == ("unit", 7)
    assert (summary["duration"], summary["warmup"]) == (10.0, 2.0)
    assert list(summary["variants"]) == ["l4", "l7"]
    assert list(summary["variants"]["l4"]) == [
        "layer",
        "algorithm",
        "requests",
        "completed",
        "failed",
        "outcomes",
        "offered_rps",
        "throughput_rps",
        "latency",
        "backend_share",
        "jain_fairness",
        "stickiness",
        "segments",
        "lb",
        "cache",
        "counters",
        "wall_seconds",
    ]


def test_summary_counts_only_the_statistics_window() -> None:
    l4 = make_results().summary["variants"]["l4"]
    assert (l4["layer"], l4["algorithm"]) == (4, "round_robin")
    assert (l4["requests"], l4["completed"], l4["failed"]) == (5, 4, 1)
    assert l4["outcomes"] == {"ok": 4, "error": 0, "blocked": 0, "timeout": 1, "rejected": 0}
    assert list(l4["outcomes"]) == list(OUTCOMES)
    assert l4["throughput_rps"] == pytest.approx(4 / 8)
    assert l4["offered_rps"] == pytest.approx(5 / 8)  # issued in the window, failed or not
    # ok latencies in the window: 0.02, 0.04, 0.03, 0.01
    assert l4["latency"] == pytest.approx(
        {"mean": 0.025, "p50": 0.025, "p95": 0.0385, "p99": 0.0397}
    )
    # served in the window: web-1 twice, web-2 twice (the timeout had no backend)
    assert l4["backend_share"] == {"web-1": 0.5, "web-2": 0.5, "web-3": 0.0}
    assert l4["jain_fairness"] == pytest.approx(16 / (3 * 8))  # counts 2, 2, 0
    assert l4["stickiness"] == 1.0  # c1: web-1 -> web-1; c2: web-2 -> web-2
    assert l4["segments"] == {"client_side": 120, "backend_side": 100}
    assert l4["lb"] == {
        "cpu_utilization": 0.125,
        "peak_buffer_bytes": 4096,
        "peak_table_entries": 3,
        "cpu_queue_delay": None,
    }
    assert l4["cache"] is None  # no request was looked up in a cache
    assert l4["wall_seconds"] == 0.25


def test_summary_per_request_variant() -> None:
    l7 = make_results().summary["variants"]["l7"]
    assert l7["outcomes"]["blocked"] == 1
    assert l7["stickiness"] == 0.0  # web-1 then web-2 on c1; the blocked request is skipped


def test_summary_without_ok_requests_or_counters() -> None:
    runs = [
        make_run("l4", 4, [request("l4", "r", "c", None, 3.0, 1.0, "error")], counters={}),
    ]
    summary = build_results(SCENARIO, runs).summary["variants"]["l4"]
    assert summary["latency"] == {"mean": None, "p50": None, "p95": None, "p99": None}
    assert summary["stickiness"] is None
    assert summary["jain_fairness"] is None
    assert summary["backend_share"] == {"web-1": 0.0, "web-2": 0.0, "web-3": 0.0}
    assert summary["segments"] == {"client_side": None, "backend_side": None}
    assert summary["lb"]["cpu_utilization"] is None


def test_summary_json_has_null_not_nan(tmp_path: Path) -> None:
    res = make_results(counters={"lb.cpu_utilization": math.nan})
    write_outputs(res, tmp_path / "out")
    text = (tmp_path / "out" / "summary.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["variants"]["l4"]["lb"]["cpu_utilization"] is None


# --- files ---------------------------------------------------------------------------


def test_write_outputs_files(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "unit"
    written = write_outputs(make_results(), out)
    assert [p.name for p in written] == [
        "requests.csv",
        "connections.csv",
        "timeseries.csv",
        "summary.json",
    ]
    assert all(p.is_file() and p.parent == out for p in written)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    assert [p.name for p in tmp_path.joinpath("runs").iterdir()] == ["unit"]  # no leftovers
    back = pd.read_csv(out / "requests.csv")
    assert list(back.columns)[: len(REQUEST_COLUMNS)] == list(REQUEST_COLUMNS)
    assert len(back) == 10


def test_segments_csv_only_when_traced(tmp_path: Path) -> None:
    segment = SegmentRecord("l4", 1.0, "client-1", "client", "a", "b", 1, 80, 0, 0, "S", 65535, 0)
    runs = [make_run("l4", 4, l4_records(), segments=[segment])]
    write_outputs(build_results(SCENARIO, runs), tmp_path / "out")
    traced = pd.read_csv(tmp_path / "out" / "segments.csv")
    assert traced["flags"].tolist() == ["S"]


def test_csv_floats_round_trip_exactly(tmp_path: Path) -> None:
    t = 0.1 + 0.2  # 0.30000000000000004: needs all 17 digits
    runs = [make_run("l4", 4, [request("l4", "r", "c", "web-1", t, 1 / 3)])]
    write_outputs(build_results(SCENARIO, runs), tmp_path / "out")
    back = pd.read_csv(tmp_path / "out" / "requests.csv")
    assert back.loc[0, "t_start"] == t
    assert back.loc[0, "t_end"] == t + 1 / 3


def test_outputs_deterministic_except_wall_seconds(tmp_path: Path) -> None:
    write_outputs(make_results(wall_seconds=0.1), tmp_path / "a")
    write_outputs(make_results(wall_seconds=9.9), tmp_path / "b")
    for name in ("requests.csv", "connections.csv", "timeseries.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a != b
    for summary in (a, b):
        for variant in summary["variants"].values():
            variant.pop("wall_seconds")
    assert a == b


def test_write_outputs_replaces_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(make_results(), out)
    (out / "segments.csv").write_text("stale\n")  # from an older traced run
    write_outputs(make_results(), out)
    assert not (out / "segments.csv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_write_outputs_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"notes\.txt"):
        write_outputs(make_results(), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_write_outputs_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("x")
    with pytest.raises(OutputDirError, match="not a directory"):
        write_outputs(make_results(), target)


def test_write_outputs_refuses_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    monkeypatch.chdir(work)
    for target in (".", work, tmp_path):
        with pytest.raises(OutputDirError, match="current directory"):
            write_outputs(make_results(), target)
    assert work.is_dir()


def test_failed_write_leaves_nothing_that_looks_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"

    def crash(results: Any, directory: Path) -> list[Path]:
        (directory / "requests.csv").write_text("partial")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(outputs_module, "_write_all", crash)
    with pytest.raises(RuntimeError):
        write_outputs(make_results(), out)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    write_outputs(make_results(), out)
    before = (out / "summary.json").read_text()

    def crash(results: Any, directory: Path) -> list[Path]:
        raise OSError("no space left on device")

    monkeypatch.setattr(outputs_module, "_write_all", crash)
    with pytest.raises(OSError):
        write_outputs(make_results(), out)
    assert (out / "summary.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_write_outputs_with_figures(tmp_path: Path) -> None:
    from lbsim.plots import figure_writer  # figures come in through the extra= hook

    results = make_results()
    written = write_outputs(results, tmp_path / "out", extra=figure_writer(results))
    figures = sorted(p.name for p in written if p.parent.name == "figures")
    assert figures == ["backend_requests.png", "latency_cdf.png", "stickiness.png"]
    assert all(p.stat().st_size > 0 for p in written)


def test_results_pickle_with_their_lazy_tables_built() -> None:
    """Process pools (``lbsim figures --jobs 2``) send results between processes."""
    import pickle

    from lbsim.results import build_results
    from lbsim.scenario import load_scenario
    from lbsim.sim import run_scenario

    scenario = load_scenario("quickstart", ["duration=1s", "warmup=0.2s"])
    results = build_results(scenario, run_scenario(scenario))
    copy = pickle.loads(pickle.dumps(results))
    assert len(copy.requests) > 100
    assert copy.requests.equals(results.requests)
    assert copy.connections.equals(results.connections)
