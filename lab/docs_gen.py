"""The docs site's generated parts, and the mkdocs hooks that put them in (mkdocs.yml: `hooks:`).

Each fact lives once; the site reads it from where it lives, at build time:
  exercises/catalogue.toml  → the exercise pages, the chapter headers, the workshop agendas
  lab.cli.build_parser()    → the CLI reference
  lab/topology.toml         → the ports table
  notebooks/*.ipynb         → the chapters (the executed copies the tests wrote to docs/chapters/,
                              or the stripped notebooks if they have not been executed since
                              they last changed)
  notebooks/facilitator.toml → the facilitator notes page (docs/facilitator.md)
  CHEATSHEET below          → the cheat-sheet; tests/test_docs.py checks its lock and rewrite
                              columns against a real PostgreSQL.

Hand-written pages pull generated blocks in with a marker on a line of its own, e.g.
`<!-- gen:agenda 180 -->`; see MARKERS.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lab.config import KIT_ROOT, load_topology
from lab.exercises import ExerciseInfo, catalogue

DOCS = KIT_ROOT / "docs"
NOTEBOOKS = KIT_ROOT / "notebooks"
EXECUTED = DOCS / "chapters"          # git-ignored: tests/test_notebooks.py writes executed copies here
TOUR = "00_tour"
# Every minute below is an ESTIMATE until it has been measured with learners in a room (the
# catalogue's minutes come from dry runs by the kit's authors). Change them here, not in the pages.
TOUR_MINUTES = 10                     # the tour chapter is not an exercise, so not in the catalogue
# Set-up with ~30 laptops: learners were asked to install at home, yet a handful arrive without a
# working lab (wrong Python, no disk space, a corporate proxy). `lab doctor` on every machine,
# helpers fix what they can from the wheelhouse, the rest pair up with a neighbour.
SETUP_MINUTES = 20
QUESTION_MINUTES = 5                  # slack after each chapter: questions, stragglers catching up
WRAP_UP_MINUTES = 10                  # 5 in a session shorter than 150 minutes
BREAK_MINUTES = 15
LUNCH_MINUTES = 60
FULL_DAY = 480                        # 9:00–17:00: lunch and three breaks (no stretch over 90 min)
TWO_DAYS = 2 * FULL_DAY               # every chapter; half at least hands-on, the last by PRIORITY as demos
DAY_TWO_RECAP_MINUTES = 15            # the second morning opens with a recap of the first day
# The room's rules (the guide states them; tests/test_docs.py holds every agenda to them):
MAX_STRETCH_MINUTES = 90              # a break at least every 90 minutes (attention drops after 75–90)
SLACK_SHARE = 0.10                    # at least 10% of the working time (the session less its pauses)
                                      # is unplanned: catch-up slots before the breaks and the wrap-up
# The core: chapters 01-10 (static files, the migrations, rollback, guardrails). A full day shows
# every one of them; 01, 02 and 09 (roll back code, not the schema: a main point of the talk)
# always hands-on. The later chapters (cache, other static fixes, blue/green, testing migrations,
# failed migrations, many migrations, renaming a model) fill the day's remaining time, all of them on day two.
CORE = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10")
MUST_BE_HANDS_ON = ("01", "02", "09")
# Which chapters an agenda keeps when time is short, most important first (the rest: take-home).
# 09 (roll back code, not the schema) is a main point of the talk: it comes right after 01 and 02;
# then expand/contract (03), the general rule 09's fix rests on, before the locking chapters.
# 19 (a column's type) and 20 (renaming a model) come last: long exercises on what the core already
# teaches piece by piece (expand/contract, a trigger, a view for the old name).
PRIORITY = ["01", "02", "09", "03", "07", "06", "05", "04", "08", "10", "18", "13", "15", "17", "14", "11", "12", "16", "19", "20"]


def hands_on_first(budget: int) -> tuple[str, ...]:
    """The exercises a session of `budget` minutes does hands-on before any other chapter gets in.
    A day: MUST_BE_HANDS_ON. Three hours: 01 and 09 (02 is shown as a demo, which leaves room for
    expand/contract, 03). Less: 01 only."""
    if budget >= FULL_DAY:
        return MUST_BE_HANDS_ON
    return ("01", "09") if budget >= 180 else ("01",)


def pauses(budget: int) -> list[tuple[int, str]]:
    """The pauses of a session of `budget` minutes, in order: (minutes, what). As many as it takes
    to keep every stretch of work within MAX_STRETCH_MINUTES; a day has its lunch among them."""
    if budget >= TWO_DAYS:
        day = pauses(FULL_DAY)
        return day + [(DAY_TWO_RECAP_MINUTES, DAY_TWO)] + day
    if budget >= 360:
        # k pauses, one of them lunch: budget - LUNCH - (k-1)·BREAK ≤ MAX_STRETCH·(k+1)
        k = -(-(budget - LUNCH_MINUTES + BREAK_MINUTES - MAX_STRETCH_MINUTES)
              // (MAX_STRETCH_MINUTES + BREAK_MINUTES))
        breaks = [(BREAK_MINUTES, "Break")] * (k - 1)
        return breaks[:(k - 1) // 2] + [(LUNCH_MINUTES, "Lunch")] + breaks[(k - 1) // 2:]
    k = max(0, -(-(budget - MAX_STRETCH_MINUTES) // (MAX_STRETCH_MINUTES + BREAK_MINUTES)))
    return [(BREAK_MINUTES, "Break")] * k


DAY_TWO = "End of day one · day two: recap"
PAUSES = ("Break", "Lunch")           # what a pause slot is called (the day's end starts day two's recap)


def slack_reserve(budget: int) -> int:
    """Minutes kept free of chapters: SLACK_SHARE of the working time, rounded up to 5."""
    working = budget - sum(m for m, what in pauses(budget) if what in PAUSES)
    return -(-round(working * SLACK_SHARE * 100) // 500) * 5


# ================================================================= chapters (notebooks)
def chapter_sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def sha256(path: Path) -> str:
    from lab.chapters import source_sha     # one definition of "this copy ran this chapter"
    return source_sha(path)


def executed_state(source: Path) -> str:
    """'executed' if docs/chapters/ has a copy of this exact notebook from a run that succeeded,
    else why not (one definition, lab.chapters.copy_state: `make docs` and the site agree)."""
    from lab.chapters import copy_state
    return copy_state(source, EXECUTED)


def error_outputs(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text())
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue', '')[:200]}")
    return found


def sync_chapters(log=print) -> dict[str, str]:
    """Make docs/chapters/ hold one notebook per chapter: the executed copy where it matches the
    committed notebook, else the committed (output-free) notebook itself. Returns name → state."""
    EXECUTED.mkdir(parents=True, exist_ok=True)
    gitignore = EXECUTED / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# executed copies of notebooks/ (written by tests/test_notebooks.py)\n*\n!.gitignore\n")
    states = {}
    sources = chapter_sources()
    for src in sources:
        state = executed_state(src)
        if state != "executed":
            nb = json.loads(src.read_text())
            nb.setdefault("metadata", {})["bigfoot_lab"] = {"source_sha256": sha256(src), "executed": False}
            target = EXECUTED / src.name
            text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
            if not target.exists() or target.read_text() != text:
                target.write_text(text)
            log(f"chapter {src.stem}: shown without outputs (executed copy: {state}; "
                f"`make docs` or `python -m lab.chapters` executes it)")
        states[src.stem] = state
    names = {s.name for s in sources}
    for old in EXECUTED.glob("*.ipynb"):
        if old.name not in names:
            old.unlink()
    return states


# ================================================================= exercises
def _demote(markdown: str, levels: int = 1) -> str:
    out, fence = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        if not fence and re.match(r"#{1,5} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out)


def _local_links_as_paths(markdown: str, folder: str) -> str:
    """A README's relative links point into the kit, not the site: show them as paths."""
    def repl(m):
        target = m.group(2)
        if re.match(r"[a-z]+:|#", target):
            return m.group(0)
        return f"{m.group(1)} (`{folder}/{target}`)"
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", repl, markdown)


