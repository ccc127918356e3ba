"""Fixtures for the kit's own tests: real labs on free ports in temporary state folders."""
import json
import os
from pathlib import Path

import pytest

from lab.exercises import fresh_lab

RESULTS = Path(__file__).resolve().parent.parent / ".lab" / "test-timings.json"

# The Docker check runs real containers (minutes): `make docker-check` runs it (LAB_DOCKER_CHECK=1),
# `.ci/run` calls that after `make test`; `make test` doesn't collect it (a skip there would fail
# in CI, where skips count as failures).
collect_ignore = [] if os.environ.get("LAB_DOCKER_CHECK") == "1" else ["test_docker.py"]
# The hub check likewise (`make hub-check`, LAB_HUB_CHECK=1: a real JupyterHub and its containers).
if os.environ.get("LAB_HUB_CHECK") != "1":
    collect_ignore.append("test_hub.py")


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


# ---------------------------------------------------------------- two workers (make test: -n 2)
# `make test` runs the suite on two pytest-xdist workers with `--dist loadgroup`. Each test module
# stays on one worker, in its order, with its module-scoped lab, exactly as in a plain run; the
# exercise checks (independent, each on a lab of its own, and most of the run's time) are dealt
# out one by one. The docs build, the instructor kit and the chapters share a group because the
# chapters write the executed copies the other two read.
SPREAD = {"test_exercises.py"}
TOGETHER = {"test_docs.py": "docs", "test_instructor_kit.py": "docs", "test_notebooks.py": "docs"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        if name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(TOGETHER.get(name, name)))


# ---------------------------------------------------------------- no silent skips in CI
# Locally a missing browser or a busy port may skip a test; in CI (CI=true) a skip would hide
# exactly what CI is for, so it fails instead, with the skip's reason.
def _fail_skip_in_ci(report, where):
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{where} was skipped, and CI must run everything: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result(), item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result(), collector.nodeid)
