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
    out += tools()
    ports = [(cfg.proxy_port, "nginx"), (cfg.dashboard_port, "the dashboard")] + [(s.port, f"slot {s.name}") for s in cfg.slots]
    if not cfg.database_url:
        ports.append((cfg.db_port, "PostgreSQL"))
    ports.append((cfg.jupyter_port, "JupyterLab"))    # `make lab` starts it: a taken 8888 is the classic
    other = cfg.port_base + 100
    for port, what in ports:
        ours = (running or {}).get(port, False)
        free = ours or not procs.port_in_use(port)
        out.append((free, f"port {port} for {what} " + ("(used by this lab)" if ours else "is free" if free else
                                                       f"is taken by {procs.who_listens(port)}"),
                    f"stop that program, or use other ports: `lab doctor --port-base {other}` to check them, "
                    f"then `make lab PORT_BASE={other}` (or `lab up --jupyter --port-base {other}`)"))
    target = cfg.home if cfg.home.exists() else KIT_ROOT
    free_gb = shutil.disk_usage(target).free / 2**30
    out.append((free_gb >= 1.0, f"{free_gb:.1f} GB free disk at {target}", "free at least 1 GB (the 1M-row chapters use ~0.5 GB)"))
    wheelhouse = KIT_ROOT / "wheelhouse"
    if wheelhouse.is_dir():
        n = len(list(wheelhouse.glob("*.whl")))
        out.append((n > 0, f"offline wheelhouse: {n} wheels in {wheelhouse}", "rebuild it: `make wheelhouse`"))
    return out


# Programs the workshop runs from the shell: the kit is a git checkout (`lab reset NN` restores a
# starter with git) and its verbs are make targets (`make lab`, `make down`, `make docs`).
TOOLS = {"git": "`lab reset NN` restores an exercise's starter from git",
         "make": "`make lab`, `make down` and `make docs` are the workshop's commands"}
INSTALL_TOOLS = ("install it: macOS `xcode-select --install`; Debian/Ubuntu `sudo apt install git make`; "
                 "Fedora `sudo dnf install git make`")


def tools() -> list[tuple[bool, str, str]]:
    out = []
    for name, why in TOOLS.items():
        path = shutil.which(name)
        if not path:
            out.append((False, f"{name} is not on PATH ({why})", INSTALL_TOOLS))
            continue
        try:
            r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
            version = (r.stdout.strip().splitlines() or [name])[0]
            out.append((r.returncode == 0, f"{version} ({path})", f"{path} does not run: reinstall {name}"))
        except (OSError, subprocess.SubprocessError) as e:
            out.append((False, f"{name} at {path} does not run: {e}", INSTALL_TOOLS))
    return out


def report(cfg: LabConfig, running=None, printer=print) -> bool:
    results = checks(cfg, running)
    for ok, what, todo in results:
        printer(f"  {'✓' if ok else '✗'} {what}" + ("" if ok else f"  → {todo}"))
    bad = sum(not ok for ok, _, _ in results)
    printer("ready for the workshop" if not bad else f"{bad} problem(s) to fix before the workshop")
    return not bad


def smoke_run() -> tuple[bool, str]:
    """The whole lab for real, in a throwaway folder on free ports: PostgreSQL, both slots, nginx,
    one page through the proxy. What `lab doctor` can't see (a firewall, a broken wheel, a slow
    disk) shows here."""
    import time
    import urllib.request

    from .errors import LabError
    from .exercises import fresh_lab
    t0 = time.monotonic()
    try:
        with fresh_lab(static_mode="shared") as lab:
            started = time.monotonic() - t0
            with urllib.request.urlopen(f"http://127.0.0.1:{lab.cfg.proxy_port}/", timeout=15) as r:
                release = r.headers.get("X-App-Release", "?")
                ok = r.status == 200
        return ok, (f"a throwaway lab (PostgreSQL, 2 gunicorn slots, nginx) started in {started:.1f} s "
                    f"and served the home page from release {release}")
    except LabError as e:
        return False, f"a throwaway lab did not start: {e.message}" + (f" ({e.hint})" if e.hint else "")
    except Exception as e:  # noqa: BLE001 - the report says what broke, in one line
        return False, f"a throwaway lab did not start: {type(e).__name__}: {e}"


def _anonymous(text: str) -> str:
    """The report is sent to the instructor: no home folder, user or host names in it."""
    import getpass
    import socket
    home = str(Path.home())
    text = text.replace(home, "~") if home not in ("/", "") else text
    for secret in {getpass.getuser(), socket.gethostname()} - {"", "root"}:
        text = text.replace(secret, "<…>")
    return text


def write_report(cfg: LabConfig, path: Path, running=None, printer=print) -> bool:
    """`lab doctor --report`: the checks plus a real start of the lab, as a short text file a learner
    can send to the instructor before the workshop (markdown, no personal paths or names)."""
    import platform
    import time
    results = checks(cfg, running)
    printer("starting a throwaway lab to be sure (about 10 s) …")
    smoke_ok, smoke = smoke_run()
    results.append((smoke_ok, smoke, "send this report to the instructor as it is"))
    try:
        commit = subprocess.run(["git", "-C", str(KIT_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "not a git checkout"
    except (OSError, subprocess.SubprocessError):
        commit = "git not available"
    bad = [what for ok, what, _ in results if not ok]
    lines = ["# Bigfoot workshop: readiness report", "",
             f"- verdict: {'READY' if not bad else f'NOT READY ({len(bad)} problem(s))'}",
             f"- when: {time.strftime('%Y-%m-%d %H:%M %Z')}",
             f"- machine: {platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}",
             f"- kit: {commit}", "", "| | check | what to do |", "|---|---|---|"]
    lines += [f"| {'✓' if ok else '✗'} | {what} | {'' if ok else todo} |" for ok, what, todo in results]
    path.write_text(_anonymous("\n".join(lines)) + "\n")
    for ok, what, todo in results:
        printer(f"  {'✓' if ok else '✗'} {what}" + ("" if ok else f"  → {todo}"))
    printer(f"{'ready for the workshop' if not bad else f'{len(bad)} problem(s) to fix before the workshop'}; "
            f"report written to {path} (send it to your instructor)")
    return not bad
