"""The live deploy dashboard (lab/dashboard.py): what the room sees on the projector.

Fast tests feed the parser and the counting real nginx log lines. The browser test opens the page
in a real headless Chromium on a private lab, clicks through the app like a learner, runs a naive
deploy under traffic (the static-asset break) and reads the page: the 404s appear live, as many as
the traffic itself saw, with the deploy's steps marked; after the fix, zero failures. It saves the
screenshots the docs use (docs/img/dashboard-*.png)."""
import json
import time
from pathlib import Path

import pytest

from lab import dashboard as d
from lab.kinds import Kind

KIT = Path(__file__).resolve().parent.parent
UPSTREAMS = {"127.0.0.1:8001": "blue", "127.0.0.1:8002": "green"}
RELEASES = {"blue": "v1", "green": "v2"}


def line(**kw):
    """A line as nginx writes it with the `lab` log_format (lab/templates/nginx.conf.j2)."""
    base = {"t": 1764151234.567, "status": 200, "method": "GET", "uri": "/", "rt": 0.012,
            "upstream": "127.0.0.1:8001", "upstream_status": "200", "slot": "blue", "release": "v1",
            "app_error": ""}
    base.update(kw)
    return json.dumps(base)


# ---------------------------------------------------------------- fast: parsing and counting
def test_kinds_keep_the_traffic_generators_words():
    assert d.STATIC_404 == Kind.STATIC_404 and d.TIMEOUT == Kind.TIMEOUT


def test_the_template_writes_the_fields_the_parser_reads():
    tpl = (KIT / "lab" / "templates" / "nginx.conf.j2").read_text()
    fmt = tpl.split("log_format lab escape=json", 1)[1].split(";", 1)[0]
    for field in ("t", "status", "method", "uri", "rt", "upstream", "slot", "release", "app_error"):
        assert f'"{field}":' in fmt, field


@pytest.mark.parametrize("kw, kind", [
    ({}, d.OK),
    ({"status": 302, "method": "POST"}, d.OK),
    ({"status": 404, "uri": "/static/sightings/app.3f2a.css"}, d.STATIC_404),
    ({"status": 404, "uri": "/favicon.ico"}, d.OTHER),
    ({"status": 500, "app_error": "IntegrityError: null value"}, d.ERROR_500),
    ({"status": 502, "slot": "", "release": ""}, d.ERROR_502),
    ({"status": 504, "slot": "", "release": ""}, d.TIMEOUT),
    ({"status": 499, "slot": "", "release": ""}, d.TIMEOUT),
])
def test_each_request_gets_its_kind(kw, kind):
    assert d.parse_line(line(**kw), UPSTREAMS, RELEASES).kind == kind


def test_who_answered():
    # the app's own headers when it answered
    r = d.parse_line(line(upstream="127.0.0.1:8002", slot="green", release="v2"), UPSTREAMS, RELEASES)
    assert (r.slot, r.release, r.latency_ms) == ("green", "v2", 12.0)
    # a slot that could not answer (502): its address, and the release the lab deployed there
    r = d.parse_line(line(status=502, upstream="127.0.0.1:8002", slot="", release=""), UPSTREAMS, RELEASES)
    assert (r.slot, r.release) == ("green", "v2")
    # retried on the other slot (static_mode = retry): the last upstream answered
    r = d.parse_line(line(upstream="127.0.0.1:8001, 127.0.0.1:8002", slot="", release=""), UPSTREAMS, RELEASES)
    assert r.slot == "green"
    # served by nginx itself (static_mode = shared)
    r = d.parse_line(line(upstream="", slot="", release="", uri="/static/x.css"), UPSTREAMS, RELEASES)
    assert (r.slot, r.release) == (d.NO_SLOT, "shared static")


@pytest.mark.parametrize("text", ["", "garbage", '1764151234.5 200 GET "/" upstream=x', "{}", '{"t": "x"}'])
def test_lines_that_are_not_ours_are_skipped(text):
    assert d.parse_line(text, UPSTREAMS, RELEASES) is None


def test_counts_per_second_slot_release_and_kind_with_latency():
    agg = d.Aggregator(window=60)
    now = 1764151234.0
    for i in range(10):
        agg.add(d.parse_line(line(t=now + 0.05 * i, rt=0.001 * (i + 1)), UPSTREAMS, RELEASES))
    agg.add(d.parse_line(line(t=now + 0.9, status=404, uri="/static/a.css", upstream="127.0.0.1:8002",
                              slot="green", release="v2"), UPSTREAMS, RELEASES))
    agg.add(d.parse_line(line(t=now + 1.2), UPSTREAMS, RELEASES))
    changes = agg.take_changes(now + 1.5)
    assert [b["t"] for b in changes] == [int(now), int(now) + 1]
    first = changes[0]
    assert first["counts"] == {"blue|v1|ok": 10, f"green|v2|{d.STATIC_404}": 1}
    p50, p95, worst, n = first["lat"]["blue"]
    assert (n, worst) == (10, 10.0) and p50 <= p95 <= worst
    assert [e["kind"] for e in agg.recent_errors] == [d.STATIC_404]
    assert agg.take_changes(now + 1.5) == []             # nothing new
    agg.take_changes(now + 120)                           # an old second falls out of the window
    assert agg.snapshot() == []


