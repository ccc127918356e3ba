"""Check for exercise 19: `Sighting.reporter` goes from varchar(100) to varchar(60) while both releases
serve, every name kept (cut to 59 characters and an ellipsis when it is longer than 60).

The verdict rests on what PostgreSQL holds and did, never on the learner's words:
  - the harness's invariants (lab/exercises.py): no rewrite of a table the traffic uses (its
    relfilenode), no rows changed or read under ACCESS EXCLUSIVE, schema = Django's state = history,
    the way back (migrate back and forward again, every row kept), pages that render, zero failed
    requests;
  - a visitor (lab.probes.run_plan) on every live slot after every change, and, at the same moments,
    a reporter with a long name (over 60 characters, as v1's form allows up to 100) on every live
    slot: the release that serves must save it, or refuse it in its own form (a release whose model
    says 60); a server error means a release met a column that can't hold what its form takes;
  - the column ends as varchar(60), and every row holds the name it held before the plan under the
    task's rule, read from PostgreSQL: the seeded rows (names of every length up to 100, the check's
    own edge cases at 59, 60, 61 and 100 characters, in other alphabets and with emoji), the
    sightings both releases wrote during the deploy, and the long names the check posted;
  - nothing of the work is left behind: no trigger or function of the learner's on the table.
"""
from lab.exercises import CheckFailed, Kind, Scenario
from lab.pgwatch import HOT_SCHEMA
from lab.probes import http_request, run_plan
from lab.traffic import CSRF_RE, REPORTERS, classify

TABLE = "sightings_sighting"
SEED_SIGHTINGS = 20_000   # the obstacle: a table whose names don't all fit (the check's, not the plan's)
LIMIT = 60
# Names at the edges, saved before the plan (other alphabets, emoji: PostgreSQL counts characters).
EDGE_NAMES = [
    "Zoë Ø'Brien, Willow Creek Sasquatch Research Society, team 7",      # 60: kept whole
    "Zoë Ø'Brien, Willow Creek Sasquatch Research Society, team 7!",     # 61: cut
    "Łukasz Żółć, Towarzystwo Badań nad Wielką Stopą, sekcja pół",      # 59
    "Aroha Ngāti-Rangi 🌲 " + "👣" * 39,                                  # 60, emoji
    "川のそばで大きな足跡を見た研究会" * 6 + "会会会会",                      # 100
]
# What the check posts after every change: longer than 60, within v1's 100.
LONG_NAME = "José Núñez 🌲 for the Willow Creek Sasquatch Research Society, north field team"
LOOK_KEEP = ("the task's rule: a name of more than 60 characters becomes its first 59 and '…'; every other "
             "name stays exactly as it is. Which rows does your change fill, by which rule, and when?")


def short(name: str) -> str:
    """The task's rule."""
    return name if len(name) <= LIMIT else name[:LIMIT - 1] + "…"


class LongNames:
    """After every change, a reporter with a long name on every live slot (straight to the slot)."""

    def __init__(self, s: Scenario):
        self.s, self.n, self.saved, self.refused = s, 0, {}, []

    def __call__(self, when: str) -> None:
        for sl in [sl for sl in self.s.lab.status()["slots"] if sl["live"]]:
            self.n += 1
            who = f"slot {sl['slot']} ({sl['release'] or sl['deployed_release']})"
            form = http_request(sl["port"], "GET", "/sightings/new/")
            token = CSRF_RE.search(form.body.decode(errors="replace"))
            cookie = form.headers.get("set-cookie", "").split("csrftoken=", 1)[-1].split(";", 1)[0]
            if form.status != 200 or not token or not cookie:
                continue   # the visitor and the traffic report a broken form
            title = f"Check: the long name #{self.n}"
            resp = http_request(sl["port"], "POST", "/sightings/new/", {
                "csrfmiddlewaretoken": token.group(1), "title": title, "description": "Posted by the check.",
                "location": "Bluff Creek, CA", "sighted_at": "2026-11-21 05:40", "reporter": LONG_NAME},
                {"csrftoken": cookie})
            if resp.status == 302:
                self.saved[title] = who
            elif resp.status == 200:
                self.refused.append(who)   # the release's own form says 60: it tells the reporter so
            else:
                kind, detail = classify("POST", "/sightings/new/", resp)
                raise CheckFailed(
                    kind if kind[:1].isdigit() else Kind.STEP_FAILED,
                    f"{when}, a reporter on {who} posted a name of {len(LONG_NAME)} characters (v1's form takes up "
                    f"to 100): {resp.status}"
                    + (f" {detail}" if detail else "") + ". The traffic's names are short; the check plays a long "
                    "one at every change",
                    "which release was serving, what does its form accept, and what can the column hold at that "
                    "moment? What must be true before the column gets narrower?")


