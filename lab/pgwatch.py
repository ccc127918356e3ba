"""Watching PostgreSQL while a check (or a notebook) runs: who waits for which lock, for how long,
behind whom — and a slow "report" transaction that holds a lock, to make the lock queue visible.

    with LockWatch(lab, "sightings_sighting") as watch:      # samples pg_locks 10× a second
        lab.migrate("v2")
    watch.longest("INSERT")        # seconds the longest-waiting INSERT on the table waited
    watch.max_queue                # most statements waiting on the table at the same moment
    print(watch.report())

    with SlowReport(lab, "sightings_sighting", hold_after_waiter=5):   # holds ACCESS SHARE
        lab.migrate("v2")          # an ALTER TABLE now queues behind the report...

Both use their own superuser connection, so they see every session (the app's, the migration's).
"""
from __future__ import annotations

import re

import threading
import time
from dataclasses import dataclass, field

from .kinds import CheckFailed, Kind

SAMPLE = """
select a.pid, coalesce(a.application_name, ''), a.query, l.mode, l.granted,
       extract(epoch from clock_timestamp() - coalesce(a.query_start, clock_timestamp()))::float8,
       extract(epoch from clock_timestamp() - coalesce(a.xact_start, clock_timestamp()))::float8,
       case when l.granted then '{}'::int[] else pg_blocking_pids(a.pid) end,
       a.query_start
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'relation' and l.relation = %s::regclass and a.pid <> pg_backend_pid()
"""

MODES = {  # pg_locks' names → the names in PostgreSQL's docs (and in the chapters)
    "AccessShareLock": "ACCESS SHARE", "RowShareLock": "ROW SHARE", "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE", "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE", "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}


def _statement(query: str) -> str:
    """'INSERT INTO "sightings_sighting" (...' → 'INSERT INTO "sightings_sighting"' (one line, short)."""
    q = " ".join((query or "").split())
    return q if len(q) <= 90 else q[:87] + "..."


@dataclass
class Wait:
    """One statement that waited for a lock on the table (one row per statement, not per sample)."""
    pid: int
    app: str
    query: str
    mode: str
    seconds: float              # how long it had waited when last seen waiting
    blocked_by: set[int] = field(default_factory=set)
    first_seen: float = 0.0     # seconds since the watch started

    @property
    def verb(self) -> str:
        return (self.query.split(None, 1) or [""])[0].upper()


@dataclass
class Holder:
    pid: int
    app: str
    query: str
    mode: str
    xact_seconds: float


class LockWatch:
    """Samples, every `interval` seconds, the relation locks on `table`: granted and waiting."""

    def __init__(self, lab, table: str, interval: float = 0.1):
        self.lab, self.table, self.interval = lab, table, interval
        self.waits: dict[tuple, Wait] = {}
        self.holders: dict[int, Holder] = {}
        self.max_queue = 0          # most statements waiting on the table in one sample
        self.samples = 0
        self.failures = 0           # samples that raised (the last exception is kept)
        self.max_gap = 0.0          # longest time between two successful samples (or the start/end)
        self.slowest_sample = 0.0   # the longest one sample took
        self._last_ok: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self.t0 = time.monotonic()

    def __enter__(self) -> "LockWatch":
        self._conn_cm = self.lab.db.connect(dbname=self.lab.db.db_name)
        self._conn = self._conn_cm.__enter__()
        self._conn.execute("set application_name = 'lab lock watch'")
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"lockwatch-{self.table}")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._conn_cm.__exit__(None, None, None)
        return False

    def _loop(self) -> None:
        self._last_ok = time.monotonic()
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                self.sample()
                done = time.monotonic()
                self.slowest_sample = max(self.slowest_sample, done - t)
                self.max_gap = max(self.max_gap, done - self._last_ok)
                self._last_ok = done
            except Exception as e:  # noqa: BLE001 - a watch must never break the check it watches
                self._error, self.failures = e, self.failures + 1
            self._stop.wait(self.interval)
        if self._last_ok is not None:   # blind at the end counts too
            self.max_gap = max(self.max_gap, time.monotonic() - self._last_ok - self.interval)

    def sample(self) -> None:
        rows = self._conn.execute(SAMPLE, (self.table,)).fetchall()
        self.samples += 1
        waiting = 0
        now = round(time.monotonic() - self.t0, 2)
        for pid, app, query, mode, granted, waited, xact, blockers, qstart in rows:
            mode = MODES.get(mode, mode)
            if granted:
                h = self.holders.get(pid)
                if h is None or xact >= h.xact_seconds:
                    self.holders[pid] = Holder(pid, app, _statement(query), mode, xact)
                continue
            waiting += 1
            key = (pid, qstart)
            w = self.waits.get(key)
            if w is None:
                self.waits[key] = Wait(pid, app, _statement(query), mode, waited, set(blockers or ()), now)
            else:
                w.seconds = max(w.seconds, waited)
                w.blocked_by |= set(blockers or ())
        self.max_queue = max(self.max_queue, waiting)

    # ---- what was seen ----
    def of(self, verb: str | None = None) -> list[Wait]:
        """Waits, longest first; `verb` filters on the statement's first word ("INSERT", "ALTER")."""
        ws = [w for w in self.waits.values() if verb is None or w.verb == verb.upper()]
        return sorted(ws, key=lambda w: -w.seconds)

    def longest(self, verb: str | None = None) -> float:
        ws = self.of(verb)
        return ws[0].seconds if ws else 0.0

    @property
    def error(self) -> Exception | None:
        """Why the watch can't be trusted, if it can't: it took no sample, a sample failed, or it was
        blind for a stretch (a check must not pass on a watch that barely sampled). The bar is the
        watch's own: the longest gap between two samples may be a few intervals plus the slowest
        sample it took, never a stretch where a lock wait could hide unseen."""
        if not self.samples:
            return self._error or RuntimeError("no sample was taken")
        if self.failures:
            return RuntimeError(f"{self.failures} of {self.samples + self.failures} samples failed; "
                                f"the last one: {self._error}")
        allowed = max(10 * self.interval, 4 * self.slowest_sample, 1.0)
        if self.max_gap > allowed:
            return RuntimeError(f"the watch took no sample for {self.max_gap:.1f} s (at most {allowed:.1f} s "
                                f"may pass between two samples)")
        return None

    def holder(self, pid: int) -> Holder | None:
        return self.holders.get(pid)

    def report(self, limit: int = 6) -> str:
        lines = [f"lock watch on {self.table}: {self.samples} samples, {len(self.waits)} statements waited, "
                 f"at most {self.max_queue} at once"]
        for w in self.of()[:limit]:
            by = ", ".join(f"pid {p}" + (f" ({self.holders[p].app or self.holders[p].query})" if p in self.holders else "")
                           for p in sorted(w.blocked_by)) or "?"
            lines.append(f"  {w.seconds:5.2f}s  pid {w.pid} wanted {w.mode} for {w.query!r}, behind {by}")
        if self._error:
            lines.append(f"  (the watch stopped sampling: {self._error})")
        return "\n".join(lines)


