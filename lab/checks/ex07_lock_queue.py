"""Check for exercise 07: a "fast" ALTER TABLE behind a slow report must not stop the site.

A slow report reads sightings_sighting in a long transaction (it holds ACCESS SHARE until it
commits). It is running before every plan step until the migration has landed, whatever the step
(a migrate, a deploy, a `manage` step running `migrate`, a `wait`), so no step order waits it out:
it commits only 5 s after the migration first waited for its lock behind it (or gave up on
lock_timeout), however long the plan took to get there. PostgreSQL is sampled 10× a second
meanwhile: who waits for which lock, behind whom. Simulated users give up on a request after 2 s.
"""
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import LockWatch, SlowReport

TABLE = "sightings_sighting"
COLUMN = "reviewed_at"
PATIENCE = 2.0          # seconds a user waits for a page before giving up
REPORT_TAIL = 5.0       # the report still runs this long after the migration first waits behind it
QUEUE_LIMIT = 0.75 * PATIENCE   # the longest a migration may sit in the lock queue: users queue behind it


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        reports: list[SlowReport] = []

        def gave_up_on_lock(since: int):
            # a migration whose lock_timeout fired between two looks at pg_locks waited too
            return lambda: any("lock timeout" in why for _, why in s.failed_attempts[since:])

        def start_report(scenario, step):
            if any(r.alive for r in reports) or COLUMN in scenario.columns(TABLE):
                return
            report = SlowReport(scenario.lab, TABLE, hold_after_waiter=REPORT_TAIL, max_seconds=300,
                                waiter_seen=gave_up_on_lock(len(s.failed_attempts)))
            reports.append(report.__enter__())
            scenario.log(f"→ a slow report (pid {report.pid}) reads {TABLE} and keeps its ACCESS SHARE lock")

        with LockWatch(s.lab, TABLE) as watch:
            try:
                s.run(before_step=start_report, traffic_timeout=PATIENCE)
            finally:
                for r in reports:
                    r.stop()
        if log:
            log(watch.report())

        s.expect(watch.error is None, Kind.CHECK_ERROR,
                 f"the check could not watch PostgreSQL's locks while the plan ran ({watch.error})",
                 "run the check again; if it keeps failing, look at the lab's postgres.log")
        s.expect(bool(reports) and all(r.started for r in reports), Kind.CHECK_ERROR,
                 "the slow report never ran, so the check can't judge the plan", "run the check again")
        timeouts = [r for r in s.traffic.errors if r.error.startswith("timeout")]
        alters = [w for w in watch.of() if w.verb == "ALTER" or w.mode == "ACCESS EXCLUSIVE"]
        queued_long = [a for a in alters if a.seconds >= QUEUE_LIMIT]
        if timeouts or queued_long:
            report = reports[0]
            if alters:
                a = (queued_long or alters)[0]
                queued = [w for w in watch.of() if a.pid in w.blocked_by and w.pid != a.pid]
                verbs = sorted({w.verb for w in queued})
                why = (f"the migration's `{a.query}` waited {a.seconds:.1f} s for its {a.mode} lock behind the slow "
                       f"report (pid {report.pid}, holding ACCESS SHARE), and "
                       f"{len(queued)} statements ({', '.join(verbs) or 'none'}) queued behind the ALTER meanwhile")
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
                "and the plan tried again a moment later? `lab hint 07`",
            )
        s.expect_no_failed_requests()

        col = s.columns(TABLE).get(COLUMN)
        s.expect(col is not None, Kind.COLUMN_MISSING,
                 f"after the plan, {TABLE} has no column `reviewed_at`: the migration never landed",
                 "the migration must still add the field once the report is over: how many times, how far "
                 "apart, does the plan retry it?")
        s.expect(col["nullable"], Kind.NOT_NULLABLE, "`reviewed_at` must stay NULL-able (old code never sets it)",
                 "the model says null=True: keep the migration's AddField as makemigrations wrote it")
        if log and s.failed_attempts:
            log(f"the migration landed after {len(s.failed_attempts)} failed attempt(s)")
        s.expect_end_state()
        return s

