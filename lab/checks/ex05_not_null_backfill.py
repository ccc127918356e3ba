"""Check for exercise 05: a NOT NULL `region`, filled for every sighting, with no failed request
and no full-table work under an ACCESS EXCLUSIVE lock.

What the learner runs is measured while it runs, not read from their files: before the plan the
check puts a watch on the table (schema `check_audit`, its own):
  - a statement-level trigger notes, for every UPDATE and INSERT, its top-level transaction
    (pg_current_xact_id() is the top-level id even inside a savepoint) and how many rows it
    changed (for INSERTs: how many came without a region);
  - an event trigger notes every ALTER TABLE as it starts: its transaction, the statement as the
    server received it (so DDL hidden in RunPython counts too), and whether a validated
    CHECK (region IS NOT NULL) or NOT NULL was already in place.
From those: no transaction that altered the table also changed rows (data work under ACCESS
EXCLUSIVE); SET NOT NULL never scans (a validated CHECK first); VALIDATE never runs in the
transaction that added the constraint; the backfill's biggest transaction is a batch; a second
run of the backfill changes nothing; no NULL region is written after the backfill started.
"""
import re
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario, describe_step, manage_command

TABLE = "sightings_sighting"
# region = the part of `location` after its last comma, trimmed (sightings.models.region_of)
EXPECTED = "btrim(regexp_replace(location, '^.*,', ''))"
MAX_BATCH = 500     # rows one backfill transaction may change: half of the lab's 1,000 sightings

WATCH = [
    "drop schema if exists check_audit cascade",
    "create schema check_audit",
    "create table check_audit.events (seq bigserial primary key, xid xid8 default pg_current_xact_id(), "
    "kind text not null, n bigint, query text, valid_check boolean, not_null boolean)",
    # UPDATEs: rows changed per statement. INSERTs: rows that came without a region (before the
    # column exists every row does; only inserts after the backfill started are judged).
    "create function check_audit.on_update() returns trigger language plpgsql security definer "
    "set search_path = pg_catalog, public as $$ begin "
    "insert into check_audit.events (kind, n) select 'update', count(*) from changed; return null; end $$",
    "create function check_audit.on_insert() returns trigger language plpgsql security definer "
    "set search_path = pg_catalog, public as $$ begin "
    "insert into check_audit.events (kind, n) select 'insert_null', count(*) from added a "
    "where to_jsonb(a) ->> 'region' is null; return null; end $$",
    f"create trigger check_audit_update after update on {TABLE} referencing new table as changed "
    "for each statement execute function check_audit.on_update()",
    f"create trigger check_audit_insert after insert on {TABLE} referencing new table as added "
    "for each statement execute function check_audit.on_insert()",
    # Every ALTER TABLE, as it starts: what already guards region against NULLs at that moment.
    "create function check_audit.on_alter() returns event_trigger language plpgsql security definer "
    "set search_path = pg_catalog, public as $$ begin "
    "insert into check_audit.events (kind, query, valid_check, not_null) select 'alter', current_query(), "
    "exists (select 1 from pg_constraint c where c.conrelid = to_regclass('public." + TABLE + "') "
    "and c.contype = 'c' and c.convalidated and pg_get_constraintdef(c.oid) ~* 'region\\)? IS NOT NULL'), "
    "coalesce((select a.attnotnull from pg_attribute a where a.attrelid = to_regclass('public." + TABLE + "') "
    "and a.attname = 'region' and not a.attisdropped), false); end $$",
    "create event trigger check_audit_alter on ddl_command_start when tag in ('ALTER TABLE') "
    "execute function check_audit.on_alter()",
]
UNWATCH = ["drop event trigger if exists check_audit_alter",
           f"drop trigger if exists check_audit_update on {TABLE}",
           f"drop trigger if exists check_audit_insert on {TABLE}",
           "drop schema if exists check_audit cascade"]

LONG_LOCK_LOOK = ("which statement needs to look at every row, and which lock does it hold meanwhile? PostgreSQL can "
                  "check a constraint in two steps, the long one under a lock that lets the site go on, if the "
                  "two steps don't share a transaction; and rows are filled outside the migrations; `lab hint 05`")


