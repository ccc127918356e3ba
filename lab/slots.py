"""Slots: the two app servers (blue, green), each a gunicorn serving one release on 127.0.0.1."""
from __future__ import annotations

import http.client
import json
import os
import signal
import sys
import time
from pathlib import Path

from . import procs
from .config import MISSING_VALUE_MARKER, LabConfig, lab_secrets
from .errors import LabError
from .kinds import Kind
from .releases import Release

ENTRYPOINT = Path(__file__).resolve().parent / "entrypoint.sh"  # the same one the Docker image runs


def health(port: int, timeout: float = 2.0) -> dict | None:
    """GET /healthz on one slot directly (not through nginx). None if it doesn't answer 200."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            return None
        return json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        return None


def slot_env(cfg: LabConfig, slot_name: str, release: Release, database_url: str) -> dict:
    """The 12-factor environment of a slot; the compose backend sets the same variables."""
    slot = cfg.slot(slot_name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "APP_", "GUNICORN_"))}
    env.update({
        "DATABASE_URL": database_url,
        "SECRET_KEY": lab_secrets(cfg)["secret_key"],
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "APP_RELEASE": release.name,
        "APP_SLOT": slot_name,
        "STATIC_ROOT": str(release.static),
        "GUNICORN_BIND": f"127.0.0.1:{slot.port}",
        "GUNICORN_WORKERS": str(cfg.app["workers"]),
        "GUNICORN_THREADS": str(cfg.app["threads"]),
        "PYTHONUNBUFFERED": "1",
    })
    if cfg.strict_templates:
        env["TEMPLATE_STRING_IF_INVALID"] = MISSING_VALUE_MARKER
    return env


class Slots:
    def __init__(self, cfg: LabConfig):
        self.cfg = cfg

    def pidfile(self, name: str) -> Path:
        return self.cfg.slot_dir(name) / "gunicorn.pid"

    def log(self, name: str) -> Path:
        return self.cfg.slot_dir(name) / "gunicorn.log"

    def pid(self, name: str) -> int | None:
        pid = procs.read_pid(self.pidfile(name))
        return pid if procs.pid_alive(pid) else None

    def status(self, name: str) -> dict:
        slot = self.cfg.slot(name)
        pid = self.pid(name)
        h = health(slot.port, timeout=1.0) if pid else None
        return {"slot": name, "port": slot.port, "pid": pid, "running": bool(pid), "healthy": bool(h),
                "release": h.get("release") if h else None}

    def start(self, name: str, release: Release, database_url: str, timeout: float = 30.0,
              check_port: bool = True) -> float:
        """Start gunicorn on a release and wait until /healthz answers from that release."""
        slot = self.cfg.slot(name)
        if self.pid(name):
            raise LabError(f"slot {name} is already running", "stop it first")
        if check_port:
            procs.require_free_port(slot.port, f"slot {name}")
        t0 = time.monotonic()
        log = self.log(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")  # this run's log only, so an error shown is this run's error
        env = slot_env(self.cfg, name, release, database_url)
        env.update(PYTHON=sys.executable, GUNICORN_PIDFILE=str(self.pidfile(name)))
        proc = procs.spawn(["/bin/sh", str(ENTRYPOINT), str(release.src)], log, env=env, cwd=release.src)
        self.pidfile(name).write_text(f"{proc.pid}\n")

        def ready():
            h = health(slot.port, timeout=1.0)
            return h if h and h.get("release") == release.name else None

        if not procs.wait_for(ready, timeout, proc=proc):
            detail = procs.last_error_line(procs.tail(log, 80))
            self.stop(name)
            raise LabError(f"slot {name} could not start release {release.name}: "
                           f"{detail or 'no answer on /healthz within %ds' % timeout}",
                           f"the full log is {log}", kind=Kind.RELEASE_BROKEN)
        return time.monotonic() - t0

    def replace_idle(self, name: str, release: Release, database_url: str) -> None:
        """Swap the release of a slot that nginx no longer sends requests to: the old server is
        told to quit and the new one starts at the same moment (gunicorn's reuse_port lets both
        hold the port while they overlap), instead of one after the other."""
        old = self.pid(name)
        if old:
            os.kill(old, signal.SIGQUIT)
        self.pidfile(name).unlink(missing_ok=True)
        try:
            self.start(name, release, database_url, check_port=False)
        finally:
            # The caller puts the slot back into nginx only after this returns: by then the old
            # server is gone, so no connection can land on its closing socket.
            procs.terminate(old, sig=signal.SIGQUIT, timeout=15)

    def stop(self, name: str, idle: bool = False) -> None:
        """Graceful by default: gunicorn lets in-flight requests finish (up to graceful_timeout,
        ~2 s even when idle). `idle=True` when the caller KNOWS nothing is in flight (nginx's old
        workers have exited): a quick stop (SIGQUIT) then loses nothing and takes ~0.1 s."""
        sig = signal.SIGQUIT if idle else signal.SIGTERM
        procs.terminate(procs.read_pid(self.pidfile(name)), sig=sig, timeout=15)
        self.pidfile(name).unlink(missing_ok=True)
