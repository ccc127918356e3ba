"""Check for exercise 01: the restyled release rolls out with zero 404s, and the restyle is live.

Random traffic finds a missing stylesheet only when a page and its asset happen to straddle a
switch, so its verdict alone depends on timing. The check therefore also plays, at every step
boundary, the visitors that matter, on purpose:
  - a page each live slot renders right now, its assets asked through nginx until every live
    slot has been asked (or nginx answered from its own folder): the window where both releases serve;
  - every page rendered at an EARLIER boundary (by a release that may be gone by now), its assets
    asked again after the step: a browser that loaded the page just before the switch.
Every one of those asset requests must answer 200, whatever the timing.

So static_mode = "retry" is not a fix: retrying the other slot helps only while the page's release
still runs on one; a page rendered just before its release's last slot switched finds its files
nowhere, every time.
"""
import http.client
import re
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario, describe_step

ASSET_RE = re.compile(r'(?:href|src)="(/static/[^"]+)"')
DETAIL_RE = re.compile(r'href="(/sightings/\d+/)"')
MAX_TRIES = 40        # asks per asset, until every live slot answered it at least once
LOOK = ("a page from one release asks for hashed files that only that release has: where do they come "
        "from while both releases serve, and once no slot runs that release any more? "
        "(static_mode in plan.toml; lab/templates/nginx.conf.j2)")


def _get(port: int, path: str) -> tuple[int, dict, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": f"127.0.0.1:{port}", "User-Agent": "bigfoot-check-01"})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
    finally:
        c.close()


class AssetProbe:
    """Pages rendered by each live slot at each step boundary, and their assets asked through nginx."""

    def __init__(self, s: Scenario):
        self.s = s
        self.pages: dict[str, tuple[str, set[str]]] = {}   # release -> (last boundary it rendered at, assets)
        self.asked = 0

    def checkpoint(self, label: str) -> None:
        lab = self.s.lab
        live = [sl for sl in lab.status()["slots"] if sl["live"]]
        # 1. what a visitor gets right now from each live slot (asked of the slot itself: no luck involved)
        for sl in live:
            status, headers, html = _get(sl["port"], "/")
            if status != 200:
                continue   # the traffic's verdict covers a slot that can't render its page
            release = headers.get("x-app-release") or sl["release"]
            assets = set(ASSET_RE.findall(html))
            detail = DETAIL_RE.search(html)
            if detail:
                st, _, dhtml = _get(sl["port"], detail.group(1))
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
            status, headers, _ = _get(self.s.lab.cfg.proxy_port, asset)
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
                    LOOK)
            if not tried or any(upstream.get(a) is None for a in tried):
                return    # answered by nginx itself (a shared folder), not by a slot: the same for every slot
            first_tried.add(tried[0])
            if first_tried >= set(upstream):
                return


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        probe = AssetProbe(s)
        done: list[str] = []

        def boundary(sc, step):
            probe.checkpoint(f"after `{done[-1]}`" if done else "before the first step")
            done.append(describe_step(step))

        s.run(before_step=boundary)
        probe.checkpoint(f"after `{done[-1]}` (the end of the plan)")
        s.log(f"  asset probe: {probe.asked} asset requests through nginx at {len(s.plan.steps) + 1} step boundaries")
        s.expect_no_failed_requests()
        s.expect(s.serving_releases() == {"v2"}, Kind.NOT_DEPLOYED,
                 f"after the plan, both slots should run v2; they run {sorted(s.serving_releases())}",
                 "the plan must deploy v2 to blue and green")
        # The new behaviour: the page links the v2 stylesheet and it is the restyled one.
        page = s.lab.get("/")
        css = re.search(r'href="(/static/sightings/app\.[0-9a-f]+\.css)"', page.text)
        s.expect(css is not None, Kind.RESTYLE_MISSING, "the list page links no hashed app.css",
                 "the list page's <link> to sightings/app.css is in bigfoot_app's base template")
        body = s.lab.get(css.group(1)).text
        s.expect("#c9a227" in body, Kind.RESTYLE_MISSING,
                 "the stylesheet v2 serves after the deploy is not the restyled one",
                 "release v2 ships the app.css of the app's static folder (sightings/static/sightings/ in your "
                 "overlay): is the restyle there?")
        s.expect_end_state()
        return s
