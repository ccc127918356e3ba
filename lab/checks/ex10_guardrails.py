"""Check for exercise 10: the CI gate. Release v2 must pass two migration linters before it may
ship, and then really deploy with zero failed requests.

  1. django-migration-linter, as CI runs it: `manage.py lintmigrations sightings --warnings-as-errors`
     (the linter is added to INSTALLED_APPS by the check's own settings module, not by the release);
  2. squawk on the SQL of each new migration (`manage.py sqlmigrate sightings NNNN`), minus the
     rules that only object to how Django writes SQL (lab/guardrails.py: SQUAWK_EXCLUDE);
  3. the plan, while traffic flows; afterwards the column, its database default and the index are
     checked in PostgreSQL, and a detail page shows the country.
"""
from pathlib import Path

from lab.exercises import CheckFailed, Scenario
from lab.guardrails import lint_release

TABLE = "sightings_sighting"
INDEX = "sighting_country_idx"
CI = "`lintmigrations sightings --warnings-as-errors`"


def gate(s: Scenario, release: str, log=None) -> None:
    report = lint_release(s.lab, release)
    if log:
        log(report.linter_output.rstrip())
        for issue in report.squawk:
            log(f"squawk {issue.migration}: {issue}")
    if report.ignored:
        raise CheckFailed(
            "linter ignored",
            f"release {release}: django-migration-linter skipped {', '.join(report.ignored)} (IgnoreMigration): "
            f"the guardrail was switched off, not passed",
            "remove the IgnoreMigration operation and change the migration until the linter is happy")
    if report.linter_failed:
        flagged = [r for r in report.linter.values() if not r.status.startswith(("OK", "IGNORE"))]
        what = "; ".join(f"{r.migration}: {', '.join(r.messages) or r.status}" for r in flagged)
        also = ""
        if report.squawk:
            also = " squawk agrees: " + "; ".join(f"{i.rule} at `{i.statement}`" for i in report.squawk[:4])
        raise CheckFailed(
            "linter",
            f"django-migration-linter ({CI}) rejects release {release}: {what}.{also}",
            "each message names a hazard you met before: a NOT NULL column without a database default "
            "breaks the old release's INSERTs (exercise 02), a plain CREATE INDEX blocks writes while it "
            "builds (06), and inside the migration's transaction it keeps the ALTER's lock held too. Fix the "
            "migrations (and the model), don't silence the linter; `lab hint 10`")
    if report.squawk:
        raise CheckFailed(
            "squawk",
            f"django-migration-linter passes release {release}, but squawk flags its SQL: "
            + "; ".join(f"{i.migration}: {i.message} [{i.rule}] at `{i.statement}`" for i in report.squawk),
            "see `manage.py sqlmigrate sightings NNNN` for the SQL squawk reads; each rule is explained at "
            "https://squawkhq.com/docs/rules (require-lock-timeout: exercise 07)")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        for release in s.plan.releases:
            gate(s, release, log)
        s.run()
        s.expect_no_failed_requests()

        col = s.columns(TABLE).get("country")
        s.expect(col is not None, "column missing", f"after the deploy {TABLE} has no column `country`",
                 "release v2 must still add the field")
        s.expect(not col["nullable"], "nullable", "`country` is NULL-able; the task keeps it NOT NULL")
        s.expect("USA" in (col["default"] or ""), "no db default",
                 f"the column has no database default 'USA' (it is {col['default']!r})", "look at `db_default`")
        rows = s.lab.sql("select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid "
                         "where c.relname = %s", (INDEX,))
        s.expect(bool(rows) and rows[0][0], "index missing", f"after the deploy there is no valid index {INDEX}",
                 "keep the model's Meta.indexes entry and a migration that builds it")
        page = s.lab.get("/sightings/1/")
        s.expect(page.status == 200 and 'class="country"' in page.text and "USA" in page.text, "not deployed",
                 f"GET /sightings/1/ after the deploy doesn't show the country (status {page.status})",
                 "the plan must deploy v2, whose detail page shows `sighting.country`")
        s.expect_end_state()
        return s

