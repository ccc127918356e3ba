"""Check for exercise 17: several replicas of a release start at once, and each runs its start-up
command before it serves (a container's entrypoint). There is no release phase.

The check starts REPLICAS replicas of v2 at the same moment (the deploy's `on_start`, lab/deploy.py
start_replicas). Release v2's migration builds an index with CREATE INDEX CONCURRENTLY. The
obstacle is the check's: when the deploy starts, an import has written a sighting and not
committed yet. It blocks no request; a concurrent index build, though, has to wait for every
transaction that was writing the table before it can build. So the replica that migrates sits
inside the migration, its index already in the catalogue, while the other replicas start; the
import ends (rolled back: it leaves no row) IMPORT_SECONDS after the build began to wait for it:
long enough that a replica which waits its turn only up to a cap a learner would pick (half a
minute, 45 s) reaches its cap while the build still waits, and short enough that a replica which
waits its turn comes up well within the platform's start-up deadline (120 s, counted from the
process's start). Then the build waits, at its end, for every transaction with an older snapshot:
a replica that is waiting inside a statement is one.

The verdict rests on what the replicas and PostgreSQL did, not on how the plan says it:
  - every replica came up: its start-up command exited 0 within the deploy's start-up deadline
    (lab.deploy.REPLICA_START_TIMEOUT), on this deploy and again on the way back;
  - no replica came up before its release was migrated: a replica whose start-up command has exited 0
    is ready, and serves the release's code, so each of the release's migrations must be recorded in
    django_migrations (which Django does once the migration is done: the index then exists and is
    valid) no later than that exit. Both times are the machine's clock (Django's timezone.now() in
    the replica, time.time() in the deploy). Whatever a replica does when it doesn't get its turn
    (skip, start migrate in the background, wait a while and go anyway), it is judged by this;
  - each migration ran once: django_migrations holds each name once, and the event trigger
    (lab.pgwatch.DDLAudit) saw the task's index built once, by a statement that blocked no write;
  - the index is there, valid and the model's; schema = state = history; the way back works
    (Scenario.expect_end_state), and on the way forward again the replicas start at once again;
  - the import ended on its own (no replica ended another session's work to get ahead); zero
    failed requests;
  - the obstacle did its job: the migrating replica's build waited for the import while the other
    replicas were running their start-up command (else the check can't judge and says so).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, MODES, DDLAudit

REPLICAS = 3            # the check's, not the plan's: the platform's replica count
IMPORT_SECONDS = 50.0   # how long the import stays open once an index build waits for it (see above)
IMPORT_MAX = 120.0      # it never lasts longer than this, whatever the replicas do
INDEX, TABLE = "sighting_location_idx", "sightings_sighting"
TASK_DEF = f"CREATE INDEX {INDEX} ON public.{TABLE} USING btree (location, sighted_at)"

PREMISE = ("on this platform every replica runs its start-up command (`on_start`) and nothing else runs "
           "migrations: there is no release phase. Change what the replicas run, not where it runs")


class Import:
    """An import half-way through: a transaction that has written a sighting and stays open until an
    index build has waited `seconds` for it (or IMPORT_MAX has passed), then rolls back (no row is
    left). It blocks no reader and no writer; CREATE INDEX CONCURRENTLY waits for it to end."""

    def __init__(self, lab, seconds: float, waits: "BuildWaits"):
        self.lab, self.seconds, self.waits = lab, seconds, waits
        self.error: Exception | None = None
        self.pid: int | None = None
        self._ready = threading.Event()
        self.over = threading.Event()    # set once the plan has ended: the import ends too
        self._thread = threading.Thread(target=self._run, daemon=True, name="import")

    def start(self) -> "Import":
        self._thread.start()
        if not self._ready.wait(10):
            raise CheckFailed(Kind.CHECK_ERROR, "the check could not start its import", "run the check again")
        if self.error:
            raise CheckFailed(Kind.CHECK_ERROR, f"the check could not start its import: {self.error}",
                              "run the check again")
        return self

    def _run(self) -> None:
        try:
            with psycopg.connect(self.lab.db.url(), autocommit=True) as conn:
                self.pid = conn.info.backend_pid
                conn.execute("begin")
                conn.execute(f"insert into {TABLE} (title, description, location, sighted_at, reporter, score, "
                             "created_at) values ('Imported', 'Not committed yet.', 'Bluff Creek, California', "
                             "now(), 'import', 0, now())")
                self._ready.set()
                end, alive_at = time.monotonic() + IMPORT_MAX, time.monotonic()
                while time.monotonic() < end and not self.over.is_set():
                    first = self.waits.first_wait_at
                    if first is not None and time.monotonic() - first >= self.seconds:
                        break
                    if time.monotonic() - alive_at > 0.5:   # still there? (someone may have ended it)
                        conn.execute("select 1")
                        alive_at = time.monotonic()
                    time.sleep(0.05)
                conn.execute("rollback")
        except Exception as e:  # noqa: BLE001 - terminated by someone: the verdict says so
            self.error = e
        finally:
            self._ready.set()

    def join(self) -> None:
        self._thread.join(IMPORT_MAX + 10)


class BuildWaits:
    """Samples pg_stat_activity: did a CREATE INDEX CONCURRENTLY wait for another transaction
    (a wait on a virtualxid lock: the import) while the replicas ran their start-up command?"""

    def __init__(self, lab):
        self.lab = lab
        self.first_wait_at: float | None = None   # time.monotonic() when a build was first seen waiting
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="build-waits")

    def _run(self) -> None:
        try:
            with psycopg.connect(self.lab.db.url(), autocommit=True) as conn:
                while not self._stop.is_set():
                    rows = conn.execute("select 1 from pg_stat_activity where wait_event = 'virtualxid' "
                                        "and query ilike %s", (f"%create index concurrently%{INDEX}%",)).fetchall()
                    if rows and self.first_wait_at is None:
                        self.first_wait_at = time.monotonic()
                    self._stop.wait(0.05)
        except Exception:  # noqa: BLE001 - the lab went away: nothing more to see
            pass

    @property
    def seen_waiting(self) -> bool:
        return self.first_wait_at is not None

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def release_migrations(lab, release: str) -> list[tuple[str, str]]:
    """(app, name) of every migration file the release's own apps have (bigfoot_app + the overlays)."""
    src = lab.releases.get(release).src
    return sorted((f.parent.parent.name, f.stem) for f in src.glob("*/migrations/[0-9]*.py"))


