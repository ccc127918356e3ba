"""`pytest exercises/14_test_migrations` runs this exercise's check, the same one as `lab check 14`.

The check itself lives in the kit (lab/checks/ex14_test_migrations.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_14_test_migrations():
    check_folder("14", Path(__file__).resolve().parent)
