"""`pytest exercises/17_replicas_migrate` runs this exercise's check, the same one as `lab check 17`.

The check itself lives in the kit (lab/checks/ex17_replicas_migrate.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_17_replicas_migrate():
    check_folder("17", Path(__file__).resolve().parent)