def _indent(text: str) -> str:
    return "\n".join("    " + l if l.strip() else "" for l in text.splitlines())


STRETCH_HEADING = "## Stretch"


def stretch_tasks() -> dict[str, str]:
    """Exercise id → its stretch task (the catalogue's `stretch`)."""
    from lab.exercises import catalogue
    return {ex.id: ex.stretch for ex in catalogue()}


def readme_sections(text: str) -> tuple[str, str | None]:
    """A README's text without its `## Stretch` section, and that section's body (None if it has none)."""
    m = re.search(rf"^{STRETCH_HEADING}\s*$", text, re.M)
    if not m:
        return text, None
    rest = text[m.end():]
    nxt = re.search(r"^## ", rest, re.M)
    body = rest[:nxt.start()] if nxt else rest
    return text[:m.start()] + (rest[nxt.start():] if nxt else ""), body.strip()


def exercise_page(ex: ExerciseInfo, chapter_link: str | None) -> str:
    lines = [f"# {ex.id} · {ex.title}", "",
             f"**Time:** {ex.minutes} min (after the {ex.teaching_minutes}-min chapter) · "
             f"**Folder:** `exercises/{ex.name}/`" +
             (f" · **Chapter:** [{ex.id} · {ex.title}]({chapter_link})" if chapter_link else ""), ""]
    if ex.questions:
        lines += ['!!! question "Questions"', ""] + [f"    - {q}" for q in ex.questions] + [""]
    lines += ["## Objectives", ""] + [f"- {o}" for o in ex.objectives] + [""]
    readme = ex.folder / "README.md"
    lines += ["## The task", ""]
    if readme.exists():
        whole, _ = readme_sections(readme.read_text())     # the stretch task gets a section of its own
        body = whole.split("\n", 1)
        text = body[1] if body[0].startswith("# ") and len(body) > 1 else whole
        lines += [_demote(_local_links_as_paths(text.strip(), f"exercises/{ex.name}"), 2), ""]
    else:
        lines += [f"`exercises/{ex.name}/` is not in this version of the kit yet.", ""]
    lines += ["## Check it", "", "```bash", f"lab check {ex.id}      # or: pytest exercises/{ex.name}",
              f"lab hint {ex.id}       # one hint at a time", f"lab solution {ex.id}   # the diff to the solution (asks first)",
              "```", "", "The check starts a lab of its own on free ports (yours is not touched), runs traffic while it "
              "carries out `plan.toml`, and passes only with zero failed requests and the new behaviour in place. "
              f"It fails on the starter with **{ex.starter_fails_with}**.", ""]
    lines += ["## Hints", "", "Open one at a time, like `lab hint`.", ""]
    for i, h in enumerate(ex.hints, 1):
        lines += [f'??? tip "Hint {i}"', "", _indent(h), ""]
    if ex.key_points:
        lines += ['??? success "Key points (once it passes)"', ""] + [f"    - {k}" for k in ex.key_points] + [""]
    stretch = stretch_tasks().get(ex.id)
    if stretch:
        lines += ["## Stretch", "", "Passed with time left? A harder variant, or a question to answer with the lab:", "",
                  f"> {stretch}", ""]
    return "\n".join(lines)


def exercises_index(chapter_links: dict[str, str]) -> str:
    rows = ["# Exercises", "",
            "Each exercise is a folder in `exercises/`: a `README.md` (the task), an overlay on the app "
            "(`app/`) and a deploy plan (`plan.toml`). `lab exercises` lists them with your progress.", "",
            "| # | exercise | time | fails on the starter with | chapter |", "|---|---|---|---|---|"]
    for ex in catalogue():
        ch = f"[notebook]({chapter_links[ex.id]})" if ex.id in chapter_links else "—"
        rows.append(f"| {ex.id} | [{ex.title}]({ex.name}.md) | {ex.minutes} min | {ex.starter_fails_with} | {ch} |")
    total = sum(e.minutes for e in catalogue())
    rows += ["", f"About {total} minutes of exercises in all; with the chapters, "
             f"{total + sum(e.teaching_minutes for e in catalogue()) + TOUR_MINUTES} minutes. "
             "The [instructor guide](../instructor.md) fits them into a full day, a 3-hour or a 90-minute session "
             "(estimates until measured with learners)."]
    return "\n".join(rows)


# ================================================================= agendas
@dataclass
class Slot:
    start: int
    minutes: int
    what: str
    note: str = ""
    # setup · tour · chapter (with its exercise) · demo (chapter only) · pause (a break or lunch) ·
    # recap (day two's first slot) · slack (catch-up: unplanned on purpose) · wrap-up
    kind: str = ""


CATCH_UP = "Catch-up: the slower half finishes, the faster take a stretch task"