class SlowReport:
    """A long read-only transaction on `table`, like an analyst's report: it takes ACCESS SHARE
    (any SELECT does) and keeps it until it commits.

    It holds the lock for `hold_after_waiter` seconds after the first statement starts waiting
    behind it (so the stall it causes doesn't depend on how fast the machine starts a migration),
    and never longer than `max_seconds` in all.
    """

    def __init__(self, lab, table: str, hold_after_waiter: float = 5.0, max_seconds: float = 20.0,
                 name: str = "slow report", waiter_seen=None):
        """`waiter_seen()`, if given, is asked too: True once someone gave up waiting for a lock behind
        the report (a migration whose lock_timeout fired between two looks at pg_locks)."""
        self.lab, self.table, self.name = lab, table, name
        self.waiter_seen = waiter_seen
        self.hold_after_waiter, self.max_seconds = hold_after_waiter, max_seconds
        self.held = threading.Event()
        self._stop = threading.Event()
        self.pid: int | None = None
        self.started = self.ended = None
        self.first_waiter_at: float | None = None
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started

    @property
    def alive(self) -> bool:
        """Still holding its lock (or about to)."""
        return self._thread is not None and self._thread.is_alive() and self.ended is None

    def __enter__(self) -> "SlowReport":
        self._thread = threading.Thread(target=self._run, daemon=True, name="slow-report")
        self._thread.start()
        if not self.held.wait(10) or self._error:
            raise RuntimeError(f"the slow report could not lock {self.table}: {self._error}")
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the report has committed (its lock is gone)."""
        if self._thread:
            self._thread.join(timeout)
        return self.ended is not None

    def _run(self) -> None:
        try:
            with self.lab.db.connect(dbname=self.lab.db.db_name, autocommit=False) as conn, \
                    self.lab.db.connect(dbname=self.lab.db.db_name) as watcher:
                conn.execute(f"set application_name = '{self.name}'")
                conn.commit()
                self.pid = conn.info.backend_pid
                conn.execute(f"select count(*) from {self.table}")   # ACCESS SHARE, kept until commit
                self.started = time.monotonic()
                self.held.set()
                while not self._stop.is_set():
                    now = time.monotonic()
                    if now - self.started >= self.max_seconds:
                        break
                    if self.first_waiter_at is None:
                        blocked = watcher.execute(
                            "select count(*) from pg_locks l where l.locktype = 'relation' and not l.granted "
                            "and l.relation = %s::regclass", (self.table,)).fetchone()[0]
                        if blocked or (self.waiter_seen is not None and self.waiter_seen()):
                            self.first_waiter_at = now
                    elif now - self.first_waiter_at >= self.hold_after_waiter:
                        break
                    self._stop.wait(0.05)
                conn.commit()
                self.ended = time.monotonic()
        except Exception as e:  # noqa: BLE001
            self._error = e
            self.held.set()


AUDIT_SCHEMA = "lab_audit"
AUDIT_SETUP = f"""
create schema if not exists {AUDIT_SCHEMA};
create table if not exists {AUDIT_SCHEMA}.ddl (
    id bigserial primary key, at timestamptz default clock_timestamp(), tag text, object text, query text,
    locks text[], app text, in_xact_block boolean, lock_timeout text);
