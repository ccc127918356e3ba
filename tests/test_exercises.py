"""Checks must bite. Every exercise's check FAILS on the untouched starter for the intended reason
(the catalogue's `starter_fails_with`), FAILS on every wrong answer of the corpus for that answer's
stated reason (solutions/NN_slug/wrong/*.patch: the solution plus one plausible mistake), and
PASSES on the solution. A check that a wrong answer passes is a defect."""
import time

import pytest

from lab.corpus import materialize, wrong_answers
from lab.exercises import CheckFailed, catalogue
from lab.learner import load_check  # the same loader `lab check` uses

EXERCISES = catalogue()
WRONG = [w for ex in EXERCISES for w in wrong_answers(ex)]


@pytest.mark.parametrize("ex", EXERCISES, ids=[e.name for e in EXERCISES])
def test_check_fails_on_starter_for_the_intended_reason(ex, check_timings):
    check = load_check(ex)
    t0 = time.monotonic()
    with pytest.raises(CheckFailed) as failure:
        check(ex.folder)
    check_timings[f"{ex.name} starter"] = time.monotonic() - t0
    assert failure.value.reason == ex.starter_fails_with, str(failure.value)
    # the learner gets words, not a traceback: what broke and what to look at
    assert failure.value.message and failure.value.look_at, str(failure.value)


@pytest.mark.parametrize("ex", EXERCISES, ids=[e.name for e in EXERCISES])
def test_check_passes_on_solution(ex, check_timings, tmp_path):
    check = load_check(ex)
    folder = materialize(ex, tmp_path / ex.name)
    t0 = time.monotonic()
    scenario = check(folder)
    check_timings[f"{ex.name} solution"] = time.monotonic() - t0
    assert scenario.traffic is None or scenario.traffic.records, "the check ran no traffic"


@pytest.mark.parametrize("wrong", WRONG, ids=[w.id for w in WRONG])
def test_check_fails_on_wrong_answer_for_its_reason(wrong, check_timings, tmp_path):
    check = load_check(wrong.exercise)
    folder = materialize(wrong.exercise, tmp_path / wrong.exercise.name, wrong)
    t0 = time.monotonic()
    with pytest.raises(CheckFailed) as failure:
        check(folder)
    check_timings[f"{wrong.id} wrong"] = time.monotonic() - t0
    assert failure.value.reason == wrong.expect, (
        f"{wrong.id} ({wrong.mistake}) should fail with {wrong.expect!r}:\n{failure.value}")
    assert failure.value.message and failure.value.look_at, str(failure.value)
