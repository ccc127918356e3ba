"""Check for exercise 20: the model Comment becomes Note, and its table sightings_note, with no failed
request, every comment where every release reads it, and the model's identity (content type,
permissions, admin history) carried over to Note.

Random traffic meets the old release at the wrong moment only by luck. The check plays it on
purpose (lab.probes.run_plan): at every step boundary, after every migration (one at a time) and
every slot switch,
  - a visitor opens each live slot's pages (a sighting's page lists its comments);
  - through each live slot a comment is posted, and the sighting's page on every live slot must
    list it right after (read-your-writes across releases: two tables caught up later fail here);
  - a moderator (seeded before the deploy: a group with view/change on comments, add/delete
    granted to him) opens the comments in each live slot's admin.
And, from an event trigger, no transaction may commit without the old name while v1 serves. At the end:
  - the final release's model is Note, and its table is really called sightings_note;
  - nothing is left under the old name (table, view or copy, permissions) once no release uses it;
  - every comment is in sightings_note and the final release's model sees it: the seeded ones, the
    ones the traffic posted, and each one the check posted through either release;
  - Note has the content type Comment had (the seeded admin history resolves to Note), no
    sightings.comment content type is left, and the moderator has Note's four permissions;
  - and the harness's invariants: schema = state = history, the way back (the renamed table is
    followed by its OID, rows compared), no long lock, no rewrite.
"""
import html
import json
import re
from pathlib import Path

from lab.exercises import LOOK_AT, CheckFailed, Kind, Scenario
from lab.probes import http_request, run_plan
from lab.traffic import CSRF_RE, classify

OLD_TABLE, NEW_TABLE = "sightings_comment", "sightings_note"
V1 = "v1"
MARK = "check: comment"
ACTIONS = ("add", "change", "delete", "view")
FIND_MODEL = ("import json\n"
              "from sightings.models import Note\n"
              "print('JSON ' + json.dumps({'table': Note._meta.db_table, 'count': Note.objects.count(),\n"
              f"    'marked': list(Note.objects.filter(body__startswith={MARK!r}).values_list('body', flat=True))}}))\n")
LOOK_WRITES = ("while both releases serve, a comment written through either must be in the table the other "
               "reads, at once: two names for one table, not two tables")
LOOK_IDENTITY = ("a model is more than its table: which rows point at it by its content type (permissions, the "
                 "admin's history, generic relations), and does your rename carry them over, or leave them on a "
                 "content type Django no longer uses? And which permission names does each release check?")


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


class CommentProbe:
    """Read-your-writes across releases, played on purpose after every change of the deploy: through
    each live slot (not nginx: no luck involved) a comment is posted to one sighting, and that
    sighting's page is then opened on EVERY live slot, which must list it. Two releases that read
    two tables (a copy, caught up later) show each other's comments late or never; one table under
    two names shows them at once. While v1 serves, its own INSERT, through whatever now answers to
    its table's name, is one of them."""

    def __init__(self, s: Scenario):
        self.s = s
        self.written: list[str] = []     # every comment the check posted, by whichever release
        self.through_v1 = 0
        self.v1_gone_at = None      # the database's clock when the check first saw v1 on no slot
        row = s.lab.sql("select max(id) from sightings_sighting where id <= 1000")
        self.sighting = row[0][0]

    @staticmethod
    def release_of(slot: dict) -> str:
        return slot.get("release") or slot.get("deployed_release")

    def probe(self, when: str) -> None:
        live = [sl for sl in self.s.lab.status()["slots"] if sl["live"]]
        if not any(self.release_of(sl) == V1 for sl in live) and self.through_v1 and self.v1_gone_at is None:
            self.v1_gone_at = self.s.lab.sql("select clock_timestamp()")[0][0]
        path = f"/sightings/{self.sighting}/"
        for sl in live:
            body = self._post(sl, path, when)
            for other in live:
                page = self._page(other, path, when)
                self.s.expect(body in page, Kind.WRITE_NOT_SEEN,
                              f"{when}, a comment posted through slot {sl['slot']} ({self.release_of(sl)}) is not on "
                              f"sighting {self.sighting}'s page on slot {other['slot']} ({self.release_of(other)}) right "
                              f"after: {body!r}. During a rolling deploy a visitor's next request can go to either "
                              f"release; what one release saved, every release that serves must show",
                              LOOK_WRITES)

    def _page(self, sl: dict, path: str, when: str) -> str:
        page = http_request(sl["port"], "GET", path)
        if page.status != 200:
            kind, detail = classify("GET", path, page)
            raise CheckFailed(kind if kind[:1].isdigit() else Kind.JOURNEY_BROKEN,
                              f"{when}, slot {sl['slot']} ({self.release_of(sl)}) could not show sighting "
                              f"{self.sighting}'s page with its comments: GET {path} → {page.status}"
                              + (f": {detail}" if detail else ""), LOOK_AT["500"])
        return html.unescape(page.body.decode(errors="replace"))

    def _post(self, sl: dict, path: str, when: str) -> str:
        page = http_request(sl["port"], "GET", path)
        token = CSRF_RE.search(page.body.decode(errors="replace"))
        cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("set-cookie", ""))
        if page.status != 200 or not (token and cookie):
            kind, detail = classify("GET", path, page)
            raise CheckFailed(kind if kind[:1].isdigit() else Kind.JOURNEY_BROKEN,
                              f"{when}, slot {sl['slot']} ({self.release_of(sl)}) could not show sighting "
                              f"{self.sighting}'s page with its comments and form: GET {path} → {page.status}"
                              + (f": {detail}" if detail else ""), LOOK_AT["500"])
        body = f"{MARK} #{len(self.written) + 1} via {self.release_of(sl)} ({when})"[:1000]
        resp = http_request(sl["port"], "POST", path + "comment/", {
            "csrfmiddlewaretoken": token.group(1), "author": "Check", "body": body},
            {"csrftoken": cookie.group(1)})
        if resp.status != 302:
            kind, detail = classify("POST", path + "comment/", resp)
            raise CheckFailed(kind if kind[:1].isdigit() else f"{resp.status}",
                              f"{when}, slot {sl['slot']} ({self.release_of(sl)}) could not save a comment: POST "
                              f"{path}comment/ → {resp.status}" + (f": {detail}" if detail else ""), LOOK_AT["500"])
        self.written.append(body)
        self.through_v1 += self.release_of(sl) == V1
        return body


