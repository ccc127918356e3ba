"""Deploy strategies, written once against a backend's operations (lab/backend.py), for the local
lab and for docker compose alike. Each prints its steps; none hides a failure the learner should see.

- rolling    one slot at a time: drain it from nginx, restart it on the new release, put it back.
             With --slot only that slot changes: the two releases then serve side by side,
             exactly the window in which a rolling deploy breaks things.
- blue-green start the new release on the idle slot, then switch nginx to it in one reload; the
             old slot keeps running idle (a rollback is a switch back: instant when the idle
             slot still serves the release asked for).
- recreate   stop the slots, then start them on the new release: simple, and visibly down.

A broken release never takes a slot down for good: a slot that can't start it goes back to what
it ran before, and the deploy fails saying so.

Start-up commands (`on_start`): an orchestrator starts a release's replicas (containers, pods,
dynos) at the same moment, and each runs its entrypoint's command before it serves, often
`manage.py migrate`. With `on_start`, the deploy does that for real: `replicas` processes (one
per slot it changes, unless told) run the release's management command at once, against the one
database; a replica whose command fails, or hasn't finished after REPLICA_START_TIMEOUT (an
orchestrator's start-up probe), never comes up, and the deploy stops there with the slots on what
they ran. Once every replica is up, the slots take the release as the strategy says.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .backend import Backend, ReplicaRun, SlotState
from .errors import LabError
from .kinds import Kind

# One list of each, for the CLI, the local lab and the compose backend.
STRATEGIES = ("rolling", "blue-green", "recreate")
MIGRATE_WHEN = ("before", "after", "skip")
REPLICA_START_TIMEOUT = 120.0  # seconds a replica's start-up command may take (a start-up probe's limit; generous: a busy laptop)


def validate(strategy: str, migrate: str) -> None:
    if strategy not in STRATEGIES:
        raise LabError(f"unknown strategy {strategy!r}", f"choose one of {', '.join(STRATEGIES)}")
    if migrate not in MIGRATE_WHEN:
        raise LabError(f"unknown --migrate {migrate!r}", f"choose one of {', '.join(MIGRATE_WHEN)}")


def run_deploy(b: Backend, release: str, slot: str | None = None, strategy: str = "rolling",
               migrate: str = "before", on_start: list[str] | None = None, replicas: int | None = None) -> float:
    validate(strategy, migrate)
    targets = [slot] if slot else b.slot_names()
    for t in targets:
        b.cfg.slot(t)  # validates the name
    b.require_ready(release)
    refuse_to_empty_the_rotation(b.slots(), strategy, slot)  # before anything changes
    t0 = time.monotonic()
    b.log(f"deploy {release} → {', '.join(targets)} (strategy {strategy}, migrate {migrate}{b.label})")
    # Assets go out before the code that references them (a CDN upload, in real life).
    b.publish_static(release)
    if migrate == "before":
        b.migrate(release)
    if on_start:
        start_replicas(b, release, list(on_start), replicas or len(targets))
    if strategy == "rolling":
        rolling(b, release, targets)
    elif strategy == "blue-green":
        blue_green(b, release, slot)
    else:
        recreate(b, release, targets)
    if migrate == "after":
        b.migrate(release)
    took = time.monotonic() - t0
    b.log(f"deployed {release} in {took:.1f}s")
    return took


def start_replicas(b: Backend, release: str, command: list[str], replicas: int,
                   timeout: float = REPLICA_START_TIMEOUT) -> list[ReplicaRun]:
    """`replicas` processes run the release's `manage.py <command>` at the same moment (a barrier
    lets them go together), as an orchestrator's replicas run their entrypoint. Raises LabError
    (kind `replica crashed` or `replica stuck`) when one of them doesn't come up."""
    if replicas < 1:
        raise LabError(f"replicas is {replicas}", "start at least one replica")
    go = threading.Barrier(replicas)

    def one(i: int) -> ReplicaRun:
        go.wait()
        return b.run_start_command(release, command, f"{release}-{i}", timeout)

    shown = " ".join(command)
    with b.step(f"start {replicas} replica{'s' if replicas > 1 else ''} of {release} at once, "
                f"each running `manage.py {shown}` before it serves"):
        with ThreadPoolExecutor(replicas) as pool:
            runs = list(pool.map(one, range(1, replicas + 1)))
        for r in runs:
            b.log(f"    replica {r.name}: {r.outcome} after {r.seconds:.1f}s" + (f": {r.detail}" if not r.ok else ""))
    b.replicas_started(release, runs)
    down = [r for r in runs if not r.ok]
    if down:
        first = min(down, key=lambda r: r.ended)   # the first to fail: the others often fail because of it
        kind = Kind.REPLICA_STUCK if first.returncode is None else Kind.REPLICA_CRASHED
        raise LabError(f"{len(down)} of {replicas} replicas of {release} did not come up: replica {first.name} "
                       f"{first.outcome} (`manage.py {shown}`): {first.detail}",
                       "each replica ran its start-up command at the same moment as the others, on the same "
                       "database: read what each one did (`-v`)", kind=kind)
    return runs


