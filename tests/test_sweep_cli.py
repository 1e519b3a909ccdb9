"""The sweep, plot and figures commands (lbsim.cli): exit codes, messages, files."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest

from lbsim.cli import main
from scenarios import tiny_sweep_yaml

SCENARIO = tiny_sweep_yaml()


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lbsim: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("grid", "fragments"),
    [
        ("clients.browsers.cout=1,2", ["clients.browsers.cout", 'unknown key "cout"']),
        ("clients.browsers.count=1:5", ["malformed range", "START:STOP:STEP"]),
        ("clients.browsers.count=5:1:1", ["is empty"]),
        ("clients.browsers.count=1,two", ["clients.browsers.count", "whole number"]),
        ("clients.browsers.count", ["expected PATH=V1,V2"]),
        ("seed=1,2", ["--replications"]),
    ],
)
def test_bad_grid_exits_2_with_one_line_and_no_output(
    grid: str,
    fragments: list[str],
    scenario_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", str(scenario_file), "--grid", grid, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    for fragment in fragments:
        assert fragment in line
    assert captured.out == ""
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--replications", "0"],
        ["--jobs", "0"],
        ["--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"],
    ],
    ids=["zero-replications", "zero-jobs", "jobs-and-scheduler"],
)
def test_bad_sweep_options_exit_2(
    argv: list[str], scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", str(scenario_file), "--out", str(out), *argv]) == 2
    assert "usage: lbsim sweep" in capsys.readouterr().err
    assert not out.exists()


def test_sweep_then_plot(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        str(scenario_file),
        "--grid",
        "clients.browsers.count=1:2:1",
        "--set",
        "warmup=0.1s",
        "--replications",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "2 grid points × 2 replications = 4 runs" in captured.out
    assert "tables written to" in captured.out
    assert "p99 ms" in captured.out  # the summary table
    assert "[4/4]" in captured.err  # line-mode progress with ETA (stderr is not a terminal)
    assert "ETA" in captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        "aggregate.csv",
        "runs.csv",
        "runs.jsonl",
        "sweep.json",
        "timings.csv",
    ]
    assert json.loads((out / "sweep.json").read_text())["overrides"] == ["warmup=0.1s"]

    # the same command again refuses to overwrite; --resume has nothing left to do
    assert main(argv) == 2
    assert "--resume" in one_error_line(capsys.readouterr().err)
    assert main([*argv, "--resume"]) == 0
    assert "0 runs, 4 already done" in capsys.readouterr().out

    plot = ["plot", str(out), "--x", "clients.browsers.count", "--y", "latency.p99"]
    assert main(plot) == 0
    figure = out / "figures" / "latency.p99-vs-clients.browsers.count.png"
    assert str(figure) in capsys.readouterr().out
    assert matplotlib.image.imread(figure).shape[0] > 500
    svg = tmp_path / "fairness.svg"
    assert main([*plot[:-1], "jain_fairness", "--variant", "l4", "--out", str(svg)]) == 0
    assert svg.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--x", "duration", "--y", "latency.p99"], "not a swept path"),
        (["--x", "clients.browsers.count", "--y", "latency.p98"], "did you mean latency.p99"),
        (["--x", "clients.browsers.count", "--y", "variant"], "no such metric"),
        (["--x", "clients.browsers.count", "--y", "stickiness", "--variant", "l9"], "l9"),
        (["--x", "clients.browsers.count", "--y", "stickiness", "--out", "f.txt"], ".png"),
    ],
)
def test_bad_plot_input_exits_2(
    options: list[str],
    fragment: str,
    scenario_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "sweep"
    grid = ["--grid", "clients.browsers.count=1,2"]
    assert main(["sweep", str(scenario_file), *grid, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["plot", str(out), *options]) == 2
    assert fragment in one_error_line(capsys.readouterr().err)
    assert not (out / "figures").exists()


def test_plot_of_a_directory_that_is_not_a_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plot", str(tmp_path), "--x", "a", "--y", "b"]) == 2
    assert "not a sweep directory" in one_error_line(capsys.readouterr().err)


def test_figures_list_and_unknown_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figures", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("latency_cdf", "stickiness", "load_knee", "segments_vs_mtu"):
        assert f"{name}: " in listed
    out = tmp_path / "figs"
    assert main(["figures", "--only", "nope", "--out", str(out)]) == 2
    assert "--only nope" in one_error_line(capsys.readouterr().err)
    assert not out.exists()