alter table {AUDIT_SCHEMA}.ddl add column if not exists lock_timeout text;   -- a table left by an older kit
create or replace function {AUDIT_SCHEMA}.log_ddl() returns event_trigger language plpgsql security definer
set search_path = pg_catalog, pg_temp as $$
begin
    insert into {AUDIT_SCHEMA}.ddl (tag, object, query, locks, app, in_xact_block, lock_timeout)
    select c.command_tag, c.object_identity, current_query(),
           array(select distinct r.relname || ' ' || l.mode from pg_locks l join pg_class r on r.oid = l.relation
                 where l.pid = pg_backend_pid() and l.granted and l.locktype = 'relation'
                   and r.relnamespace = 'public'::regnamespace and r.relkind in ('r', 'p')),
           current_setting('application_name', true),
           now() <> statement_timestamp(), current_setting('lock_timeout')
    from pg_event_trigger_ddl_commands() c;
exception when others then
    null;   -- the audit must never break the DDL it watches
end $$;
drop event trigger if exists lab_audit_ddl;
create event trigger lab_audit_ddl on ddl_command_end execute function {AUDIT_SCHEMA}.log_ddl();
"""


@dataclass
class DDLCommand:
    """One DDL statement that ran while the audit was on (whoever ran it: a migration, RunPython,
    `manage.py dbshell`), with the table locks its session held when the command ended."""
    tag: str            # "CREATE INDEX", "ALTER TABLE"
    object: str         # "public.sighting_search_idx"
    query: str          # the statement the client sent (current_query())
    locks: list[str]    # ["sightings_sighting ShareLock", ...]: relation locks held at its end
    app: str
    lock_timeout: str = ""   # the session's lock_timeout when it ran ("0": none)

    def holds(self, table: str, modes) -> list[str]:
        """The modes among `modes` (pg_locks' names, "ShareLock") its session held on `table`."""
        return [m for t, _, m in (x.partition(" ") for x in self.locks) if t == table and m in modes]


# Lock modes that make INSERT/UPDATE/DELETE (ROW EXCLUSIVE) wait: PostgreSQL's lock conflict table.
BLOCKS_WRITES = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")


class DDLAudit:
    """Records every DDL statement run in the lab database while it is on (a PostgreSQL event
    trigger at ddl_command_end): what ran, not what a migration file says it runs. Timing plays no
    part: a plain CREATE INDEX is caught holding its SHARE lock however fast it was.

        with DDLAudit(lab) as audit:
            scenario.run()
        audit.commands()      # [DDLCommand, ...] in the order they ran
    """

    def __init__(self, lab):
        self.lab = lab
        self._commands: list[DDLCommand] | None = None

    def __enter__(self) -> "DDLAudit":
        with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
            conn.execute(AUDIT_SETUP)
        return self

    def commands(self) -> list[DDLCommand]:
        if self._commands is None:
            rows = self.lab.sql(f"select tag, coalesce(object, ''), coalesce(query, ''), coalesce(locks, '{{}}'), "
                                f"coalesce(app, ''), coalesce(lock_timeout, '') from {AUDIT_SCHEMA}.ddl order by id")
            self._commands = [DDLCommand(*r[:3], list(r[3]), r[4], r[5]) for r in rows]
        return self._commands

    def __exit__(self, *exc):
        try:
            self.commands()
        finally:
            with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
                conn.execute(f"drop event trigger if exists lab_audit_ddl; drop schema if exists {AUDIT_SCHEMA} cascade")
        return False


# ---------------------------------------------------------------- every migration's locks
HOT_SCHEMA = "lab_hot"
# A lock_timeout is a guardrail only if it is short: while a statement waits for its lock, every
# request queues behind it (chapter 07). Longer than this, set anywhere, is no guardrail.
LOCK_TIMEOUT_CEILING = 5.0   # seconds
# The other way round for the statements that are slow by design and block no one while they run:
# CREATE INDEX CONCURRENTLY and VALIDATE CONSTRAINT read the whole table, which on production's
# takes minutes (chapter 06: a million rows). A statement_timeout shorter than that cancels them
# there, on the lab's small table never: the build leaves an INVALID index, the next run fails.
STATEMENT_TIMEOUT_FLOOR = 600.0   # seconds
_SLOW_BY_DESIGN = re.compile(r'create\s+(?:unique\s+)?index\s+concurrently\b.*?\bon\s+(?:only\s+)?(?:"?\w+"?\.)?"?(\w+)"?'
                             r'|alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?(?:"?\w+"?\.)?"?(\w+)"?\s+validate\s+constraint',
                             re.I | re.S)


_ALTER_TABLE = re.compile(r'alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?(?:"?\w+"?\.)?"?(\w+)"?(.*)', re.I | re.S)
_SET_NOT_NULL = re.compile(r'alter\s+(?:column\s+)?"?(\w+)"?\s+set\s+not\s+null', re.I)


def unproven_not_null(query: str, tables: list[str], proven: list[str]) -> list[tuple[str, str]]:
    """(table, column) of each `ALTER TABLE t ALTER COLUMN c SET NOT NULL` in `query` on one of
    `tables` that no validated CHECK constraint in `proven` ("table: CHECK ((c IS NOT NULL))") proves."""
    out = []
    for statement in query.split(";"):
        m = _ALTER_TABLE.search(statement)
        if not m or m.group(1) not in tables:
            continue
        for col in _SET_NOT_NULL.findall(m.group(2)):
            if not any(p.startswith(m.group(1) + ":") and re.search(rf'\(+"?{col}"?\s+is\s+not\s+null\)+', p, re.I)
                       for p in proven):
                out.append((m.group(1), col))
    return out


_READS = [
    (re.compile(r"create\s+(unique\s+)?index\s+(?!concurrently)", re.I), "builds an index"),
    (re.compile(r"add\s+(constraint\s+\S+\s+)?(check|foreign\s+key|unique|primary\s+key|exclude)\b(?![^;]*\bnot\s+valid\b)"
                r"(?![^;]*\busing\s+index\b)", re.I), "adds a constraint it proves on every row"),
    (re.compile(r"validate\s+constraint", re.I), "validates a constraint (reads every row)"),
]


def reads_whole_table(statement: str) -> str | None:
    """What a DDL statement does that reads every row of its table (an index build, a constraint
    added without NOT VALID, a validation), or None: harmless in a moment of lock, long under one.
    SET NOT NULL is judged with the CHECK constraints that may prove it (unproven_not_null)."""
    for pattern, what in _READS:
        if pattern.search(statement):
            return what
    return None


class HotTableWatch:
    """What the plan did to the tables the traffic uses, whichever migration or command did it,
    without sampling (so without luck: the size of the table doesn't decide what is seen):

      - a rewrite: the table got a new file (pg_class.relfilenode changed): ALTER COLUMN TYPE, a
        volatile default, VACUUM FULL, CLUSTER... every one holds ACCESS EXCLUSIVE while it copies
        every row;
      - rows changed under ACCESS EXCLUSIVE: a transaction that took ACCESS EXCLUSIVE on the table
        (ALTER TABLE) and also UPDATEd or DELETEd many of its rows (an AddField, then a fill, in one
        atomic migration): every request waits for the whole update. An event trigger notes which
        transactions held ACCESS EXCLUSIVE on which table when their DDL ended; statement triggers
        count the rows each transaction changed.

        with HotTableWatch(lab, ["sightings_sighting", "sightings_comment"]) as watch:
            scenario.run()
        watch.findings()     # [(kind, table, what)], empty when the tables were spared
    """

    def __init__(self, lab, tables: list[str]):
        self.lab, self.tables = lab, list(tables)
        self._findings: list[tuple[str, str, str]] | None = None
        self._closed = False

    def __enter__(self) -> "HotTableWatch":
        hot = "array[" + ", ".join(f"'{t}'" for t in self.tables) + "]::text[]"
        statements = [
            f"drop event trigger if exists {HOT_SCHEMA}_ddl",
            f"drop schema if exists {HOT_SCHEMA} cascade",
            f"create schema {HOT_SCHEMA}",
            f"create table {HOT_SCHEMA}.ddl (xid xid8, tag text, query text, exclusive text[], blocking text[], "
            f"lock_timeout text, proven text[], lock_timeout_source text, seq_read jsonb, statement_timeout text)",
            f"create table {HOT_SCHEMA}.writes (xid xid8, tbl text, op text, n bigint, seq_read bigint)",
            f"create table {HOT_SCHEMA}.files as select relname::text as tbl, relfilenode, reltuples "
            f"from pg_class where relname = any({hot}) and relkind = 'r'",
            f"create function {HOT_SCHEMA}.on_ddl() returns event_trigger language plpgsql security definer "
            f"set search_path = pg_catalog as $$ begin "
            f"insert into {HOT_SCHEMA}.ddl select pg_current_xact_id(), tg_tag, left(current_query(), 4000), "
            f"array(select c.relname::text from pg_locks l join pg_class c on c.oid = l.relation "
            f"where l.pid = pg_backend_pid() and l.locktype = 'relation' and l.granted "
            f"and l.mode = 'AccessExclusiveLock' and c.relname = any({hot})), "
            f"array(select c.relname::text from pg_locks l join pg_class c on c.oid = l.relation "
            f"where l.pid = pg_backend_pid() and l.locktype = 'relation' and l.granted "
            f"and l.mode = any(array{list(BLOCKS_WRITES)}) and c.relname = any({hot})), "
            f"current_setting('lock_timeout'), "
            # the validated CHECK constraints then: a SET NOT NULL that one of them proves skips its scan
            f"array(select c.relname::text || ': ' || pg_get_constraintdef(k.oid) from pg_constraint k "
            f"join pg_class c on c.oid = k.conrelid where c.relname = any({hot}) and k.contype = 'c' "
            f"and k.convalidated), "
            f"(select source from pg_settings where name = 'lock_timeout'), "
            # rows this transaction has read by sequential scans so far, per hot table
            f"(select jsonb_object_agg(relname, seq_tup_read) from pg_stat_xact_user_tables "
            f"where relname = any({hot})), "
            f"current_setting('statement_timeout'); end $$",
            f"create event trigger {HOT_SCHEMA}_ddl on ddl_command_end execute function {HOT_SCHEMA}.on_ddl()",
            f"create function {HOT_SCHEMA}.on_write() returns trigger language plpgsql security definer "
            f"set search_path = pg_catalog as $$ begin "
            f"insert into {HOT_SCHEMA}.writes select pg_current_xact_id(), tg_table_name, tg_op, count(*), "
            f"pg_stat_get_xact_tuples_returned(tg_relid) from touched; "
            f"return null; end $$",
        ]
        for t in self.tables:
            statements += [
                f"create trigger {HOT_SCHEMA}_update after update on public.{t} referencing new table as touched "
                f"for each statement execute function {HOT_SCHEMA}.on_write()",
                f"create trigger {HOT_SCHEMA}_delete after delete on public.{t} referencing old table as touched "
                f"for each statement execute function {HOT_SCHEMA}.on_write()",
            ]
        with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
            for st in statements:
                conn.execute(st)
        return self

    def findings(self) -> list[tuple[str, str, str]]:
        if self._findings is None:
            out = []
            for tbl, in self.lab.sql(
                    f"select f.tbl from {HOT_SCHEMA}.files f join pg_class c on c.relname = f.tbl and c.relkind = 'r' "
                    f"where c.relfilenode <> f.relfilenode order by 1"):
                done = self.lab.sql(f"select tag, query from {HOT_SCHEMA}.ddl where %s = any(exclusive) "
                                    f"order by xid desc limit 1", (tbl,))
                out.append(("table rewrite", tbl, "its last schema change in the plan was "
                                                  f"`{done[0][1].strip()[:160]}`" if done else "no schema change ran"))
            for tbl, n, tuples, query in self.lab.sql(
                    f"select w.tbl, sum(w.n), max(f.reltuples), max(d.query) from {HOT_SCHEMA}.writes w "
                    f"join {HOT_SCHEMA}.ddl d on d.xid = w.xid and w.tbl = any(d.exclusive) "
                    f"join {HOT_SCHEMA}.files f on f.tbl = w.tbl group by w.xid, w.tbl order by 2 desc"):
                if n > max(500, 0.01 * max(tuples, 0)):
                    out.append(("long lock", tbl, f"{int(n):,} rows changed in the transaction that holds ACCESS "
                                                  f"EXCLUSIVE on it (the transaction that ran `{(query or '').strip()[:160]}`)"))
            # Rows READ under the lock, by an UPDATE or DELETE that changed few or none (a clean-up
            # that scans the table after an ALTER in the same transaction): the sequential-scan
            # reads counted since the transaction's first ALTER that took ACCESS EXCLUSIVE.
            for tbl, n, tuples, query in self.lab.sql(
                    f"select w.tbl, max(w.seq_read) - min((d.seq_read ->> w.tbl)::bigint), max(f.reltuples), "
                    f"min(d.query) from {HOT_SCHEMA}.writes w "
                    f"join {HOT_SCHEMA}.ddl d on d.xid = w.xid and w.tbl = any(d.exclusive) "
                    f"join {HOT_SCHEMA}.files f on f.tbl = w.tbl group by w.xid, w.tbl order by 2 desc"):
                if n is not None and n > max(500, 0.01 * max(tuples, 0)) and not any(f[1] == tbl for f in out):
                    out.append(("long scan", tbl, f"{int(n):,} rows of {tbl} read by an UPDATE or DELETE in the "
                                                  f"transaction that holds ACCESS EXCLUSIVE on it (the transaction that "
                                                  f"ran `{(query or '').strip()[:160]}`)"))
            # An index built while the transaction holds ACCESS EXCLUSIVE (db_index=True on a field
            # added in the same migration): the whole table is read with every request waiting.
            for tbl, query in self.lab.sql(
                    f"select distinct on (e.tbl) e.tbl, d.query from {HOT_SCHEMA}.ddl d, unnest(d.exclusive) as e(tbl) "
                    f"where d.tag = 'CREATE INDEX' and d.query !~* 'concurrently' order by e.tbl"):
                out.append(("long lock", tbl, f"`{query.strip()[:160]}` built an index (reading every row) while its "
                                              f"transaction held ACCESS EXCLUSIVE on the table"))
            # SET NOT NULL reads every row to prove it, under ACCESS EXCLUSIVE, unless a validated
            # CHECK (col IS NOT NULL) proves it already (PostgreSQL 12+): chapter 05's recipe.
            for query, exclusive, proven in self.lab.sql(
                    f"select query, exclusive, proven from {HOT_SCHEMA}.ddl where query ~* 'set\\s+not\\s+null' "
                    f"and cardinality(exclusive) > 0 order by xid"):
                for tbl, col in unproven_not_null(query, exclusive, proven or []):
                    out.append(("long scan", tbl, f"`{query.strip()[:160]}` checked every row of {tbl} for a NULL "
                                                  f"{col} while its transaction held ACCESS EXCLUSIVE on the table "
                                                  f"(no validated CHECK ({col} IS NOT NULL) proved it first)"))
            # The same for an index built, or a constraint added without NOT VALID or validated, while
            # the transaction holds ACCESS EXCLUSIVE (an ALTER TABLE earlier in it, or the statement's own).
            for query, exclusive in self.lab.sql(
                    f"select query, exclusive from {HOT_SCHEMA}.ddl where cardinality(exclusive) > 0 "
                    f"and tag = 'ALTER TABLE' order by xid"):
                what = reads_whole_table(query)
                for tbl in exclusive if what else ():
                    if not any(f[0] == "long scan" and f[1] == tbl for f in out):
                        out.append(("long scan", tbl, f"`{query.strip()[:160]}` {what} of {tbl} while its "
                                                      f"transaction held ACCESS EXCLUSIVE on the table"))
            for tbl, setting, query in self.lab.sql(
                    f"select distinct on (b.tbl) b.tbl, d.lock_timeout, d.query from {HOT_SCHEMA}.ddl d, "
                    f"unnest(d.blocking) as b(tbl) where d.lock_timeout::interval > make_interval(secs => %s) "
                    # 0 is no limit at all: PostgreSQL's default, or set on purpose (that is what's judged)
                    f"or (d.lock_timeout::interval = interval '0' and d.lock_timeout_source <> 'default') "
                    f"order by b.tbl, d.lock_timeout::interval = interval '0' desc, d.lock_timeout::interval desc",
                    (LOCK_TIMEOUT_CEILING,)):
                out.append(("guardrail too loose", tbl, f"`{query.strip()[:160]}` ran with lock_timeout = {setting}"
                                                        + (" (no limit: it waits for ever)" if setting == "0" else "")))
            for query, setting in self.lab.sql(
                    f"select query, statement_timeout from {HOT_SCHEMA}.ddl where statement_timeout::interval "
                    f"> interval '0' and statement_timeout::interval < make_interval(secs => %s) order by xid",
                    (STATEMENT_TIMEOUT_FLOOR,)):
                for statement in query.split(";"):
                    m = _SLOW_BY_DESIGN.search(statement)
                    tbl = m and (m.group(1) or m.group(2))
                    if tbl in self.tables and not any(f[0] == "guardrail too tight" and f[1] == tbl for f in out):
                        out.append(("guardrail too tight", tbl, f"`{statement.strip()[:160]}` ran with "
                                                                f"statement_timeout = {setting}"))
            self._findings = out
        return self._findings

    def __exit__(self, *exc):
        if self._closed:
            return False
        self._closed = True
        try:
            if exc[0] is None:
                self.findings()
        finally:
            with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
                for t in self.tables:
                    conn.execute(f"drop trigger if exists {HOT_SCHEMA}_update on public.{t}")
                    conn.execute(f"drop trigger if exists {HOT_SCHEMA}_delete on public.{t}")
                conn.execute(f"drop event trigger if exists {HOT_SCHEMA}_ddl")
                conn.execute(f"drop schema if exists {HOT_SCHEMA} cascade")
        return False


# ---------------------------------------------------------------- an open write (chapter and exercise 15)
class BackgroundTransaction:
    """Another session's transaction, kept open in a thread of its own while a check or a chapter
    runs (a colleague's import, the data team's export): the obstacle a migration meets in
    production. `with` returns once the transaction holds what it holds; leaving the block (or
    `stop()`) ends it, and it may end earlier on its own terms. A subclass says what the
    transaction does in `hold(conn, look)`: `conn` is its own connection (autocommit off), `look`
    a second one to watch others with; it calls `self.holding()` once it holds what it holds, and
    returns when `self.stop_requested()` says so or when it is done.

    What ended the transaction if it did not end on its own terms (a terminated connection:
    someone ran pg_terminate_backend on it) is `error`, never swallowed: the caller reports it."""

    what = "transaction"        # for messages: "the check could not open its <what> on <table>"
    as_app = False              # connect as the app's own role (True) or as the superuser

    def __init__(self, lab, table: str):
        self.lab, self.table = lab, table
        self.pid: int | None = None
        self._held, self._stop = threading.Event(), threading.Event()
        self._error: Exception | None = None
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def error(self) -> Exception | None:
        return self._error

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.what)
        self._thread.start()
        if not self._held.wait(10) or self._error:
            raise CheckFailed(Kind.CHECK_ERROR, f"the check could not open its {self.what} on {self.table}: "
                              f"{self._error}", "run the check again")
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def holding(self) -> None:
        """Called by `hold` once the transaction holds what it holds: `with` goes on from here."""
        self._held.set()

    def stop_requested(self, wait: float = 0.0) -> bool:
        """Whether the transaction was asked to end (waiting up to `wait` seconds for it)."""
        return self._stop.wait(wait) if wait else self._stop.is_set()

    def waiting_for_it(self, look) -> dict[int, str]:
        """Who waits for this transaction right now: pid → statement, the longest waiting first."""
        rows = look.execute("select pid, query from pg_stat_activity where %s = any(pg_blocking_pids(pid)) "
                            "order by query_start", (self.pid,)).fetchall()
        return {pid: q for pid, q in rows}

    def _run(self) -> None:
        db = self.lab.db
        try:
            with db.connect(superuser=not self.as_app, dbname=db.db_name, autocommit=False) as conn, \
                    db.connect(dbname=db.db_name) as look:
                self.pid = conn.info.backend_pid
                self.hold(conn, look)
        except Exception as e:  # noqa: BLE001 - reported by __enter__ or by the caller (`error`)
            self._error = e
            self._held.set()

    def hold(self, conn, look) -> None:
        raise NotImplementedError


