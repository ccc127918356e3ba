"""`pytest exercises/03_remove_field` runs this exercise's check, the same one as `lab check 03`.

The check itself lives in the kit (lab/checks/ex03_remove_field.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_03_remove_field():
    check_folder("03", Path(__file__).resolve().parent)
