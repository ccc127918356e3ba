"""The lab's Python API: the same verbs as the CLI, for notebooks, exercise checks and tests.

    from lab import Lab
    lab = Lab()                      # the learner's lab in .lab/ on ports 8000-8003
    lab.up()
    lab.build_release("v2", overlays=["exercises/01_static_assets/app"])
    with lab.traffic_in_background() as traffic:
        lab.deploy("v2", slot="green")
    print(traffic.result.summary())
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from . import lock, procs
from .backend import LocalBackend
from .config import STATIC_MODES, LabConfig, lab_secrets, load_config, read_json, write_json
from .dashboard import Dashboard, record_event
from .database import Database
from .deploy import roll_slot, run_deploy
from .deploy import validate as validate_deploy
from .errors import LabError
from .jupyter import Jupyter
from .proxy import Proxy
from .releases import Release, Releases, build_env
from .slots import Slots



@dataclass
class Page:
    status: int
    headers: dict
    text: str


class Lab:
    def __init__(self, home: str | Path | None = None, port_base: int | None = None,
                 static_mode: str | None = None, log=print, database_url: str | None = None,
                 strict_templates: bool = False):
        self.cfg: LabConfig = load_config(home, port_base, static_mode, database_url)
        self.cfg.strict_templates = strict_templates   # a check's lab (config.MISSING_VALUE_MARKER)
        self.db = Database(self.cfg)
        self.releases = Releases(self.cfg)
        self.slots = Slots(self.cfg)
        self.proxy = Proxy(self.cfg)
        self.jupyter = Jupyter(self.cfg)
        self.dashboard = Dashboard(self.cfg)
        self._log = log
        self._lock_depth = 0
        self._watchers: list = []
        self.replica_runs: list = []   # the last deploy's replicas (lab.backend.ReplicaRun), with `on_start`

    # ------------------------------------------------------------------ helpers
    @property
    def url(self) -> str:
        return self.cfg.url

    def log(self, msg: str) -> None:
        if self._log:
            self._log(msg)

    @contextmanager
    def step(self, what: str):
        """Print what is being done and how long it took: every step is visible."""
        t0 = time.monotonic()
        self.log(f"→ {what} …")
        record_event(self.cfg.events_file, what)   # a marker on the live dashboard
        yield
        self.log(f"  ✓ {what} ({time.monotonic() - t0:.2f}s)")

    @contextmanager
    def watched(self, on_change):
        """While the body runs, `on_change(when)` is called right after every change that old or new
        code can meet: each migration and each slot that switched release (a check's visitor looks
        at the site there: lab/probes.py). While watched, a migrate applies the app's migrations one
        at a time, because in production each commits on its own and the old code serves between
        two of them (a default dropped by one and added back by the next is a window of failures)."""
        self._watchers.append(on_change)
        try:
            yield
        finally:
            self._watchers.remove(on_change)

    def _changed(self, when: str) -> None:
        for on_change in list(self._watchers):
            on_change(when)

    @contextmanager
    def _locked(self, what: str):
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with lock.exclusive(self.cfg.home, what):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

    @property
    def state(self) -> dict:
        st = read_json(self.cfg.state_file, {})
        st.setdefault("slots", {})
        for s in self.cfg.slots:
            st["slots"].setdefault(s.name, {"release": self.cfg.app["baseline_release"], "live": True})
        return st

    def _save_state(self, st: dict) -> None:
        write_json(self.cfg.state_file, st)

    def _set_slot(self, name: str, **fields) -> None:
        st = self.state
        st["slots"][name].update(fields)
        self._save_state(st)

    def _live(self) -> dict[str, bool]:
        return {n: s["live"] for n, s in self.state["slots"].items()}

    def _require_home(self) -> None:
        if not self.cfg.home.exists():
            raise LabError(f"the lab's state folder {self.cfg.home} is missing (deleted?)",
                           "run `lab down` to stop what is left, then `lab up` to rebuild it")

    def _refuse_if_orphaned(self) -> None:
        """The state folder was deleted under a running lab: its processes still hold the ports.
        Starting again would half-work; say what happened instead."""
        if not self.cfg.home.exists() and self.processes():
            raise LabError(f"the lab's state folder {self.cfg.home} was deleted while the lab was running",
                           "run `lab down` to stop what is left, then `lab up` to start afresh")

    # ------------------------------------------------------------------ up / down
    def up(self, jupyter: bool = False) -> dict:
        """Start everything that is not running. Safe to run twice; heals a crashed part.
        `jupyter=True` also starts JupyterLab on the chapters (the workshop's one command)."""
        self._refuse_if_orphaned()
        with self._locked("up"):
            t0 = time.monotonic()
            self.cfg.save()
            lab_secrets(self.cfg)
            self._check_ports_before_up()
            if jupyter:
                self.jupyter.spawn()  # starts in the background while the rest comes up
            self.dashboard.spawn()    # so does the dashboard
            baseline = self.cfg.app["baseline_release"]
            # The database and the first release don't depend on each other: do both at once.
            with ThreadPoolExecutor(2) as pool:
                db_job = pool.submit(self._db_up)
                rel_job = pool.submit(self._ensure_release, baseline)
                rel_job.result()
                db_job.result()
            self._bootstrap_database_if_needed(self.releases.get(baseline))
            st = self.state
            down = [n for n in st["slots"] if not self.slots.pid(n)]
            for n in down:
                self._publish_static(self.releases.get(st["slots"][n]["release"]))
            if down:
                with self.step(f"start slot{'s' if len(down) > 1 else ''} {', '.join(down)}"):
                    with ThreadPoolExecutor(len(down)) as pool:
                        jobs = [pool.submit(self.slots.start, n, self.releases.get(st["slots"][n]["release"]),
                                            self.db.url()) for n in down]
                        for j in jobs:
                            j.result()
            with self.step(f"nginx on {self.url} (static: {self.cfg.static_mode})"):
                self.proxy.start(self._live())
            if jupyter:
                with self.step(f"JupyterLab on 127.0.0.1:{self.cfg.jupyter_port}"):
                    self.jupyter.wait()
            self.dashboard.wait()
            self.log(f"lab is up in {time.monotonic() - t0:.1f}s: {self.url}  "
                     f"(blue {st['slots']['blue']['release']}, green {st['slots']['green']['release']})")
            return self.status()

    def _check_ports_before_up(self) -> None:
        """Fail before starting anything: a busy port is one clear line, not a half-started lab."""
        checks = [(self.cfg.proxy_port, "nginx", self.proxy.pid()),
                  (self.cfg.dashboard_port, "the dashboard", self.dashboard.pid())]
        if self.db.embedded:
            checks.append((self.cfg.db_port, "PostgreSQL", self.db.running()))
        checks += [(s.port, f"slot {s.name}", self.slots.pid(s.name)) for s in self.cfg.slots]
        for port, what, ours_running in checks:
            if not ours_running:
                procs.require_free_port(port, what)

    def up_database(self) -> None:
        """Start the lab's PostgreSQL only (initialised on the first run), nothing else."""
        with self._locked("up"):
            self.cfg.save()
            self._db_up()

    def _db_up(self) -> None:
        if self.db.embedded and not self.db.initialized:
            with self.step("initialise PostgreSQL (first run only)"):
                self.db.init()
        if not self.db.running():
            with self.step(f"start PostgreSQL on 127.0.0.1:{self.cfg.db_port}" if self.db.embedded
                           else "check the external PostgreSQL (DATABASE_URL)"):
                self.db.start()

    def _ensure_release(self, name: str) -> Release:
        if name in self.releases.names():
            return self.releases.get(name)
        with self.step(f"build release {name} from bigfoot_app/ (first run only)"):
            return self.releases.build(name, log=lambda m: None)

    def _bootstrap_database_if_needed(self, baseline: Release) -> None:
        created = self.db.ensure_app_database()
        if not created and self.db.has_baseline():
            return
        n = self.cfg.app["seed_sightings"]
        secrets = lab_secrets(self.cfg)
        with self.step(f"migrate, seed {n:,} sightings, create admin user; save as baseline"):
            # one Django process for all three: each start costs ~0.4s
            code = ("import django; django.setup()\n"
                    "from django.core.management import call_command as c\n"
                    "c('migrate', verbosity=0)\n"
                    f"c('seed', sightings={n}, reset=True)\n"
                    "from django.contrib.auth import get_user_model as U\n"
                    "u = U().objects.filter(username='admin').first() or U()(username='admin', is_staff=True, is_superuser=True)\n"
                    "import os; u.set_password(os.environ['ADMIN_PASSWORD']); u.save()\n")
            r = subprocess.run([sys.executable, "-c", code], cwd=baseline.src, text=True, capture_output=True,
                               env=build_env(baseline.static, DATABASE_URL=self.db.url(),
                                             DJANGO_SETTINGS_MODULE="bigfoot.settings",
                                             ADMIN_PASSWORD=secrets["admin_password"]))
            if r.returncode != 0:
                raise LabError(f"setting up the database failed: {procs.last_error_line(r.stderr) or r.stderr[-300:]}")
            self.db.save_baseline()
        self.log(f"  admin login: admin / {secrets['admin_password']}  (shown once; kept in {self.cfg.secrets_file})")

    def down(self) -> int:
        """Stop everything; returns how many stray lab processes had to be killed at the end."""
        with self._locked("down"):
            if self.jupyter.pid():
                with self.step("stop JupyterLab"):
                    self.jupyter.stop()
            self.dashboard.stop()
            with self.step("stop nginx"):
                self.proxy.stop()
            with self.step("stop slots"):
                # nginx is gone (its workers finished their requests first): nothing is in flight,
                # so the slots may stop at once
                idle = not self.proxy.pid()
                with ThreadPoolExecutor(len(self.cfg.slots)) as pool:
                    list(pool.map(lambda n: self.slots.stop(n, idle=idle), [s.name for s in self.cfg.slots]))
            if self.db.embedded:
                with self.step("stop PostgreSQL"):
                    self.db.stop()
            # Leftovers (a state folder deleted under a running lab leaves no pid files): killed until
            # none is found. A gunicorn master killed while it forks a worker leaves that new worker,
            # which no earlier listing had, so one round isn't enough.
            killed: set[int] = set()
            deadline = time.monotonic() + 10
            strays = self.processes()
            while strays and time.monotonic() < deadline:
                for p in strays:
                    try:
                        p.kill()
                    except psutil.NoSuchProcess:
                        pass
                killed |= {p.pid for p in strays}
                psutil.wait_procs(strays, timeout=1)
                strays = self.processes()
            if killed:
                self.log(f"  killed {len(killed)} leftover process(es)")
            self.log("lab is down")
            return len(killed)

    def processes(self) -> list[psutil.Process]:
        """Every process of THIS lab: the ones in its pid files, any process with its state folder
        on the command line (also after the pid files are gone), and all their children."""
        home = str(self.cfg.home) + os.sep
        me = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
        roots = {pid for pid in (self.proxy.pid(), self.db.pid() if self.db.embedded else None,
                                 self.jupyter.pid(), self.dashboard.pid(), *(self.slots.pid(s.name) for s in self.cfg.slots)) if pid}
        for p in psutil.process_iter(["cmdline"]):
            try:
                if home in " ".join(p.info["cmdline"] or []):
                    roots.add(p.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        found: dict[int, psutil.Process] = {}
        for pid in roots - me:
            try:
                p = psutil.Process(pid)
                found[pid] = p
                for c in p.children(recursive=True):
                    found[c.pid] = c
            except psutil.NoSuchProcess:
                continue
        alive = []
        for p in found.values():
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        return alive

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        self._refuse_if_orphaned()
        st = self.state
        slots = []
        for s in self.cfg.slots:
            info = self.slots.status(s.name)
            info.update(deployed_release=st["slots"][s.name]["release"], live=st["slots"][s.name]["live"])
            slots.append(info)
        pg_running = self.db.running()
        return {
            "url": self.url,
            "home": str(self.cfg.home),
            "proxy": {"running": bool(self.proxy.pid()), "pid": self.proxy.pid(), "port": self.cfg.proxy_port,
                      "static_mode": self.cfg.static_mode},
            "database": {"running": pg_running, "embedded": self.db.embedded,
                         "port": self.cfg.db_port if self.db.embedded else None,
                         "pid": self.db.pid() if self.db.embedded and pg_running else None},
            "slots": slots,
            "jupyter": {"running": bool(self.jupyter.pid()), "port": self.cfg.jupyter_port,
                        "url": self.jupyter.url if self.jupyter.pid() else None},
            "dashboard": {"running": bool(self.dashboard.pid()), "port": self.cfg.dashboard_port,
                          "url": self.dashboard.url},
            "releases": self.releases.names(),
        }

    # ------------------------------------------------------------------ releases and static
    def build_release(self, name: str, overlays=(), force: bool = False) -> Release:
        with self._locked("release build"):
            if force:
                serving = [n for n, s in self.state["slots"].items() if s["release"] == name and self.slots.pid(n)]
                if serving:
                    raise LabError(f"release {name} is running on slot {', '.join(serving)}; it can't be rebuilt",
                                   "deploy another release there first, or pick a new name")
            with self.step(f"build release {name}" + (f" with {len(overlays)} overlay(s)" if overlays else "")):
                return self.releases.build(name, list(overlays), force=force, log=self.log)

    def _publish_static(self, release: Release) -> None:
        """Add a release's static files to the shared folder; never delete: an old page still in
        someone's browser (or served by the other slot) keeps finding its hashed files."""
        dest = self.cfg.shared_static_dir
        for f in release.static.rglob("*"):
            if f.is_file():
                target = dest / f.relative_to(release.static)
                if not target.exists() or f.name == "staticfiles.json":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, target)

    def set_static_mode(self, mode: str) -> None:
        with self._locked("static-mode"):
            if mode not in STATIC_MODES:
                raise LabError(f"unknown static mode {mode!r}", f"choose one of {', '.join(STATIC_MODES)}")
            from .proxy import static_bucket_url
            static_bucket_url(mode)     # "bucket" without a bucket server: refused before it is saved
            self.cfg.static_mode = mode  # one config object, shared by the proxy and everything else
            self.cfg.save()
            if self.proxy.pid():
                with self.step(f"nginx: static files now served in {mode!r} mode"):
                    self.proxy.reload(self._live())

    # ------------------------------------------------------------------ database verbs
    def unapplied_migrations(self, release: str) -> list[str]:
        """The release's migration files not yet recorded in django_migrations. Read straight from
        the files and the table: no Django start-up (~1 s), so a deploy without schema changes
        doesn't pay for one."""
        rel = self.releases.get(release)
        files = {(f.parent.parent.name, f.stem) for f in rel.src.glob("*/migrations/[0-9]*.py")}
        import psycopg
        try:
            applied = set(self.sql("select app, name from django_migrations"))
        except psycopg.errors.UndefinedTable:   # never migrated: everything is unapplied
            applied = set()
        return sorted(f"{a}.{n}" for a, n in files - applied)

    def migrate(self, release: str, target: str | None = None, only_if_needed: bool = False) -> float:
        with self._locked("migrate"):
            pending = self.unapplied_migrations(release) if (only_if_needed or self._watchers) and not target else []
            if only_if_needed and not target and not pending:
                self.log(f"→ migrate: release {release} has no unapplied migrations, nothing to do")
                return 0.0
            took = 0.0
            if len(pending) > 1 and self._watchers and all(m.startswith("sightings.") for m in pending):
                for m in pending[:-1]:
                    name = m.split(".", 1)[1]
                    took += self._migrate_once(release, f"sightings:{name}")
                    self._changed(f"right after release {release}'s migration {name} ran (before the next one)")
            took += self._migrate_once(release, target)
            self._changed(f"right after release {release}'s migrations ran")
            return took

    def _migrate_once(self, release: str, target: str | None) -> float:
        """One `manage.py migrate` (to `target`, or all the way), its Applying lines in the log."""
        rel = self.releases.get(release)
        args = ["migrate", "--noinput"]
        if target:
            app, _, name = target.rpartition(":")
            args += [app or "sightings", name]
        t0 = time.monotonic()
        with self.step(f"migrate the database with release {release}" + (f" to {target}" if target else "")):
            r = rel.manage(*args, env=build_env(rel.static, DATABASE_URL=self.db.url()), what="migrate")
            for line in r.stdout.splitlines():
                if line.strip().startswith(("Applying", "Unapplying")):
                    self.log("    " + line.strip())
        return time.monotonic() - t0

    def seed(self, sightings: int, comments: int | None = None) -> None:
        with self._locked("seed"):
            rel = self.releases.get(self.cfg.app["baseline_release"])
            args = ["seed", "--sightings", str(sightings), "--reset"]
            if comments is not None:
                args += ["--comments", str(comments)]
            with self.step(f"seed {sightings:,} sightings"):
                r = rel.manage(*args, env=build_env(rel.static, DATABASE_URL=self.db.url()), what="seed")
                if r.stdout.strip():
                    self.log("    " + r.stdout.strip().splitlines()[-1])

    def manage(self, release: str, *args: str) -> str:
        """Run one of a release's management commands against the lab database (e.g. a backfill)."""
        rel = self.releases.get(release)
        with self.step(f"manage.py {' '.join(args)} (release {release})"):
            r = rel.manage(*args, env=build_env(rel.static, DATABASE_URL=self.db.url()))
            for line in r.stdout.strip().splitlines()[-5:]:
                self.log("    " + line)
            return r.stdout

    def manage_raw(self, release: str, *args: str):
        """A release's management command with its output and exit code as they are (for `lab manage`)."""
        rel = self.releases.get(release)
        return rel.manage(*args, env=build_env(rel.static, DATABASE_URL=self.db.url()), check=False)

    def sql(self, query: str, params=None) -> list[tuple]:
        """Run SQL on the app database as the superuser (for notebooks: pg_locks, sizes, timings)."""
        return self.db.sql(query, params, dbname=self.db.db_name)

    def reset(self) -> None:
        """Back to the seeded baseline: database from its template copy, both slots on the baseline
        release. Releases you built are kept."""
        with self._locked("reset"):
            self._require_home()
            baseline = self.releases.get(self.cfg.app["baseline_release"])
            with self.step("restore the database from the baseline copy"):
                self.db.restore_baseline()
            self._publish_static(baseline)
            for s in self.cfg.slots:
                cur = self.state["slots"][s.name]
                if cur["release"] != baseline.name or not self.slots.pid(s.name) or not cur["live"]:
                    self._replace_slot(s.name, baseline)

    # ------------------------------------------------------------------ deploys
    @property
    def backend(self) -> LocalBackend:
        """This lab as a deploy target: the operations lab/deploy.py's strategies are written against."""
        return LocalBackend(self)

    def _replace_slot(self, name: str, release: Release, drain: bool = True) -> None:
        """Take a slot out of nginx, restart it on `release`, health-check it, put it back
        (lab/deploy.py: roll_slot). The caller has published the release's static files already.
        Every rolling step of a deploy passes here: a watcher (`watched`) is told once it's back."""
        roll_slot(self.backend, name, release.name, drain)
        self._changed(f"right after slot {name} switched to release {release.name}")

    def deploy(self, release: str, slot: str | None = None, strategy: str = "rolling",
               migrate: str = "before", on_start: list[str] | None = None, replicas: int | None = None) -> float:
        """`on_start`: a management command every replica of the release runs as it starts, all at
        once (`replicas` of them; default one per slot deployed), before any slot changes."""
        validate_deploy(strategy, migrate)
        with self._locked("deploy"):
            self._require_home()
            self.releases.get(release)
            return run_deploy(self.backend, release, slot, strategy, migrate, on_start, replicas)

    # ------------------------------------------------------------------ traffic
    def get(self, path: str = "/", timeout: float = 10.0) -> "Page":
        """One GET through nginx, like a browser's address bar."""
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.cfg.proxy_port, timeout=timeout)
        try:
            c.request("GET", path, headers={"Host": f"127.0.0.1:{self.cfg.proxy_port}"})
            r = c.getresponse()
            return Page(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace"))
        finally:
            c.close()

    def traffic(self, duration: float = 5.0, users: int = 4, **kw):
        from .traffic import run_traffic
        return run_traffic(self.url, duration=duration, users=users, upstreams=self._upstreams(), **kw)

    def _upstreams(self) -> dict[str, str]:
        return {f"127.0.0.1:{s.port}": s.name for s in self.cfg.slots}

    @contextmanager
    def traffic_in_background(self, users: int = 4, settle: float = 0.5, **kw):
        """Traffic runs while the body (e.g. a deploy) runs, and for `settle` seconds after."""
        from .traffic import TrafficRun
        run = TrafficRun(self.url, users=users, upstreams=self._upstreams(), **kw)
        run.start()
        try:
            yield run
            time.sleep(settle)
        finally:
            run.stop()
