"""Check for exercise 02: adding `flagged` and `edited_at` must not break the release that is still serving.

Invariants, not symptoms: every row (the seeded ones, and every sighting either release posted
during the deploy) ends NOT NULL and unflagged; every sighting posted once `edited_at` existed was
last edited when it was posted (not at one moment fixed for all rows), and none before it was
posted or in the future; the old release works after each of the release's migrations (they run
one at a time, with a visitor between them); both columns' database defaults are there because
the release's own model and migrations say so (a default added by hand, with the migration
`--fake`d, is gone on the next database built from the files).
"""
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.probes import posted_sightings, run_plan

TABLE = "sightings_sighting"
# How far a new sighting's edited_at may be from its created_at (set by Django as it saves): the
# INSERT follows within milliseconds; seconds leave room for a loaded machine, not for a fixed date.
POSTED_TOLERANCE_S = 5
LOOK_DEFAULT = ("old code's INSERTs don't name `flagged`: only a default kept by the database fills it "
                "(`default=` lives in Python, in the new release only)")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        before = s.lab.sql(f"select count(*) from {TABLE}")[0][0]
        # The sightings posted before `edited_at` existed got the moment it was added, like the
        # seeded ones: the per-row invariant is for those posted after (the last id is noted at the
        # first step boundary, migration or slot change that finds the column there).
        existed_after: list[int] = []

        def note_when_edited_at_appears(when):
            if not existed_after and "edited_at" in s.columns(TABLE):
                existed_after.append(s.lab.sql(f"select coalesce(max(id), 0) from {TABLE}")[0][0])

        visitor = run_plan(s, after_change=note_when_edited_at_appears)
        s.expect_no_failed_requests()
        final = s.final_release()
        s.expect(s.serving_releases() == {final}, Kind.NOT_DEPLOYED,
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its release to blue and green")
        col = s.columns(TABLE).get("flagged")
        s.expect(col is not None, Kind.COLUMN_MISSING, f"the table {TABLE} has no column `flagged`",
                 "release v2 must add the field and its migration")
        s.expect(not col["nullable"], Kind.NULLABLE, "`flagged` is NULL-able; the task keeps it NOT NULL",
                 "a NULL-able column lets old code's INSERTs through, but leaves their rows without a value: "
                 "what fills the column for code that doesn't know it?")
        s.expect(bool(col["default"]), Kind.NO_DB_DEFAULT,
                 "the column `flagged` has no database default; old code's INSERTs need one", LOOK_DEFAULT)
        # Every row: the seeded ones and every one posted by either release during the deploy.
        after, nulls, flagged = s.lab.sql(
            f"select count(*), count(*) filter (where flagged is null), count(*) filter (where flagged) from {TABLE}")[0]
        posted = posted_sightings(s, visitor)
        s.expect(after == before + posted, Kind.DATA_LOST,
                 f"{TABLE} had {before} rows, the traffic posted {posted} sightings during the deploy, "
                 f"and it has {after} at the end", "a migration that adds a column must not touch the rows")
        s.expect(nulls == 0, Kind.NULLS, f"{nulls} rows have flagged = NULL", LOOK_DEFAULT)
        s.expect(flagged == 0, Kind.WRONG_DATA,
                 f"{flagged} of {after} sightings are flagged at the end, but nobody flagged one: existing rows and "
                 f"the ones the old release posted get the database default, and new sightings start unflagged",
                 "which value does the database fill in for rows that don't name `flagged`?")
        s.expect(col["default"].lower().startswith("false"), Kind.WRONG_DATA,
                 f"the column's database default is {col['default']!r}: every sighting the old release posts "
                 f"would come out flagged", "new sightings start unflagged")
        expect_edited_when_posted(s, existed_after[0] if existed_after else s.lab.sql(f"select max(id) from {TABLE}")[0][0])
        states: dict[str, dict] = {}
        fetch = s.release_state
        s.release_state = lambda name, app="sightings": states.setdefault(name, fetch(name, app))
        # The database default must be the release's own (model + migrations), not SQL run by hand:
        # this exercise's own point, judged before the end state's general "the tables are the state"
        # (a model and migrations that disagree are the end state's to report first).
        def expect_own_db_defaults():
            for name in ("flagged", "edited_at"):
                field = s.release_state(final)["models"][TABLE]["fields"].get(name)
                s.expect(field is not None and field["db_default"], Kind.NO_DB_DEFAULT,
                         f"the column `{name}` has a database default, but release {final}'s model and migrations "
                         f"don't give it one: the next database built from your migrations (a new environment, a "
                         f"test run) has no default, and the old code's INSERTs fail there",
                         "the default must come from the migration the release ships (and the model must say the "
                         "same), not from SQL run beside it")
        if not s.release_state(final)["pending"]:
            expect_own_db_defaults()
        s.expect_end_state()
        expect_own_db_defaults()
        return s


def expect_edited_when_posted(s: Scenario, existed_after: int) -> None:
    """`edited_at`: NOT NULL, a database default, and for every sighting posted once the column
    existed (by either release, ids above `existed_after`) the moment it was posted: a default is
    right only if it is computed for each row, as `default=timezone.now` was for the new release's."""
    col = s.columns(TABLE).get("edited_at")
    s.expect(col is not None, Kind.COLUMN_MISSING, f"the table {TABLE} has no column `edited_at`",
             "release v2 must add both fields and their migration")
    s.expect(not col["nullable"], Kind.NULLABLE, "`edited_at` is NULL-able; every sighting has been edited "
             "at some moment (its posting, at least)", "what fills the column for code that doesn't know it?")
    s.expect(bool(col["default"]), Kind.NO_DB_DEFAULT,
             "the column `edited_at` has no database default; old code's INSERTs need one", LOOK_DEFAULT)
    posted, off, example = s.lab.sql(
        f"select count(*), count(*) filter (where edited_at is null or abs(extract(epoch from edited_at - created_at)) > "
        f"{POSTED_TOLERANCE_S}), min(format('#%s posted %s, edited_at %s', id, created_at, edited_at)) filter (where "
        f"edited_at is null or abs(extract(epoch from edited_at - created_at)) > {POSTED_TOLERANCE_S}) "
        f"from {TABLE} where id > {int(existed_after)}")[0]
    early, example_early = s.lab.sql(
        f"select count(*), min(format('#%s posted %s, edited_at %s', id, created_at, edited_at)) from {TABLE} "
        f"where edited_at < created_at - interval '{POSTED_TOLERANCE_S} seconds' or edited_at > now()")[0]
    s.expect(early == 0, Kind.WRONG_DATA,
             f"{early} sightings were last edited before they were posted, or in the future (e.g. {example_early})",
             "which moment does each row get, the ones that existed before the column too?")
    s.expect(off == 0, Kind.WRONG_DATA,
             f"{off} of the {posted} sightings posted once `edited_at` existed were not last edited when they were posted "
             f"(e.g. {example}): their edited_at is some other moment, not their own",
             "a default written as a value is the same for every row; what could give each row its own moment?")
