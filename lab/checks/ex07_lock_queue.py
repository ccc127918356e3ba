"""Check for exercise 07: a "fast" ALTER TABLE behind a slow report must not stop the site, and the
index v2 adds must get built all the same.

Two long transactions are open while the plan runs (the check's obstacles: no plan step skips them):
  - the analysts' weekly report reads sightings_sighting in a long transaction (it holds ACCESS SHARE
    until it commits). It is running before every plan step until the column has landed, whatever
    the step (a migrate, a deploy, a `manage` step running `migrate`, a `wait`), so no step order
    waits it out: it commits only 5 s after the migration first waited for its lock behind it (or
    gave up on lock_timeout), however long the plan took to get there;
  - the data team's export of the comments: one REPEATABLE READ transaction (one snapshot for the
    whole export) that read sightings_comment, open from before the first step. It holds no lock
    the plan needs on sightings_sighting. But CREATE INDEX CONCURRENTLY, before it can mark its
    index valid, waits for every transaction whose snapshot is older than the build, on any table:
    the build waits for the export, harmlessly (its SHARE UPDATE EXCLUSIVE lets reads and writes
    through). The export commits 5 s after a statement starts waiting for it.
PostgreSQL is sampled 10× a second meanwhile: who waits for which lock on sightings_sighting, behind
whom. Simulated users give up on a request after 2 s.

The verdicts, from what PostgreSQL did:
  - no request timed out, and no statement sat in sightings_sighting's lock queue for 1.5 s or more;
  - no index on sightings_sighting is INVALID (a build cut short leaves one, and running the same
    migration again can't finish the job past it), and the one v2's model declares exists, as
    declared; no index on it was built under a lock that blocks writes (an event trigger records
    every CREATE INDEX with the locks its session held, lab.pgwatch.DDLAudit);
  - the column exists, NULL-able; then the harness's invariants (schema = state = history, the
    guardrails in effect, the way back).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import BLOCKS_WRITES, MODES, BackgroundTransaction, DDLAudit, LockWatch, SlowReport

TABLE = "sightings_sighting"
COLUMN = "reviewed_at"
INDEX = "sighting_reviewed_idx"
# The task's index, as PostgreSQL prints models.Index(fields=["reviewed_at"]).
TASK_INDEXDEF = f"CREATE INDEX {INDEX} ON public.{TABLE} USING btree ({COLUMN})"
EXPORT_TABLE = "sightings_comment"
PATIENCE = 2.0          # seconds a user waits for a page before giving up
REPORT_TAIL = 5.0       # the report still runs this long after the migration first waits behind it
EXPORT_TAIL = 5.0       # the export still runs this long after a statement first waits for it
OBSTACLE_MAX = 300.0    # neither lasts longer than this, whatever the plan does
# The longest a migration may sit in the lock queue: every request behind it waits as long, and
# then needs its own time too (on production's slower pages, more than the lab's): half the
# patience, the chapter's figure (red team: a 1.5 s statement_timeout passed at 0.75 × patience).
QUEUE_LIMIT = 0.5 * PATIENCE

LOOK_INVALID = ("a build that was cut short can't be finished by running the same migration again (chapter 06). "
                "While the build waited, who was waiting behind it; and while the ALTER waited? Which of your "
                "statements does your guardrail cover, from where to where? `lab hint 07`")


@dataclass
class Waiter:
    pid: int
    query: str
    since: float
    last_seen: float
    gave_up: bool = False    # stopped waiting before the export committed: only an error does that

    @property
    def seconds(self) -> float:
        return self.last_seen - self.since


class Export(BackgroundTransaction):
    """The data team's export of the comments: a REPEATABLE READ transaction that read `table` and
    keeps its snapshot until it commits. It looks 20 times a second at who waits for it
    (pg_blocking_pids) and commits `tail` seconds after the first one started waiting, never later
    than `max_seconds` after it began. A statement that stops waiting while it is still open gave
    up (its lock_timeout, a statement_timeout, a cancel): it can't have gone through."""

    what = "export"

    def __init__(self, lab, table: str, tail: float, max_seconds: float):
        super().__init__(lab, table)
        self.tail, self.max_seconds = tail, max_seconds
        self.started = self.ended = None
        self.waiters: dict[tuple[int, str], Waiter] = {}

    def hold(self, conn, look) -> None:
        conn.execute("set application_name = 'comments export'")
        conn.commit()
        conn.execute("set transaction isolation level repeatable read")
        conn.execute(f"select count(*) from {self.table}")   # the snapshot, kept until commit
        self.started = time.monotonic()
        self.holding()
        first = None
        while not self.stop_requested():
            now = time.monotonic()
            if now - self.started >= self.max_seconds or (first is not None and now - first >= self.tail):
                break
            seen = {(pid, " ".join((q or "").split())) for pid, q in self.waiting_for_it(look).items()}
            for key in seen:
                w = self.waiters.setdefault(key, Waiter(key[0], key[1], now, now))
                w.last_seen = now
                first = first if first is not None else now
            for key, w in self.waiters.items():
                if key not in seen:
                    w.gave_up = True
            self.stop_requested(0.05)
        conn.commit()
        self.ended = time.monotonic()

    def builds(self) -> list[Waiter]:
        """The index builds that waited for the export."""
        return [w for w in self.waiters.values() if "create index" in w.query.lower()]

    def report(self) -> str:
        lines = [f"comments export (pid {self.pid}): open {((self.ended or time.monotonic()) - (self.started or 0)):.1f} s"
                 if self.started else "comments export: never opened"]
        for w in self.waiters.values():
            lines.append(f"  {w.seconds:5.2f}s  pid {w.pid} waited for it ({'gave up' if w.gave_up else 'went on'}): "
                         f"{w.query[:100]!r}")
        return "\n".join(lines)


