"""What a backend offers the deploy engine (lab/deploy.py): a small set of operations, each one
real step of a deploy. The strategies are written once, against these; a backend only says how
it does each step with its own parts.

- LocalBackend (here): the local lab's processes, via lab/api.py's Lab: gunicorn slots, nginx
  reloaded with SIGHUP, the state file, the release's manage.py.
- ComposeOps (lab/compose.py): the same steps as `docker compose` commands.

The operations, and what each promises:

  slots()                 every slot: the release deployed on it and whether nginx sends it requests
  serves(slot, release)   the slot answers /healthz from that release right now
  has_release(release)    the release exists (built), so a slot can go back to it
  require_ready(release)  refuse (LabError) when a deploy of `release` can't start
  publish_static(release) the release's hashed files go to the shared static folder, never deleting
  migrate(release)        the database gets the release's migrations
  switch(live, drain)     nginx's rotation becomes exactly `live` (graceful reload); recorded.
                          drain=True: returns once nginx's old workers have finished their
                          requests, and says True if that is known (then nothing talks to a slot
                          that just left the rotation: it is idle)
  start(slot, release)    a stopped slot runs `release`; returns once /healthz answers from it
  restart(slot, release, idle)  a running slot runs `release` instead (same promise as start);
                          idle=True: the caller knows nothing is in flight to it
  stop(slots)             graceful stop: in-flight requests finish first
  run_start_command(release, command, replica, timeout)  one replica's start-up command
                          (`manage.py <command>`, as its entrypoint runs it before the server),
                          against the lab's database; returns a ReplicaRun, never raises for the
                          command's own failure (the engine decides: lab/deploy.py start_replicas)
  replicas_started(release, runs)  told once every replica of a deploy has run it (default: nothing)
  log(msg), step(what)    every step is printed, with its duration
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import NamedTuple

from .config import LabConfig
from .errors import LabError


class SlotState(NamedTuple):
    release: str   # the release deployed on the slot
    live: bool     # in nginx's rotation


class ReplicaRun(NamedTuple):
    """One replica's start-up command: its exit code (None: still running at the deadline, killed)."""
    name: str
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str
    started: float    # time.time() when it started
    ended: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def outcome(self) -> str:
        return ("up" if self.ok else "still starting at the deadline, killed" if self.returncode is None
                else f"crashed (exit {self.returncode})")

    @property
    def detail(self) -> str:
        from .procs import last_error_line
        return (last_error_line(self.stderr) or self.stderr.strip()[-300:] or "no output")[:300]


class Backend(ABC):
    """A deploy target. `label` is added to the deploy's first line (e.g. ", docker compose")."""

    label = ""
    cfg: LabConfig

    def slot_names(self) -> list[str]:
        return [s.name for s in self.cfg.slots]

    # ---- what there is
    @abstractmethod
    def slots(self) -> dict[str, SlotState]: ...

    @abstractmethod
    def serves(self, slot: str, release: str) -> bool: ...

    @abstractmethod
    def has_release(self, release: str) -> bool: ...

    @abstractmethod
    def require_ready(self, release: str) -> None: ...

    # ---- what it does
    @abstractmethod
    def publish_static(self, release: str) -> None: ...

    @abstractmethod
    def migrate(self, release: str) -> None: ...

    @abstractmethod
    def switch(self, live: dict[str, bool], drain: bool) -> bool: ...

    @abstractmethod
    def start(self, slot: str, release: str) -> None: ...

    @abstractmethod
    def restart(self, slot: str, release: str, idle: bool) -> None: ...

    @abstractmethod
    def stop(self, slots: list[str]) -> None: ...

    def run_start_command(self, release: str, command: list[str], replica: str, timeout: float) -> ReplicaRun:
        raise LabError(f"start-up commands (`on_start`) are not available with this backend{self.label}",
                       "use the local lab for this deploy")

    def replicas_started(self, release: str, runs: list[ReplicaRun]) -> None:
        pass

    # ---- what the learner sees
    @abstractmethod
    def log(self, msg: str) -> None: ...

    @contextmanager
    def step(self, what: str):
        """Print what is being done and how long it took (the same lines as Lab.step)."""
        t0 = time.monotonic()
        self.log(f"→ {what} …")
        yield
        self.log(f"  ✓ {what} ({time.monotonic() - t0:.2f}s)")

    # ---- one composite step, routed through here so a backend may route it further
    def replace_slot(self, slot: str, release: str) -> None:
        """Drain one slot, move it to `release`, put it back (lab/deploy.py: roll_slot)."""
        from .deploy import roll_slot
        roll_slot(self, slot, release)


