"""`pytest exercises/01_static_assets` runs this exercise's check, the same one as `lab check 01`.

The check itself lives in the kit (lab/checks/ex01_static_assets.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_01_static_assets():
    check_folder("01", Path(__file__).resolve().parent)
