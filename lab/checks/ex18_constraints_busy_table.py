"""Check for exercise 18: a UNIQUE constraint gets onto a big, busy table whose rows break it.

Production's table has double posts (the same reporter, title and moment twice or three times,
some copies with comments and scores of their own, some stored with an earlier created_at than
their original) and near misses that are NOT double posts (a minute apart, seconds apart in the
same minute, a title that differs by case, a trailing space or its Unicode form). The check puts
them there itself, after seeding, so the learner's files can't change them. What it proves, from
PostgreSQL's own records:
  - no statement read the table while its transaction held a lock that blocks writes: an event
    trigger for DDL (lab.pgwatch.DDLAudit), statement triggers for an UPDATE or DELETE in a
    transaction that holds such a lock (a LOCK TABLE from RunPython is no DDL), and pg_locks
    sampled for how long any transaction held one; and no migration of the release would
    (`sqlmigrate`, for a plan that faked one); zero failed requests;
  - no INVALID index is left on the table (a concurrent build that failed half-way), and no index
    or constraint that neither production had nor the release declares (a helper left behind);
  - the constraint exists AS a constraint (pg_constraint, not only a unique index), on the
    task's columns, is declared by the release's model, and refuses a double post written
    through the database (in a transaction rolled back);
  - the data: of each group of double posts the first report (lowest id) is kept, every column
    as it was, and its copies are gone, their comments moved to it (nothing else of them
    changed); every other sighting and every comment is still there, every column as it was;
  - each statement that held ACCESS EXCLUSIVE on the table ran with a lock_timeout of at most
    lab.pgwatch.LOCK_TIMEOUT_CEILING;
  - and the harness's invariants (the way back, schema drift, long locks, rewrites).
The lock watches (pg_locks, 10x a second, on both tables) explain a stall in the message.
"""
import re
import threading
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, LOCK_TIMEOUT_CEILING, MODES, DDLAudit, LockWatch, reads_whole_table

TABLE = "sightings_sighting"
COMMENTS = "sightings_comment"
SEED_SIGHTINGS = 200_000   # the obstacle: a big table (the check's, not the plan's)
CONSTRAINT = "sighting_reported_once"
TASK_DEF = "UNIQUE (reporter, title, sighted_at)"
LOOK_HELD = ("every report waits for as long as that lock is held, here for a whole read of the table. What would "
             "the lock keep out, and what else could happen to a double post that slips in meanwhile? `lab hint 18`")
LOOK_LOCK = ("PostgreSQL proves a UNIQUE constraint by building its index, and here it built it while no one could "
             "write the table. Which part of that work can happen while writes go on, and what is left for the "
             "moment of lock? `lab hint 18`")

# The double posts and look-alikes, added to the seeded table (deterministic): for every 97th of the
# newest 20,000 sightings (they have the seed's comments; the very newest, on the list's first pages,
# are left alone), a copy of the same report seconds later, a second copy for every third, every
# other copy with a comment of its own; the copies have scores of their own, and some were stored
# with a created_at EARLIER than their original's (the id says which came first, the clock may not).
# And rows that only look alike, which the constraint tells apart: a minute apart; in the same
# minute, other seconds; the title in capitals; the title with a trailing space; the title in
# full-width letters (the same under Unicode NFKC, not to the constraint). Each takes a free id just
# above its original's (the seed's ids have gaps), as a double post made seconds later would have had.
ORIGINALS = f"select id from (select id from {TABLE} order by id desc offset 200 limit 20000) s where id % 97 = 0"
COPY = (f"insert into {TABLE} (id, title, description, location, sighted_at, reporter, score, created_at) "
        f"select %s, {{title}}, description, location, {{sighted}}, reporter, {{score}}, {{created}} "
        f"from {TABLE} where id = %s")
LATER = "created_at + make_interval(secs => {n})"
EARLIER = "created_at - make_interval(secs => {n})"
SAME_MINUTE = ("date_trunc('minute', sighted_at) + case when extract(second from sighted_at) >= 30 "
               "then interval '1 second' else interval '45 seconds' end")
