"""Guardrails: the migration linters a CI runs on a release before it may ship.

    from lab.guardrails import lint_release
    report = lint_release(lab, "v2")
    report.linter_failed, report.linter     # django-migration-linter: {migration: LintResult}
    report.squawk                           # squawk on each new migration's `sqlmigrate` SQL

- django-migration-linter (`manage.py lintmigrations`) reads each migration's SQL (via
  sqlmigrate) and its RunPython/RunSQL code, and flags backward-incompatible operations
  (errors: NOT NULL without a database default, DROP/RENAME COLUMN, ...) and risky ones
  (warnings: CREATE INDEX without CONCURRENTLY, irreversible data migrations, ...). The kit's
  policy is strict: `--warnings-as-errors`. The release is linted as it is; the linter's app is
  added to INSTALLED_APPS by a settings module of the check's own, never by the release.
- squawk (`squawk-cli`) lints the PostgreSQL statements themselves: locks, rewrites, missing
  lock_timeout. A few rules that only object to how Django writes SQL, or to a column's type, are
  left out (SQUAWK_EXCLUDE).

One Python process (one Django start) lints and prints the SQL; squawk then reads that SQL.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .config import APP_SOURCE
from .releases import build_env

SQUAWK_EXCLUDE = {
    "prefer-text-field": "Django writes CharField as varchar(n); widening it later is cheap on PostgreSQL",
    "prefer-robust-stmts": "Django doesn't write IF NOT EXISTS; a failed migration is rolled back or retried by Django",
    "require-statement-timeout": "a statement_timeout would cut a long CREATE INDEX CONCURRENTLY short",
    # a column's type is the model's decision, not a deploy's hazard: every IntegerField a learner
    # adds (a new column for a renamed field, say) would be refused for a reason no chapter teaches
    "prefer-bigint-over-int": "an integer column's range is the data model's choice, not a deploy hazard",
    "prefer-bigint-over-smallint": "the same, for smallint",
}

SQUAWK_IGNORE = re.compile(r"squawk-ignore", re.I)
TRANSACTION_SCOPED = re.compile(r"(?is)^\s*(--[^\n]*\n\s*)*set\s+local\b|set_config\s*\([^)]*,\s*true\s*\)")
# squawk's configuration is the check's: an explicit file (a .squawk.toml in the working folder or
# any folder above it would otherwise be read) and the rules left out on the command line.
SQUAWK_CONFIG = "# the check's own squawk configuration: nothing excluded here (see SQUAWK_EXCLUDE)\n"

LINT_SETTINGS = '''\
from bigfoot.settings import *  # noqa: F401,F403 - the release's own settings...
INSTALLED_APPS = [*INSTALLED_APPS, "django_migration_linter"]  # noqa: F405 - ...plus the linter
MIGRATION_LINTER_OPTIONS = {}   # the check's policy, not the release's
'''

LINT_SCRIPT = '''\
import contextlib, io, json, sys
import django
django.setup()
from django.core.management import call_command
out, code = io.StringIO(), 0
try:
    with contextlib.redirect_stdout(out):
        call_command("lintmigrations", "sightings", "--warnings-as-errors", "--no-cache")
except SystemExit as e:
    code = e.code or 0
from django.db import connection
from django.db.migrations.loader import MigrationLoader
loader = MigrationLoader(connection, ignore_no_migrations=True)
sql, errors, atomic = {}, {}, {}
for name in sys.argv[1:]:
    m = loader.disk_migrations.get(("sightings", name))
    atomic[name] = bool(getattr(m, "atomic", True))
    try:
        sql[name] = call_command("sqlmigrate", "sightings", name)
    except Exception as e:  # noqa: BLE001 - reported: a migration squawk can't read is not a clean one
        sql[name] = None
        errors[name] = f"{type(e).__name__}: {e}"
print(json.dumps({"lint": out.getvalue(), "code": code, "sql": sql, "errors": errors, "atomic": atomic}))
'''


@dataclass
class LintResult:
    migration: str          # "sightings.0002_sighting_country"
    status: str             # OK, ERR, WARNING, IGNORE (+ "(cached)" never: no cache)
    messages: list[str] = field(default_factory=list)


@dataclass
class SquawkIssue:
    migration: str
    rule: str
    message: str
    line: int
    statement: str

    def __str__(self) -> str:
        return f"{self.message} [{self.rule}] at `{self.statement}`"


@dataclass
class GuardrailReport:
    release: str
    linter: dict[str, LintResult]
    linter_exit: int
    linter_output: str
    squawk: list[SquawkIssue]
    new_migrations: list[str]
    sql: dict[str, str | None] = field(default_factory=dict)   # sqlmigrate of each new migration
    sql_errors: dict[str, str] = field(default_factory=dict)   # why sqlmigrate failed, per migration
    atomic: dict[str, bool] = field(default_factory=dict)      # each new migration's Migration.atomic

    @property
    def linter_failed(self) -> bool:
        return self.linter_exit != 0 or any(r.status.startswith("ERR") for r in self.linter.values())

    @property
    def ignored(self) -> list[str]:
        """New migrations the linter didn't judge: IGNOREd (IgnoreMigration), or absent from its output."""
        judged = {m.split(".", 1)[1]: r for m, r in self.linter.items() if m.startswith("sightings.")}
        return [f"sightings.{n}" for n in self.new_migrations
                if n not in judged or judged[n].status.startswith("IGNORE")]

    @property
    def squawk_ignored(self) -> list[str]:
        """New migrations whose SQL carries a squawk ignore comment (`-- squawk-ignore ...`)."""
        return [f"sightings.{n}" for n, sql in self.sql.items() if sql and SQUAWK_IGNORE.search(sql)]

    @property
    def no_effect(self) -> list[tuple[str, str]]:
        """(migration, statement): transaction-scoped settings in a migration that runs outside a
        transaction (`atomic = False`): PostgreSQL warns and ignores them, so they guard nothing."""
        out = []
        for n, sql in self.sql.items():
            if sql and not self.atomic.get(n, True):
                out += [(f"sightings.{n}", " ".join(st.split())) for st in sql.split(";")
                        if TRANSACTION_SCOPED.search(st)]
        return out


