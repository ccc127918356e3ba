"""The chapters can't go stale: every notebook runs headless, top to bottom, against a live lab.

Each chapter's "break it" cell asserts it really produced the failures it talks about, its "fix
it" cell asserts zero failed requests; any cell error fails the test. The chapters run against
ONE throwaway lab (lab.exercises.fresh_lab, free ports): the kernel gets LAB_HOME pointing at
it, exactly as `lab up --jupyter` points JupyterLab's kernels at the learner's lab, so the
learner's own lab is never touched. After each chapter the lab must be back where it was
(the chapters undo what they change), which is also what lets them share one lab.

The executed copies (outputs and plots) are written to docs/chapters/ (git-ignored) for the
docs site; the committed notebooks carry no outputs.
"""
import json
from pathlib import Path

import nbformat
import pytest

from lab import Lab, chapters
from lab.exercises import catalogue, fresh_lab

KIT = Path(__file__).resolve().parent.parent
NOTEBOOKS = KIT / "notebooks"
EXECUTED = KIT / "docs" / "chapters"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
EXERCISES = catalogue()
BASELINE_SIGHTINGS = 1000
TIMINGS = KIT / ".lab" / "notebook-timings.json"


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def tagged(nb, tag):
    return [i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])]


# ---------------------------------------------------------------- what is committed
def test_committed_notebooks_carry_no_outputs():
    assert CHAPTERS, "no notebooks found"
    dirty = []
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        for i, c in enumerate(code_cells(nb)):
            if c.outputs or c.execution_count is not None:
                dirty.append(f"{path.name}: code cell {i + 1}")
    assert not dirty, ("commit notebooks with outputs stripped (JupyterLab: Edit → Clear Outputs of All Cells, "
                       "then save): " + ", ".join(dirty))


def test_committed_notebooks_are_valid_and_run_on_the_kits_kernel():
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name


def test_there_is_a_tour_and_a_chapter_for_every_exercise():
    names = {p.name for p in CHAPTERS}
    assert "00_tour.ipynb" in names
    missing = [e.notebook.name for e in EXERCISES if e.folder.exists() and not e.notebook.exists()]
    assert not missing, f"exercises without a chapter: {missing}"


@pytest.mark.parametrize("ex", [e for e in EXERCISES if e.notebook.exists()], ids=lambda e: e.name)
def test_chapter_states_objectives_breaks_fixes_and_ends_with_the_exercise(ex):
    nb = nbformat.read(ex.notebook, as_version=4)
    first = code_cells(nb)[0].source
    assert f'Chapter("{ex.id}")' in first, "the first code cell opens the chapter (objectives and time from the catalogue)"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {ex.id} "), \
        "a markdown intro titled like the exercise comes first"
    breaks, fixes = tagged(nb, "break-it"), tagged(nb, "fix-it")
    assert breaks and fixes, "tag the cell that proves the break `break-it` and the one that proves the fix `fix-it`"
    assert max(breaks) < min(fixes), "break it first, then fix it"
    for i in breaks + fixes:
        assert "assert" in nb.cells[i].source, f"cell {i} must assert what it claims"
    text = "\n".join(c.source for c in nb.cells)
    assert f"lab check {ex.id}" in text, "the chapter ends with its exercise"
    assert "chapter.close()" in code_cells(nb)[-1].source, "the last code cell undoes the chapter's changes"


# ---------------------------------------------------------------- running them
@pytest.fixture(scope="module")
def notebook_lab():
    with fresh_lab(static_mode="proxy") as lab:
        yield lab


@pytest.fixture(scope="module")
def timings():
    found = {}
    yield found
    # merged, not replaced: with two workers the module's fixture may be set up more than once
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    TIMINGS.write_text(json.dumps({**old, **found}, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_runs_against_a_live_lab_and_leaves_it_as_it_found_it(path, notebook_lab, timings):
    # the same executor as `make docs` (lab/chapters.py): it writes the executed copy, with when,
    # where and how long, to docs/chapters/ for the site (an error in it fails `make docs` too)
    _, took, error = chapters.execute(path, notebook_lab.cfg.home)
    timings[path.stem] = round(took, 1)
    if error is not None:
        pytest.fail(f"{path.name} failed (executed copy with outputs: {EXECUTED / path.name}):\n{error}", pytrace=False)

    lab = Lab(home=notebook_lab.cfg.home, log=None)   # re-read: the kernel changed the saved settings
    st = lab.status()
    assert {s["slot"]: s["deployed_release"] for s in st["slots"]} == {"blue": "v1", "green": "v1"}, \
        f"{path.name} left the slots on other releases: end it with chapter.close()"
    assert all(s["healthy"] and s["live"] for s in st["slots"]), st["slots"]
    assert st["proxy"]["static_mode"] == "proxy", f"{path.name} did not put the static mode back"
    assert lab.sql("select count(*) from sightings_sighting")[0][0] == BASELINE_SIGHTINGS, \
        f"{path.name} left data behind: end it with chapter.close()"
