"""Check for exercise 15: a migration that failed half-way must be finished by the next attempts,
from wherever it stopped.

Release v2's migration builds two indexes, one on each table the traffic writes. The obstacles are
two lab.pgwatch.OpenWrite transactions, one on each table: when the plan starts, an import has
written to sightings_sighting and another to sightings_comment, and neither has committed. `CREATE
INDEX CONCURRENTLY` adds its index to the catalogue, commits that, and then waits for every
transaction that was writing the table. So the first attempt gives up (its `lock_timeout`, or
after PATIENCE seconds the check cancels it, as a deploy pipeline's timeout would) in the first
build it starts, leaving that index INVALID; that import then ends (rolled back: it leaves no row).
The next attempt finds that leftover, finishes the first index, and gives up in the second build
on the other import. The attempt after that finds one index finished (valid) and one half-built
(invalid). Whatever the migration's order, the attempts meet both kinds of leftover; a migration
that is safe to run again redoes what is half-built and keeps what is finished.

A third obstacle (lab.pgwatch.OpenSnapshot) is a report whose REPEATABLE READ snapshot was taken
before the plan: it holds no table lock, so only the last phase of a build waits for it (after the
index was built and marked ready, before it is marked valid). The first build that gets past its
import gives up there, and leaves an index that is ready (pg_index.indisready) but INVALID: a
repair that tells a half-built index by anything but indisvalid meets the case it missed.

The verdict rests on what PostgreSQL records, not on timing:
  - an event trigger at ddl_command_end (lab.pgwatch.DDLAudit) and one at sql_drop (this file's)
    record every CREATE INDEX and DROP INDEX that ran during the plan, whoever ran it, with the
    table locks its session held: one that held a lock that blocks writes fails, however fast it
    was on this small table (it queues behind any open transaction on a big, busy one). The first
    records only builds that finished (a build cut off records nothing, and neither does one that
    IF NOT EXISTS skipped): an index built twice was finished by one attempt and built again by a
    later one, work that takes minutes on production's table, at every retry;
  - release v2's migration files are read too (`sqlmigrate`, forwards and backwards): a file that
    builds or drops an index without CONCURRENTLY does it wherever it runs, even if this plan faked
    it, and its way back does it in every rollback;
  - pg_index.indisvalid of each index at the end, its definition (pg_get_indexdef) against the
    model's, django_migrations against the release's files and Django's state against the tables
    (Scenario.expect_end_state, then the way back), the rows that were there before the plan (a
    fingerprint of every row of both tables), and zero failed requests.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, MODES, DDLAudit, Obstacle, OpenSnapshot, OpenWrite

# The task's indexes: name → (model, table, the index as PostgreSQL prints the model's Meta.indexes entry).
INDEXES = {
    "sighting_sighted_at_idx": ("Sighting", "sightings_sighting",
                                "CREATE INDEX sighting_sighted_at_idx ON public.sightings_sighting USING btree (sighted_at)"),
    "comment_author_idx": ("Comment", "sightings_comment",
                           "CREATE INDEX comment_author_idx ON public.sightings_comment USING btree (author, created_at)"),
}
TABLES = {table: name for name, (_, table, _) in INDEXES.items()}
PATIENCE = 3.0        # seconds a build may wait for an open transaction before the check cancels it
OBSTACLE_MAX = 120.0  # an open transaction never lasts longer than this, whatever the plan does

LOOK_RERUN = ("each attempt stopped somewhere else and left something behind; the next one runs the same migration "
              "again from the top. What does it find for each index, and what must it do with each? `lab hint 15`")

# Rows as they were before the plan (deleted or changed ones show up as a different fingerprint).
FINGERPRINT = ("select count(*), coalesce(md5(string_agg(t::text, ',' order by t.id)), '') from {table} t "
               "where t.id <= %s")


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
# the SQL that creates each index the Sighting and Comment models declare (Meta.indexes).
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
        back = io.StringIO()
        try:   # the way back's SQL (an irreversible migration is the end state's verdict, not this one's)
            call_command('sqlmigrate', a, name, backwards=True, stdout=back)
            out['migrations'][name]['back'] = back.getvalue()
        except Exception:
            out['migrations'][name]['back'] = ''
for model_name in ('Sighting', 'Comment'):
    model = apps.get_model('sightings', model_name)
    with connection.schema_editor(collect_sql=True) as se:
        for index in model._meta.indexes:
            out['indexes'][index.name] = str(index.create_sql(model, se))
print('JSON ' + json.dumps(out))
"""


