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
import re
from pathlib import Path

from lab.exercises import CheckFailed, Kind, Scenario, describe_step
from lab.probes import AssetProbe

LOOK = ("a page from one release asks for hashed files that only that release has: where do they come "
        "from while both releases serve, and once no slot runs that release any more? "
        "(static_mode in plan.toml; lab/templates/nginx.conf.j2)")


def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        probe = AssetProbe(s, LOOK)
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
