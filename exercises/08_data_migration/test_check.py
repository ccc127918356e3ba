"""`pytest exercises/08_data_migration` runs this exercise's check, the same one as `lab check 08`.

The check itself lives in the kit (lab/checks/ex08_data_migration.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_08_data_migration():
    check_folder("08", Path(__file__).resolve().parent)
