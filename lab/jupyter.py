"""JupyterLab for the chapters, owned by the lab like every other process: 127.0.0.1 only,
token-protected (a per-lab random token), opening on the first chapter, pointed at this lab."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from . import procs
from .config import KIT_ROOT, LabConfig, lab_secrets
from .errors import LabError

FIRST_CHAPTER = "notebooks/00_tour.ipynb"


class Jupyter:
    def __init__(self, cfg: LabConfig):
        self.cfg = cfg
        self.dir = cfg.home / "jupyter"
        self.pidfile = self.dir / "jupyter.pid"
        self.log = self.dir / "jupyter.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.jupyter_port}/lab/tree/{FIRST_CHAPTER}?token={lab_secrets(self.cfg)['jupyter_token']}"

    def pid(self) -> int | None:
        pid = procs.read_pid(self.pidfile)
        return pid if procs.pid_alive(pid) else None

    def spawn(self) -> None:
        """Start it without waiting (it takes a few seconds); `wait()` later."""
        if self.pid():
            return
        procs.require_free_port(self.cfg.jupyter_port, "JupyterLab")
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
                f"--port={self.cfg.jupyter_port}", "--port-retries=0",
                f"--IdentityProvider.token={lab_secrets(self.cfg)['jupyter_token']}",
                f"--ServerApp.root_dir={KIT_ROOT}", f"--ServerApp.default_url=/lab/tree/{FIRST_CHAPTER}",
                "--ServerApp.open_browser=False"]
        if os.geteuid() == 0:
            argv.append("--allow-root")
        # the notebooks' `Lab()` must drive THIS lab, whatever folder and ports it uses
        env = dict(os.environ, LAB_HOME=str(self.cfg.home), JUPYTER_CONFIG_DIR=str(self.dir / "config"),
                   JUPYTER_DATA_DIR=str(self.dir / "data"), JUPYTER_RUNTIME_DIR=str(self.dir / "runtime"))
        env.pop("LAB_PORT_BASE", None)
        # JupyterLab's terminals find `lab` like an activated venv's shell does
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
        env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
        proc = procs.spawn(argv, self.log, env=env, cwd=KIT_ROOT)
        self.pidfile.write_text(f"{proc.pid}\n")

    def wait(self, timeout: float = 60) -> None:
        if not procs.wait_for(lambda: procs.port_in_use(self.cfg.jupyter_port) or not self.pid(), timeout, 0.1) \
                or not self.pid():
            raise LabError(f"JupyterLab did not start: {procs.last_error_line(procs.tail(self.log, 60)) or 'no answer'}",
                           f"see {self.log}")

    def stop(self) -> None:
        procs.terminate(self.pid(), sig=signal.SIGTERM, timeout=10)
        self.pidfile.unlink(missing_ok=True)
