"""The how-to guides' examples work as written.

"How to write a scenario" builds one file step by step; its YAML block is taken
from the page itself, checked and run through the command line, and the outcome
the page describes (L4 fully sticky, L7 spreading an app's requests over the three
backends and buffering them) is checked on the run's ``summary.json``. Its
``--set`` examples must be accepted too.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from doclinks import DOCS, missing_links, missing_tests

from lbsim.cli import main

GUIDES = sorted((DOCS / "howto").glob("*.md"))
SCENARIO_GUIDE = DOCS / "howto" / "write-a-scenario.md"


def fenced(page: Path, language: str) -> list[str]:
    """The fenced code blocks of ``page`` in ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (block,) = fenced(SCENARIO_GUIDE, "yaml")
    path = tmp_path / "shop.yaml"
    path.write_text(block, encoding="utf-8")
    return path


def test_the_guide_scenario_checks_and_runs_as_described(shop: Path, tmp_path: Path) -> None:
    assert main(["check", str(shop)]) == 0
    out = tmp_path / "out"
    assert main(["run", str(shop), "--out", str(out), "--no-figures"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    l4, l7 = summary["variants"]["l4"], summary["variants"]["l7"]
    assert l4["failed"] == l7["failed"] == 0 and l4["requests"] == l7["requests"] > 1000
    assert l4["stickiness"] == 1.0 and abs(l7["stickiness"] - 1 / 3) < 0.05
    assert l4["lb"]["peak_buffer_bytes"] == 0 < l7["lb"]["peak_buffer_bytes"]


def test_the_guide_overrides_are_accepted(shop: Path) -> None:
    sh_blocks = "\n".join(fenced(SCENARIO_GUIDE, "sh"))
    commands = [shlex.split(line) for line in sh_blocks.splitlines() if "--set" in line]
    assert commands
    for words in commands:
        assert words[:3] == ["lbsim", "run", "shop.yaml"]
        assert main(["check", str(shop), *words[3:]]) == 0, words


def test_the_guide_shows_the_real_error_message(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.write_text(shop.read_text().replace("exp(8ms)", "8"), encoding="utf-8")
    assert main(["check", str(shop)]) == 2
    said = capsys.readouterr().err.strip().replace(str(shop), "shop.yaml")
    (shown,) = fenced(SCENARIO_GUIDE, "text")
    assert said == shown.strip()


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.name)
def test_guide_links_and_named_tests_exist(page: Path) -> None:
    assert missing_links(page) == []
    assert missing_tests(page.read_text(encoding="utf-8")) == []


ALGORITHM_GUIDE = DOCS / "howto" / "add-a-balancing-algorithm.md"


def test_the_guide_algorithm_works_once_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Define the guide's class, register it as the guide says, run a scenario with it."""
    import random
    from collections import Counter
    from collections.abc import Sequence
    from typing import Any, ClassVar

    from lbsim.lb.algorithms import Algorithm, make_algorithm, registry
    from lbsim.lb.algorithms.base import B, positive_int
    from lbsim.scenario import load_scenario
    from lbsim.scenario.algorithm_names import ALGORITHM_NAMES
    from lbsim.sim import run_scenario

    (code,) = [block for block in fenced(ALGORITHM_GUIDE, "python") if "class " in block]
    namespace: dict[str, Any] = {
        "Algorithm": Algorithm,
        "Any": Any,
        "B": B,
        "ClassVar": ClassVar,
        "Sequence": Sequence,
        "positive_int": positive_int,
        "random": random,
    }
    exec(code, namespace)
    best_of_d = namespace["BestOfD"]
    for layer in (4, 7):
        monkeypatch.setitem(registry._REGISTRY[layer], "best_of_d", (best_of_d, {}))
    for layer in (4, 7):  # the guide's one list of names, read when a balancer is validated
        monkeypatch.setitem(ALGORITHM_NAMES, layer, (*ALGORITHM_NAMES[layer], "best_of_d"))

    class View:
        def __init__(self, name: str, active: int) -> None:
            self.name, self.weight, self.active = name, 1.0, active

    views = [View(f"b{i}", active) for i, active in enumerate([5, 0, 9, 3])]
    everyone = make_algorithm("best_of_d", 4, random.Random(1), d=4)
    assert {everyone.pick(views, 0.0).name for _ in range(50)} == {"b1"}  # d = n: least loaded
    three = make_algorithm("best_of_d", 7, random.Random(1))
    picks = Counter(three.pick(views, 0.0).name for _ in range(4000))
    assert picks["b2"] == 0 and picks["b1"] / 4000 == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError, match="best_of_d: d must be a positive integer"):
        make_algorithm("best_of_d", 4, random.Random(1), d=0)

    sc = load_scenario(
        "stickiness",
        ["duration=5s", "balancers.l4.algorithm=best_of_d", "balancers.l4.params={d: 2}"],
    )
    runs = run_scenario(sc)
    assert all(r.outcome == "ok" for run in runs for r in run.recorder.requests)
