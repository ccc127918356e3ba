"""Checks must bite. Every exercise's check FAILS on the untouched starter for the intended reason
(the catalogue's `starter_fails_with`), FAILS on every wrong answer of the corpus for that answer's
stated reason (solutions/NN_slug/wrong/*.patch: the solution plus one plausible mistake), and
PASSES on the solution. A check that a wrong answer passes is a defect."""
import os
import time

import pytest

from lab.corpus import materialize, wrong_answers
from lab.exercises import CheckFailed, catalogue
from lab.learner import load_check  # the same loader `lab check` uses

EXERCISES = catalogue()


def red_team(w) -> bool:
    return "red team" in w.mistake.lower() or w.name.startswith("rt_")


PER_EXERCISE = 3   # wrong answers per exercise in every run (CI included); `make corpus` runs them all


def in_every_run(answers, starter_kind: str | None = None):
    """The wrong answers `make test` (and CI) runs for one exercise: PER_EXERCISE of them, each of
    another failure kind, none of the starter's kind (its own test shows that verdict already), a
    red team's answers first (mistakes the check's authors did not imagine, closed by an invariant).
    The rest run with `make corpus`, the whole corpus (204 answers). With 20 exercises, a sample of
    118 answers made `.ci/run` take 75 minutes on this 2-core machine (limit: 90), most of it checks
    of most of a minute each."""
    kept, kinds = [], {starter_kind} - {None}
    for w in sorted(answers, key=lambda w: (not red_team(w), w.name)):
        if w.expect not in kinds and len(kept) < PER_EXERCISE:
            kept.append(w)
            kinds.add(w.expect)
    return kept


WRONG = [w for ex in EXERCISES
         for w in (wrong_answers(ex) if os.environ.get("CORPUS") == "all" else in_every_run(wrong_answers(ex), ex.starter_fails_with))]


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


def test_every_run_samples_each_exercise_and_the_corpus_keeps_every_kind():
    """The sample leaves no exercise out: each runs PER_EXERCISE wrong answers of as many kinds (or
    every kind it has, if fewer), the red team's first; every kind of every exercise stays in the
    corpus that `make corpus` runs."""
    for ex in EXERCISES:
        answers = wrong_answers(ex)
        kinds = {w.expect for w in answers} - {ex.starter_fails_with}
        sample = in_every_run(answers, ex.starter_fails_with)
        assert len({w.expect for w in sample}) == len(sample) == min(PER_EXERCISE, len(kinds)), ex.id
        red = [w for w in answers if red_team(w) and w.expect != ex.starter_fails_with]
        assert not red or red_team(sample[0]), f"{ex.id}: a red team's answer comes first"
