"""`pytest exercises/06_index_big_table` runs this exercise's check, the same one as `lab check 06`.

The check itself lives in the kit (lab/checks/ex06_index_big_table.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_06_index_big_table():
    check_folder("06", Path(__file__).resolve().parent)
