"""Helpers for the class notebooks: run a scenario, check a claim, grade a prediction.

Theory of operation: every notebook in ``notebooks/`` starts with one short cell,
``from lbsim.teach.notebook import *``, instead of copying the same setup code.
The names it brings in are:

* the usual tools (``math``, ``pd``, ``plt``, ``theory``) and the scenario loaders;
* :func:`simulate`, which runs a scenario (bundled name, file or parsed) and returns
  its :class:`~lbsim.results.Results`;
* :func:`self_check`, which checks that the *simulation* shows the concept and shows a
  ✅ sentence (or raises :class:`NotYet`, an ``AssertionError``, with what was expected);
* :func:`grade`, which grades the *student's* prediction against the simulated value
  with a stated tolerance and answers with a :class:`Verdict`, a sentence (right, not
  quite, wrong, or "make a prediction first"); it never raises on a student's input;
* :func:`panel`, live controls (ipywidgets sliders and drop-downs) that call a redraw
  function on every change;
* :func:`plural`, for messages that read as English ("1 request", "3 requests").

The answers to the exercises are kept out of the student's notebook: a teacher calls
:func:`answers` (``answers("05")``) or reads ``notebooks/README.md``. The test suite uses
the same table to run every notebook with a right and a wrong prediction.

Displaying is this module's job, so it uses ``IPython.display`` (never ``print``).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from lbsim import theory
from lbsim.results import Results, build_results
from lbsim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from lbsim.sim import run_scenario

__all__ = [
    "NotYet",
    "ScenarioError",
    "Verdict",
    "answers",
    "grade",
    "load_scenario",
    "math",
    "panel",
    "parse_scenario",
    "pd",
    "plt",
    "plural",
    "self_check",
    "simulate",
    "theory",
]

# Whole explanation columns, never "...and ba...".
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 24)
pd.set_option("display.max_colwidth", None)

#: Every graded prediction of this kernel, in order (what the student predicted).
PREDICTIONS: list[Verdict] = []


def _show(text: str) -> None:
    """Display a sentence in the notebook (plain text, so it also reads in a terminal)."""
    from IPython.display import display

    display(_Said(text))


class _Said(str):
    """A sentence that Jupyter displays as itself, without quotes."""

    def __repr__(self) -> str:
        return str(self)


def simulate(
    scenario: str | Scenario, *overrides: str, variants: list[str] | None = None
) -> Results:
    """Run a scenario and return its results.

    Args:
        scenario: a bundled scenario's name, a file path, or a parsed scenario.
        *overrides: ``--set`` style strings, e.g. ``"duration=5s"`` (names and files only).
        variants: the balancer variants to run (all of them by default).

    Returns:
        The run's results (summary, requests, time series).
    """
    if isinstance(scenario, str):
        scenario = load_scenario(scenario, list(overrides))
    return build_results(scenario, run_scenario(scenario, variants=variants))


class NotYet(AssertionError):
    """A self-check did not hold: the simulation did not show what the notebook claims."""


def self_check(condition: object, success: str, hint: str) -> None:
    """Check that the simulation shows the concept.

    Args:
        condition: what must hold.
        success: the sentence shown (after ✅) when it holds.
        hint: what was expected, raised as ``NotYet: ...`` when it does not.

    Raises:
        NotYet: when ``condition`` is false (a simulator or notebook bug, not the student's).
    """
    if not condition:
        raise NotYet("Not yet: " + hint)
    _show("✅ " + success)


def plural(count: float, word: str, many: str | None = None) -> str:
    """``count`` and ``word`` in the right number: ``plural(1, "request")`` is "1 request"."""
    shown = f"{count:,}" if isinstance(count, int) else f"{count:g}"
    return f"{shown} {word if count == 1 else (many or word + 's')}"


@dataclass(frozen=True)
class Verdict:
    """A graded prediction: what was predicted, what the simulation gave, and the sentence.

    Attributes:
        grade: ``"unset"``, ``"right"``, ``"not quite"`` or ``"wrong"``.
        prediction: the student's value (``None`` if unset).
        actual: the simulated value it was compared with.
        sentence: the answer shown to the student.
    """

    grade: str
    prediction: Any
    actual: Any
    sentence: str

    def __str__(self) -> str:
        return self.sentence

    def __repr__(self) -> str:
        return self.sentence


def _fmt(value: Any, unit: str) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return repr(value) if isinstance(value, str) else str(value)
    number = float(value)
    text = f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"
    return f"{text} {unit}".rstrip()


def grade(
    prediction: Any,
    actual: Any,
    *,
    what: str,
    tolerance: float = 0.0,
    relative: bool = False,
    unit: str = "",
    why: str = "",
    name: str = "PREDICTION",
) -> Verdict:
    """Grade a prediction against the simulated value and show the verdict.

    Numbers are right within ``tolerance`` (absolute, or a fraction of ``actual`` when
    ``relative``), "not quite" within three times that, wrong beyond. Anything else
    (``True``/``False``, a backend's name) is right when equal. An unset prediction
    (``None``) gets a friendly request to predict first. Never raises.

    Args:
        prediction: the student's value.
        actual: what the simulation gave.
        what: the quantity, as a noun phrase ("L7 stickiness").
        tolerance: how far a right number may be from ``actual``.
        relative: ``tolerance`` is a fraction of ``actual``.
        unit: shown after numbers ("req/s").
        why: one sentence explaining the right answer (shown for not quite and wrong).
        name: the variable the student sets.

    Returns:
        The verdict (appended to :data:`PREDICTIONS`), displayed as its sentence when it is
        a cell's last value.
    """
    if prediction is None or prediction is Ellipsis:
        verdict = Verdict(
            "unset",
            prediction,
            actual,
            f"✏️ Make a prediction first: set {name} (the {what}) in the cell "
            "above, run it, then run this cell again.",
        )
        return verdict
    shown = _fmt(actual, unit)
    numeric = isinstance(actual, numbers.Real) and not isinstance(actual, bool)
    if numeric and isinstance(prediction, str):
        try:
            prediction = float(prediction)
        except ValueError:
            verdict = Verdict(
                "unset",
                prediction,
                actual,
                f"✏️ {name} should be a number (the {what}), not {prediction!r}.",
            )
            _show(verdict.sentence)
            return verdict
    if numeric and isinstance(prediction, numbers.Real) and not isinstance(prediction, bool):
        allowed = tolerance * abs(actual) if relative else tolerance
        error = abs(float(prediction) - float(actual))
        band = f"{tolerance:.0%}" if relative else _fmt(tolerance, unit)
        if error <= allowed:
            kind, opening = "right", "✔ Right"
        elif error <= 3 * allowed:
            kind, opening = "not quite", "〜 Not quite"
        else:
            kind, opening = "wrong", "✘ Wrong"
        sentence = (
            f"{opening}: you predicted {_fmt(prediction, unit)} for the {what}; "
            f"the simulation gave {shown} (right within ±{band})."
        )
    else:
        right = prediction == actual
        kind, opening = ("right", "✔ Right") if right else ("wrong", "✘ Wrong")
        sentence = (
            f"{opening}: you predicted {_fmt(prediction, unit)} for the {what}; "
            f"the simulation gave {shown}."
        )
    if kind != "right" and why:
        sentence += " " + why
    verdict = Verdict(kind, prediction, actual, sentence)
    PREDICTIONS.append(verdict)
    return verdict


@dataclass
class Panel:
    """Live controls and the redraw function they drive.

    Attributes:
        widget: the ipywidgets box (display it, or leave it as a cell's last value).
        redraw: the function called with the controls' values on every change.
        seconds: wall-clock seconds the last redraw took.
    """

    widget: Any
    redraw: Callable[..., Any]
    seconds: float = math.nan

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def panel(redraw: Callable[..., Any], **controls: Any) -> Panel:
    """Sliders and drop-downs that re-run ``redraw(**values)`` whenever one changes.

    Args:
        redraw: draws a figure (and may display a sentence) for the given values.
        **controls: one ipywidgets control per keyword argument of ``redraw``.

    Returns:
        The panel; the first drawing is made at once, so a headless run shows it too.
    """
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    built = Panel(box, redraw)

    def update(_: object = None) -> None:
        values = {key: control.value for key, control in controls.items()}
        started = time.perf_counter()
        with out:
            out.clear_output(wait=True)
            redraw(**values)
            plt.show()
        built.seconds = time.perf_counter() - started

    for control in controls.values():
        control.observe(update, names="value")
    display(box)
    update()
    return built


@dataclass(frozen=True)
class Answer:
    """The expected answer to one exercise, for the teacher.

    Attributes:
        name: the variable the student sets.
        value: the right prediction at the notebook's default parameters.
        wrong: a clearly wrong prediction (the tests use it).
        why: how to reason to the answer.
    """

    name: str
    value: Any
    wrong: Any
    why: str


ANSWERS: dict[str, list[Answer]] = {
    "01": [
        Answer(
            "PREDICTION",
            True,
            False,
            "With the default CHOICE, an L4 proxy: it answers the client's handshake itself "
            "and splices the stream onto its own backend connection, so it terminates the "
            "client's TCP connection (True). NAT and DSR do not (False); L7 does (True).",
        )
    ],
    "02": [
        Answer(
            "PREDICTION",
            3,
            1,
            "At the default 250 requests/s on backends of 100 requests/s each: 3 (ρ = 0.83). "
            "In general the smallest n with RATE < n × 100: 350 -> 4, 300 -> 4 (3 are at "
            "exactly 100 % and their queue never settles), 200 -> 3, 120 -> 2.",
        )
    ],
    "03": [
        Answer(
            "PREDICTION",
            True,
            False,
            "Yes at the default capacity of 20: 20 browsers hold a connection each, and "
            "closed ones wait out TIME_WAIT (120 s) in the table, so the peak is above 20. "
            "With 1000, none; with TIME_WAIT 1s the peak falls close to the 20 open ones.",
        )
    ],
    "04": [
        Answer(
            "PREDICTION",
            0.62,
            0.34,
            "About two thirds (0.62 here) for every algorithm: the busy connection carries "
            "16 of the 24 streams and an L4 algorithm only places the three connections. "
            "Algorithms that put two connections on one backend show up to about 0.8.",
        )
    ],
    "05": [
        Answer(
            "PREDICTION",
            0.25,
            1.0,
            "Random choice among N backends repeats the previous one with probability "
            "1/N: 0.25 for the default N = 4 (0.5 for 2, 0.125 for 8).",
        )
    ],
    "06": [
        Answer(
            "PREDICTION",
            True,
            False,
            "The default 'BadBot/2.1 ...' contains the blocklisted text 'BadBot': refused "
            "(True). 'Mozilla/5.0' and 'badbot' (the match is case-sensitive) get through.",
        )
    ],
    "07": [
        Answer(
            "PREDICTION",
            245,
            1000,
            "One core at 4 ms + about 50 µs per request serves at most 1 / 4.05 ms, about "
            "247 requests/s: the highest load is past the knee. With 2ms about 490; with "
            "30us the balancer is no limit and it serves what the callers ask.",
        )
    ],
    "08": [
        Answer(
            "PREDICTION",
            5.0,
            20.0,
            "Probes every 2 s, marked down after 3 failures in a row: between (3 - 1) x 2 = "
            "4 s and 3 x 2 s + the timeout after the crash. With interval 0.5 s about 1 s; "
            "with fall 1, within one interval.",
        )
    ],
}


def answers(notebook: str) -> list[Answer]:
    """The expected answers of one notebook's exercises (for the teacher).

    Args:
        notebook: its two-digit number, e.g. ``"05"``.

    Returns:
        One :class:`Answer` per graded exercise.

    Raises:
        KeyError: for a notebook that does not exist.
    """
    return ANSWERS[notebook]