def check(work_dir, log=None) -> Scenario:
    with Scenario(work_dir, log=log, seed_sightings=SEED_SIGHTINGS) as s:
        for i, name in enumerate(EDGE_NAMES):
            s.lab.sql(f"insert into {TABLE} (title, description, location, sighted_at, reporter, score, created_at) "
                      "values (%s, 'Seen by the check.', 'Orleans, CA', now(), %s, 50, now())",
                      (f"Check: an edge name #{i}", name))
        before = dict(s.lab.sql(f"select id, reporter from {TABLE}"))
        s.expect(any(len(n) > LIMIT for n in before.values()), Kind.CHECK_ERROR,
                 "the check's table has no name longer than 60 characters", "run the check again")
        longs = LongNames(s)
        visitor = run_plan(s, after_change=longs)
        if log:
            log(f"visitor: {visitor.visits} visits; long names saved by {sorted(set(longs.saved.values()))}, "
                f"refused by {sorted(set(longs.refused))}")
        s.expect_no_failed_requests()

        # 1. The column the task asks for.
        typ = s.lab.sql("select format_type(atttypid, atttypmod) from pg_attribute where attrelid = %s::regclass "
                        "and attname = 'reporter' and not attisdropped", (TABLE,))
        s.expect(bool(typ), Kind.COLUMN_MISSING, f"after the plan {TABLE} has no column `reporter`",
                 "the model keeps its field `reporter`; only its length changes")
        s.expect(typ[0][0] == f"character varying({LIMIT})", Kind.TYPE_UNCHANGED,
                 f"after the plan {TABLE}.reporter is {typ[0][0]}, not character varying({LIMIT})",
                 "what does the release that ends in production declare, and did a migration bring the column there?")

        # 2. Every name, by the task's rule: the seeded ones, the edge cases, what was written meanwhile.
        after = dict(s.lab.sql(f"select id, reporter from {TABLE}"))
        gone = sorted(set(before) - set(after))
        s.expect(not gone, Kind.DATA_LOST, f"{len(gone):,} sighting(s) are gone after the plan (first: id {gone[:1]})",
                 "which step deleted rows?")
        wrong = [(i, before[i], after[i]) for i in sorted(before) if after[i] != short(before[i])]
        if wrong:
            i, was, now = wrong[0]
            raise CheckFailed(Kind.WRONG_DATA,
                              f"{len(wrong):,} of {len(before):,} sightings that were there before the plan don't "
                              f"hold their reporter's name by the task's rule; first, id {i}: was {was!r} "
                              f"({len(was)} characters), should be {short(was)!r}, is {now!r}", LOOK_KEEP)
        titles = dict(s.lab.sql(f"select title, reporter from {TABLE} where title like 'Check: the long name #%%'"))
        for title, who in sorted(longs.saved.items()):
            s.expect(titles.get(title) == short(LONG_NAME), Kind.WRONG_DATA,
                     f"the long name the check posted to {who} ({title!r}) is {titles.get(title)!r} after the plan, "
                     f"not {short(LONG_NAME)!r}: a name an old release saved during the deploy", LOOK_KEEP)
        users = range(max(s.users, 8))
        known = {r.format(i=i) for r in REPORTERS for i in users} | {"check", short(LONG_NAME)}
        strange = [(i, n) for i, n in after.items() if i not in before and n not in known]
        s.expect(not strange, Kind.WRONG_DATA,
                 f"{len(strange):,} sighting(s) saved during the deploy hold a reporter's name nobody posted; first, "
                 f"id {strange[0][0] if strange else ''}: {strange[0][1] if strange else ''!r}. The traffic posted "
                 f"names such as {sorted(known)[:3]}",
                 "the old release kept saving sightings all through the deploy, knowing nothing of your change: "
                 "what filled the new column for the rows it wrote, and from when to when?")

        # 3. Nothing of the work left behind (the harness's own watch triggers aside).
        left = [r[0] for r in s.lab.sql(
            "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal "
            "and tgname not like %s", (TABLE, f"{HOT_SCHEMA}%"))]
        left += [f"function {r[0]}()" for r in s.lab.sql(
            "select proname from pg_proc where pronamespace = 'public'::regnamespace")]
        s.expect(not left, Kind.SCHEMA_DRIFT,
                 f"after the plan the database still has {', '.join(left)}: work of the change that Django's state "
                 f"doesn't know, which runs on every write (or waits for the next person to trip on it)",
                 "what did your change add to the database for the time of the deploy, and which step takes it away?")
        s.expect_end_state()
        return s
