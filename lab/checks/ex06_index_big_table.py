"""Check for exercise 06: the search index and the score's CHECK constraint are added to a big table
while new sightings keep being saved.

The verdict rests on what PostgreSQL itself records, never on timing:
  - an event trigger (lab.pgwatch.DDLAudit) records every DDL statement that ran during the plan,
    whoever ran it (a migration, RunPython, `manage.py dbshell`), and the table locks its session
    held: a CREATE INDEX that held SHARE on the table blocked every INSERT for its whole build,
    however fast this machine built it;
  - release v2's migration files are read too (`sqlmigrate`): a file that builds the index
    without CONCURRENTLY blocks writes wherever it runs, even if this plan faked it;
  - the index in the database must be the one the model declares, and the model's must be the
    task's (a full-text GIN index on description, config 'english'), compared as PostgreSQL
    prints them (pg_get_indexdef), not by keywords;
  - the constraint must end validated (a NOT VALID one checks new rows only: nothing may rely on
    it), declared by the model, and do what the task says: tried on a row, in a transaction
    rolled back, it refuses -1 and 101 and takes 0 and 100.
The lock watch (pg_locks, 10× a second) and the traffic's POST latencies only explain the stall.
"""
import re
import statistics
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, MODES, DDLAudit, LockWatch, reads_whole_table

TABLE = "sightings_sighting"
SEED_SIGHTINGS = 200_000   # the obstacle: a big table (the check's, not the plan's)
INDEX = "sighting_search_idx"
CONSTRAINT = "sighting_score_0_100"
# The task's index, as PostgreSQL prints GinIndex(SearchVector("description", config="english")).
TASK_INDEXDEF = ("CREATE INDEX sighting_search_idx ON public.sightings_sighting USING gin "
                 "(to_tsvector('english'::regconfig, COALESCE(description, ''::text)))")
LOOK_VALIDATE = ("adding a CHECK constraint makes PostgreSQL read every row to prove it, holding ACCESS EXCLUSIVE "
                 "meanwhile. Can the proof of the old rows wait until a moment when the table is open again? "
                 "(chapter 05 did it for NOT NULL) `lab hint 06`")
LOOK_CONCURRENTLY = ("CREATE INDEX takes a SHARE lock, which blocks INSERT/UPDATE/DELETE until the whole index is "
                     "built. PostgreSQL can build an index without blocking writes, but not inside a transaction "
                     "block: what does Django wrap each migration in? `lab hint 06`")

# Runs inside a release: each sightings migration's SQL and atomicity, and the SQL that creates
# each index the model declares (Meta.indexes), in one Django start.
PROBE = """
import io, json
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
out = {'migrations': {}, 'indexes': {}, 'constraints': []}
loader = MigrationLoader(connection)
for (a, name), m in sorted(loader.disk_migrations.items()):
    if a == 'sightings':
        buf = io.StringIO()
        try:
            call_command('sqlmigrate', a, name, stdout=buf)
            sql = buf.getvalue()
        except Exception as e:
            sql = None
        out['migrations'][name] = {'atomic': m.atomic, 'sql': sql}
model = apps.get_model('sightings', 'Sighting')
with connection.schema_editor(collect_sql=True) as se:
    for index in model._meta.indexes:
        out['indexes'][index.name] = str(index.create_sql(model, se))
out['constraints'] = [c.name for c in model._meta.constraints]
print('JSON ' + json.dumps(out))
"""


def _norm(sql: str) -> str:
    return " ".join(sql.replace('"', "").split()).rstrip(";").lower()


def table_reading_statements(sql: str, atomic: bool) -> list[tuple[str, str]]:
    """The statements in a migration's SQL that read every row of the table while blocking its
    writes, with what they do: an index built without CONCURRENTLY, a constraint added without
    NOT VALID, and (in an atomic migration, where an earlier ALTER's ACCESS EXCLUSIVE is still
    held) a VALIDATE."""
    out, altered = [], False
    for stmt in sql.split(";"):
        lines = [ln for ln in stmt.strip().splitlines() if not ln.strip().startswith("--")]
        st = " ".join(" ".join(lines).split())
        target = re.search(r'(?i)^alter\s+table\s+(?:only\s+)?"?(\w+)"?|\son\s+(?:only\s+)?"?(\w+)"?', st)
        if not target or TABLE not in target.groups():
            continue   # another table's statement (a foreign key to this one reads the other table)
        what = reads_whole_table(st)
        if what and (not re.search(r"(?i)validate\s+constraint", st) or (atomic and altered)):
            out.append((st, what))
        altered = altered or bool(re.match(r"(?i)alter\s+table\b", st))
    return out


