"""Check for exercise 07: a "fast" ALTER TABLE behind a slow report must not stop the site.

Just before the plan's migration, a slow report starts reading sightings_sighting (a long
transaction: it holds ACCESS SHARE until it commits, 5 s after the migration first waits for
its lock). PostgreSQL is sampled 10× a second meanwhile: who waits for which lock, behind whom.
Simulated users give up on a request after 2 s.
"""
from pathlib import Path

from lab.exercises import CheckFailed, Scenario
from lab.pgwatch import LockWatch, SlowReport

TABLE = "sightings_sighting"
PATIENCE = 2.0          # seconds a user waits for a page before giving up
REPORT_TAIL = 5.0       # the report still runs this long after the migration starts waiting


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        reports: list[SlowReport] = []

        def start_report(scenario, step):
            if step["action"] in ("migrate", "deploy") and not reports:
                report = SlowReport(scenario.lab, TABLE, hold_after_waiter=REPORT_TAIL, max_seconds=15)
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

        s.expect(watch.error is None, "check error",
                 f"the check could not watch PostgreSQL's locks while the plan ran ({watch.error})",
                 "run the check again; if it keeps failing, look at the lab's postgres.log")
        timeouts = [r for r in s.traffic.errors if r.error.startswith("timeout")]
        if timeouts:
            alters = watch.of("ALTER")
            report = reports[0] if reports else None
            if alters:
                a = alters[0]
                queued = [w for w in watch.of() if a.pid in w.blocked_by and w.pid != a.pid]
                verbs = sorted({w.verb for w in queued})
                why = (f"the migration's `{a.query}` waited {a.seconds:.1f} s for its {a.mode} lock behind the slow "
                       f"report (pid {report.pid if report else '?'}, holding ACCESS SHARE), and "
                       f"{len(queued)} statements ({', '.join(verbs) or 'none'}) queued behind the ALTER meanwhile")
            else:
                why = f"queries on {TABLE} waited for locks (longest {watch.longest():.1f} s)"
            raise CheckFailed(
                "timeout",
                f"{len(timeouts)} of {len(s.traffic.records)} requests got no answer within {PATIENCE:g} s: {why}. "
                f"First: {timeouts[0].method} {timeouts[0].path} at {timeouts[0].t:.1f} s",
                "a waiting ACCESS EXCLUSIVE request blocks every later query on the table, plain SELECTs "
                "too. Make the migration give up quickly (`SET lock_timeout`) and let the plan retry it "
                "(`retries` on the step); `lab hint 07`",
            )
        s.expect_no_failed_requests()

        col = s.columns(TABLE).get("reviewed_at")
        s.expect(col is not None, "column missing",
                 f"after the plan, {TABLE} has no column `reviewed_at`: the migration never landed",
                 "the migration must still add the field once the report is over: how many times, how far "
                 "apart, does the plan retry it?")
        s.expect(col["nullable"], "not nullable", "`reviewed_at` must stay NULL-able (old code never sets it)")
        if log and s.failed_attempts:
            log(f"the migration landed after {len(s.failed_attempts)} failed attempt(s)")
        s.expect_end_state()
        return s

