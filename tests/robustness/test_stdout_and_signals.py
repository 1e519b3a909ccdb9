"""A finished run survives its stdout; a sweep keeps its runs when interrupted.

These need real processes: a pipe whose reader has gone, a full device behind
stdout, a SIGINT delivered to the sweep process alone (not its process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LBSIM = [sys.executable, "-m", "lbsim"]
FAST = ["--set", "duration=1s", "--set", "warmup=0s", "--no-figures"]


def _run(argv: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LBSIM, *argv], text=True, stderr=subprocess.PIPE, timeout=300, check=False, **options
    )  # type: ignore[call-overload]


def test_closed_pipe_keeps_the_run(tmp_path: Path) -> None:
    """``lbsim run | true``: the reader is gone before anything is printed."""
    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails with EPIPE
    try:
        result = _run(["run", "quickstart", *FAST, "--out", str(tmp_path / "o")], stdout=write)
    finally:
        os.close(write)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert (tmp_path / "o" / "summary.json").is_file()


def test_head_keeps_the_run(tmp_path: Path) -> None:
    """``lbsim run | head -1``: the reader leaves after the first line."""
    process = subprocess.Popen(
        [*LBSIM, "run", "quickstart", *FAST, "--out", str(tmp_path / "o")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=300) == 0, err
    assert "quickstart" in first
    assert "Traceback" not in err
    assert (tmp_path / "o" / "summary.json").is_file()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_stdout_keeps_the_run_and_says_so(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        result = _run(["run", "quickstart", *FAST, "--out", str(tmp_path / "o")], stdout=full)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("lbsim: error")]
    assert len(errors) == 1 and "No space left" in errors[0] and "outputs were written" in errors[0]
    assert "Traceback" not in result.stderr
    assert (tmp_path / "o" / "summary.json").is_file()


def test_sigint_to_the_sweep_process_keeps_finished_runs(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    # 24 runs: far more than finish in the wait, even when this process is starved
    # of CPU for seconds (a signal sent after the last run would rightly exit 0).
    grid = "clients.browsers.count=5:120:5"
    resume = ["sweep", "quickstart", "--set", "duration=2s", "--set", "warmup=0s", "--grid", grid]
    process = subprocess.Popen(
        [*LBSIM, *resume, "--jobs", "2", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = out / "runs.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 2:
            break
        time.sleep(0.1)
    assert process.poll() is None, "the sweep ended before it could be interrupted"
    process.send_signal(signal.SIGINT)  # to the sweep process alone, not the group
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    kept = journal.read_text().count("\n")
    assert f"{kept} of 24 runs kept" in err
    assert "Traceback" not in err
    assert kept < 24  # stopped, not run to the end
    resumed = _run(
        [*resume, "--jobs", "2", "--out", str(out), "--resume"], stdout=subprocess.DEVNULL
    )
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "runs.csv").is_file()


def test_ctrl_c_while_the_command_line_loads_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Building the parser imports every sub-command's modules: seconds of a cold start."""
    import lbsim.cli as cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_build_parser", interrupted)
    assert cli.main(["run", "quickstart"]) == 130
    assert capsys.readouterr().err == "lbsim: error: interrupted\n"


@pytest.mark.parametrize("delay", [0.3, 0.6, 0.9])
def test_sigint_at_startup_prints_no_traceback(delay: float) -> None:
    """A real process interrupted while it loads: one line, never a traceback."""
    process = subprocess.Popen(
        [*LBSIM, "check", "quickstart"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
    # Too early for Python's handler (killed by the signal), interrupted (130), or done.
    assert process.returncode in (-signal.SIGINT, 130, 0), err


def test_interrupted_sweep_counts_the_runs_its_journal_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C between a run's journal line and its progress line: the journal is counted."""
    import lbsim.cli as cli
    import lbsim.sweep as sweep

    def interrupted_after_two(plan: object, out: Path, **options: object) -> None:
        Path(out).mkdir(parents=True)
        (Path(out) / "runs.jsonl").write_text('{"run": 1}\n{"run": 2}\n')
        progress = options["progress"]
        progress(sweep.SweepProgress(1, 3, 0, None))  # type: ignore[operator]
        raise KeyboardInterrupt  # before the second run's progress line

    monkeypatch.setattr(sweep, "run_sweep", interrupted_after_two)
    out = tmp_path / "sweep"
    grid = ["--grid", "clients.browsers.count=5,10,15"]
    assert cli.main(["sweep", "quickstart", *grid, "--out", str(out)]) == 130
    assert "interrupted; 2 of 3 runs kept" in capsys.readouterr().err
