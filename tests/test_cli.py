"""The command line (lbsim.cli): exit codes, messages, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lbsim.cli import main
from lbsim.records import Recorder, RequestRecord
from lbsim.sim import VariantRun

# A small scenario in the shape of the quickstart; each bad-input case edits one line.
SCENARIO = """\
name: tiny
description: two browsers, four web backends; L4 NAT vs L7
seed: 1
duration: 2s
warmup: 0.5s
network:
  client_link:  {latency: 1ms, bandwidth: 100Mbps, mtu: 1500}
  backend_link: {latency: 0.1ms, bandwidth: 10Gbps, mtu: 9000}
backends:
  - {group: web, count: 4, workers: 2, service_time: exp(5ms)}
clients:
  - name: browsers
    count: 2
    requests_per_connection: 5
    think_time: exp(50ms)
    requests:
      - {method: GET, path: /index.html, weight: 1, size: 400B, response: 2KB}
balancers:
  - {name: l4, layer: 4, mode: nat, algorithm: round_robin}
  - {name: l7, layer: 7, algorithm: least_request, routes: [{group: web}]}
"""


def write_scenario(tmp_path: Path, text: str = SCENARIO, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- argument errors (no scenario needed) --------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["run", "--seed", "abc"], ["check"], ["run", "--unknown-flag"]],
    ids=["no-command", "unknown-command", "bad-seed", "check-without-file", "unknown-flag"],
)
def test_argument_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: lbsim" in err
    assert err.count("\n") == 1  # one line, like every other error
    assert "Traceback" not in err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "run" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("lbsim ")


def test_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lbsim", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0
    assert "--trace-segments" in done.stdout


def test_help_imports_no_plotting_or_teaching_package() -> None:
    """Every command builds the whole parser first; it must not wait for matplotlib.

    Importing ``lbsim.teach`` (for ``lbsim view``'s options) used to pull in
    matplotlib and pandas: ``lbsim --help`` took about a second instead of 0.1 s.
    """
    script = (
        "import sys\n"
        "from lbsim.cli import main\n"
        "assert main(['--help']) == 0\n"
        "heavy = ('matplotlib', 'pandas', 'lbsim.teach')\n"
        "print(sorted(n for n in sys.modules if n.startswith(heavy))[:3], file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"


# --- bad scenario input (real scenario loader) ---------------------------------------

BAD_INPUTS = {
    # case id: (replace this, with that, --set overrides, text the message must contain)
    "bad-yaml": ("  - {name: l4,", "  - {name: l4,: [", [], ["line"]),
    "unknown-key": (
        "    count: 2\n",
        "    count: 2\n    colour: blue\n",
        [],
        ["clients.browsers.colour", "colour"],
    ),
    "bad-unit": ("duration: 2s", "duration: 2 parsecs", [], ["duration:", "parsecs"]),
    "bad-distribution": ("exp(5ms)", "weibull(5ms)", [], ["backends.web.service_time"]),
    "bad-override": ("", "", ["clients.browsers.count=many"], ["clients.browsers.count"]),
    "bad-algorithm-param": (
        "",
        "",
        ["balancers.l4.algorithm=maglev", "balancers.l4.params={table_size: 100}"],
        ["balancers.l4.params", "prime"],
    ),
}


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_without_traceback(
    case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, overrides, expected = BAD_INPUTS[case]
    text = SCENARIO.replace(old, new, 1) if old else SCENARIO
    assert text != SCENARIO or overrides
    path = write_scenario(tmp_path, text, name=f"{case}.yaml")
    out = tmp_path / "out"
    argv = [command, str(path)]
    for override in overrides:
        argv += ["--set", override]
    if command == "run":
        argv += ["--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lbsim: error: ")
    assert path.name in lines[0]
    for fragment in expected:
        assert fragment in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not out.exists()


def test_missing_scenario_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbsim: error: ") and "nope.yaml" in err
    assert not (tmp_path / "out").exists()


def test_check_prints_resolved_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(tmp_path)
    assert main(["check", str(path), "--seed", "42", "--set", "clients.browsers.count=3"]) == 0
    out = capsys.readouterr().out
    assert "name: tiny" in out
    assert "42" in out


# --- run, with stand-in scenario loader and engine -----------------------------------


class FakeScenarioError(Exception):
    def __str__(self) -> str:
        return "bad.yaml: clients.browsers.count: expected an integer, got 'many'"


def fake_modules(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand-in ``lbsim.scenario`` and ``lbsim.sim`` that record how they were called."""
    calls: dict[str, Any] = {}

    def load_scenario(source: Any = None, overrides: Any = (), *, seed: int | None = None) -> Any:
        calls["load"] = (source, list(overrides), seed)
        if source == "bad.yaml":
            raise FakeScenarioError
        return SimpleNamespace(name="fake", seed=seed or 1, duration=4.0, warmup=1.0)

    def run_scenario(
        scenario: Any, *, trace_segments: bool = False, progress: Any = None, variants: Any = None
    ) -> list[VariantRun]:
        calls["run"] = {"trace_segments": trace_segments}
        runs = []
        for name, layer in (("l4", 4), ("l7", 7)):
            recorder = Recorder(name)
            for i in range(20):
                t = 0.2 * i
                backend = "web-1" if layer == 4 else ("web-1", "web-2")[i % 2]
                recorder.requests.append(
                    RequestRecord(
                        name,
                        f"u-{i}",
                        "browsers",
                        "c-1",
                        backend,
                        "GET",
                        "/",
                        200,
                        "ok",
                        t,
                        t + 0.012,
                        400,
                        2000,
                    )
                )
                if progress is not None:
                    progress(name, (i + 1) / 20)
            recorder.counters.update(
                {
                    "segments.client_side": 80,
                    "segments.backend_side": 60,
                    "lb.cpu_utilization": 0.05,
                    "lb.peak_buffer_bytes": 0,
                    "lb.peak_table_entries": 1,
                }
            )
            runs.append(
                VariantRun(name, layer, "round_robin", recorder, ("web-1", "web-2"), 0.01, 4.1)
            )
        return runs

    scenario_module = types.ModuleType("lbsim.scenario")
    scenario_module.load_scenario = load_scenario  # type: ignore[attr-defined]
    scenario_module.ScenarioError = FakeScenarioError  # type: ignore[attr-defined]
    sim_module = types.ModuleType("lbsim.sim")
    sim_module.run_scenario = run_scenario  # type: ignore[attr-defined]
    sim_module.check_buildable = lambda scenario: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lbsim.scenario", scenario_module)
    monkeypatch.setitem(sys.modules, "lbsim.sim", sim_module)
    budget_module = types.ModuleType("lbsim.budget")  # the fake scenario has no workload
    budget_module.estimate = lambda scenario, **options: None  # type: ignore[attr-defined]
    budget_module.over_budget = lambda work, **options: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lbsim.budget", budget_module)
    return calls


def test_run_prints_table_and_writes_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = fake_modules(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--seed", "5", "--set", "a.b=1", "--set", "c=2"]) == 0
    assert calls["load"] == (None, ["a.b=1", "c=2"], 5)
    assert calls["run"] == {"trace_segments": False}
    captured = capsys.readouterr()
    out = captured.out
    for header in ("variant", "req/s", "p99", "ms", "sticky", "Jain", "CPU %", "buffer B"):
        assert header in out
    assert "l4" in out and "l7" in out
    assert "Outputs written to out/fake/" in out
    assert "variant l4" in captured.err  # progress goes to stderr
    summary = json.loads((tmp_path / "out" / "fake" / "summary.json").read_text())
    assert summary["seed"] == 5
    assert summary["variants"]["l4"]["stickiness"] == 1.0
    assert sorted(p.name for p in (tmp_path / "out" / "fake" / "figures").iterdir()) == [
        "backend_requests.png",
        "latency_cdf.png",
        "stickiness.png",
    ]


def test_run_table_splits_on_narrow_terminals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_modules(monkeypatch)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["run", "--out", str(tmp_path / "out"), "--no-figures"]) == 0
    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert "requests and latency" in lines and "balancing and cost" in lines
    assert max(len(line) for line in lines[:-1]) <= 80  # the last line: the output path
    assert sum(line.startswith(" l4 ") for line in lines) == 2  # one row per table


def test_run_options_reach_engine_and_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_modules(monkeypatch)
    out = tmp_path / "results"
    assert main(["run", "x.yaml", "--out", str(out), "--trace-segments", "--no-figures"]) == 0
    assert calls["run"] == {"trace_segments": True}
    assert calls["load"][0] == "x.yaml"
    assert (out / "requests.csv").is_file()
    assert not (out / "figures").exists()


def test_run_scenario_error_exits_2_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = fake_modules(monkeypatch)
    assert main(["run", "bad.yaml", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        err == "lbsim: error: bad.yaml: clients.browsers.count: expected an integer, got 'many'\n"
    )
    assert "run" not in calls
    assert not (tmp_path / "out").exists()


def test_run_refuses_foreign_output_dir_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = fake_modules(monkeypatch)
    (tmp_path / "thesis.tex").write_text("precious")
    assert main(["run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbsim: error: ") and "thesis.tex" in err
    assert "run" not in calls
    assert (tmp_path / "thesis.tex").read_text() == "precious"


# --- end to end (real scenario loader and engine) ------------------------------------


def test_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"Outputs written to {out}/" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "tiny" and summary["seed"] == 3
    assert list(summary["variants"]) == ["l4", "l7"]
    assert summary["variants"]["l4"]["requests"] > 0
    for name in ("requests.csv", "figures/latency_cdf.png", "figures/stickiness.png"):
        assert (out / name).is_file()


def test_run_twice_gives_identical_outputs(tmp_path: Path) -> None:
    path = write_scenario(tmp_path)
    for name in ("a", "b"):
        assert main(["run", str(path), "--out", str(tmp_path / name), "--no-figures"]) == 0
    for name in ("requests.csv", "connections.csv", "timeseries.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    summaries = []
    for name in ("a", "b"):
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        for variant in summary["variants"].values():
            assert variant.pop("wall_seconds") >= 0
        summaries.append(summary)
    assert summaries[0] == summaries[1]
