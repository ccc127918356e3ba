"""Check for exercise 06: the search index is built on a big table while new sightings keep being saved.

The verdict is measured, twice over: PostgreSQL is sampled 10× a second while the plan runs
(every statement waiting for a lock on sightings_sighting, how long, behind whom), and the
traffic records how long each POST /sightings/new/ took. A plain CREATE INDEX makes every
INSERT wait for the whole build; CREATE INDEX CONCURRENTLY makes none wait.
"""
import statistics
from pathlib import Path

from lab.exercises import CheckFailed, Scenario
from lab.pgwatch import LockWatch

TABLE = "sightings_sighting"
SEED_SIGHTINGS = 200_000   # the obstacle: a big table (the check's, not the plan's)
INDEX = "sighting_search_idx"
STALL_SECONDS = 0.5   # an INSERT that waits this long for a table lock: writes are stalled


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log, seed_sightings=SEED_SIGHTINGS) as s:
        with LockWatch(s.lab, TABLE) as watch:
            s.run()
        if log:
            log(watch.report())

        s.expect(watch.error is None, "check error",
                 f"the check could not watch PostgreSQL's locks while the plan ran ({watch.error})",
                 "run the check again; if it keeps failing, look at the lab's postgres.log")
        posts = [r for r in s.traffic.records if r.method == "POST" and r.path == "/sightings/new/"]
        start = s.traffic.marks[0][0] if s.traffic.marks else 0.0
        during = [r for r in posts if r.t >= start]
        before = [r.latency_ms for r in posts if r.t < start] or [r.latency_ms for r in posts] or [0.0]
        worst = max((r.latency_ms for r in during), default=0.0)
        waited = watch.longest("INSERT")
        if waited >= STALL_SECONDS:
            w = watch.of("INSERT")[0]
            holder = next((watch.holder(p) for p in sorted(w.blocked_by) if watch.holder(p)), None)
            behind = (f"behind `{holder.query}` (pid {holder.pid}, holding {holder.mode})" if holder
                      else "behind the migration")
            raise CheckFailed(
                "write stall",
                f"while release v2's migration built {INDEX}, new sightings could not be saved: an INSERT into "
                f"{TABLE} waited {waited:.1f} s for its {w.mode} lock, {behind}; "
                f"{len(watch.of('INSERT'))} INSERTs waited in all, and POST /sightings/new/ took up to "
                f"{worst / 1000:.1f} s (before the migration: {statistics.median(before):.0f} ms)",
                "CREATE INDEX takes a SHARE lock, which blocks INSERT/UPDATE/DELETE until the whole index is "
                "built. Build it with AddIndexConcurrently (django.contrib.postgres.operations) in a migration "
                "with `atomic = False`; `lab hint 06`",
            )
        s.expect_no_failed_requests()

        rows = s.lab.sql("select i.indisvalid, pg_get_indexdef(i.indexrelid) from pg_index i "
                         "join pg_class c on c.oid = i.indexrelid where c.relname = %s", (INDEX,))
        s.expect(bool(rows), "index missing", f"after the plan there is no index {INDEX} on {TABLE}",
                 "release v2 must still create the search index (model Meta.indexes + migration 0002)")
        valid, definition = rows[0]
        s.expect(valid, "invalid index",
                 f"{INDEX} exists but is INVALID: a concurrent build that failed half-way leaves one behind",
                 "look at the migrate step's output; drop the index (DROP INDEX CONCURRENTLY) and migrate again")
        s.expect("gin" in definition.lower() and "to_tsvector" in definition and "description" in definition,
                 "wrong index", f"{INDEX} is not the full-text index on description the task asks for: {definition}",
                 "keep the GinIndex(SearchVector(\"description\", config=\"english\")) of the starter")
        s.expect_end_state()
        return s