ASCII = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
FULL_WIDTH = "".join(chr(ord(c) - 0x21 + 0xFF01) for c in ASCII)
VARIANTS = [   # (kind, title, sighted_at, score, created_at, which originals)
    ("copy", "title", "sighted_at", "score + 1 + mod(id, 7)", lambda o: EARLIER if o % 4 == 1 else LATER, lambda o: True),
    ("copy", "title", "sighted_at", "score + 2", lambda o: LATER, lambda o: o % 3 == 0),
    ("near", "title", "sighted_at + interval '1 minute'", "score", lambda o: LATER, lambda o: o % 2 == 0),
    ("near", "title", SAME_MINUTE, "score", lambda o: LATER, lambda o: o % 2 == 1),
    ("near", "upper(title)", "sighted_at", "score", lambda o: LATER, lambda o: o % 5 < 2),
    ("near", "left(title, 199) || ' '", "sighted_at", "score", lambda o: LATER, lambda o: o % 5 == 4),
    ("near", f"translate(title, '{ASCII}', '{FULL_WIDTH}')", "sighted_at", "score", lambda o: LATER,
     lambda o: o % 5 in (2, 3)),
]
COMMENT = (f"insert into {COMMENTS} (sighting_id, author, body, created_at) "
           "values (%s, 'Zoë Ø''Brien', 'Same here: I posted it twice, the page hung 🙈', now())")
# Every column of a row, in one value to compare (traffic only adds rows: the seeded ones must stay).
ROW_HASH = f"select id, md5(s::text) from {TABLE} s"
COMMENT_HASH = f"select id, sighting_id, md5((to_jsonb(c) - 'sighting_id')::text) from {COMMENTS} c"


# Lock modes that let INSERT/UPDATE/DELETE (ROW EXCLUSIVE) through.
WEAK_LOCKS = ("ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE")

# Runs inside a release: the model's constraints (name → fields) and each sightings migration's SQL.
PROBE = """
import io, json
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
model = apps.get_model('sightings', 'Sighting')
out = {'constraints': {c.name: list(getattr(c, 'fields', ()) or ()) for c in model._meta.constraints}, 'migrations': {}}
loader = MigrationLoader(connection)
for (a, name), m in sorted(loader.disk_migrations.items()):
    if a == 'sightings':
        buf = io.StringIO()
        try:
            call_command('sqlmigrate', a, name, stdout=buf)
            out['migrations'][name] = {'sql': buf.getvalue(), 'atomic': m.atomic}
        except Exception:
            out['migrations'][name] = None
print('JSON ' + json.dumps(out))
"""


def statements_reading_under_lock(sql: str, atomic: bool = True) -> list[tuple[str, str]]:
    """The statements of a migration's SQL that read every row of the sightings table while they
    block its writes: an index built without CONCURRENTLY, a constraint added without USING INDEX
    (or NOT VALID, which PostgreSQL refuses for UNIQUE anyway); and an explicit LOCK TABLE in a mode
    that blocks writes (to keep double posts out while a clean-up runs, say), with more to run in
    its transaction: every write waits for it."""
    out = []
    # In a migration that isn't atomic, each operation commits on its own: a lock lasts as long as
    # the rest of its operation's SQL (sqlmigrate prints each operation after a `-- ` header).
    chunks = [sql] if atomic else re.split(r"\n--\n-- [^\n]*\n--\n", sql)
    for chunk in chunks:
        stmts = [" ".join(" ".join(ln for ln in x.strip().splitlines() if not ln.strip().startswith("--")).split())
                 for x in chunk.split(";")]
        stmts = [x for x in stmts if x and x.upper() not in ("BEGIN", "COMMIT")]
        for i, st in enumerate(stmts):
            lock = re.match(r'(?i)lock\s+(?:table\s+)?(?:only\s+)?"?(\w+)"?(?:\s+in\s+([a-z ]+?)\s+mode)?\s*(?:nowait)?$', st)
            if lock:
                mode = (lock.group(2) or "access exclusive").upper()
                if lock.group(1) == TABLE and i + 1 < len(stmts) and mode not in WEAK_LOCKS:
                    out.append((st, f"holds an explicit {mode} lock while `{stmts[i + 1][:60]}` runs"))
                continue
            target = re.search(r'(?i)^alter\s+table\s+(?:only\s+)?"?(\w+)"?|^create\s.*?\son\s+(?:only\s+)?"?(\w+)"?', st)
            if not target or TABLE not in target.groups():
                continue   # another table's statement
            what = reads_whole_table(st)
            if what and "validate constraint" not in st.lower():
                out.append((st, what))
    return out


