"""`pytest exercises/07_lock_queue` runs this exercise's check, the same one as `lab check 07`.

The check itself lives in the kit (lab/checks/ex07_lock_queue.py), not in this folder: editing this file
can't change the verdict, and `lab check` never reads it."""
from pathlib import Path

from lab.learner import check_folder


def test_07_lock_queue():
    check_folder("07", Path(__file__).resolve().parent)
