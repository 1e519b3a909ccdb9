"""The class notebooks' helpers: grading sentences, plurals, self-checks, the answers table."""

from __future__ import annotations

import pytest

from lbsim.teach import notebook
from lbsim.teach.notebook import NotYet, answers, grade, plural, self_check


def test_grade_numbers_within_the_tolerance_and_beyond() -> None:
    right = grade(0.27, 0.25, what="L7 stickiness", tolerance=0.03)
    near = grade(0.31, 0.25, what="L7 stickiness", tolerance=0.03)
    wrong = grade(1.0, 0.25, what="L7 stickiness", tolerance=0.03, why="1/N of 4.")
    assert (right.grade, near.grade, wrong.grade) == ("right", "not quite", "wrong")
    assert "0.25" in wrong.sentence and "±0.03" in wrong.sentence and "1/N of 4." in wrong.sentence
    assert "1/N" not in right.sentence  # the explanation is for answers that missed
    relative = grade(230, 247, what="rate", tolerance=0.15, relative=True, unit="req/s")
    assert relative.grade == "right" and "±15%" in relative.sentence
    assert "req/s" in relative.sentence


def test_grade_never_raises_on_a_students_input() -> None:
    assert grade(None, 3, what="count").grade == "unset"
    assert "Make a prediction first" in grade(None, 3, what="count").sentence
    assert grade("4", 4, what="count").grade == "right"  # a number typed as text
    odd = grade("four", 4, what="count")
    assert odd.grade == "unset" and "should be a number" in odd.sentence
    assert grade(True, True, what="question").grade == "right"
    assert grade(False, True, what="question").grade == "wrong"
    assert repr(grade(3, 3, what="count")).startswith("✔ Right")


def test_plural_reads_as_english() -> None:
    assert plural(1, "request") == "1 request"
    assert plural(3, "request") == "3 requests"
    assert plural(1200, "entry", "entries") == "1,200 entries"
    assert plural(0, "backend") == "0 backends"


def test_self_check_raises_not_yet_with_the_hint() -> None:
    with pytest.raises(NotYet, match="Not yet: expected 4"):
        self_check(False, "fine", "expected 4")


def test_every_notebook_has_answers_that_a_wrong_value_misses() -> None:
    assert sorted(notebook.ANSWERS) == [f"{i:02d}" for i in range(1, 9)]
    for number in notebook.ANSWERS:
        for answer in answers(number):
            assert answer.name == "PREDICTION" and answer.why
            assert answer.value != answer.wrong
    with pytest.raises(KeyError):
        answers("99")
