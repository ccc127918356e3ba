"""What a person sees, in a real headless Chromium: the brand colour applied, or an unstyled page
when the stylesheet 404s mid-deploy. Saves the screenshots the docs use (docs/img/)."""
import shutil
from pathlib import Path

import pytest

from lab.exercises import get

KIT = Path(__file__).resolve().parent.parent
BRAND = "rgb(46, 107, 58)"           # #2e6b3a, .site-header's background in app.css
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--mute-audio"]

playwright = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.fail("Chromium is missing: `apt-get install chromium` (.ci/run installs it)", pytrace=False)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def header_colour(browser, url, screenshot=None):
    """Load the page in a fresh context (no cache, like a new visitor); the header's computed colour."""
    ctx = browser.new_context(viewport={"width": 1100, "height": 700})
    page = ctx.new_page()
    page.goto(url, wait_until="load")
    colour = page.eval_on_selector(".site-header", "e => getComputedStyle(e).backgroundColor")
    if screenshot:
        page.screenshot(path=str(screenshot))
    ctx.close()
    return colour


def test_steady_state_page_has_the_brand_colour(lab, browser):
    assert header_colour(browser, lab.url + "/", KIT / "docs" / "img" / "styled.png") == BRAND


def test_naive_static_deploy_gives_unstyled_pages_and_the_fix_gives_none(lab, browser):
    lab.build_release("v2", [get("01").folder / "app"])
    lab.deploy("v2", slot="green")          # blue v1, green v2, /static/ proxied to either
    colours = [header_colour(browser, lab.url + "/") for _ in range(10)]
    unstyled = [c for c in colours if c != BRAND]
    assert unstyled, f"every page came out styled: {colours}"
    # keep a picture of one for the docs
    for _ in range(10):
        if header_colour(browser, lab.url + "/", KIT / "docs" / "img" / "unstyled.png") != BRAND:
            break
    lab.set_static_mode("shared")           # the fix: every release's hashed files stay available
    colours = [header_colour(browser, lab.url + "/") for _ in range(10)]
    assert colours == [BRAND] * 10, colours