def choose_chapters(budget: int, left: int) -> dict[str, str]:
    """Which chapters fit in `left` minutes, and how: "full" (chapter, exercise, questions) or "demo"
    (chapter and questions). First the session's hands_on_first; then every chapter it can (a day:
    the core; two days: all) as a demo, by PRIORITY; then demos upgraded to hands-on by PRIORITY while there is room;
    then (a day) the later chapters, hands-on if they fit, else as demos."""
    exercises = {e.id: e for e in catalogue()}
    chosen: dict[str, str] = {}

    def take(key, how):
        nonlocal left
        if chosen.get(key) in (how, "full"):
            return
        ex = exercises[key]
        cost = ex.teaching_minutes + QUESTION_MINUTES + (ex.minutes if how == "full" else 0)
        cost -= (ex.teaching_minutes + QUESTION_MINUTES) if chosen.get(key) == "demo" else 0
        if cost <= left:
            chosen[key], left = how, left - cost
    order = [k for k in PRIORITY if k in exercises] + [k for k in exercises if k not in PRIORITY]
    # Two days cover every chapter: each one in as a demo before any is upgraded to hands-on
    # (otherwise the upgrades eat the room of the last chapters and they drop out).
    first = [k for k in order if k in CORE] if FULL_DAY <= budget < TWO_DAYS else order
    for key in hands_on_first(budget):
        take(key, "full")
    for key in first:
        take(key, "demo")
    for key in first:
        take(key, "full")
    for key in [k for k in order if k not in first]:
        take(key, "full")
        take(key, "demo")
    return chosen


def _place_pauses(work: list[int], pause_list: list[tuple[int, str]]) -> list[int]:
    """After which work item each pause goes (indices, increasing): every stretch of work between two
    pauses at most MAX_STRETCH_MINUTES (day two's recap counts as work), each pause as near as it can
    be to an even share of the work before it. Dynamic programming over the item boundaries."""
    n, k = len(work), len(pause_list)
    if k == 0:
        return []
    extra = [m if what not in PAUSES else 0 for m, what in pause_list]   # work a pause adds after it
    total = sum(work) + sum(extra)
    prefix = [0]
    for w in work:
        prefix.append(prefix[-1] + w)
    best = {}          # (j pauses placed, last after item i) -> (cost, positions)
    for i in range(1, n):
        if prefix[i] <= MAX_STRETCH_MINUTES:
            best[(1, i)] = (abs(prefix[i] - total / (k + 1)), [i])
    for j in range(2, k + 1):
        for i in range(j, n):
            options = []
            for (jj, h), (cost, pos) in best.items():
                if jj != j - 1 or h >= i:
                    continue
                if prefix[i] - prefix[h] + extra[j - 2] > MAX_STRETCH_MINUTES:
                    continue
                target = total * j / (k + 1) - sum(extra[:j - 1])
                options.append((cost + abs(prefix[i] - target), pos + [i]))
            if options:
                best[(j, i)] = min(options)
    finals = [(cost, pos) for (j, i), (cost, pos) in best.items()
              if j == k and prefix[n] - prefix[i] + extra[k - 1] <= MAX_STRETCH_MINUTES]
    if not finals:
        raise ValueError(f"no way to keep every stretch within {MAX_STRETCH_MINUTES} min with "
                         f"{k} pause(s): give the session more pauses (lab/docs_gen.py: pauses)")
    return min(finals)[1]


def plan_agenda(budget: int) -> tuple[list[Slot], list[ExerciseInfo]]:
    """Fit the workshop into `budget` minutes: set-up, the tour, then the chosen chapters
    (choose_chapters), each with QUESTION_MINUTES of questions; pauses so that no stretch of work is
    longer than MAX_STRETCH_MINUTES; and at least SLACK_SHARE of the working time left unplanned, as
    catch-up slots at the end of the stretches. Chapter and exercise minutes come from the catalogue."""
    exercises = {e.id: e for e in catalogue()}
    pause_list = pauses(budget)
    wrap_up = WRAP_UP_MINUTES if budget >= 150 else 5
    fixed = SETUP_MINUTES + TOUR_MINUTES + wrap_up + sum(m for m, _ in pause_list)
    chosen = choose_chapters(budget, budget - fixed - slack_reserve(budget))
    items = [(SETUP_MINUTES, "Welcome and set-up: `lab doctor` on every machine",
              "most installed at home; helpers fix the rest from the wheelhouse, or they pair up", "setup"),
             (TOUR_MINUTES, "00 · A tour of the lab", "instructor drives, learners follow in JupyterLab", "tour")]
    for key in sorted(chosen):
        ex = exercises[key]
        if chosen[key] == "full":
            items.append((ex.teaching_minutes + ex.minutes + QUESTION_MINUTES, f"{ex.id} · {ex.title}",
                          f"chapter {ex.teaching_minutes} min, then `lab check {ex.id}` {ex.minutes} min, "
                          f"{QUESTION_MINUTES} min questions", "chapter"))
        else:
            items.append((ex.teaching_minutes + QUESTION_MINUTES, f"{ex.id} · {ex.title} (demo)",
                          f"chapter only, {ex.teaching_minutes} min, {QUESTION_MINUTES} min questions; "
                          "the exercise is for later", "demo"))
    items.append((wrap_up, "Wrap-up: questions, what to take home",
                  "the cheat-sheet; the exercises left for later; the survey", "wrap-up"))
    after = _place_pauses([m for m, *_ in items], pause_list)
    # the stretches of work, each a list of items; day two's recap opens the stretch after it
    stretches, last = [], 0
    for (minutes, what), i in zip(pause_list + [(0, "")], after + [len(items)]):
        stretches.append(items[last:i])
        last = i
    for j, (minutes, what) in enumerate(pause_list):
        if what not in PAUSES:
            stretches[j + 1].insert(0, (minutes, what, "what stuck from day one; questions that came "
                                        "overnight", "recap"))
    # the slack, spread evenly: 5 minutes at a time to the stretch with the least so far (the later
    # one on a tie), as long as the stretch stays within the limit
    slack = budget - sum(m for m, *_ in items) - sum(m for m, _ in pause_list)
    room = [MAX_STRETCH_MINUTES - sum(m for m, *_ in st) for st in stretches]
    share = [0] * len(stretches)
    while slack >= 5:
        open_ = [x for x in range(len(room)) if room[x] - share[x] >= 5]
        if not open_:
            break
        j = min(open_, key=lambda x: (share[x], -x))
        share[j] += 5
        slack -= 5
    share[-1] += slack            # under 5 minutes left over (or no room anywhere): the last stretch
    placed = []
    for j, st in enumerate(stretches):
        body = list(st)
        if share[j]:
            catch_up = (share[j], CATCH_UP, "slack, on purpose: a chapter that ran long takes its time "
                        "from here; on time, questions and the stretch tasks", "slack")
            body.insert(len(body) - 1 if body[-1][3] == "wrap-up" else len(body), catch_up)
        placed += body
        if j < len(pause_list) and pause_list[j][1] in PAUSES:
            placed.append((pause_list[j][0], pause_list[j][1], "", "pause"))
    slots, t = [], 0
    for minutes, what, note, kind in placed:
        slots.append(Slot(t, minutes, what, note, kind))
        t += minutes
    later = [exercises[k] for k in exercises if chosen.get(k) != "full"]
    return slots, later


