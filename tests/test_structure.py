"""The kit's shape, in well under a second and with no lab (rustlings' `dev check`): every catalogue
entry has its folder, check, chapter, solution and at least four wrong answers; every folder is in
the catalogue; no hint is empty; every plan parses against the schema; every failure kind is known."""
import difflib
import tomllib
from pathlib import Path

import pytest

from lab.corpus import materialize, wrong_answers
from lab.errors import LabError
from lab.exercises import EXERCISES_DIR, SOLUTIONS_DIR, CheckFailed, catalogue
from lab.kinds import Kind, is_kind
from lab.plan import Plan

EXERCISES = catalogue()
IDS = [e.name for e in EXERCISES]
MIN_WRONG = 4
KIT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_catalogue_entry_has_its_parts(ex):
    assert ex.folder.is_dir(), f"no exercises/{ex.name}/"
    assert ex.solution_folder.is_dir(), f"no solutions/{ex.name}/"
    assert ex.notebook.exists(), f"no chapter notebooks/{ex.name}.ipynb"
    assert (ex.folder / "README.md").exists() and (ex.folder / "plan.toml").exists()
    assert (Path("lab/checks") / f"ex{ex.name}.py").exists() or \
        (EXERCISES_DIR.parent / "lab" / "checks" / f"ex{ex.name}.py").exists(), "no check in lab/checks/"
    shim = (ex.folder / "test_check.py").read_text()
    assert "check_folder" in shim and "def check(" not in shim, "the check must live in lab/checks/, not here"
    assert ex.hints and all(h.strip() for h in ex.hints), "a hint is empty"
    assert ex.objectives and ex.title.strip() and ex.minutes > 0
    assert is_kind(ex.starter_fails_with), f"starter_fails_with {ex.starter_fails_with!r} is not a known kind"


def test_every_folder_is_in_the_catalogue():
    names = set(IDS)
    for root in (EXERCISES_DIR, SOLUTIONS_DIR):
        folders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
        assert folders <= names, f"{root.name}/ has folders the catalogue doesn't list: {sorted(folders - names)}"


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_solution_stores_only_what_differs_from_the_starter(ex):
    copies = [p.relative_to(ex.solution_folder) for p in ex.solution_folder.rglob("*")
              if p.is_file() and "wrong" not in p.relative_to(ex.solution_folder).parts
              and (ex.folder / p.relative_to(ex.solution_folder)).is_file()
              and (ex.folder / p.relative_to(ex.solution_folder)).read_bytes() == p.read_bytes()]
    assert not copies, f"solutions/{ex.name} holds byte copies of the starter: {copies}"


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_at_least_four_wrong_answers_each_with_its_mistake_and_kind(ex):
    wrong = wrong_answers(ex)
    assert len(wrong) >= MIN_WRONG, f"solutions/{ex.name}/wrong/ has {len(wrong)} wrong answers, needs {MIN_WRONG}"
    for w in wrong:
        assert w.mistake, f"{w.path}: no `mistake:` line"
        assert is_kind(w.expect), f"{w.path}: `expect: {w.expect}` is not a known failure kind"
        # the folder's README is the task's text, not the answer: a patch carrying it breaks at the
        # next edit of the solution's README (lab.corpus save leaves it out)
        assert "diff --git a/README.md " not in w.path.read_text(), f"{w.path}: changes README.md"


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_plans_parse_starter_solution_and_wrong_answers(ex, tmp_path):
    Plan.load(ex.folder)
    Plan.load(materialize(ex, tmp_path / "solution"))
    for w in wrong_answers(ex):
        folder = materialize(ex, tmp_path / w.name, w)   # raises if the patch no longer applies
        if w.expect != Kind.PLAN_ERROR:
            Plan.load(folder)


# ---------------------------------------------------------------- the plan schema bites
def plan_error(tmp_path, text: str) -> CheckFailed:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "plan.toml").write_text(text)
    with pytest.raises(CheckFailed) as e:
        Plan.load(tmp_path)
    return e.value


GOOD_STEP = '[releases]\nv2 = ["app"]\n[[steps]]\naction = "deploy"\nrelease = "v2"\n'


def test_plan_typo_in_a_key_names_the_file_the_step_and_the_allowed_keys(tmp_path):
    e = plan_error(tmp_path, GOOD_STEP + 'migrat = "skip"\n')
    assert e.reason == Kind.PLAN_ERROR
    assert "plan.toml" in e.message and "step 1" in e.message and "'migrat'" in e.message
    assert "migrate" in e.message and "strategy" in e.message and e.look_at