class Obstacle(BackgroundTransaction):
    """Another session's open transaction that a migration must wait for, and that ends the way
    production's would once it has been in the way: it watches who waits for it (pg_blocking_pids,
    20 times a second), and once the first statement that waited has given up (its lock_timeout
    fired), or has waited `patience` seconds (then it cancels that statement with
    pg_cancel_backend, like a pipeline's timeout), it ends. It never lasts longer than
    `max_seconds`. A subclass says what the transaction does (`begin`) and how it ends (`end`)."""

    def __init__(self, lab, table: str, patience: float = 3.0, max_seconds: float = 120.0):
        super().__init__(lab, table)
        self.patience, self.max_seconds = patience, max_seconds
        self.victim: tuple[int, str] | None = None   # (pid, statement) of the first statement that waited
        self.how = ""                                # "gave up" (its own timeout) or "cancelled" (by the check)
        self.waited = 0.0

    @property
    def bit(self) -> bool:
        """A statement really waited for it and failed (the obstacle did its job)."""
        return self.victim is not None and bool(self.how)

    def begin(self, conn) -> None:
        raise NotImplementedError("an Obstacle says what its transaction does in begin()")

    def end(self, conn) -> None:
        conn.rollback()

    def hold(self, conn, look) -> None:
        self.begin(conn)
        started = time.monotonic()
        self.holding()
        first_seen = None
        while not self.stop_requested() and time.monotonic() - started < self.max_seconds:
            waiting = self.waiting_for_it(look)
            if self.victim is None and waiting:
                self.victim, first_seen = next(iter(waiting.items())), time.monotonic()
            if self.victim is not None:
                self.waited = time.monotonic() - first_seen
                if self.victim[0] not in waiting:
                    self.how = "gave up"
                    break
                if self.waited >= self.patience:
                    look.execute("select pg_cancel_backend(%s)", (self.victim[0],))
                    self.how = "cancelled"
                    break
            self.stop_requested(0.05)
        self.end(conn)