def agenda_markdown(budget: int) -> str:
    slots, later = plan_agenda(budget)
    total = sum(s.minutes for s in slots)
    rows = ["| start | min | what | how |", "|---|---|---|---|"]
    for s in slots:
        rows.append(f"| {s.start // 60}:{s.start % 60:02d} | {s.minutes} | {s.what} | {s.note} |")
    slack = sum(s.minutes for s in slots if s.kind == "slack")
    working = total - sum(s.minutes for s in slots if s.kind == "pause")
    rows += ["", f"Adds up to **{total} of {budget} minutes** — all of them **estimates** until measured "
             f"with learners: chapter and exercise minutes from `exercises/catalogue.toml` (dry runs by the "
             f"kit's authors), set-up ({SETUP_MINUTES} min for ~30 laptops), {QUESTION_MINUTES} min of questions "
             f"after each chapter and the breaks from `lab/docs_gen.py`. **{slack} minutes of slack** "
             f"({round(100 * slack / working)} % of the working time) in the catch-up slots, and no stretch "
             f"longer than {MAX_STRETCH_MINUTES} minutes without a pause."]
    if later:
        rows.append("For later (at home, or a second session): " +
                    ", ".join(f"[{e.id} · {e.title}](exercises/{e.name}.md)" for e in later) + ".")
    return "\n".join(rows)


# ================================================================= CLI reference
def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def cli_reference() -> str:
    from lab.cli import build_parser
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"      # argparse wraps to the terminal: make the page the same everywhere
    try:
        parser = build_parser()
        lines = ["# The `lab` command", "",
                 "Generated from the CLI itself (`lab.cli.build_parser()`), so it is always the installed "
                 "version's. Every command prints what it does; every failure is one line saying what went "
                 "wrong and what to try.", "", "```text", parser.format_help().strip(), "```", ""]

        def walk(prefix, p):
            for name, helptext, sub in _subparsers(p):
                full = f"{prefix} {name}"
                lines.extend([f"## `{full}`", "", (helptext[0].upper() + helptext[1:] + ".") if helptext else "", "",
                              "```text", sub.format_help().strip(), "```", ""])
                walk(full, sub)
        walk("lab", parser)
        return "\n".join(lines)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


# ================================================================= topology
def topology_table() -> str:
    t = load_topology()
    rows = ["| process | port (default base 8000) | in Docker Compose |", "|---|---|---|",
            f"| nginx | {8000 + t['proxy']['port_offset']} | `{t['proxy']['host']}:{t['proxy']['container_port']}` |"]
    for s in t["slots"]:
        rows.append(f"| slot {s['name']} (gunicorn) | {8000 + s['port_offset']} | `{s['host']}:{s['container_port']}` |")
    rows.append(f"| PostgreSQL (embedded) | {8000 + t['database']['port_offset']} | "
                f"`{t['database']['host']}:{t['database']['container_port']}` |")
    rows.append(f"| JupyterLab | {8000 + t['jupyter']['port_offset']} | — |")
    rows += ["", f"gunicorn: {t['app']['workers']} workers × {t['app']['threads']} threads per slot; baseline release "
             f"`{t['app']['baseline_release']}` seeded with {t['app']['seed_sightings']:,} sightings; "
             f"static files `{t['app']['static_mode']}` by default."]
    return "\n".join(rows)


# ================================================================= cheat-sheet
@dataclass
class Op:
    django: str            # the migration operation
    sql: str               # what it runs on PostgreSQL (demonstrated on the lab's tables)
    lock: str              # strongest table lock it takes on the table(s) named in `tables`
    rewrite: bool          # does it rewrite the table (new file on disk)?
    scan: str              # full-table scan while holding that lock?
    breaks: str            # what goes wrong with two releases live
    recipe: str            # the safe way
    tables: tuple = ("sightings_sighting",)
    setup: str = ""        # committed before `sql` runs (tests)
    measurable: bool = True  # False: can't run inside a transaction, so the test can't hold it open
    other_locks: dict = field(default_factory=dict)   # table → its lock, where it differs from `lock`


