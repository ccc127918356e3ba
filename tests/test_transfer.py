"""Learners transfer, they don't copy (issue 10): a learner who copies the chapter's fix into the
exercise does not pass its check.

Each chapter teaches on a change of its own (notebooks/demos/NN_slug/); its exercise asks for the
same idea on a different change. Two proofs:

  - for every exercise, fast: what the chapter's fix changes (the models and fields its migrations
    touch, the static files its overlays replace, the release a rollback returns to) shares
    nothing with what the exercise's answer changes, and no file of the chapter's fix is a file of
    the answer;
  - for the exercises where copying is most tempting (the fix is a migration or a plan a learner
    could paste), for real: the chapter's fix files pasted onto the exercise's starter, in a temp
    folder, the way a learner who copies would, and the exercise's check run on it: it FAILS, and
    not for a plan error of the test's making (the copied plan ran).

The chapter's fix, as files: its `fix/` folder (plan + overlays) if it has one, else its plan.toml
and the overlays that plan deploys; chapters 01 and 02 fix in cells (no plan): their fix overlay
is named below.
"""
from __future__ import annotations

import ast
import re
import shutil
import time
import tomllib
from pathlib import Path

import pytest

from lab.corpus import NOT_ANSWER, materialize
from lab.exercises import CheckFailed, catalogue
from lab.kinds import Kind
from lab.learner import load_check  # the same loader `lab check` uses

KIT = Path(__file__).resolve().parent.parent
DEMOS = KIT / "notebooks" / "demos"
APP = KIT / "bigfoot_app"
# The chapters whose fix is a migration, a static file or a plan (what touched() compares). A new
# chapter joins once its demo has a fix (a `fix/` folder, a plan.toml, or an entry in
# FIX_OVERLAYS_WITHOUT_PLAN). 11 (a cache setting), 12 (a storage setting), 14 (a test) and 16 (a
# squash) change other things than those, so this comparison can't judge them; for 11 it would not
# hold: the chapter's KEY_PREFIX setting is also the exercise's (what transfers is the cached
# thing, a fragment there and an object here). Every exercise's hints are graduated (the last test).
TRANSFER = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "13", "15")
EXERCISES = [e for e in catalogue() if e.id in TRANSFER]
IDS = [e.name for e in EXERCISES]

# Chapters whose fix is a cell, not a plan: the overlay that cell deploys.
FIX_OVERLAYS_WITHOUT_PLAN = {"01_static_assets": ["logo"], "02_add_field": ["db_default"], "13_blue_green": ["script"]}
# Where pasting the chapter's fix is most tempting (a migration or a plan to copy): the check runs.
# "files": the chapter's overlay files pasted into the exercise's overlay folders in place of the
#          starter's migration, plan kept;
# "plan": the chapter's plan (and the overlays it names) in place of the exercise's plan.
COPIED_RUNS = [("06", "files"), ("07", "files"), ("09", "plan"), ("10", "files")]


def fix_of(ex) -> tuple[Path | None, list[Path]]:
    """The chapter's fix: its plan file (or None) and the overlay folders it deploys."""
    demo = DEMOS / ex.name
    if ex.name in FIX_OVERLAYS_WITHOUT_PLAN:
        return None, [demo / o for o in FIX_OVERLAYS_WITHOUT_PLAN[ex.name]]
    plan = demo / "fix" / "plan.toml" if (demo / "fix" / "plan.toml").exists() else demo / "plan.toml"
    releases = tomllib.loads(plan.read_text())["releases"]
    overlays = []
    for folders in releases.values():
        for o in folders:
            path = (plan.parent / o).resolve()
            if path not in overlays:
                overlays.append(path)
    return plan, overlays


def answer_overlays(folder: Path) -> list[Path]:
    releases = tomllib.loads((folder / "plan.toml").read_text()).get("releases", {})
    return list(dict.fromkeys((folder / o).resolve() for folders in releases.values() for o in folders))


