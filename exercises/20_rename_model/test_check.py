"""`pytest exercises/20_rename_model` runs this exercise's check, the same one as `lab check 20`.

The check itself lives in the kit (lab/checks/ex20_rename_model.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_20_rename_model():
    check_folder("20", Path(__file__).resolve().parent)
