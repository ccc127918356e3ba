"""Checks must bite: every exercise's check FAILS on the untouched starter for the intended reason
(the catalogue's `starter_fails_with`) and PASSES on the solution. A check that can't fail is a defect."""
import time

import pytest

from lab.exercises import CheckFailed, catalogue
from lab.learner import load_check  # the same loader `lab check` uses

EXERCISES = catalogue()


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
def test_check_passes_on_solution(ex, check_timings):
    check = load_check(ex)
    t0 = time.monotonic()
    scenario = check(ex.solution_folder)
    check_timings[f"{ex.name} solution"] = time.monotonic() - t0
    assert scenario.traffic is None or scenario.traffic.records, "the check ran no traffic"
