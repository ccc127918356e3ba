"""Check for exercise 15: a migration that died half-way must be finished by the next attempt.

The obstacle is lab.pgwatch.OpenWrite: when the plan starts, a
transaction that wrote to sightings_comment is still open, as a comment import that hasn't
committed would be. `CREATE INDEX CONCURRENTLY` adds the index to the catalogue, commits that,
and then waits for every transaction that was writing the table: it waits for this one. The
attempt gives up (the migration's `lock_timeout`, or after PATIENCE seconds the check cancels it,
as a deploy pipeline's timeout would) and leaves the index behind INVALID. Then the open
transaction ends (rolled back: it leaves no row) and the plan's next attempt must finish the job.

The verdict rests on what PostgreSQL records, not on timing:
  - an event trigger at ddl_command_end (lab.pgwatch.DDLAudit) and one at sql_drop (this file's)
    record every CREATE INDEX and DROP INDEX that ran during the plan, whoever ran it, with the
    table locks its session held: one that held a lock that blocks writes fails, however fast it
    was on this small table (it queues behind any open transaction on a big, busy one);
  - release v2's migration files are read too (`sqlmigrate`): a file that builds or drops the
    index without CONCURRENTLY does it wherever it runs, even if this plan faked it;
  - pg_index.indisvalid of the index at the end, its definition (pg_get_indexdef) against the
    model's, django_migrations against the release's files and Django's state against the tables
    (Scenario.expect_end_state), the comments that were there before the plan (a fingerprint of
    every row), and zero failed requests.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, MODES, DDLAudit, OpenWrite

TABLE = "sightings_comment"
INDEX = "comment_author_idx"
# The task's index, as PostgreSQL prints models.Index(fields=["author", "created_at"]).
TASK_INDEXDEF = f"CREATE INDEX {INDEX} ON public.{TABLE} USING btree (author, created_at)"
PATIENCE = 3.0        # seconds a build may wait for the open transaction before the check cancels it
OBSTACLE_MAX = 120.0  # the open transaction never lasts longer than this, whatever the plan does

LOOK_RERUN = ("the first attempt died half-way and left something behind; the next attempt runs the same "
              "migration again. What does it find, and what must it do with it before it builds? `lab hint 15`")

# Rows as they were before the plan (deleted or changed ones show up as a different fingerprint).
FINGERPRINT = (f"select count(*), coalesce(md5(string_agg(id || '|' || sighting_id || '|' || author || '|' || body "
               f"|| '|' || created_at, ',' order by id)), '') from {TABLE} where id <= %s")


DROP_AUDIT = [
    "drop event trigger if exists check15_drops",
    "drop schema if exists check15_audit cascade",
    "create schema check15_audit",
    "create table check15_audit.drops (id bigserial primary key, query text, locks text[])",
    # DROP INDEX never shows in pg_event_trigger_ddl_commands() (lab.pgwatch.DDLAudit): sql_drop sees it
    "create function check15_audit.on_drop() returns event_trigger language plpgsql security definer "
    "set search_path = pg_catalog, pg_temp as $$ begin "
    "insert into check15_audit.drops (query, locks) select current_query(), array(select distinct r.relname || ' ' "
    "|| l.mode from pg_locks l join pg_class r on r.oid = l.relation where l.pid = pg_backend_pid() and l.granted "
    "and l.locktype = 'relation' and r.relnamespace = 'public'::regnamespace and r.relkind in ('r', 'p')) "
    "where exists (select from pg_event_trigger_dropped_objects() o where o.object_type = 'index'); "
    "exception when others then null; end $$",
    "create event trigger check15_drops on sql_drop execute function check15_audit.on_drop()",
]
DROP_UNAUDIT = ["drop event trigger if exists check15_drops", "drop schema if exists check15_audit cascade"]


# Runs inside a release, in one Django start: each sightings migration's SQL (`sqlmigrate`) and
# the SQL that creates each index the Comment model declares (Meta.indexes).
PROBE = """
import io, json
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
out = {'migrations': {}, 'indexes': {}}
loader = MigrationLoader(connection)
for (a, name), m in sorted(loader.disk_migrations.items()):
    if a == 'sightings':
        buf = io.StringIO()
        try:
            call_command('sqlmigrate', a, name, stdout=buf)
            out['migrations'][name] = {'sql': buf.getvalue()}
        except Exception as e:
            out['migrations'][name] = {'sql': None, 'error': str(e).strip()[-300:]}
model = apps.get_model('sightings', 'Comment')
with connection.schema_editor(collect_sql=True) as se:
    for index in model._meta.indexes:
        out['indexes'][index.name] = str(index.create_sql(model, se))
