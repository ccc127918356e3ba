"""Check for exercise 03: `score` leaves the app and the database without a single failed request."""
from pathlib import Path

from lab.exercises import Scenario

TABLE = "sightings_sighting"


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        before = s.lab.sql(f"select count(*) from {TABLE}")[0][0]
        s.run()
        s.expect_no_failed_requests()
        final = s.final_release()
        # Every release's migrations must describe its own models (v2 included: a field gone from
        # the model must be gone from Django's migration state too).
        s.expect(s.serving_releases() == {final}, "not deployed",
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its last release to blue and green")
        cols = s.columns(TABLE)
        s.expect("score" not in cols, "column kept",
                 f"the plan finished, but {TABLE} still has the column `score`: the removal isn't done",
                 "drop the column in a LATER release (v3), once no running release selects or inserts it")
        s.expect('class="score"' not in s.lab.get("/").text, "score still shown",
                 f"release {final}'s list page still shows a score", "keep v2's template changes")
        after = s.lab.sql(f"select count(*) from {TABLE}")[0][0]
        s.expect(after >= before, "data lost", f"{TABLE} had {before} rows before the deploy and {after} after")
        s.expect_end_state()
        return s

