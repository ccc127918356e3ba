"""Check for exercise 14: the learner's migration test must bite.

The learner writes a test (exercises/14_test_migrations/tests/) for migration
0002_sighting_comment_count. A test is as good as the broken migrations it catches, so the check
runs it (Django's test runner, `manage.py test sightings`, on the check's own PostgreSQL) on four
releases that it keeps itself, mutation-testing style:

  right          the migration as it should be                                  the test must PASS
  kit's          the one in app/: every sighting gets ONE sighting's count      the test must FAIL
  irreversible   right on the way forward, but it can't be migrated back       the test must FAIL
  python default right both ways, but `default=0` lives in Python only, so      the test must FAIL
                 release v1's INSERTs fail on v2's schema (chapters 02-04)

Each release is bigfoot_app/ + the learner's tests/ + that migration and its model, nothing else of
the learner's folder: editing app/ can't change a verdict. The runs go two at a time, each with a
test database of its own: the right release and the kit's first, the other two only if the test
got those right (most wrong tests are judged after the first pair). A test that crashes on the
right release, or runs no test at all, is reported as such (not as a catch).
"""
from __future__ import annotations

# The harness's way-back invariant (Scenario.expect_way_back) walks the migrations a learner wrote.
# Here the learner writes a test, not a migration: the migrations are the check's own, and whether
# one can be walked back is what the learner's test must find out (the "irreversible" release).
WAY_BACK_SKIPPED = ("the learner writes tests, not migrations: the check's own releases carry the migrations, and "
                    "testing their way back is the learner's task (the irreversible release must fail their test)")

import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab.config import APP_SOURCE
from lab.errors import LabError
from lab.exercises import CheckFailed, Kind, fresh_lab
from lab.overlays import apply_overlay
from lab.releases import IGNORE, Releases, build_env, display_path

MIGRATION = "sightings/migrations/0002_sighting_comment_count.py"
MODEL = "sightings/models.py"
TESTS = "tests"                    # the learner's folder: an overlay with their test file(s)
TIMEOUT = 240                      # seconds for one test run, even on a machine that is very busy

# ---------------------------------------------------------------- the check's releases
FIELD = """    score = models.IntegerField(default=0)
    # Release v2: how many comments the sighting has, kept on the row so the list page can show
    # it without counting (one COUNT per sighting on every page view). Migration 0002 fills it in
    # for the comments that exist already.
    comment_count = models.IntegerField({default})
"""

HEAD = '''from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
'''

RIGHT_FILL = '''
def count_comments(apps, schema_editor):
    """Fill the new counter from the comments that exist already: one UPDATE for the whole table."""
    Sighting = apps.get_model("sightings", "Sighting")
    Comment = apps.get_model("sightings", "Comment")
    per_sighting = (Comment.objects.filter(sighting=OuterRef("pk")).order_by()
                    .values("sighting").annotate(n=Count("id")).values("n"))
    Sighting.objects.update(comment_count=Coalesce(Subquery(per_sighting), 0))
'''

# The kit's broken one (exercises/14_test_migrations/app/, which the learner reads): the subquery is
# not tied to the row it fills, so every sighting gets the count of whichever sighting comes first.
# On data where every sighting has the same number of comments (the lab's seed: 3 each) it is right.
KIT_FILL = '''
def count_comments(apps, schema_editor):
    """Fill the new counter from the comments that exist already: one UPDATE for the whole table."""
    Sighting = apps.get_model("sightings", "Sighting")
    Comment = apps.get_model("sightings", "Comment")
    per_sighting = Comment.objects.values("sighting").annotate(n=Count("id")).values("n")
    Sighting.objects.update(comment_count=Subquery(per_sighting[:1]))
'''

BODY = '''

class Migration(migrations.Migration):

    dependencies = [
        ("sightings", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="sighting",
            name="comment_count",
            field=models.IntegerField({default}),
        ),
        {run_python}
    ]
'''
REVERSIBLE = ("# Nothing to undo on the way back: removing the field drops the column.\n"
              "        migrations.RunPython(count_comments, reverse_code=migrations.RunPython.noop),")
IRREVERSIBLE = "migrations.RunPython(count_comments),"


