"""`pytest exercises/18_constraints_busy_table` runs this exercise's check, the same one as `lab check 18`.

The check itself lives in the kit (lab/checks/ex18_constraints_busy_table.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_18_constraints_busy_table():
    check_folder("18", Path(__file__).resolve().parent)
