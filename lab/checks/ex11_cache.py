"""Check for exercise 11: two releases share one cache; neither is served what the other cached,
and nobody is logged out.

Production is the check's, not the plan's: before the plan, the check puts release v2 (app_v2/:
a database cache every slot shares, the hotspots box cached in it, and the moderators' sessions
kept in it) on both slots, creates the cache table, lets traffic fill the cache and logs a
moderator in to the admin. app_v2/ must be as the kit ships it: it is what already runs, and no
edit there can reach the servers that run it. Then the learner's plan rolls v3 out while traffic
flows. What must hold:

  - zero failed requests while v2 and v3 serve side by side: an entry one release pickled and the
    other can't use is a 500 (v2 can't unpickle v3's Hotspot; v3 can't use v2's tuples);
  - every page's static files belong to the release that rendered it (the traffic compares each
    page with its release's staticfiles.json): a fragment cached by another release shows up here;
  - no computed entry is shared by two releases, now or at the next deploy. Random traffic finds a
    shared entry only when it holds something the other release can't use, so the check also
    asks the releases which cache keys their list page uses (each release's own Django and
    settings, in a slot's environment): v2's and v3's must differ, and v3's code run as the NEXT
    release (v4, same files) must use keys of its own on the same slot. A key that depends on the
    slot, or a constant (a prefix, a VERSION) that someone has to remember to change, fails that;
  - nobody is logged out: every moderator logged in so far (on v2 before the plan, and by v3 as
    soon as it serves) is still logged in on every live slot at every moment the deploy changes
    something, and on v3's code run as v4 after the plan. A session is data the releases share
    on purpose: a key of each release's own loses it;
  - v3 still caches (its list page uses the cache) and its hotspots box is live on both slots.
"""
from __future__ import annotations

import http.client
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from lab.config import lab_secrets
from lab.exercises import CheckFailed, Kind, Scenario
from lab.kinds import traffic_kind
from lab.probes import run_plan
from lab.releases import content_hash
from lab.slots import slot_env
from lab.traffic import Response, classify, release_assets_check

PRODUCTION, NEW, NEXT = "v2", "v3", "v4"
PRODUCTION_OVERLAY = "app_v2"
# content_hash of app_v2/ as the kit ships it (tests/test_exercises.py fails the starter otherwise)
PRODUCTION_DIGEST = "a1a96e8cc62a38ab"
LOOK_SHARED = ("both releases read and write one cache table. What makes the key a release writes differ from "
               "the key any other release reads, this deploy and the next one, without anyone remembering to "
               "change it? (CACHES in bigfoot/release_settings.py: KEY_PREFIX, VERSION; chapter 11)")
LOOK_LOGGED_OUT = ("a login is an entry in the same cache (SESSION_ENGINE in v2's settings), and Django builds its "
                   "key the way it builds the hotspots' key. Which entries must every release find under the key "
                   "v2 wrote them with, and which must each release keep to itself? (chapter 11, \"What to take "
                   "to your own project\")")
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

# Runs inside a release (manage.py shell -c) in a slot's environment: renders the list page once, as
# a slot would, and prints every cache key it made (all backends, all aliases).
KEYS_PROBE = """
import json
from django.core.cache.backends.base import BaseCache
from django.test import Client
keys, make_key = [], BaseCache.make_key
def recording(self, key, version=None):
    full = make_key(self, key, version)
    keys.append(full)
    return full
BaseCache.make_key = recording
from django.db import connection
from django.test.utils import CaptureQueriesContext
with CaptureQueriesContext(connection) as queries:
    r = Client(SERVER_NAME="127.0.0.1", raise_request_exception=False).get("/")
# the hotspots' count: every sighting grouped by place (what the cache is there to spare)
counted = any("GROUP BY" in q["sql"].upper() and "sightings_sighting" in q["sql"] for q in queries.captured_queries)
print("JSON " + json.dumps({"status": r.status_code, "keys": sorted(set(keys)), "counted": counted}))
"""
# ... and asks the admin's index with each moderator's session cookie: 200 is logged in, a redirect to
# the login page is logged out.
SESSIONS_PROBE = """
import json
from django.conf import settings
from django.test import Client
status = {}
for cookie in %r:
    c = Client(SERVER_NAME="127.0.0.1", raise_request_exception=False)
    c.cookies[settings.SESSION_COOKIE_NAME] = cookie
    status[cookie] = c.get("/admin/").status_code
print("JSON " + json.dumps(status))
"""


