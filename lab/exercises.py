"""Exercises: the catalogue, the learner's work folders, and the behavioural check harness.

exercises/catalogue.toml is the ONE source of titles, objectives, hints, time estimates and order:
the CLI (`lab exercises`, `lab hint`), the docs and the checks all read it.

An exercise folder (exercises/NN_slug/, and solutions/NN_slug/ with the same shape):
    README.md       the task, in plain words
    app/            an overlay on bigfoot_app/: the files of "the next version" (the learner edits these)
    plan.toml       the deploy plan: which releases to build from which overlays, and the steps, in
                    order, that take them to production while traffic flows (the order is part of the task)
    test_check.py   the check (`pytest exercises/NN_slug`): builds the releases, starts a fresh lab
                    on free ports with a seeded database, runs traffic, carries out the plan, and
                    asserts zero failed requests plus the new behaviour
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
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
    key_points: list[str] = field(default_factory=list)
    teaching_minutes: int = 10

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


def catalogue() -> list[ExerciseInfo]:
    with CATALOGUE_FILE.open("rb") as f:
        data = tomllib.load(f)
    return [ExerciseInfo(**e) for e in data["exercise"]]


def get(key: str) -> ExerciseInfo:
    key = str(key).strip()
    for e in catalogue():
        if key in (e.id, e.slug, e.name) or (key.isdigit() and int(key) == int(e.id)):
            return e
    raise LabError(f"no exercise {key!r}", "list them with `lab exercises`")


# ---------------------------------------------------------------- failures
class CheckFailed(AssertionError):
    """A check's verdict, in plain words: what broke, where, and what to look at next.

    `reason` is short and stable ("500 IntegrityError", "404 static asset", "syntax error", ...)
    so the kit's own tests can assert the starter fails for the INTENDED reason.
    """

    def __init__(self, reason: str, message: str, look_at: str | None = None):
        self.reason, self.message, self.look_at = reason, message, look_at
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"✗ {self.message}"
        if self.look_at:
            text += f"\n  → {self.look_at}"
        return text


# ---------------------------------------------------------------- the plan
@dataclass
class Plan:
    releases: dict[str, list[str]]      # name -> overlay folders, relative to the work folder
    steps: list[dict]
    static_mode: str = "proxy"
    seed_sightings: int | None = None   # None: the baseline's 1,000
    path: Path | None = None

    @classmethod
    def load(cls, work_dir: Path) -> "Plan":
        path = work_dir / "plan.toml"
        if not path.exists():
            raise CheckFailed("missing file", f"{display_path(path)} is missing",
                              "restore the starter with `lab reset NN` (your edits are backed up)")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise CheckFailed("plan error", f"{display_path(path)} is not valid TOML: {e}") from None
        releases = data.get("releases", {})
        for name, overlays in releases.items():
            for o in overlays:
                if not (work_dir / o).is_dir():
                    raise CheckFailed("missing file", f"{display_path(path)}: release {name} uses the folder "
                                      f"{o!r}, which does not exist in {display_path(work_dir)}")
        known = {"deploy", "migrate", "manage", "static_mode", "wait"}
        for i, step in enumerate(data.get("steps", []), 1):
            action = step.get("action")
            if action not in known:
                raise CheckFailed("plan error", f"{display_path(path)}: step {i} has action {action!r}; "
                                  f"use one of {', '.join(sorted(known))}")
            rel = step.get("release")
            if rel and rel not in releases and rel != "v1":
                raise CheckFailed("plan error", f"{display_path(path)}: step {i} uses release {rel!r}, "
                                  f"which [releases] does not define")
        return cls(releases=releases, steps=data.get("steps", []), static_mode=data.get("static_mode", "proxy"),
                   seed_sightings=data.get("seed_sightings"), path=path)


# ---------------------------------------------------------------- fresh labs, fast
def free_port_base(span: int = 4) -> int:
    """A base port with the lab's ports after it free (base..base+span-1, and JupyterLab's at
    base+888), so a check never collides with a running lab."""
    import random
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000, 10)
        if not any(port_in_use(p) for p in [*range(base, base + span), base + 888]):
            return base
    raise LabError("no free ports found for a check lab")


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
    with _cache_lock():
        if (home / "READY").exists():
            return home
        shutil.rmtree(home, ignore_errors=True)
        for old in cache_dir().glob("template-*"):
            shutil.rmtree(old, ignore_errors=True)
        lab = Lab(home=home, port_base=free_port_base(), log=log, database_url="")
        try:
            lab.up()
        finally:
            lab.down()
        (home / "READY").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
    return home


@contextmanager
def _cache_lock(shared: bool = False):
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
def fresh_lab(static_mode: str = "proxy", log=None):
    """A lab of its own (state folder in /tmp, free ports), seeded baseline, both slots on v1."""
    from .api import Lab
    template = template_home()
    home = Path(tempfile.mkdtemp(prefix="bigfoot-check-"))
    os.chmod(home, 0o755)
    # cp -a keeps owners and modes (PostgreSQL's data folder must stay its service user's)
    with _cache_lock(shared=True):
        if not (template / "READY").exists():  # replaced meanwhile by a newer version
            template = None
        else:
            subprocess.run(["cp", "-a", f"{template}/.", str(home)], check=True)
    if template is None:
        template = template_home()
        with _cache_lock(shared=True):
            subprocess.run(["cp", "-a", f"{template}/.", str(home)], check=True)
    (home / "READY").unlink(missing_ok=True)
    for stale in ("state.json", "lab.lock"):
        (home / stale).unlink(missing_ok=True)
    lab = Lab(home=home, port_base=free_port_base(), static_mode=static_mode, log=log, database_url="")
    try:
        lab.up()
        yield lab
    finally:
        try:
            lab.down()
        finally:
            shutil.rmtree(home, ignore_errors=True)


# ---------------------------------------------------------------- running a plan with traffic
class Scenario:
    """One check run: the learner's work folder, a fresh lab, traffic, the plan."""

    def __init__(self, work_dir: Path, users: int = 4, log=None):
        self.work_dir = Path(work_dir).resolve()
        self.plan = Plan.load(self.work_dir)
        self.users = users
        self._log = log
        self.lab = None
        self.traffic = None       # TrafficResult once the plan ran
        self.step_log: list[str] = []
        self.failed_attempts: list[tuple[str, str]] = []   # (step, why) for steps that were retried

    def log(self, msg: str):
        self.step_log.append(msg)
        if self._log:
            self._log(msg)

    def __enter__(self) -> "Scenario":
        self._ctx = fresh_lab(self.plan.static_mode, log=self.log)
        self.lab = self._ctx.__enter__()
        try:
            if self.plan.seed_sightings:
                self.lab.seed(self.plan.seed_sightings)
            for name, overlays in self.plan.releases.items():
                try:
                    self.lab.build_release(name, [self.work_dir / o for o in overlays])
                except LabError as e:
                    raise CheckFailed(_reason_of(e.message), f"release {name} can't be built: {e.message}",
                                      e.hint) from None
        except BaseException:
            # __exit__ never runs when __enter__ raises: stop this lab here, or it outlives the check
            self._ctx.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
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
                self.failed_attempts.append((_describe_step(step), failure.message))
                self.log(f"  ✗ attempt {attempt} of {retries + 1} failed: {failure.message}; "
                         f"retrying in {delay:g}s")
                time.sleep(delay)

    def _run_step_once(self, step: dict) -> None:
        a = step["action"]
        try:
            if a == "deploy":
                self.lab.deploy(step["release"], step.get("slot"), step.get("strategy", "rolling"),
                                step.get("migrate", "before"))
            elif a == "migrate":
                self.lab.migrate(step["release"], step.get("target"))
            elif a == "manage":
                self.lab.manage(step["release"], *manage_command(step))
            elif a == "static_mode":
                self.lab.set_static_mode(step["mode"])
            elif a == "wait":
                time.sleep(float(step.get("seconds", 1)))
        except LabError as e:
            raise CheckFailed(_reason_of(e.message), f"step `{_describe_step(step)}` failed: {e.message}",
                              e.hint or "see the step's output above") from None

    def run(self, steps: list[dict] | None = None, settle: float = 0.6, during=None, before_step=None,
            traffic_timeout: float | None = None) -> "Scenario":
        """Carry out the plan while traffic flows; `during(scenario)` runs alongside (e.g. a blocker).
        `before_step(scenario, step)` runs just before each step (e.g. starts a slow report);
        `traffic_timeout`: how long a simulated user waits for an answer (default 5 s)."""
        kw = {"timeout": traffic_timeout} if traffic_timeout else {}
        with self.lab.traffic_in_background(users=self.users, settle=settle, **kw) as t:
            time.sleep(0.3)  # steady traffic on the old release first
            for step in (self.plan.steps if steps is None else steps):
                if before_step:
                    before_step(self, step)
                t.mark(_describe_step(step))
                self.run_step(step)
            if during:
                during(self)
        self.traffic = t.result
        return self

    # ---- verdicts ----
    def expect_no_failed_requests(self) -> None:
        errors = self.traffic.errors
        if not errors:
            return
        from .traffic import describe
        first = errors[0]
        kinds = self.traffic.summary()["by_kind"]
        raise CheckFailed(
            first.error,
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

    def serving_releases(self) -> set[str]:
        return {sl["release"] for sl in self.lab.status()["slots"]}

    def release_python(self, release: str, code: str):
        """Run Python inside a release's Django (`manage.py shell -c`), against the lab database.
        Returns the CompletedProcess (returncode, stdout, stderr); never raises."""
        from .releases import build_env
        rel = self.lab.releases.get(release)
        return rel.manage("shell", "-c", code, env=build_env(rel.static, DATABASE_URL=self.lab.db.url()),
                          check=False)

    def expect_migrations_match_models(self, release: str) -> None:
        """`manage.py makemigrations --check --dry-run` on a release: its migrations (the state
        Django believes the database is in) must describe its models exactly."""
        from .releases import build_env
        rel = self.lab.releases.get(release)
        r = rel.manage("makemigrations", "--check", "--dry-run", env=build_env(rel.static, DATABASE_URL=self.lab.db.url()),
                       check=False)
        if r.returncode != 0:
            missing = [ln.strip()[2:] for ln in r.stdout.splitlines() if ln.strip().startswith("- ")]
            raise CheckFailed(
                "migrations out of date",
                f"release {release}'s migrations don't match its models: `manage.py makemigrations` would still "
                f"create a migration ({'; '.join(missing) or (r.stderr.strip().splitlines() or ['?'])[-1]})",
                "Django's migration state must describe the models of the same release: regenerate the "
                "migration, or change only the state with SeparateDatabaseAndState(state_operations=...)")

    def migrations_sql(self, release: str, app: str = "sightings") -> dict[str, dict]:
        """What each of a release's migrations runs in the database (`sqlmigrate`, in one Django
        start): {name: {"atomic": bool, "sql": str}}, in file-name order."""
        import json
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
        r = self.release_python(release, code)
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
        if r.returncode != 0 or line is None:
            raise CheckFailed("migrations broken", f"release {release}'s migrations can't be read: "
                              f"{(r.stderr.strip().splitlines() or ['?'])[-1]}",
                              f"try `manage.py sqlmigrate {app} <name>` in the release")
        return json.loads(line[5:])


LOOK_AT = {
    "404": "a page from one release asked for a static file only the other release has: "
           "how does nginx serve /static/ (static_mode in plan.toml)?",
    "500": "the old release's code met the new schema (or the reverse): which runs first, the migration "
           "or the code, and can the old code live with the new schema?",
    "502": "no app server answered: was a slot stopped while it still had traffic?",
    "timeout": "requests waited on a lock: what does your migration lock, and for how long?",
}


def _reason_of(message: str) -> str:
    m = message.lower()
    if "lock timeout" in m:
        return "lock timeout"
    for key in ("syntax error", "migration conflict", "missing", "import"):
        if key in m:
            return key if key != "missing" else "missing file"
    if "could not start" in m:
        return "release broken"
    return "step failed"


def _describe_step(step: dict) -> str:
    bits = [step["action"]] + [f"{k}={v}" for k, v in step.items() if k != "action"]
    return " ".join(str(b) for b in bits)


def manage_command(step: dict) -> list[str]:
    """A `manage` step's command: a list (["backfill_region", "--batch-size", "200"]) or one string."""
    import shlex
    cmd = step.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
