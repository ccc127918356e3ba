"""The checks, one module per exercise (exNN_slug.py), each with `check(work_dir, log=None)`.

They live here, in the kit, not in the learner's folder: a learner edits exercises/NN_slug/, and
nothing there can change a verdict. exercises/NN_slug/test_check.py only calls the check below,
so `pytest exercises/NN_slug` still works."""
from __future__ import annotations

import importlib


def load(ex):
    """The check function of a catalogue entry."""
    return importlib.import_module(f"lab.checks.ex{ex.name}").check
