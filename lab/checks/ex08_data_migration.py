"""Check for exercise 08: the data migration is reversible, safe to run twice, and batched.

After the plan (the migration runs while traffic flows), the check:
  1. migrates back to 0001 and compares every seeded location with what it was before (reversible),
  2. migrates forward again with a statement-level trigger on the table that notes, for every
     UPDATE, its top-level transaction id and how many rows it changed: how many rows did the
     biggest transaction change (batched)?
  3. forgets that 0002 ran (deletes its django_migrations row) and migrates again, as after a
     crash half-way or to catch rows old code wrote meanwhile: nothing may change (idempotent).
"""
from pathlib import Path

from lab.errors import LabError
from lab.exercises import CheckFailed, Scenario

SEED_SIGHTINGS = 50_000   # the obstacle: a big table (the check's, not the plan's)
MAX_BATCH = 10_000    # rows one transaction may change

# What the migration must do to each seeded location (the same rule, in SQL).
CONVERTED = ("case when location ~ ', (California|Oregon|Washington)$' then location || ', USA' "
             "when location ~ ', British Columbia$' then location || ', Canada' else location end")

# A statement-level trigger that notes each UPDATE's top-level transaction (pg_current_xact_id() is
# the top-level id even inside a savepoint) and how many rows it changed.
COUNT_UPDATES = [
    "create table check_updates (xid xid8, n bigint)",
    "create function check_count_updates() returns trigger language plpgsql security definer as $$ "
    "begin insert into check_updates select pg_current_xact_id(), count(*) from changed; return null; end $$",
    "create trigger check_count_updates after update on sightings_sighting referencing new table as changed "
    "for each statement execute function check_count_updates()",
]
STOP_COUNTING = [
    "drop trigger check_count_updates on sightings_sighting",
    "drop function check_count_updates()",
    "drop table check_updates",
]


def fingerprint(s, seeded: int, expr: str = "location") -> str:
    return s.lab.sql(f"select md5(string_agg({expr}, '|' order by id)) from sightings_sighting where id <= %s",
                     (seeded,))[0][0]


def example(s, sample: tuple, should: str) -> str:
    """'sighting 1 is now '…', it should be '…'' for the first seeded row."""
    now = s.lab.sql("select location from sightings_sighting where id = %s", (sample[0],))[0][0]
    return f"sighting {sample[0]} is now {now!r}, it should be {should!r}"


def migrate(s, release: str, target: str | None, what: str) -> None:
    try:
        s.lab.migrate(release, target)
    except LabError as e:
        m = e.message
        if "irreversible" in m.lower() or "not reversible" in m.lower():
            raise CheckFailed(
                "irreversible",
                f"release {release}'s data migration can't be undone: `migrate sightings 0001` failed: {m}",
                "give RunPython a reverse function (`RunPython(forwards, reverse_code=backwards)`) that takes "
                "the countries off again; `lab hint 08`") from None
        raise CheckFailed("step failed", f"{what} failed: {m}", e.hint or "run it yourself with `lab migrate`") from None


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log, seed_sightings=SEED_SIGHTINGS) as s:
        seeded = s.lab.sql("select max(id) from sightings_sighting")[0][0]
        original, expected = fingerprint(s, seeded), fingerprint(s, seeded, CONVERTED)
        sample = s.lab.sql(f"select id, location, {CONVERTED} from sightings_sighting order by id limit 1")[0]
        was, converted = sample[1], sample[2]
        s.run()
        s.expect_no_failed_requests()
        s.expect(fingerprint(s, seeded) == expected, "wrong data",
                 f"after the migration the locations are not what the task asks for: {example(s, sample, converted)}",
                 "every location in California, Oregon or Washington ends with ', USA', in British Columbia "
                 "with ', Canada'; nothing else changes")
        names = [r[0] for r in s.lab.sql("select name from django_migrations where app = 'sightings' "
                                          "and name <> '0001_initial' order by id")]
        s.expect(bool(names), "not applied", "release v2's migration was not recorded as applied")

        # 1. reversible
        migrate(s, "v2", "0001", "migrating back to 0001")
        s.expect(fingerprint(s, seeded) == original, "reverse broken",
                 f"migrating back to 0001 did not restore the locations: {example(s, sample, was)}",
                 "the reverse function must undo exactly what the forward one did")

        # 2. batched (forward again, counting the rows each transaction updates)
        for statement in COUNT_UPDATES:
            s.lab.sql(statement)
        migrate(s, "v2", None, "migrating forward again after the rollback")
        s.expect(fingerprint(s, seeded) == expected, "wrong data",
                 f"migrating forward a second time (after the rollback) gave other locations: {example(s, sample, converted)}")
        biggest, txs = s.lab.sql("select max(n), count(*) from (select sum(n) as n from check_updates group by xid) t")[0]
        for statement in STOP_COUNTING:
            s.lab.sql(statement)
        s.expect((biggest or 0) <= MAX_BATCH, "not batched",
                 f"the migration changed {biggest:,} rows in one transaction ({txs} transaction(s) in all, counted "
                 f"by a trigger the check put on the table); one transaction keeps every row it touched locked "
                 f"until it commits, and a failure at the end undoes all of it",
                 f"update in batches of at most {MAX_BATCH:,} rows, each in its own transaction: `atomic = False` "
                 "on the migration, and `transaction.atomic()` around each batch")

        # 3. idempotent (run the data step again, as if its record had been lost half-way)
        s.lab.sql("delete from django_migrations where app = 'sightings' and name = %s", (names[-1],))
        migrate(s, "v2", None, "running the data migration a second time")
        s.expect(fingerprint(s, seeded) == expected, "not idempotent",
                 f"running the data migration a second time changed the data again: {example(s, sample, converted)}",
                 "change only the rows that still need it: filter on what a converted row does NOT look like yet")
        s.expect_end_state()
        return s

