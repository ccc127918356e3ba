"""Check for exercise 08: the data migration is right, batched, safe to run twice, and reversible.

Before the plan the check puts a watch on the table (schema `check_audit`, its own): every row's
location as it was first written (the seeded ones, and every row inserted later), and a
statement-level trigger that notes, for every UPDATE, its top-level transaction
(pg_current_xact_id() is the top-level id even inside a savepoint) and how many rows it changed.
While the plan runs, the check also writes sightings the way the old code does (locations without
a country, some that the rule must leave alone), and a few more before the re-run. Then:
  1. it migrates back to 0001: every row is exactly as it was written (reversible); only then are
     the plan's own run's verdicts given (so an irreversible migration says so first): the rows
     that were there before the plan are exactly what the rule says (wrong data);
  2. it migrates forward again: every row converted;
  3. it forgets that 0002 ran (deletes its django_migrations row), writes rows as the old code
     does, and migrates again, as after a crash half-way or to catch the rows the old code wrote
     meanwhile: rows already converted must not change (idempotent), and every row must now be
     converted (resumable).
On every one of those runs (the plan's own, the reverse, forward again, the re-run) no transaction
may change more than MAX_BATCH rows (batched, on every path).
"""
import threading
from pathlib import Path

import psycopg

from lab.errors import LabError
from lab.exercises import CheckFailed, Kind, Scenario

TABLE = "sightings_sighting"
SEED_SIGHTINGS = 50_000   # the obstacle: a big table (the check's, not the plan's)
MAX_BATCH = 10_000        # rows one transaction may change

# What the migration must do to a location (the same rule, in SQL), written for column `col`.
RULE = ("case when {col} ~ ', (California|Oregon|Washington)$' then {col} || ', USA' "
        "when {col} ~ ', British Columbia$' then {col} || ', Canada' else {col} end")

# Locations the old code writes: some to convert, some the rule must leave exactly as they are
# (a country already there, a region's name that is not at the end, an abbreviation).
OLD_CODE_WRITES = [
    "Bluff Creek, California", "Crater Lake, Oregon", "Ape Canyon, Washington",
    "Kootenay Pass, British Columbia", "Mount Washington, New Hampshire", "Portland, Maine, USA",
    "Whitehorse, Yukon, Canada", "Willow Creek, CA",
    "Port Washington",   # a region's name at the end, but not after ", ": not a region to convert
]

WATCH = [
    "drop schema if exists check_audit cascade",
    "create schema check_audit",
    "create table check_audit.updates (xid xid8, n bigint)",
    "create table check_audit.written (id bigint primary key, location text not null)",
    f"insert into check_audit.written select id, location from {TABLE}",
    "create function check_audit.on_update() returns trigger language plpgsql security definer "
    "set search_path = pg_catalog, public as $$ begin "
    "insert into check_audit.updates select pg_current_xact_id(), count(*) from changed; return null; end $$",
    "create function check_audit.on_insert() returns trigger language plpgsql security definer "
    "set search_path = pg_catalog, public as $$ begin "
    "insert into check_audit.written select id, location from added on conflict do nothing; return null; end $$",
    f"create trigger check_audit_update after update on {TABLE} referencing new table as changed "
    "for each statement execute function check_audit.on_update()",
    f"create trigger check_audit_insert after insert on {TABLE} referencing new table as added "
    "for each statement execute function check_audit.on_insert()",
]
UNWATCH = [f"drop trigger if exists check_audit_update on {TABLE}",
           f"drop trigger if exists check_audit_insert on {TABLE}",
           "drop schema if exists check_audit cascade"]


INSERT_OLD = (f"insert into {TABLE} (title, description, location, sighted_at, reporter, score, created_at) "
              "select 'Tracks by the road', 'Written by the old code.', loc, now(), 'check', 0, now() "
              "from unnest(%s::text[]) as loc")


def write_like_old_code(s: Scenario, locations: list[str]) -> None:
    s.lab.sql(INSERT_OLD, (locations,))


def mismatches(s: Scenario, expect: str, where: str = "true") -> tuple[int, tuple | None]:
    """How many rows differ from `expect` (an SQL expression of w.location, the location as first
    written), and the first one: (id, as written, now, should be)."""
    expr = expect.format(col="w.location")
    rows = s.lab.sql(f"select s.id, w.location, s.location, {expr} from {TABLE} s join check_audit.written w "
                     f"using (id) where s.location is distinct from {expr} and {where} order by s.id")
    return len(rows), (rows[0] if rows else None)


def show(row: tuple) -> str:
    return f"sighting {row[0]} (written as {row[1]!r}) is now {row[2]!r}, it should be {row[3]!r}"


def migrate(s: Scenario, target: str | None, what: str) -> None:
    try:
        s.lab.migrate("v2", target)
    except LabError as e:
        m = e.message
        if "irreversible" in m.lower() or "not reversible" in m.lower():
            raise CheckFailed(
                Kind.IRREVERSIBLE,
                f"release v2's data migration can't be undone: `migrate sightings 0001` failed: {m}",
                "Django can only undo a data migration that says how: what would take the countries off "
                "again? `lab hint 08`") from None
        raise CheckFailed(Kind.STEP_FAILED, f"{what} failed: {m}", e.hint or "run it yourself with `lab migrate`") from None


