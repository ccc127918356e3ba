"""Fixtures for the kit's own tests: real labs on free ports in temporary state folders."""
import json
import os
from pathlib import Path

import pytest

from lab.exercises import fresh_lab

RESULTS = Path(__file__).resolve().parent.parent / ".lab" / "test-timings.json"


@pytest.fixture
def lab():
    """A lab of its own: seeded baseline, blue and green on v1, static proxied (the naive set-up)."""
    with fresh_lab(static_mode="proxy") as lab:
        yield lab


@pytest.fixture(scope="session")
def check_timings():
    """Collects how long each exercise check took; written to .lab/test-timings.json for the bench."""
    timings = {}
    yield timings
    if timings:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        old.update({k: round(v, 2) for k, v in timings.items()})
        RESULTS.write_text(json.dumps(old, indent=2, sort_keys=True))