def probe(s: Scenario, release: str) -> dict:
    return s.release_json(release, PROBE, "models or migrations",
                          f"run `lab manage {release} sqlmigrate sightings 0002` and read the error")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log, seed_sightings=SEED_SIGHTINGS) as s:
        # the release whose state ends in production (a plan of `manage` steps only still ships v2)
        release = s.schema_release()
        if release not in s.plan.releases and s.plan.releases:
            release = list(s.plan.releases)[-1]
        with DDLAudit(s.lab) as audit, LockWatch(s.lab, TABLE) as watch:
            s.run()
        if log:
            log(watch.report())
            for c in audit.commands():
                log(f"DDL: {c.query[:120]} (held: {', '.join(c.locks) or 'no table lock'})")

        s.expect(watch.error is None, Kind.CHECK_ERROR,
                 f"the check could not watch PostgreSQL's locks while the plan ran ({watch.error})",
                 "run the check again; if it keeps failing, look at the lab's postgres.log")

        # 1. What ran: any DDL that held a write-blocking lock on the table (timing plays no part).
        posts = [r for r in s.traffic.records if r.method == "POST" and r.path == "/sightings/new/"]
        start = s.traffic.marks[0][0] if s.traffic.marks else 0.0
        before = [r.latency_ms for r in posts if r.t < start] or [r.latency_ms for r in posts] or [0.0]
        worst = max((r.latency_ms for r in posts if r.t >= start), default=0.0)
        for c in audit.commands():
            held = c.holds(TABLE, BLOCKS_WRITES)
            # a moment of a strong lock (ADD ... NOT VALID, a default) is no stall; reading the
            # table under it is (what the statement, or one before it in its string, does)
            what = reads_whole_table(c.query)
            if not held or not what:
                continue
            waits = watch.of("INSERT")
            seen = (f"; the lock watch saw {len(waits)} INSERTs wait (the longest {waits[0].seconds:.1f} s) and "
                    f"POST /sightings/new/ took up to {worst / 1000:.1f} s (before: {statistics.median(before):.0f} ms)"
                    if waits else "")
            raise CheckFailed(
                Kind.WRITE_STALL,
                f"while the plan ran, `{' '.join(c.query.split())[:140]}` ({c.tag} {c.object}) {what} while its "
                f"transaction held a {MODES.get(held[0], held[0])} lock on {TABLE} ({SEED_SIGHTINGS:,} rows): no "
                f"sighting can be saved until it is done{seen}",
                LOOK_CONCURRENTLY if "index" in what else LOOK_VALIDATE)

        # 2. What the release ships: its migration files run on every other database too.
        infos = {rel: probe(s, rel) for rel in s.plan.releases}
        info = infos.get(release) or probe(s, release)
        for rel, i in infos.items():
            for name, m in i["migrations"].items():
                if m["sql"] is None:
                    raise CheckFailed(Kind.MIGRATIONS_BROKEN, f"`manage.py sqlmigrate sightings {name}` fails for "
                                      f"release {rel}", f"run `lab manage {rel} sqlmigrate sightings {name}`")
                for st, what in table_reading_statements(m["sql"], m["atomic"])[:1]:
                    raise CheckFailed(
                        Kind.WRITE_STALL,
                        f"release {rel}'s migration {name} {what} on {TABLE} while blocking its writes "
                        f"(`manage.py sqlmigrate sightings {name}`: `{st[:120]}`), for as long as that takes "
                        f"wherever it runs, even if this plan didn't run it (--fake?)",
                        LOOK_CONCURRENTLY if "index" in what else LOOK_VALIDATE)
        s.expect_no_failed_requests()

        # 3. The index: present, valid, the model's, and the task's.
        rows = s.lab.sql("select i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
                         "join pg_class c on c.oid = i.indexrelid where c.relname = %s", (INDEX,))
        s.expect(bool(rows), Kind.INDEX_MISSING, f"after the plan there is no index {INDEX} on {TABLE}",
                 "release v2 must still create the search index (model Meta.indexes + migration 0002)")
        valid, definition = rows[0]
        s.expect(valid, Kind.INVALID_INDEX,
                 f"{INDEX} exists but is INVALID: a concurrent build that failed half-way leaves one behind, and "
                 f"nothing (not IF NOT EXISTS either) builds it again; PostgreSQL keeps updating it but never uses it",
                 "look at the migrate step's output (`-v`): why did the first build fail? What must happen to "
                 "the leftover before the build can run again, without blocking writes? (chapter 06)")
        declared = info["indexes"].get(INDEX)
        s.expect(declared is not None, Kind.SCHEMA_DRIFT,
                 f"the database has the index {INDEX}, but release {release}'s model doesn't declare it "
                 f"(Meta.indexes): Django's state doesn't know it exists",
                 "keep the model's Meta.indexes entry; the migration's state must still match the model")
        mine = s.model_indexdef(TABLE, declared, Kind.WRONG_INDEX,
                                "keep the GinIndex(SearchVector(\"description\", config=\"english\")) of the starter")
        s.expect(_norm(mine) == _norm(definition), Kind.SCHEMA_DRIFT,
                 f"the database's {INDEX} is not the index release {release}'s model declares: the database has "
                 f"`{definition}`, the model's Meta.indexes would build `{mine}`",
                 "a hand-written CREATE INDEX must build exactly the model's index (compare with "
                 "`manage.py sqlmigrate` of an AddIndex), or Django's queries won't use it")
        s.expect(_norm(mine) == _norm(TASK_INDEXDEF), Kind.WRONG_INDEX,
                 f"{INDEX} is not the full-text index on description the task asks for: {definition}",
                 "keep the GinIndex(SearchVector(\"description\", config=\"english\")) of the starter")
        expect_score_constraint(s, release, info, audit)
        s.expect_end_state()
        return s