@dataclass(frozen=True)
class Variant:
    name: str
    fill: str
    default: str = "db_default=0"
    run_python: str = REVERSIBLE
    must_fail: bool = True
    kind: str = Kind.BUG_NOT_CAUGHT
    missed: str = ""          # what the test let through, in words
    look_at: str = ""

    def migration(self) -> str:
        head = HEAD if "OuterRef" in self.fill else HEAD.replace(", OuterRef", "").replace(
            "from django.db.models.functions import Coalesce\n", "")
        return head + "\n\n" + self.fill.strip("\n") + "\n" + BODY.format(default=self.default, run_python=self.run_python)

    def model(self) -> str:
        base = (APP_SOURCE / MODEL).read_text()
        anchor = "    score = models.IntegerField(default=0)\n"
        assert anchor in base, "bigfoot_app's Sighting changed: update the check's model"
        return base.replace(anchor, FIELD.format(default=self.default), 1)


RIGHT = Variant("right", RIGHT_FILL, must_fail=False)
KIT = Variant(
    "kit's", KIT_FILL, kind=Kind.BUG_NOT_CAUGHT,
    missed="the kit's migration (app/), which gives every sighting the comment count of ONE sighting",
    look_at="a data bug shows only on data that can show it: what would make one sighting's count differ from "
            "another's, and does your test look at each one after the migration?")
IRREVERSIBLE_V = Variant(
    "irreversible", RIGHT_FILL, run_python=IRREVERSIBLE, kind=Kind.REVERSE_NOT_TESTED,
    missed="a 0002 of the check's that counts right but can't be migrated back (RunPython without reverse_code)",
    look_at="a rollback runs the migration backwards: does your test ever migrate back to 0001, with rows in "
            "the table, and look at what is left?")
PYTHON_DEFAULT = Variant(
    "python default", RIGHT_FILL, default="default=0", kind=Kind.OLD_CODE_NOT_TESTED,
    missed="a 0002 of the check's that counts right and migrates back, but gives comment_count `default=0` "
           "(Python only): release v1's INSERTs fail on v2's schema",
    look_at="during the deploy release v1 still writes to the migrated table: does your test insert a sighting "
            "the way v1's code does, with the model as it was at 0001?")
BROKEN = [KIT, IRREVERSIBLE_V, PYTHON_DEFAULT]


def shown_as(variant: Variant) -> str:
    """How a release is named to the learner: the kit's (they have it) or a number, never what is
    wrong with it (a name like "irreversible" would tell them what to test for). `missed` stays in
    the code, for the kit's authors."""
    if variant is RIGHT:
        return "the check's correct release"
    if variant is KIT:
        return "the kit's release (app/)"
    hidden = [v for v in BROKEN if v is not KIT]
    return f"the check's hidden release {hidden.index(variant) + 1} of {len(hidden)}"


# ---------------------------------------------------------------- running the learner's test
@dataclass
class Run:
    variant: Variant
    returncode: int
    output: str
    seconds: float

    @property
    def ran(self) -> int:
        m = re.findall(r"^Ran (\d+) tests? in", self.output, re.M)
        return int(m[-1]) if m else 0

    @property
    def skipped(self) -> int:
        m = re.search(r"^(?:OK|FAILED) \(.*skipped=(\d+)", self.output, re.M)
        return int(m.group(1)) if m else 0

    def first_problem(self) -> str:
        """The failing test and the line that says why, as unittest printed them."""
        head = re.search(r"^(?:FAIL|ERROR): (\S+) \((\S+)\)", self.output, re.M)
        lines = [ln.strip() for ln in self.output.splitlines() if ln.strip()]
        why = next((ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln)), None)
        if not why:
            from lab.procs import last_error_line
            why = last_error_line(self.output) or (lines[-1] if lines else f"exit {self.returncode}")
        return (f"{head.group(1)}: " if head else "") + why[:300]


@dataclass
class Verdict:
    """What `lab check` and the kit's tests get back: no traffic here, the four test runs instead."""
    runs: list[Run]
    step_log: list[str]
    traffic: None = None


def tree(dest: Path, variant: Variant, tests: Path) -> Path:
    """bigfoot_app/ + the learner's tests/ + the variant's model and migration, as a release's src
    (the variant's files last: a model or migration in tests/ can't replace the check's)."""
    shutil.copytree(APP_SOURCE, dest, ignore=IGNORE)
    apply_overlay(tests, dest)
    (dest / MODEL).write_text(variant.model())
    (dest / MIGRATION).write_text(variant.migration())
    return dest


@contextmanager
def database_only(log):
    """A PostgreSQL of the check's own, cloned from the checks' template lab; nothing else started."""
    with ExitStack() as stack:
        try:
            lab = stack.enter_context(fresh_lab(log=log, database_only=True))
        except LabError as e:
            raise CheckFailed(Kind.CHECK_ERROR, f"the check's PostgreSQL did not start: {e.message}",
                              "run the check again") from None
        yield lab