def files_under(overlays: list[Path]) -> dict[str, Path]:
    """Relative path inside the release -> file (a later overlay wins, as in a release build)."""
    out = {}
    for o in overlays:
        for f in sorted(o.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                out[str(f.relative_to(o))] = f
    return out


def touched(files: dict[str, Path]) -> set[tuple[str, str]]:
    """What a release changes, as (model, field-or-index) pairs its migrations name, plus
    ("static", path) for each static file it replaces: the lines that matter for transfer."""
    out = set()
    for rel, f in files.items():
        if "/static/" in f"/{rel}":
            out.add(("static", rel))
        if "/migrations/" not in f"/{rel}" or f.suffix != ".py" or f.name == "__init__.py":
            continue
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kw = {k.arg: k.value.value for k in node.keywords
                  if isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if "model_name" in kw:
                model = kw["model_name"].lower()
                names = [kw[k] for k in ("name", "old_name", "new_name") if k in kw]
                for sub in ast.walk(node):   # AddIndex(model_name=..., index=Index(..., name="..."))
                    if isinstance(sub, ast.Call) and sub is not node:
                        names += [k.value.value for k in sub.keywords if k.arg == "name"
                                  and isinstance(k.value, ast.Constant)]
                out |= {(model, n.lower()) for n in names} or {(model, "")}
            elif func == "get_model" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                # a data migration: the model it loads, and the fields the file names (F("x"), x__lookup)
                model = node.args[1].value.lower()
                source = ast.unparse(tree)
                fields = set(re.findall(r'F\([\'"](\w+)[\'"]\)', source)) | set(re.findall(r'\b([a-z]\w*?)__\w+=', source))
                out |= {(model, fld) for fld in fields} or {(model, "")}
    return out


def last_deploy(plan: Path) -> str | None:
    steps = [s for s in tomllib.loads(plan.read_text()).get("steps", []) if s.get("action") == "deploy"]
    return steps[-1]["release"] if steps else None


# ---------------------------------------------------------------- fast: every exercise
@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_chapter_fix_changes_something_else_than_the_exercise_answer(ex, tmp_path):
    answer = materialize(ex, tmp_path / ex.name)
    plan, overlays = fix_of(ex)
    assert overlays and all(o.is_dir() for o in overlays), f"chapter {ex.id}'s fix overlays: {overlays}"
    fix_files = files_under(overlays)
    answer_files = files_under(answer_overlays(answer))
    fix, ans = touched(fix_files), touched(answer_files)
    assert fix and ans, f"{ex.id}: nothing found to compare (chapter's fix: {fix}, answer: {ans})"
    assert not fix & ans, (f"chapter {ex.id}'s fix changes what exercise {ex.id}'s answer changes: {sorted(fix & ans)}; "
                           f"teach the idea on another model, field or file (notebooks/demos/{ex.name}/)")
    # no file of the chapter's fix is a file of the answer (unless both are bigfoot_app's own)
    for rel, f in fix_files.items():
        if rel in answer_files and f.read_bytes() == answer_files[rel].read_bytes():
            assert (APP / rel).is_file() and (APP / rel).read_bytes() == f.read_bytes(), \
                f"chapter {ex.id}'s {rel} is the answer's, byte for byte"


@pytest.mark.parametrize("ex", [e for e in EXERCISES if e.name == "09_rollback"], ids=["09_rollback"])
def test_chapter_rollback_returns_to_another_release_than_the_exercise(ex, tmp_path):
    """09's answer is a plan: the chapter rolls back to the release before ITS bad one (v2), the
    exercise to v1, so the chapter's steps don't answer it."""
    plan, _ = fix_of(ex)
    answer = materialize(ex, tmp_path / ex.name)
    assert last_deploy(plan) != last_deploy(answer / "plan.toml"), \
        "chapter 09's rollback ends on the release the exercise's answer ends on"


# ---------------------------------------------------------------- for real: the tempting ones
def copied(ex, how: str, dest: Path) -> Path:
    """The exercise's starter with the chapter's fix pasted in, as a learner who copies would."""
    shutil.copytree(ex.folder, dest, ignore=NOT_ANSWER)
    plan, overlays = fix_of(ex)
    if how == "files":
        # the chapter's files into each of the exercise's release folders (same path: replaced), in
        # place of the starter's own new migrations (a copying learner deletes those: two 0002s clash)
        for target in answer_overlays(dest):
            for m in (target / "sightings" / "migrations").glob("0*.py"):
                if not (APP / "sightings" / "migrations" / m.name).exists():
                    m.unlink()
            for o in overlays:
                shutil.copytree(o, target, dirs_exist_ok=True, ignore=NOT_ANSWER)
    elif how == "plan":
        # the chapter's plan in place of the exercise's, with the folders it names copied next to it
        text = plan.read_text()
        releases = tomllib.loads(text)["releases"]
        for folders in releases.values():
            for o in folders:
                local = "chapter_" + Path(o).name
                if not (dest / local).exists():
                    shutil.copytree((plan.parent / o).resolve(), dest / local, ignore=NOT_ANSWER)
                text = text.replace(f'"{o}"', f'"{local}"')
        (dest / "plan.toml").write_text(text)
    else:
        raise ValueError(how)
    return dest


@pytest.mark.parametrize("key,how", COPIED_RUNS, ids=[f"{k}-{h}" for k, h in COPIED_RUNS])
def test_chapter_fix_copied_into_the_exercise_fails_its_check(key, how, tmp_path, check_timings):
    ex = next(e for e in EXERCISES if e.id == key)
    folder = copied(ex, how, tmp_path / ex.name)
    t0 = time.monotonic()
    with pytest.raises(CheckFailed) as failure:
        load_check(ex)(folder)
    check_timings[f"{ex.name} chapter copied ({how})"] = time.monotonic() - t0
    # the copy ran and failed on the exercise's own terms, not on a plan the test broke
    assert failure.value.reason != Kind.PLAN_ERROR, str(failure.value)
    print(f"{ex.id} chapter's fix ({how}) → {failure.value.reason}: {failure.value.message[:200]}")


# ---------------------------------------------------------------- help that doesn't hand out the answer
# The APIs and statements that ARE the answers of 01-10: a hint that names one shows code.
ANSWER_CODE = ["AddIndexConcurrently", "SeparateDatabaseAndState", "db_default=", "db_column=", "atomic = False",
               "reverse_code", "SET LOCAL", "lock_timeout =", "retries =", '"skip"', "NOT VALID", "RunSQL(",
               "RunPython(", "null=True", "transaction.atomic", "DROP INDEX", "DROP COLUMN", 'static_mode = "shared"',
               # ... and of the later exercises (11-16)
               "KEY_PREFIX =", "S3ManifestStaticStorage", "MigratorTestCase", "IF EXISTS", "replaces ="]


@pytest.mark.parametrize("ex", catalogue(), ids=[e.name for e in catalogue()])
def test_only_the_last_hint_shows_code(ex):
    """Hints go from a question to the idea to the exact API: only the last may show code, and the
    feedback printed under a failed check never does."""
    for i, hint in enumerate(ex.hints[:-1], 1):
        shown = [c for c in ANSWER_CODE if c in hint]
        assert not shown, f"hint {i} of {len(ex.hints)} for {ex.id} shows code ({shown}): move it to the last hint"
    for kind, text in ex.feedback.items():
        shown = [c for c in ANSWER_CODE if c in text]
        assert not shown, f"{ex.id}'s feedback for {kind!r} shows code ({shown})"