CHEATSHEET = [
    Op("AddField, `null=True`", 'ALTER TABLE sightings_sighting ADD COLUMN "note" text NULL',
       "ACCESS EXCLUSIVE", False, "no", "nothing: old code never names the column",
       "migrate, then deploy"),
    Op("AddField NOT NULL with `default=`",
       "ALTER TABLE sightings_sighting ADD COLUMN \"flagged\" boolean DEFAULT false NOT NULL; "
       "ALTER TABLE sightings_sighting ALTER COLUMN \"flagged\" DROP DEFAULT",
       "ACCESS EXCLUSIVE", False, "no (any non-volatile default, PostgreSQL ≥ 11)",
       "old code's INSERTs leave the column out → NOT NULL violation (Django drops the database default)",
       "`db_default=` (Django ≥ 5.0), or add it nullable first · chapter 02"),
    Op("AddField with `db_default=` (constant)",
       "ALTER TABLE sightings_sighting ADD COLUMN \"flagged\" boolean DEFAULT false NOT NULL",
       "ACCESS EXCLUSIVE", False, "no", "nothing", "migrate, then deploy · chapter 02"),
    Op("AddField with a non-volatile, non-constant `db_default=` (e.g. `Now()`)",
       "ALTER TABLE sightings_sighting ADD COLUMN \"reviewed_at\" timestamp with time zone "
       "DEFAULT (STATEMENT_TIMESTAMP()) NOT NULL",
       "ACCESS EXCLUSIVE", False, "no: PostgreSQL ≥ 11 evaluates any non-volatile default once, "
       "stores it in the catalogue, and every existing row reads that value",
       "nothing", "migrate, then deploy"),
    Op("AddField with a volatile default (e.g. `db_default=Random()`, `gen_random_uuid()`)",
       "ALTER TABLE sightings_sighting ADD COLUMN \"luck\" double precision DEFAULT random() NOT NULL",
       "ACCESS EXCLUSIVE", True, "rewrites every row",
       "the whole table is locked while it is rewritten",
       "add it nullable, backfill in batches, then constrain"),
    Op("RemoveField", 'ALTER TABLE sightings_sighting DROP COLUMN "score" CASCADE',
       "ACCESS EXCLUSIVE", False, "no",
       "old code SELECTs and INSERTs the column → `column does not exist`; a `ForeignKey` removed from the "
       "state only keeps its constraint in the database: Django stops cascading, and deleting the parent "
       "fails at commit",
       "release 1 stops using it (`SeparateDatabaseAndState`: state only; give it a db default or make it "
       "nullable), release 2 drops it · chapter 03"),
    Op("RenameField", 'ALTER TABLE sightings_sighting RENAME COLUMN "location" TO "place"',
       "ACCESS EXCLUSIVE", False, "no", "old code names the old column → `column does not exist`",
       "keep the column: `db_column=` (or expand/contract: add, dual-write, backfill, switch, drop) · chapter 04"),
    Op("AlterField, type change (`IntegerField` → `BigIntegerField`)",
       'ALTER TABLE sightings_sighting ALTER COLUMN "score" TYPE bigint USING "score"::bigint',
       "ACCESS EXCLUSIVE", True, "rewrites every row (and its indexes)",
       "old code's writes still fit (every int is a bigint), but the table is locked — reads too — for the "
       "whole rewrite; a *narrowing* change (e.g. a smaller `max_length`) also makes old code's writes fail",
       "a new column kept in sync by a trigger, a batched backfill, a short swap (drop, rename; "
       "`SeparateDatabaseAndState` for the state) · chapter 19"),
    Op("AlterField, `max_length` down (varchar(200) → varchar(100))",
       'ALTER TABLE sightings_sighting ALTER COLUMN "location" TYPE varchar(100)',
       "ACCESS EXCLUSIVE", True, "rewrites every row (each value checked against the new length)",
       "fails on the first value already too long; once done, the old release's form still takes the old "
       "length and its INSERTs fail (`value too long`)",
       "a rule for the values that don't fit; the new code everywhere first, then new column + trigger + "
       "backfill + swap · exercise 19"),
    Op("AlterField, `max_length` up (varchar(200) → varchar(300))",
       'ALTER TABLE sightings_sighting ALTER COLUMN "title" TYPE varchar(300)',
       "ACCESS EXCLUSIVE", False, "no (binary-coercible: also varchar → text)",
       "nothing", "migrate, then deploy"),
    Op("AlterField, `null=True` → NOT NULL",
       'ALTER TABLE sightings_sighting ALTER COLUMN "region" SET NOT NULL',
       "ACCESS EXCLUSIVE", False, "full scan, unless a valid `CHECK (col IS NOT NULL)` exists (PostgreSQL ≥ 12)",
       "old code inserting NULL fails; the scan blocks everything on a big table",
       "`CHECK … NOT VALID`, `VALIDATE CONSTRAINT`, then SET NOT NULL (no scan), drop the check · chapter 05",
       setup='ALTER TABLE sightings_sighting ADD COLUMN "region" text NULL; '
             "UPDATE sightings_sighting SET region = 'unknown'"),
    Op("AddConstraint, CHECK", "ALTER TABLE sightings_sighting ADD CONSTRAINT score_positive CHECK (score >= 0)",
       "ACCESS EXCLUSIVE", False, "full scan", "the scan blocks everything on a big table",
       "`NOT VALID`, then `VALIDATE CONSTRAINT` in a later migration"),
    Op("…the same with `NOT VALID`",
       "ALTER TABLE sightings_sighting ADD CONSTRAINT score_positive CHECK (score >= 0) NOT VALID",
       "ACCESS EXCLUSIVE", False, "no (new rows are checked, old ones are not)", "nothing",
       "then validate, below · chapter 05"),
    Op("`VALIDATE CONSTRAINT`", "ALTER TABLE sightings_sighting VALIDATE CONSTRAINT score_positive",
       "SHARE UPDATE EXCLUSIVE", False, "full scan, but reads and writes go on", "nothing",
       "run it in its own migration · chapter 05",
       setup="ALTER TABLE sightings_sighting ADD CONSTRAINT score_positive CHECK (score >= 0) NOT VALID"),
    Op("AddField `ForeignKey(null=True)` (Django 5.2's SQL)",
       'ALTER TABLE "sightings_comment" ADD COLUMN "reply_to_id" integer NULL CONSTRAINT '
       '"sightings_comment_reply_to_id_fe9efdf5_fk_sightings_sighting_id" REFERENCES "sightings_sighting"("id") '
       'DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS '
       '"sightings_comment_reply_to_id_fe9efdf5_fk_sightings_sighting_id" IMMEDIATE; '
       'CREATE INDEX "sightings_comment_reply_to_id_fe9efdf5" ON "sightings_comment" ("reply_to_id")',
       "ACCESS EXCLUSIVE", False,
       "reads the referencing table to check the new FK, then again to build its index",
       "ADD COLUMN takes ACCESS EXCLUSIVE on the referencing table: even its SELECTs wait for both scans; "
       "writes to the referenced table wait too (SHARE ROW EXCLUSIVE)",
       "add it with `db_constraint=False, db_index=False` (a plain ADD COLUMN: brief); then the index with "
       "`AddIndexConcurrently`, and the constraint `NOT VALID` + `VALIDATE CONSTRAINT` (RunSQL) · chapter 18",
       tables=("sightings_comment", "sightings_sighting"),
       other_locks={"sightings_sighting": "SHARE ROW EXCLUSIVE"}),
    Op("AlterField of a `ForeignKey` (e.g. `null=True, on_delete=SET_NULL`; Django 5.2's SQL)",
       'SET CONSTRAINTS "sightings_comment_sighting_id_0c5d9c77_fk_sightings_sighting_id" IMMEDIATE; '
       'ALTER TABLE "sightings_comment" DROP CONSTRAINT "sightings_comment_sighting_id_0c5d9c77_fk_sightings_sighting_id"; '
       'ALTER TABLE "sightings_comment" ALTER COLUMN "sighting_id" DROP NOT NULL; '
       'ALTER TABLE "sightings_comment" ADD CONSTRAINT "sightings_comment_sighting_id_0c5d9c77_fk_sightings_sighting_id" '
       'FOREIGN KEY ("sighting_id") REFERENCES "sightings_sighting" ("id") DEFERRABLE INITIALLY DEFERRED',
       "ACCESS EXCLUSIVE", False, "drops the constraint and adds it again: reads every row of the referencing table",
       "both tables are locked — reads too — while every comment is checked again, though the constraint "
       "didn't change",
       "change the state only (`SeparateDatabaseAndState`) and run just the SQL the change needs (here: "
       "`DROP NOT NULL`); a constraint that must really change: `NOT VALID` + `VALIDATE CONSTRAINT` · chapter 18",
       tables=("sightings_comment", "sightings_sighting"),
       other_locks={"sightings_sighting": "ACCESS EXCLUSIVE"}),
    Op("AddConstraint `FOREIGN KEY` on an existing column (e.g. `db_constraint=False` → `True`)",
       "ALTER TABLE sightings_comment ADD CONSTRAINT comment_sighting_fk2 FOREIGN KEY (sighting_id) "
       "REFERENCES sightings_sighting (id)",
       "SHARE ROW EXCLUSIVE", False, "full scan of the referencing table",
       "writes to BOTH tables wait for the scan (reads go on)",
       "`NOT VALID`, then `VALIDATE CONSTRAINT` in a later migration",
       tables=("sightings_comment", "sightings_sighting")),
    Op("AddConstraint `UniqueConstraint` (or `unique=True`)",
       'ALTER TABLE sightings_sighting ADD CONSTRAINT sighting_reporter_time_uniq UNIQUE ("reporter", "sighted_at")',
       "ACCESS EXCLUSIVE", False, "builds a unique index: reads the whole table",
       "the whole table is locked — reads too — for the index build; old code writing a duplicate now fails",
       "`CREATE UNIQUE INDEX CONCURRENTLY` (RunSQL, `atomic = False`), then attach it, below; "
       "`SeparateDatabaseAndState` tells Django's state"),
    Op("…attach a unique index built `CONCURRENTLY`",
       "ALTER TABLE sightings_sighting ADD CONSTRAINT sighting_reporter_time_uniq "
       "UNIQUE USING INDEX sighting_reporter_time_uniq",
       "ACCESS EXCLUSIVE", False, "no: the index exists and is valid", "nothing (a brief lock: set `lock_timeout`)",
       "after the index (its own statement: `atomic = False`); if the build failed, drop the INVALID index and "
       "build it again; rows that break the rule make the build fail: deal with them first · chapter 18",
       setup='CREATE UNIQUE INDEX sighting_reporter_time_uniq ON sightings_sighting ("reporter", "sighted_at")'),
    Op("AddConstraint `FOREIGN KEY … NOT VALID`",
       "ALTER TABLE sightings_comment ADD CONSTRAINT comment_sighting_fk2 FOREIGN KEY (sighting_id) "
       "REFERENCES sightings_sighting (id) NOT VALID",
       "SHARE ROW EXCLUSIVE", False, "no (new and updated rows are checked, old ones are not)",
       "writes to both tables wait only for this brief statement", "then validate it, below",
       tables=("sightings_comment", "sightings_sighting")),
    Op("`VALIDATE CONSTRAINT` of a foreign key",
       "ALTER TABLE sightings_comment VALIDATE CONSTRAINT comment_sighting_fk2",
       "SHARE UPDATE EXCLUSIVE", False, "full scan of the referencing table; reads and writes go on",
       "nothing", "in its own migration, after the `NOT VALID` one",
       tables=("sightings_comment", "sightings_sighting"), other_locks={"sightings_sighting": "ROW SHARE"},
       setup="ALTER TABLE sightings_comment ADD CONSTRAINT comment_sighting_fk2 FOREIGN KEY (sighting_id) "
             "REFERENCES sightings_sighting (id) NOT VALID"),
    Op("AddField `GeneratedField(db_persist=True)`",
       'ALTER TABLE sightings_sighting ADD COLUMN "title_len" integer GENERATED ALWAYS AS (length("title")) STORED',
       "ACCESS EXCLUSIVE", True, "computes and writes the value into every row",
       "the whole table is locked — reads too — while it is rewritten",
       "on a big table: a plain nullable column, a batched backfill, and the app (or a trigger) keeping it "
       "up to date"),
    Op("AddIndex", 'CREATE INDEX "sighting_location_idx" ON sightings_sighting ("location")',
       "SHARE", False, "builds the index: reads the whole table",
       "INSERT/UPDATE/DELETE wait for the whole build (reads go on)",
       "`AddIndexConcurrently` in a migration with `atomic = False` · chapter 06"),
    Op("AddIndexConcurrently", 'CREATE INDEX CONCURRENTLY "sighting_location_idx" ON sightings_sighting ("location")',
       "SHARE UPDATE EXCLUSIVE", False, "two scans, writes go on",
       "nothing (slower). But a build that fails or is cancelled (`lock_timeout`, `statement_timeout`) "
       "leaves an INVALID index, and running the migration again fails: `relation … already exists`",
       "`atomic = False` on the migration: it can't run in a transaction. After a failed build: "
       "`DROP INDEX CONCURRENTLY IF EXISTS …`, then migrate again · chapter 06", measurable=False),
    Op("RemoveIndex", 'DROP INDEX "sighting_location_idx"',
       "ACCESS EXCLUSIVE", False, "no", "brief, but it queues behind any transaction using the table, and "
       "everything queues behind it (the lock queue)",
       "`RemoveIndexConcurrently` in a migration with `atomic = False`, below",
       setup='CREATE INDEX "sighting_location_idx" ON sightings_sighting ("location")'),
    Op("RemoveIndexConcurrently", 'DROP INDEX CONCURRENTLY "sighting_location_idx"',
       "SHARE UPDATE EXCLUSIVE", False, "no; waits for transactions using the table to end, reads and writes go on",
       "nothing", "`atomic = False` on the migration: it can't run in a transaction", measurable=False),
    Op("RunPython / RunSQL `UPDATE` backfill", "UPDATE sightings_sighting SET score = score + 0",
       "ROW EXCLUSIVE", False, "touches every row; holds their row locks until commit",
       "one long transaction: row locks (and every lock the migration took) held to the end",
       "a batched, idempotent management command outside the migration · chapters 05 and 08"),
    Op("RenameModel / AlterModelTable", "ALTER TABLE sightings_comment RENAME TO sightings_remark",
       "ACCESS EXCLUSIVE", False, "no", "old code queries the old name → `relation does not exist` on every page "
       "that reads the model, until its last server is replaced; `RenameModel` also renames the content type and "
       "alters the foreign keys and many-to-many tables pointing at the model",
       "keep the table's name: `db_table = \"sightings_comment\"` on the renamed model, renamed in Django's state "
       "only (`SeparateDatabaseAndState`) · chapter 20. To move the table too, the old name must keep answering "
       "reads and writes from the rename's commit until no server runs the old code (exercise 20)",
       tables=("sightings_comment",)),
    Op("DeleteModel", "DROP TABLE sightings_comment",
       "ACCESS EXCLUSIVE", False, "no", "old code queries the table → `relation does not exist`",
       "release 1 stops using it, release 2 deletes it", tables=("sightings_comment",)),
]


