"""Check for exercise 03: `score` leaves the app and the database without a single failed request.

Invariants: production ends on the release whose migrations the database ran (django_migrations
= its files, the tables = its state); the column is gone, and gone BY a migration of that release
(dropped by hand, it would live on in every database built from the files); every row survives,
the seeded ones and every sighting posted during the deploy.
"""
import re
from pathlib import Path

from lab.probes import posted_sightings, run_plan
from lab.exercises import Kind, Scenario

TABLE = "sightings_sighting"
DROPS_SCORE = re.compile(r'DROP\s+COLUMN\s+(IF\s+EXISTS\s+)?"?score"?', re.IGNORECASE)


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        before = s.lab.sql(f"select count(*) from {TABLE}")[0][0]
        visitor = run_plan(s)
        s.expect_no_failed_requests()
        final = s.final_release()
        s.expect(s.serving_releases() == {final}, Kind.NOT_DEPLOYED,
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its last release to blue and green")
        cols = s.columns(TABLE)
        s.expect("score" not in cols, Kind.COLUMN_KEPT,
                 f"the plan finished, but {TABLE} still has the column `score`: the removal isn't done",
                 "drop the column in a LATER release (v3), once no running release selects or inserts it")
        s.expect('class="score"' not in s.lab.get("/").text, Kind.STILL_SHOWN,
                 f"release {final}'s list page still shows a score", "keep v2's template changes")
        after = s.lab.sql(f"select count(*) from {TABLE}")[0][0]
        posted = posted_sightings(s, visitor)
        s.expect(after == before + posted, Kind.DATA_LOST,
                 f"{TABLE} had {before} rows, the traffic posted {posted} sightings during the deploy, and it has "
                 f"{after} at the end", "removing a column must not remove rows")
        ran = s.schema_release()
        s.expect(ran == final, Kind.HISTORY_MISMATCH,
                 f"the database ran release {ran}'s migrations last, but production ends on release {final}: the "
                 f"code that serves doesn't carry the migrations its database ran",
                 "deploy the release whose migrations you run (its code is what production runs next)")
        s.expect_end_state(schema_release=final)
        # Gone BY a migration: a fresh database migrated with the final release must lose it too.
        sql = s.migrations_sql(final)
        s.expect(any(DROPS_SCORE.search(m["sql"]) for m in sql.values()), Kind.SCHEMA_DRIFT,
                 f"the column `score` is gone from the lab's database, but none of release {final}'s migrations "
                 f"drops it (`sqlmigrate` shows no DROP COLUMN): every other database migrated from these files "
                 f"keeps it, NOT NULL",
                 "a schema change belongs in a migration of the release that needs it, never only in the database")
        return s
