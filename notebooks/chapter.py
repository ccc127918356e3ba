"""What every chapter shares: which lab it drives, its header from the catalogue, plots, pg_locks.

Which lab? Always `Lab()`: the lab in $LAB_HOME, else .lab/ in the kit. `lab up --jupyter`
(what `make lab` runs) sets LAB_HOME for this kernel, so a chapter drives YOUR lab. The kit's
own tests (tests/test_notebooks.py) start a throwaway lab on free ports and set LAB_HOME to it
before running every chapter, so they never touch yours. There is no other switch.

A chapter opens with `Chapter("NN")` (back to the seeded baseline, both slots on v1) and ends with
`chapter.close()` (the same again, and your static mode back): what a chapter changes, it undoes.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from IPython.display import Image, Markdown, display

from lab import Lab
from lab.exercises import catalogue, get

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

    def close(self) -> None:
        """Undo what the chapter changed: seeded database, v1 on both slots, your static mode."""
        self.lab.reset()
        if self.lab.cfg.static_mode != self._static_mode:
            self.lab.set_static_mode(self._static_mode)
        if self.ex:
            display(Markdown(recap(self.ex)))


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
class LockWatcher:
    """Polls pg_locks from a thread while the body runs: which locks the other sessions held or
    waited for on the given tables. `seen` maps (table, mode, granted) to the first time seen."""

    QUERY = """
        select c.relname, l.mode, l.granted, coalesce(left(a.query, 60), '')
        from pg_locks l
        join pg_class c on c.oid = l.relation
        join pg_stat_activity a on a.pid = l.pid
        where c.relname = any(%s) and l.pid <> pg_backend_pid()
    """

    def __init__(self, lab, tables, every: float = 0.005):
        self.lab, self.tables, self.every = lab, list(tables), every
        self.seen: dict[tuple, tuple[float, str]] = {}
        self._stop = threading.Event()

    def __enter__(self):
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        with self.lab.db.connect(dbname=self.lab.db.db_name) as conn:
            while not self._stop.is_set():
                for table, mode, granted, query in conn.execute(self.QUERY, (self.tables,)).fetchall():
                    self.seen.setdefault((table, mode, granted), (round(time.monotonic() - self.t0, 3), query))
                self._stop.wait(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def table(self) -> str:
        rows = ["| table | lock mode | granted? | first seen (s) | by the query |", "|---|---|---|---|---|"]
        for (table, mode, granted), (t, query) in sorted(self.seen.items(), key=lambda kv: kv[1][0]):
            rows.append(f"| {table} | {mode} | {'granted' if granted else '**waiting**'} | {t} | `{query}` |")
        return "\n".join(rows) if self.seen else "(no locks seen on " + ", ".join(self.tables) + ")"

    def modes(self, granted: bool | None = None) -> set[str]:
        return {m for (_, m, g) in self.seen if granted is None or g == granted}


def table_facts(lab, table: str) -> dict:
    """Size on disk and the file behind the table: a new relfilenode means the table was rewritten."""
    size, filenode, rows = lab.sql(
        "select pg_size_pretty(pg_total_relation_size(c.oid)), c.relfilenode, c.reltuples::bigint "
        "from pg_class c where c.relname = %s", (table,))[0]
    return {"table": table, "size": size, "relfilenode": filenode, "rows (estimate)": rows}