def probe(s: Scenario, release: str) -> dict:
    return s.release_json(release, PROBE, "models or migrations",
                          f"run `lab manage {release} sqlmigrate sightings 0002` and read the error")


def index_states(s: Scenario) -> dict[str, tuple[bool, str]]:
    """name → (indisvalid, definition) of each task index that exists."""
    rows = s.lab.sql("select c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
                     "join pg_class c on c.oid = i.indexrelid where c.relname = any(%s)", (list(INDEXES),))
    return {name: (valid, definition) for name, valid, definition in rows}


def describe_states(states: dict[str, tuple[bool, str]]) -> str:
    return "; ".join(f"{name}: " + ("missing" if name not in states else
                                    "valid" if states[name][0] else "INVALID (pg_index.indisvalid = false)")
                     for name in INDEXES)


def blocking_statements(sql: str) -> list[str]:
    """The statements in a migration's SQL that build or drop one of the task's indexes, or an
    index on one of its tables, without CONCURRENTLY."""
    out = []
    for stmt in sql.split(";"):
        lines = [ln for ln in stmt.strip().splitlines() if not ln.strip().startswith("--")]
        st = " ".join(" ".join(lines).split())
        bare = st.replace('"', "")
        if re.match(r"(?i)(create (unique )?index|drop index) (?!concurrently)", st) and \
                any(name in bare for name in [*INDEXES, *TABLES]):
            out.append(st)
    return out


