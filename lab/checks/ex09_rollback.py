"""Check for exercise 09: roll back from v2 to v1 with no failed request and no data lost.

Before the plan the check puts a watch on the table (schema `check_audit`, its own): a trigger
notes every sighting as it is inserted, with the user agent it came with (v2 stores the browser's;
v1 has no such column). At the end, every row that arrived with a user agent, at any moment of the
plan (v2's own rolling deploy, while it served, during the rollback), must still be there with
exactly that value: row by row, not a count.
"""
from pathlib import Path

from lab.exercises import Kind, Scenario
from lab.traffic import TRAFFIC_AGENT   # every simulated visitor's User-Agent names it

TABLE = "sightings_sighting"

WATCH = [
    "drop schema if exists check_audit cascade",
    "create schema check_audit",
    "create table check_audit.written (id bigint primary key, user_agent text)",
    # to_jsonb: works whether or not the column exists at that moment
    "create function check_audit.on_insert() returns trigger language plpgsql security definer "
    "set search_path = pg_catalog, public as $$ begin "
    "insert into check_audit.written select a.id, to_jsonb(a) ->> 'user_agent' from added a "
    "on conflict do nothing; return null; end $$",
    f"create trigger check_audit_insert after insert on {TABLE} referencing new table as added "
    "for each statement execute function check_audit.on_insert()",
]
UNWATCH = [f"drop trigger if exists check_audit_insert on {TABLE}", "drop schema if exists check_audit cascade"]


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        for statement in WATCH:
            s.lab.sql(statement)
        s.run()
        s.expect_no_failed_requests()
        # Reports that v2 answered: v2 stored each one's user agent.
        on_v2 = [r for r in s.traffic.records
                 if r.method == "POST" and r.path == "/sightings/new/" and r.ok and r.release == "v2"]
        s.expect(bool(on_v2), Kind.PLAN_ERROR, "no sighting was reported while v2 served, so the rollback proves nothing",
                 "the plan must deploy v2 and let it serve for a while (a `wait` step) before rolling back")
        s.expect(s.serving_releases() == {"v1"}, Kind.NOT_ROLLED_BACK,
                 f"after the plan, both slots should run v1 again; they run {sorted(s.serving_releases())}",
                 "end the plan by deploying v1 to blue and green")
        stored = s.lab.sql("select count(*) from check_audit.written where strpos(user_agent, %s) > 0",
                           (TRAFFIC_AGENT,))[0][0]
        lost = (f"{max(stored, len(on_v2))} sightings were reported while v2 was live (its deploy, its hour, the "
                f"rollback), each with the browser it came from (user_agent)")
        look = ("unapplying a migration runs its reverse, and AddField's reverse is DROP COLUMN. Roll back the code "
                "only: can v1 run on v2's schema? (what does v1's INSERT leave out, and what fills it?)")
        s.expect(stored >= len(on_v2), Kind.DATA_LOST,
                 f"{len(on_v2)} sightings were reported to v2, but only {stored} were stored with their user agent",
                 "v2 stores request.headers['User-Agent'] with each report: leave v2's code as it is")
        s.expect("user_agent" in s.columns(TABLE), Kind.DATA_LOST,
                 f"{lost}; the rollback dropped the column and every one of those values with it", look)
        gone = s.lab.sql(f"select w.id, w.user_agent, s.user_agent from check_audit.written w left join {TABLE} s "
                         f"using (id) where w.user_agent <> '' and s.user_agent is distinct from w.user_agent "
                         f"order by w.id")
        s.expect(not gone, Kind.DATA_LOST,
                 f"{lost}; after the rollback {len(gone)} of them no longer have it (sighting "
                 f"{gone[0][0] if gone else ''}: {gone[0][2] if gone else ''!r} instead of {gone[0][1] if gone else ''!r})",
                 look)
        for statement in UNWATCH:
            s.lab.sql(statement)
        s.expect_end_state("v2")  # the schema stays v2's: v1 runs on it
        return s
