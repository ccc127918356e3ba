"""What a person sees, in a real headless Chromium: the brand colour applied, or an unstyled page
when the stylesheet 404s mid-deploy. Saves the screenshots the docs use (docs/img/)."""
import os
import shutil
import signal
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


# ---------------------------------------------------------------- the chapters as slides (issue 22)
# What the instructor projects: JupyterLab + jupyterlab_rise's slideshow page (/rise/<notebook>), as
# `lab up --jupyter` serves it, at a projector's 1280×720, every slide stepped through with Space.
# notebooks/rise.css is the kit's slide stylesheet (RISE loads it from the chapters' folder).
# Chapters: 00 (the tour, where every room starts), 02 (the first real chapter: a mermaid diagram,
# 120-character code lines) and 16 (the widest line, 204 characters, and the tallest cell, 61 lines):
# a deck takes ~20 s to load and step through on a busy 2-core machine, so not all 17.
import json as _json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SLIDE_CHAPTERS = ["00_tour", "02_add_field", "16_many_migrations"]
PROJECTOR = {"width": 1280, "height": 720}
MIN_TEXT_PX = 20
PRESENT = """() => {
  const all = [...document.querySelectorAll('.reveal .slides section.present')];
  const s = all[all.length - 1];
  if (!s) return null;
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const text = [...s.querySelectorAll('.jp-RenderedMarkdown p, .jp-RenderedMarkdown li')].filter(shown)
      .map(e => [parseFloat(getComputedStyle(e).fontSize), e.innerText.slice(0, 40)]);
  const scrolls = [...s.querySelectorAll('.jp-InputArea-editor .cm-scroller, .jp-OutputArea-output pre')]
      .filter(shown).filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
      .map(e => `${(e.innerText.split('\\n')[0] || '').slice(0, 50)}: ${e.scrollWidth}×${e.scrollHeight} ` +
                `in ${e.clientWidth}×${e.clientHeight}`);
  const asserts = [...s.querySelectorAll('.jp-InputArea-editor .cm-line')].filter(shown)
      .map(e => e.textContent).filter(t => /^\\s*assert\\b/.test(t));
  return {key: s.innerText.slice(0, 120), text, scrolls, asserts};
}"""


@pytest.fixture(scope="module")
def rise_server():
    """JupyterLab with RISE on a free port, rooted at the kit like `lab up --jupyter` (own config dirs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="slides-"))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_DATA_DIR=str(tmp / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--port-retries=0", "--IdentityProvider.token=slides", f"--ServerApp.root_dir={KIT}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    log = open(tmp / "jupyter.log", "wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=KIT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token=slides", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, (tmp / "jupyter.log").read_text()[-2000:]
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def decks(browser, rise_server):
    """Each chapter's slideshow at 1280×720, every slide visited: what was measured on each."""
    found = {}
    for chapter in SLIDE_CHAPTERS:
        ctx = browser.new_context(viewport=PROJECTOR)
        page = ctx.new_page()
        errors = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text[:160]))
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"[:160]))
        page.goto(f"{rise_server}/rise/notebooks/{chapter}.ipynb?token=slides", wait_until="load")
        page.wait_for_selector(".reveal .slides section.present .jp-Cell", timeout=90_000)
        page.wait_for_timeout(1500)
        slides = []
        for _ in range(100):
            here = page.evaluate(PRESENT)
            if slides and here["key"] == slides[-1]["key"]:
                break                                   # Space on the last slide stays there
            slides.append(here)
            page.keyboard.press("Space")
            page.wait_for_timeout(300)
        found[chapter] = {"slides": slides, "errors": errors}
        ctx.close()
    return found


def test_slides_text_is_readable_and_code_fits_at_1280x720(decks):
    for chapter, deck in decks.items():
        assert len(deck["slides"]) >= 3, f"{chapter}: only {len(deck['slides'])} slide(s) reached"
        small = [(px, t) for s in deck["slides"] for px, t in s["text"] if px < MIN_TEXT_PX]
        assert not small, f"{chapter}: body text under {MIN_TEXT_PX} px (notebooks/rise.css): {small[:3]}"
        scrolls = [x for s in deck["slides"] for x in s["scrolls"]]
        assert not scrolls, f"{chapter}: code that scrolls instead of wrapping (notebooks/rise.css): {scrolls[:3]}"


def test_slides_show_no_test_scaffolding(decks):
    """The chapters' asserts (their own tests) sit in check cells the slides skip (lab.slides)."""
    for chapter, deck in decks.items():
        asserts = [a for s in deck["slides"] for a in s["asserts"]]
        assert not asserts, (f"{chapter}: test scaffolding on the slides (`python -m lab.slides --split "
                             f"{chapter[:2]}`): {asserts[:3]}")


# Still logged, for causes outside the kit's files (strict: this fails once they are gone, so the
# marker can't outlive them). jupyterlab_rise 0.43.1 (the newest on PyPI) logs "RangeError: Maximum
# call stack size exceeded" on its own slideshow page, with any notebook and with no other JupyterLab
# extension loaded (tried: --RiseApp.labextensions_path=[an empty folder]); its
# @jupyter/web-components theme listener turns --jp-layout-color1/--jp-brand-color1 into FAST design
# tokens that recurse. The older releases on PyPI (0.40.0, 0.41.0, 0.42.0, tried with the kit's
# JupyterLab 4.6.6) don't, but each logs another error in its place with the kit's instructor
# install: jupytext's JupyterLab extension (jupytext comes with mkdocs-jupyter) fails to load in their
# slideshow page ("#RUNTIME-012 … shareKey @jupyterlab/docregistry": their page doesn't share the
# JupyterLab module jupytext's needs). And every version's default reveal theme ('simple') asks
# Google Fonts for its fonts (offline: a failed request), and each chapter's optional NN_*.css is a 404.
@pytest.mark.xfail(strict=True, reason="jupyterlab_rise's own RangeError (0.43.1) or jupytext's RUNTIME-012 (0.40-0.42)")
def test_slides_log_no_errors(decks):
    for chapter, deck in decks.items():
        assert not deck["errors"], f"{chapter}: console errors: {sorted(set(deck['errors']))[:5]}"
