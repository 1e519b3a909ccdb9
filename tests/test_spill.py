"""Spilled record logs: same outputs as in memory, temporary files always removed."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lbsim.records import RequestRecord
from lbsim.spill import RecordLog, SpillArea
from lbsim.tables import SortedRequests

ROOT = Path(__file__).resolve().parents[1]


def _request(i: int, t_start: float) -> RequestRecord:
    return RequestRecord(
        "l7", f"u-{(i * 7) % 23}-{i}", "browsers", f"c{i // 3}", None if i % 5 else "web-1",
        "GET", "/", 200 if i % 4 else None, "ok", t_start, t_start + 0.5 + i / 100, 400,
        20_000, cache_hit=None if i % 2 else bool(i % 3),
    )  # fmt: skip


def test_log_reads_back_exactly_in_order_across_chunks() -> None:
    area = SpillArea()
    log: RecordLog[RequestRecord] = RecordLog(RequestRecord, area, rows=4)
    records = [_request(i, i / 10) for i in range(25)]
    log.extend(records)
    assert (len(log), log.spilled) == (25, 24)
    assert area.path is not None and len(list(area.path.glob("chunk-*"))) == 6
    assert list(log) == records
    assert log[7] == records[7] and log[-1] == records[-1]
    assert [v for c in log.column_chunks(["t_end"]) for v in c["t_end"]] == [
        r.t_end for r in records
    ]
    path = area.path
    area.close()
    assert not path.exists()


def test_records_read_back_are_built_by_the_log_s_constructor() -> None:
    """A log given a faster constructor reads back the same records, built by it."""
    from lbsim.records import new_request_record

    built: list[int] = []

    def make(*values: object) -> RequestRecord:
        built.append(1)
        return new_request_record(*values)  # type: ignore[arg-type]

    records = [_request(i, i / 10) for i in range(11)]
    log: RecordLog[RequestRecord] = RecordLog(RequestRecord, SpillArea(), rows=4, make=make)
    log.extend(records)
    back = list(log)
    assert back == records and all(type(r) is RequestRecord for r in back)
    assert len(built) == 8  # the two spilled chunks; the buffer's 3 are the originals


def test_columns_of_any_choice_of_fields_match_reading_each_field() -> None:
    """A chunk's columns: every field, some, one, or none of them; of rows or of none."""
    from dataclasses import fields

    from lbsim.spill import _to_columns

    records = [_request(i, i / 10) for i in range(9)]
    every = [f.name for f in fields(RequestRecord)]
    for names in (every, ["t_end", "backend", "status"], ["cache_hit"], []):
        for rows in (records, records[:1], []):
            expected = {name: [getattr(r, name) for r in rows] for name in names}
            assert _to_columns(rows, names) == expected


def test_area_removed_when_collected() -> None:
    area = SpillArea()
    log: RecordLog[RequestRecord] = RecordLog(RequestRecord, area, rows=2)
    log.extend(_request(i, 0.0) for i in range(5))
    path = area.path
    assert path is not None and path.exists()
    del log, area
    gc.collect()
    assert not path.exists()


def test_sorted_requests_order_like_a_sort_by_start_then_id() -> None:
    # Many equal start times, spread over several chunks: ties go by request id.
    records = [_request(i, float((i * 5) % 4)) for i in range(40)]
    log: RecordLog[RequestRecord] = RecordLog(RequestRecord, SpillArea(), rows=6)
    log.extend(records)
    expected = sorted(records, key=lambda r: (r.t_start, r.request_id))
    served = [
        rid for block in SortedRequests(log).blocks(["request_id"], rows=7)
        for rid in block["request_id"]
    ]  # fmt: skip
    assert served == [r.request_id for r in expected]


def _run(out: Path, rows: int | None) -> None:
    env = dict(os.environ)
    env.pop("LBSIM_SPILL_ROWS", None)
    if rows is not None:
        env["LBSIM_SPILL_ROWS"] = str(rows)
    command = [
        sys.executable, "-m", "lbsim", "run", "quickstart", "--set", "duration=2s",
        "--set", "warmup=0.5s", "--trace-segments", "--no-figures", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)


def _summary(path: Path) -> dict[str, object]:
    summary = json.loads(path.read_text())
    for variant in summary["variants"].values():
        variant.pop("wall_seconds")
    return summary


def test_spilled_run_writes_the_same_files_as_in_memory(tmp_path: Path) -> None:
    _run(tmp_path / "memory", None)
    _run(tmp_path / "spilled", 50)
    names = sorted(p.name for p in (tmp_path / "memory").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "spilled").iterdir())
    assert "segments.csv" in names
    for name in names:
        a, b = tmp_path / "memory" / name, tmp_path / "spilled" / name
        if name == "summary.json":
            assert _summary(a) == _summary(b)
        else:
            assert a.read_bytes() == b.read_bytes(), name


_SCRIPT = textwrap.dedent(
    """
    import sys
    from lbsim.records import Recorder, RequestRecord
    recorder = Recorder("l4")
    for i in range(20):
        recorder.requests.append(RequestRecord(
            "l4", f"r{i}", "c", "x", None, "GET", "/", None, "ok", 0.0, 1.0, 1, 1))
    assert recorder.requests.spilled > 0
    if sys.argv[1] == "error":
        raise RuntimeError("boom")
    if sys.argv[1] == "interrupt":
        raise KeyboardInterrupt
    """
)


@pytest.mark.parametrize("ending", ["success", "error", "interrupt"])
def test_spill_files_removed_however_the_program_ends(tmp_path: Path, ending: str) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path), LBSIM_SPILL_ROWS="3")
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, ending], env=env, cwd=ROOT, capture_output=True
    )
    assert (done.returncode == 0) == (ending == "success")
    assert list(tmp_path.iterdir()) == []


def test_results_tables_and_summary_same_when_spilled(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import dataclass

    import pandas as pd

    from lbsim.records import Recorder
    from lbsim.results import build_results
    from lbsim.scenario import load_scenario
    from lbsim.sim import run_scenario

    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml", ["duration=2s", "warmup=0.5s"])
    runs = run_scenario(scenario)
    memory = build_results(scenario, runs)

    @dataclass
    class Spilled:
        name: str
        layer: int
        algorithm: str
        recorder: Recorder
        backends: tuple[str, ...]
        wall_seconds: float

    monkeypatch.setenv("LBSIM_SPILL_ROWS", "9")
    copies = []
    for run in runs:
        recorder = Recorder(run.name)
        recorder.requests.extend(run.recorder.requests)
        recorder.connections.extend(run.recorder.connections)
        recorder.series, recorder.counters = run.recorder.series, run.recorder.counters
        assert recorder.requests.spilled > 0
        copies.append(
            Spilled(run.name, run.layer, run.algorithm, recorder, run.backends, run.wall_seconds)
        )
    spilled = build_results(scenario, copies)
    assert spilled.summary == memory.summary
    pd.testing.assert_frame_equal(spilled.requests, memory.requests)
    pd.testing.assert_frame_equal(spilled.connections, memory.connections)
    pd.testing.assert_frame_equal(spilled.segments, memory.segments)
    assert spilled.window_requests("l7").equals(memory.window_requests("l7"))
