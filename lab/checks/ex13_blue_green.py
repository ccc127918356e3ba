"""Check for exercise 13: ship v2 blue/green, and the switch back to v1 still works.

The rollback is the check's, not the plan's: once the learner's plan has run, the check switches
traffic back to the idle colour itself, under traffic, the way an on-call engineer would
(`lab deploy v1 --slot IDLE --strategy blue-green --migrate skip`: the idle colour already runs v1,
so nothing restarts; it gets all the traffic in one nginx reload). What must hold:

  - the plan ends blue/green: the live colour on v2, the other colour idle on v1 (a rolling
    deploy leaves nothing to switch back to);
  - zero failed requests during the plan and after the switch back, with writes answered by v2
    before it and by v1 after it (an idle colour serves nothing, so only live slots need writes);
  - every row intact: before the plan the check notes every sighting's reporter (schema
    `check_audit`, its own; a trigger notes every row inserted later, whichever release wrote
    it). At the end each one that had a name still has exactly that name: row by row, not a count.
    A column dropped and added back empty lets v1 run, and has lost every name;
  - v2's migrations describe its models, django_migrations lists exactly v2's, and the table is
    v2's state, plus at most the `reporter` column: v2's state forgets it on purpose while the
    idle v1 still needs it (the contract release drops it later).
"""
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.probes import Visitor

TABLE = "sightings_sighting"
KEPT = "reporter"            # the column v2 stops using; the idle v1 still reads and writes it
NEW, OLD = "v2", "v1"

WATCH = [
    "drop schema if exists check_audit cascade",
    "create schema check_audit",
    "create table check_audit.named (id bigint primary key, reporter text)",
    f"insert into check_audit.named select id, {KEPT} from {TABLE}",
    # to_jsonb: works whether or not the column exists when a row arrives
    "create function check_audit.on_insert() returns trigger language plpgsql security definer "
    "set search_path = pg_catalog, public as $$ begin "
    f"insert into check_audit.named select a.id, to_jsonb(a) ->> '{KEPT}' from added a "
    "on conflict do nothing; return null; end $$",
    f"create trigger check_audit_insert after insert on {TABLE} referencing new table as added "
    "for each statement execute function check_audit.on_insert()",
]
UNWATCH = [f"drop trigger if exists check_audit_insert on {TABLE}", "drop schema if exists check_audit cascade"]

LOOK_IDLE = ("blue/green keeps the previous release running on the idle colour: that is the rollback. Which "
             "strategy does your deploy use, and what runs on each colour when the plan ends?")
LOOK_ROWS = ("the switch back made v1 read the column again: is it the same column, with the same values? "
             "A dropped column can't be brought back by adding an empty one; keep it until no colour can be "
             "switched back to v1")


class BlueGreenScenario(Scenario):
    def serving_releases(self) -> set[str]:
        # An idle colour gets no traffic at all: only the live slots must have answered writes.
        return {sl.get("release") or sl.get("deployed_release") for sl in self.lab.status()["slots"] if sl["live"]}

    def release_state(self, release: str, app: str = "sightings") -> dict:
        # v2's state drops `reporter` on purpose (SeparateDatabaseAndState) while the table keeps it
        # for the idle v1: the one column allowed to outlive the state, as it is in the database.
        st = super().release_state(release, app)
        fields = st["models"].get(TABLE, {}).get("fields")
        if fields is not None and KEPT not in fields:
            real = self.lab.sql("select not a.attnotnull, a.atthasdef from pg_attribute a where a.attrelid = "
                                "to_regclass(%s) and a.attname = %s and not a.attisdropped", (TABLE, KEPT))
            if real:
                fields[KEPT] = {"name": f"{KEPT} (kept for the idle colour)", "null": real[0][0],
                                "db_default": real[0][1], "type": None}
        return st


def check(work_dir: Path, log=None) -> Scenario:
    with BlueGreenScenario(work_dir, log=log) as s:
        for statement in WATCH:
            s.lab.sql(statement)
        rollback = {"action": "deploy", "release": OLD, "strategy": "blue-green", "migrate": "skip"}
        # The random traffic posts a report to v2 only by luck in the short window before the switch
        # back (a comment is no witness: it never writes the sightings table); the visitor reports a
        # sighting on purpose to whatever is live, before the switch back and after it.
        visitor = Visitor(s)
        visitor_wrote = {}

        def before_step(sc, step):
            if step is not rollback:
                return
            visitor.visit("after the plan, before the switch back")
            visitor_wrote[NEW] = visitor.posted
            slots = sc.lab.status()["slots"]
            live = [sl for sl in slots if sl["live"]]
            idle = [sl for sl in slots if not sl["live"]]
            on = ", ".join(f"{sl['slot']} {sl['deployed_release']} ({'live' if sl['live'] else 'idle'})" for sl in slots)
            sc.expect(bool(live) and all(sl["deployed_release"] == NEW for sl in live), Kind.NOT_DEPLOYED,
                      f"after the plan the live colour should serve {NEW}; the slots are: {on}",
                      f"the plan ships {NEW} to one colour, blue/green, and stops there")
            sc.expect(bool(idle) and idle[0]["deployed_release"] == OLD and idle[0]["healthy"], Kind.NO_IDLE_COLOUR,
                      f"after the plan no colour waits idle on {OLD} to switch back to; the slots are: {on}",
                      LOOK_IDLE)
            step["slot"] = idle[0]["slot"]
            sc.log(f"  the check switches back: all traffic to the idle colour {step['slot']} ({OLD})")

        s.run(steps=[*s.plan.steps, rollback], before_step=before_step)
        visitor.visit("after the switch back")
        visitor_wrote[OLD] = visitor.posted - visitor_wrote.get(NEW, 0)
        s.expect_no_failed_requests()
        wrote = {rel: visitor_wrote.get(rel, 0) + sum(r.journey == "report" and r.method == "POST" and r.ok
                                                      and r.release == rel for r in s.traffic.records)
                 for rel in (NEW, OLD)}
        s.expect(all(wrote.values()), Kind.TRAFFIC_GAP,
                 f"new sightings answered: {wrote}; both colours must take writes (v2 before the switch back, v1 after)",
                 "is the report form still on v2's pages?")

        named = s.lab.sql("select count(*) from check_audit.named where reporter <> ''")[0][0]
        lost = s.lab.sql(
            f"select a.id, a.reporter, to_jsonb(s) ->> '{KEPT}' from check_audit.named a left join {TABLE} s "
            f"using (id) where a.reporter <> '' and (to_jsonb(s) ->> '{KEPT}') is distinct from a.reporter "
            "order by a.id")
        if lost:
            first = lost[0]
            raise CheckFailed(
                Kind.DATA_LOST,
                f"{len(lost)} of the {named} sightings that had a reporter's name (seeded, or reported to {OLD} "
                f"before the deploy or after the switch back) no longer have it (sighting {first[0]}: "
                f"{first[2]!r} instead of {first[1]!r})", LOOK_ROWS)
        s.log(f"  every row intact: {named} sightings kept their reporter's name; writes answered: {wrote}")
        for statement in UNWATCH:
            s.lab.sql(statement)
        s.expect_end_state(NEW, releases=[NEW])
        return s
