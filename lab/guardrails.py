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
  lock_timeout. A few rules that only object to how Django writes SQL are left out (SQUAWK_EXCLUDE).

One Python process (one Django start) lints and prints the SQL; squawk then reads that SQL.
"""
from __future__ import annotations

import json
import os
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
}

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
sql = {}
for name in sys.argv[1:]:
    try:
        sql[name] = call_command("sqlmigrate", "sightings", name)
    except Exception as e:  # noqa: BLE001
        sql[name] = None
print(json.dumps({"lint": out.getvalue(), "code": code, "sql": sql}))
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

    @property
    def linter_failed(self) -> bool:
        return self.linter_exit != 0 or any(r.status.startswith("ERR") for r in self.linter.values())

    @property
    def ignored(self) -> list[str]:
        return [m for m, r in self.linter.items() if r.status.startswith("IGNORE") and m.split(".")[1] in
                self.new_migrations]


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
    exe = shutil.which("squawk", path=str(Path(sys.executable).parent)) or shutil.which("squawk")
    if not exe:
        raise RuntimeError("squawk is not installed (pip install squawk-cli; it is in requirements.txt)")
    issues: list[SquawkIssue] = []
    with tempfile.TemporaryDirectory(prefix="squawk-") as tmp:
        files = {}
        for name, sql in sql_by_migration.items():
            if sql:
                f = Path(tmp) / f"{name}.sql"
                f.write_text(sql)
                files[str(f)] = (name, sql.splitlines())
        if not files:
            return []
        r = subprocess.run([exe, "--reporter", "json", "--pg-version", pg_version,
                            "--exclude", ",".join(SQUAWK_EXCLUDE), *files], capture_output=True, text=True)
        try:
            found = json.loads(r.stdout or "[]")
        except json.JSONDecodeError:
            raise RuntimeError(f"squawk said: {(r.stderr or r.stdout).strip()[-300:]}") from None
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
        r = subprocess.run([sys.executable, "-c", LINT_SCRIPT, *names], cwd=rel.src, env=env, text=True,
                           capture_output=True, stdin=subprocess.DEVNULL)
    try:
        data = json.loads(r.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        from .errors import LabError
        from .procs import last_error_line
        raise LabError(f"the linter could not run on release {release}: "
                       f"{last_error_line(r.stderr) or r.stderr.strip()[-300:]}") from None
    return GuardrailReport(release, parse_linter(data["lint"]), int(data["code"] or 0), data["lint"],
                           run_squawk(data["sql"]), names, data["sql"])


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
    return 1 if report.linter_failed or report.squawk or report.ignored else 0


if __name__ == "__main__":
    sys.exit(main())