def _http(port: int, method: str, path: str, body: dict | None = None,
          cookies: dict | None = None) -> tuple[int, list[tuple[str, str]], str]:
    headers = {"Host": f"127.0.0.1:{port}", "User-Agent": "bigfoot-check-11"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    data = None
    if body is not None:
        data = urlencode(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Referer"] = f"http://127.0.0.1:{port}{path}"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        return r.status, r.getheaders(), r.read().decode(errors="replace")
    finally:
        c.close()


def _get(port: int, path: str) -> tuple[int, str]:
    status, _, body = _http(port, "GET", path)
    return status, body


def _set_cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    out = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            m = re.match(r"\s*([A-Za-z0-9_-]+)=([^;]*)", value)
            if m:
                out[m.group(1)] = m.group(2)
    return out


class Moderators:
    """Moderators logged in to the admin, played on purpose: one on v2 before the plan, then one by
    each release the first time it serves. At every moment the deploy changes something, every one
    of them must still be logged in on every live slot, whichever release logged them in."""

    def __init__(self, s: "CacheScenario"):
        self.s = s
        self.password = lab_secrets(s.lab.cfg)["admin_password"]
        self.logged_in: list[tuple[str, str]] = []   # (session cookie, where and when they logged in)
        self.releases: set[str] = set()               # the releases that logged one of them in

    def live(self) -> list[dict]:
        return [sl for sl in self.s.lab.status()["slots"] if sl["live"]]

    @staticmethod
    def who(sl: dict) -> str:
        return f"slot {sl['slot']} ({sl['release'] or sl['deployed_release']})"

    def log_in(self, sl: dict, when: str) -> None:
        port = sl["port"]
        status, headers, html = _http(port, "GET", "/admin/login/")
        token, cookies = CSRF_INPUT.search(html), _set_cookies(headers)
        if status != 200 or not token or "csrftoken" not in cookies:
            raise CheckFailed(Kind.JOURNEY_BROKEN, f"{when}, the admin's login page on {self.who(sl)} answered "
                              f"{status} without a login form", "run `lab manage v3 check` and open /admin/login/")
        status, headers, _ = _http(port, "POST", "/admin/login/?next=/admin/",
                                   {"csrfmiddlewaretoken": token.group(1), "username": "admin",
                                    "password": self.password, "next": "/admin/"},
                                   {"csrftoken": cookies["csrftoken"]})
        session = _set_cookies(headers).get("sessionid")
        if status != 302 or not session:
            raise CheckFailed(Kind.JOURNEY_BROKEN, f"{when}, a moderator could not log in on {self.who(sl)}: "
                              f"POST /admin/login/ → {status}", "log in to /admin/ on your own lab and read the error")
        self.logged_in.append((session, f"logged in on {self.who(sl)} {when}"))
        self.releases.add(sl["release"] or sl["deployed_release"])

    def still_logged_in(self, when: str) -> None:
        for sl in self.live():
            for session, since in self.logged_in:
                status, headers, body = _http(sl["port"], "GET", "/admin/", cookies={"sessionid": session})
                where = dict((k.lower(), v) for k, v in headers).get("location", "")
                if status != 200 and not (status == 302 and "/login/" in where):
                    kind, detail = classify("GET", "/admin/", Response(status, {k.lower(): v for k, v in headers},
                                                                       body.encode()))
                    raise CheckFailed(traffic_kind(kind), f"{when}, a moderator's GET /admin/ on {self.who(sl)} → "
                                      f"{status}" + (f": {detail}" if detail else ""),
                                      "run `lab manage v3 check` and open /admin/ on your own lab")
                if status != 200:
                    raise CheckFailed(Kind.DATA_LOST,
                                      f"{when}, a moderator ({since}) is logged out on {self.who(sl)}: GET /admin/ "
                                      f"→ {status} to {where}. Every moderator has to "
                                      "log in again, their unsaved work gone, at every deploy", LOOK_LOGGED_OUT)

    def changed(self, when: str) -> None:
        self.still_logged_in(when)
        for sl in self.live():   # a login written by each release (one each: a login costs a password hash)
            release = sl["release"] or sl["deployed_release"]
            if release not in self.releases:
                self.log_in(sl, when)


class CacheScenario(Scenario):
    def __enter__(self):
        super().__enter__()
        try:
            self.traffic_options = {"page_check": release_assets_check(self.lab)}
            self._production()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _production(self) -> None:
        if PRODUCTION not in self.plan.releases or NEW not in self.plan.releases:
            raise CheckFailed(Kind.PLAN_ERROR, f"plan.toml must still name the releases {PRODUCTION} (production, "
                              f"{PRODUCTION_OVERLAY}/) and {NEW}", "[releases] in the starter's plan.toml")
        digest = content_hash([self.work_dir / PRODUCTION_OVERLAY])
        self.expect(digest == PRODUCTION_DIGEST, Kind.PLAN_ERROR,
                    f"{PRODUCTION_OVERLAY}/ is not the v2 that runs in production any more: v2 is already live on "
                    f"both slots, so an edit there never reaches them",
                    f"put your changes in v3 (app_v3/) and plan.toml; `lab reset 11` restores {PRODUCTION_OVERLAY}/")
        # production today: the cache table exists, v2 runs on both slots, its cache is warm and a
        # moderator is logged in
        self.lab.manage(PRODUCTION, "createcachetable")
        self.lab.deploy(PRODUCTION, strategy="rolling", migrate="skip")
        for sl in self.lab.status()["slots"]:
            _get(sl["port"], "/")
        self.moderators = Moderators(self)
        blue = next(sl for sl in self.moderators.live() if sl["slot"] == "blue")
        self.moderators.log_in(blue, f"while {PRODUCTION} ran on both slots, before the plan")
        self.moderators.still_logged_in("before the plan")
        self.log(f"  production: {PRODUCTION} on both slots, its cache warm, a moderator logged in "
                 f"({self.lab.sql('select count(*) from bigfoot_cache')[0][0]} entries)")

    def in_release(self, release: str, as_release: str, slot: str, code: str, what: str) -> dict:
        """Run `code` in `release`'s Django with the environment a slot gives it, its APP_RELEASE set to
        `as_release`, and return its JSON line."""
        from lab.procs import last_error_line
        rel = self.lab.releases.get(release)
        env = slot_env(self.lab.cfg, slot, rel, self.lab.db.url())
        env["APP_RELEASE"] = as_release
        r = rel.manage("shell", "-c", code, check=False, env=env)
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
        if r.returncode != 0 or line is None:
            raise CheckFailed(Kind.RELEASE_BROKEN, f"release {release}'s {what} can't be rendered: "
                              f"{last_error_line(r.stderr) or r.stderr.strip()[-300:] or '?'}",
                              f"run `lab manage {release} check` and read the error")
        return json.loads(line[5:])


def check(work_dir: Path, log=None) -> Scenario:
    with CacheScenario(work_dir, log=log) as s:
        t0 = time.monotonic()
        try:
            run_plan(s, after_change=s.moderators.changed)
            s.expect_no_failed_requests()
        except CheckFailed as failure:
            if str(failure.reason).startswith("500"):
                failure.look_at = ("which release answered the 500, and which release wrote the cache entry it was "
                                   "reading? " + LOOK_SHARED)
            raise
        served = {rel: sum(r.ok and r.method == "GET" and r.path == "/" and r.release == rel for r in s.traffic.records)
                  for rel in (PRODUCTION, NEW)}
        s.log(f"  list pages served with zero failures: {served} ({time.monotonic() - t0:.1f} s of traffic); "
              f"{len(s.moderators.logged_in)} moderators logged in, none logged out")
        s.expect(s.serving_releases() == {NEW}, Kind.NOT_DEPLOYED,
                 f"after the plan both slots should run {NEW}; they run {sorted(s.serving_releases())}",
                 f"the plan must deploy {NEW} to blue and green")

        # Which keys each release's list page uses: production's (its files are fixed, and its keys don't
        # depend on the slot), v3's, and v3's code run as the next release on the same slot; and whether
        # that next release still knows every moderator.
        runs = [(PRODUCTION, PRODUCTION, "blue"), (NEW, NEW, "green"), (NEW, NEXT, "green")]
        sessions = [cookie for cookie, _ in s.moderators.logged_in]
        with ThreadPoolExecutor(len(runs) + 1) as pool:
            keys = [pool.submit(s.in_release, *run, KEYS_PROBE, "list page") for run in runs]
            later = pool.submit(s.in_release, NEW, NEXT, "green", SESSIONS_PROBE % (sessions,), "admin")
            old, new, following = (k.result() for k in keys)
            next_sessions = later.result()
        for (release, as_release, slot), got in zip(runs, (old, new, following)):
            s.log(f"  {as_release} on {slot} ({release}'s files): list page {got['status']}, cache keys {got['keys']}")
        s.expect(bool(new["keys"]), Kind.CACHE_UNUSED,
                 f"{NEW}'s list page uses no cache at all: every view counts the whole table again",
                 "the task keeps the hotspots cached; only which entries each release reads may change")
        both = sorted(set(old["keys"]) & set(new["keys"]))
        s.expect(not both, Kind.SHARED_CACHE_KEY,
                 f"{PRODUCTION} and {NEW} read and write the same cache entries ({', '.join(both)}): whatever one "
                 f"stores there, the other is served", LOOK_SHARED)
        same = sorted(set(new["keys"]) & set(following["keys"]))
        s.expect(not same, Kind.SHARED_CACHE_KEY,
                 f"the next release, built from the same files as {NEW} ({NEXT}, rolled out on green after {NEW}), "
                 f"would read {NEW}'s entries ({', '.join(same)}): the key doesn't change with the release. "
                 f"{NEXT}'s first change to what it caches breaks that deploy the way {NEW}'s broke this one",
                 LOOK_SHARED)
        broken = sorted({code for code in next_sessions.values() if code not in (200, 302)})
        s.expect(not broken, Kind.RELEASE_BROKEN,
                 f"{NEW}'s code run as the next release ({NEXT}) answers a moderator's GET /admin/ with {broken}",
                 f"run `lab manage {NEW} check` and open /admin/ on your own lab")
        out = [(since, next_sessions.get(cookie)) for cookie, since in s.moderators.logged_in
               if next_sessions.get(cookie) != 200]
        s.log(f"  {NEXT} on green ({NEW}'s files): {len(sessions) - len(out)} of {len(sessions)} moderators logged in")
        s.expect(not out, Kind.DATA_LOST,
                 f"the next release, built from the same files as {NEW} ({NEXT}, rolled out on green after {NEW}), "
                 f"would log out {len(out)} of {len(sessions)} moderators (the first {out[0][0] if out else ''}: "
                 f"GET /admin/ → {out[0][1] if out else ''}): the key of a login changes with the release",
                 LOOK_LOGGED_OUT)

        status, page = _get(s.lab.cfg.proxy_port, "/")
        s.expect(status == 200 and 'class="hotspot"' in page and "last seen" in page, Kind.NOT_DEPLOYED,
                 f"{NEW}'s hotspots box (each place with when it was last seen) is not on the list page",
                 "keep v3's feature: the box and what it shows")
        # Still cached, for everyone: the list page just rendered by v3 on green stored the hotspots;
        # another process (blue's environment) must find them there and not count the table again.
        # A cache of one process (locmem), one that keeps nothing (dummy) or whose entries expire at
        # once (TIMEOUT 0) makes every server count the whole table on every page.
        again = s.in_release(NEW, NEW, "blue", KEYS_PROBE, "list page")
        s.log(f"  {NEW} on blue, a new process after green's list page: hotspots counted again: {again['counted']}")
        s.expect(not again["counted"], Kind.CACHE_UNUSED,
                 f"{NEW}'s list page on blue counted every sighting by place again right after green's list page "
                 f"had cached the hotspots: the entry green stored is not one another server finds (or it is gone "
                 f"already), so every server counts the whole table on every page",
                 "the hotspots are cached for every app server: what kind of cache do all the servers share, and "
                 "how long does an entry live?")
        s.expect_end_state(releases=[NEW])   # v2 adds no migration: v3's state is the one to match
        return s