print('JSON ' + json.dumps(out))
"""


def probe(s: Scenario, release: str) -> dict:
    return s.release_json(release, PROBE, "models or migrations",
                          f"run `lab manage {release} sqlmigrate sightings 0002` and read the error")


def index_state(s: Scenario) -> tuple[bool, str] | None:
    rows = s.lab.sql("select i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
                     "join pg_class c on c.oid = i.indexrelid where c.relname = %s", (INDEX,))
    return rows[0] if rows else None


def blocking_statements(sql: str) -> list[str]:
    """The statements in a migration's SQL that build or drop an index without CONCURRENTLY."""
    out = []
    for stmt in sql.split(";"):
        lines = [ln for ln in stmt.strip().splitlines() if not ln.strip().startswith("--")]
        st = " ".join(" ".join(lines).split())
        if re.match(r"(?i)(create (unique )?index|drop index) (?!concurrently)", st) and \
                (TABLE in st.replace('"', "") or INDEX in st.replace('"', "")):
            out.append(st)
    return out


def check(work_dir: Path, log=None) -> Scenario:
    # the pool reads the releases while the plan runs; leaving it waits for them, before the lab stops
    with Scenario(work_dir, log=log) as s, ThreadPoolExecutor(4) as reading:
        release = s.schema_release()
        if release not in s.plan.releases and s.plan.releases:
            release = list(s.plan.releases)[-1]
        last_id = s.lab.sql(f"select max(id) from {TABLE}")[0][0]
        ran_before = {n for (n,) in s.lab.sql("select name from django_migrations where app = 'sightings'")}
        before = s.lab.sql(FINGERPRINT, (last_id,))[0]
        obstacles: list[OpenWrite] = []

        def open_write(scenario, step):
            # one obstacle per check, opened before the first step; it lasts until a statement that
            # waited for it failed (or the plan is over)
            if obstacles or (index_state(scenario) or (False,))[0]:
                return
            o = OpenWrite(scenario.lab, TABLE, patience=PATIENCE, max_seconds=OBSTACLE_MAX)
            obstacles.append(o.__enter__())
            scenario.log(f"→ a comment import (pid {o.pid}) has written to {TABLE} and not committed yet")

        for statement in DROP_AUDIT:
            s.lab.sql(statement)
        # What each release ships doesn't change while the plan runs: read it meanwhile (one Django
        # start per release, off the check's critical path).
        shipped = {rel: reading.submit(probe, s, rel) for rel in s.plan.releases}
        failure = None
        try:
            with DDLAudit(s.lab) as audit:
                try:
                    s.run(before_step=open_write)
                except CheckFailed as f:
                    failure = f
                finally:
                    for o in obstacles:
                        o.stop()
            drops = s.lab.sql("select query, locks from check15_audit.drops order by id")
        finally:
            for statement in DROP_UNAUDIT:
                s.lab.sql(statement)
        o = obstacles[0] if obstacles else None
        if log:
            for c in audit.commands():
                log(f"DDL: {c.query[:120]} (held: {', '.join(c.locks) or 'no table lock'})")
            for q, locks in drops:
                log(f"DROP: {q[:120]} (held: {', '.join(locks) or 'no table lock'})")
            if o and o.bit:
                log(f"the open transaction's first waiter {o.how} after {o.waited:.1f} s: {o.victim[1][:100]}")

        # The import is the check's, not the plan's: a plan that ends it (pg_terminate_backend on
        # sessions "idle in transaction") gets past the obstacle by destroying someone's work.
        killed = next((x for x in obstacles if x.error is not None), None)
        if killed is not None:
            raise CheckFailed(
                Kind.DATA_LOST,
                f"the comment import's transaction (pid {killed.pid}) did not end on its own: "
                f"{str(killed.error).strip().splitlines()[0][:200]}. Your plan ended another session's work to get "
                f"its lock; in production that is a colleague's import, a report, a payment, lost",
                "a migration waits for the transactions before it, or gives up and tries again later: which of "
                "your statements touched other sessions?")

        # 0. A step failed for good. With an INVALID index left behind, that is the lesson itself.
        if failure is not None:
            state = index_state(s)
            if failure.reason in (Kind.STEP_FAILED, Kind.LOCK_TIMEOUT) and state and not state[0]:
                first = f"the first attempt {o.how} while it waited for an open transaction; " if o and o.bit else ""
                then = ("every attempt after it failed" if s.failed_attempts else
                        "nothing tried again (a step may say `retries`)")
                raise CheckFailed(
                    Kind.INVALID_INDEX,
                    f"{first}it left {INDEX} behind INVALID (pg_index.indisvalid = false), and {then}: "
                    f"{failure.message}", LOOK_RERUN)
            raise failure

        # 1. What ran: an index built or dropped under a lock that blocks writes (timing plays no part).
        ran = [(c.query, c.holds(TABLE, BLOCKS_WRITES)) for c in audit.commands()]
        ran += [(q, [m for t, _, m in (x.partition(" ") for x in locks) if t == TABLE and m in BLOCKS_WRITES])
                for q, locks in drops]
        for query, held in ran:
            if held:
                raise CheckFailed(
                    Kind.WRITE_STALL,
                    f"while the plan ran, `{' '.join(query.split())[:140]}` held {MODES.get(held[0], held[0])} "
                    f"on {TABLE}: no comment can be saved until it is done, and on a busy table it first "
                    f"queues behind every open transaction (like the check's) with every write queued behind it",
                    # said to every learner, atomic migration or not: the lock comes from the statement
                    "atomic or not, this statement blocks writes while it reads or changes the index: which form "
                    "of CREATE INDEX and DROP INDEX lets writes go on, and what does that form need from the "
                    "migration that runs it? `lab hint 15`")

        # 2. What the release ships: its migration files run on every other database too.
        infos = {rel: f.result() for rel, f in shipped.items()}
        info = infos.get(release) or probe(s, release)
        for rel, i in infos.items():
            for name, m in i["migrations"].items():
                if name in ran_before:
                    continue
                if m["sql"] is None:
                    raise CheckFailed(Kind.MIGRATIONS_BROKEN, f"`manage.py sqlmigrate sightings {name}` fails for "
                                      f"release {rel}: {m['error']}", f"run `lab manage {rel} sqlmigrate sightings {name}`")
                bad = blocking_statements(m["sql"])
                if bad:
                    raise CheckFailed(
                        Kind.WRITE_STALL,
                        f"release {rel}'s migration {name} runs `{bad[0][:120]}` (`manage.py sqlmigrate sightings "
                        f"{name}`): without CONCURRENTLY it blocks every write to {TABLE} wherever it runs, even if "
                        f"this plan didn't run it (--fake?)",
                        "the same question as under traffic: which form of the statement lets writes go on? "
                        "`lab hint 15`")
        s.expect_no_failed_requests()

        # 3. The index: present, valid, the model's and the task's.
        state = index_state(s)
        s.expect(state is not None, Kind.INDEX_MISSING, f"after the plan there is no index {INDEX} on {TABLE}",
                 "release v2 must still create the index (model Meta.indexes + migration 0002)")
        valid, definition = state
        s.expect(valid, Kind.INVALID_INDEX,
                 f"{INDEX} exists but is INVALID (pg_index.indisvalid = false): the first attempt left it behind "
                 f"when it died half-way, and what came after accepted it as it was (IF NOT EXISTS, `--fake`, an "
                 f"'already exists' taken for success); PostgreSQL never uses an invalid index to answer a query",
                 LOOK_RERUN)
        s.expect(o is not None and o.bit, Kind.CHECK_ERROR,
                 "no statement of the plan ever waited for the check's open transaction, so the check can't tell "
                 "whether your migration survives a failure half-way", "run the check again")
        declared = info["indexes"].get(INDEX)
        s.expect(declared is not None, Kind.SCHEMA_DRIFT,
                 f"the database has the index {INDEX}, but release {release}'s model doesn't declare it "
                 f"(Meta.indexes): Django's state doesn't know it exists",
                 "keep the model's Meta.indexes entry; the migration's state must still match the model")
        mine = s.model_indexdef(TABLE, declared, Kind.WRONG_INDEX,
                                "keep the starter's models.Index(fields=[\"author\", \"created_at\"])")
        s.expect(mine == definition, Kind.SCHEMA_DRIFT,
                 f"the database's {INDEX} is not the index release {release}'s model declares: the database has "
                 f"`{definition}`, the model's Meta.indexes would build `{mine}`",
                 "a hand-written CREATE INDEX must build exactly the model's index (compare with `manage.py "
                 "sqlmigrate` of an AddIndex)")
        s.expect(mine == TASK_INDEXDEF, Kind.WRONG_INDEX,
                 f"{INDEX} is not the index the task asks for: {definition}",
                 "keep the starter's models.Index(fields=[\"author\", \"created_at\"])")

        # 4. Every comment that was there before the plan, as it was.
        after = s.lab.sql(FINGERPRINT, (last_id,))[0]
        s.expect(after == before, Kind.DATA_LOST,
                 f"the comments that were there before the plan changed: {before[0]} rows before, {after[0]} after"
                 f"{' (same count, other content)' if after[0] == before[0] else ''}",
                 "repairing a failed migration touches the index and the history, never the rows")
        s.expect_end_state(release)
        return s
