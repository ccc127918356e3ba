"""Exercises: the catalogue, the learner's work folders, and the behavioural check harness.

exercises/catalogue.toml is the ONE source of titles, objectives, hints, time estimates and order:
the CLI (`lab exercises`, `lab hint`), the docs and the checks all read it.

An exercise folder (exercises/NN_slug/, and solutions/NN_slug/ with the same shape):
    README.md       the task, in plain words
    app/            an overlay on bigfoot_app/: the files of "the next version" (the learner edits these)
    plan.toml       the deploy plan: which releases to build from which overlays, and the steps, in
                    order, that take them to production while traffic flows (the order is part of the task)
    test_check.py   runs the check (`pytest exercises/NN_slug`); the check itself is the kit's,
                    lab/checks/exNN_slug.py: it builds the releases, starts a fresh lab on free ports
                    with a seeded database, runs traffic, carries out the plan, and asserts zero
                    failed requests, the new behaviour, and schema = state = history
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import contextlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import lock
from .config import APP_SOURCE, KIT_ROOT, cache_dir
from .procs import port_in_use
from .errors import LabError
from .releases import content_hash, display_path

EXERCISES_DIR = KIT_ROOT / "exercises"
SOLUTIONS_DIR = KIT_ROOT / "solutions"
CATALOGUE_FILE = EXERCISES_DIR / "catalogue.toml"


# ---------------------------------------------------------------- catalogue
@dataclass
class ExerciseInfo:
    id: str
    slug: str
    title: str
    minutes: int
    objectives: list[str]
    hints: list[str]
    starter_fails_with: str            # the failure kind the untouched starter must produce
    questions: list[str] = field(default_factory=list)
    # what to think about after each known mistake, by failure kind (Exercism's analyzers: feedback
    # about the idea, never the code of the fix)
    feedback: dict[str, str] = field(default_factory=dict)
    key_points: list[str] = field(default_factory=list)
    teaching_minutes: int = 10
    stretch: str = ""                  # for fast finishers (the README's "Stretch" section says the same)
    # chapters (ids) whose ideas the exercise uses without teaching them again: its README says so
    # first, and `lab check` names them after every failure
    builds_on: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.id}_{self.slug}"

    @property
    def folder(self) -> Path:
        return EXERCISES_DIR / self.name

    @property
    def solution_folder(self) -> Path:
        return SOLUTIONS_DIR / self.name

    @property
    def notebook(self) -> Path:
        return KIT_ROOT / "notebooks" / f"{self.name}.ipynb"


def builds_on_line(ex: ExerciseInfo) -> str | None:
    """What a failing check adds for an exercise that builds on earlier chapters (None: none)."""
    if not ex.builds_on:
        return None
    by_id = {e.id: e for e in catalogue()}
    named = [f"chapter {i} · {by_id[i].title} (notebooks/{by_id[i].name}.ipynb) and exercise {i}"
             for i in ex.builds_on]
    return f"this exercise builds on {'; '.join(named)}: it uses their ideas without explaining them again"


def catalogue() -> list[ExerciseInfo]:
    with CATALOGUE_FILE.open("rb") as f:
        data = tomllib.load(f)
    common = data.get("feedback", {})   # feedback every exercise shares; an exercise's own wins
    return [ExerciseInfo(**{**e, "feedback": {**common, **e.get("feedback", {})}}) for e in data["exercise"]]


def get(key: str) -> ExerciseInfo:
    key = str(key).strip()
    for e in catalogue():
        if key in (e.id, e.slug, e.name) or (key.isdigit() and int(key) == int(e.id)):
            return e
    raise LabError(f"no exercise {key!r}", "list them with `lab exercises`")


# ---------------------------------------------------------------- failures and plans
# CheckFailed and Plan live in lab/kinds.py and lab/plan.py; re-exported here for the checks.
from .kinds import CheckFailed, Kind, traffic_kind  # noqa: E402
from .plan import Plan  # noqa: E402


# ---------------------------------------------------------------- fresh labs, fast
def free_port_base(span: int = 5) -> int:
    """A base port with the lab's ports after it free (base..base+span-1, and JupyterLab's at
    base+888), so a check never collides with a running lab."""
    import random
    rng = random.Random()
    for _ in range(200):
        # below 32768: Linux hands out 32768-60999 for outgoing connections (ip_local_port_range),
        # so a port up there can be taken by any client between our test and our bind
        base = rng.randrange(20000, 32000, 10)
        if not any(port_in_use(p) for p in [*range(base, base + span), base + 888]):
            return base
    raise LabError("no free ports found for a check lab")


# A template of another version of the app that was copied within this many seconds is kept.
TEMPLATE_KEPT_UNUSED = 3600


def template_home(log=None) -> Path:
    """A stopped lab (initialised PostgreSQL with the seeded baseline + release v1), built once
    per version of bigfoot_app/ and cloned for every check: a check starts warm (~1 s), not cold."""
    from .api import Lab
    # Only what shapes the template's content: the app (v1, migrations, seed) and how the
    # database and releases are made. Other lab code can change without a rebuild.
    key = content_hash([APP_SOURCE, *(KIT_ROOT / "lab" / f for f in ("database.py", "releases.py", "topology.toml"))])
    home = cache_dir() / f"template-{key}"
    if (home / "READY").exists():
        return home
    cache_dir().mkdir(parents=True, exist_ok=True)
    with template_cache_lock():
        if (home / "READY").exists():
            return home
        shutil.rmtree(home, ignore_errors=True)
        # Templates of other versions of the app go, unless one was copied lately: another
        # checkout of the kit may share this cache (LAB_CACHE), and deleting its template under it
        # would make the two rebuild each other's at every check.
        for old in cache_dir().glob("template-*"):
            ready = old / "READY"
            if not ready.exists() or time.time() - ready.stat().st_mtime > TEMPLATE_KEPT_UNUSED:
                shutil.rmtree(old, ignore_errors=True)
        lab = Lab(home=home, port_base=free_port_base(), log=log, database_url="")
        try:
            lab.up()
        finally:
            from .procs import deferred_signals
            with deferred_signals():
                lab.down()
        (home / "READY").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    return home


@contextmanager
def template_cache_lock(shared: bool = False):
    """Exclusive to build or delete a template, shared to copy one: a check never copies a
    template that another process is deleting."""
    import fcntl
    cache_dir().mkdir(parents=True, exist_ok=True)
    fd = os.open(cache_dir() / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def fresh_lab(static_mode: str = "proxy", log=None, database_only: bool = False):
    """A lab of its own (state folder in /tmp, free ports), seeded baseline, both slots on v1.
    `database_only`: its PostgreSQL only, nothing else started (a check that runs tests, not
    traffic: no slots, no nginx, less to wait for)."""
    from .api import Lab
    template = template_home()
    home = Path(tempfile.mkdtemp(prefix="bigfoot-check-"))
    try:
        os.chmod(home, 0o755)
        # cp -a keeps owners and modes (PostgreSQL's data folder must stay its service user's)
        for _ in range(5):
            with template_cache_lock(shared=True):
                ready = template / "READY"
                if ready.exists():      # else deleted meanwhile (by a newer version's build): build it again
                    subprocess.run(["cp", "-a", f"{template}/.", str(home)], check=True)
                    os.utime(ready)     # copied lately: kept by other versions' builds
                    break
            template = template_home()
        else:
            raise LabError(f"the check's template lab in {cache_dir()} kept being deleted while this check "
                           f"started", "another copy of the kit shares this cache (LAB_CACHE): give each its own")
    except BaseException:
        # Ctrl-C or SIGTERM while the template was being copied (nothing runs yet): no half copy left in /tmp
        shutil.rmtree(home, ignore_errors=True)
        raise
    (home / "READY").unlink(missing_ok=True)
    for stale in ("state.json", "lab.lock"):
        (home / stale).unlink(missing_ok=True)
    lab = Lab(home=home, port_base=free_port_base(), static_mode=static_mode, log=log, database_url="",
                  strict_templates=True)
    try:
        for attempt in range(3):
            try:
                lab.up_database() if database_only else lab.up()
                break
            except LabError as e:
                # another program took one of the free ports we picked: pick others (this is the
                # check's private lab; `lab up --port-base` is about the learner's own)
                if e.kind != Kind.PORT_IN_USE or attempt == 2:
                    raise LabError(e.message, "the check picks free ports itself; run it again") \
                        if e.kind == Kind.PORT_IN_USE else e
                lab.down()
                lab = Lab(home=home, port_base=free_port_base(), static_mode=static_mode, log=log, database_url="",
                  strict_templates=True)
        yield lab
    finally:
        # Ctrl-C, SIGTERM or a closed pipe got us here too: finish stopping this lab first
        from .procs import deferred_signals
        with deferred_signals():
            try:
                lab.down()
            finally:
                shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------- running a plan with traffic
class Scenario:
    """One check run: the learner's work folder, a fresh lab, traffic, the plan."""

    traffic_options: dict = {}   # more for the traffic (lab.traffic.TrafficRun), e.g. a page_check

    def __init__(self, work_dir: Path, users: int = 4, log=None, seed_sightings: int | None = None):
        self.work_dir = Path(work_dir).resolve()
        self.plan = Plan.load(self.work_dir)
        self.users = users
        self.seed_sightings = seed_sightings   # the check's obstacle (a big table), never the plan's
        self._log = log
        self.lab = None
        self.traffic = None       # TrafficResult once the plan ran
        self.step_log: list[str] = []
        self.failed_attempts: list[tuple[str, str]] = []   # (step, why) for steps that were retried
        # The way back (an invariant of every check, see expect_way_back): armed by expect_end_state,
        # walked last, when the check's own verdicts have passed. A check opts out only with a reason
        # (`s.way_back_skipped = "why"`), which the structural test prints.
        self.way_back_skipped: str | None = None
        self._way_back_from: tuple[str, dict] | None = None
        self.hot_table_findings: list[tuple[str, str, str]] = []   # lab.pgwatch.HotTableWatch, from enter to exit
        self._hot_watch = None
        self._pg_log_offset = 0
        self.before_plan: dict | None = None
        self.replicas: int | None = None   # replicas a deploy with `on_start` starts at once (the check's, not the plan's)

    def log(self, msg: str):
        self.step_log.append(msg)
        if self._log:
            self._log(msg)

    def __enter__(self) -> "Scenario":
        self._ctx = fresh_lab(self.plan.static_mode, log=self.log)
        self.lab = self._ctx.__enter__()
        try:
            if self.seed_sightings:
                self.lab.seed(self.seed_sightings)
            for name, overlays in self.plan.releases.items():
                try:
                    self.lab.build_release(name, [self.work_dir / o for o in overlays])
                except LabError as e:
                    raise CheckFailed(e.kind or Kind.RELEASE_BROKEN, f"release {name} can't be built: {e.message}",
                                      e.hint or "build it yourself to see the whole error: "
                                      f"`lab release build {name} --overlay …`") from None
            self.before_plan = self.schema_snapshot()
            self._pg_log_offset = self.lab.db.log.stat().st_size if self.lab.db.log.exists() else 0
            # On from here to the end of the check, so its own set-up and tear-down (DDL) happen
            # before any audit of the check's starts and after it ends, and nothing escapes it.
            self._start_hot_watch()
        except BaseException:
            # __exit__ never runs when __enter__ raises: stop this lab here, or it outlives the check
            self._ctx.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        try:
            watch, self._hot_watch = self._hot_watch, None
            if watch is not None and exc[0] is None:
                watch.__exit__(None, None, None)
                self.hot_table_findings = watch.findings()   # judged below, after the check's own verdicts
            elif watch is not None:
                # The check already failed (or was interrupted): that is the verdict. The lab and its
                # database are deleted next, watch and all, so a failing tear-down must not replace it.
                with contextlib.suppress(Exception):
                    watch.__exit__(*exc)
            if exc[0] is None and self._way_back_from:
                self.expect_settings_take_effect()
                self.expect_hot_tables_spared()
                if not self.way_back_skipped:
                    self.expect_way_back(*self._way_back_from)
        except BaseException:
            self._ctx.__exit__(*sys.exc_info())   # stop the lab, then report the verdict
            raise
        return self._ctx.__exit__(*exc)

    def run_step(self, step: dict) -> None:
        """One plan step. Any step may say `retries = N` (and `retry_delay = S`, default 1 s): it is
        tried again when it fails, like a pipeline that retries a migration that gave up on lock_timeout."""
        retries, delay = int(step.get("retries", 0)), float(step.get("retry_delay", 1))
        for attempt in range(1, retries + 2):
            try:
                return self._run_step_once(step)
            except CheckFailed as failure:
                if attempt > retries:
                    if retries:
                        failure.message += f" (and the {retries} retr{'y' if retries == 1 else 'ies'} before it)"
                    raise
                self.failed_attempts.append((describe_step(step), failure.message))
                # "failed (lock timeout), retry 2 of 5": the kind first, the details after
                self.log(f"  ✗ `{describe_step(step)}` failed ({failure.reason}), retry {attempt} of {retries} "
                         f"in {delay:g}s: {failure.message}")
                time.sleep(delay)

    def _run_step_once(self, step: dict) -> None:
        a = step["action"]
        try:
            if a == "deploy":
                self.lab.deploy(step["release"], step.get("slot"), step.get("strategy", "rolling"),
                                step.get("migrate", "before"), manage_command(step, "on_start") or None,
                                self.replicas)
            elif a == "migrate":
                self.lab.migrate(step["release"], step.get("target"))
            elif a == "manage":
                self.lab.manage(step["release"], *manage_command(step))
            elif a == "static_mode":
                self.lab.set_static_mode(step["mode"])
            elif a == "wait":
                time.sleep(float(step.get("seconds", 1)))
        except LabError as e:
            raise CheckFailed(e.kind or Kind.STEP_FAILED, f"step `{describe_step(step)}` failed: {e.message}",
                              e.hint or "run the check with `-v` to see every step's output") from None

    def run(self, steps: list[dict] | None = None, settle: float = 0.6, during=None, before_step=None,
            traffic_timeout: float | None = None) -> "Scenario":
        """Carry out the plan while traffic flows; `during(scenario)` runs alongside (e.g. a blocker).
        `before_step(scenario, step)` runs just before each step (e.g. starts a slow report);
        `traffic_timeout`: how long a simulated user waits for an answer (default 5 s).

        Coverage, not luck: before the first step, after each step and at the end, the traffic goes
        on until every release then serving has answered page views AND writes (POSTs) in that
        stretch; "zero failed requests" means nothing when a release was never asked to write."""
        kw = {**self.traffic_options, **({"timeout": traffic_timeout} if traffic_timeout else {})}
        self.coverage: list[tuple[str, dict]] = []
        self.schema_timeline: list[tuple[str, dict]] = []   # (after which step, schema_snapshot): the way back's stops
        with self.lab.traffic_in_background(users=self.users, settle=0, **kw) as t:
            since, label = 0.0, "before the first step"
            try:
                for step in (self.plan.steps if steps is None else steps):
                    self._await_coverage(t, since, label)
                    if before_step:
                        before_step(self, step)
                    t.mark(describe_step(step))
                    since, label = t.marks[-1][0], f"during and after `{describe_step(step)}`"
                    self.run_step(step)
                    self.schema_timeline.append((f"after the plan's step `{describe_step(step)}`", self.schema_snapshot()))
                if during:
                    during(self)
                time.sleep(settle)
                self._await_coverage(t, since, label)
            except CheckFailed as failure:
                # a step failed: what the traffic saw before it still counts (and is often the cause)
                self.traffic = t.stop()
                if self.traffic.errors and failure.reason != Kind.TRAFFIC_GAP:
                    kinds = self.traffic.summary()["by_kind"]
                    failure.message += (f"; before that, {len(self.traffic.errors)} requests had failed ("
                                        + ", ".join(f"{k} ×{n}" for k, n in kinds.items()) + ")")
                raise
        self.traffic = t.result
        return self

    COVERAGE_WAIT = 8.0    # seconds the traffic may need to reach every release after a step

    def _await_coverage(self, t, since: float, label: str) -> None:
        serving = self.serving_releases()
        deadline = time.monotonic() + self.COVERAGE_WAIT
        while True:
            seen: dict[str, dict] = {rel: {"requests": 0, "posts": 0} for rel in serving}
            for r in t.result.records:
                if r.t >= since and r.release in seen:
                    seen[r.release]["requests"] += 1
                    seen[r.release]["posts"] += r.method == "POST"
            missing = [rel for rel, n in seen.items() if not n["posts"]]
            if not missing:
                self.coverage.append((label, seen))
                return
            if time.monotonic() > deadline or not any(th.is_alive() for th in t._threads):
                raise CheckFailed(
                    Kind.TRAFFIC_GAP,
                    f"{label}: no sighting or comment was posted to release {', '.join(sorted(missing))} "
                    f"within {self.COVERAGE_WAIT:g} s ({seen}), so the check can't tell whether its writes work",
                    "is the report or comment form still on the pages (a form, a CSRF token, a link to each "
                    "sighting)? Run `lab traffic` on your own lab and read the failures")
            time.sleep(0.05)

    # ---- verdicts ----
    def expect_no_failed_requests(self) -> None:
        errors = self.traffic.errors
        if not errors:
            return
        from .traffic import describe
        first = errors[0]
        kinds = self.traffic.summary()["by_kind"]
        raise CheckFailed(
            traffic_kind(first.error),
            f"{len(errors)} of {len(self.traffic.records)} requests failed during the deploy "
            f"({', '.join(f'{k} ×{n}' for k, n in kinds.items())}). First: {describe(first)}",
            LOOK_AT.get(first.error.split(" ")[0] if first.error[:1].isdigit() else first.error,
                        "run `lab traffic --plot traffic.png` during your deploy and look at when it breaks"),
        )

    def expect(self, condition: bool, reason: str, message: str, look_at: str | None = None) -> None:
        if not condition:
            raise CheckFailed(reason, message, look_at)

    def columns(self, table: str) -> dict[str, dict]:
        rows = self.lab.sql("select column_name, is_nullable, column_default, data_type "
                            "from information_schema.columns where table_name = %s", (table,))
        return {r[0]: {"nullable": r[1] == "YES", "default": r[2], "type": r[3]} for r in rows}

    # ---- helpers for multi-release exercises (03, 04, 05, 09) ----
    def final_release(self) -> str:
        """The release the plan deploys last: what production runs once the plan is done."""
        deploys = [st["release"] for st in self.plan.steps if st["action"] == "deploy"]
        return deploys[-1] if deploys else self.lab.cfg.app["baseline_release"]

    def schema_release(self) -> str:
        """The release whose migrations the plan ran last (a migrate step, or a deploy that migrates):
        the one whose Django state the database must match at the end."""
        ran = [st["release"] for st in self.plan.steps
               if st["action"] == "migrate" or (st["action"] == "deploy" and st.get("migrate", "before") != "skip")
               or (st["action"] == "manage" and manage_command(st)[:1] == ["migrate"])
               or (st["action"] == "deploy" and st.get("on_start"))]   # each replica's start-up may migrate
        return ran[-1] if ran else self.lab.cfg.app["baseline_release"]

    def serving_releases(self) -> set[str]:
        # a slot too busy to answer its health probe right now reports no release: use the one
        # the lab deployed there
        return {sl.get("release") or sl.get("deployed_release") for sl in self.lab.status()["slots"]}

    def release_python(self, release: str, code: str):
        """Run Python inside a release's Django (`manage.py shell -c`), against the lab database.
        Returns the CompletedProcess (returncode, stdout, stderr); never raises."""
        from .releases import build_env
        rel = self.lab.releases.get(release)
        return rel.manage("shell", "-c", code, env=build_env(rel.static, DATABASE_URL=self.lab.db.url()),
                          check=False)

    def release_json(self, release: str, code: str, what: str, look: str) -> dict:
        """Run `code` in a release's Django (release_python) and return what it printed on its line
        starting with "JSON ". A release that can't run it fails the check as `migrations broken`,
        saying that its `what` can't be read and the error's last line."""
        import json
        r = self.release_python(release, code)
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
        if r.returncode != 0 or line is None:
            from .procs import last_error_line
            raise CheckFailed(Kind.MIGRATIONS_BROKEN, f"release {release}'s {what} can't be read: "
                              f"{last_error_line(r.stderr) or r.stderr.strip()[-300:] or '?'}", look)
        return json.loads(line[5:])

    def release_state(self, release: str, app: str = "sightings") -> dict:
        """What a release's Django believes, in one start: the changes `makemigrations` would still
        make, its migration files, the ones django_migrations records, and each model's columns."""
        return self.release_json(release, STATE_PROBE.replace("APP", repr(app)), "models or migrations",
                                 f"run `lab manage {release} makemigrations --check --dry-run` and read the error")

    def expect_end_state(self, schema_release: str | None = None, releases: list[str] | None = None) -> None:
        """The invariants every exercise ends on, whatever the plan did (a `--fake`, a RunSQL, an edit):
          - every release's migration files describe its models (the next makemigrations adds nothing);
          - django_migrations records exactly the migration files of `schema_release` (default: the
            release whose migrations the plan ran last), no more, no fewer;
          - the real tables are what that release's Django state says: every column, its NULL-ability,
            its database default, its type, and every Meta.indexes index (valid)."""
        schema_release = schema_release or self.schema_release()
        names = list(dict.fromkeys([*(releases if releases is not None else self.plan.releases), schema_release]))
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(len(names)) as pool:    # one Django start each, side by side
            states = dict(zip(names, pool.map(self.release_state, names)))
        for name, st in states.items():
            if st["pending"]:
                self.expect(False, Kind.MIGRATIONS_OUT_OF_DATE,
                            f"release {name}'s migrations don't match its models: `makemigrations` would still "
                            f"write a migration ({'; '.join(st['pending'])})",
                            "Django's migration state must describe the models of the same release: change the model "
                            "and its migration together (or only the state, with SeparateDatabaseAndState)")
        st = states[schema_release]
        disk, applied = set(st["disk"]), set(st["applied"])
        self.expect(not disk - applied, Kind.HISTORY_MISMATCH,
                    f"release {schema_release}'s migration {', '.join(sorted(disk - applied))} is not recorded in "
                    f"django_migrations: it never ran",
                    f"the database ends on release {schema_release}'s schema (the migrations the plan ran last): "
                    f"each of its migrations must have run, and be recorded as run")
        self.expect(not applied - disk, Kind.HISTORY_MISMATCH,
                    f"django_migrations records {', '.join(sorted(applied - disk))}, which release {schema_release} "
                    f"has no file for",
                    f"the history must be release {schema_release}'s own migrations, as the schema is: did a "
                    f"migration get renamed, or a record written without its change?")
        self._expect_tables_match(schema_release, st["models"])
        self._way_back_from = (schema_release, st)

    def _start_hot_watch(self) -> None:
        from .pgwatch import HotTableWatch
        self._hot_watch = HotTableWatch(self.lab, sorted(self.before_plan["tables"])).__enter__()

    def setup_done(self) -> None:
        """The check's own set-up ends here (e.g. 16 puts production on a release the learner may not
        change): what it did to the tables is not held against the plan. The watch starts again."""
        if self._hot_watch is not None:
            self._hot_watch.__exit__(None, None, None)
            self._start_hot_watch()

    def expect_hot_tables_spared(self) -> None:
        """No step of the plan rewrote a table the traffic uses, or changed many of its rows while
        holding ACCESS EXCLUSIVE on it (lab.pgwatch.HotTableWatch): in every exercise, not only in
        those about locks. Judged from what PostgreSQL did, so a small lab table shows it too."""
        for kind, table, what in self.hot_table_findings:
            if kind == "table rewrite":
                self.expect(False, Kind.TABLE_REWRITE,
                            f"the plan rewrote {table}, a table the traffic uses: it got a new file, every row copied "
                            f"while ACCESS EXCLUSIVE was held (no read or write gets through until it ends; on "
                            f"production's table that is minutes); {what}",
                            "which statement needs a new copy of the table? Is there a form of the change that "
                            "PostgreSQL can do in its catalogue only?")
            if kind == "guardrail too loose":
                from .pgwatch import LOCK_TIMEOUT_CEILING
                self.expect(False, Kind.GUARDRAIL_LOOSE,
                            f"the plan changed {table} with a lock timeout longer than {LOCK_TIMEOUT_CEILING:g} s: "
                            f"{what}; while a statement waits that long for its lock, every request queues behind it",
                            "how long may users wait while your migration waits for its lock (chapter 07)? A timeout "
                            "is a guardrail only if it gives up before they notice")
            if kind == "guardrail too tight":
                from .pgwatch import STATEMENT_TIMEOUT_FLOOR
                self.expect(False, Kind.GUARDRAIL_TIGHT,
                            f"the plan built or validated on {table} under a statement timeout shorter than "
                            f"{STATEMENT_TIMEOUT_FLOOR / 60:g} minutes: {what}. Here the table is small; on production's "
                            f"it reads for minutes, the timeout cancels it, and a cancelled concurrent build leaves an "
                            f"INVALID index behind (chapter 15)",
                            "which of your statements are slow by design but block no one while they run? What "
                            "should cut them short, and what only the ones that wait for a lock?")
            if kind == "long scan":
                self.expect(False, Kind.LONG_LOCK,
                            f"the plan read all of {table} under its strongest lock: {what}; every request to {table} "
                            f"waits until that transaction ends (on production's table: as long as reading it takes)",
                            "how can PostgreSQL know that no row is NULL without reading them all while it holds the "
                            "lock? Chapter 05 proves it first, with the table open to reads and writes")
            self.expect(False, Kind.LONG_LOCK,
                        f"the plan changed {table}'s rows under its strongest lock: {what}; every request to "
                        f"{table} waits until that transaction ends, however big the table is",
                        "which of your migrations both alters the table and fills it? Could the filling happen in "
                        "another transaction, after the lock is gone?")

    NO_EFFECT = "can only be used in transaction blocks"   # PostgreSQL's warning for SET LOCAL outside one

    def expect_settings_take_effect(self) -> None:
        """A setting that does nothing where it stands is a guardrail that isn't there: SET LOCAL
        outside a transaction (a migration with `atomic = False`) is ignored with a warning. Read from
        PostgreSQL's own log, so it is caught wherever it came from (RunSQL, RunPython, a command)."""
        log = self.lab.db.log
        if not log.exists():
            return
        with open(log, "rb") as f:
            f.seek(self._pg_log_offset)
            lines = f.read().decode(errors="replace").splitlines()
        warned = [ln.split("WARNING:", 1)[-1].strip() for ln in lines if self.NO_EFFECT in ln]
        self.expect(not warned, Kind.GUARDRAIL_DODGED,
                    f"PostgreSQL ignored {len(warned)} transaction-scoped setting(s) during the check (\"WARNING: "
                    f"{warned[0] if warned else ''}\"): a SET LOCAL ran outside a transaction, so the guardrail it "
                    f"sets was never on",
                    "where does a transaction-scoped setting end, and is there a transaction around it in a "
                    "migration that is not atomic?")

    # ---- the way back: every check walks it (issue: checks that prove invariants) ----
    APP_TABLES = "sightings\\_%"

    def schema_snapshot(self) -> dict:
        """What the app's tables are, as PostgreSQL has them: the migrations recorded, and per table
        its columns (name, NULL-ability, type, has a default), indexes and constraints."""
        applied = [r[0] for r in self.lab.sql("select name from django_migrations where app = 'sightings' order by id")]
        tables: dict[str, dict] = {}
        for table, col, nullable, typ, has_default in self.lab.sql(
                "select c.relname, a.attname, not a.attnotnull, format_type(a.atttypid, a.atttypmod), d.adbin is not null "
                "from pg_class c join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public' "
                "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
                "left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum "
                "where c.relkind = 'r' and c.relname like %s order by c.relname, a.attnum", (self.APP_TABLES,)):
            tables.setdefault(table, {"columns": {}, "indexes": set(), "constraints": set()})["columns"][col] = \
                (nullable, typ, has_default)
        for table, indexdef in self.lab.sql("select tablename, indexdef from pg_indexes "
                                            "where schemaname = 'public' and tablename like %s", (self.APP_TABLES,)):
            tables[table]["indexes"].add(indexdef)
        for table, definition in self.lab.sql(
                "select c.relname, k.conname || ' ' || pg_get_constraintdef(k.oid) from pg_constraint k "
                "join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relname like %s", (self.APP_TABLES,)):
            tables[table]["constraints"].add(definition)
        # Views too (a renamed table can leave one under its old name for the release before,
        # chapter 20): a reverse must put back the view its state had, with the same columns.
        views: dict[str, list[str]] = {}
        for view, col in self.lab.sql(
                "select c.relname, a.attname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "and n.nspname = 'public' join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 "
                "and not a.attisdropped where c.relkind in ('v', 'm') and c.relname like %s "
                "order by c.relname, a.attnum", (self.APP_TABLES,)):
            views.setdefault(view, []).append(col)
        oids = dict(self.lab.sql("select c.relname, c.oid::bigint from pg_class c join pg_namespace n on "
                                 "n.oid = c.relnamespace and n.nspname = 'public' where c.relkind = 'r' "
                                 "and c.relname like %s", (self.APP_TABLES,)))
        return {"applied": applied, "tables": tables, "views": views, "oids": oids}

    def expect_way_back(self, schema_release: str, state: dict) -> None:
        """The way back works: the plan's migrations are walked back, one release state at a time
        (each state of django_migrations the plan passed through, newest first), to the state before
        the plan, then the plan's database steps run forward again, and
          - no migration of the release lacks a reverse (RunPython/RunSQL without one: no environment
            could ever migrate back past it);
          - each step back succeeds with the rows in place (a reverse that re-adds a NOT NULL column
            without a default fails on any table with rows) and leaves exactly the tables, columns,
            defaults, indexes and constraints that state had (the state the previous release runs on:
            a reverse that "tidies up" a default the previous release needs is no way back);
          - no row is lost on the way back;
          - the plan's database steps, run again from there (its migrations and commands, in order),
            reach the same schema as the plan did, and every row is what it was, value for value, in
            the columns that existed before the plan: the seeded rows AND the ones both releases wrote
            during the deploy (a reverse that garbles data that arrived meanwhile shows here).
        Walked with the traffic stopped, at the end of the check."""
        before = self.before_plan or {"applied": [], "tables": {}}
        target = before["applied"][-1] if before["applied"] else "zero"
        added = [m for m in state["disk"] if m not in before["applied"]]
        if not added:
            return
        look = ("every migration needs a way back that `migrate sightings NNNN` can walk while rows exist, to the "
                "state the previous release runs on: what does each reverse do to a table full of rows?")
        no_reverse = {m: ops for m, ops in state.get("irreversible", {}).items() if m in added}
        self.expect(not no_reverse, Kind.IRREVERSIBLE,
                    "the way back is blocked: " + "; ".join(f"{m} has no reverse for {', '.join(ops)}"
                                                            for m, ops in sorted(no_reverse.items()))
                    + f" (`migrate sightings {target}` would stop there, in every environment)", look)
        self.log(f"→ the way back: release {schema_release}'s {', '.join(added)} back to {target} and forward again")
        t0 = time.monotonic()
        after_plan = self.schema_snapshot()
        # A table the plan renamed (chapter 20) is the same table, under its new name: followed by its
        # OID, its rows are kept and compared like any other's, in the columns it had before the plan.
        was_named = {oid: t for t, oid in before.get("oids", {}).items()}
        self._renamed = {t: was_named[oid] for t, oid in after_plan.get("oids", {}).items()
                         if oid in was_named and was_named[oid] != t}
        kept = [t for t in state["models"] if t in before["tables"] or t in self._renamed]
        stops = self._way_back_stops(after_plan, before, target, set(state["disk"]))
        self.lab.sql("drop schema if exists lab_way_back cascade")
        self.lab.sql("create schema lab_way_back")
        try:
            rows = {}
            for t in kept:
                self.lab.sql(f"create table lab_way_back.{t} as table public.{t}")
                rows[t] = self.lab.sql(f"select count(*) from lab_way_back.{t}")[0][0]
            for name, label, snap in stops:
                try:
                    self.lab.migrate(schema_release, f"sightings:{name}")
                except LabError as e:
                    raise CheckFailed(Kind.REVERSE_BROKEN, f"migrating back to {name} ({label}) failed, with "
                                      f"{sum(rows.values()):,} rows in the tables: {e.message}", look) from None
                self._expect_schema(snap, self.schema_snapshot(), f"after migrating back to {name}",
                                    f"what they were {label}", look)
                for t in kept:
                    n = self.lab.sql(f"select count(*) from public.{self._named_now(t)}")[0][0]
                    self.expect(n == rows[t], Kind.DATA_LOST,
                                f"migrating back to {name} left {n:,} rows in {t}; it had {rows[t]:,}", look)
            self._replay_database_steps(target, look)
            self._expect_schema(after_plan, self.schema_snapshot(),
                                f"after migrating back to {target} and running the plan's database steps again",
                                "what they were at the end of the plan", look)
            for t in kept:
                self._expect_rows_unchanged(t, target, look)
            each = self._expect_each_reverse(schema_release, sorted(added), target, {n for n, _, _ in stops},
                                             set(state["disk"]), look)
            self.log(f"  ✓ the way back ({' → '.join(n for n, _, _ in stops)}) and forward again: schema restored at "
                     f"each stop{each}, {sum(rows.values()):,} rows kept ({time.monotonic() - t0:.1f} s)")
        finally:
            self.lab.sql("drop schema if exists lab_way_back cascade")

    def _named_now(self, table: str) -> str:
        """What `table` (a name at the end of the plan) is called now, part-way back: a table the plan
        renamed has its old name again once its rename is walked back."""
        was = getattr(self, "_renamed", {}).get(table)
        if was and self.lab.sql("select to_regclass(%s) is null and to_regclass(%s) is not null",
                                (f"public.{table}", f"public.{was}"))[0][0]:
            return was
        return table

    def _expect_each_reverse(self, release: str, chain: list[str], target: str, stopped_at: set[str],
                             on_disk: set[str], look: str) -> str:
        """Every migration's own reverse, one at a time. The way back stops only where the plan stopped;
        two migrations that one step ran have a state between them the plan never showed, and there a
        reverse that does nothing hides behind an earlier one that happens to clean up after it (an
        index left by a no-op reverse, dropped anyway with its column by the next reverse). From the
        plan's end, each migration is unapplied on its own, then reapplied on its own: the schema at
        every state between two of them must be the same going back as coming forward."""
        between = [m for m in chain[:-1] if m not in stopped_at]
        # A squash beside the migrations it replaces (chapter 16) is no chain of one-at-a-time steps,
        # and `migrate sightings NAME` can't name a migration whose name begins another's.
        if not between or any(o != m and o.startswith(m) for m in chain for o in on_disk):
            return ""
        def migrate(name: str, way: str) -> None:
            try:
                self.lab.migrate(release, f"sightings:{name}")
            except LabError as e:
                raise CheckFailed(Kind.REVERSE_BROKEN, f"migrating {way} to {name}, one migration at a time, "
                                  f"failed: {e.message}", look) from None
        back = {}
        for name in reversed([target, *chain[:-1]]):
            migrate(name, "back")
            back[name] = self.schema_snapshot()
        for name in chain:
            migrate(name, "forward")
            if name in between:
                self._expect_schema(self.schema_snapshot(), back[name], f"after migrating back to {name} one "
                                    f"migration at a time", f"what the migrations up to {name} make", look)
        return f" and between each two of {', '.join(chain)}"

    def _way_back_stops(self, after_plan: dict, before: dict, target: str,
                        on_disk: set[str]) -> list[tuple[str, str, dict]]:
        """Where the way back stops, newest first: (migration to migrate to, what that state was, its
        schema). Every state of django_migrations the plan passed through (Scenario.run notes the
        schema after each step), then the state before the plan. A state whose newest migration the
        release no longer has (a squash that replaced it) is passed through, not stopped at."""
        seen, stops = {tuple(after_plan["applied"])}, []
        for label, snap in reversed(getattr(self, "schema_timeline", [])):
            key = tuple(snap["applied"])
            if key in seen or not snap["applied"]:
                continue
            seen.add(key)
            newest = max(snap["applied"])
            if newest in on_disk and set(snap["applied"]) <= set(after_plan["applied"]):
                stops.append((newest, label, snap))
        stops = [st for st in stops if st[0] != target]
        stops.append((target, "before the plan", before))
        return stops

    def _expect_schema(self, was_snap: dict, now_snap: dict, when: str, what_they_were: str, look: str) -> None:
        was_views, now_views = was_snap.get("views", {}), now_snap.get("views", {})
        for v in sorted(set(was_views) | set(now_views)):
            self.expect(was_views.get(v) == now_views.get(v), Kind.REVERSE_BROKEN,
                        f"{when}, the view {v} " + ("is gone" if v not in now_views else "is there" if v not in was_views
                                                    else f"has the columns {', '.join(now_views[v])}")
                        + f" ({what_they_were}: " + (f"columns {', '.join(was_views[v])})" if v in was_views
                                                     else "no such view)"), look)
        for t, was in was_snap["tables"].items():
            now = now_snap["tables"].get(t)
            self.expect(now is not None, Kind.REVERSE_BROKEN, f"{when}, the table {t} is gone ({what_they_were})", look)
            for what in ("columns", "indexes", "constraints"):
                a, b = was[what], now[what]
                if what == "columns":
                    a, b = ({f"`{c} {v[1]}{'' if v[0] else ' NOT NULL'}{' DEFAULT …' if v[2] else ''}`"
                             for c, v in x.items()} for x in (a, b))
                self.expect(a == b, Kind.REVERSE_BROKEN,
                            f"{when}, {t}'s {what} are not {what_they_were}: "
                            + "; ".join([*(f"was {x}" for x in sorted(a - b)), *(f"now {x}" for x in sorted(b - a))])[:600],
                            look)

    def _replay_database_steps(self, target: str, look: str) -> None:
        """The way forward again is the plan's own way: its migrations and its commands (a backfill
        between two releases' migrations), in its order, on the data as it is now. Slot changes and
        waits don't touch the database and are left out."""
        for step in self.plan.steps:
            a = step["action"]
            try:
                if a == "deploy" and step.get("migrate", "before") != "skip":
                    self.lab.migrate(step["release"], only_if_needed=True)
                if a == "deploy" and step.get("on_start"):
                    # the replicas start again, at once, as an orchestrator restarts them after a rollback
                    from .deploy import start_replicas
                    start_replicas(self.lab.backend, step["release"], manage_command(step, "on_start"),
                                   self.replicas or 2)
                elif a == "migrate":
                    self.lab.migrate(step["release"], step.get("target"))
                elif a == "manage":
                    self.lab.manage(step["release"], *manage_command(step))
            except LabError as e:
                raise CheckFailed(Kind.REVERSE_BROKEN, f"after migrating back to {target}, the plan's step "
                                  f"`{describe_step(step)}` failed when run again: {e.message}", look) from None

    def _expect_rows_unchanged(self, table: str, target: str, look: str) -> None:
        """Every row of `table` as it was before the way back, in the columns that were there before
        the plan: those are the data the way back must keep. (What the plan's new columns held is
        lost on the way back by nature: that is why a rollback keeps the schema; chapter 09.)"""
        snap = {r[0] for r in self.lab.sql(
            "select attname from pg_attribute where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped",
            (f"lab_way_back.{table}",))}
        was = getattr(self, "_renamed", {}).get(table, table)
        cols = [c for c in (self.before_plan or {}).get("tables", {}).get(was, {}).get("columns", {}) if c in snap]
        if not cols:
            return
        key = "id" if "id" in cols else cols[0]
        pick = ", ".join(f'"{c}"' for c in cols)
        row = f"row({pick})::text"

        def side(alias: str) -> str:
            return "row(" + ", ".join(f'{alias}."{c}"' for c in cols) + ")::text"
        count = self.lab.sql(
            f"select count(*) from (select {row} from lab_way_back.{table} except all select {row} from public.{table}) x")[0][0]
        if not count:
            return
        k, was, now = self.lab.sql(
            f"select coalesce(a.{key}, b.{key})::text, to_jsonb(a), to_jsonb(b) from "
            f"(select {pick} from lab_way_back.{table}) a full join (select {pick} from public.{table}) b "
            f"on a.{key} = b.{key} where {side('a')} is distinct from {side('b')} order by 1 limit 1")[0]
        if now is None:
            what = "is gone"
        elif was is None:
            what = "was not there before"
        else:
            what = "; ".join(f"{c} was {_clip(repr(was[c]), 80)}, is {_clip(repr(now[c]), 80)}"
                             for c in cols if was.get(c) != now.get(c))
        self.expect(False, Kind.DATA_LOST,
                    f"after migrating back to {target} and forward again, {count:,} row(s) of {table} are not what "
                    f"they were; first, {key}={k}: {what}", look)

    def _expect_tables_match(self, release: str, models: dict) -> None:
        look = ("the database must be what Django's state says (`--fake` records a migration without running it; "
                "RunSQL changes the tables without telling the state)")
        for table, m in models.items():
            rows = self.lab.sql(
                "select a.attname, not a.attnotnull, format_type(a.atttypid, a.atttypmod), d.adbin is not null "
                "from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
                "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped", (table,))
            real = {r[0]: {"null": r[1], "type": r[2], "default": r[3]} for r in rows}
            where = f"{table} (release {release}'s state)"
            self.expect(bool(real), Kind.SCHEMA_DRIFT, f"the table {table} of release {release}'s models does not exist", look)
            for col, f in m["fields"].items():
                self.expect(col in real, Kind.SCHEMA_DRIFT,
                            f"{where}: Django's state has {f['name']} in the column `{col}`, but the table has no such "
                            f"column", look)
                c = real[col]
                self.expect(c["null"] == f["null"], Kind.SCHEMA_DRIFT,
                            f"{where}: `{col}` is {'NULL-able' if c['null'] else 'NOT NULL'} in the database but "
                            f"null={f['null']} in the model", look)
                self.expect(not f["db_default"] or c["default"], Kind.SCHEMA_DRIFT,
                            f"{where}: the model gives `{col}` a db_default, but the column has no default", look)
                # and the other way: a default only RunSQL knows is one the next AlterField may drop,
                # and the state (what tests and the next makemigrations see) says INSERTs need a value
                self.expect(f["db_default"] or not c["default"], Kind.SCHEMA_DRIFT,
                            f"{where}: `{col}` has a default in the database that Django's state doesn't know", look)
                if f["type"] and _norm_type(f["type"]) != _norm_type(c["type"]):
                    self.expect(False, Kind.SCHEMA_DRIFT,
                                f"{where}: `{col}` is {c['type']} in the database but {f['type']} in the model", look)
            extra = sorted(set(real) - set(m["fields"]))
            self.expect(not extra, Kind.SCHEMA_DRIFT,
                        f"{where}: the table has column(s) {', '.join(extra)} that Django's state doesn't know", look)
            for index, create_sql in m["indexes"].items():
                ok = self.lab.sql("select i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
                                  "join pg_class c on c.oid = i.indexrelid where c.relname = %s", (index,))
                self.expect(bool(ok) and ok[0][0], Kind.SCHEMA_DRIFT,
                            f"{where}: the model's index {index} is {'INVALID' if ok else 'missing'} in the database",
                            look)
                declared = self.model_indexdef(table, create_sql)
                self.expect(declared == ok[0][1], Kind.SCHEMA_DRIFT,
                            f"{where}: the index {index} in the database is `{ok[0][1]}`, but the model declares "
                            f"`{declared}`", look)

    def model_indexdef(self, table: str, create_sql: str, kind: str = Kind.SCHEMA_DRIFT,
                       look_at: str = "run `lab manage RELEASE sqlmigrate sightings NNNN` and read its CREATE INDEX"
                       ) -> str:
        """How PostgreSQL prints an index a model declares (its `CREATE INDEX` from Django): built on
        an empty copy of the table in a scratch schema, in a transaction that is rolled back, so
        whatever the table's size it takes a moment, and it can be compared with pg_get_indexdef."""
        with self.lab.db.connect(dbname=self.lab.db.db_name, autocommit=False) as conn:
            try:
                conn.execute("create schema lab_probe")
                conn.execute(f"create table lab_probe.{table} (like public.{table} including defaults)")
                conn.execute("set local search_path = lab_probe, public")
                conn.execute(create_sql)
                row = conn.execute("select pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c "
                                   "on c.oid = i.indexrelid where c.relnamespace = 'lab_probe'::regnamespace"
                                   ).fetchone()
            except Exception as e:  # noqa: BLE001 - the model's own SQL doesn't run: a verdict, not a crash
                raise CheckFailed(kind, f"the model's index on {table} can't be built: {e}".strip(), look_at)
            finally:
                conn.rollback()
        return row[0].replace("lab_probe.", "public.") if row else ""

    def migrations_sql(self, release: str, app: str = "sightings") -> dict[str, dict]:
        """What each of a release's migrations runs in the database (`sqlmigrate`, in one Django
        start): {name: {"atomic": bool, "sql": str}}, in file-name order."""
        code = ("import io, json\n"
                "from django.core.management import call_command\n"
                "from django.db import connection\n"
                "from django.db.migrations.loader import MigrationLoader\n"
                "loader = MigrationLoader(connection)\n"
                "out = {}\n"
                f"for (a, name), m in sorted(loader.disk_migrations.items()):\n"
                f"    if a == {app!r}:\n"
                "        buf = io.StringIO()\n"
                "        call_command('sqlmigrate', a, name, stdout=buf)\n"
                "        out[name] = {'atomic': m.atomic, 'sql': buf.getvalue()}\n"
                "print('JSON ' + json.dumps(out))\n")
        return self.release_json(release, code, "migrations", f"try `manage.py sqlmigrate {app} <name>` in the release")


