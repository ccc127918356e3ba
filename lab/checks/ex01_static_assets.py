"""Check for exercise 01: the restyled release rolls out with zero 404s, and the restyle is live."""
import re
from pathlib import Path

from lab.exercises import CheckFailed, Scenario



def check(work_dir: Path, log=None) -> Scenario:
    with Scenario(work_dir, log=log) as s:
        s.run()
        s.expect_no_failed_requests()
        # The new behaviour: the page links the v2 stylesheet and it is the restyled one.
        page = s.lab.get("/")
        css = re.search(r'href="(/static/sightings/app\.[0-9a-f]+\.css)"', page.text)
        s.expect(css is not None, "restyle missing", "the list page links no hashed app.css")
        body = s.lab.get(css.group(1)).text
        s.expect("#c9a227" in body, "restyle missing",
                 "the stylesheet served after the deploy is not the restyled one",
                 "keep the restyle in app/sightings/static/sightings/app.css")
        s.expect({sl["release"] for sl in s.lab.status()["slots"]} == {"v2"}, "not deployed",
                 "after the plan, both slots should run v2", "the plan must deploy v2 to blue and green")
        s.expect_end_state()
        return s

