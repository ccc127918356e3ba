"""Check for exercise 18: a UNIQUE constraint gets onto a big, busy table whose rows break it.

Production's table has double posts (the same reporter, title and moment twice or three times,
some copies with comments of their own) and near misses that are NOT double posts (a minute
apart, a title that differs by case or a trailing space). The check puts them there itself, after
seeding, so the learner's files can't change them. What it proves, from PostgreSQL's own records:
  - no statement read the table while its transaction held a lock that blocks writes (an event
    trigger, lab.pgwatch.DDLAudit: whoever ran it), and no migration of the release would
    (`sqlmigrate`, for a plan that faked one); zero failed requests;
  - no INVALID index is left on the table (a concurrent build that failed half-way);
  - the constraint exists AS a constraint (pg_constraint, not only a unique index), on the
    task's columns, is declared by the release's model, and refuses a double post written
    through the database (in a transaction rolled back);
  - the data: of each group of double posts the first report (lowest id) is kept and its copies
    are gone, their comments moved to it; every other sighting and every comment is still there;
  - and the harness's invariants (the way back, schema drift, long locks, rewrites).
The lock watches (pg_locks, 10x a second, on both tables) only explain a stall in the message.
"""
import re
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, MODES, DDLAudit, LockWatch, reads_whole_table

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
# other copy with a comment of its own; and rows that only look alike: a minute apart, the title
# in capitals, the title with a trailing space. Each takes a free id just above its original's (the
# seed's ids have gaps), as a double post made seconds later would have had.
ORIGINALS = f"select id from (select id from {TABLE} order by id desc offset 200 limit 20000) s where id % 97 = 0"
COPY = (f"insert into {TABLE} (id, title, description, location, sighted_at, reporter, score, created_at) "
        f"select %s, {{title}}, description, location, sighted_at + {{later}}, reporter, score, "
        f"created_at + make_interval(secs => %s) from {TABLE} where id = %s")
VARIANTS = [   # (kind, title, sighted_at shift, which originals)
    ("copy", "title", "interval '0'", lambda o: True),
    ("copy", "title", "interval '0'", lambda o: o % 3 == 0),
    ("near", "title", "interval '1 minute'", lambda o: o % 2 == 0),
    ("near", "upper(title)", "interval '0'", lambda o: o % 5 < 2),
    ("near", "left(title, 199) || ' '", "interval '0'", lambda o: o % 5 == 4),
]
COMMENT = (f"insert into {COMMENTS} (sighting_id, author, body, created_at) "
           "values (%s, 'Zoë Ø''Brien', 'Same here: I posted it twice, the page hung 🙈', now())")


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


def seed_double_posts(s: Scenario) -> dict:
    """Puts production's double posts and look-alikes in the table; returns what the end is judged on."""
    groups: dict[int, list[int]] = {}
    with s.lab.db.connect(dbname=s.lab.db.db_name) as conn:
        with conn.transaction():
            taken = {r[0] for r in conn.execute(f"select id from {TABLE}").fetchall()}
            for n, (o,) in enumerate(conn.execute(ORIGINALS).fetchall()):
                free = o
                for kind, title, later, applies in VARIANTS:
                    if not applies(o):
                        continue
                    free = next(i for i in range(free + 1, free + 100) if i not in taken)
                    conn.execute(COPY.format(title=title, later=later), (free, 1 + len(groups.get(o, [])), o))
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
            sightings = {r[0] for r in conn.execute(f"select id from {TABLE}").fetchall()}
            comments = dict(conn.execute(f"select id, sighting_id from {COMMENTS}").fetchall())
    return {"groups": groups, "sightings": sightings, "comments": comments}


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log, seed_sightings=SEED_SIGHTINGS) as s:
        before = seed_double_posts(s)
        copies = {c: keep for keep, cs in before["groups"].items() for c in cs}
        s.log(f"production's table: {len(before['sightings']):,} sightings, {len(copies)} of them double posts of "
              f"{len(before['groups'])} reports, {len(before['comments']):,} comments")
        release = s.schema_release()
        if release not in s.plan.releases and s.plan.releases:
            release = list(s.plan.releases)[-1]
        with DDLAudit(s.lab) as audit, LockWatch(s.lab, TABLE) as watch, LockWatch(s.lab, COMMENTS) as cwatch:
            s.run()
        if log:
            log(watch.report())
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

        # 5. The data: double posts merged into their first report; nothing else lost.
        expect_merged(s, before, copies)
        s.expect_end_state()
        return s


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
    comments = dict(s.lab.sql(f"select id, sighting_id from {COMMENTS} where id <= %s", (max(before["comments"]),)))
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
