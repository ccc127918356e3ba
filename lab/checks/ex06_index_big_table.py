"""Check for exercise 06: the search index is built on a big table while new sightings keep being saved.

The verdict rests on what PostgreSQL itself records, never on timing:
  - an event trigger (lab.pgwatch.DDLAudit) records every DDL statement that ran during the plan,
    whoever ran it (a migration, RunPython, `manage.py dbshell`), and the table locks its session
    held: a CREATE INDEX that held SHARE on the table blocked every INSERT for its whole build,
    however fast this machine built it;
  - release v2's migration files are read too (`sqlmigrate`): a file that builds the index
    without CONCURRENTLY blocks writes wherever it runs, even if this plan faked it;
  - the index in the database must be the one the model declares, and the model's must be the
    task's (a full-text GIN index on description, config 'english'), compared as PostgreSQL
    prints them (pg_get_indexdef), not by keywords.
The lock watch (pg_locks, 10× a second) and the traffic's POST latencies only explain the stall.
"""
import json
import re
import statistics
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, MODES, DDLAudit, LockWatch

TABLE = "sightings_sighting"
SEED_SIGHTINGS = 200_000   # the obstacle: a big table (the check's, not the plan's)
INDEX = "sighting_search_idx"
# The task's index, as PostgreSQL prints GinIndex(SearchVector("description", config="english")).
TASK_INDEXDEF = ("CREATE INDEX sighting_search_idx ON public.sightings_sighting USING gin "
                 "(to_tsvector('english'::regconfig, COALESCE(description, ''::text)))")
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
out = {'migrations': {}, 'indexes': {}}
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
print('JSON ' + json.dumps(out))
"""


def _norm(sql: str) -> str:
    return " ".join(sql.replace('"', "").split()).rstrip(";").lower()


def plain_index_builds(sql: str) -> list[str]:
    """The statements in a migration's SQL that build an index on the table without CONCURRENTLY."""
    out = []
    for stmt in sql.split(";"):
        lines = [ln for ln in stmt.strip().splitlines() if not ln.strip().startswith("--")]
        st = " ".join(" ".join(lines).split())
        if re.match(r"(?i)create (unique )?index (?!concurrently)", st) and TABLE in st.replace('"', ""):
            out.append(st)
    return out


def probe(s: Scenario, release: str) -> dict:
    r = s.release_python(release, PROBE)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
    if r.returncode != 0 or line is None:
        raise CheckFailed(Kind.MIGRATIONS_BROKEN, f"release {release}'s models or migrations can't be read: "
                          f"{(r.stderr.strip().splitlines() or ['?'])[-1]}",
                          f"run `lab manage {release} sqlmigrate sightings 0002` and read the error")
    return json.loads(line[5:])


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
            if not held:
                continue
            waits = watch.of("INSERT")
            seen = (f"; the lock watch saw {len(waits)} INSERTs wait (the longest {waits[0].seconds:.1f} s) and "
                    f"POST /sightings/new/ took up to {worst / 1000:.1f} s (before: {statistics.median(before):.0f} ms)"
                    if waits else "")
            raise CheckFailed(
                Kind.WRITE_STALL,
                f"while the plan ran, `{' '.join(c.query.split())[:140]}` ({c.tag} {c.object}) held a "
                f"{MODES.get(held[0], held[0])} lock on {TABLE} ({SEED_SIGHTINGS:,} rows): no sighting can be saved "
                f"until it is done{seen}",
                LOOK_CONCURRENTLY)

        # 2. What the release ships: its migration files run on every other database too.
        infos = {rel: probe(s, rel) for rel in s.plan.releases}
        info = infos.get(release) or probe(s, release)
        for rel, i in infos.items():
            for name, m in i["migrations"].items():
                if m["sql"] is None:
                    raise CheckFailed(Kind.MIGRATIONS_BROKEN, f"`manage.py sqlmigrate sightings {name}` fails for "
                                      f"release {rel}", f"run `lab manage {rel} sqlmigrate sightings {name}`")
                if plain_index_builds(m["sql"]):
                    raise CheckFailed(
                        Kind.WRITE_STALL,
                        f"release {rel}'s migration {name} builds an index on {TABLE} without CONCURRENTLY "
                        f"(`manage.py sqlmigrate sightings {name}`), which blocks every write for the whole "
                        f"build wherever it runs, even if this plan didn't run it (--fake?)",
                        LOOK_CONCURRENTLY)
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
        s.expect_end_state()
        return s