def up_before_migrated(lab, release: str, runs) -> list[str]:
    """Each replica that came up (exit 0) before one of its release's migrations was recorded."""
    applied: dict[tuple[str, str], float] = {}
    for app, name, at in lab.sql("select app, name, max(applied) from django_migrations group by app, name"):
        applied[(app, name)] = at.timestamp()
    found = []
    for r in runs:
        if not r.ok:
            continue
        for app, name in release_migrations(lab, release):
            at = applied.get((app, name))
            if at is None:
                found.append(f"replica {r.name} came up {r.seconds:.1f}s after it started, and {app}.{name} was not "
                             f"recorded in django_migrations even when the deploy had ended")
                break
            if at > r.ended:
                found.append(f"replica {r.name} came up {at - r.ended:.1f}s before {app}.{name} was recorded in "
                             f"django_migrations")
                break
    return found


def replica_report(runs) -> str:
    return "; ".join(f"{r.name}: {r.outcome} after {r.seconds:.1f}s" + (f" ({r.detail[:160]})" if not r.ok else "")
                     for r in runs)


def premise(plan) -> None:
    """This platform's rule: the replicas are the only place anything runs (no release phase)."""
    if not any(st.get("on_start") for st in plan.steps if st["action"] == "deploy"):
        raise CheckFailed(Kind.PLAN_ERROR, "no deploy step of the plan has `on_start`: the replicas would run no "
                          "start-up command, and nothing would migrate the database", PREMISE)
    for st in plan.steps:
        if st["action"] in ("migrate", "manage") or (st["action"] == "deploy" and st.get("migrate", "before") != "skip"):
            extra = f", migrate = \"{st.get('migrate', 'before')}\"" if st["action"] == "deploy" else ""
            raise CheckFailed(Kind.PLAN_ERROR, f"the plan has a step that runs on the database outside the replicas "
                              f"(`action = \"{st['action']}\"`{extra})", PREMISE)