def batched(s: Scenario, path: str) -> CheckFailed | None:
    """The verdict on the UPDATEs counted since the last call (None: every transaction was a batch)."""
    biggest, txs = s.lab.sql("select coalesce(max(n), 0), count(*) from (select sum(n) as n "
                             "from check_audit.updates group by xid) t")[0]
    s.lab.sql("truncate check_audit.updates")
    if biggest <= MAX_BATCH:
        return None
    return CheckFailed(
        Kind.NOT_BATCHED,
        f"{path}, one transaction changed {biggest:,} rows ({txs} transaction(s) in all, counted by a trigger "
        f"the check put on the table); one transaction keeps every row it touched locked until it commits, "
        f"and a failure at the end undoes all of it",
        f"update in batches of at most {MAX_BATCH:,} rows, each in its own transaction, forwards AND backwards: "
        "what transaction does Django run a migration in, unless told otherwise? `lab hint 08`")


def expect_batched(s: Scenario, path: str) -> None:
    failure = batched(s, path)
    if failure:
        raise failure


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log, seed_sightings=SEED_SIGHTINGS) as s:
        write_like_old_code(s, OLD_CODE_WRITES)
        for statement in WATCH:
            s.lab.sql(statement)
        before = s.lab.sql("select max(id) from check_audit.written")[0][0]

        # The old code keeps writing while the migration runs.
        stop = threading.Event()
        wrote: list[int] = []
        failed: list[Exception] = []

        def writer():
            i = 0
            try:
                with s.lab.db.connect(dbname=s.lab.db.db_name) as conn:   # one connection, autocommit
                    while not stop.wait(0.25):
                        try:
                            conn.execute(INSERT_OLD, ([OLD_CODE_WRITES[i % len(OLD_CODE_WRITES)]],))
                            wrote.append(i)
                        except psycopg.Error as e:    # the old code's save failed: judged below
                            failed.append(e)
                        i += 1
            except psycopg.Error as e:                # it could not even connect
                failed.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            s.run()
        finally:
            stop.set()
            t.join()
        s.expect_no_failed_requests()
        if failed:
            e = failed[0]
            # as Django would name it in the old code's 500 (django.db.utils mirrors psycopg's classes)
            kind = next((f"500 {c.__name__}" for c in type(e).__mro__
                         if c.__module__ == "psycopg" and c.__name__.endswith("Error") and c.__name__ != "Error"),
                        "500 DatabaseError")
            raise CheckFailed(kind, f"while the plan ran, {len(failed)} of the old code's saves of a sighting "
                              f"failed: {str(e).strip().splitlines()[0][:200]}",
                              "the old release keeps saving locations while your migration runs: what did the "
                              "migration do to the table that a plain INSERT can't get past?")
        s.expect(bool(wrote), Kind.CHECK_ERROR, "the old code's writer saved nothing while the plan ran, so the "
                 "check can't tell what your migration does to rows written meanwhile", "run the check again")
        names = [r[0] for r in s.lab.sql("select name from django_migrations where app = 'sightings' "
                                          "and name <> '0001_initial' order by id")]
        s.expect(bool(names), Kind.NOT_APPLIED, "release v2's migration was not recorded as applied",
                 "the plan must run release v2's migrations (a `migrate` step)")
        # The verdicts on the plan's own run wait until we know whether it can be undone at all.
        plan_batches = batched(s, "during the plan's migration")
        n, row = mismatches(s, RULE, f"s.id <= {before}")
        plan_data = None if n == 0 else CheckFailed(
            Kind.WRONG_DATA,
            f"after the migration, {n} of the locations that were there before it are not what the task asks "
            f"for: {show(row)}",
            "every location in California, Oregon or Washington (the region at the END) gets ', USA', in "
            "British Columbia ', Canada'; nothing else changes")

        # 1. reversible (and batched on the way back too)
        migrate(s, "0001", "migrating back to 0001")
        for failure in (plan_batches, plan_data):
            if failure:
                raise failure
        expect_batched(s, "migrating back to 0001")
        n, row = mismatches(s, "{col}")
        s.expect(n == 0, Kind.REVERSE_BROKEN,
                 f"migrating back to 0001 did not restore {n} locations exactly as they were written: "
                 f"{show(row) if row else ''}",
                 "the reverse function must undo exactly what the forward one did, and touch nothing else")

        # 2. forward again, from the restored data
        migrate(s, None, "migrating forward again after the rollback")
        expect_batched(s, "migrating forward again after the rollback")
        n, row = mismatches(s, RULE)
        s.expect(n == 0, Kind.WRONG_DATA,
                 f"migrating forward a second time (after the rollback) gave {n} other locations: "
                 f"{show(row) if row else ''}",
                 "the forward step must give the same result every time it starts from the same data")

        # 3. run it again, as after a crash half-way or to catch what the old code wrote meanwhile
        write_like_old_code(s, OLD_CODE_WRITES)
        s.lab.sql("delete from django_migrations where app = 'sightings' and name = %s", (names[-1],))
        migrate(s, None, "running the data migration a second time")
        expect_batched(s, "running the data migration a second time")
        n, row = mismatches(s, RULE, f"s.id <= {before}")
        s.expect(n == 0, Kind.NOT_IDEMPOTENT,
                 f"running the data migration a second time changed {n} locations that were already converted: "
                 f"{show(row) if row else ''}",
                 "change only the rows that still need it: filter on what a converted row does NOT look like yet")
        n, row = mismatches(s, RULE)
        s.expect(n == 0, Kind.NOT_RESUMABLE,
                 f"running the data migration a second time left {n} rows unconverted that the old code wrote "
                 f"after the first run (as after a crash half-way): {show(row) if row else ''}",
                 "a second run must do what is still to do: no 'already ran' shortcut, filter each row on "
                 "whether it still needs the change")
        for statement in UNWATCH:
            s.lab.sql(statement)
        s.expect_end_state()
        return s
