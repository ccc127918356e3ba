"""Deploy strategies. Each prints its steps; none hides a failure the learner should see.

- rolling    one slot at a time: drain it from nginx, restart it on the new release, put it back.
             With --slot only that slot changes: the two releases then serve side by side,
             exactly the window in which a rolling deploy breaks things.
- blue-green start the new release on the idle slot, then switch nginx to it in one reload; the
             old slot keeps running idle (a rollback is a switch back).
- recreate   stop the slots, then start them on the new release: simple, and visibly down.
"""
from __future__ import annotations

import time

from .errors import LabError
from .releases import Release

# One list of each, for the CLI, the local lab and the compose backend.
STRATEGIES = ("rolling", "blue-green", "recreate")
MIGRATE_WHEN = ("before", "after", "skip")


def validate(strategy: str, migrate: str) -> None:
    if strategy not in STRATEGIES:
        raise LabError(f"unknown strategy {strategy!r}", f"choose one of {', '.join(STRATEGIES)}")
    if migrate not in MIGRATE_WHEN:
        raise LabError(f"unknown --migrate {migrate!r}", f"choose one of {', '.join(MIGRATE_WHEN)}")


def run_deploy(lab, release: Release, slot: str | None, strategy: str, migrate: str) -> float:
    t0 = time.monotonic()
    targets = [slot] if slot else [s.name for s in lab.cfg.slots]
    for t in targets:
        lab.cfg.slot(t)  # validates the name
    lab.log(f"deploy {release.name} → {', '.join(targets)} (strategy {strategy}, migrate {migrate})")
    if not lab.proxy.pid():
        raise LabError("the lab is not up", "start it with `lab up`")
    # Assets go out before the code that references them (a CDN upload, in real life).
    with lab.step(f"publish {release.name}'s static files to the shared folder"):
        lab._publish_static(release)
    if migrate == "before":
        lab.migrate(release.name, only_if_needed=True)

    if strategy == "rolling":
        for name in targets:
            lab._replace_slot(name, release)
    elif strategy == "blue-green":
        _blue_green(lab, release, slot)
    elif strategy == "recreate":
        with lab.step(f"stop {', '.join(targets)} (requests fail until they are back)"):
            for name in targets:
                lab.slots.stop(name)
        for name in targets:
            with lab.step(f"start {name} on {release.name}"):
                lab.slots.start(name, release, lab.db.url())
                lab._set_slot(name, release=release.name, live=True)
        lab.proxy.reload(lab._live())

    if migrate == "after":
        lab.migrate(release.name, only_if_needed=True)
    took = time.monotonic() - t0
    lab.log(f"deployed {release.name} in {took:.1f}s")
    return took


def _blue_green(lab, release: Release, slot: str | None) -> None:
    st = lab.state["slots"]
    names = [s.name for s in lab.cfg.slots]
    if slot:
        idle = slot
    else:
        # the idle colour: a slot out of rotation, else the one not on the newest release
        idle = next((n for n in names if not st[n]["live"]), None) or names[-1]
        if all(st[n]["live"] for n in names) and st[idle]["release"] == release.name:
            idle = names[0]
    others = [n for n in names if n != idle]
    with lab.step(f"start {release.name} on the idle slot {idle}"):
        lab._set_slot(idle, live=False)
        lab.proxy.reload(lab._live())
        lab.slots.stop(idle)
        lab.slots.start(idle, release, lab.db.url())
        lab._set_slot(idle, release=release.name)
    with lab.step(f"switch nginx: all traffic to {idle}, {', '.join(others)} kept idle for a rollback"):
        stt = lab.state
        stt["slots"][idle]["live"] = True
        for n in others:
            stt["slots"][n]["live"] = False
        lab._save_state(stt)
        lab.proxy.reload(lab._live())
