"""Check for exercise 10: the CI gate. Release v2 must pass two migration linters before it may
ship, and then really deploy with zero failed requests.

  1. django-migration-linter, as CI runs it: `manage.py lintmigrations sightings --warnings-as-errors`
     (the linter is added to INSTALLED_APPS by the check's own settings module, not by the release);
  2. squawk on the SQL of each new migration (`manage.py sqlmigrate sightings NNNN`), minus the
     rules that only object to how Django writes SQL (lab/guardrails.py: SQUAWK_EXCLUDE);
  3. the plan, while traffic flows, with every DDL statement recorded as PostgreSQL ran it (an
     event trigger, lab.pgwatch.DDLAudit): each one must be in the SQL the linters read, so DDL
     in RunPython (or run by hand) can't slip past them; afterwards the column, its database
     default and the index are checked in PostgreSQL, and a detail page shows the country;
  4. the rename (`score` becomes `credibility` in v2's code): v2's model has the field by its new
     name, and every sighting's number read through v2's own ORM is the one it had before the
     deploy (so a new, empty column under the new name is no answer); the pages that show it are
     the traffic's (a template naming a field the model lacks is a failed request).

The guardrails can't be silenced: the linters run with the check's configuration only (not the
release's setup.cfg/pyproject.toml/.squawk.toml), an IgnoreMigration or a squawk-ignore comment is
a failure, a migration whose SQL can't be printed is a failure, and a transaction-scoped setting
(SET LOCAL) in a migration with `atomic = False` is one too: it does nothing there.
"""
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.guardrails import lint_release, run_squawk
from lab.pgwatch import DDLAudit

TABLE = "sightings_sighting"
INDEX = "sighting_country_idx"
CI = "`lintmigrations sightings --warnings-as-errors`"


def gate(s: Scenario, release: str, log=None) -> dict[str, str | None]:
    """Lint one release as CI does; returns the SQL of its new migrations (what the linters read)."""
    report = lint_release(s.lab, release)
    if log:
        log(report.linter_output.rstrip())
        for issue in report.squawk:
            log(f"squawk {issue.migration}: {issue}")
    if report.sql_errors:
        name, err = next(iter(report.sql_errors.items()))
        raise CheckFailed(
            Kind.MIGRATIONS_BROKEN,
            f"release {release}: `manage.py sqlmigrate sightings {name}` fails ({err}), so squawk can't read what "
            f"the migration would run: a migration the guardrails can't read doesn't pass them",
            f"run `lab manage {release} sqlmigrate sightings {name}` and read the error")
    if report.ignored:
        raise CheckFailed(
            Kind.LINTER_IGNORED,
            f"release {release}: django-migration-linter skipped {', '.join(report.ignored)} (IgnoreMigration): "
            f"the guardrail was switched off, not passed",
            "remove the IgnoreMigration operation and change the migration until the linter is happy")
    if report.squawk_ignored:
        raise CheckFailed(
            Kind.LINTER_IGNORED,
            f"release {release}: the SQL of {', '.join(report.squawk_ignored)} carries a squawk-ignore comment: "
            f"the guardrail was switched off, not passed",
            "remove the comment and change the migration until squawk is happy (its rules: "
            "https://squawkhq.com/docs/rules)")
    if report.no_effect:
        name, stmt = report.no_effect[0]
        raise CheckFailed(
            Kind.GUARDRAIL_DODGED,
            f"release {release}: {name} runs `{stmt}`, but the migration has `atomic = False`: outside a "
            f"transaction a transaction-scoped setting does nothing (PostgreSQL only warns), so the statements "
            f"after it run unguarded, though squawk is satisfied",
            "in a migration without a transaction, a setting must last for the session (exercise 07)")

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
            "builds (06), and inside the migration's transaction it keeps the ALTER's lock held too; a renamed "
            "column is one the old release still asks for by its old name (04). Fix the "
            "migrations (and the model), don't silence the linter; `lab hint 10`")
    if report.squawk:
        raise CheckFailed(
            "squawk",
            f"django-migration-linter passes release {release}, but squawk flags its SQL: "
            + "; ".join(f"{i.migration}: {i.message} [{i.rule}] at `{i.statement}`" for i in report.squawk),
            "see `manage.py sqlmigrate sightings NNNN` for the SQL squawk reads; each rule is explained at "
            "https://squawkhq.com/docs/rules (require-lock-timeout: exercise 07)")
    return report.sql