class LocalBackend(Backend):
    """The local lab: an adapter over lab/api.py's Lab (its processes, state file and locks)."""

    def __init__(self, lab):
        self.lab = lab
        self.cfg = lab.cfg

    def slots(self) -> dict[str, SlotState]:
        return {n: SlotState(s["release"], bool(s["live"])) for n, s in self.lab.state["slots"].items()}

    def serves(self, slot: str, release: str) -> bool:
        from .slots import health
        h = health(self.cfg.slot(slot).port, timeout=1.0) if self.lab.slots.pid(slot) else None
        return bool(h) and h.get("release") == release

    def has_release(self, release: str) -> bool:
        return release in self.lab.releases.names()

    def require_ready(self, release: str) -> None:
        self.lab.releases.get(release)  # says which releases exist when it doesn't
        if not self.lab.proxy.pid():
            raise LabError("the lab is not up", "start it with `lab up`")

    def publish_static(self, release: str) -> None:
        # Published in every static mode (switching to `shared` later must find them), but only
        # `shared` serves from the folder: say so, or a learner in proxy mode thinks it is the fix.
        mode = self.cfg.static_mode
        served_by = {"shared": "", "bucket": " (kept ready: in static mode bucket nginx serves the bucket)"}
        with self.step(f"publish {release}'s static files to the shared folder"
                       + served_by.get(mode, f" (kept ready: in static mode {mode} nginx asks the slots)")):
            self.lab._publish_static(self.lab.releases.get(release))

    def migrate(self, release: str) -> None:
        # through the Lab's own verb: a watcher (Lab.watched) sees each migration
        self.lab.migrate(release, only_if_needed=True)

    def switch(self, live: dict[str, bool], drain: bool) -> bool:
        lab = self.lab
        st = lab.state
        for n, on in live.items():
            st["slots"][n]["live"] = on
        lab._save_state(st)
        if not lab.proxy.pid():
            return False  # no nginx (e.g. a reset after a crash): nothing to reload, nothing known
        old_workers = lab.proxy.reload(lab._live())
        # nginx's previous workers finish their in-flight requests, then exit; once they are gone
        # nothing can still be talking to a slot that left the rotation
        return lab.proxy.wait_old_workers(old_workers) if drain else False

    def start(self, slot: str, release: str) -> None:
        self.lab.slots.start(slot, self.lab.releases.get(release), self.lab.db.url())
        self.lab._set_slot(slot, release=release)

    def restart(self, slot: str, release: str, idle: bool) -> None:
        rel, url = self.lab.releases.get(release), self.lab.db.url()
        if idle:
            self.lab.slots.replace_idle(slot, rel, url)  # old and new overlap: no gap, nothing in flight
        else:
            self.lab.slots.stop(slot)                    # graceful: in-flight requests finish
            self.lab.slots.start(slot, rel, url)
        self.lab._set_slot(slot, release=release)

    def stop(self, slots: list[str]) -> None:
        # all at once, like `docker compose stop blue green`: each waits out its own requests
        with ThreadPoolExecutor(max(1, len(slots))) as pool:
            list(pool.map(self.lab.slots.stop, slots))

    def run_start_command(self, release: str, command: list[str], replica: str, timeout: float) -> ReplicaRun:
        import subprocess
        import sys

        from .releases import build_env
        rel = self.lab.releases.get(release)
        env = build_env(rel.static, DATABASE_URL=self.lab.db.url(), APP_RELEASE=release, APP_REPLICA=replica)
        t0, started = time.monotonic(), time.time()
        try:
            r = subprocess.run([sys.executable, "manage.py", *command], cwd=rel.src, env=env, text=True,
                               capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
            code, out, err = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired as e:   # killed at the deadline, like a failed start-up probe
            code = None
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = (e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")) + \
                f"\nstill running after {timeout:g} s: killed"
        return ReplicaRun(replica, code, time.monotonic() - t0, out, err, started, time.time())

    def replicas_started(self, release: str, runs: list[ReplicaRun]) -> None:
        self.lab.replica_runs = list(runs)
        self.lab._changed(f"right after {len(runs)} replicas of release {release} ran their start-up command")

    def log(self, msg: str) -> None:
        self.lab.log(msg)

    def step(self, what: str):
        return self.lab.step(what)  # the Lab's own steps (and whatever they feed, e.g. a dashboard)

    def replace_slot(self, slot: str, release: str) -> None:
        # Through Lab._replace_slot, which runs the engine's roll_slot and then tells a watcher
        # (Lab.watched; lab/probes.py visits the site right after each slot change).
        self.lab._replace_slot(slot, self.lab.releases.get(release))
