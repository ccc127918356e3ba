"""`pytest exercises/16_many_migrations` runs this exercise's check, the same one as `lab check 16`.

The check itself lives in the kit (lab/checks/ex16_many_migrations.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_16_many_migrations():
    check_folder("16", Path(__file__).resolve().parent)
