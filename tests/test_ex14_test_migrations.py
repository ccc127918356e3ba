"""Exercise 14's check keeps its own releases (lab/checks/ex14_test_migrations.py): the right
migration and the broken ones the learner's test must catch. These tests keep them honest, with
no lab: the kit's broken release that learners read (exercises/14_test_migrations/app/) is the one
the check runs, and every release's models match its migration (the next `makemigrations` writes
nothing), so a verdict is about the migration's behaviour, never about a stale model."""
import subprocess
import sys

import pytest

from lab.checks import ex14_test_migrations as ex14
from lab.exercises import get
from lab.releases import build_env

EX = get("14")


def test_the_starters_release_is_the_one_the_check_calls_the_kits():
    app = EX.folder / "app"
    assert (app / ex14.MIGRATION).read_text() == ex14.KIT.migration()
    assert (app / ex14.MODEL).read_text() == ex14.KIT.model()
    files = sorted(str(p.relative_to(app)) for p in app.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert files == sorted([ex14.MIGRATION, ex14.MODEL]), "the check builds its releases from these two files only"


def test_the_variants_differ_from_the_right_release_in_one_way_each():
    right = ex14.RIGHT.migration()
    for v in ex14.BROKEN:
        assert v.migration() != right and v.must_fail and v.missed and v.look_at
    assert ex14.PYTHON_DEFAULT.model() != ex14.RIGHT.model()
    assert len({v.kind for v in ex14.BROKEN}) == len(ex14.BROKEN), "each broken release has its own failure kind"


@pytest.mark.parametrize("variant", [ex14.RIGHT, *ex14.BROKEN], ids=lambda v: v.name)
def test_each_release_of_the_check_has_models_that_match_its_migrations(variant, tmp_path):
    src = ex14.tree(tmp_path / "src", variant, EX.folder / "tests")
    r = subprocess.run([sys.executable, "manage.py", "makemigrations", "sightings", "--check", "--dry-run"],
                       cwd=src, env=build_env(tmp_path / "static"), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_messages_never_name_what_the_hidden_releases_get_wrong():
    """A learner who reads "passes on the irreversible release" knows what to test for without
    having thought of it: the check names the hidden releases by number only."""
    from lab.checks.ex14_test_migrations import BROKEN, KIT, RIGHT, shown_as
    for v in [RIGHT, *BROKEN]:
        shown = shown_as(v)
        if v is not KIT and v is not RIGHT:
            assert v.name not in shown and "revers" not in shown and "default" not in shown, shown