# Locations the seed never has (its are all "Place, Region"), as v1 would have saved them: more
# than one comma, spaces around them, an accent. A rule that takes the part after the FIRST comma
# (split_part(location, ',', 2), a split(',')[1]) is right for every seeded row and wrong for these.
EDGE_LOCATIONS = ["Orleans, Humboldt County, California", "  Mount St. Helens , Skamania County ,  Washington ",
                  "Forks, Clallam County, Wäshington, USA"]


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        for location in EDGE_LOCATIONS:
            s.lab.sql(f"insert into {TABLE} (title, description, location, sighted_at, reporter, score, created_at) "
                      "values ('Tracks by the river', 'Posted before v2.', %s, now(), 'check', 0, now())", (location,))
        for statement in WATCH:
            s.lab.sql(statement)

        def mark(s, step):
            s.lab.sql("insert into check_audit.events (kind, query) values ('step', %s)",
                      (f"{describe_step(step)} (serving: {', '.join(sorted(map(str, s.serving_releases())))})",))

        try:
            s.run(before_step=mark)
        except CheckFailed as failure:
            if failure.reason == Kind.STEP_FAILED:
                late_nulls(s)          # a failed VALIDATE / SET NOT NULL: say why, if that is why
            raise
        refused_writes(s)
        # A long lock before the traffic's other failures: requests stuck behind it time out or not
        # depending on how busy the machine is; the watch saw the cause either way.
        problem = long_lock_seen(s)
        s.expect(problem is None, Kind.LONG_LOCK, problem or "", LONG_LOCK_LOOK)
        s.expect_no_failed_requests()
        final = s.final_release()
        s.expect(s.serving_releases() == {final}, Kind.NOT_DEPLOYED,
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its last release to blue and green")
        s.expect("region" in s.columns(TABLE), Kind.COLUMN_MISSING, f"{TABLE} has no column `region`",
                 "keep the feature: Sighting.region, filled from location")
        late_nulls(s)
        # Every sighting, old or new (the traffic's too), has the right region.
        missing = s.lab.sql(f"select count(*) from {TABLE} where region is null")[0][0]
        s.expect(missing == 0, Kind.NOT_BACKFILLED, f"{missing} sightings still have region = NULL",
                 "backfill the old rows with a management command run by a `manage` step, AFTER every "
                 "slot runs code that sets region itself")
        wrong = s.lab.sql(f"select id, location, region from {TABLE} where region is distinct from {EXPECTED} "
                          "order by id limit 1")
        s.expect(not wrong, Kind.WRONG_REGION,
                 f"sighting {wrong[0][0] if wrong else ''} has region {wrong[0][2] if wrong else ''!r} for location "
                 f"{wrong[0][1] if wrong else ''!r}; expected the part after the last comma",
                 "region_of(location): the part after the last comma, trimmed; the same rule in save() and the backfill")
        # The database itself refuses a NULL region: NOT NULL, or a CHECK that PostgreSQL validated.
        refused = s.lab.sql(
            "select coalesce((select attnotnull from pg_attribute where attrelid = to_regclass(%s) "
            "and attname = 'region' and not attisdropped), false) or exists (select 1 from pg_constraint "
            "where conrelid = to_regclass(%s) and contype = 'c' and convalidated "
            "and pg_get_constraintdef(oid) ~* 'region\\)? IS NOT NULL')", (TABLE, TABLE))[0][0]
        s.expect(refused, Kind.NULLABLE,
                 "the database still accepts a sighting with region = NULL: the column is NULL-able and no validated "
                 "constraint forbids NULL (a CHECK ... NOT VALID guards new writes only, and proves nothing about "
                 "the rows already there)",
                 "the contract step comes last, once every row has a region: which step of your plan makes the "
                 "database itself refuse NULL, without scanning the table under a lock that stops the site? "
                 "(chapter 05's contract; `lab hint 05`)")
        # The backfill is a real command, run by the plan, in batches.
        backfills = [manage_command(st) for st in s.plan.steps
                     if st["action"] == "manage" and manage_command(st)[:1] and manage_command(st)[0].startswith("backfill")]
        s.expect(bool(backfills), Kind.NO_BACKFILL_STEP,
                 "the plan has no `manage` step running a backfill_… command",
                 "backfill outside the migration, with a management command of the release that the plan runs "
                 "once every slot sets region itself (docs/reference/plan.md lists the plan's actions)")
        sizes = [n for n in map(batch_size_of, backfills) if n]
        limit = min(MAX_BATCH, max(sizes)) if sizes else MAX_BATCH
        biggest, txs = s.lab.sql("select coalesce(max(n), 0), count(*) from (select sum(n) as n "
                                 "from check_audit.events where kind = 'update' group by xid) t")[0]
        s.expect(biggest <= limit, Kind.NOT_BATCHED,
                 f"one transaction changed {biggest:,} sightings ({txs} updating transaction(s) in all, counted by a "
                 f"trigger the check put on the table; the limit is {limit:,} rows: the --batch-size your plan passes, "
                 f"and never more than {MAX_BATCH:,}): its row locks last until it commits, and a failure undoes it all",
                 "each batch in its own short transaction, committed before the next one starts, and no more rows "
                 "per batch than --batch-size says: where does your command open its transaction, and where does "
                 "it commit?")
        # A second run is safe and finds nothing to do (only the rows that still need it).
        s.lab.sql("truncate check_audit.events")
        cmd = " ".join(backfills[-1])
        try:
            s.lab.manage(final, *backfills[-1])
        except Exception as e:  # noqa: BLE001 - a LabError with the command's own error
            raise CheckFailed(Kind.NOT_IDEMPOTENT,
                              f"running `{cmd}` a second time (release {final}) failed: {getattr(e, 'message', e)}",
                              "a backfill must be safe to run again: only touch rows that still need it") from None
        rewritten = s.lab.sql("select coalesce(sum(n), 0) from check_audit.events where kind = 'update'")[0][0]
        s.expect(rewritten == 0, Kind.NOT_IDEMPOTENT,
                 f"running `{cmd}` a second time (release {final}), when every row had its region, rewrote "
                 f"{rewritten:,} rows: a re-run after a crash would redo (and lock) the whole table",
                 "a backfill must be idempotent and resumable: select only the rows that still need it")
        for statement in UNWATCH:
            s.lab.sql(statement)
        s.expect_end_state()
        return s


def refused_writes(s: Scenario) -> None:
    """Writes the database refused (old code's INSERT without region after it became NOT NULL) are
    reported before anything else the traffic saw: the requests stuck behind the same migration's
    lock may time out first on a busy machine, but the refused writes are the mistake's own mark."""
    from lab.exercises import LOOK_AT
    from lab.traffic import describe
    errors = s.traffic.errors
    refused = [e for e in errors if e.error.startswith("500 IntegrityError")]
    if refused:
        kinds = s.traffic.summary()["by_kind"]
        raise CheckFailed(
            "500 IntegrityError",
            f"{len(errors)} of {len(s.traffic.records)} requests failed during the deploy "
            f"({', '.join(f'{k} ×{n}' for k, n in kinds.items())}). First refused write: {describe(refused[0])}",
            LOOK_AT["500"])


def batch_size_of(cmd: list[str]) -> int | None:
    """The --batch-size a plan passes to its backfill (`--batch-size 200` or `--batch-size=200`)."""
    for i, arg in enumerate(cmd):
        value = cmd[i + 1] if arg == "--batch-size" and i + 1 < len(cmd) else (
            arg.split("=", 1)[1] if arg.startswith("--batch-size=") else None)
        if value is not None and value.isdigit():
            return int(value)
    return None


def late_nulls(s: Scenario) -> None:
    """NULL regions inserted after the (last) backfill step began: no backfill can promise to see
    them, so VALIDATE / SET NOT NULL fails or they stay NULL."""
    start = s.lab.sql("select max(seq) from check_audit.events where kind = 'step' and query ~ '^manage .*backfill'")[0][0]
    if start is None:
        return
    rows = s.lab.sql("select coalesce(sum(n), 0) from check_audit.events where kind = 'insert_null' and seq > %s",
                     (start,))[0][0]
    if not rows:
        return
    during, step = [], None
    for kind, n, query in s.lab.sql("select kind, n, query from check_audit.events where seq >= %s "
                                    "and kind in ('step', 'insert_null') order by seq", (start,)):
        if kind == "step":
            step = query
        elif n and step not in during:
            during.append(step)
    raise CheckFailed(
        Kind.NULLS,
        f"{rows} sightings were saved with region = NULL after the backfill had started (during "
        f"{'; '.join(f'`{d}`' for d in during)}): a backfill can't promise to see rows written while or after "
        f"it runs, so enforcing NOT NULL fails or they stay NULL",
        "run the backfill only once every slot runs code whose save() sets region itself: which release was "
        "serving when those rows came in, and does its Sighting.save() fill region?")


def long_lock_seen(s: Scenario) -> str | None:
    """Why making `region` NOT NULL held ACCESS EXCLUSIVE during a full-table scan or data work, or
    None: judged on the statements PostgreSQL ran (RunSQL, AlterField and RunPython alike), in the
    transactions they ran in, not on what `sqlmigrate` prints."""
    events = s.lab.sql("select seq, xid::text, kind, n, query, valid_check, not_null from check_audit.events "
                       "where kind in ('alter', 'update') order by seq")
    altered: dict[str, str] = {}          # xid -> the first statement that altered the table in it
    for seq, xid, kind, n, query, valid_check, not_null in events:
        if kind != "alter":
            continue
        q = " ".join(query.lower().replace('"', "").split())
        if not re.search(r"\balter\s+table\s+(only\s+)?(if\s+exists\s+)?(public\.)?" + TABLE + r"\b", q):
            continue
        short = query.strip()[:160]
        if re.search(r"alter (column )?region set not null", q) and not valid_check and not not_null:
            return (f"`{short}` ran with no validated CHECK (region IS NOT NULL) in place: PostgreSQL scanned "
                    f"every row while it held an ACCESS EXCLUSIVE lock, and nothing could read or write the table")
        if re.search(r"check \(+region is not null\)+", q) and "add constraint" in q and "not valid" not in q:
            return (f"`{short}` adds CHECK (region IS NOT NULL) without NOT VALID: PostgreSQL checks every row "
                    f"while it holds an ACCESS EXCLUSIVE lock")
        if "validate constraint" in q:
            if xid in altered:
                return (f"`{short}` ran in the same transaction as `{altered[xid]}`: that transaction still held "
                        f"the ACCESS EXCLUSIVE lock while VALIDATE scanned the table")
            continue
        altered.setdefault(xid, short)
    work = {}
    for seq, xid, kind, n, *_ in events:
        if kind == "update" and xid in altered and n:
            work[xid] = work.get(xid, 0) + n
    if work:
        xid, n = next(iter(work.items()))
        return (f"one transaction ran `{altered[xid]}` and then changed {n:,} rows (a RunPython in the same atomic "
                f"migration as the schema change): it held ACCESS EXCLUSIVE on {TABLE} while it did, so nothing "
                f"could read or write the table until it committed")
    return None