# Runs inside a release (manage.py shell -c): its Django's view of migrations and models, as JSON.
STATE_PROBE = """
import io, json
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.models import NOT_PROVIDED
out, buf = {}, io.StringIO()
try:
    call_command('makemigrations', APP, check=True, dry_run=True, stdout=buf, stderr=buf)
    out['pending'] = []
except SystemExit:
    out['pending'] = [l.strip()[2:] for l in buf.getvalue().splitlines() if l.strip().startswith('- ')] or [buf.getvalue().strip()[-300:]]
loader = MigrationLoader(connection)
out['disk'] = sorted(n for a, n in loader.disk_migrations if a == APP)
out['applied'] = sorted(n for a, n in loader.applied_migrations if a == APP)
from django.db.migrations.operations.special import SeparateDatabaseAndState
def _no_reverse(ops):
    for op in ops:   # SeparateDatabaseAndState says it is reversible; what it runs in the database may not be
        if isinstance(op, SeparateDatabaseAndState):
            yield from _no_reverse(op.database_operations)
        elif not op.reversible:
            yield op.describe()
out['irreversible'] = {n: list(_no_reverse(m.operations)) for (a, n), m in loader.disk_migrations.items() if a == APP}
out['irreversible'] = {n: ops for n, ops in out['irreversible'].items() if ops}
out['models'] = {}
with connection.schema_editor(collect_sql=True) as se:
    for m in apps.get_app_config(APP).get_models():
        fields = {f.column: {'name': f.name, 'null': f.null, 'db_default': getattr(f, 'db_default', NOT_PROVIDED) is not NOT_PROVIDED,
                             'type': f.db_type(connection)} for f in m._meta.concrete_fields}
        out['models'][m._meta.db_table] = {'fields': fields,
                                           'indexes': {i.name: str(i.create_sql(m, se)) for i in m._meta.indexes}}
print('JSON ' + json.dumps(out))
"""


