"""The deploy engine (lab/deploy.py): each strategy written once against a backend's operations
(lab/backend.py), proven on the local lab under real traffic, and the compose backend shown to
carry out the very same operations (its `docker compose` commands recorded, no engine needed).

What each strategy promises, measured for real:
- rolling (both slots, or one with --slot): zero failed requests with the shared static folder;
- blue-green: zero failed requests; the old slot keeps running idle, out of rotation; a second
  blue-green back to the old release is a switch only (instant rollback), again with zero failures;
- recreate: visibly down, requests really fail in between.
"""
from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab import compose
from lab.backend import Backend, LocalBackend
from lab.config import KIT_ROOT, load_config
from lab.errors import LabError
from lab.exercises import fresh_lab, get

RESTYLE = get("01").folder / "app"   # v2: a restyled stylesheet (new hashed static files)

# One scenario, in this order, for both backends: each step's deploy (release, slot, strategy,
# migrate), the slots before it (release, live), and the engine's operations it must carry out.
# The local lab's real deploys and the compose backend's recorded ones must each match this one
# table, so they match each other. switch: (slots in rotation after it, drain?).
BOTH = ("blue", "green")
S0 = {"blue": ("v1", True), "green": ("v1", True)}
SCENARIO = {
    # green (the last slot; neither is on v2) gets v2, then all traffic; blue keeps v1, idle
    "blue-green": (("v2", None, "blue-green", "after"), S0, [
        ("publish_static", "v2"),
        ("switch", ("blue",), True), ("restart", "green", "v2"), ("switch", ("green",), True),
        ("migrate", "v2")]),
    # ... and back: blue is idle and still serves v1, so the rollback is one nginx switch
    "blue-green back to v1": (("v1", None, "blue-green", "skip"), {"blue": ("v1", False), "green": ("v2", True)}, [
        ("publish_static", "v1"), ("serves", "blue", "v1"), ("switch", ("blue",), True)]),
    # blue alone serves: draining it alone is refused, before anything changes
    "rolling --slot blue, blue alone live": (("v2", "blue", "rolling", "before"),
                                             {"blue": ("v1", True), "green": ("v2", False)}, []),
    # the idle slot first (no draining), back in rotation; then blue drains onto it
    "rolling": (("v2", None, "rolling", "before"), {"blue": ("v1", True), "green": ("v2", False)}, [
        ("publish_static", "v2"), ("migrate", "v2"),
        ("restart", "green", "v2"), ("switch", BOTH, False),
        ("switch", ("green",), True), ("restart", "blue", "v2"), ("switch", BOTH, False)]),
    "recreate": (("v1", None, "recreate", "skip"), {"blue": ("v2", True), "green": ("v2", True)}, [
        ("publish_static", "v1"), ("stop", BOTH), ("start", "blue", "v1"), ("start", "green", "v1"),
        ("switch", BOTH, True)]),
    "rolling --slot green": (("v2", "green", "rolling", "skip"), S0, [
        ("publish_static", "v2"), ("switch", ("blue",), True), ("restart", "green", "v2"), ("switch", BOTH, False)]),
}


@contextmanager
def recording(cls: type[Backend]):
    """Every engine operation a backend of class `cls` carries out, in order (the operation runs)."""
    calls: list[tuple] = []
    wrap = {
        "publish_static": lambda release: (release,),
        "migrate": lambda release: (release,),
        "switch": lambda live, drain: (tuple(n for n, on in live.items() if on), drain),
        "restart": lambda slot, release, idle: (slot, release),   # idle: a measurement, not a choice
        "start": lambda slot, release: (slot, release),
        "stop": lambda slots: (tuple(slots),),
        "serves": lambda slot, release: (slot, release),
    }
    with pytest.MonkeyPatch.context() as patch:
        for op, args in wrap.items():
            real = getattr(cls, op)

            def recorded(self, *a, _op=op, _args=args, _real=real, **kw):
                calls.append((_op, *_args(*a, **kw)))
                return _real(self, *a, **kw)
            patch.setattr(cls, op, recorded)
        yield calls


# ------------------------------------------------------------------ the local lab, under traffic
@pytest.fixture(scope="module")
def lab():
    """A private lab for this module, the shared static folder on (the static-asset fix), v2 built."""
    with fresh_lab(static_mode="shared") as lab:
        lab.build_release("v2", [RESTYLE])
        yield lab


def slots_now(lab) -> dict[str, tuple]:
    """slot: (release it answers from, live), asked of each slot and of the lab's state."""
    return {s["slot"]: (s["release"], s["live"]) for s in lab.status()["slots"]}