class ModelIdentity:
    """The rows that point at the model, not at its table: its content type (which the admin's
    history, permissions and any generic relation point at by id) and the permissions staff were
    given on it. Seeded before the deploy as production has them: a moderators' group with
    view/change on comments, a moderator in it with add/delete granted to him directly, and an admin
    history entry for one comment. During the deploy the moderator opens the comments in the admin
    of every live release (logged in once: sessions are shared); at the end the final release's
    Django must resolve it all to Note, on the same content type, with nothing left under the old name."""

    USER, PASSWORD = "check-moderator", "check-moderator-not-secret-20"
    GROUP_GETS, USER_GETS = ("view", "change"), ("add", "delete")

    def __init__(self, s: Scenario):
        self.s = s
        sql = s.lab.sql
        ct = sql("select id from django_content_type where app_label = 'sightings' and model = 'comment'")
        perms = dict(sql("select p.codename, p.id from auth_permission p join django_content_type c "
                         "on c.id = p.content_type_id where c.app_label = 'sightings' and c.model = 'comment'"))
        if not ct or any(f"{a}_comment" not in perms for a in ACTIONS):
            raise CheckFailed(Kind.CHECK_ERROR, "the baseline database has no content type or permissions for "
                              "sightings.Comment", "rebuild the check's template: delete LAB_CACHE's template-*")
        self.ct_id = ct[0][0]
        self.group = sql("insert into auth_group (name) values ('check: comment moderators') returning id")[0][0]
        self.user = sql("insert into auth_user (password, is_superuser, username, first_name, last_name, email, "
                        "is_staff, is_active, date_joined) values (%s, false, %s, '', '', '', true, true, now()) "
                        "returning id", (django_password(self.PASSWORD), self.USER))[0][0]
        sql("insert into auth_user_groups (user_id, group_id) values (%s, %s)", (self.user, self.group))
        for a in self.GROUP_GETS:
            sql("insert into auth_group_permissions (group_id, permission_id) values (%s, %s)",
                (self.group, perms[f"{a}_comment"]))
        for a in self.USER_GETS:
            sql("insert into auth_user_user_permissions (user_id, permission_id) values (%s, %s)",
                (self.user, perms[f"{a}_comment"]))
        cid = sql(f"select min(id) from {OLD_TABLE}")[0][0]
        self.comment = str(cid)
        self.log_entry = sql("insert into django_admin_log (action_time, object_id, object_repr, action_flag, "
                             "change_message, content_type_id, user_id) values (now(), %s, %s, 2, "
                             "'[{\"changed\": {\"fields\": [\"Body\"]}}]', %s, %s) returning id",
                             (self.comment, f"comment {cid}", self.ct_id, self.user))[0][0]
        self.session = None

    def facts(self) -> str:
        """What the database says right now: the app's content types, and the moderator's permissions."""
        sql = self.s.lab.sql
        cts = ", ".join(f"{m} (id {i}{', the one seeded on' if i == self.ct_id else ''})" for i, m in sql(
            "select id, model from django_content_type where app_label = 'sightings' order by id"))
        has = sql("select distinct c.app_label || '.' || p.codename from auth_permission p join django_content_type c "
                  "on c.id = p.content_type_id where p.id in (select permission_id from auth_user_user_permissions "
                  "where user_id = %s union select gp.permission_id from auth_group_permissions gp join "
                  "auth_user_groups ug on ug.group_id = gp.group_id where ug.user_id = %s) order by 1",
                  (self.user, self.user))
        return (f"content types of sightings now: {cts}; the moderator's permissions now: "
                f"{', '.join(r[0] for r in has) or 'none'}")

    def login(self, slot: dict) -> None:
        page = http_request(slot["port"], "GET", "/admin/login/")
        token = CSRF_RE.search(page.body.decode(errors="replace"))
        cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("set-cookie", ""))
        resp = http_request(slot["port"], "POST", "/admin/login/?next=/admin/", {
            "csrfmiddlewaretoken": token.group(1) if token else "", "username": self.USER,
            "password": self.PASSWORD, "next": "/admin/"}, {"csrftoken": cookie.group(1) if cookie else ""})
        session = re.search(r"sessionid=([^;]+)", resp.headers.get("set-cookie", ""))
        if resp.status != 302 or not session:
            raise CheckFailed(Kind.CHECK_ERROR, f"the check's moderator could not log in to the admin of slot "
                              f"{slot['slot']} before the deploy: POST /admin/login/ → {resp.status}",
                              "run the check again; if it persists, the kit's app has changed")
        self.session = session.group(1)

    def visit(self, when: str) -> None:
        """The moderator opens the admin's sightings app and its comments (under whatever name the
        release gives them) on every live slot."""
        for sl in [sl for sl in self.s.lab.status()["slots"] if sl["live"]]:
            rel = CommentProbe.release_of(sl)
            if self.session is None:
                self.login(sl)
            cookies = {"sessionid": self.session}
            app = http_request(sl["port"], "GET", "/admin/sightings/", cookies=cookies)
            models = re.findall(r'href="/admin/sightings/(\w+)/"', app.body.decode(errors="replace"))
            where = "/admin/sightings/"
            if app.status == 200 and models:
                where = f"/admin/sightings/{models[0]}/"
                page = http_request(sl["port"], "GET", where, cookies=cookies)
                if page.status == 200:
                    continue
                app = page
            self.s.expect(False, Kind.IDENTITY_LOST,
                          f"{when}, a moderator whose group could view and change comments before the deploy (and "
                          f"who could add and delete them himself) can't open them in the admin of slot {sl['slot']} "
                          f"({rel}): GET {where} → {app.status}"
                          + (" (a login page: the session was refused)" if app.status == 302 else "")
                          + f". {self.facts()}. In production: staff lose the comments from the deploy on",
                          LOOK_IDENTITY)

    FINAL = ("from django.contrib.admin.models import LogEntry\n"
             "from django.contrib.auth import get_user_model\n"
             "from django.contrib.contenttypes.models import ContentType\n"
             "u = get_user_model().objects.get(username=USER)\n"
             "e = LogEntry.objects.filter(id=LOG).select_related('content_type').first()\n"
             "ct = ContentType.objects.filter(app_label=Note._meta.app_label, model=Note._meta.model_name).first()\n"
             "identity = {'ct': ct.id if ct else None,\n"
             "    'stale': list(ContentType.objects.filter(app_label='sightings', model='comment').values_list('id', flat=True)),\n"
             "    'lacks': [p for p in ['sightings.%s_%s' % (a, Note._meta.model_name) for a in ACTIONS] if not u.has_perm(p)],\n"
             "    'log': e.content_type.model_class().__name__ if e and e.content_type.model_class() else (e.content_type.model if e else None),\n"
             "    'old_perms': sorted(ContentType.objects.get(id=CT).permission_set.filter(codename__endswith='_comment').values_list('codename', flat=True))\n"
             "        if ContentType.objects.filter(id=CT).exists() else []}\n")

    def final_code(self) -> str:
        return (self.FINAL.replace("USER", repr(self.USER)).replace("LOG", str(self.log_entry))
                .replace("ACTIONS", repr(list(ACTIONS))).replace("CT", str(self.ct_id)))

    def expect_followed(self, final: str, found: dict) -> None:
        s = self.s
        moved = found["ct"] == self.ct_id
        s.expect(moved and not found["stale"], Kind.IDENTITY_LOST,
                 f"after the deploy, release {final}'s Note has "
                 + (f"the content type id {found['ct']}, not {self.ct_id}, the one Comment had" if not moved else
                    f"Comment's content type (id {self.ct_id}), but another called sightings.comment is left "
                    f"(id {', '.join(map(str, found['stale']))})")
                 + f" (the admin history of comment {self.comment} now names {found['log']!r}). Whatever pointed at "
                 f"Comment's content type (admin history, permissions, generic relations) no longer points at "
                 f"the model. {self.facts()}", LOOK_IDENTITY)
        s.expect(not found["lacks"], Kind.IDENTITY_LOST,
                 f"after the deploy, the moderator (view and change on comments through his group, add and delete "
                 f"granted to him) lacks {', '.join(found['lacks'])} in release {final}: staff lose their comments "
                 f"with the rename. {self.facts()}", LOOK_IDENTITY)
        s.expect(not found["old_perms"], Kind.OLD_NAME_LEFT,
                 f"after the plan, Note's content type still has the permissions {', '.join(found['old_perms'])}, "
                 f"named after a model no release that runs has (the admin lists them under note, next to its own)",
                 "which release was the last that checked the old permissions' names, and what can happen to them "
                 "once it is gone from every slot?")