def new_migrations(release_src: Path, base: Path = APP_SOURCE) -> list[str]:
    """The release's sightings migrations that bigfoot_app/ doesn't have (the ones under review)."""
    mine = {p.stem for p in (release_src / "sightings" / "migrations").glob("[0-9]*.py")}
    base_names = {p.stem for p in (base / "sightings" / "migrations").glob("[0-9]*.py")}
    return sorted(mine - base_names)


def parse_linter(output: str) -> dict[str, LintResult]:
    results: dict[str, LintResult] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("(") and ")... " in line:
            app_name, status = line[1:].split(")... ", 1)
            app, name = [x.strip() for x in app_name.split(",", 1)]
            current = results[f"{app}.{name}"] = LintResult(f"{app}.{name}", status.strip())
        elif line.startswith("\t") and current is not None:
            current.messages.append(line.strip())
        elif line.startswith("***"):
            current = None
    return results


def run_squawk(sql_by_migration: dict[str, str | None], pg_version: str = "18") -> list[SquawkIssue]:
    """squawk on each migration's SQL. Never an empty verdict by accident: a migration without SQL
    (sqlmigrate failed) is an error, and so are no output or an exit code that disagrees with it."""
    exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    if not exe:
        raise RuntimeError("squawk is not installed (pip install squawk-cli; it is in requirements.txt)")
    missing = [name for name, sql in sql_by_migration.items() if sql is None]
    if missing:
        raise RuntimeError(f"no SQL to lint for {', '.join(missing)} (sqlmigrate failed)")
    issues: list[SquawkIssue] = []
    with tempfile.TemporaryDirectory(prefix="squawk-") as tmp:
        files = {}
        for name, sql in sql_by_migration.items():
            if sql.strip():
                (Path(tmp) / f"{name}.sql").write_text(sql)
                files[f"{name}.sql"] = (name, sql.splitlines())
        if not files:
            return []
        (Path(tmp) / "squawk.toml").write_text(SQUAWK_CONFIG)
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SQUAWK")}
        r = subprocess.run([exe, "--config", "squawk.toml", "--reporter", "json", "--pg-version", pg_version,
                            "--exclude", ",".join(SQUAWK_EXCLUDE), *files], capture_output=True, text=True,
                           cwd=tmp, env=env, stdin=subprocess.DEVNULL)
        try:
            found = json.loads(r.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"squawk (exit {r.returncode}) said: "
                               f"{(r.stderr or r.stdout).strip()[-300:] or 'nothing'}") from None
        if not isinstance(found, list) or (r.returncode != 0) != bool(found):
            raise RuntimeError(f"squawk's exit code {r.returncode} disagrees with its report ({len(found)} issues): "
                               f"{r.stderr.strip()[-300:]}")
        for v in found:
            name, lines = files.get(v.get("file"), (v.get("file"), []))
            line = int(v.get("line", 0))
            statement = lines[line].strip() if 0 <= line < len(lines) else ""
            issues.append(SquawkIssue(f"sightings.{name}", v.get("rule_name", "?"), v.get("message", ""),
                                      line + 1, statement if len(statement) <= 100 else statement[:97] + "..."))
    return issues