def check(work_dir: Path, log=None) -> Scenario:
    plan_of = Scenario(work_dir, log=log)   # the plan is read before any lab starts: a refused plan costs nothing
    premise(plan_of.plan)
    with Scenario(work_dir, log=log) as s:
        s.replicas = REPLICAS
        imports: list[Import] = []

        def start_import(scenario, step):
            if not imports and step["action"] == "deploy":
                imports.append(Import(scenario.lab, IMPORT_SECONDS, waits).start())
                scenario.log(f"→ an import (pid {imports[0].pid}) has written to {TABLE} and not committed yet")

        failure = None
        with DDLAudit(s.lab) as audit, BuildWaits(s.lab) as waits:
            try:
                s.run(before_step=start_import)
            except CheckFailed as f:
                failure = f
            finally:
                for i in imports:
                    i.over.set()
                    i.join()
        runs = list(s.lab.replica_runs)
        deployed = next((st["release"] for st in s.plan.steps if st["action"] == "deploy" and st.get("on_start")), "v2")
        if log:
            for r in runs:
                log(f"replica {r.name}: {r.outcome} after {r.seconds:.1f}s; its output:\n"
                    + "\n".join("    " + ln for ln in (r.stdout + r.stderr).strip().splitlines()[-12:]))
            for c in audit.commands():
                log(f"DDL: {c.query[:120]} (held: {', '.join(c.locks) or 'no table lock'})")

        # The import is the check's: a plan that ends it gets ahead by destroying someone's work.
        obstacle = imports[0] if imports else None
        if obstacle is not None and obstacle.error is not None:
            raise CheckFailed(
                Kind.DATA_LOST,
                f"the check's import (pid {obstacle.pid}) did not end on its own: "
                f"{str(obstacle.error).strip().splitlines()[0][:200]}. Something ended another session's work to "
                f"get past it; in production that is a colleague's import, a payment, a report",
                "the replicas wait for the sessions before them, or wait their turn: which of your statements "
                "touched other sessions?")

        # 1. Every replica came up.
        if failure is not None:
            if failure.reason in (Kind.REPLICA_CRASHED, Kind.REPLICA_STUCK) and runs:
                failure.message += f". All {len(runs)} replicas: {replica_report(runs)}"
                failure.look_at = ("the replicas started at the same moment on one database: what did each one find "
                                   "when it started, and what did it do while another was migrating? `lab hint 17`")
            raise failure

        # 2. Each migration ran once, and its build blocked no write.
        twice = s.lab.sql("select app, name, count(*) from django_migrations group by app, name having count(*) > 1")
        s.expect(not twice, Kind.MIGRATED_TWICE,
                 "django_migrations records " + ", ".join(f"{a}.{n} {c} times" for a, n, c in twice) +
                 ": more than one replica ran the same migration",
                 "two replicas that both decide a migration is to do both do it: what makes the second one "
                 "decide after the first has finished? `lab hint 17`")
        builds = [c for c in audit.commands() if c.tag == "CREATE INDEX" and c.object.split(".")[-1] == INDEX]
        s.expect(len(builds) <= 1, Kind.MIGRATED_TWICE,
                 f"{INDEX} was built {len(builds)} times during the deploy: a replica dropped what another had "
                 f"built and built it again (on production's table: minutes of reading, at every start of every "
                 f"replica)", "which replica should build it, and what should the others do? `lab hint 17`")
        for c in audit.commands():
            held = c.holds(TABLE, BLOCKS_WRITES)
            if held:
                raise CheckFailed(
                    Kind.WRITE_STALL,
                    f"while the replicas started, `{' '.join(c.query.split())[:140]}` held "
                    f"{MODES.get(held[0], held[0])} on {TABLE}: nothing can be saved there until it is done",
                    "keep the release's migration as it is (CONCURRENTLY, atomic = False): what the replicas run "
                    "around it is the task")

        # 3. No replica was ready before its release's migrations were done: a replica that is up serves.
        early = up_before_migrated(s.lab, deployed, runs)
        s.expect(not early, Kind.UP_BEFORE_MIGRATED,
                 "; ".join(early) + f". A replica whose start-up command has exited 0 is ready: the platform sends it "
                 f"requests, and release {deployed}'s code then runs on a schema its migrations had not finished "
                 f"(the index still being built, or not started)",
                 "what must be true of the database before a replica's start-up command ends, and how does a "
                 "replica that didn't migrate know that another one has finished, not only started? `lab hint 17`")
        s.expect_no_failed_requests()

        # 4. The index: there, valid, the model's.
        rows = s.lab.sql("select i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c "
                         "on c.oid = i.indexrelid where c.relname = %s", (INDEX,))
        s.expect(bool(rows), Kind.INDEX_MISSING, f"after the deploy there is no index {INDEX} on {TABLE}",
                 "release v2's migration 0002 builds it: did a replica run it?")
        valid, definition = rows[0]
        s.expect(valid, Kind.INVALID_INDEX, f"{INDEX} is INVALID after the deploy (pg_index.indisvalid = false): "
                 f"a build was cut off and nothing finished it", "what cut the build off? `lab hint 17`")
        s.expect(definition == TASK_DEF, Kind.WRONG_INDEX, f"{INDEX} is not the index the task asks for: {definition}",
                 "keep the starter's Meta.indexes entry and migration 0002")

        # 5. The obstacle did its job: the build waited for the import while the replicas ran.
        s.expect(obstacle is not None and waits.seen_waiting, Kind.CHECK_ERROR,
                 "the index build never waited for the check's import while the replicas started, so the check "
                 "can't tell whether the replicas would have met each other", "run the check again")
        s.expect_end_state("v2")
        return s
