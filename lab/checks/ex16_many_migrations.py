"""Check for exercise 16: a release that squashes migrations must still take EVERY environment
to its state, not only the one that deploys it.

The environments are the check's own obstacle (the learner can't touch them). Before the plan:
  - production, the lab's database: the check deploys release v2 there (its history 0002-0006
    runs, v2 serves on both slots);
  - `eu`: a copy of the seeded database that a region deployed with an older release, one that
    shipped 0002 and 0003 only: half-way through the range v3 squashes;
  - `demo`: a copy of the seeded database still at 0001, with its 1,000 sightings (a demo site
    last deployed with v1);
  - `fresh`: an empty database (a new developer's, or CI's).
The plan then ships v3 to production under traffic (v2 keeps serving while it runs), and the
check runs `migrate` with release v3 on each environment, the way each one's next deploy would.

What must hold:
  - zero failed requests during the plan (v2 runs on the schema v3's migrations leave), and v3 on
    both slots at the end;
  - every environment's `migrate` succeeds and leaves it exactly where production is: the same
    rows in django_migrations for the app, the same columns (type, NULL, default) and indexes.
    A squash that can't be used by a database half-way through its range is skipped by Django
    without a word ("No migrations to apply"): the database stays behind;
  - every sighting has its slug, in every environment that had sightings (0005's data step must
    survive the squash: a database that takes the squashed migration never runs 0005 itself);
  - production's end state (Scenario.expect_end_state): each release's migrations describe its
    models (`makemigrations --check`), django_migrations lists exactly release v3's files, the
    tables are v3's state. A conflict (two latest migrations in one app) fails the release build.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.utils.text import slugify   # the same Django as the releases (one venv)

from lab.exercises import CheckFailed, Kind, Scenario
from lab.procs import last_error_line
from lab.releases import build_env

OLD, NEW = "v2", "v3"
APP = "sightings"
TABLES = ("sightings_sighting", "sightings_comment")
# name: (who runs it, v2's migration it stands at: None = an empty database)
ENVIRONMENTS = {
    "eu": ("the EU region, deployed with an older release that shipped 0002 and 0003 only", "0003"),
    "demo": ("the demo site, still at 0001 with its sightings (last deployed with v1)", "0001"),
    "fresh": ("a new, empty database (a new developer's, or CI's test database)", None),
}

LOOK_BEHIND = ("every environment deploys the releases in its own time: a database that is part-way through the "
               "range a squashed migration replaces can't use it. What does Django need in that release to finish "
               "the range the old way, and when may it go?")
LOOK_DATA = ("the squashed migration is what a database that had none of the replaced migrations runs instead of "
             "them: does it do everything they did, the data step included?")


def env_db(s: Scenario, name: str) -> str:
    return f"{s.lab.db.db_name}_env_{name}"


def env_url(s: Scenario, name: str) -> str:
    return s.lab.db.url(dbname=env_db(s, name))


def manage_on(s: Scenario, release: str, dbname: str, *args: str):
    rel = s.lab.releases.get(release)
    return rel.manage(*args, env=build_env(rel.static, DATABASE_URL=s.lab.db.url(dbname=dbname)), check=False)


def prepare_environments(s: Scenario) -> None:
    """Create the environments' databases: copies of the seeded baseline (at 0001), one moved on
    to v2's 0003; one empty. Production is not one of them: it is the lab's own database."""
    with s.lab.db.connect() as c:
        for name, (_, at) in ENVIRONMENTS.items():
            db = env_db(s, name)
            c.execute(f'drop database if exists "{db}" with (force)')
            template = f' template "{s.lab.db.baseline_name}"' if at else ""
            c.execute(f'create database "{db}"{template} owner "{s.lab.cfg.db_user}"')
    for name, (_, at) in ENVIRONMENTS.items():
        if at and at != "0001":
            r = manage_on(s, OLD, env_db(s, name), "migrate", "--noinput", APP, at)
            if r.returncode != 0:
                raise CheckFailed(Kind.CHECK_ERROR, f"the check could not prepare the environment {name} "
                                  f"(release {OLD} migrating it to {at}): {last_error_line(r.stderr)}",
                                  f"is exercises/16_many_migrations/app_v2/ what production runs? It must stay "
                                  f"as it is")
        s.log(f"  environment {name}: {ENVIRONMENTS[name][0]}")


def facts(s: Scenario, dbname: str | None = None) -> dict:
    """What a database says about the app: its history rows, its columns and its indexes."""
    dbname = dbname or s.lab.db.db_name
    q = lambda sql, p=None: s.lab.db.sql(sql, p, dbname=dbname)   # noqa: E731
    history = {r[0] for r in q("select name from django_migrations where app = %s", (APP,))} \
        if q("select to_regclass('django_migrations')")[0][0] else set()
    columns = {f"{t}.{r[0]}": (r[1], r[2], r[3]) for t in TABLES for r in q(
        "select a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid "
        "and d.adnum = a.attnum where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped", (t,))}
    indexes = {r[0]: r[1] for t in TABLES for r in q(
        "select indexname, indexdef from pg_indexes where tablename = %s", (t,))}
    return {"history": history, "columns": columns, "indexes": indexes}


def differences(env: dict, prod: dict) -> list[str]:
    out = []
    for what, label in (("history", "django_migrations"), ("columns", "columns"), ("indexes", "indexes")):
        a, b = env[what], prod[what]
        if isinstance(a, dict):
            missing = sorted(k for k in b if k not in a)
            extra = sorted(k for k in a if k not in b)
            changed = sorted(k for k in a if k in b and a[k] != b[k])
        else:
            missing, extra, changed = sorted(b - a), sorted(a - b), []
        if missing:
            out.append(f"{label} lacks {', '.join(missing)}")
        if extra:
            out.append(f"{label} has {', '.join(extra)} that production hasn't")
        if changed:
            out.append(f"{label} differ for {', '.join(changed)}")
    return out


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        for name in (OLD, NEW):
            s.expect(name in s.plan.releases, Kind.PLAN_ERROR,
                     f"plan.toml builds no release {name} ([releases] has {', '.join(s.plan.releases) or 'none'})",
                     f"v2 is what production runs (app_v2/), v3 the release that squashes (app_v3/)")
        # Production runs v2 before the plan: the check's doing, not the plan's.
        with ThreadPoolExecutor(1) as pool:
            prepared = pool.submit(prepare_environments, s)
            s.lab.deploy(OLD, None, "rolling", "before")
            prepared.result()
        s.setup_done()   # v2's history (its SlugField's index built in ADD COLUMN's transaction) is given, not the plan's
        s.run()
        s.expect_no_failed_requests()
        s.expect(s.serving_releases() == {NEW}, Kind.NOT_DEPLOYED,
                 f"after the plan both slots should run {NEW}; they run {sorted(s.serving_releases())}",
                 f"the plan deploys {NEW} to blue and green")

        # Each environment's next deploy: `migrate` with release v3, side by side.
        with ThreadPoolExecutor(len(ENVIRONMENTS)) as pool:
            ran = dict(zip(ENVIRONMENTS, pool.map(
                lambda n: manage_on(s, NEW, env_db(s, n), "migrate", "--noinput"), ENVIRONMENTS)))
        prod = facts(s)
        for name, r in ran.items():
            who, at = ENVIRONMENTS[name]
            said = " ".join(ln.strip() for ln in r.stdout.splitlines() if ln.strip().startswith(("No migrations",
                                                                                              "Applying")))
            s.expect(r.returncode == 0, Kind.ENVIRONMENT_BEHIND,
                     f"environment {name} ({who}): `migrate` with release {NEW} failed: "
                     f"{last_error_line(r.stderr) or r.stderr.strip()[-300:]}", LOOK_BEHIND)
            diff = differences(facts(s, env_db(s, name)), prod)
            s.expect(not diff, Kind.ENVIRONMENT_BEHIND,
                     f"environment {name} ({who}): after `migrate` with release {NEW} it is not where production "
                     f"is: {'; '.join(diff)}. `migrate` said: {said[:300] or '(nothing)'}", LOOK_BEHIND)
            s.log(f"  ✓ environment {name} migrated with {NEW}: {said[:120]}")

        for name, dbname in [("production", None), *((n, env_db(s, n)) for n in ENVIRONMENTS)]:
            rows, empty = s.lab.db.sql("select count(*), count(*) filter (where slug = '') from sightings_sighting",
                                       dbname=dbname or s.lab.db.db_name)[0]
            s.expect(empty == 0, Kind.NOT_BACKFILLED,
                     f"{name}: {empty} of its {rows} sightings have no slug after `migrate` with release {NEW}",
                     LOOK_DATA)
            # Not just a slug: the one the release's model gives a sighting (Sighting.save), for every
            # title the table really holds (accents, punctuation, emoji, 200 characters).
            wrong = [(i, t, sl) for i, t, sl in s.lab.db.sql("select id, title, slug from sightings_sighting order by id",
                                                           dbname=dbname or s.lab.db.db_name)
                     if sl != slugify(t)[:200]]
            s.expect(not wrong, Kind.WRONG_DATA,
                     f"{name}: {len(wrong)} of its {rows} sightings have a slug that is not the one the release's model "
                     f"gives them; first, sighting {wrong[0][0] if wrong else ''} titled {wrong[0][1] if wrong else ''!r} "
                     f"has {wrong[0][2] if wrong else ''!r}", LOOK_DATA)
        s.expect_end_state(NEW)
        return s