def arrive(lab, want: dict[str, tuple]) -> None:
    """Bring the lab to the slots a step starts from (in a whole run the previous step left it there)."""
    if slots_now(lab) != want:
        for name in sorted(want, key=lambda n: slots_now(lab)[n][1]):   # idle slots first
            lab.deploy(want[name][0], name, "rolling", "skip")
        idle = [n for n, (_, live) in want.items() if not live]
        if idle:
            (live,) = [n for n in want if n not in idle]
            lab.deploy(want[live][0], live, "blue-green", "skip")   # a switch only: it serves that release
    assert slots_now(lab) == want


def deploy_under_traffic(lab, case: str):
    (release, slot, strategy, migrate), before, expected = SCENARIO[case]
    arrive(lab, before)
    with recording(LocalBackend) as calls, lab.traffic_in_background(users=4, settle=0.5) as t:
        t.mark("deploy starts")
        lab.deploy(release, slot, strategy, migrate)
        t.mark("deploy done")
    assert calls == expected, calls
    return t.result


def releases_seen(res) -> set[str]:
    return {r.release for r in res.records if r.release}   # static files from nginx carry none


def test_blue_green_keeps_the_old_slot_idle_and_switches_back_instantly(lab):
    res = deploy_under_traffic(lab, "blue-green")
    assert not res.errors, res.report()
    assert len(res.records) > 50, res.report()
    # all traffic on green (v2); blue still runs v1, out of rotation: ready for a rollback
    assert slots_now(lab) == {"blue": ("v1", False), "green": ("v2", True)}
    after = lab.traffic(duration=1)
    assert not after.errors and releases_seen(after) == {"v2"}, after.report()
    blue_pid = lab.slots.pid("blue")
    # the rollback: a second blue-green, to v1, is one nginx switch (no slot restarts)
    res = deploy_under_traffic(lab, "blue-green back to v1")
    assert not res.errors, res.report()
    assert slots_now(lab) == {"blue": ("v1", True), "green": ("v2", False)}
    assert lab.slots.pid("blue") == blue_pid
    after = lab.traffic(duration=1)
    assert not after.errors and releases_seen(after) == {"v1"}, after.report()


def test_draining_the_only_live_slot_is_refused(lab):
    (release, slot, strategy, migrate), before, _ = SCENARIO["rolling --slot blue, blue alone live"]
    arrive(lab, before)
    for strategy in ("rolling", "blue-green"):
        with pytest.raises(LabError, match="slot blue serves all the traffic .green is idle"):
            lab.deploy(release, slot, strategy, migrate)
    assert slots_now(lab) == before


def test_rolling_after_blue_green_has_zero_failed_requests(lab):
    res = deploy_under_traffic(lab, "rolling")
    assert not res.errors, res.report()
    assert slots_now(lab) == {"blue": ("v2", True), "green": ("v2", True)}


def test_recreate_is_visibly_down(lab):
    res = deploy_under_traffic(lab, "recreate")
    assert res.errors, "recreate stops every slot: requests in between must fail\n" + res.report()
    start, done = (t for t, _ in res.marks)
    outside = [(e.t, e.path, e.error) for e in res.errors if not start <= e.t <= done]
    assert not outside, (start, done, outside[:5], res.report())   # while it ran, not after
    assert slots_now(lab) == S0
    after = lab.traffic(duration=1)
    assert not after.errors and releases_seen(after) == {"v1"}, after.report()


def test_rolling_one_slot_serves_two_releases_with_zero_failed_requests(lab):
    res = deploy_under_traffic(lab, "rolling --slot green")
    assert not res.errors, res.report()
    assert slots_now(lab) == {"blue": ("v1", True), "green": ("v2", True)}
    assert releases_seen(res) == {"v1", "v2"}, res.report()