# ---- what held the table's writes back, measured while the plan ran (whatever took the lock:
# a DDL statement, LOCK TABLE from RunPython or a cursor, a shell) ----
HOLD_LIMIT = 1.0   # seconds a lock that blocks writes may be held (the solution's is a moment: ms)
HOLD_SAMPLE = f"""
select l.pid, a.xact_start, l.mode, left(a.query, 200), extract(epoch from clock_timestamp())::float8
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'relation' and l.relation = '{TABLE}'::regclass and l.granted
  and l.mode = any(array{list(BLOCKS_WRITES)}) and a.pid <> pg_backend_pid()
"""
WRITE_WATCH = "lab_ex18_writes"
# A statement that reads or changes the table's rows, seen running in a transaction that holds such a lock.
DML_ON_TABLE = re.compile(r"\s*(with|select|update|delete|insert|copy)\b", re.I)


class WriteLockHolds:
    """How long each transaction held a lock on the table that blocks its writes, as PostgreSQL's
    pg_locks showed it 10 times a second (its own clock: the first and last time it was seen
    holding it, so a lower bound, never more than it held); and, without sampling, each UPDATE or
    DELETE on the two tables that ran in a transaction holding such a lock, with how many rows of
    the table that transaction had read by then (statement triggers)."""

    def __init__(self, lab, interval: float = 0.1):
        self.lab, self.interval = lab, interval
        self.spans: dict[tuple, list] = {}     # (pid, xact_start) -> [mode, first, last, query]
        self.dml_under_lock: dict[tuple, tuple] = {}   # (pid, xact_start) -> (mode, a query on the table)
        self.error: Exception | None = None
        self._stop = threading.Event()

    def __enter__(self):
        with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
            conn.execute(f"drop schema if exists {WRITE_WATCH} cascade")
            conn.execute(f"create schema {WRITE_WATCH}")
            conn.execute(f"create table {WRITE_WATCH}.writes (tbl text, op text, n bigint, locks text[], "
                         f"rows_read bigint, query text)")
            conn.execute(
                f"create function {WRITE_WATCH}.on_write() returns trigger language plpgsql security definer "
                f"set search_path = pg_catalog as $$ begin "
                f"insert into {WRITE_WATCH}.writes select tg_table_name, tg_op, (select count(*) from touched), "
                f"array(select l.mode from pg_locks l where l.pid = pg_backend_pid() and l.granted "
                f"and l.locktype = 'relation' and l.relation = 'public.{TABLE}'::regclass "
                f"and l.mode = any(array{list(BLOCKS_WRITES)})), "
                f"(select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) from pg_stat_xact_user_tables "
                f"where relid = 'public.{TABLE}'::regclass), left(current_query(), 300); "
                f"return null; end $$")
            for t in (TABLE, COMMENTS):
                for op, ref in (("update", "new"), ("delete", "old")):
                    conn.execute(f"create trigger {WRITE_WATCH}_{op} after {op} on public.{t} referencing {ref} "
                                 f"table as touched for each statement execute function {WRITE_WATCH}.on_write()")
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ex18-write-locks")
        self._thread.start()
        return self

    def _loop(self):
        try:
            with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
                conn.execute("set application_name = 'lab lock watch'")
                while not self._stop.is_set():
                    for pid, xact, mode, query, now in conn.execute(HOLD_SAMPLE).fetchall():
                        span = self.spans.setdefault((pid, xact), [MODES.get(mode, mode), now, now, query])
                        span[2], span[3] = now, query or span[3]
                        if DML_ON_TABLE.match(query or "") and TABLE in (query or ""):
                            self.dml_under_lock.setdefault((pid, xact), (span[0], query))
                    self._stop.wait(self.interval)
        except Exception as e:  # noqa: BLE001 - the triggers still judge; the message says so
            self.error = e

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.writes = self.lab.sql(f"select tbl, op, n, locks, rows_read, query from {WRITE_WATCH}.writes "
                                       f"where cardinality(locks) > 0")
        finally:
            with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
                for t in (TABLE, COMMENTS):
                    for op in ("update", "delete"):
                        conn.execute(f"drop trigger if exists {WRITE_WATCH}_{op} on public.{t}")
                conn.execute(f"drop schema if exists {WRITE_WATCH} cascade")
        return False

    def longest(self):
        """(seconds, mode, query) of the longest hold seen, or None."""
        spans = sorted(((last - first, mode, q) for mode, first, last, q in self.spans.values()), reverse=True)
        return spans[0] if spans else None


