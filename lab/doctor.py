"""`lab doctor`: is this machine ready for the workshop? Each line says what is wrong and what to do."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import procs
from .config import KIT_ROOT, LabConfig


def checks(cfg: LabConfig, running: dict[int, bool] | None = None) -> list[tuple[bool, str, str]]:
    """(ok, what, what to do) for each thing the lab needs."""
    out: list[tuple[bool, str, str]] = []
    v = sys.version_info
    out.append((v >= (3, 11), f"Python {v.major}.{v.minor}.{v.micro}", "install Python 3.11 or newer"))
    for mod, pip_name in (("django", "Django"), ("gunicorn", "gunicorn"), ("psycopg", "psycopg"),
                          ("whitenoise", "whitenoise"), ("matplotlib", "matplotlib")):
        try:
            m = __import__(mod)
            out.append((True, f"{pip_name} {getattr(m, '__version__', '')}".strip(), ""))
        except ImportError:
            out.append((False, f"{pip_name} is not installed", "run `make install`"))
    try:
        from .proxy import nginx_binary
        r = subprocess.run([str(nginx_binary()), "-v"], capture_output=True, text=True, timeout=10)
        out.append((r.returncode == 0, r.stderr.strip() or "nginx", "reinstall: `make install`"))
    except Exception as e:  # noqa: BLE001 - any failure here is reported as one line
        out.append((False, f"nginx: {e}", "run `make install`"))
    if not cfg.database_url:
        try:
            from .database import pg_bin_dir
            r = subprocess.run([str(pg_bin_dir() / "postgres"), "--version"], capture_output=True, text=True, timeout=10)
            out.append((r.returncode == 0, r.stdout.strip() or "postgres", "reinstall: `make install`"))
        except Exception as e:  # noqa: BLE001
            out.append((False, f"PostgreSQL: {e}", "run `make install`, or set DATABASE_URL to your own server"))
        if os.geteuid() == 0:
            ok = shutil.which("useradd") is not None
            out.append((ok, "running as root: PostgreSQL will run as system user 'labpg'",
                        "install `useradd` (package passwd) or run the lab as a normal user"))
    else:
        out.append((True, "using the external PostgreSQL from DATABASE_URL", ""))
    ports = [(cfg.proxy_port, "nginx")] + [(s.port, f"slot {s.name}") for s in cfg.slots]
    if not cfg.database_url:
        ports.append((cfg.db_port, "PostgreSQL"))
    for port, what in ports:
        ours = (running or {}).get(port, False)
        free = ours or not procs.port_in_use(port)
        out.append((free, f"port {port} for {what} " + ("(used by this lab)" if ours else "is free" if free else
                                                       f"is taken by {procs.who_listens(port)}"),
                    f"stop that program, or use other ports: `lab up --port-base {cfg.port_base + 100}`"))
    target = cfg.home if cfg.home.exists() else KIT_ROOT
    free_gb = shutil.disk_usage(target).free / 2**30
    out.append((free_gb >= 1.0, f"{free_gb:.1f} GB free disk at {target}", "free at least 1 GB (the 1M-row chapters use ~0.5 GB)"))
    wheelhouse = KIT_ROOT / "wheelhouse"
    if wheelhouse.is_dir():
        n = len(list(wheelhouse.glob("*.whl")))
        out.append((n > 0, f"offline wheelhouse: {n} wheels in {wheelhouse}", "rebuild it: `make wheelhouse`"))
    return out


def report(cfg: LabConfig, running=None, printer=print) -> bool:
    results = checks(cfg, running)
    for ok, what, todo in results:
        printer(f"  {'✓' if ok else '✗'} {what}" + ("" if ok else f"  → {todo}"))
    bad = sum(not ok for ok, _, _ in results)
    printer("ready for the workshop" if not bad else f"{bad} problem(s) to fix before the workshop")
    return not bad