# ------------------------------------------------------------------ the compose backend: same operations
class Recorder:
    """The Compose CLI, recorded: every command succeeds (tests/test_compose.py checks the command
    lines against the real CLI)."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, argv, env=None, **kw):
        self.calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, stdout="", stderr="")

    def commands(self) -> list[str]:
        return [" ".join(a[a.index("-f") + 2:]) for a in self.calls]


@pytest.fixture
def compose_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_COMPOSE_ENV_FILE", raising=False)
    project = tmp_path / "kit"
    project.mkdir()
    shutil.copy(KIT_ROOT / "docker-compose.yml", project / "docker-compose.yml")
    b = compose.ComposeBackend(load_config(tmp_path / "home"), project_dir=project, log=lambda m: None,
                               runner=Recorder(), compose_cmd=["docker-compose"])
    # no engine: each slot "answers" /healthz with the release .env says it runs
    ports = {str(s.port): s.name for s in b.cfg.slots}
    monkeypatch.setattr(compose.ComposeBackend, "_health", staticmethod(
        lambda port: {"release": compose.read_env(b.env_file).get(compose.env_key("RELEASE", ports[str(port)]))}))
    b.init()
    b.build_release("v2")
    b._run.calls.clear()
    return b


RELOAD = "exec -T proxy python -m lab.compose proxy-reload --live {} --static-mode proxy"
UP = "up --detach --no-deps --force-recreate {}"
MIGRATE = "run --rm --no-deps migrate migrate"
COMMANDS = {
    "blue-green": [RELOAD.format("blue"), UP.format("green"), RELOAD.format("green"), MIGRATE],
    "blue-green back to v1": [RELOAD.format("blue")],
    "rolling --slot blue, blue alone live": [],
    "rolling": [MIGRATE, UP.format("green"), RELOAD.format("blue,green"),
                RELOAD.format("green"), UP.format("blue"), RELOAD.format("blue,green")],
    "recreate": ["stop blue green", UP.format("blue"), UP.format("green"), RELOAD.format("blue,green")],
    "rolling --slot green": [RELOAD.format("blue"), UP.format("green"), RELOAD.format("blue,green")],
}


def compose_slots(b) -> dict[str, tuple]:
    env = compose.read_env(b.env_file)
    return {n: (env[compose.env_key("RELEASE", n)], n in env["LIVE_SLOTS"].split(",")) for n in BOTH}


def test_compose_carries_out_the_same_operations_step_by_step(compose_backend):
    """The whole scenario, in order, on the compose backend: before each step .env says what the
    local lab's slots were; each step calls the same operations, as these compose commands."""
    b = compose_backend
    assert list(SCENARIO) == list(COMMANDS)
    for case, ((release, slot, strategy, migrate), before, expected) in SCENARIO.items():
        assert compose_slots(b) == before, case
        b._run.calls.clear()
        with recording(compose.ComposeOps) as calls:
            try:
                b.deploy(release, slot, strategy, migrate)
            except LabError as e:
                assert not expected and "serves all the traffic" in e.message, (case, e)
        assert calls == expected, case
        assert b._run.commands() == COMMANDS[case], case
    assert compose_slots(b) == {"blue": ("v1", True), "green": ("v2", True)}


def test_both_backends_implement_every_operation():
    ops = {n for n, v in vars(Backend).items() if getattr(v, "__isabstractmethod__", False)}
    assert ops == {"slots", "serves", "has_release", "require_ready", "publish_static", "migrate", "switch",
                   "start", "restart", "stop", "log"}
    for cls in (LocalBackend, compose.ComposeOps):
        assert not cls.__abstractmethods__, cls


class StartCommands(Backend):
    """Only what start_replicas uses: each replica's command is played by `outcome(replica)`."""

    def __init__(self, outcome):
        self.outcome, self.runs, self.told = outcome, [], None

    def run_start_command(self, release, command, replica, timeout):
        import time

        from lab.backend import ReplicaRun
        t0 = time.time()
        code, seconds, err = self.outcome(replica)
        time.sleep(seconds)
        return ReplicaRun(replica, code, seconds, "", err, t0, time.time())

    def replicas_started(self, release, runs):
        self.told = runs

    def log(self, msg):
        pass

    slots = serves = has_release = require_ready = publish_static = migrate = switch = start = restart = stop = None


def test_replicas_run_their_start_up_command_at_the_same_moment_and_one_that_fails_stops_the_deploy():
    from lab.deploy import start_replicas
    from lab.kinds import Kind
    b = StartCommands(lambda r: (0, 0.05, ""))
    runs = start_replicas(b, "v2", ["migrate"], 4)
    assert [r.name for r in runs] == ["v2-1", "v2-2", "v2-3", "v2-4"] and b.told == runs
    assert max(r.started for r in runs) - min(r.started for r in runs) < 0.05, "a barrier lets them go together"
    # the first to fail is named (the others often fail because of it); one still running at the deadline is stuck
    fails = {"v2-1": (1, 0.2, "ProgrammingError: relation already exists"), "v2-2": (1, 0.0, "deadlock detected")}
    with pytest.raises(LabError) as e:
        start_replicas(StartCommands(lambda r: fails.get(r, (0, 0.0, ""))), "v2", ["migrate"], 3)
    assert e.value.kind == Kind.REPLICA_CRASHED and "v2-2" in e.value.message and "deadlock" in e.value.message
    with pytest.raises(LabError) as e:
        start_replicas(StartCommands(lambda r: (None, 0.0, "still running after 120 s: killed")), "v2", ["migrate"], 2)
    assert e.value.kind == Kind.REPLICA_STUCK
    # a backend that can't start replicas says so (the compose backend, today)
    with pytest.raises(LabError, match="on_start"):
        Backend.run_start_command(b, "v2", ["migrate"], "v2-1", 1.0)