def cheatsheet_table() -> str:
    rows = ["| Django operation | PostgreSQL runs | lock it takes | rewrites the table? | scans? | "
            "what breaks with two releases live | the safe recipe |", "|---|---|---|---|---|---|---|"]
    for op in CHEATSHEET:
        sql = op.sql.replace("|", "\\|")
        lock = f"**{op.lock}**"
        if op.other_locks:
            lock += f" on `{op.tables[0]}`" + "".join(f"; {m} on `{t}`" for t, m in op.other_locks.items())
        rows.append(f"| {op.django} | `{sql}` | {lock} | {'**yes**' if op.rewrite else 'no'} | "
                    f"{op.scan} | {op.breaks} | {op.recipe} |")
    return "\n".join(rows)


# ================================================================= facilitator notes
FACILITATOR = NOTEBOOKS / "facilitator.toml"   # one table per chapter; rendered on docs/facilitator.md
NOTE_FIELDS = ("point_at", "numbers", "questions", "cut", "remember")
# the lines of a chapter's run worth comparing with the notes: the traffic summaries, the failures
# by kind and the lock watch's verdicts
MEASURED_LINE = re.compile(r"^(traffic: |  ✗ |  by release: |lock watch on |the longest |the ALTER waited |\d+ (requests|comments|logo) )")