def expect_score_constraint(s: Scenario, release: str, info: dict, audit: DDLAudit) -> None:
    """The constraint: there, validated (by PostgreSQL: a VALIDATE ran, not a flag set in the
    catalogue), the model's, and it keeps the score within 0-100."""
    rows = s.lab.sql("select convalidated, pg_get_constraintdef(oid) from pg_constraint "
                     "where conrelid = %s::regclass and conname = %s", (TABLE, CONSTRAINT))
    s.expect(bool(rows), Kind.CONSTRAINT_MISSING, f"after the plan {TABLE} has no constraint {CONSTRAINT}",
             "release v2 must still add the score's CHECK constraint (model Meta.constraints + migration 0002)")
    validated, definition = rows[0]
    s.expect(validated, Kind.CONSTRAINT_NOT_VALIDATED,
             f"{CONSTRAINT} is there but NOT VALID (`{definition}`): PostgreSQL checks new rows against it, but "
             f"no one has proven the old ones, so nothing may rely on it (nor may the planner)",
             "what proves the rows that were there before, and when may it run without blocking writes?")
    proven = [c for c in audit.commands()
              if re.search(rf'(?i)validate\s+constraint\s+"?{CONSTRAINT}"?', c.query)
              or (re.search(rf'(?i)add\s+constraint\s+"?{CONSTRAINT}"?', c.query) and not re.search(r"(?i)not\s+valid", c.query))]
    s.expect(bool(proven), Kind.CONSTRAINT_NOT_VALIDATED,
             f"{CONSTRAINT} is marked validated, but PostgreSQL never validated it: no VALIDATE CONSTRAINT (nor an ADD "
             f"that proves it) ran during the plan; the catalogue's flag says what was proven, it doesn't prove it",
             "what proves the rows that were there before, and when may it run without blocking writes?")
    s.expect(CONSTRAINT in info["constraints"], Kind.SCHEMA_DRIFT,
             f"the database has the constraint {CONSTRAINT}, but release {release}'s model doesn't declare it "
             f"(Meta.constraints): Django's state doesn't know it exists",
             "keep the model's Meta.constraints entry; the migration's state must still match the model")
    # What it does, tried on a real row in a transaction that is rolled back.
    verdicts = {}
    with s.lab.db.connect(dbname=s.lab.db.db_name) as conn:
        row = conn.execute(f"select min(id) from {TABLE}").fetchone()[0]
        for score in (-1, 0, 100, 101):
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute(f"update {TABLE} set score = %s where id = %s", (score, row))
                verdicts[score] = "taken"
            except Exception as e:  # noqa: BLE001 - a check violation is the expected answer for -1 and 101
                verdicts[score] = "refused" if getattr(e, "sqlstate", "") == "23514" else f"error: {e}"
    s.expect(verdicts == {-1: "refused", 0: "taken", 100: "taken", 101: "refused"}, Kind.WRONG_DATA,
             f"{CONSTRAINT} (`{definition}`) doesn't keep the score between 0 and 100: tried on a row, "
             + ", ".join(f"{k} {v}" for k, v in verdicts.items()),
             "keep the starter's condition: the score is a percentage")
