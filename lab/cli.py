"""`lab`: the command line of the workshop. Every command prints what it does; every failure is
one line (`lab: what went wrong` + what to try), never a traceback."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from .config import STATIC_MODES
from .deploy import MIGRATE_WHEN, STRATEGIES
from .errors import LabError

EPILOG = "Docs: README.md and the chapters in notebooks/. Start with `lab up`, then open the URL it prints."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lab", description="The Bigfoot deployment lab: two app servers on different "
                                "releases behind nginx, on PostgreSQL. Break deploys, then fix them.", epilog=EPILOG)
    p.add_argument("--home", help="the lab's state folder (default: .lab/ in the kit, or $LAB_HOME)")
    p.add_argument("--backend", choices=["local", "compose"], default=os.environ.get("LAB_BACKEND", "local"),
                   help="local processes (default) or the same topology in docker compose ($LAB_BACKEND)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("up", help="start the lab (builds and seeds on first run); safe to run again")
    s.add_argument("--port-base", type=int, help="nginx on this port, slots and PostgreSQL on the next ones (default 8000)")
    s.add_argument("--static-mode", choices=STATIC_MODES, help="how nginx serves /static/")
    s.add_argument("--jupyter", action="store_true", help="also start JupyterLab on the chapters (what `make lab` does)")
    sub.add_parser("down", help="stop every process of the lab")
    s = sub.add_parser("status", help="what runs where")
    s.add_argument("--json", action="store_true", help="machine-readable")

    s = sub.add_parser("release", help="build or list releases")
    rs = s.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    b = rs.add_parser("build", help="build a release from bigfoot_app/ plus overlay folders")
    b.add_argument("name")
    b.add_argument("--overlay", action="append", default=[], metavar="DIR", help="files that replace or add to the app (repeatable)")
    b.add_argument("--force", action="store_true", help="rebuild an existing release that no slot runs")
    rs.add_parser("list", help="list built releases")

    s = sub.add_parser("deploy", help="deploy a release to one or both slots")
    s.add_argument("release")
    s.add_argument("--slot", choices=["blue", "green"], help="only this slot (default: both, one after the other)")
    s.add_argument("--strategy", choices=STRATEGIES, default="rolling")
    s.add_argument("--migrate", choices=MIGRATE_WHEN, default="before",
                   help="when to run the release's migrations (default: before the code)")
    s.add_argument("--traffic", action="store_true", help="run traffic during the deploy and print what it saw")

    s = sub.add_parser("migrate", help="run a release's migrations (optionally to a target, e.g. 0001)")
    s.add_argument("release")
    s.add_argument("target", nargs="?", help="migration name, e.g. 0002 or sightings:0002")

    s = sub.add_parser("manage", help="run a release's manage.py command on the lab database, e.g. sqlmigrate sightings 0002")
    s.add_argument("release")
    s.add_argument("args", nargs=argparse.REMAINDER, metavar="COMMAND ...")

    s = sub.add_parser("traffic", help="play user journeys through nginx and summarise what happened")
    s.add_argument("--duration", type=float, default=5.0)
    s.add_argument("--users", type=int, default=4)
    s.add_argument("--plot", metavar="PNG", help="save the timeline plot here")
    s.add_argument("--json", metavar="FILE", help="save every request here")

    s = sub.add_parser("reset", help="restore the seeded database and baseline release; with NN: an exercise's starter")
    s.add_argument("exercise", nargs="?", help="restore this exercise's starter (your edits are backed up first)")
    s.add_argument("--yes", action="store_true", help="don't ask before clearing the exercise's progress")
    sub.add_parser("exercises", help="list the exercises with your progress")
    s = sub.add_parser("check", help="check an exercise (default: the next unsolved one)")
    s.add_argument("exercise", nargs="?")
    s.add_argument("-v", "--verbose", action="store_true", help="show every step of the lab")
    s.add_argument("--json", action="store_true",
                   help="print the result as one line of JSON (status pass/fail/error, kind, message, timings)")
    s = sub.add_parser("hint", help="the next hint for an exercise (default: the one `lab check` runs)")
    s.add_argument("exercise", nargs="?")
    s = sub.add_parser("solution", help="show the diff from your folder to the solution (asks first)")
    s.add_argument("exercise")
    s.add_argument("--yes", action="store_true", help="don't ask")
    s = sub.add_parser("seed", help="replace the data with N generated sightings (e.g. 1000000 for the big-table chapters)")
    s.add_argument("--sightings", type=int, default=1000)
    s.add_argument("--comments", type=int, help="comments per sighting (default: the seed command's)")
    s = sub.add_parser("static-mode", help="switch how nginx serves /static/")
    s.add_argument("mode", choices=STATIC_MODES)
    s = sub.add_parser("sql", help="run one SQL statement on the lab database (as superuser)")
    s.add_argument("query")
    s = sub.add_parser("doctor", help="check this machine is ready; says what to fix")
    s.add_argument("--port-base", type=int, help="check the ports `lab up --port-base N` would use (default: "
                   "this lab's, 8000 at first)")
    s.add_argument("--report", nargs="?", const="bigfoot-readiness.md", metavar="FILE",
                   help="also start a throwaway lab and write a short shareable report for the instructor "
                        "(default file: bigfoot-readiness.md)")
    return p


def main(argv: list[str] | None = None) -> int:
    from . import procs
    from .errors import Interrupted
    procs.protect_stdout()          # `lab exercises | head -3`: no traceback, clean-up still runs
    procs.raise_on_termination()    # SIGTERM / SIGHUP / SIGINT (even inherited ignored): stop what we started
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except Interrupted as e:
        if e.why != "closed pipe":
            print(f"lab: stopped by {e.why}; everything it started was stopped", file=sys.stderr)
        return e.code
    except LabError as e:
        print(f"lab: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"     → {e.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the promise is one readable line, details in a file
        log = Path(os.environ.get("TMPDIR", "/tmp")) / "lab-error.log"
        log.write_text(traceback.format_exc())
        print(f"lab: unexpected {type(e).__name__}: {e} (details: {log})", file=sys.stderr)
        return 2


def run(args) -> int:
    from .api import Lab

    lab = Lab(home=args.home, port_base=getattr(args, "port_base", None),
              static_mode=getattr(args, "static_mode", None) if args.command == "up" else None)
    c = args.command
    if args.backend == "compose" and c not in ("exercises", "hint", "solution"):  # those need no lab
        return run_compose(args, lab)
    if c == "up":
        st = lab.up(jupyter=args.jupyter)
        print(f"\n  Bigfoot sightings:  {st['url']}/\n  admin:              {st['url']}/admin/")
        print(f"  live dashboard:     {st['dashboard']['url']}")
        if st["jupyter"]["url"]:
            print(f"  chapters (Jupyter): {st['jupyter']['url']}")
        print("  next:               lab exercises     lab traffic     lab status     lab down")
    elif c == "down":
        lab.down()
    elif c == "status":
        st = lab.status()
        if args.json:
            print(json.dumps(st, indent=2))
        else:
            print_status(st)
    elif c == "release":
        if args.release_command == "build":
            lab.build_release(args.name, args.overlay, force=args.force)
        else:
            for n in lab.releases.names():
                info = lab.releases.get(n).info
                print(f"{n:12} built {info.get('built_at')}  overlays: {', '.join(info.get('overlays') or []) or '-'}")
    elif c == "deploy":
        if args.traffic:
            with lab.traffic_in_background() as t:
                t.mark("deploy starts")
                lab.deploy(args.release, args.slot, args.strategy, args.migrate)
                t.mark("deploy done")
            print(t.result.report())
        else:
            lab.deploy(args.release, args.slot, args.strategy, args.migrate)
    elif c == "migrate":
        lab.migrate(args.release, args.target)
    elif c == "manage":
        if not args.args:
            raise LabError("which command?", f"e.g. `lab manage {args.release} sqlmigrate sightings 0002`")
        # the command's own output, whole, and on failure too (`makemigrations --check` says
        # what it would write on stdout, then exits 1)
        r = lab.manage_raw(args.release, *args.args)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        return r.returncode
    elif c == "traffic":
        print(f"traffic: {args.users} users for {args.duration:g}s through {lab.url} …")
        res = lab.traffic(duration=args.duration, users=args.users)
        print(res.report())
        if args.plot:
            print(f"plot: {res.plot(args.plot)}")
        if args.json:
            print(f"records: {res.to_json(args.json)}")
        return 1 if res.errors else 0
    elif c == "reset":
        if args.exercise:
            from .learner import reset_exercise
            reset_exercise(lab.cfg.home, args.exercise, assume_yes=args.yes)
        else:
            lab.reset()
    elif c == "exercises":
        from .learner import list_exercises
        list_exercises(lab.cfg.home)
    elif c == "check":
        from .learner import run_check
        return 0 if run_check(lab.cfg.home, args.exercise, verbose=args.verbose, as_json=args.json) else 1
    elif c == "hint":
        from .learner import show_hint
        show_hint(lab.cfg.home, args.exercise)
    elif c == "solution":
        from .learner import show_solution
        show_solution(args.exercise, args.yes)
    elif c == "seed":
        lab.seed(args.sightings, args.comments)
    elif c == "static-mode":
        lab.set_static_mode(args.mode)
    elif c == "sql":
        for row in lab.sql(args.query):
            print(" | ".join(str(v) for v in row))
    elif c == "doctor":
        from .doctor import report
        st = lab.status()
        ours = {st["proxy"]["port"]: st["proxy"]["running"], **{s["port"]: s["running"] for s in st["slots"]},
                st["dashboard"]["port"]: st["dashboard"]["running"], st["jupyter"]["port"]: st["jupyter"]["running"]}
        if st["database"]["port"]:
            ours[st["database"]["port"]] = st["database"]["running"]
        from .config import load_config
        if args.port_base is not None and args.port_base != load_config(args.home).port_base:
            ours = {}   # other ports than this lab's: whatever listens there is not this lab
        if args.report:
            from .doctor import write_report
            return 0 if write_report(lab.cfg, Path(args.report), ours) else 1
        return 0 if report(lab.cfg, ours) else 1
    return 0


def run_compose(args, lab) -> int:
    """The same verbs against docker-compose.yml (lab/compose.py). Needs a Docker engine."""
    from .compose import ComposeBackend
    b = ComposeBackend(cfg=lab.cfg)
    c = args.command
    if c == "up":
        b.up(jupyter=args.jupyter)
    elif c == "down":
        b.down()
    elif c == "status":
        st = b.status()
        print(json.dumps(st, indent=2)) if args.json else print_status(st)
    elif c == "release" and args.release_command == "build":
        b.build_release(args.name, args.overlay, force=args.force)
    elif c == "deploy":
        b.deploy(args.release, args.slot, args.strategy, args.migrate)
    elif c == "migrate":
        b.migrate(args.release, args.target)
    elif c == "static-mode":
        b.set_static_mode(args.mode)
    elif c == "traffic":
        from .traffic import run_traffic
        res = run_traffic(b.url, duration=args.duration, users=args.users)
        print(res.report())
        return 1 if res.errors else 0
    elif c in ("check", "reset", "seed", "sql"):
        # they need the local lab: with only Docker, the workbench container runs it (docs/docker.md)
        import shlex
        a = vars(args)
        local = {"check": ("exercise", "verbose"), "reset": ("exercise", "yes"), "seed": ("sightings", "comments"),
                 "sql": ("query",)}[c]
        words = [f"--{k}" if a[k] is True else str(a[k]) if k in ("exercise", "query") else f"--{k}={a[k]}"
                 for k in local if a[k] not in (None, False)]
        cmd = shlex.join(["lab", c, *words])
        if c == "check" or (c == "reset" and a["exercise"]):    # files only: a one-off container
            how = f"docker compose run --rm workbench {cmd}"
        else:                                                   # the workbench's running lab
            how = f"docker compose exec workbench {cmd} (after `docker compose --profile workbench up --detach workbench`)"
        raise LabError(f"`lab {c}` runs the local lab, not the compose topology; in Docker, the workbench container has one: {how}")
    else:
        raise LabError(f"`lab {c}` is not available with the compose backend", "use the local backend for it")
    return 0


def print_status(st: dict) -> None:
    mark = lambda ok: "✓" if ok else "✗"
    p, d = st["proxy"], st["database"]
    print(f"{mark(p['running'])} nginx     {st['url']}  static: {p['static_mode']}" + ("" if p["running"] else "  (down)"))
    for s in st["slots"]:
        state = ("healthy" if s["healthy"] else "not answering") if s["running"] else "down"
        live = "" if s["live"] else "  (idle: out of rotation)"
        print(f"{mark(s['healthy'])} {s['slot']:9} 127.0.0.1:{s['port']}  release {s['release'] or s['deployed_release']}  {state}{live}")
    where = f"127.0.0.1:{d['port']}" if d["embedded"] else "DATABASE_URL"
    print(f"{mark(d['running'])} postgres  {where}  " + ("running" if d["running"] else "down"))
    j = st["jupyter"]
    print(f"{mark(j['running'])} jupyter   " + (j["url"] if j["running"] else "not running (`lab up --jupyter`)"))
    if "dashboard" in st:  # the local lab's (docker compose has none)
        b = st["dashboard"]
        print(f"{mark(b['running'])} dashboard {b['url']}" + ("" if b["running"] else "  (down: `lab up` starts it)"))
    print(f"  releases: {', '.join(st['releases']) or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