def facilitator_notes() -> dict:
    import tomllib
    with FACILITATOR.open("rb") as f:
        return tomllib.load(f)


def facilitator_problems(notes: dict | None = None) -> list[str]:
    """What is missing from the notes: every chapter in notebooks/ needs every field, non-empty."""
    notes = facilitator_notes() if notes is None else notes
    chapters, ids = notes.get("chapters", {}), [p.name[:2] for p in chapter_sources()]
    found = []
    for key in ids:
        entry = chapters.get(key)
        if entry is None:
            found.append(f"chapter {key}: no [chapters.\"{key}\"] table")
            continue
        for name in NOTE_FIELDS:
            value = entry.get(name)
            if name == "questions":
                ok = bool(value) and all(str(q.get("q", "")).strip() and str(q.get("a", "")).strip() for q in value)
            elif isinstance(value, list):
                ok = bool(value) and all(str(v).strip() for v in value)
            else:
                ok = bool(str(value or "").strip())
            if not ok:
                found.append(f"chapter {key}: `{name}` is missing or empty")
        extra = set(entry) - set(NOTE_FIELDS)
        if extra:
            found.append(f"chapter {key}: unknown field(s) {', '.join(sorted(extra))} (fields: {', '.join(NOTE_FIELDS)})")
    # (notes for a chapter not in notebooks/ yet are fine: they can be written before it lands)
    return found


def measured(stem: str) -> tuple[dict, list[str]]:
    """The run the site shows for a chapter: its metadata and its summary lines (none if not executed)."""
    if executed_state(NOTEBOOKS / f"{stem}.ipynb") != "executed":
        return {}, []
    nb = json.loads((EXECUTED / f"{stem}.ipynb").read_text())
    lines = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                text = text if isinstance(text, str) else "".join(text)
                lines += [l.rstrip()[:160] for l in text.splitlines() if MEASURED_LINE.match(l)]
    return nb.get("metadata", {}).get("bigfoot_lab", {}), lines


def facilitator_markdown(notes: dict | None = None) -> str:
    notes = facilitator_notes() if notes is None else notes
    minutes = {e.id: e.teaching_minutes for e in catalogue()}
    out = [f"The numbers below come from {notes.get('measured', 'the executed chapters')}. Under each "
           "chapter, *this site's run* lists the same lines from the run the site was built from: "
           "expect small differences (a loaded laptop is slower), never a different shape.", ""]
    for src in chapter_sources():
        key, entry = src.name[:2], notes.get("chapters", {}).get(src.name[:2])
        out += [f"## {_chapter_title(src)}", ""]
        if entry is None:
            out += ["*No notes for this chapter yet* (`notebooks/facilitator.toml`).", ""]
            continue
        length = TOUR_MINUTES if src.stem == TOUR else minutes.get(key)
        out += [f"[The chapter](chapters/{src.name})" + (f" · about {length} min" if length else "")
                + f" · slides: `notebooks/{src.name}`, View → Render as Reveal Slideshow", ""]
        out += ['!!! quote "The one sentence to remember"', "", f"    {entry['remember']}", ""]
        out += ["**Point at**", ""] + [f"{i}. {p}" for i, p in enumerate(entry["point_at"], 1)] + [""]
        out += ["**Numbers to expect**", ""] + [f"- {n}" for n in entry["numbers"]] + [""]
        meta, lines = measured(src.stem)
        if lines:
            when = meta.get("executed_at", "?") + (f", {meta['machine']}" if meta.get("machine") else "")
            out += [f'??? info "This site\'s run ({when})"', "", "    ```text"] + \
                   [f"    {l}" for l in lines] + ["    ```", ""]
        else:
            out += ["*This site was built without an executed copy of the chapter* (`make docs` executes it).", ""]
        out += ["**Questions learners ask**", ""]
        out += [f"- **{q['q']}** {q['a']}" for q in entry["questions"]] + [""]
        out += ['!!! tip "Running late?"', "", f"    {entry['cut']}", ""]
    return "\n".join(out)


def stretch_table() -> str:
    """The stretch tasks, one row per exercise, for the instructor guide's fast finishers."""
    tasks = stretch_tasks()
    rows = ["| # | exercise | stretch task |", "|---|---|---|"]
    for e in catalogue():
        task = tasks.get(e.id, "—").replace("|", "\\|")
        rows.append(f"| {e.id} | [{e.title}](exercises/{e.name}.md) | {task} |")
    return "\n".join(rows)


