"""The docs site builds (mkdocs --strict), every link in it resolves, its generated pages say what
the catalogue and the CLI say, and the cheat-sheet's locks are PostgreSQL's own."""
import html
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from lab import docs_gen
from lab.cli import build_parser
from lab.exercises import catalogue, fresh_lab

KIT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                       cwd=KIT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    warnings = [l for l in r.stderr.splitlines() if l.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    return out


def test_site_builds_strict_with_every_page(site):
    assert (site / "index.html").exists()
    for page in ["setup", "cheatsheet", "instructor", "reference/cli", "reference/architecture", "docker",
                 "exercises"]:
        assert (site / page / "index.html").exists(), page
    for nb in docs_gen.chapter_sources():
        assert (site / "chapters" / nb.stem / "index.html").exists(), f"chapter {nb.stem} not rendered"


HREF = re.compile(r'(?:href|src)="([^"]+)"')


def test_every_internal_link_and_image_resolves(site):
    broken = []
    for page in site.rglob("*.html"):
        for target in HREF.findall(page.read_text(errors="replace")):
            target = html.unescape(target)
            u = urlsplit(target)
            if u.scheme or target.startswith(("#", "//", "mailto:", "data:")):
                continue
            base = site if u.path.startswith("/") else page.parent     # 404.html links from the root
            path = (base / unquote(u.path).lstrip("/")).resolve() if u.path else page
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{page.relative_to(site)} → {target}")
    assert not broken, "broken links:\n" + "\n".join(sorted(set(broken))[:40])


def test_exercise_pages_are_generated_from_the_catalogue(site):
    for ex in catalogue():
        page = (site / "exercises" / ex.name / "index.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert ex.title in text
        assert f"{ex.minutes} min" in text
        for o in ex.objectives:
            assert re.sub(r"`", "", o)[:40] in text, o
        assert page.count("<details") >= len(ex.hints), "each hint folded in its own admonition"
        for h in ex.hints:
            assert re.sub(r"`", "", h)[:40] in text, h
    index = (site / "exercises" / "index.html").read_text()
    assert all(ex.name in index for ex in catalogue())


def test_chapters_link_to_their_exercise(site):
    for nb in docs_gen.chapter_sources():
        ex = next((e for e in catalogue() if e.name == nb.stem), None)
        if ex:
            page = (site / "chapters" / nb.stem / "index.html").read_text()
            assert f"../../exercises/{ex.name}/" in page, f"chapter {nb.stem} does not link its exercise"


def _subcommands(parser, prefix="lab"):
    for name, helptext, sub in docs_gen._subparsers(parser):
        yield f"{prefix} {name}", helptext, sub
        yield from _subcommands(sub, f"{prefix} {name}")


def test_cli_reference_covers_every_subcommand_and_option():
    ref = docs_gen.cli_reference()
    for full, helptext, sub in _subcommands(build_parser()):
        assert f"## `{full}`" in ref, full
        if helptext:
            assert helptext[1:30] in ref, helptext
        for action in sub._actions:
            for opt in action.option_strings:
                assert opt in ref, f"{full} {opt}"


@pytest.mark.parametrize("budget", [180, 90])
def test_agendas_add_up_from_the_catalogue_within_budget(budget):
    slots, later = docs_gen.plan_agenda(budget)
    total = sum(s.minutes for s in slots)
    assert total <= budget
    assert total >= budget - 30, "an agenda should use its time"
    for a, b in zip(slots, slots[1:]):
        assert b.start == a.start + a.minutes
    by_title = {f"{e.id} · {e.title}": e for e in catalogue()}
    full = [by_title[s.what] for s in slots if s.what in by_title]
    for s in slots:
        if s.what in by_title:
            e = by_title[s.what]
            assert s.minutes == e.teaching_minutes + e.minutes
    assert [e.id for e in full][:2] == ["01", "02"], "the first two chapters are in every agenda"
    assert {e.id for e in later}.isdisjoint({e.id for e in full})
    md = docs_gen.agenda_markdown(budget)
    assert f"{total} of {budget} minutes" in md


# ---------------------------------------------------------------- cheat-sheet vs PostgreSQL
RANK = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
        "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
NAME = {"AccessShareLock": "ACCESS SHARE", "RowShareLock": "ROW SHARE", "RowExclusiveLock": "ROW EXCLUSIVE",
        "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE", "ShareLock": "SHARE",
        "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE", "ExclusiveLock": "EXCLUSIVE",
        "AccessExclusiveLock": "ACCESS EXCLUSIVE"}


def test_cheatsheet_locks_and_rewrites_are_what_postgresql_does():
    """Each statement runs in a transaction on a real lab database; while it is open, pg_locks shows
    the strongest lock it holds on each table, and pg_class whether the table got a new file."""
    wrong = []
    with fresh_lab() as lab:
        for op in docs_gen.CHEATSHEET:
            if not op.measurable:
                continue
            with lab.db.connect(dbname=lab.db.db_name) as conn:
                if op.setup:
                    conn.execute(op.setup)
                oids = {t: conn.execute("select oid, relfilenode from pg_class where relname = %s", (t,)).fetchone()
                        for t in op.tables}
                try:
                    with conn.transaction():
                        conn.execute(op.sql)
                        for t, (oid, filenode) in oids.items():
                            modes = [m for (m,) in conn.execute(
                                "select mode from pg_locks where relation = %s and pid = pg_backend_pid()", (oid,))]
                            strongest = NAME[max(modes, key=RANK.index)] if modes else "none"
                            if strongest != op.lock:
                                wrong.append(f"{op.django}: {t} gets {strongest}, the cheat-sheet says {op.lock}")
                            now = conn.execute("select relfilenode from pg_class where oid = %s", (oid,)).fetchone()
                            rewritten = bool(now) and now[0] != filenode
                            if t == op.tables[0] and rewritten != op.rewrite:
                                wrong.append(f"{op.django}: rewrite is {rewritten}, the cheat-sheet says {op.rewrite}")
                        raise psycopg.Rollback()
                except psycopg.Rollback:
                    pass
            if op.setup:
                lab.db.restore_baseline()
    assert not wrong, "\n".join(wrong)


def test_site_loads_nothing_from_the_internet(site):
    """Conference wifi: every script, stylesheet and image a page loads comes from the site itself."""
    import re
    external = set()
    for page in site.rglob("*.html"):
        html = page.read_text(errors="ignore")
        for tag in re.findall(r"<(?:script|link|img)\b[^>]*>", html):
            if re.search(r'\b(?:src|href)="(?:https?:)?//', tag) and 'rel="canonical"' not in tag:
                external.add((page.relative_to(site).as_posix(), tag[:120]))
    assert not external, sorted(external)[:10]
