"""`pytest exercises/19_change_column_type` runs this exercise's check, the same one as `lab check 19`.

The check itself lives in the kit (lab/checks/ex19_change_column_type.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_19_change_column_type():
    check_folder("19", Path(__file__).resolve().parent)