def expect_ddl_linted(audit: DDLAudit, linted_sql: dict[str, dict[str, str | None]]) -> None:
    """Every DDL statement that ran during the plan must be one the linters read (in the SQL that
    `sqlmigrate` prints for the plan's releases): DDL from RunPython, or run by hand, was never linted."""
    linted = " ".join(" ".join(q.split()) for sql in linted_sql.values() for q in sql.values() if q)
    hidden = [c for c in audit.commands() if " ".join(c.query.split()).rstrip(";") not in linted]
    if hidden:
        c = hidden[0]
        stmt = " ".join(c.query.split())
        try:
            issues = run_squawk({"hidden": stmt + ";"})
        except RuntimeError:
            issues = []
        said = ("; squawk would have said: " + "; ".join(f"{i.message} [{i.rule}]" for i in issues)) if issues else ""
        raise CheckFailed(
            Kind.GUARDRAIL_DODGED,
            f"during the deploy PostgreSQL ran `{stmt[:160]}` ({c.tag} {c.object}), which is in no migration's SQL "
            f"that the linters read (`manage.py sqlmigrate`): DDL in RunPython, or run by hand, passes every "
            f"guardrail unseen{said}",
            "which part of your migration ran it, and does `manage.py sqlmigrate` print it? The linters judge "
            "only what a migration declares as schema operations; code that runs SQL itself is invisible to "
            "them (chapter 10)")


RENAMED = ("score", "credibility")
# Each sighting's credibility as the release's own model reads it: whatever column or table the
# answer keeps it in, v2's code must see the numbers the sightings had.
READ_CREDIBILITY = """
import json
from sightings.models import Sighting
names = [f.name for f in Sighting._meta.get_fields()]
rows = dict(Sighting.objects.values_list("id", "credibility")) if "credibility" in names else {}
print("JSON " + json.dumps({"fields": names, "rows": rows}))
"""


def expect_renamed_with_its_data(s: Scenario, release: str, before: dict[int, int]) -> None:
    got = s.release_json(release, READ_CREDIBILITY, "Sighting model",
                         f"run `lab manage {release} shell` and import sightings.models")
    old, new = RENAMED
    s.expect(new in got["fields"], Kind.NOT_RENAMED,
             f"release {release}'s Sighting has no field `{new}` (it has {', '.join(got['fields'])}): the task "
             f"renames `{old}` in the code",
             "v2's code calls it by its new name; what the database calls it is yours to decide")
    rows = {int(k): v for k, v in got["rows"].items()}
    lost = [(i, v, rows.get(i)) for i, v in before.items() if rows.get(i) != v]
    s.expect(not lost, Kind.DATA_LOST,
             f"{len(lost)} of {len(before)} sightings that existed before the deploy lost their number: sighting "
             f"{lost[0][0] if lost else ''} had {old} {lost[0][1] if lost else ''}, and release {release} reads "
             f"{new} {lost[0][2] if lost else ''!r}",
             f"renaming a field in the code is not a new, empty field: where does release {release}'s `{new}` "
             f"read its numbers from?")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        linted = {release: gate(s, release, log) for release in s.plan.releases}
        before = dict(s.lab.sql(f"select id, {RENAMED[0]} from {TABLE}"))
        with DDLAudit(s.lab) as audit:
            s.run()
        expect_ddl_linted(audit, linted)
        s.expect_no_failed_requests()

        col = s.columns(TABLE).get("country")
        s.expect(col is not None, "column missing", f"after the deploy {TABLE} has no column `country`",
                 "release v2 must still add the field")
        s.expect(not col["nullable"], "nullable", "`country` is NULL-able; the task keeps it NOT NULL")
        s.expect("USA" in (col["default"] or ""), "no db default",
                 f"the column has no database default 'USA' (it is {col['default']!r})",
                 "which default does PostgreSQL itself know, for INSERTs that don't name the column? (exercise 02)")
        rows = s.lab.sql("select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid "
                         "where c.relname = %s", (INDEX,))
        s.expect(bool(rows) and rows[0][0], "index missing", f"after the deploy there is no valid index {INDEX}",
                 "keep the model's Meta.indexes entry and a migration that builds it")
        page = s.lab.get("/sightings/1/")
        s.expect(page.status == 200 and 'class="country"' in page.text and "USA" in page.text, "not deployed",
                 f"GET /sightings/1/ after the deploy doesn't show the country (status {page.status})",
                 "the plan must deploy v2, whose detail page shows `sighting.country`")
        expect_renamed_with_its_data(s, s.final_release(), before)
        s.expect_end_state()
        return s