def invalid_indexes(s: Scenario) -> list[str]:
    return [r[0] for r in s.lab.sql("select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
                                    "where i.indrelid = %s::regclass and not i.indisvalid order by 1", (TABLE,))]


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        reports: list[SlowReport] = []
        exports: list[Export] = []

        def gave_up_on_lock(since: int):
            # a migration whose lock_timeout fired between two looks at pg_locks waited too
            return lambda: any("lock timeout" in why for _, why in s.failed_attempts[since:])

        def obstacles(scenario, step):
            if not exports:
                export = Export(scenario.lab, EXPORT_TABLE, tail=EXPORT_TAIL, max_seconds=OBSTACLE_MAX)
                exports.append(export.__enter__())
                scenario.log(f"→ the comments export (pid {export.pid}) reads {EXPORT_TABLE} in one REPEATABLE READ "
                             f"transaction")
            if any(r.alive for r in reports) or COLUMN in scenario.columns(TABLE):
                return
            report = SlowReport(scenario.lab, TABLE, hold_after_waiter=REPORT_TAIL, max_seconds=OBSTACLE_MAX,
                                waiter_seen=gave_up_on_lock(len(s.failed_attempts)))
            reports.append(report.__enter__())
            scenario.log(f"→ a slow report (pid {report.pid}) reads {TABLE} and keeps its ACCESS SHARE lock")

        failure: CheckFailed | None = None
        with LockWatch(s.lab, TABLE) as watch, DDLAudit(s.lab) as audit:
            try:
                s.run(before_step=obstacles, traffic_timeout=PATIENCE)
            except CheckFailed as f:
                failure = f
            finally:
                for o in [*reports, *exports]:
                    o.stop()
        if log:
            log(watch.report())
            for e in exports:
                log(e.report())

        s.expect(watch.error is None, Kind.CHECK_ERROR,
                 f"the check could not watch PostgreSQL's locks while the plan ran ({watch.error})",
                 "run the check again; if it keeps failing, look at the lab's postgres.log")
        timeouts = [r for r in s.traffic.errors if r.error.startswith("timeout")] if s.traffic else []
        alters = [w for w in watch.of() if w.verb == "ALTER" or w.mode == "ACCESS EXCLUSIVE"]
        queued_long = [a for a in alters if a.seconds >= QUEUE_LIMIT]
        if timeouts or queued_long:
            if alters:
                a = (queued_long or alters)[0]
                queued = [w for w in watch.of() if a.pid in w.blocked_by and w.pid != a.pid]
                verbs = sorted({w.verb for w in queued})
                behind = ", ".join(f"pid {p} ({watch.holder(p).app or watch.holder(p).query}, holding "
                                   f"{watch.holder(p).mode})" if watch.holder(p) else f"pid {p}"
                                   for p in sorted(a.blocked_by)) or "the slow report"
                why = (f"the migration's `{a.query}` waited {a.seconds:.1f} s for its {a.mode} lock behind {behind}, "
                       f"and {len(queued)} statements ({', '.join(verbs) or 'none'}) queued behind the ALTER meanwhile")
            else:
                why = f"queries on {TABLE} waited for locks (longest {watch.longest():.1f} s)"
            if timeouts:
                what = (f"{len(timeouts)} of {len(s.traffic.records)} requests got no answer within {PATIENCE:g} s: "
                        f"{why}. First: {timeouts[0].method} {timeouts[0].path} at {timeouts[0].t:.1f} s")
            else:
                what = (f"{why}: every page of the site waited that long, {QUEUE_LIMIT:g} s or more of the "
                        f"{PATIENCE:g} s a user waits")
            raise CheckFailed(
                Kind.TIMEOUT, what,
                "a waiting ACCESS EXCLUSIVE request blocks every later query on the table, plain SELECTs "
                "too. What if the migration gave up on its lock quickly, well before users give up on a page, "
                "and the plan tried again a moment later? Does what you wrote really apply to the ALTER (a "
                "migration with no transaction around it)? `lab hint 07`",
            )

        # A build cut short leaves its index INVALID: PostgreSQL keeps it up to date, never reads it, and
        # the same migration run again meets what is already there.
        invalid = invalid_indexes(s)
        if invalid:
            export = exports[0] if exports else None
            cut = [w for w in (export.builds() if export else []) if w.gave_up]
            if cut:
                w = cut[0]
                behind_it = [x for x in watch.of() if w.pid in x.blocked_by]
                how = (f"`{w.query[:160]}` waited {w.seconds:.1f} s for the comments export (pid {export.pid}, a "
                       f"transaction open since before the plan, holding no lock on {TABLE}) and gave up; "
                       f"{len(behind_it)} statements on {TABLE} waited behind the build meanwhile. It left "
                       f"{', '.join(invalid)} INVALID (pg_index.indisvalid = false)")
            else:
                how = (f"an index build on {TABLE} was cut short and left {', '.join(invalid)} INVALID "
                       f"(pg_index.indisvalid = false)")
            if failure is not None:
                how += f"; then the plan's next attempt failed: {failure.message.split('; before that')[0]}"
            raise CheckFailed(Kind.INVALID_INDEX, how, LOOK_INVALID)
        if failure is not None:
            raise failure

        s.expect(bool(reports) and all(r.started for r in reports), Kind.CHECK_ERROR,
                 "the slow report never ran, so the check can't judge the plan", "run the check again")
        s.expect(bool(exports) and exports[0].error is None, Kind.CHECK_ERROR,
                 f"the comments export's transaction ended before its time "
                 f"({exports[0].error if exports else 'it never opened'}), so the check can't judge the plan",
                 "the plan may not end other people's transactions; run the check again")
        s.expect_no_failed_requests()

        col = s.columns(TABLE).get(COLUMN)
        s.expect(col is not None, Kind.COLUMN_MISSING,
                 f"after the plan, {TABLE} has no column `reviewed_at`: the migration never landed",
                 "the migration must still add the field once the report is over: how many times, how far "
                 "apart, does the plan retry it?")
        s.expect(col["nullable"], Kind.NOT_NULLABLE, "`reviewed_at` must stay NULL-able (old code never sets it)",
                 "the model says null=True: keep the migration's AddField as makemigrations wrote it")

        found = s.lab.sql("select pg_get_indexdef(i.indexrelid) from pg_index i join pg_class c on c.oid = i.indexrelid "
                          "where c.relname = %s", (INDEX,))
        s.expect(bool(found), Kind.INDEX_MISSING,
                 f"after the plan, {TABLE} has no index {INDEX}: v2 adds it for the moderators' queue",
                 "the task keeps v2's index (model and migration): the column and the index must both land")
        s.expect(found[0][0] == TASK_INDEXDEF, Kind.WRONG_INDEX,
                 f"the index {INDEX} is `{found[0][0]}`, but v2's model declares `{TASK_INDEXDEF}`",
                 "keep the index as v2's model declares it")
        for c in audit.commands():
            held = c.holds(TABLE, BLOCKS_WRITES)
            if c.tag == "CREATE INDEX" and held:
                s.expect(False, Kind.WRITE_STALL,
                         f"`{c.query.strip()[:160]}` built an index on {TABLE} while its session held "
                         f"{', '.join(MODES.get(m, m) for m in held)}: every INSERT waited until the build ended "
                         f"(here, on a small table, a moment; on production's, minutes)",
                         "chapter 06: which way of building an index lets writes go on, and what does it need "
                         "from the migration around it?")
        export = exports[0]
        s.expect(bool(export.builds()), Kind.CHECK_ERROR,
                 f"the index was built without waiting for the comments export (pid {export.pid}), so the check "
                 f"can't tell whether the build survives a long transaction",
                 "run the check again; a plan that waits the export out proves nothing about the next one")
        if log and s.failed_attempts:
            log(f"the migration landed after {len(s.failed_attempts)} failed attempt(s)")
        s.expect_end_state()
        return s