def django_password(password: str) -> str:
    """A password hash Django's default hasher accepts (PBKDF2-SHA256), made here so the check's
    moderator is seeded with SQL, before any release starts."""
    import base64
    import hashlib
    import secrets
    iterations = 1_000_000
    try:
        from django.contrib.auth.hashers import PBKDF2PasswordHasher
        iterations = PBKDF2PasswordHasher.iterations
    except Exception:  # noqa: BLE001 - Django's own default, if the import fails here
        pass
    salt = secrets.token_hex(11)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode().strip()}"


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        seeded = s.lab.sql(f"select count(*) from {OLD_TABLE}")[0][0]
        watch = OldNameWatch(s)
        identity = ModelIdentity(s)
        s.setup_done()
        comments = CommentProbe(s)

        def after_change(when):
            comments.probe(when)
            identity.visit(when)
        run_plan(s, after_change=after_change)
        # The moments without the old name first: they are the cause of whatever the traffic met in them
        gaps = watch.gaps(comments.v1_gone_at)
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
        s.expect(comments.through_v1 > 0, Kind.TRAFFIC_GAP,
                 "release v1 never served after the plan began, so the check could not write through it",
                 "the plan starts with v1 on both slots: does its first step replace them at once?")
        # The new behaviour: the model is Note, and its table carries the new name.
        r = s.release_python(final, FIND_MODEL + "try:\n" + "".join(
            "    " + ln + "\n" for ln in identity.final_code().splitlines())
            + "    print('IDENTITY ' + json.dumps(identity))\n"
            "except Exception as e:\n    print('IDENTITY ' + json.dumps({'error': repr(e)}))\n")
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
        s.expect(line is not None, Kind.NOT_RENAMED,
                 f"release {final} has no model Note that can be read "
                 f"({(r.stderr.strip().splitlines() or ['?'])[-1]})",
                 "keep the rename in the code: the task is to call the model Note")
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
        # Every comment is where the final release reads it: seeded, posted by the traffic, posted by the check.
        posted = sum(1 for x in s.traffic.records if x.journey == "comment" and x.method == "POST" and x.ok)
        written = comments.written
        expected = seeded + posted + len(written)
        missing = [w for w in written if w not in set(model["marked"])]
        s.expect(not missing, Kind.DATA_LOST,
                 f"{len(missing)} of the {len(written)} comments the check posted during the deploy are not in "
                 f"{NEW_TABLE}, where release {final} reads: first, {missing[0] if missing else ''!r}", LOOK_WRITES)
        s.expect(model["count"] == expected, Kind.DATA_LOST,
                 f"{OLD_TABLE} had {seeded} comments, the traffic posted {posted} and the check {len(written)} "
                 f"during the deploy, and release {final} sees {model['count']}", LOOK_WRITES)
        # The model's identity: what pointed at Comment points at Note, and nothing at a stale name.
        found = next((json.loads(ln[9:]) for ln in r.stdout.splitlines() if ln.startswith("IDENTITY ")),
                     {"error": (r.stderr.strip().splitlines() or ["?"])[-1]})
        if "error" in found:
            raise CheckFailed(Kind.CHECK_ERROR, f"release {final}'s content types and permissions can't be read: "
                              f"{found['error']}", "run the check with -v and read the error")
        identity.expect_followed(final, found)
        s.log(f"  ✓ {NEW_TABLE}: {model['count']} comments ({seeded} seeded, {posted} posted by the traffic, "
              f"{len(written)} by the check, {comments.through_v1} of them through v1, each seen at once on every "
              f"live slot), nothing left under the old name; Note has Comment's content type "
              f"(id {identity.ct_id}) and the moderator its permissions")
        s.expect_end_state()
        return s