def _clip(text: str | None, n: int = 160) -> str:
    return "NULL" if text is None else (text if len(text) <= n else text[:n] + "…")


def _norm_type(t: str) -> str:
    t = t.lower().replace("varchar", "character varying").replace("timestamptz", "timestamp with time zone")
    return {"serial": "integer", "bigserial": "bigint", "int": "integer"}.get(t, t)


LOOK_AT = {
    "404": "a page from one release asked for a static file only the other release has: "
           "how does nginx serve /static/ (static_mode in plan.toml)?",
    "500": "the old release's code met the new schema (or the reverse): which runs first, the migration "
           "or the code, and can the old code live with the new schema?",
    "502": "no app server answered: was a slot stopped while it still had traffic?",
    "timeout": "requests waited on a lock: what does your migration lock, and for how long?",
    "missing value": "a release's template names something its model or view no longer has: Django renders it "
                     "as nothing, so the page looks fine but shows less. Which release rendered it, and which name?",
}


def describe_step(step: dict) -> str:
    bits = [step["action"]] + [f"{k}={v}" for k, v in step.items() if k != "action"]
    return " ".join(str(b) for b in bits)


def manage_command(step: dict, key: str = "command") -> list[str]:
    """A `manage` step's command (or a deploy's `on_start`): a list (["backfill_region", "--batch-size",
    "200"]) or one string."""
    import shlex
    cmd = step.get(key) or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
