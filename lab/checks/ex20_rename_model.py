"""Check for exercise 20: the model Comment becomes Note, and its table sightings_note, with no failed
request and every comment where the new release reads it.

Random traffic meets the old release at the wrong moment only by luck. The check plays it on
purpose (lab.probes.run_plan): at every step boundary, after every migration (one at a time) and
every slot switch, a visitor opens each live slot's pages (a sighting's page lists its comments),
and, while release v1 still serves, a comment is posted through v1 itself. At the end:
  - the final release's model is Note, and its table is really called sightings_note;
  - nothing is left under the old name (table, view or copy) once no release uses it;
  - every comment is in sightings_note and the final release's model sees it: the seeded ones, the
    ones the traffic posted, and each one v1 wrote during the deploy, whichever name it used;
  - and the harness's invariants: schema = state = history, the way back (the renamed table is
    followed by its OID, rows compared), no long lock, no rewrite.
"""
import re
from pathlib import Path

from lab.exercises import LOOK_AT, CheckFailed, Kind, Scenario
from lab.probes import http_request, run_plan
from lab.traffic import CSRF_RE, classify

OLD_TABLE, NEW_TABLE = "sightings_comment", "sightings_note"
V1 = "v1"
MARK = "check: written by v1"
FIND_MODEL = ("import json\n"
              "from sightings.models import Note\n"
              "print('JSON ' + json.dumps({'table': Note._meta.db_table, 'count': Note.objects.count(),\n"
              f"    'marked': list(Note.objects.filter(body__startswith={MARK!r}).values_list('body', flat=True))}}))\n")
LOOK_WRITES = ("while both releases serve, a comment written through the old name must end up in the table the new "
               "release reads: two names for one table, not two tables")


class OldNameWatch:
    """Whether the old name exists at the end of every transaction that changes the schema: an event
    trigger notes, at each DDL statement's end, the transaction and whether a relation called
    sightings_comment exists. What another session sees at a commit is what the transaction's last
    statement left, so a transaction whose last DDL left no old name, while v1 still served, is a
    moment when every v1 request for comments fails, however short (the visitor probes between
    migrations, not between the statements of a migration that is not atomic)."""

    SCHEMA = "lab_ex20"

    def __init__(self, s: Scenario):
        self.s = s
        sql = s.lab.sql
        sql(f"create schema {self.SCHEMA}")
        sql(f"create table {self.SCHEMA}.ddl (n bigserial, xid xid8, old_name boolean, at timestamptz, query text)")
        sql(f"create function {self.SCHEMA}.on_ddl() returns event_trigger language plpgsql security definer "
            f"set search_path = pg_catalog as $$ begin insert into {self.SCHEMA}.ddl (xid, old_name, at, query) "
            f"values (pg_current_xact_id(), to_regclass('public.{OLD_TABLE}') is not null, clock_timestamp(), "
            f"left(current_query(), 300)); end $$")
        sql(f"create event trigger {self.SCHEMA}_ddl on ddl_command_end execute function {self.SCHEMA}.on_ddl()")

    def gaps(self, until) -> list[str]:
        """The statements whose transaction ended without the old name, before `until` (when v1 stopped
        serving; None: it never stopped)."""
        rows = self.s.lab.sql(
            f"select distinct on (xid) old_name, at < coalesce(%s, 'infinity'::timestamptz), query "
            f"from {self.SCHEMA}.ddl order by xid, n desc", (until,))
        return [q for old_name, while_v1, q in rows if not old_name and while_v1]


