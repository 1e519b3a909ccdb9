"""Every hostile input of the corpus ends in one line on stderr, never a traceback.

The cases (``hostile.py``) are the failures a probe of the command line found:
alias bombs, absurd values, paths that cannot be written, messages that leaked
pydantic internals. Each goes through the real entry point, ``lbsim.cli.main``.
Further tests here cover what a single exit status cannot show: values read by the
YAML 1.2 rules, escaped control characters, leftovers of killed runs, file modes,
and the progress display of an interrupted run.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from hostile import CASES, Case, materialise

from lbsim.cli import _ProgressReporter, main
from lbsim.fsio import FolderLock, write_text_atomic
from lbsim.scenario import bundled_scenarios_dir, load_scenario

FAST = ["--set", "duration=1s", "--set", "warmup=0s", "--no-figures"]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    materialise(tmp_path)
    return tmp_path


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith("lbsim: note:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_one_line(
    case: Case, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg.replace("{tmp}", str(scratch)) for arg in case.argv]
    status = main(argv)
    err = capsys.readouterr().err
    line = _one_line(err)
    assert status == case.status, line
    assert case.says in line
    assert "more problem" not in line
    assert not re.search(r"\.(bool|int|float|str)(\b|:)", line)  # no pydantic union tags
    assert not (scratch / "out").exists() and not (scratch / "sw").exists()


def test_yaml_12_numbers_in_files_and_overrides(tmp_path: Path) -> None:
    text = (bundled_scenarios_dir() / "quickstart.yaml").read_text(encoding="utf-8")
    text = text.replace("count: 50", "count: 010").replace("weight: 8", "weight: 1e3")
    (tmp_path / "q.yaml").write_text(text, encoding="utf-8")
    scenario = load_scenario(tmp_path / "q.yaml")
    assert scenario.clients[0].count == 10  # ten, never eight
    assert scenario.clients[0].requests[0].weight == 1000.0
    assert load_scenario("quickstart", ["clients.browsers.count=0x1F"]).clients[0].count == 31
    assert load_scenario("quickstart", ["clients.browsers.count=0o10"]).clients[0].count == 8


def test_control_characters_are_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (bundled_scenarios_dir() / "quickstart.yaml").read_text(encoding="utf-8")
    text = text.replace("name: quickstart", 'name: "evil\\e]0;pwned\\a\\e[2J"')
    (tmp_path / "evil.yaml").write_text(text, encoding="utf-8")
    assert main(["run", str(tmp_path / "evil.yaml"), *FAST, "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert "\x1b" not in stream and "\x07" not in stream
    assert "evil\\e]0;pwned\\x07\\e[2J" in captured.err


def test_leftovers_of_killed_runs_are_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".o.tmp-0badc0de").mkdir()
    (tmp_path / ".o.pcap-k1ll3d").mkdir()
    (tmp_path / ".o.pcap-k1ll3d" / "l4-client.pcap").write_bytes(b"partial")
    (tmp_path / ".other.tmp-keepme").mkdir()
    assert main(["run", "quickstart", *FAST, "--out", str(tmp_path / "o")]) == 0
    assert "removed leftovers" in capsys.readouterr().err
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == [".other.tmp-keepme"]


def test_a_second_writer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FolderLock(tmp_path / "o"):
        assert main(["run", "quickstart", *FAST, "--out", str(tmp_path / "o")]) == 2
        line = _one_line(capsys.readouterr().err)
        assert "another lbsim process" in line
        sweep = ["sweep", "quickstart", *FAST[:4], "--out", str(tmp_path / "o")]
        assert main(sweep) == 2
        assert "another lbsim process" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


def test_every_output_has_one_mode(tmp_path: Path) -> None:
    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert main(["run", "quickstart", *FAST, "--out", str(tmp_path / "run")]) == 0
    expected = mode(tmp_path / "run" / "summary.json")
    assert main(["sweep", "quickstart", *FAST[:4], "--out", str(tmp_path / "sw")]) == 0
    for path in (tmp_path / "sw").iterdir():
        assert mode(path) == expected, path.name
    readme = write_text_atomic("# figures\n", tmp_path / "README.md")
    assert mode(readme) == expected
    assert json.loads((tmp_path / "sw" / "sweep.json").read_text())["complete"] is True


def test_an_interrupted_variant_is_not_reported_done(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = load_scenario("quickstart")
    with pytest.raises(KeyboardInterrupt), _ProgressReporter(scenario) as progress:
        progress("l4", 0.5)
        progress("l4", 1.0)
        progress("l7", 0.3)
        raise KeyboardInterrupt
    err = capsys.readouterr().err
    assert "variant l4 done" in err  # finished before l7 started
    assert "variant l7 done" not in err
