"""`pytest exercises/04_rename_field` runs this exercise's check, the same one as `lab check 04`.

The check itself lives in the kit (lab/checks/ex04_rename_field.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_04_rename_field():
    check_folder("04", Path(__file__).resolve().parent)