class OldReleaseWriter:
    """Posts a comment through release v1's own slot (not nginx: no luck involved) after every change
    of the deploy while v1 serves, and remembers each one: the old code's INSERT, through whatever
    now answers to its table's name."""

    def __init__(self, s: Scenario):
        self.s = s
        self.written: list[str] = []
        self.v1_gone_at = None      # the database's clock when the check first saw v1 on no slot
        row = s.lab.sql("select max(id) from sightings_sighting where id <= 1000")
        self.sighting = row[0][0]

    def write_as_v1(self, when: str) -> None:
        slots = [sl for sl in self.s.lab.status()["slots"]
                 if sl["live"] and (sl.get("release") or sl.get("deployed_release")) == V1]
        if not slots:
            if self.written and self.v1_gone_at is None:
                self.v1_gone_at = self.s.lab.sql("select clock_timestamp()")[0][0]
            return
        port, path = slots[0]["port"], f"/sightings/{self.sighting}/"
        page = http_request(port, "GET", path)
        token = CSRF_RE.search(page.body.decode(errors="replace"))
        cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("set-cookie", ""))
        if page.status != 200 or not (token and cookie):
            kind, detail = classify("GET", path, page)
            raise CheckFailed(kind if kind[:1].isdigit() else Kind.JOURNEY_BROKEN,
                              f"{when}, release v1 (still serving) could not show sighting {self.sighting}'s page "
                              f"with its comments and form: GET {path} → {page.status}"
                              + (f": {detail}" if detail else ""), LOOK_AT["500"])
        body = f"{MARK} #{len(self.written) + 1} ({when})"[:1000]
        resp = http_request(port, "POST", path + "comment/", {
            "csrfmiddlewaretoken": token.group(1), "author": "Check (v1)", "body": body},
            {"csrftoken": cookie.group(1)})
        if resp.status != 302:
            kind, detail = classify("POST", path + "comment/", resp)
            raise CheckFailed(kind if kind[:1].isdigit() else f"{resp.status}",
                              f"{when}, release v1 (still serving) could not save a comment: POST "
                              f"{path}comment/ → {resp.status}" + (f": {detail}" if detail else ""), LOOK_AT["500"])
        self.written.append(body)


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        seeded = s.lab.sql(f"select count(*) from {OLD_TABLE}")[0][0]
        watch = OldNameWatch(s)
        s.setup_done()
        writer = OldReleaseWriter(s)
        run_plan(s, after_change=writer.write_as_v1)
        # The moments without the old name first: they are the cause of whatever the traffic met in them
        gaps = watch.gaps(writer.v1_gone_at)
        failed = len(s.traffic.errors)
        s.expect(not gaps, Kind.NAME_GAP,
                 f"while release v1 still served, {len(gaps)} transaction(s) committed with no relation called "
                 f"{OLD_TABLE}; the last statement of the first: {' '.join(gaps[0].split())[:200] if gaps else ''}. "
                 f"From that commit to the next, every v1 request that reads or writes comments fails"
                 + (f" ({failed} request(s) of the traffic did)" if failed else
                    " (the traffic and the check's visitor missed it by luck: it was short)"),
                 "what does another session see of a transaction: each statement, or only what the last one left "
                 "at the commit? Which of your migrations commits more than once?")
        s.expect_no_failed_requests()
        final = s.final_release()
        s.expect(s.serving_releases() == {final}, Kind.NOT_DEPLOYED,
                 f"after the plan, both slots should run {final}; they run {sorted(s.serving_releases())}",
                 "the plan must deploy its last release to blue and green")
        s.expect(bool(writer.written), Kind.TRAFFIC_GAP,
                 "release v1 never served after the plan began, so the check could not write through it",
                 "the plan starts with v1 on both slots: does its first step replace them at once?")
        # The new behaviour: the model is Note, and its table carries the new name.
        r = s.release_python(final, FIND_MODEL)
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
        s.expect(line is not None, Kind.NOT_RENAMED,
                 f"release {final} has no model Note that can be read "
                 f"({(r.stderr.strip().splitlines() or ['?'])[-1]})",
                 "keep the rename in the code: the task is to call the model Note")
        import json
        model = json.loads(line[5:])
        kinds = dict(s.lab.sql("select c.relname, c.relkind::text from pg_class c join pg_namespace n on "
                               "n.oid = c.relnamespace and n.nspname = 'public' where c.relname = any(%s)",
                               ([OLD_TABLE, NEW_TABLE],)))
        s.expect(model["table"] == NEW_TABLE and kinds.get(NEW_TABLE) == "r", Kind.NOT_RENAMED,
                 f"release {final}'s Note is stored in {model['table']}"
                 + ("" if kinds.get(NEW_TABLE) == "r" else f", and there is no table {NEW_TABLE}")
                 + f": the task is a table called {NEW_TABLE}, as the reports team's SQL expects",
                 "the name in the code changed; which name does the database give the table, and which does the "
                 "task ask for?")
        what = {"v": "a view", "m": "a materialized view", "r": "a table"}.get(kinds.get(OLD_TABLE), "a relation")
        s.expect(OLD_TABLE not in kinds, Kind.OLD_NAME_LEFT,
                 f"after the plan, {what} called {OLD_TABLE} is still there, though no release that runs uses that "
                 f"name any more: the next change to {NEW_TABLE}'s columns has to know about it, and so does "
                 f"everyone who reads the schema",
                 "which release was the last that needed the old name, and what can happen once it is gone "
                 "from every slot?")
        # Every comment is where the final release reads it: seeded, posted by the traffic, written by v1.
        posted = sum(1 for x in s.traffic.records if x.journey == "comment" and x.method == "POST" and x.ok)
        expected = seeded + posted + len(writer.written)
        missing = [w for w in writer.written if w not in set(model["marked"])]
        s.expect(not missing, Kind.DATA_LOST,
                 f"{len(missing)} of the {len(writer.written)} comments the check posted through release v1 during "
                 f"the deploy are not in {NEW_TABLE}, where release {final} reads: first, {missing[0] if missing else ''!r}",
                 LOOK_WRITES)
        s.expect(model["count"] == expected, Kind.DATA_LOST,
                 f"{OLD_TABLE} had {seeded} comments, the traffic posted {posted} and the check {len(writer.written)} "
                 f"through v1 during the deploy, and release {final} sees {model['count']}", LOOK_WRITES)
        s.log(f"  ✓ {NEW_TABLE}: {model['count']} comments ({seeded} seeded, {posted} posted by the traffic, "
              f"{len(writer.written)} through v1 during the deploy), nothing left under the old name")
        s.expect_end_state()
        return s