def test_plan_manage_step_without_a_command_is_refused(tmp_path):
    e = plan_error(tmp_path, '[releases]\nv2 = ["app"]\n[[steps]]\naction = "manage"\nrelease = "v2"\n')
    assert e.reason == Kind.PLAN_ERROR and "needs `command`" in e.message


@pytest.mark.parametrize("bad, words", [
    ('[[steps]]\naction = "deploi"\nrelease = "v1"\n', "action 'deploi'"),
    (GOOD_STEP + 'retries = "3"\n', "whole number"),
    (GOOD_STEP + 'slot = "purple"\n', "one of blue, green"),
    ('seed_sightings = 10\n' + GOOD_STEP, "check seeds it"),
    ('static_mod = "shared"\n' + GOOD_STEP, "unknown key 'static_mod'"),
    ('[releases]\nv2 = ["app"]\n', "no [[steps]]"),
    ('[[steps]]\naction = "wait"\nseconds = 600\n', "between 0 and 10"),
    ('[[steps]]\naction = "deploy"\nrelease = "v9"\n', "'v9'"),
], ids=["unknown action", "wrong type", "bad choice", "retired key", "top-level typo", "no steps", "out of range",
        "unknown release"])
def test_plan_mistakes_are_one_clear_error(tmp_path, bad, words):
    e = plan_error(tmp_path, bad)
    assert e.reason == Kind.PLAN_ERROR and words in e.message, e.message


