"""Check for exercise 09: roll back from v2 to v1 with no failed request and no data lost.

Production tonight, set by the check before the plan: v2 on both slots, its migration applied
(v2's `app_v2/` as the kit ships it: an edit there never reached the servers that run it). v2's
column is NOT NULL and only v2's code fills it, so v1's INSERTs, which don't name it, can't run on
v2's schema as it is: rolling back the code alone fails as surely as unapplying the migration
loses the data. The plan is the learner's rollback; what must hold:

  - zero failed requests while it runs, with writes answered by v2 before and by v1 after; a
    visitor (lab/probes.py) at every step boundary and right after each slot switches reports a
    sighting on each live slot and opens it on every live slot: while the rollback rolls, v2 must
    show what v1 wrote;
  - both slots on v1 at the end;
  - every row intact: before the plan the check puts a watch on the table (schema `check_audit`,
    its own): a trigger notes every sighting as it is inserted, with the user agent it came with
    (v2 stores the browser's; v1 has no such field). At the end, every row that arrived with a user
    agent must still be there with exactly that value: row by row, not a count;
  - the end state of every exercise (Scenario.expect_end_state): the database is the schema of the
    release whose migrations the plan ran last (v2's own when the plan ran none), its history that
    release's, each release's migrations describing its models; and the way back from there works.
"""
from pathlib import Path

from lab.exercises import Kind, Scenario
from lab.probes import run_plan
from lab.releases import content_hash
from lab.traffic import TRAFFIC_AGENT   # every simulated visitor's User-Agent names it

TABLE = "sightings_sighting"
PRODUCTION, OLD = "v2", "v1"
PRODUCTION_OVERLAY = "app_v2"
# content_hash of app_v2/ as the kit ships it (tests/test_exercises.py fails the starter otherwise)
PRODUCTION_DIGEST = "6e1bc438962c467b"

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
LOOK_LOST = ("unapplying a migration runs its reverse, and AddField's reverse is DROP COLUMN: the values go with "
             "it. Roll back the code only, and ask what v1's INSERT leaves out, and what fills it on v2's schema")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        s.expect(PRODUCTION in s.plan.releases, Kind.PLAN_ERROR,
                 f"plan.toml must still name the release {PRODUCTION} (production, {PRODUCTION_OVERLAY}/)",
                 "[releases] in the starter's plan.toml")
        s.expect(content_hash([work_dir / PRODUCTION_OVERLAY]) == PRODUCTION_DIGEST, Kind.PLAN_ERROR,
                 f"{PRODUCTION_OVERLAY}/ is not the v2 that runs in production any more: v2 is already live on both "
                 f"slots, so an edit there never reaches them",
                 f"change plan.toml (and add a release of your own if you need one); `lab reset 09` restores "
                 f"{PRODUCTION_OVERLAY}/")
        # production tonight: last night's deploy, in the maintenance window (no traffic to hurt)
        s.lab.deploy(PRODUCTION, strategy="rolling", migrate="before")
        s.setup_done()
        s.log(f"  production: {PRODUCTION} on both slots, its migration applied")
        for statement in WATCH:
            s.lab.sql(statement)
        # a visitor at every step boundary and right after each slot switches: it reports a sighting
        # to each live slot and reads it back from every live slot (v2 must show what v1 wrote)
        run_plan(s)
        s.expect_no_failed_requests()
        # Reports that v2 answered: v2 stored each one's user agent.
        on_v2 = [r for r in s.traffic.records if r.journey == "report" and r.method == "POST" and r.ok
                 and r.release == PRODUCTION]
        s.expect(s.serving_releases() == {OLD}, Kind.NOT_ROLLED_BACK,
                 f"after the plan, both slots should run {OLD} again; they run {sorted(s.serving_releases())}",
                 f"end the plan with {OLD} on blue and green")
        stored = s.lab.sql("select count(*) from check_audit.written where strpos(user_agent, %s) > 0",
                           (TRAFFIC_AGENT,))[0][0]
        lost = (f"{max(stored, len(on_v2))} sightings were reported while {PRODUCTION} was live (before the rollback "
                f"and during it), each with the browser it came from (user_agent)")
        s.expect("user_agent" in s.columns(TABLE), Kind.DATA_LOST,
                 f"{lost}; the rollback dropped the column and every one of those values with it", LOOK_LOST)
        gone = s.lab.sql(f"select w.id, w.user_agent, s.user_agent from check_audit.written w left join {TABLE} s "
                         f"using (id) where w.user_agent <> '' and s.user_agent is distinct from w.user_agent "
                         f"order by w.id")
        s.expect(not gone, Kind.DATA_LOST,
                 f"{lost}; after the rollback {len(gone)} of them no longer have it (sighting "
                 f"{gone[0][0] if gone else ''}: {gone[0][2] if gone else ''!r} instead of {gone[0][1] if gone else ''!r})",
                 LOOK_LOST)
        for statement in UNWATCH:
            s.lab.sql(statement)
        ran = s.schema_release()
        s.expect_end_state(PRODUCTION if ran == s.lab.cfg.app["baseline_release"] else ran)
        return s
