"""What a check plays on purpose (the random traffic finds it only by luck): a visitor on every live
slot at every moment a deploy breaks things, and the plan run with that visitor between every two
changes (every step boundary, every migration, every slot switch), which checks 02, 03 and 04 use;
and the assets of every page a release rendered, asked through nginx at every step boundary (checks
01 and 12).
"""
import http.client
import re
from urllib.parse import urlencode

from .exercises import LOOK_AT, CheckFailed, Kind, Scenario, describe_step, traffic_kind
from .traffic import ASSET_RE, CSRF_RE, DETAIL_RE, Response

MAX_TRIES = 40        # asks per asset, until every live slot answered it at least once


def http_request(port: int, method: str, path: str, body: dict | None = None, cookies: dict | None = None):
    headers = {"Host": f"127.0.0.1:{port}", "User-Agent": "bigfoot-check-visitor"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    data = None
    if body is not None:
        data = urlencode(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        c.close()


class Visitor:
    """One visitor, played on purpose on every live slot (straight to the slot, not through nginx) at
    the moments a deploy breaks things: every step boundary, right after every migration and right
    after every slot changes release. It opens the list page and a sighting, posts a sighting, and
    opens the new sighting's page on every live slot: what one release writes, every release that
    serves meanwhile must be able to show (a browser follows the redirect to wherever nginx sends it).
    What random traffic finds by luck in those windows, this finds every time."""

    def __init__(self, s: Scenario):
        self.s = s
        self.posted = 0
        self.visits = 0

    def visit(self, when: str) -> None:
        live = [sl for sl in self.s.lab.status()["slots"] if sl["live"]]
        for sl in live:
            self._visit_slot(sl, when, live)

    def _visit_slot(self, sl: dict, when: str, live: list[dict]) -> None:
        from .traffic import classify

        def who(slot):
            return f"slot {slot['slot']} ({slot['release'] or slot['deployed_release']})"
        port = sl["port"]
        self.visits += 1

        def expect(method, path, resp, ok=(200,), on=sl, what=""):
            if resp.status not in ok:
                kind, detail = classify(method, path, resp)
                raise CheckFailed(traffic_kind(kind),
                                  f"{when}, a visitor on {who(on)}: {method} {path}{what} → {resp.status}"
                                  + (f": {detail}" if detail else "") + " (the random traffic meets this by luck; "
                                  "the check plays it on purpose at every such moment)",
                                  LOOK_AT.get(kind.split(" ")[0], LOOK_AT["500"]))

        page = http_request(port, "GET", "/")
        expect("GET", "/", page)
        link = DETAIL_RE.search(page.body.decode(errors="replace"))
        if link:
            expect("GET", link.group(1), http_request(port, "GET", link.group(1)))
        form = http_request(port, "GET", "/sightings/new/")
        expect("GET", "/sightings/new/", form)
        token = CSRF_RE.search(form.body.decode(errors="replace"))
        cookie = re.search(r"csrftoken=([^;]+)", form.headers.get("set-cookie", ""))
        if not (token and cookie):
            return   # the traffic reports a form without a token as a broken journey
        resp = http_request(port, "POST", "/sightings/new/", {
            "csrfmiddlewaretoken": token.group(1), "title": "Check visitor: footprints at the gate",
            "description": "Posted by the check.", "location": "Orleans, CA", "sighted_at": "2026-11-20 07:00",
            "reporter": "check"}, {"csrftoken": cookie.group(1)})
        expect("POST", "/sightings/new/", resp, ok=(302,))
        self.posted += 1
        new_page = resp.headers.get("location", "")
        if DETAIL_RE.search(f'href="{new_page}"'):
            for other in live:
                expect("GET", new_page, http_request(other["port"], "GET", new_page), on=other,
                       what=f" (the sighting {who(sl)} had just saved)")


def run_plan(s: Scenario, after_change=None, before_step=None) -> Visitor:
    """The plan under traffic, with a Visitor at every step boundary, after every migration and after
    every slot change (`after_change(when)` runs there too). When a step fails after requests already
    failed, those requests are the first thing that broke: report them (the step's failure is added)."""
    visitor = Visitor(s)

    def changed(when):
        visitor.visit(when)
        if after_change:
            after_change(when)

    def boundary(sc, step):
        changed(f"before the step `{describe_step(step)}`")
        if before_step:
            before_step(sc, step)

    try:
        with s.lab.watched(changed):   # after every migration (one at a time) and every slot switch
            s.run(before_step=boundary)
        changed("after the last step")
    except CheckFailed as step_failure:
        if step_failure.reason != Kind.TRAFFIC_GAP and s.traffic is not None and s.traffic.errors:
            try:
                s.expect_no_failed_requests()
            except CheckFailed as first:
                first.message += f"; then: {step_failure.message.split('; before that')[0]}"
                raise first from None
        raise
    return visitor


def posted_sightings(s: Scenario, visitor: Visitor) -> int:
    """Sightings created during the plan: each accepted report POST (traffic or visitor) is one new row."""
    return visitor.posted + sum(1 for r in s.traffic.records if r.journey == "report" and r.method == "POST" and r.ok)


def http_get(port: int, path: str) -> tuple[int, dict, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": f"127.0.0.1:{port}", "User-Agent": "bigfoot-check-assets"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
    finally:
        c.close()


class AssetProbe:
    """Pages rendered by each live slot at each step boundary, and their assets asked through nginx."""

    def __init__(self, s: Scenario, look: str):
        self.s, self.look = s, look   # what a 404 tells the learner to look at
        self.pages: dict[str, tuple[str, set[str]]] = {}   # release -> (last boundary it rendered at, assets)
        self.asked = 0

    def checkpoint(self, label: str) -> None:
        lab = self.s.lab
        live = [sl for sl in lab.status()["slots"] if sl["live"]]
        # 1. what a visitor gets right now from each live slot (asked of the slot itself: no luck involved)
        for sl in live:
            status, headers, html = http_get(sl["port"], "/")
            if status != 200:
                continue   # the traffic's verdict covers a slot that can't render its page
            release = headers.get("x-app-release") or sl["release"]
            assets = set(ASSET_RE.findall(html))
            detail = DETAIL_RE.search(html)
            if detail:
                st, _, dhtml = http_get(sl["port"], detail.group(1))
                if st == 200:
                    assets |= set(ASSET_RE.findall(dhtml))
            self.pages[release] = (label, assets | self.pages.get(release, ("", set()))[1])
        # 2. every page seen so far, now and at earlier boundaries: its assets, through nginx, of every live slot
        upstream = {f"127.0.0.1:{sl['port']}": sl["slot"] for sl in live}
        for release, (seen_at, assets) in sorted(self.pages.items()):
            for asset in sorted(assets):
                self._ask(release, seen_at, asset, label, upstream)

    def _ask(self, release: str, seen_at: str, asset: str, now: str, upstream: dict[str, str]) -> None:
        first_tried: set[str] = set()
        for _ in range(MAX_TRIES):
            status, headers, _ = http_get(self.s.lab.cfg.proxy_port, asset)
            self.asked += 1
            tried = [a.strip() for a in (headers.get("x-lab-upstream") or "").split(",") if a.strip()]
            if status != 200:
                who = ", ".join(f"{upstream.get(a, a)}" for a in tried) or "nginx"
                serving = sorted({self.s.lab.state["slots"][n]["release"] for n in upstream.values()})
                when = (f"{now}, while {' and '.join(serving)} serve" if seen_at == now else
                        f"{now}; the page was rendered {seen_at}, a moment before the step")
                if release not in serving:
                    when += f", and no slot runs {release} any more, so no slot has its hashed files"
                retry = ""
                if self.s.lab.cfg.static_mode == "retry":
                    # the mode learners pick because it survives the canary: say when, and why, it can't hold
                    retry = (". static_mode = \"retry\" asks the other slot after a 404, which finds the file only "
                             "while some slot still runs the page's release; once its last slot switched, no slot "
                             "has it (chapter 01, \"First try: retry\", shows both moments)")
                raise CheckFailed(
                    Kind.STATIC_404,
                    f"a page that release {release} rendered asked for {asset} and got {status} "
                    f"(nginx tried: {who}), {when}. Any visitor whose page and stylesheet straddle that moment "
                    f"sees an unstyled page; random traffic only hits it by luck, so the check asks on purpose{retry}",
                    self.look)
            if not tried or any(upstream.get(a) is None for a in tried):
                return    # answered by nginx itself (a shared folder), not by a slot: the same for every slot
            first_tried.add(tried[0])
            if first_tried >= set(upstream):
                return