def test_deploy_steps_read_off_the_state_file():
    before = [{"name": "blue", "release": "v1", "live": True}, {"name": "green", "release": "v1", "live": True}]
    drained = [before[0], {"name": "green", "release": "v1", "live": False}]
    back = [before[0], {"name": "green", "release": "v2", "live": True}]
    assert d.slot_changes([], before) == []
    assert [e["kind"] for e in d.slot_changes(before, drained)] == ["drained"]
    assert [e["kind"] for e in d.slot_changes(drained, back)] == ["switched", "live"]
    assert d.slot_changes(drained, back)[0]["what"] == "green switched to v2"


def test_tail_follows_appends_and_half_written_lines(tmp_path):
    f = tmp_path / "access.log"
    f.write_text("old line\n")
    t = d.Tail(f)
    assert t.read() == ["old line"]
    with f.open("a") as out:
        out.write('{"a": 1}\n{"b"')
    assert t.read() == ['{"a": 1}']
    with f.open("a") as out:
        out.write(': 2}\n')
    assert t.read() == ['{"b": 2}']
    f.write_text("new\n")                                 # replaced (shorter): start over
    assert t.read() == ["new"]


def test_events_file_gets_one_line_per_step_and_a_missing_folder_is_no_error(tmp_path):
    path = tmp_path / "events.jsonl"
    d.record_event(path, "migrate the database with release v2")
    d.record_event(path, "slot green: v1 → v2")
    assert [json.loads(l)["what"] for l in path.read_text().splitlines()] == \
        ["migrate the database with release v2", "slot green: v1 → v2"]
    d.record_event(tmp_path / "deleted" / "events.jsonl", "x")   # no exception
    assert not (tmp_path / "deleted").exists()


# ---------------------------------------------------------------- the page in a real browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--mute-audio"]


def tile(page, kind) -> int:
    return int(page.get_attribute(f'.tile[data-kind="{kind}"]', "data-count"))


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"the dashboard did not show {what} within {timeout:.0f}s")


def test_the_dashboard_shows_a_naive_deploys_errors_live_and_none_after_the_fix():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `apt-get install chromium` (.ci/run installs it)", pytrace=False)
    from lab.exercises import fresh_lab, get

    with fresh_lab(static_mode="proxy") as lab, playwright.sync_playwright() as p:
        pid = lab.dashboard.pid()
        assert pid and pid in {q.pid for q in lab.processes()}, "`lab down` must know the dashboard"
        lab.build_release("v2", [get("01").folder / "app"])
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1600, "height": 900})
        dash = ctx.new_page()
        dash.goto(lab.dashboard.url, wait_until="load")
        dash.wait_for_selector("#conn:not(.down)", timeout=10_000)

        # A learner's own clicks count: nginx logs them, not only the traffic generator's.
        t0 = time.monotonic()
        learner = ctx.new_page()
        learner.goto(lab.url + "/", wait_until="load")
        wait_until(lambda: tile(dash, d.OK) > 0, 10, "the learner's own page views")
        # how long nginx -> log -> server -> page took on this machine, now: the budget below
        lag = max(2.0, 4 * (time.monotonic() - t0))

        # The naive deploy under traffic: blue v1 and green v2, /static/ proxied to either.
        with lab.traffic_in_background(users=4, settle=1.0) as traffic:
            lab.deploy("v2", slot="green")
            wait_until(lambda: tile(dash, d.STATIC_404) > 0, lag + 10, "404s while the traffic runs")
        saw = sum(1 for r in traffic.result.records if r.error == Kind.STATIC_404)
        assert saw, "the traffic saw no 404 static asset: the naive deploy didn't break"
        # every 404 the traffic saw, the room saw (plus none the traffic didn't see)
        wait_until(lambda: tile(dash, d.STATIC_404) == saw, lag, f"the traffic's {saw} 404s (page: "
                   f"{tile(dash, d.STATIC_404)})")
        steps = dash.locator("#steps li").all_inner_texts()
        assert any("green drained" in s for s in steps), steps
        assert any("green switched to v2" in s for s in steps), steps
        assert any("green back in nginx" in s for s in steps), steps
        assert int(dash.get_attribute("#rps .uplot", "data-markers")) >= 3
        assert dash.locator('#table tr[data-slot="blue"][data-release="v1"] td.bad').count() \
            or dash.locator('#table tr[data-slot="green"][data-release="v2"] td.bad').count()
        assert dash.locator('#slots .chip[data-slot="green"][data-release="v2"]').count() == 1
        dash.screenshot(path=str(KIT / "docs" / "img" / "dashboard-naive.png"))

        # The fix: every release's hashed files in one folder nginx serves. From here on: nothing.
        lab.set_static_mode("shared")
        wait_until(lambda: "static files: shared" in dash.inner_text("#mode"), lag, "the static mode change")
        dash.click("#clear")
        time.sleep(1.1)   # the page counts whole seconds after Clear: the traffic starts in the next one
        with lab.traffic_in_background(users=4, settle=1.0) as traffic:
            time.sleep(4)
        served = len(traffic.result.records)
        assert served and not [r for r in traffic.result.records if r.error], "the fix still fails"
        wait_until(lambda: tile(dash, d.OK) >= served, lag, f"the traffic's {served} requests")
        for kind in d.KINDS:
            if kind != d.OK:
                assert tile(dash, kind) == 0, f"{kind}: {tile(dash, kind)} after the fix"
        assert any("shared" in s for s in dash.locator("#steps li").all_inner_texts())
        dash.screenshot(path=str(KIT / "docs" / "img" / "dashboard-fixed.png"))
        browser.close()
    assert not d.Dashboard(lab.cfg).pid() and not _alive(pid), "`lab down` left the dashboard running"


def _alive(pid):
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