def check(work_dir: Path, log=None) -> Scenario:
    # the pool reads the releases while the plan runs; leaving it waits for them, before the lab stops
    with Scenario(work_dir, log=log) as s, ThreadPoolExecutor(4) as reading:
        release = s.schema_release()
        if release not in s.plan.releases and s.plan.releases:
            release = list(s.plan.releases)[-1]
        last_ids = {t: s.lab.sql(f"select max(id) from {t}")[0][0] for t in TABLES}
        ran_before = {n for (n,) in s.lab.sql("select name from django_migrations where app = 'sightings'")}
        before = {t: s.lab.sql(FINGERPRINT.format(table=t), (last_ids[t],))[0] for t in TABLES}
        obstacles: dict[str, OpenWrite] = {}
        reports: list[OpenSnapshot] = []

        def open_writes(scenario, step):
            # one import on each table, opened before the first step; each lasts until a statement
            # that waited for it failed (or the plan is over)
            if obstacles or index_states(scenario):
                return
            # and a report that took its snapshot before the deploy: a build that got past the
            # imports waits for it at its very end, once the index is built and marked ready, so the
            # attempts also meet an index that is ready and INVALID (not only one cut off before)
            reports.append(OpenSnapshot(scenario.lab, "the database", patience=PATIENCE,
                                        max_seconds=OBSTACLE_MAX).__enter__())
            scenario.log(f"→ a report (pid {reports[0].pid}) holds a snapshot taken before the deploy")
            for table in TABLES:
                o = OpenWrite(scenario.lab, table, patience=PATIENCE, max_seconds=OBSTACLE_MAX)
                if table == "sightings_comment":
                    # its sighting by id: the comment import then holds locks on its own table only, as
                    # a real one does (Django's foreign keys are checked at commit), so each import
                    # stands in the way of the statements on its own table, no other
                    o.write = (f"insert into {table} (sighting_id, author, body, created_at) values "
                               f"({last_ids['sightings_sighting']}, 'import', 'imported, not committed yet', now())")
                obstacles[table] = o.__enter__()
                scenario.log(f"→ an import (pid {o.pid}) has written to {table} and not committed yet")

        for statement in DROP_AUDIT:
            s.lab.sql(statement)
        # What each release ships doesn't change while the plan runs: read it meanwhile (one Django
        # start per release, off the check's critical path).
        shipped = {rel: reading.submit(probe, s, rel) for rel in s.plan.releases}
        failure = None
        try:
            with DDLAudit(s.lab) as audit:
                try:
                    s.run(before_step=open_writes)
                except CheckFailed as f:
                    failure = f
                finally:
                    for o in [*obstacles.values(), *reports]:
                        o.stop()
            drops = s.lab.sql("select query, locks from check15_audit.drops order by id")
        finally:
            for statement in DROP_UNAUDIT:
                s.lab.sql(statement)
        bitten = [o for o in [*obstacles.values(), *reports] if o.bit]
        if log:
            for c in audit.commands():
                log(f"DDL: {c.query[:120]} (held: {', '.join(c.locks) or 'no table lock'})")
            for q, locks in drops:
                log(f"DROP: {q[:120]} (held: {', '.join(locks) or 'no table lock'})")
            for o in [*obstacles.values(), *reports]:
                if o.bit:
                    log(f"the open {o.what} on {o.table}: its first waiter {o.how} after {o.waited:.1f} s: "
                        f"{o.victim[1][:100]}")

        # The imports are the check's, not the plan's: a plan that ends one (pg_terminate_backend on
        # sessions "idle in transaction") gets past the obstacle by destroying someone's work.
        killed = next((o for o in [*obstacles.values(), *reports] if o.error is not None), None)
        if killed is not None:
            raise CheckFailed(
                Kind.DATA_LOST,
                f"the {'import' if isinstance(killed, OpenWrite) else 'report'}'s transaction on {killed.table} "
                f"(pid {killed.pid}) did not end on its own: "
                f"{str(killed.error).strip().splitlines()[0][:200]}. Your plan ended another session's work to get "
                f"its lock; in production that is a colleague's import, a report, a payment, lost",
                "a migration waits for the transactions before it, or gives up and tries again later: which of "
                "your statements touched other sessions?")

        # 0. A step failed for good. With an index left INVALID (or not built at all), that is the lesson itself.
        if failure is not None:
            states = index_states(s)
            if failure.reason in (Kind.STEP_FAILED, Kind.LOCK_TIMEOUT) and states and \
                    not all(name in states and states[name][0] for name in INDEXES):
                stops = ", ".join(f"the open {o.what} on {o.table} ({o.how})" for o in bitten)
                then = (f"{len(s.failed_attempts) + 1} attempts in all, the last one failed"
                        if s.failed_attempts else "nothing tried again (a step may say `retries`), and it failed")
                raise CheckFailed(
                    Kind.INVALID_INDEX,
                    f"the plan ended with {describe_states(states)}. "
                    f"{'Attempts stopped in builds that waited for: ' + stops + '. ' if stops else ''}"
                    f"{then}: {failure.message}", LOOK_RERUN)
            raise failure

        # 1. What ran: an index built or dropped under a lock that blocks writes (timing plays no part).
        ran = [(c.query, [(t, m) for t in TABLES for m in c.holds(t, BLOCKS_WRITES)]) for c in audit.commands()]
        ran += [(q, [(t, m) for t, _, m in (x.partition(" ") for x in locks) if t in TABLES and m in BLOCKS_WRITES])
                for q, locks in drops]
        for query, held in ran:
            if held:
                table, mode = held[0]
                raise CheckFailed(
                    Kind.WRITE_STALL,
                    f"while the plan ran, `{' '.join(query.split())[:140]}` held {MODES.get(mode, mode)} on {table}: "
                    f"nothing can be saved there until it is done, and on a busy table it first queues behind every "
                    f"open transaction (like the check's) with every write queued behind it",
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
                        f"{name}`): without CONCURRENTLY it blocks every write to its table wherever it runs, even if "
                        f"this plan didn't run it (--fake?)",
                        "the same question as under traffic: which form of the statement lets writes go on? "
                        "`lab hint 15`")
                # the way back runs on production too (a rollback): the same rule for its SQL
                bad = blocking_statements(m.get("back") or "")
                if bad:
                    raise CheckFailed(
                        Kind.WRITE_STALL,
                        f"the way back of release {rel}'s migration {name} runs `{bad[0][:120]}` (`manage.py "
                        f"sqlmigrate --backwards sightings {name}`): without CONCURRENTLY, a rollback blocks every "
                        f"write to its table, and first queues behind every open transaction",
                        "the way back is a migration too: which form of the statement lets writes go on? "
                        "`lab hint 15`")
        s.expect_no_failed_requests()

        # 3. Each index: present, valid, the model's and the task's.
        states = index_states(s)
        for name, (model, table, task_def) in INDEXES.items():
            s.expect(name in states, Kind.INDEX_MISSING, f"after the plan there is no index {name} on {table}",
                     f"release v2 must still create the index (the {model} model's Meta.indexes + migration 0002)")
            valid, definition = states[name]
            s.expect(valid, Kind.INVALID_INDEX,
                     f"the plan finished, but {name} is INVALID (pg_index.indisvalid = false): an attempt left it "
                     f"half-built, and what came after accepted it as it was (an index that exists was taken for "
                     f"an index that works: IF NOT EXISTS, `--fake`, an 'already exists' ignored); PostgreSQL never "
                     f"uses an invalid index to answer a query. At the end: {describe_states(states)}", LOOK_RERUN)
        # every build that finished got past both imports and then waited for the report's snapshot
        missed: list[Obstacle] = [o for o in [*obstacles.values(), *reports] if not o.bit] + ([] if reports else [None])
        s.expect(not missed, Kind.CHECK_ERROR,
                 "the plan never waited for " + " and ".join(f"the open {o.what} on {o.table}" if o else "a report"
                                                             for o in missed) +
                 ", so the check can't tell whether your migration survives a failure at each point",
                 "run the check again")
        for name, (model, table, task_def) in INDEXES.items():
            declared = info["indexes"].get(name)
            s.expect(declared is not None, Kind.SCHEMA_DRIFT,
                     f"the database has the index {name}, but release {release}'s {model} model doesn't declare it "
                     f"(Meta.indexes): Django's state doesn't know it exists",
                     "keep the model's Meta.indexes entry; the migration's state must still match the model")
            definition = states[name][1]
            mine = s.model_indexdef(table, declared, Kind.WRONG_INDEX,
                                    f"keep the starter's Meta.indexes entry of {model}")
            s.expect(mine == definition, Kind.SCHEMA_DRIFT,
                     f"the database's {name} is not the index release {release}'s model declares: the database has "
                     f"`{definition}`, the model's Meta.indexes would build `{mine}`",
                     "a hand-written CREATE INDEX must build exactly the model's index (compare with `manage.py "
                     "sqlmigrate` of the starter's migration)")
            s.expect(mine == task_def, Kind.WRONG_INDEX, f"{name} is not the index the task asks for: {definition}",
                     f"keep the starter's Meta.indexes entry of {model}")

        # 4. What an attempt finished, the next ones kept: each index was built once (DDLAudit records
        # only the builds that finished; one cut off, or skipped because the index was there, records nothing).
        for name, (model, table, _) in INDEXES.items():
            builds = [c for c in audit.commands() if c.tag == "CREATE INDEX" and c.object.split(".")[-1] == name]
            s.expect(len(builds) <= 1, Kind.NOT_RESUMABLE,
                     f"{name} was built {len(builds)} times during the plan: one attempt finished it (valid), and a "
                     f"later attempt took it away and built it again. On production's {table} every build reads the "
                     f"whole table for minutes, and a retry that starts from scratch can fail again where the last "
                     f"one did, every time",
                     "when an attempt starts, which of the indexes are finished, which are half-built? Does yours tell "
                     "them apart? `lab hint 15`")

        # 5. Every row that was there before the plan, as it was.
        for table in TABLES:
            after = s.lab.sql(FINGERPRINT.format(table=table), (last_ids[table],))[0]
            s.expect(after == before[table], Kind.DATA_LOST,
                     f"the rows of {table} that were there before the plan changed: {before[table][0]} rows before, "
                     f"{after[0]} after{' (same count, other content)' if after[0] == before[table][0] else ''}",
                     "repairing a failed migration touches the indexes and the history, never the rows")
        s.expect_end_state(release)
        return s
