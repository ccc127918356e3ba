"""Check for exercise 05: a NOT NULL `region`, filled for every sighting, with no failed request
and no full-table scan under an ACCESS EXCLUSIVE lock."""
import re
from pathlib import Path

from lab.exercises import Scenario, manage_command

TABLE = "sightings_sighting"
# region = the part of `location` after its last comma, trimmed (sightings.models.region_of)
EXPECTED = "btrim(regexp_replace(location, '^.*,', ''))"
TRY_NULL = (f"insert into {TABLE} (title, description, location, sighted_at, reporter, score, created_at, region) "
            "values ('check', 'check', 'Nowhere', now(), 'check', 0, now(), NULL)")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        s.run()
        s.expect_no_failed_requests()
        final = s.final_release()
        s.expect(s.serving_releases() == {final}, "not deployed",
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its last release to blue and green")
        s.expect("region" in s.columns(TABLE), "column missing", f"{TABLE} has no column `region`",
                 "keep the feature: Sighting.region, filled from location")
        # Every sighting, old or new, has the right region.
        missing = s.lab.sql(f"select count(*) from {TABLE} where region is null")[0][0]
        s.expect(missing == 0, "not backfilled", f"{missing} sightings still have region = NULL",
                 "backfill the old rows with a management command run by a `manage` step, AFTER every "
                 "slot runs code that sets region itself")
        wrong = s.lab.sql(f"select id, location, region from {TABLE} where region is distinct from {EXPECTED} "
                          "order by id limit 1")
        s.expect(not wrong, "wrong region",
                 f"sighting {wrong[0][0] if wrong else ''} has region {wrong[0][2] if wrong else ''!r} for location "
                 f"{wrong[0][1] if wrong else ''!r}; expected the part after the last comma")
        # The database itself refuses a NULL region.
        try:
            s.lab.sql(TRY_NULL)
            refused = False
        except Exception:  # noqa: BLE001 - not-null or check violation: what we want
            refused = True
        s.expect(refused, "nullable", "the database still accepts a sighting with region = NULL",
                 "enforce NOT NULL at the end: CHECK (region IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL")
        # ... and got there without a long lock.
        problem = long_lock(s.migrations_sql(final))
        s.expect(problem is None, "long lock", problem or "",
                 "ADD CONSTRAINT ... CHECK (region IS NOT NULL) NOT VALID; then VALIDATE CONSTRAINT in a separate "
                 "transaction (a later migration, or `atomic = False`); with a valid CHECK, SET NOT NULL skips its scan")
        # The backfill is a real, re-runnable command.
        backfills = [manage_command(st) for st in s.plan.steps
                     if st["action"] == "manage" and manage_command(st)[:1] and manage_command(st)[0].startswith("backfill")]
        s.expect(bool(backfills), "no backfill step",
                 "the plan has no `manage` step running a backfill_… command",
                 "backfill outside the migration: sightings/management/commands/backfill_region.py, run by a "
                 "step with action = \"manage\"")
        try:
            s.lab.manage(final, *backfills[-1])
            rerun_ok = True
        except Exception as e:  # noqa: BLE001
            rerun_ok, why = False, getattr(e, "message", str(e))
        s.expect(rerun_ok, "not idempotent",
                 f"running `{' '.join(backfills[-1])}` a second time (release {final}) failed: "
                 f"{why if not rerun_ok else ''}", "a backfill must be safe to run again: only touch rows that still need it")
        s.expect_end_state()
        return s


def long_lock(migrations: dict[str, dict]) -> str | None:
    """Why making `region` NOT NULL scans the table under ACCESS EXCLUSIVE, or None if it doesn't."""
    valid_check = False          # a CHECK (region IS NOT NULL) validated earlier
    for name, m in migrations.items():
        sql = "\n".join(ln for ln in m["sql"].lower().splitlines() if not ln.strip().startswith("--"))
        statements = [" ".join(st.split()) for st in sql.split(";") if st.strip()]
        not_valid_here = False
        for st in statements:
            st_plain = st.replace('"', "")
            is_check = re.search(r"check \(+region is not null\)+", st_plain)
            if "add constraint" in st_plain and is_check:
                if "not valid" not in st_plain:
                    return (f"migration {name} adds CHECK (region IS NOT NULL) without NOT VALID: PostgreSQL checks "
                            f"every row while it holds an ACCESS EXCLUSIVE lock")
                not_valid_here = True
            elif "validate constraint" in st_plain:
                if m["atomic"] and not_valid_here:
                    return (f"migration {name} runs VALIDATE CONSTRAINT in the same transaction as ADD CONSTRAINT ... "
                            f"NOT VALID: that transaction still holds ADD CONSTRAINT's ACCESS EXCLUSIVE lock while "
                            f"VALIDATE scans the table")
                valid_check = True
            elif "alter column region set not null" in st_plain and not valid_check:
                return (f"migration {name} runs ALTER COLUMN region SET NOT NULL with no validated CHECK (region IS "
                        f"NOT NULL) before it: PostgreSQL scans every row while it holds an ACCESS EXCLUSIVE lock, "
                        f"and on a big table nothing can read or write it until the scan ends")
    return None