def test_catalogue_parses_and_ids_are_in_order():
    data = tomllib.loads((EXERCISES_DIR / "catalogue.toml").read_text())
    ids = [e["id"] for e in data["exercise"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_no_chapter_reads_a_solution():
    """Learners solve, they don't copy: a chapter teaches on changes of its own (notebooks/demos/),
    never from solutions/ (nor prints an exercise's answer)."""
    import re
    from lab.config import KIT_ROOT
    for nb in sorted((KIT_ROOT / "notebooks").glob("*.ipynb")):
        text = nb.read_text()
        assert not re.search(r"solution_folder|solutions/|chapter\.solution|corpus import materialize", text), \
            f"{nb.name} reads a solution"
    assert "solution" not in (KIT_ROOT / "notebooks" / "chapter.py").read_text()


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_every_known_mistake_has_feedback_about_the_idea(ex):
    """Each wrong answer's failure kind maps to feedback in the catalogue (what to think about, not
    the fix), so `lab check` and `lab hint` can follow the failure the learner actually has."""
    for w in wrong_answers(ex):
        assert w.expect == ex.starter_fails_with or ex.feedback.get(w.expect), \
            f"{w.id} fails with {w.expect!r}, which has no [exercise.feedback] entry for {ex.id}"
    for kind, text in ex.feedback.items():
        assert is_kind(kind), f"feedback for unknown kind {kind!r}"
        assert "=" not in text and "models." not in text, f"{ex.id} feedback for {kind!r} looks like code"


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_every_check_walks_the_way_back_or_says_why_not(ex):
    """The way back (lab.exercises.Scenario.expect_way_back: every migration the plan added, back to
    the state before the plan and forward again, schema and rows compared) is armed by
    expect_end_state. A check that doesn't walk it says why, in a module constant printed here."""
    import importlib
    module = importlib.import_module(f"lab.checks.ex{ex.id}_{ex.slug}")
    source = Path(module.__file__).read_text()
    reason = getattr(module, "WAY_BACK_SKIPPED", None)
    if reason is None:
        assert "expect_end_state(" in source, f"check {ex.id} neither reaches expect_end_state nor says why not"
        assert "way_back_skipped" not in source, f"check {ex.id} switches the way back off without WAY_BACK_SKIPPED"
    else:
        assert isinstance(reason, str) and len(reason) > 40, f"check {ex.id}: WAY_BACK_SKIPPED needs a real reason"
        print(f"check {ex.id} does not walk the way back: {reason}")


def test_chapters_use_the_kits_public_modules_not_a_checks_insides():
    """A chapter shows what the kit does with the kit's public modules (lab.pgwatch's obstacles,
    lab.traffic's page checks): a check is the exercise's judge, and changes with its exercise."""
    import json
    import re
    found = []
    for nb in sorted((EXERCISES_DIR.parent / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and re.search(r"^\s*(from|import)\s+lab\.checks\b", src, re.M):
                found.append(nb.name)
    assert not found, found


def test_no_check_imports_another_check_or_a_private_name():
    """The checks share the harness's public vocabulary (lab.exercises, lab.probes, lab.pgwatch,
    lab.traffic, ...), never each other's insides nor the harness's private names."""
    import ast
    bad = []
    for f in sorted((EXERCISES_DIR.parent / "lab" / "checks").glob("ex*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("lab.checks") or (node.level and node.module.startswith("ex")):
                    bad.append(f"{f.name}: from {node.module} import …")
                bad += [f"{f.name}: {node.module}.{a.name}" for a in node.names
                        if a.name.startswith("_") and node.module.startswith("lab")]
            elif isinstance(node, ast.Import):
                bad += [f"{f.name}: import {a.name}" for a in node.names if a.name.startswith("lab.checks")]
    assert not bad, bad


# ---------------------------------------------------------------- overlays store only what differs (lab/overlays)
def test_every_overlay_patch_applies_to_todays_app_and_starters():
    """Each X.patch in solutions/ and notebooks/demos/ applies to its base as it is today (the
    starter's X for a solution, else bigfoot_app/'s): a change to the app can't leave one stale."""
    from lab import overlays
    patches, bad = 0, []
    for o in (o for folder in overlays.PACKED for o in overlays.overlays_in(folder)):
        for patch in sorted(o.path.rglob("*.patch")):
            patches += 1
            try:
                overlays.unpacked_text(patch, o.path, o.bases)
            except LabError as e:
                bad.append(str(e))
    assert patches >= 48 and not bad, "\n".join(bad) or f"only {patches} patches found"


def test_no_solution_or_demo_overlay_is_a_whole_copy_of_its_base():
    """A file of an overlay whose base exists is stored as a patch unless the patch would be longer
    than the file (a rewrite, e.g. a solution's migration in place of the starter's): the same rule
    `python -m lab.overlays pack` applies."""
    from lab import overlays
    copies = [p for p in overlays.problems() if "whole copy" in p]
    assert not copies, "\n".join(copies)


def test_exercise_starters_are_made_from_todays_app():
    """The starters stay real files (the learner edits them). Each one that is a changed copy of a
    bigfoot_app/ file is listed in lab/starter_bases.toml with the base it was made from: a base
    changed since makes the starter stale (it would silently undo the app's change)."""
    from lab import overlays
    stale = overlays.stale_starters()
    assert not stale, "\n".join(stale)
    starters = overlays.starter_files()
    print(f"{len(starters)} starter files are whole copies of a bigfoot_app/ file, each from today's version:")
    for s, base in sorted(starters.items()):
        print(f"  {s} ({sum(1 for _ in difflib.unified_diff(base.read_text().splitlines(), (KIT / s).read_text().splitlines(), n=0)) - 2} diff lines)")


def test_a_stale_patch_is_one_line_naming_the_patch_and_its_base(tmp_path):
    from lab import overlays
    app = tmp_path / "app"
    (app / "sightings").mkdir(parents=True)
    (app / "sightings" / "models.py").write_text("a\nb\nc\nd\n")
    overlay = tmp_path / "overlay"
    (overlay / "sightings").mkdir(parents=True)
    (overlay / "sightings" / "models.py.patch").write_text(
        overlays.make_patch("a\nb\nc\nd\n", "a\nB\nc\nd\n", "base", "new"))
    overlays.apply_overlay(overlay, tmp_path / "ok", bases=[app])
    assert (tmp_path / "ok" / "sightings" / "models.py").read_text() == "a\nB\nc\nd\n"
    assert not (tmp_path / "ok" / "sightings" / "models.py.patch").exists()
    (app / "sightings" / "models.py").write_text("a\nx\nc\nd\n")      # the base changed under the patch
    with pytest.raises(LabError) as e:
        overlays.apply_overlay(overlay, tmp_path / "stale", bases=[app])
    text = str(e.value)
    assert "\n" not in text and "models.py.patch does not apply to" in text and str(app / "sightings" / "models.py") in text
    assert "line 2 should be 'b', it is 'x'" in text, text


def test_a_changed_patch_is_another_release(tmp_path):
    from lab import overlays
    from lab.releases import content_hash
    overlay = tmp_path / "overlay" / "sightings"
    overlay.mkdir(parents=True)
    base = (KIT / "bigfoot_app" / "sightings" / "models.py").read_text()
    (overlay / "models.py.patch").write_text(overlays.make_patch(base, base.replace("class", "class ", 1), "a", "b"))
    before = content_hash([KIT / "bigfoot_app", overlay.parent])
    (overlay / "models.py.patch").write_text(overlays.make_patch(base, base.replace("class", "class  ", 1), "a", "b"))
    assert content_hash([KIT / "bigfoot_app", overlay.parent]) != before