def refuse_to_empty_the_rotation(now: dict[str, SlotState], strategy: str, slot: str | None) -> None:
    """After a blue-green deploy one slot serves everything and the other is idle. Draining that
    one slot alone (rolling or blue-green with --slot) would leave nginx nothing to send requests to."""
    live = [n for n, s in now.items() if s.live]
    if slot and live == [slot] and strategy in ("rolling", "blue-green"):
        idle = [n for n in now if n != slot]
        raise LabError(f"slot {slot} serves all the traffic ({', '.join(idle)} is idle, out of rotation): "
                       f"taking it out alone would leave nothing to answer requests",
                       f"deploy to {', '.join(idle)} instead, or to both slots (leave out --slot)")


def _live(now: dict[str, SlotState], **change: bool) -> dict[str, bool]:
    return {n: change.get(n, s.live) for n, s in now.items()}


def _back_on_previous(b: Backend, slot: str, previous: str, release: str, e: LabError) -> LabError:
    """The slot couldn't start `release`: start it again on what it ran before. Returns the error
    to raise (it says where the slot is now), or re-raises when there is nothing to go back to."""
    if previous == release or not b.has_release(previous):
        raise e
    b.start(slot, previous)
    return LabError(f"{e.message}; slot {slot} is back on {previous}", e.hint, e.kind)


def rolling(b: Backend, release: str, targets: list[str]) -> None:
    # Slots out of rotation first: they need no draining, and once back they answer while the others drain.
    now = b.slots()
    for name in sorted(targets, key=lambda n: now[n].live):
        b.replace_slot(name, release)


def roll_slot(b: Backend, slot: str, release: str, drain: bool = True) -> None:
    """Take a slot out of nginx, restart it on `release` (waiting for its health), put it back.
    The caller has published the release's static files already (assets before code)."""
    now = b.slots()
    previous = now[slot].release
    with b.step(f"slot {slot}: {previous} → {release}"):
        if not now[slot].live:
            idle = True   # out of rotation already: drained when it left (every such switch waits)
        elif drain and any(s.live for n, s in now.items() if n != slot):
            # the old workers finish their requests first: then the slot is idle and may be swapped at once
            idle = b.switch(_live(now, **{slot: False}), drain=True)
        else:
            idle = False  # the only slot in rotation: restarted in place (gracefully), nothing to drain to
        try:
            b.restart(slot, release, idle=idle)
        except LabError as e:
            err = _back_on_previous(b, slot, previous, release, e)
            b.switch(_live(b.slots(), **{slot: True}), drain=False)
            raise err from None
        b.switch(_live(b.slots(), **{slot: True}), drain=False)


def idle_slot(now: dict[str, SlotState], release: str, slot: str | None) -> str:
    """The one rule for blue-green's target: the slot asked for; else a slot out of rotation (the
    idle colour); else (both live, e.g. after a rolling deploy) a slot already on the release,
    which then takes all traffic and the other keeps the old release for a rollback; else the last."""
    if slot:
        return slot
    out = [n for n, s in now.items() if not s.live]
    if out:
        return out[0]
    on_it = [n for n, s in now.items() if s.release == release]
    return (on_it or list(now))[-1]


def blue_green(b: Backend, release: str, slot: str | None) -> None:
    now = b.slots()
    idle = idle_slot(now, release, slot)
    others = [n for n in now if n != idle]
    if now[idle].release == release and b.serves(idle, release):
        b.log(f"→ {idle} already serves {release}: nothing to start, only the switch")
    else:
        with b.step(f"start {release} on the idle slot {idle}"):
            drained = b.switch(_live(now, **{idle: False}), drain=True) if now[idle].live else True
            try:
                b.restart(idle, release, idle=drained)
            except LabError as e:
                err = _back_on_previous(b, idle, now[idle].release, release, e)
                b.switch(_live(b.slots(), **{idle: now[idle].live}), drain=False)
                raise err from None
    with b.step(f"switch nginx: all traffic to {idle}, {', '.join(others)} kept idle for a rollback"):
        # waits out the old workers: once the deploy returns, the idle slot has nothing in flight
        b.switch({n: n == idle for n in now}, drain=True)


def recreate(b: Backend, release: str, targets: list[str]) -> None:
    now = b.slots()
    with b.step(f"stop {', '.join(targets)} (requests fail until they are back)"):
        b.stop(targets)
    for i, name in enumerate(targets):
        try:
            with b.step(f"start {name} on {release}"):
                b.start(name, release)
        except LabError as e:
            err = _back_on_previous(b, name, now[name].release, release, e)
            for rest in targets[i + 1:]:  # the slots not started yet come back too
                b.start(rest, now[rest].release)
            raise err from None
    # nginx's workers remember the slots that refused them (no live upstreams) and keep answering
    # 502: the deploy is done once the workers of the new config are the only ones left
    b.switch(_live(now, **{t: True for t in targets}), drain=True)
