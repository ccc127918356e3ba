"""`pytest exercises/15_failed_halfway` runs this exercise's check, the same one as `lab check 15`.

The check itself lives in the kit (lab/checks/ex15_failed_halfway.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_15_failed_halfway():
    check_folder("15", Path(__file__).resolve().parent)
