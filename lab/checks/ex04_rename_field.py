"""Check for exercise 04: `score` becomes `credibility` in the code, with no failed request and no lost value."""
from pathlib import Path

from lab.exercises import Scenario

TABLE = "sightings_sighting"
WHERE_SEEDED = "id <= 1000"   # the baseline's rows: their scores must survive the rename
FIND_FIELD = ("from sightings.models import Sighting\n"
              "print('COLUMN', Sighting._meta.get_field('credibility').column)\n")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        total_before = s.lab.sql(f"select sum(score) from {TABLE} where {WHERE_SEEDED}")[0][0]
        s.run()
        s.expect_no_failed_requests()
        final = s.final_release()
        s.expect(s.serving_releases() == {final}, "not deployed",
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its last release to blue and green")
        # The new behaviour: in the code, the field is called `credibility`.
        r = s.release_python(final, FIND_FIELD)
        column = next((ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("COLUMN ")), None)
        s.expect(column is not None, "not renamed",
                 f"release {final}'s Sighting model has no field `credibility` "
                 f"({(r.stderr.strip().splitlines() or ['?'])[-1]})",
                 "keep the rename in the code: the task is to call the field `credibility`")
        cols = s.columns(TABLE)
        s.expect(column in cols, "column missing",
                 f"Sighting.credibility is stored in the column `{column}`, which {TABLE} doesn't have")
        # ... and every credibility value is the score it was before.
        total_after = s.lab.sql(f"select sum({column}) from {TABLE} where {WHERE_SEEDED}")[0][0]
        s.expect(total_after == total_before, "data lost",
                 f"the seeded sightings' scores added up to {total_before} before the deploy; their credibility "
                 f"(column `{column}`) adds up to {total_after} after it",
                 "a new column starts empty: copy (backfill) the old values before reading from it")
        s.expect_end_state()
        return s

