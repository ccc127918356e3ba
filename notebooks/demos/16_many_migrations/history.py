"""Chapter 16's big histories, generated at run time (thousands of committed files would teach
nothing more): bigfoot_app/ copied to a scratch folder, with N small migrations of `sightings`
after 0001, and the tools the chapter times on them (plain `manage.py`, the release's own code,
against scratch databases in the lab's PostgreSQL).

Every generated migration changes `Sighting.score`'s help text: Django records it in its state and
runs no SQL for it, like the many migrations a long-lived app collects (verbose names, choices,
help texts, validators). The last one adds a real column, `Sighting.field_note`, so a database that
stops short of the end lacks something the code uses.
"""
from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lab.releases import IGNORE, build_env

KIT = Path(__file__).resolve().parents[3]
APP = KIT / "bigfoot_app"
MIGRATIONS = Path("sightings") / "migrations"

STEP = """from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '{parent}'),
    ]

    operations = [
        migrations.AlterField(
            model_name='sighting',
            name='score',
            field=models.IntegerField(default=0, help_text='{help}'),
        ),
    ]
"""

LAST = """from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sightings', '{parent}'),
    ]

    operations = [
        migrations.AddField(
            model_name='sighting',
            name='field_note',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
    ]
"""

# A test suite of one test that touches the database: enough for `manage.py test` to build its
# test database, which is what every CI run and every developer's test run pays for first.
TESTS = """from django.test import TestCase

from .models import Sighting


class Smoke(TestCase):
    def test_the_table_is_there(self):
        self.assertEqual(Sighting.objects.count(), 0)
"""


def name(i: int) -> str:
    return f"{i:04d}_sighting_score_help_{i}"


def generate(dest: Path, n: int) -> Path:
    """bigfoot_app/ in `dest` with `n` migrations after 0001 (n - 1 state-only ones, then the
    column): 0002 … 0{n+1}. Returns `dest`."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(APP, dest, ignore=IGNORE)
    folder = dest / MIGRATIONS
    parent = "0001_initial"
    for i in range(2, n + 1):
        (folder / f"{name(i)}.py").write_text(STEP.format(parent=parent, help=f"revision {i}"))
        parent = name(i)
    last = f"{n + 1:04d}_sighting_field_note"
    (folder / f"{last}.py").write_text(LAST.format(parent=parent))
    models = dest / "sightings" / "models.py"
    text = models.read_text()
    help_text = f", help_text='revision {n}'" if n > 1 else ""
    text = text.replace("    score = models.IntegerField(default=0)\n",
                        f"    score = models.IntegerField(default=0{help_text})\n"
                        "    field_note = models.TextField(blank=True, default='', db_default='')\n")
    models.write_text(text)
    (dest / "sightings" / "tests.py").write_text(TESTS)
    return dest


def migration_files(src: Path) -> list[str]:
    return sorted(p.stem for p in (src / MIGRATIONS).glob("[0-9]*.py"))


@dataclass
class Run:
    seconds: float      # wall clock: on a busy machine, mostly the wait for a core
    cpu: float          # CPU seconds the command itself used (user + system): what the history costs
    returncode: int
    stdout: str
    stderr: str

    @property
    def said(self) -> str:
        """The last lines that matter, for a printout."""
        lines = [ln for ln in (self.stdout + "\n" + self.stderr).splitlines() if ln.strip()]
        return "\n".join(lines[-4:])


class Scratch:
    """Scratch databases in the lab's PostgreSQL (owned by the app's user), dropped by `close()`."""

    def __init__(self, lab, prefix: str = "ch16"):
        self.lab, self.prefix, self.made = lab, prefix, []

    def db(self, label: str, template: str | None = None) -> str:
        name = f"{self.prefix}_{label}"
        with self.lab.db.connect() as c:
            c.execute(f'drop database if exists "{name}" with (force)')
            c.execute(f'create database "{name}" owner "{self.lab.cfg.db_user}"'
                      + (f' template "{template}"' if template else ""))
        self.made.append(name)
        return name

    def close(self) -> None:
        with self.lab.db.connect() as c:
            for name in [*self.made, *(f"test_{n}" for n in self.made)]:
                c.execute(f'drop database if exists "{name}" with (force)')
        self.made.clear()


def manage(lab, src: Path, *args: str, db: str, superuser: bool = False) -> Run:
    """`python manage.py ARGS` in `src` against database `db`, timed (the superuser's role for
    `test`, which creates and drops its test database)."""
    env = build_env(static_root=src / "staticfiles", DATABASE_URL=lab.db.url(superuser=superuser, dbname=db))
    t0, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "manage.py", *args], cwd=src, env=env, text=True, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(round(time.monotonic() - t0, 2), round(cpu, 2), r.returncode, r.stdout, r.stderr)


def recorded(lab, db: str) -> list[str]:
    return [n for (n,) in lab.db.sql("select name from django_migrations where app = 'sightings' order by id",
                                     dbname=db)]


def has_column(lab, db: str, table: str, column: str) -> bool:
    return bool(lab.db.sql("select 1 from information_schema.columns where table_name = %s and column_name = %s",
                           (table, column), dbname=db))