def run_tests(lab, variant: Variant, src: Path, db: str, log) -> Run:
    """`manage.py test sightings` on one release, with a test database of its own (test_<db>)."""
    static = lab.releases.get(lab.cfg.app["baseline_release"]).static   # no variant changes a static file
    env = build_env(static, DATABASE_URL=lab.db.url(dbname=db))
    t0 = time.monotonic()
    try:
        r = subprocess.run([sys.executable, "manage.py", "test", "sightings", "--noinput", "-v", "2"],
                           cwd=src, env=env, text=True, capture_output=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
        code, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        code, out = -1, f"{e.stdout or ''}{e.stderr or ''}\nTimeoutExpired: the tests ran longer than {TIMEOUT}s"
    run = Run(variant, code, out, time.monotonic() - t0)
    verdict = "passed" if code == 0 else "timed out" if code == -1 else "failed"
    log(f"→ manage.py test sightings on {shown_as(variant)}: your test {verdict} "
        f"({run.ran} test{'s' if run.ran != 1 else ''} ran, {run.seconds:.1f}s)")
    return run


def check(work_dir: Path, log=None) -> Verdict:
    work_dir = Path(work_dir).resolve()
    tests = work_dir / TESTS
    if not (tests.is_dir() and any(tests.rglob("*.py"))):
        raise CheckFailed(Kind.MISSING_FILE, f"{display_path(tests)} has no test file",
                          "restore the starter with `lab reset 14` (your edits are backed up)")
    steps: list[str] = []

    def say(msg: str) -> None:
        steps.append(msg)
        if log:
            log(msg)

    variants = [RIGHT, *BROKEN]
    runs: list[Run] = []
    scratch = Path(tempfile.mkdtemp(prefix="bigfoot-ex14-"))
    try:
        srcs = {v: tree(scratch / f"r{i}", v, tests) for i, v in enumerate(variants)}
        try:
            Releases._check_python(srcs[RIGHT], [APP_SOURCE, tests])
        except LabError as e:
            raise CheckFailed(Kind.SYNTAX_ERROR, e.message, e.hint) from None
        with database_only(say) as lab, ThreadPoolExecutor(2) as pool:
            # Two at a time, side by side, each with a test database of its own: first the right
            # release and the kit's (most tests are judged there), then the check's other two.
            for stage in ([RIGHT, KIT], [IRREVERSIBLE_V, PYTHON_DEFAULT]):
                done = list(pool.map(lambda v: run_tests(lab, v, srcs[v], f"ex14_{variants.index(v)}", say), stage))
                runs += done
                _judge(done)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Verdict(runs, steps)


def _judge(runs: list[Run]) -> None:
    for run in runs:
        if run.variant is RIGHT:
            if run.returncode != 0 or run.ran == 0:
                _judge_right(run)
            if run.ran <= run.skipped:
                raise CheckFailed(Kind.BUG_NOT_CAUGHT, f"all {run.ran} of your tests were skipped: nothing was tested",
                                  "remove the skip, and test what migration 0002 does")
        elif run.returncode == 0:
            v = run.variant
            raise CheckFailed(v.kind, f"your test passes on {shown_as(v)}, whose migration 0002 is wrong in a way "
                              f"a migration test must catch ({run.ran} test{'s' if run.ran != 1 else ''} ran, all "
                              f"passed)", v.look_at)


def _judge_right(run: Run) -> None:
    out = run.output
    if "TimeoutExpired" in out:
        raise CheckFailed(Kind.CHECK_ERROR, f"your tests ran longer than {TIMEOUT}s on the right release",
                          "a migration test needs a few rows, not thousands")
    if "Failed to import test module" in out or "unittest.loader._FailedTest" in out:
        raise CheckFailed(Kind.IMPORT_ERROR, f"your test file can't be imported: {run.first_problem()}",
                          "run it yourself (exercises/14_test_migrations/README.md says how) and read the error")
    if run.returncode == 0 and run.ran == 0:
        raise CheckFailed(Kind.BUG_NOT_CAUGHT, "Django's test runner found no test to run in tests/",
                          "a test is a method named test_… of a TestCase class (MigratorTestCase)")
    raise CheckFailed(Kind.FALSE_ALARM,
                      f"your test fails on a migration that is right (it counts each sighting's comments, runs "
                      f"backwards, and keeps the default in the database): {run.first_problem()}",
                      "a test that fails on good code is as useless as one that passes on bad code: which of "
                      "your expectations, or which way of migrating, is wrong?")