# ================================================================= mkdocs hooks
MARKERS = {
    r"<!-- gen:agenda (\d+) -->": lambda m: agenda_markdown(int(m.group(1))),
    r"<!-- gen:cheatsheet -->": lambda m: cheatsheet_table(),
    r"<!-- gen:facilitator -->": lambda m: facilitator_markdown(),
    r"<!-- gen:topology -->": lambda m: topology_table(),
    r"<!-- gen:stretch -->": lambda m: stretch_table(),
    r"<!-- gen:catalogue -->": lambda m: "\n".join(
        ["| # | chapter | chapter + exercise |", "|---|---|---|"] +
        [f"| {e.id} | [{e.title}](exercises/{e.name}.md) | {e.teaching_minutes} + {e.minutes} min |" for e in catalogue()]),
}
DOCKER_PLACEHOLDER = """# Docker

The same topology in containers (`docker compose up`) is documented here by the kit's Docker
work, which is not in this version yet. Until then, use the [local set-up](setup.md): it needs
only Python.
"""


def _chapter_title(src: Path) -> str:
    nb = json.loads(src.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            first = "".join(cell["source"]).strip().splitlines()[0]
            return first.lstrip("# ").strip()
    return src.stem


def on_config(config, **kw):
    """Fill the nav's Chapters and Exercises sections from notebooks/ and the catalogue."""
    chapters = [{_chapter_title(p): f"chapters/{p.name}"} for p in chapter_sources()]
    exercises = [{"Overview": "exercises/index.md"}] + [{f"{e.id} · {e.title}": f"exercises/{e.name}.md"} for e in catalogue()]
    for item in config.nav or []:
        if isinstance(item, dict):
            if "Chapters" in item:
                item["Chapters"] = chapters
            if "Exercises" in item:
                item["Exercises"] = exercises
    config.nav = _existing_only(config.nav or [], Path(config.docs_dir))
    return config


GENERATED = {"reference/cli.md", "reference/plan.md", "docker.md"}


def _existing_only(nav: list, docs_dir: Path) -> list:
    """Drop nav entries for pages other people's tools write and that aren't there (yet), e.g.
    benchmarks.md before `make bench` ran: a fresh clone must still build with --strict."""
    kept = []
    for item in nav:
        if isinstance(item, dict):
            (title, value), = item.items()
            if isinstance(value, list):
                value = _existing_only(value, docs_dir)
                if value:
                    kept.append({title: value})
            elif (value in GENERATED or value.startswith(("exercises/", "chapters/"))
                  or (docs_dir / value).exists()):
                kept.append(item)
        elif isinstance(item, str) and (item in GENERATED or (docs_dir / item).exists()):
            kept.append(item)
    return kept


def on_pre_build(config, **kw):
    import logging
    log = logging.getLogger("mkdocs.hooks.docs_gen")
    sync_chapters(log=log.info)
    broken = {p.name: error_outputs(EXECUTED / p.name) for p in chapter_sources()}
    broken = {k: v for k, v in broken.items() if v}
    if broken:
        from mkdocs.exceptions import PluginError
        raise PluginError("chapters with errors in their executed copy (allow_errors is false): " +
                          "; ".join(f"{k}: {v[0]}" for k, v in broken.items()))


def on_files(files, config, **kw):
    from mkdocs.structure.files import File
    have = {f.src_uri for f in files}
    chapter_ids = {p.name[:2]: p.name for p in chapter_sources()}

    def add(uri, content):
        if uri not in have:
            files.append(File.generated(config, uri, content=content))

    links = {k: f"../chapters/{v}" for k, v in chapter_ids.items()}
    add("exercises/index.md", exercises_index(links))
    for ex in catalogue():
        add(f"exercises/{ex.name}.md", exercise_page(ex, links.get(ex.id)))
    add("reference/cli.md", cli_reference())
    from lab.plan import reference_markdown
    add("reference/plan.md", reference_markdown())   # from the schema lab/plan.py validates with
    add("docker.md", DOCKER_PLACEHOLDER)      # only if docs/docker.md does not exist
    return files


def on_page_markdown(markdown, page, config, files, **kw):
    for pattern, render in MARKERS.items():
        markdown = re.sub(pattern, render, markdown)
    return markdown


NB_LINK_RE = re.compile(r'href="(\d\d_[a-z0-9_]+)\.ipynb"')
# Chapters link the glossary as a file (`../docs/glossary.md#term`: it opens from JupyterLab and on a
# code host); on the site that is the glossary page's URL.
GLOSSARY_LINK_RE = re.compile(r'href="\.\./docs/glossary\.md(#[^"]*)?"')


def on_page_content(html, page, config, files, **kw):
    src = page.file.src_uri
    if not (src.startswith("chapters/") and src.endswith(".ipynb")):
        return html
    def chapter_url(name):
        f = files.get_file_from_path(f"chapters/{name}.ipynb")
        return f.url_relative_to(page.file) if f else None
    html = NB_LINK_RE.sub(lambda m: f'href="{chapter_url(m.group(1)) or "#"}"', html)
    glossary = files.get_file_from_path("glossary.md")
    if glossary:
        html = GLOSSARY_LINK_RE.sub(lambda m: f'href="{glossary.url_relative_to(page.file)}{m.group(1) or ""}"', html)
    stem = Path(src).stem
    boxes = []
    ex = next((e for e in catalogue() if e.name == stem), None)
    if ex:
        f = files.get_file_from_path(f"exercises/{ex.name}.md")
        boxes.append(f'<div class="admonition abstract"><p class="admonition-title">Exercise {ex.id}</p>'
                     f'<p>After this chapter: <a href="{f.url_relative_to(page.file)}">{ex.id} · {ex.title}</a> '
                     f'({ex.minutes} min) — <code>lab check {ex.id}</code>. Run the chapter yourself in JupyterLab '
                     f'(<code>make lab</code>): <code>notebooks/{stem}.ipynb</code>.</p></div>')
    if executed_state(NOTEBOOKS / f"{stem}.ipynb") != "executed":
        boxes.append('<div class="admonition warning"><p class="admonition-title">Not executed</p>'
                     '<p>This copy of the chapter has no outputs yet: <code>make docs</code> executes the '
                     'chapters against a throwaway lab before it builds the site (so does <code>make test</code>).'
                     '</p></div>')
    else:
        meta = json.loads((EXECUTED / f"{stem}.ipynb").read_text()).get("metadata", {}).get("bigfoot_lab", {})
        if meta.get("executed_at"):
            boxes.append(f'<p class="chapter-run"><small>Outputs below are real: this chapter ran top to bottom '
                         f'against a live lab on {meta["executed_at"]}'
                         + (f' ({meta["machine"]})' if meta.get("machine") else "")
                         + (f' in {meta["seconds"]} s' if meta.get("seconds") is not None else "")
                         + '.</small></p>')
    return "\n".join(boxes) + html
