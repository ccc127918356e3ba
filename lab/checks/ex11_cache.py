"""Check for exercise 11: two releases share one cache, and neither is served the other's entries.

Production is the check's, not the plan's: before the plan, the check puts release v2 (app_v2/:
a database cache every slot shares, and a hotspots box cached in it) on both slots, creates the
cache table and lets traffic fill the cache. app_v2/ must be as the kit ships it: it is what
already runs, and no edit there can reach the servers that run it. Then the learner's plan rolls
v3 out while traffic flows. What must hold:

  - zero failed requests while v2 and v3 serve side by side: an entry one release pickled and the
    other can't use is a 500 (v2 can't unpickle v3's Hotspot; v3 can't use v2's tuples);
  - every page's static files belong to the release that rendered it (the traffic compares each
    page with its release's staticfiles.json): a fragment cached by another release shows up here;
  - no cache entry is shared by two releases, now or at the next deploy. Random traffic finds a
    shared entry only when it holds something the other release can't use, so the check also
    asks the releases which cache keys their list page uses (each release's own Django and
    settings, APP_RELEASE and APP_SLOT set as a slot sets them): v2's and v3's must differ, and
    v3's code run as the NEXT release (v4, same files) must use keys of its own on the same slot. A key that depends on the slot, or a constant (a prefix, a VERSION) that
    someone has to remember to change, fails that;
  - v3 still caches (its list page uses the cache) and its hotspots box is live on both slots.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario
from lab.traffic import release_assets_check

PRODUCTION, NEW, NEXT = "v2", "v3", "v4"
PRODUCTION_OVERLAY = "app_v2"
# sha256 of app_v2/ as the kit ships it (relative path + bytes of every file): see _overlay_digest
PRODUCTION_DIGEST = "082e7d8ea9af4d85965fa915f94e340a36f5c777cc1a577917b86e3e5ab887a0"
LOOK_SHARED = ("both releases read and write one cache table. What makes the key a release writes differ from "
               "the key any other release reads, this deploy and the next one, without anyone remembering to "
               "change it? (CACHES in bigfoot/release_settings.py: KEY_PREFIX, VERSION; chapter 11)")

# Runs inside a release (manage.py shell -c) with the slot's APP_RELEASE and APP_SLOT: renders the list
# page once, as a slot would, and prints every cache key it made (all backends, all aliases).
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
r = Client(SERVER_NAME="127.0.0.1", raise_request_exception=False).get("/")
print("JSON " + json.dumps({"status": r.status_code, "keys": sorted(set(keys))}))
"""


def _overlay_digest(folder: Path) -> str:
    h = hashlib.sha256()
    # what a release is built from (code and templates), not an editor's backup or a .DS_Store
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".py", ".html")
                    and "__pycache__" not in p.parts):
        h.update(str(f.relative_to(folder)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


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
        digest = _overlay_digest(self.work_dir / PRODUCTION_OVERLAY)
        self.expect(digest == PRODUCTION_DIGEST, Kind.PLAN_ERROR,
                    f"{PRODUCTION_OVERLAY}/ is not the v2 that runs in production any more: v2 is already live on "
                    f"both slots, so an edit there never reaches them",
                    f"put your changes in v3 (app_v3/) and plan.toml; `lab reset 11` restores {PRODUCTION_OVERLAY}/")
        # production today: the cache table exists, v2 runs on both slots, and its cache is warm
        self.lab.manage(PRODUCTION, "createcachetable")
        self.lab.deploy(PRODUCTION, strategy="rolling", migrate="skip")
        for sl in self.lab.status()["slots"]:
            _get(sl["port"], "/")
        self.log(f"  production: {PRODUCTION} on both slots, its cache warm "
                 f"({self.lab.sql('select count(*) from bigfoot_cache')[0][0]} entries)")

    def cache_keys(self, release: str, as_release: str, slot: str) -> dict:
        from lab.procs import last_error_line
        from lab.releases import build_env
        rel = self.lab.releases.get(release)
        r = rel.manage("shell", "-c", KEYS_PROBE, check=False,
                       env=build_env(rel.static, DATABASE_URL=self.lab.db.url(), APP_RELEASE=as_release,
                                     APP_SLOT=slot))
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
        if r.returncode != 0 or line is None:
            raise CheckFailed(Kind.RELEASE_BROKEN, f"release {release}'s list page can't be rendered: "
                              f"{last_error_line(r.stderr) or r.stderr.strip()[-300:] or '?'}",
                              f"run `lab manage {release} check` and read the error")
        return json.loads(line[5:])


def _get(port: int, path: str) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": f"127.0.0.1:{port}", "User-Agent": "bigfoot-check-11"})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def check(work_dir: Path, log=None) -> Scenario:
    with CacheScenario(work_dir, log=log) as s:
        t0 = time.monotonic()
        s.run()
        try:
            s.expect_no_failed_requests()
        except CheckFailed as failure:
            if failure.reason.startswith("500"):
                failure.look_at = ("which release answered the 500, and which release wrote the cache entry it was "
                                   "reading? " + LOOK_SHARED)
            raise
        served = {rel: sum(r.ok and r.method == "GET" and r.path == "/" and r.release == rel for r in s.traffic.records)
                  for rel in (PRODUCTION, NEW)}
        s.log(f"  list pages served with zero failures: {served} ({time.monotonic() - t0:.1f} s of traffic)")
        s.expect(s.serving_releases() == {NEW}, Kind.NOT_DEPLOYED,
                 f"after the plan both slots should run {NEW}; they run {sorted(s.serving_releases())}",
                 f"the plan must deploy {NEW} to blue and green")

        # Which keys each release's list page uses: production's (its files are fixed, and its keys don't
        # depend on the slot), v3's, and v3's code run as the next release on the same slot.
        runs = [(PRODUCTION, PRODUCTION, "blue"), (NEW, NEW, "green"), (NEW, NEXT, "green")]
        with ThreadPoolExecutor(len(runs)) as pool:
            old, new, following = pool.map(lambda run: s.cache_keys(*run), runs)
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

        status, page = _get(s.lab.cfg.proxy_port, "/")
        s.expect(status == 200 and 'class="hotspot"' in page and "last seen" in page, Kind.NOT_DEPLOYED,
                 f"{NEW}'s hotspots box (each place with when it was last seen) is not on the list page",
                 "keep v3's feature: the box and what it shows")
        s.expect_end_state(releases=[NEW])   # v2 adds no migration: v3's state is the one to match
        return s
