"""`pytest exercises/10_guardrails` runs this exercise's check, the same one as `lab check 10`.

The check itself lives in the kit (lab/checks/ex10_guardrails.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_10_guardrails():
    check_folder("10", Path(__file__).resolve().parent)