def seed_double_posts(s: Scenario) -> dict:
    """Puts production's double posts and look-alikes in the table; returns what the end is judged on."""
    groups: dict[int, list[int]] = {}
    with s.lab.db.connect(dbname=s.lab.db.db_name) as conn:
        with conn.transaction():
            taken = {r[0] for r in conn.execute(f"select id from {TABLE}").fetchall()}
            for n, (o,) in enumerate(conn.execute(ORIGINALS).fetchall()):
                free = o
                for kind, title, sighted, score, created, applies in VARIANTS:
                    if not applies(o):
                        continue
                    free = next(i for i in range(free + 1, free + 100) if i not in taken)
                    n_copy = 1 + len(groups.get(o, []))
                    conn.execute(COPY.format(title=title, sighted=sighted, score=score,
                                             created=created(o).format(n=n_copy)), (free, o))
                    if kind == "near" and title != "title":
                        # a title in capitals that is its own capitals (digits, Japanese) would be a copy
                        same = conn.execute(f"select title from {TABLE} where id = %s", (free,)).fetchone()[0] == \
                            conn.execute(f"select title from {TABLE} where id = %s", (o,)).fetchone()[0]
                        if same:
                            conn.execute(f"delete from {TABLE} where id = %s", (free,))
                            continue
                    taken.add(free)
                    if kind == "copy":
                        groups.setdefault(o, []).append(free)
                        if (n + len(groups[o])) % 2 == 0:
                            conn.execute(COMMENT, (free,))
            rows = dict(conn.execute(ROW_HASH).fetchall())
            comment_rows = {c: (sid, h) for c, sid, h in conn.execute(COMMENT_HASH).fetchall()}
    return {"groups": groups, "sightings": set(rows), "rows": rows,
            "comments": {c: sid for c, (sid, _) in comment_rows.items()}, "comment_rows": comment_rows}


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log, seed_sightings=SEED_SIGHTINGS) as s:
        before = seed_double_posts(s)
        copies = {c: keep for keep, cs in before["groups"].items() for c in cs}
        s.log(f"production's table: {len(before['sightings']):,} sightings, {len(copies)} of them double posts of "
              f"{len(before['groups'])} reports, {len(before['comments']):,} comments")
        release = s.schema_release()
        if release not in s.plan.releases and s.plan.releases:
            release = list(s.plan.releases)[-1]
        indexes_before = table_indexes(s)
        with WriteLockHolds(s.lab) as holds:
            with DDLAudit(s.lab) as audit, LockWatch(s.lab, TABLE) as watch, LockWatch(s.lab, COMMENTS) as cwatch:
                s.run()
        if log:
            log(watch.report())
            log(f"longest hold of a lock that blocks writes on {TABLE}: {holds.longest()}; writes under one: "
                f"{holds.writes[:3]}" + (f" (the hold watch stopped: {holds.error})" if holds.error else ""))
            log(cwatch.report())
            for c in audit.commands():
                log(f"DDL: {c.query[:120]} (held: {', '.join(c.locks) or 'no table lock'})")
        # The verdicts below rest on the event trigger's records, not on the watches: a watch that
        # went blind for a while on a busy machine only leaves the explanation shorter.
        for w in (watch, cwatch):
            if w.error is not None and log:
                log(f"(the lock watch on {w.table} was partly blind: {w.error})")

        # 1. What ran: a statement that read the table while its transaction blocked writes to it.
        for c in audit.commands():
            held = c.holds(TABLE, BLOCKS_WRITES)
            what = reads_whole_table(c.query)
            if not held or not what:
                continue
            waits = watch.of()
            seen = (f"; the lock watch saw {len(waits)} statements wait on {TABLE} (the longest "
                    f"{waits[0].seconds:.1f} s)" if waits else "")
            raise CheckFailed(
                Kind.WRITE_STALL,
                f"while the plan ran, `{' '.join(c.query.split())[:140]}` ({c.tag}) {what} while its transaction "
                f"held {MODES.get(held[0], held[0])} on {TABLE} ({SEED_SIGHTINGS:,} rows): no sighting can be "
                f"saved until it is done{seen}", LOOK_LOCK)

        # 1b. Whatever took it (LOCK TABLE from RunPython, a cursor: no DDL for the audit to see), a
        # lock that blocks writes, held while the table was read (triggers: no timing), or held long.
        waits = watch.of()
        seen = (f"; the lock watch saw {len(waits)} statements wait on {TABLE} (the longest "
                f"{waits[0].seconds:.1f} s)" if waits else "")
        big = max(500, len(before["sightings"]) // 100)
        for tbl, op, n, locks, rows_read, query in holds.writes:
            if (rows_read or 0) > big:
                raise CheckFailed(
                    Kind.WRITE_STALL,
                    f"while the plan ran, `{' '.join((query or '').split())[:140]}` ran a {op} on {tbl} in a "
                    f"transaction that held {', '.join(MODES.get(m, m) for m in locks)} on {TABLE} and had read "
                    f"{rows_read:,} of its rows: no sighting can be saved while that transaction reads and "
                    f"cleans the table{seen}", LOOK_HELD)
        for mode, query in list(holds.dml_under_lock.values())[:1]:
            raise CheckFailed(
                Kind.WRITE_STALL,
                f"while the plan ran, `{' '.join(query.split())[:140]}` was seen running on {TABLE} in a transaction "
                f"that held {mode} on it: no sighting can be saved until that transaction ends{seen}", LOOK_HELD)
        longest = holds.longest()
        if longest and longest[0] >= HOLD_LIMIT:
            raise CheckFailed(
                Kind.WRITE_STALL,
                f"while the plan ran, a transaction held {longest[1]} on {TABLE} for at least {longest[0]:.1f} s "
                f"(its statement then: `{' '.join((longest[2] or '').split())[:140]}`): no sighting can be saved "
                f"while it is held{seen}", LOOK_HELD)

        # 2. What the release ships: its migration files run on every other database too.
        infos = {rel: s.release_json(rel, PROBE, "models or migrations",
                                     f"run `lab manage {rel} sqlmigrate sightings 0002` and read the error")
                 for rel in dict.fromkeys([*s.plan.releases, release])}
        for rel, i in infos.items():
            for name, m in i["migrations"].items():
                if name in (s.before_plan or {}).get("applied", []):
                    continue   # production's own history: it ran on an empty table
                if m is None:
                    raise CheckFailed(Kind.MIGRATIONS_BROKEN, f"`manage.py sqlmigrate sightings {name}` fails for "
                                      f"release {rel}", f"run `lab manage {rel} sqlmigrate sightings {name}`")
                for st, what in statements_reading_under_lock(m["sql"], m["atomic"])[:1]:
                    raise CheckFailed(
                        Kind.WRITE_STALL,
                        f"in release {rel}'s migration {name} (`manage.py sqlmigrate sightings {name}`), `{st[:120]}` "
                        f"{what} on {TABLE}, with its writes blocked meanwhile, wherever it runs (even where a plan "
                        f"fakes it)", LOOK_HELD if what.startswith("holds an explicit") else LOOK_LOCK)
        s.expect_no_failed_requests()

        # 3. No half-built index left behind.
        invalid = [r[0] for r in s.lab.sql("select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
                                           "where i.indrelid = %s::regclass and not i.indisvalid", (TABLE,))]
        s.expect(not invalid, Kind.INVALID_INDEX,
                 f"{TABLE} has an INVALID index after the plan ({', '.join(invalid)}): a concurrent build that failed "
                 f"half-way leaves one behind; PostgreSQL keeps updating it on every write and never uses it",
                 "why did the build fail, and what must happen to its leftover before the next try? (chapter 06)")

        # 4. The constraint: a constraint (not only an index), the task's, the model's, and it refuses.
        rows = s.lab.sql("select contype, pg_get_constraintdef(oid), convalidated from pg_constraint "
                         "where conrelid = %s::regclass and conname = %s", (TABLE, CONSTRAINT))
        index = s.lab.sql("select i.indisunique from pg_index i join pg_class c on c.oid = i.indexrelid "
                          "where c.relname = %s", (CONSTRAINT,))
        elsewhere = [r[0] for r in s.lab.sql("select conname from pg_constraint where conrelid = %s::regclass "
                                             "and pg_get_constraintdef(oid) = %s", (TABLE, TASK_DEF))]
        s.expect(bool(rows) or not elsewhere, Kind.SCHEMA_DRIFT,
                 f"{TABLE} has the constraint `{TASK_DEF}` as {', '.join(elsewhere)}, but Django's state calls it "
                 f"{CONSTRAINT}: the next migration that removes or changes it (`ALTER TABLE … DROP CONSTRAINT "
                 f"{CONSTRAINT}`) fails", "the database's names must be the ones Django's state has: which name "
                 "does the model give the constraint, and its index?")
        s.expect(bool(rows), Kind.CONSTRAINT_MISSING,
                 f"after the plan {TABLE} has no constraint {CONSTRAINT}"
                 + (f", only a unique index of that name: Django's state says constraint, so the way its next "
                    f"migration removes or changes it (`ALTER TABLE … DROP CONSTRAINT`) fails, and nothing in "
                    f"pg_constraint says what the index promises" if index else ""),
                 "release v2 must put the constraint itself on the table: what turns a unique index into a "
                 "table's constraint, in a moment?")
        contype, definition, validated = rows[0]
        s.expect(contype == "u" and definition == TASK_DEF and validated, Kind.SCHEMA_DRIFT,
                 f"{CONSTRAINT} is `{definition}` (type {contype}), the model declares `{TASK_DEF}`",
                 "the constraint in the database must be exactly the one in the model's Meta.constraints")
        declared = infos[release]["constraints"]
        s.expect(declared.get(CONSTRAINT) == ["reporter", "title", "sighted_at"], Kind.SCHEMA_DRIFT,
                 f"the database has the constraint {CONSTRAINT}, but release {release}'s model declares "
                 f"{declared.get(CONSTRAINT) or 'no such constraint'} (Meta.constraints): Django's state doesn't "
                 f"describe it", "keep the model's Meta.constraints entry; the migration's state must still match the model")
        expect_double_post_refused(s, before)
        expect_nothing_else(s, indexes_before)

        # 5. The data: double posts merged into their first report; nothing else lost.
        expect_merged(s, before, copies)

        # 6. The moment of ACCESS EXCLUSIVE (the constraint takes over its index) waits for every
        # open transaction on the table, and every request queues behind it (chapter 07): it must give up.
        for c in audit.commands():
            if not c.holds(TABLE, ("AccessExclusiveLock",)):
                continue
            unbounded = not c.lock_timeout or s.lab.sql(
                "select %s::interval = interval '0' or %s::interval > make_interval(secs => %s)",
                (c.lock_timeout, c.lock_timeout, LOCK_TIMEOUT_CEILING))[0][0]
            s.expect(not unbounded, Kind.NO_LOCK_TIMEOUT,
                     f"`{' '.join(c.query.split())[:140]}` took ACCESS EXCLUSIVE on {TABLE} with lock_timeout = "
                     f"{c.lock_timeout or '?'}: behind one long transaction on the table (a report, an import) it "
                     f"waits, and every page view and report queues behind it until it gets the lock",
                     f"how long may the site wait for your moment of lock (chapter 07)? At most "
                     f"{LOCK_TIMEOUT_CEILING:g} s, and a plan that tries again")
        s.expect_end_state()
        return s


def table_indexes(s: Scenario) -> dict[str, set[str]]:
    """The indexes and constraints of the two tables, by name ("index x", "constraint y")."""
    out: dict[str, set[str]] = {TABLE: set(), COMMENTS: set()}
    for tbl, what in s.lab.sql(
            "select c.relname, 'index ' || i.relname from pg_index x join pg_class c on c.oid = x.indrelid "
            "join pg_class i on i.oid = x.indexrelid where c.relname = any(%s) "
            "union all select c.relname, 'constraint ' || k.conname from pg_constraint k "
            "join pg_class c on c.oid = k.conrelid where c.relname = any(%s)", ([TABLE, COMMENTS], [TABLE, COMMENTS])):
        out[tbl].add(what)
    return out


def expect_nothing_else(s: Scenario, before: dict[str, set[str]]) -> None:
    """The release's state adds one constraint (and its index) to the table: nothing else stays behind
    (a helper index for the clean-up, a second unique index), on either table."""
    now = table_indexes(s)
    for tbl in (TABLE, COMMENTS):
        allowed = before[tbl] | ({f"index {CONSTRAINT}", f"constraint {CONSTRAINT}"} if tbl == TABLE else set())
        extra = sorted(now[tbl] - allowed)
        s.expect(not extra, Kind.SCHEMA_DRIFT,
                 f"after the plan {tbl} has {', '.join(extra)}, which neither production had nor release v2's "
                 f"Django state declares: every write keeps it up to date, and no migration knows it is there",
                 "what did your migration build to do its work, and what should become of it before the migration "
                 "ends (and on the way back)?")


def expect_double_post_refused(s: Scenario, before: dict) -> None:
    """A second report of a sighting that is in the table, written straight into the database (in a
    transaction rolled back): the constraint must refuse it."""
    keep = s.lab.sql(f"select min(id) from {TABLE} where id = any(%s)", (sorted(before["groups"]),))[0][0] \
        or s.lab.sql(f"select min(id) from {TABLE}")[0][0]
    with s.lab.db.connect(dbname=s.lab.db.db_name) as conn:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(f"insert into {TABLE} (title, description, location, sighted_at, reporter, score, "
                             f"created_at) select title, description, location, sighted_at, reporter, score, now() "
                             f"from {TABLE} where id = %s", (keep,))
            verdict = "taken"
        except Exception as e:  # noqa: BLE001 - a unique violation is the expected answer
            verdict = "refused" if getattr(e, "sqlstate", "") == "23505" else f"error: {e}"
    s.expect(verdict == "refused", Kind.WRONG_DATA,
             f"a second report of sighting {keep} (same reporter, title and moment), written straight into the "
             f"database, was {verdict}: the constraint doesn't refuse a double post",
             "keep the starter's constraint: a report is posted once")


def expect_merged(s: Scenario, before: dict, copies: dict[int, int]) -> None:
    now = {r[0] for r in s.lab.sql(f"select id from {TABLE} where id <= %s", (max(before["sightings"]),))}
    lost = sorted(before["sightings"] - set(copies) - now)
    if lost:
        kind = "the first report of a double post" if lost[0] in before["groups"] else "not a double post"
        s.expect(False, Kind.DATA_LOST,
                 f"{len(lost)} sighting(s) that production had are gone, and not as a double post's copy: first, "
                 f"id {lost[0]} ({kind}). The copies of a report may go; the report itself, and every sighting that "
                 f"only looks like another one, must stay",
                 "which rows does your clean-up treat as equal? Compare with what the constraint compares, and "
                 "with which of two equal reports people have been linking to")
    kept = sorted(set(copies) & now)
    s.expect(not kept, Kind.WRONG_DATA,
             f"{len(kept)} copies of double posts are still in the table (first: id {kept[0] if kept else ''}, a copy "
             f"of {copies[kept[0]] if kept else ''}), changed so that the constraint lets them through: the task "
             f"merges each double post into its first report",
             "what did the copies become, and would their reporters recognise their report in them?")
    rows = dict(s.lab.sql(ROW_HASH + " where id <= %s", (max(before["sightings"]),)))
    changed = sorted(i for i in before["sightings"] - set(copies) if i in rows and rows[i] != before["rows"][i])
    if changed:
        first = changed[0]
        what = ("the first report of a double post" if first in before["groups"] else "not a double post")
        s.expect(False, Kind.WRONG_DATA,
                 f"{len(changed)} sighting(s) that stay are no longer as they were (first: id {first}, {what}): "
                 f"the clean-up changed a column of a row it keeps. A double post's first report keeps its own "
                 f"values (its title, its moment, its score: the copies' are the same click again, not more of "
                 f"them), and a row that only looks like another is not touched at all",
                 f"compare `lab sql \"select * from {TABLE} where id = {first}\"` with production's row: which "
                 f"statement of your clean-up changed it, and did the task ask for that change?")
    comment_rows = {c: (sid, h) for c, sid, h in s.lab.sql(COMMENT_HASH + " where id <= %s",
                                                          (max(before["comments"]),))}
    comments = {c: sid for c, (sid, _) in comment_rows.items()}
    altered = sorted(c for c, (_, h) in before["comment_rows"].items() if c in comment_rows and comment_rows[c][1] != h)
    s.expect(not altered, Kind.WRONG_DATA,
             f"{len(altered)} comment(s) changed more than the sighting they belong to (first: id "
             f"{altered[0] if altered else ''}): a comment that moves keeps its author, text and time",
             "a copy's comments move to the first report: only their sighting_id changes")
    gone = sorted(set(before["comments"]) - set(comments))
    s.expect(not gone, Kind.DATA_LOST,
             f"{len(gone)} comment(s) are gone (first: id {gone[0] if gone else ''}, on sighting "
             f"{before['comments'].get(gone[0]) if gone else ''}): people's comments on a double post are comments "
             f"on the report", "where do a copy's comments belong once the copy is gone, and what happens to them "
             "when the copy is deleted first?")
    wrong = [(c, was, comments[c]) for c, was in before["comments"].items()
             if comments.get(c) != copies.get(was, was)]
    s.expect(not wrong, Kind.WRONG_DATA,
             f"{len(wrong)} comment(s) are not on the report they belong to: first, comment {wrong[0][0] if wrong else ''} "
             f"was on sighting {wrong[0][1] if wrong else ''}, is on {wrong[0][2] if wrong else ''}",
             "a comment on a copy belongs to the report the copy repeats (its first, lowest id); every other "
             "comment stays where it is")
