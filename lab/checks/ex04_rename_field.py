"""Check for exercise 04: `score` becomes `credibility` in the code, with no failed request and no lost value.

No page or form of the app writes a score, so the traffic alone can't lose one. The check writes
them itself, deterministically, from both releases:
  - release v1 (the old code: its model stores the field in the column `score`) sets scores at
    every step boundary AND right after every migration while it still serves, on seeded rows and
    on rows the traffic posted during the deploy: the moment an expand/contract without dual
    writes loses them;
  - the final release sets a credibility through its own model at the end.
Then EVERY row is compared: each one holds the last value written to it, by whichever release.
"""
from pathlib import Path

from lab.probes import posted_sightings, run_plan
from lab.exercises import LOOK_AT, CheckFailed, Kind, Scenario

TABLE = "sightings_sighting"
V1 = "v1"
FINAL_WRITE = 4242
FIND_FIELD = ("from sightings.models import Sighting\n"
              "f = Sighting._meta.get_field('credibility')\n"
              "print('COLUMN', f.column)\n"
              "row = Sighting.objects.order_by('-id').first()\n"
              f"row.credibility = {FINAL_WRITE}\n"
              "row.save()\n"
              "print('WROTE', row.pk)\n")
LOOK_LOST = ("while both releases serve, a value written through either name must end up where the final code "
             "reads it: one column under two names, or two columns kept in sync until the old release is gone "
             "(and copied again after that)")


class ScoreWriter:
    """Writes scores the way release v1's code does (UPDATE ... SET score = N) and remembers them."""

    def __init__(self, s: Scenario):
        self.s = s
        self.expected: dict[int, int] = {}
        self.rounds = 0

    def write_as_v1(self, when: str) -> None:
        if V1 not in self.s.serving_releases():
            return
        self.rounds += 1
        # Two seeded rows and the two newest rows (posted by the traffic during the deploy, once there are some).
        ids = [r[0] for r in self.s.lab.sql(
            f"(select id from {TABLE} where id <= 1000 order by id limit 2 offset %s) "
            f"union (select id from {TABLE} order by id desc limit 2)", (10 * self.rounds,))]
        for i in ids:
            value = 100_000 + 1000 * self.rounds + i % 1000
            try:
                self.s.lab.sql(f"update {TABLE} set score = %s where id = %s", (value, i))
            except Exception as e:  # noqa: BLE001 - the old code's own UPDATE failing IS the verdict
                raise CheckFailed(
                    "500 ProgrammingError",
                    f"{when}, release v1 (still serving) could not save a sighting's score: "
                    f"{str(e).strip().splitlines()[0]}", LOOK_AT["500"]) from None
            self.expected[i] = value


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        seeded = dict(s.lab.sql(f"select id, score from {TABLE}"))
        writer = ScoreWriter(s)
        visitor = run_plan(s, after_change=writer.write_as_v1)
        s.expect_no_failed_requests()
        final = s.final_release()
        s.expect(s.serving_releases() == {final}, Kind.NOT_DEPLOYED,
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its last release to blue and green")
        # The new behaviour: in the code, the field is called `credibility` (and writing it works).
        r = s.release_python(final, FIND_FIELD)
        out = dict(ln.split(None, 1) for ln in r.stdout.splitlines() if ln.startswith(("COLUMN ", "WROTE ")))
        column = out.get("COLUMN")
        s.expect(column is not None, Kind.NOT_RENAMED,
                 f"release {final}'s Sighting model has no field `credibility` "
                 f"({(r.stderr.strip().splitlines() or ['?'])[-1]})",
                 "keep the rename in the code: the task is to call the field `credibility`")
        cols = s.columns(TABLE)
        s.expect(column in cols, Kind.COLUMN_MISSING,
                 f"Sighting.credibility is stored in the column `{column}`, which {TABLE} doesn't have",
                 "a field's column is its name unless the field says otherwise")
        s.expect("WROTE" in out, Kind.STEP_FAILED,
                 f"release {final} could not save a sighting's credibility: "
                 f"{(r.stderr.strip().splitlines() or ['?'])[-1]}", "run `lab manage` on the release to see why")
        writer.expected[int(out["WROTE"])] = FINAL_WRITE
        # ... and EVERY row holds the last value written to it: seeded, written by v1, posted during the deploy.
        rows = dict(s.lab.sql(f"select id, {column} from {TABLE}"))
        posted = posted_sightings(s, visitor)
        s.expect(len(rows) == len(seeded) + posted, Kind.DATA_LOST,
                 f"{TABLE} had {len(seeded)} rows, the traffic posted {posted} sightings during the deploy, and it "
                 f"has {len(rows)} at the end", "a rename must not remove rows")
        wrong = []
        for i, got in sorted(rows.items()):
            want = writer.expected.get(i, seeded.get(i, 0))
            if got != want:
                who = ("release v1 wrote" if i in writer.expected and writer.expected[i] != FINAL_WRITE
                       else f"release {final} wrote" if i in writer.expected else
                       "it had before the deploy" if i in seeded else "it was posted with")
                wrong.append(f"sighting {i}: {who} {want}, its credibility is {got}")
        s.expect(not wrong, Kind.DATA_LOST,
                 f"{len(wrong)} of {len(rows)} sightings lost their score (column `{column}` compared row by row; "
                 f"the check wrote scores through release v1 after each migration while it served): "
                 + "; ".join(wrong[:3]) + ("; …" if len(wrong) > 3 else ""), LOOK_LOST)
        s.expect_end_state()
        return s
