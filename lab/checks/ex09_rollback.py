"""Check for exercise 09: roll back from v2 to v1 with no failed request and no data lost."""
from pathlib import Path

from lab.exercises import Scenario

TABLE = "sightings_sighting"
TRAFFIC_AGENT = "bigfoot-lab-traffic"   # the User-Agent of the simulated visitors


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        s.run()
        s.expect_no_failed_requests()
        # Reports that v2 answered: v2 stored each one's user agent.
        on_v2 = [r for r in s.traffic.records
                 if r.method == "POST" and r.path == "/sightings/new/" and r.ok and r.release == "v2"]
        s.expect(bool(on_v2), "plan error", "no sighting was reported while v2 served, so the rollback proves nothing",
                 "the plan must deploy v2 and let it serve for a while (a `wait` step) before rolling back")
        s.expect(s.serving_releases() == {"v1"}, "not rolled back",
                 f"after the plan, both slots should run v1 again; they run {sorted(s.serving_releases())}",
                 "end the plan by deploying v1 to blue and green")
        lost = (f"{len(on_v2)} sightings were reported while v2 was live, each with the browser it came from "
                f"(user_agent)")
        look = ("unapplying a migration runs its reverse, and AddField's reverse is DROP COLUMN. Roll back the code "
                "only: can v1 run on v2's schema? (what does v1's INSERT leave out, and what fills it?)")
        s.expect("user_agent" in s.columns(TABLE), "data lost",
                 f"{lost}; the rollback dropped the column and every one of those values with it", look)
        kept = s.lab.sql(f"select count(*) from {TABLE} where user_agent = %s", (TRAFFIC_AGENT,))[0][0]
        s.expect(kept >= len(on_v2), "data lost", f"{lost}; after the rollback only {kept} still have it", look)
        s.expect_end_state("v2")  # the schema stays v2's: v1 runs on it
        return s

