"""What every chapter shares: which lab it drives, its header from the catalogue, plots, pg_locks.

Which lab? Always `Lab()`: the lab in $LAB_HOME, else .lab/ in the kit. `lab up --jupyter`
(what `make lab` runs) sets LAB_HOME for this kernel, so a chapter drives YOUR lab. The kit's
own tests (tests/test_notebooks.py) start a throwaway lab on free ports and set LAB_HOME to it
before running every chapter, so they never touch yours. There is no other switch.

A chapter opens with `Chapter("NN")` (back to the seeded baseline, both slots on v1) and ends with
`chapter.close()` (the same again, and your static mode back): what a chapter changes, it undoes.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from IPython.display import Image, Markdown, display

from lab import Lab
from lab.exercises import CheckFailed, Scenario, catalogue, get
from lab.pgwatch import LockWatch


def load_check_module(ex):
    import importlib
    return importlib.import_module(f"lab.checks.ex{ex.name}")

KIT = Path(__file__).resolve().parent.parent


class Chapter:
    def __init__(self, key: str | None = None, reset: bool = True):
        self.ex = get(key) if key else None
        self.lab = Lab()
        self.lab.log(f"lab: {self.lab.cfg.home}  ({self.lab.url})")
        self.lab.up()                                   # nothing to do if it runs already
        self._static_mode = self.lab.cfg.static_mode    # yours, put back by close()
        if reset:
            self.lab.reset()
        self.plots = self.lab.cfg.home / "plots"
        self.plots.mkdir(parents=True, exist_ok=True)
        if self.ex:
            display(Markdown(header(self.ex)))

    # ---------------------------------------------------------------- showing traffic
    def show(self, result, name: str, title: str | None = None):
        """The timeline plot and the error summary of a traffic run."""
        prefix = self.ex.name if self.ex else "00_tour"
        path = result.plot(self.plots / f"{prefix}-{name}.png", title=title or name)
        display(Image(filename=str(path)))
        print(result.report())
        return result

    def run_plan(self, folder: Path, name: str, title: str, users: int = 3, settle: float = 1.0,
                 seed: int | None = None, before_step=None, traffic_timeout: float | None = None,
                 watch: str | None = None) -> "PlanRun":
        """Carry out an exercise folder's plan.toml on this lab while traffic flows, the way
        `lab check` does in its own lab: back to the baseline, the plan's static mode and seed,
        its releases built from its overlays, each step marked on the plot. A step that fails
        stops the plan (the traffic and the failure are both kept). `watch="table"` samples
        pg_locks on that table while the plan runs (lab.pgwatch.LockWatch: who waited, behind whom)."""
        s = Scenario(folder, users=users, log=self.lab.log)
        s.lab = self.lab
        self.lab.reset()
        seed = seed or (getattr(load_check_module(self.ex), "SEED_SIGHTINGS", None) if self.ex else None)
        if seed:
            self.lab.seed(seed)   # the check's own table size: the chapter shows what the check sees
        self.lab.set_static_mode(s.plan.static_mode)
        for release, overlays in s.plan.releases.items():
            self.lab.build_release(release, [folder / o for o in overlays], force=True)
        failure = None
        kw = {"timeout": traffic_timeout} if traffic_timeout else {}
        watcher = LockWatch(self.lab, watch) if watch else nullcontext()
        with watcher, self.lab.traffic_in_background(users=users, settle=settle, **kw) as t:
            time.sleep(0.5)
            for step in s.plan.steps:
                if before_step:
                    before_step(s, step)
                t.mark(" ".join(f"{v}" if k == "action" else f"{k}={v}" for k, v in step.items()))
                try:
                    s.run_step(step)
                except CheckFailed as e:
                    failure = e
                    print(f"✗ the plan stopped: {e.message}")
                    break
        s.traffic = t.result
        self.show(t.result, name, title)
        if watch:
            print(watcher.report())
        return PlanRun(t.result, failure, s, watcher if watch else None)

    def close(self) -> None:
        """Undo what the chapter changed: seeded database, v1 on both slots, your static mode."""
        self.lab.reset()
        if self.lab.cfg.static_mode != self._static_mode:
            self.lab.set_static_mode(self._static_mode)
        if self.ex:
            display(Markdown(recap(self.ex)))


@dataclass
class PlanRun:
    traffic: object          # lab.traffic.TrafficResult
    failure: Exception | None
    scenario: Scenario
    watch: LockWatch | None = None

    def __repr__(self) -> str:
        return (f"<PlanRun: {'failed: ' + str(self.failure.reason) if self.failure else 'ran every step'}; "
                f"{self.traffic!r}>")


def header(ex) -> str:
    total = ex.teaching_minutes + ex.minutes
    lines = [f"### {ex.id} · {ex.title}",
             f"**Time:** about {total} minutes ({ex.teaching_minutes} for this chapter, "
             f"{ex.minutes} for the exercise `exercises/{ex.name}/`)", ""]
    if ex.questions:
        lines += ["**Questions**", ""] + [f"- {q}" for q in ex.questions] + [""]
    lines += ["**You will be able to**", ""] + [f"- {o}" for o in ex.objectives]
    return "\n".join(lines)


def recap(ex) -> str:
    return "\n".join([f"### Key points · {ex.title}", ""] + [f"- {k}" for k in ex.key_points])


def overview() -> str:
    """The workshop's chapters, from the catalogue."""
    rows = ["| # | chapter | chapter + exercise |", "|---|---|---|"]
    for e in catalogue():
        rows.append(f"| {e.id} | {e.title} | {e.teaching_minutes} + {e.minutes} min |")
    return "\n".join(rows)


# ---------------------------------------------------------------- PostgreSQL
def table_facts(lab, table: str) -> dict:
    """Size on disk and the file behind the table: a new relfilenode means the table was rewritten."""
    size, filenode, rows = lab.sql(
        "select pg_size_pretty(pg_total_relation_size(c.oid)), c.relfilenode, c.reltuples::bigint "
        "from pg_class c where c.relname = %s", (table,))[0]
    return {"table": table, "size": size, "relfilenode": filenode, "rows (estimate)": rows}


def sqlmigrate(lab, release: str, migration: str, app: str = "sightings") -> str:
    """The SQL one of a release's migrations runs (`manage.py sqlmigrate`), to print once:
    lab.manage() also logs a command's last lines, which would show it twice."""
    r = lab.manage_raw(release, "sqlmigrate", app, migration)
    if r.returncode != 0:
        raise RuntimeError(f"sqlmigrate {app} {migration} (release {release}) failed:\n{(r.stderr or '').strip()[-2000:]}")
    return r.stdout
