"""`pytest exercises/09_rollback` runs this exercise's check, the same one as `lab check 09`.

The check itself lives in the kit (lab/checks/ex09_rollback.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_09_rollback():
    check_folder("09", Path(__file__).resolve().parent)