class OpenWrite(Obstacle):
    """A transaction that wrote to `table` and hasn't committed (a colleague's import): it holds
    ROW EXCLUSIVE on `table`, which `CREATE INDEX CONCURRENTLY` must wait for (after it has added
    the INVALID index) and a plain `CREATE INDEX` (SHARE) queues behind. It ends rolled back: what
    the import wrote never existed."""

    what = "transaction"
    # the import connects as the app's own role, as a colleague's import would (a superuser's
    # session is one the app's migrations can't touch, which would hide what they do to others)
    as_app = True

    # what the import wrote (any INSERT takes ROW EXCLUSIVE on its table)
    WRITES = {
        "sightings_comment": "insert into sightings_comment (sighting_id, author, body, created_at) "
               "select min(id), 'import', 'imported, not committed yet', now() from sightings_sighting",
        "sightings_sighting": "insert into sightings_sighting (title, description, location, sighted_at, reporter, "
                              "score, created_at) values ('Imported', 'Not committed yet.', 'Bluff Creek, "
                              "California', now(), 'import', 0, now())",
    }

    def __init__(self, lab, table: str, patience: float = 3.0, max_seconds: float = 120.0):
        super().__init__(lab, table, patience, max_seconds)
        self.write = self.WRITES[table]

    def begin(self, conn) -> None:
        conn.execute("set application_name = 'import (open transaction)'")
        conn.execute(self.write)


class OpenSnapshot(Obstacle):
    """A report's REPEATABLE READ transaction: it keeps the snapshot it took when it began, and
    holds no lock on any table (it read nothing yet). Nothing waits for it but what waits for
    every older snapshot: the last phase of `CREATE INDEX CONCURRENTLY` (after the index was
    built and marked ready, before it is marked valid), so a build that gives up there leaves an
    index that is ready but INVALID. `table` names no table it touches; it is only for messages."""

    what = "report"

    def begin(self, conn) -> None:
        conn.execute("set application_name = 'report (open snapshot)'")
        conn.commit()
        conn.execute("set transaction isolation level repeatable read")
        conn.execute("select 1")     # the snapshot, kept until the transaction ends

    def end(self, conn) -> None:
        conn.commit()
