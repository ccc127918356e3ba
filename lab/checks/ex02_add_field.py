"""Check for exercise 02: adding `flagged` must not break the release that is still serving."""
from pathlib import Path

from lab.exercises import Scenario



def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        s.run()
        s.expect_no_failed_requests()
        col = s.columns("sightings_sighting").get("flagged")
        s.expect(col is not None, "column missing", "the table sightings_sighting has no column `flagged`",
                 "release v2 must add the field and its migration")
        s.expect(not col["nullable"], "nullable", "`flagged` is NULL-able; the task keeps it NOT NULL")
        s.expect((col["default"] or "").startswith("false"), "no db default",
                 f"the column has no database default (it is {col['default']!r}); old code's INSERTs need one",
                 "look at `db_default`")
        nulls = s.lab.sql("select count(*) from sightings_sighting where flagged is null")[0][0]
        s.expect(nulls == 0, "nulls", f"{nulls} rows have flagged = NULL")
        s.expect_end_state()
        return s

