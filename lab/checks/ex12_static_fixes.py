"""Check for exercise 12: two releases shipped while /static/ comes from an S3 bucket, zero 404s.

The check owns its obstacle: a real S3-compatible server (moto, lab/bucket.py) holding v1's files
(uploaded as v1's deploy would have), nginx proxying /static/ to it when the plan says "bucket".
It then asserts invariants, whatever the learner edited:
  - the traffic and the asset probe of chapter/exercise 01 (pages rendered by each live slot at
    every step boundary, and pages rendered earlier, their assets asked through nginx): no failure;
  - after the plan, EVERY hashed file of v1, v2 and v3 (their collectstatic manifests) answers 200
    through nginx. Some of them nobody asked for while their release served (v2's paw.svg is only
    drawn from v2's stylesheet): a browser holding that stylesheet asks for it later, first. A proxy
    cache has never seen it, so it fails there, and only a store that kept every release's files passes;
  - every one of those files is in the bucket (the one store all releases share).
"""
import http.client
import json
from pathlib import Path

from lab.bucket import StaticBucket
from lab.probes import AssetProbe
from lab.exercises import CheckFailed, Kind, Scenario, describe_step

LOOK = ("which files are in the bucket at each moment? A release's pages name its hashed files: they must "
        "be there before its first page is served, and stay there after it is gone "
        "(`lab check 12 -v` shows every step; the README lists what a deploy's upload may and may not do)")


def _get(port: int, path: str) -> tuple[int, dict]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"User-Agent": "bigfoot-check-12"})
        r = c.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def hashed_files(static_dir: Path) -> set[str]:
    """The hashed names a release's pages can name: the values of its collectstatic manifest."""
    return set(json.loads((static_dir / "staticfiles.json").read_text())["paths"].values())


def check(work_dir: Path, log=None) -> Scenario:
    with StaticBucket() as bucket, Scenario(work_dir, log=log) as s:
        releases = ["v1", *s.plan.releases]
        files = {r: hashed_files(s.lab.releases.get(r).static) for r in releases}
        n = bucket.upload_dir(s.lab.releases.get("v1").static)
        s.log(f"  bucket {bucket.url}: v1's {n} files uploaded (production already serves them from there)")
        probe = AssetProbe(s, LOOK)
        done: list[str] = []

        def boundary(sc, step):
            probe.checkpoint(f"after `{done[-1]}`" if done else "before the first step")
            done.append(describe_step(step))

        try:
            s.run(before_step=boundary)
            probe.checkpoint(f"after `{done[-1]}` (the end of the plan)")
        except CheckFailed as failure:
            if failure.reason == Kind.STATIC_404:
                failure.look_at = LOOK
            raise
        s.log(f"  asset probe: {probe.asked} asset requests through nginx at {len(s.plan.steps) + 1} step boundaries")
        s.expect_no_failed_requests()
        s.expect(s.serving_releases() == {releases[-1]}, Kind.NOT_DEPLOYED,
                 f"after the plan, both slots should run {releases[-1]}; they run {sorted(s.serving_releases())}",
                 f"the plan must deploy {releases[-1]} to blue and green, last")

        # Every hashed file of every release, asked now that only the last release serves.
        serving = releases[-1]
        probed = {a for _, assets in probe.pages.values() for a in assets}
        for release in releases:
            for name in sorted(files[release]):
                status, headers = _get(s.lab.cfg.proxy_port, f"/static/{name}")
                if status == 200:
                    continue
                gone = release != serving and name not in files[serving]
                first = f"/static/{name}" not in probed
                why = (f"release {release}'s {name} answered {status} after the plan"
                       + (f", when no slot runs {release} any more" if gone else "")
                       + (" and nobody had asked for it before (a stylesheet a browser still holds names it; "
                          "the browser asks the first time it needs it)" if first else ""))
                cache = headers.get("x-cache-status")
                if cache:
                    why += (f". nginx's cache said {cache}: a proxy cache keeps only what was asked for while "
                            "some slot still had it")
                raise CheckFailed(Kind.STATIC_404, why, LOOK)
        total = len(set().union(*files.values()))
        s.log(f"  every hashed file of {', '.join(releases)} answered 200 through nginx ({total} files)")

        # The one store every release shares holds every release's files.
        keys = bucket.keys()
        for release in releases:
            missing = sorted(files[release] - set(keys))
            s.expect(not missing, Kind.NOT_IN_BUCKET,
                     f"release {release}'s hashed files are not all in the bucket: {len(missing)} missing, e.g. "
                     f"{', '.join(missing[:3])}. The task: static files come from the bucket, for every release",
                     "what puts a release's files into the bucket, and under which names? (the README)")
        s.log(f"  the bucket holds {len(keys)} objects, {sum(keys.values()) / 1024:.0f} KiB: every release's "
              "files, nothing deleted")
        s.expect_end_state()
        return s
