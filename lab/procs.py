"""Owning the lifetime of the lab's processes: pid files, process groups, ports, clean-up."""
from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from .errors import LabError
from .kinds import Kind


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def spawn(argv: list[str], log: Path, env: dict | None = None, cwd: Path | None = None,
          user: str | None = None) -> subprocess.Popen:
    """Start a long-lived server in its own session (process group) so the lab, not the shell
    that ran `lab up`, owns it: closing the terminal doesn't kill it, `lab down` does."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True, user=user)


def terminate(pid: int | None, sig=signal.SIGTERM, timeout: float = 15.0) -> None:
    """Ask a server to stop (gracefully), wait, then kill its whole process group if it lingers."""
    if not pid_alive(pid):
        return
    try:
        children = psutil.Process(pid).children(recursive=True)
        os.kill(pid, sig)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return
    # Our own check, not psutil.wait_procs: a server reparented to an init that doesn't reap
    # stays a zombie, which psutil counts as alive for seconds; we count it as gone.
    if not wait_for(lambda: not pid_alive(pid), timeout, interval=0.01):
        _kill_group(pid)
    wait_for(lambda: not any(pid_alive(c.pid) for c in children), 3, interval=0.01)
    for c in children:
        if pid_alive(c.pid):
            try:
                c.kill()
            except psutil.NoSuchProcess:
                pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def who_listens(port: int) -> str:
    """Best effort: 'python3 (pid 123)' for the process listening on a port."""
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
                return f"{psutil.Process(c.pid).name()} (pid {c.pid})"
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        pass
    return "another program"


def require_free_port(port: int, what: str) -> None:
    if port_in_use(port):
        raise LabError(
            f"port {port} (for {what}) is already in use by {who_listens(port)}",
            "stop that program, or start the lab on other ports: `lab up --port-base 9000`",
            kind=Kind.PORT_IN_USE,
        )


def wait_for(check, timeout: float, interval: float = 0.05, proc: subprocess.Popen | None = None):
    """Poll `check()` until it returns a truthy value; stop early if `proc` died."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            return None
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def last_error_line(log_text: str) -> str | None:
    """The line of a Python traceback that says what went wrong, e.g.
    'SyntaxError: invalid syntax (models.py, line 12)'."""
    lines = [l.strip() for l in log_text.splitlines() if l.strip()]
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Conflict")) and " " not in head:
            # A SyntaxError's file and line are printed above it: `File ".../models.py", line 12`.
            where = next((l for l in reversed(lines[:i]) if l.startswith('File "')), None)
            if where:
                try:
                    fname = where.split('"')[1]
                    lineno = where.split("line ")[1].split(",")[0]
                    return f"{line} ({_short(fname)}, line {lineno})"
                except IndexError:
                    pass
            return line
    return None


def _short(path: str) -> str:
    """releases/v2/src/sightings/models.py -> sightings/models.py: name the file the learner edits."""
    parts = Path(path).parts
    if "src" in parts:
        return str(Path(*parts[len(parts) - parts[::-1].index("src"):]))
    return path


# ---------------------------------------------------------------- signals and closed pipes
def raise_on_termination() -> None:
    """SIGTERM and SIGHUP raise Interrupted in the main thread, so clean-up code runs (by default
    Python dies on them at once, and a check's nginx, gunicorns and PostgreSQL outlive it)."""
    import signal as _signal
    from .errors import Interrupted

    def handler(signum, frame):
        raise Interrupted(_signal.Signals(signum).name, 128 + signum)

    for sig in (_signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, handler)
    # Ctrl-C is KeyboardInterrupt only if the parent left SIGINT alone: a program started in the
    # background of a non-interactive shell (a CI script, `make … &`, a supervisor) inherits SIGINT
    # *ignored*, and Python then keeps ignoring it, so a `kill -INT` (or the Ctrl-C of a terminal
    # that shares the process group) was swallowed and the check ran on with its lab up. Every
    # signal that asks us to stop must stop what we started.
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)


class _PipeSafeStream:
    """stdout that turns a closed pipe into one Interrupted, then quietly writes to /dev/null, so
    the clean-up that follows can still log without failing half-way."""

    def __init__(self, stream):
        self._stream, self._closed = stream, False

    def write(self, s):
        try:
            return self._stream.write(s)
        except BrokenPipeError:
            self._to_devnull()
            from .errors import Interrupted
            raise Interrupted("closed pipe", 141) from None

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self):
        if not self._closed:
            self._closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def protect_stdout() -> None:
    import sys
    if not isinstance(sys.stdout, _PipeSafeStream):
        sys.stdout = _PipeSafeStream(sys.stdout)


class deferred_signals:
    """Clean-up that must finish: Ctrl-C / SIGTERM arriving meanwhile wait until the block ends
    (then act as usual). Only the main thread can handle signals; elsewhere this does nothing."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __enter__(self):
        import signal as _signal
        import threading
        self.pending, self.saved = [], {}
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.SIGNALS:
            sig = getattr(_signal, name)
            self.saved[sig] = _signal.signal(sig, lambda signum, frame: self.pending.append(signum))
        return self

    def __exit__(self, *exc):
        import signal as _signal
        for sig, old in self.saved.items():
            _signal.signal(sig, old)
        if self.pending and exc[0] is None:
            os.kill(os.getpid(), self.pending[0])   # now handled as usual (KeyboardInterrupt, Interrupted)
        return False