def lint_release(lab, release: str) -> GuardrailReport:
    rel = lab.releases.get(release)
    names = new_migrations(rel.src)
    with tempfile.TemporaryDirectory(prefix="lint-settings-") as tmp:
        (Path(tmp) / "lab_lint_settings.py").write_text(LINT_SETTINGS)
        env = build_env(rel.static, DATABASE_URL=lab.db.url(), DJANGO_SETTINGS_MODULE="lab_lint_settings",
                        PYTHONPATH=os.pathsep.join([tmp, str(rel.src)]))
        # cwd: the check's folder, not the release's: the linter reads setup.cfg, tox.ini, pyproject.toml
        # and .django_migration_linter.cfg from its working folder, and the release's must not count.
        r = subprocess.run([sys.executable, "-c", LINT_SCRIPT, *names], cwd=tmp, env=env, text=True,
                           capture_output=True, stdin=subprocess.DEVNULL)
    try:
        data = json.loads(r.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        from .errors import LabError
        from .procs import last_error_line
        raise LabError(f"the linter could not run on release {release}: "
                       f"{last_error_line(r.stderr) or r.stderr.strip()[-300:]}") from None
    sql = data["sql"]
    lintable = {n: q for n, q in sql.items() if q is not None}
    return GuardrailReport(release, parse_linter(data["lint"]), int(data["code"] or 0), data["lint"],
                           run_squawk(lintable), names, sql, data.get("errors", {}), data.get("atomic", {}))


def main(argv: list[str] | None = None) -> int:
    """`python -m lab.guardrails v2`: lint a release of your lab (`lab up` first) as the check does."""
    import argparse
    from .api import Lab
    p = argparse.ArgumentParser(prog="python -m lab.guardrails", description=main.__doc__)
    p.add_argument("release")
    p.add_argument("--home", help="the lab's state folder (default: .lab/ or $LAB_HOME)")
    p.add_argument("--sql", action="store_true", help="also print the SQL of each new migration (sqlmigrate)")
    a = p.parse_args(argv)
    report = lint_release(Lab(home=a.home, log=None), a.release)
    if a.sql:
        for name, sql in report.sql.items():
            print(f"-- manage.py sqlmigrate sightings {name}\n{(sql or '(no SQL)').rstrip()}\n")
    print(f"django-migration-linter (lintmigrations sightings --warnings-as-errors) on release {a.release}:")
    print(report.linter_output.rstrip())
    print(f"\nsquawk on the SQL of {', '.join(report.new_migrations) or 'no new migrations'} "
          f"(rules left out: {', '.join(SQUAWK_EXCLUDE)}):")
    for issue in report.squawk:
        print(f"  {issue.migration}, line {issue.line}: {issue}")
    if not report.squawk:
        print("  no issues")
    for name, err in report.sql_errors.items():
        print(f"  {name}: sqlmigrate failed, so squawk could not read it: {err}")
    for name in report.squawk_ignored:
        print(f"  {name}: its SQL silences squawk with an ignore comment")
    for name, stmt in report.no_effect:
        print(f"  {name}: `{stmt}` does nothing: the migration is not atomic, so there is no transaction")
    bad = (report.linter_failed or report.squawk or report.ignored or report.sql_errors or report.squawk_ignored
           or report.no_effect)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
