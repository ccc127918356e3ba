"""Slides from the chapters themselves: give each notebook cell RISE slide metadata by one rule.

The instructor presents a chapter from its notebook (JupyterLab + jupyterlab_rise: View → Render
as Reveal Slideshow), so the slides are the chapter and can't drift from it. This tool writes only
`cell.metadata.slideshow.slide_type` (and the notebook's `rise` settings); sources, outputs and
every other key stay as they are, and the file keeps the kit's JSON layout (indent 1, UTF-8), so
`git diff` shows metadata lines only. (`--split` is the one exception: it cuts cells, see below.)

The rule, cell by cell (a cell that already has a slide_type keeps it: the author's choice wins,
and a second run changes nothing):

  first cell (the chapter's title)                → slide
  markdown with a `## ` heading                   → slide       (the chapter's sections)
  other markdown                                  → subslide after a code cell (the next step of
                                                    the story), else -  (continues the slide)
  code: the set-up cell (`Chapter(`)              → subslide    (run it: the lab resets and the
                                                    chapter's questions and objectives appear)
  code: the clean-up cell (`chapter.close()`)     → -           (on the Recap slide: run it, the
                                                    key points appear)
  code that shows a plot (`chapter.show(`,
        `run_plan(`, `.plot(`)                    → subslide    (the plot gets a slide of its own)
  code of checks only (`assert` statements, or
        a `for` loop of them)                     → skip        (the chapter's own test scaffolding:
                                                    the learner's notebook shows it, the room doesn't)
  any other code                                  → -           (with the text that explains it)

("After a code cell" looks past skipped cells: it means the last cell the slides show.)

Only check cells are `skip`ped by the rule: in a slideshow the instructor runs cells as they come
(Shift-Enter on the slide), and a skipped cell is never shown, so never run — fine for a check,
which makes nothing a later cell uses, but every other code cell of a chapter (set-up and helper
definitions included) does. So a check must not share a cell with code the slides need:
`--split` moves a cell's top-level asserts into check cells of their own, in place (the code and
its order stay as they were), and `--check` reports a cell that still mixes them, or an `assert`
inside code the slides show (a helper's guard is an error to raise, not a check). The notebook also
gets `"rise": {"scroll": true}` in its metadata (RISE reads its settings from there): a slide
taller than the projector scrolls instead of being cut off.

    python -m lab.slides                 mark every chapter in notebooks/ (cells without a slide_type)
    python -m lab.slides 02 03           these chapters only
    python -m lab.slides --check         change nothing; exit 1 if a chapter's slides are incomplete
    python -m lab.slides --reset 02      recompute every cell of 02 by the rule (drops hand-made marks)
    python -m lab.slides --split 02      give 02's checks (asserts) cells of their own, then mark them
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

from lab.config import KIT_ROOT
from lab.errors import LabError

NOTEBOOKS = KIT_ROOT / "notebooks"
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
PLOTS = ("chapter.show(", "run_plan(", ".plot(")
RISE = {"scroll": True}     # notebook-level RISE settings (defaults: the JupyterLab settings)
HEADING = re.compile(r"^## \S", re.M)


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def source(cell: dict) -> str:
    s = cell.get("source", "")
    return s if isinstance(s, str) else "".join(s)


def has_heading(cell: dict) -> bool:
    """A markdown cell with a `## ` heading line outside code fences (a mermaid block included)."""
    if cell.get("cell_type") != "markdown":
        return False
    text = re.sub(r"```.*?```", "", source(cell), flags=re.S)
    return bool(HEADING.search(text))


def slide_type(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type")


def _statements(cell: dict) -> list[ast.stmt] | None:
    """A code cell's top-level statements (None: not code, or not plain Python)."""
    if cell.get("cell_type") != "code":
        return None
    try:
        return ast.parse(source(cell)).body
    except SyntaxError:
        return None


def is_check(stmt: ast.stmt) -> bool:
    """An `assert`, or a `for` loop that only asserts: a statement that proves, and makes nothing."""
    if isinstance(stmt, ast.Assert):
        return True
    return isinstance(stmt, ast.For) and not stmt.orelse and all(is_check(s) for s in stmt.body)


def is_check_cell(cell: dict) -> bool:
    body = _statements(cell)
    return bool(body) and all(is_check(s) for s in body)


def mixed_checks(cell: dict) -> str | None:
    """Why a code cell's checks would show on a slide (None: they don't, or it has none)."""
    body = _statements(cell)
    if not body or all(is_check(s) for s in body):
        return None
    if any(is_check(s) for s in body):
        return "shares a cell with checks (`assert`) that the slides would show"
    nested = [n for s in body for n in ast.walk(s) if isinstance(n, ast.Assert)]
    if nested:
        return (f"has an `assert` inside code the slides show (line {nested[0].lineno}): a helper's guard "
                "raises an error; a check goes after the code, in a cell of its own")
    return None


def _shown_before(cells: list[dict], i: int) -> dict | None:
    """The last cell before cells[i] that the slides show (skipped cells are passed over)."""
    for j in range(i - 1, -1, -1):
        if (slide_type(cells[j]) or rule(cells, j)) != "skip":
            return cells[j]
    return None


def rule(cells: list[dict], i: int) -> str:
    """The slide_type the rule (module docstring) gives cells[i]."""
    cell, text = cells[i], source(cells[i])
    if i == 0:
        return "slide"
    if cell["cell_type"] == "markdown":
        if has_heading(cell):
            return "slide"
        prev = _shown_before(cells, i)
        return "subslide" if prev is not None and prev["cell_type"] == "code" else "-"
    if cell["cell_type"] != "code":
        return "-"
    if is_check_cell(cell):
        return "skip"
    if "Chapter(" in text:
        return "subslide"
    if "chapter.close()" in text:
        return "-"
    if any(p in text for p in PLOTS):
        return "subslide"
    return "-"


def mark(nb: dict, reset: bool = False) -> int:
    """Give every cell a slide_type (keeping the ones it has, unless reset); returns how many changed."""
    cells = nb.get("cells", [])
    changed = 0
    for i, cell in enumerate(cells):
        if slide_type(cell) in SLIDE_TYPES and not reset:
            continue
        want = rule(cells, i)
        if slide_type(cell) != want:
            cell.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = want
            changed += 1
    if "rise" not in nb.setdefault("metadata", {}):
        nb["metadata"]["rise"] = dict(RISE)
        changed += 1
    return changed


def split(nb: dict) -> int:
    """Give every top-level run of checks (see is_check) a code cell of its own, right where it was,
    marked `skip`; returns how many cells were split. The code keeps its statements, comments and
    order (the cells' sources joined give the same program). The first part that isn't a check keeps
    the cell's slide_type (later parts continue its slide: `-`); the cell's tags (`break-it`,
    `fix-it`: the cell that proves the break or the fix) go with its checks. A part that now ends in
    an expression the cell didn't end in gets a `;`, so the notebook shows no new value. A cell of
    checks only that the slides show is marked `skip` (and counted) too."""
    out, count = [], 0
    for cell in nb.get("cells", []):
        body = _statements(cell)
        if is_check_cell(cell) and slide_type(cell) not in (None, "skip"):
            cell["metadata"]["slideshow"]["slide_type"] = "skip"
            count += 1
        if not body or all(is_check(s) for s in body) or not any(is_check(s) for s in body):
            out.append(cell)
            continue
        lines = source(cell).split("\n")
        parts: list[tuple[bool, list[str], ast.stmt]] = []     # (checks?, lines, last statement)
        for k, stmt in enumerate(body):
            begin = 0 if k == 0 else body[k - 1].end_lineno    # comments above a statement go with it
            end = len(lines) if k == len(body) - 1 else stmt.end_lineno
            chunk = lines[begin:end]
            if parts and parts[-1][0] == is_check(stmt):
                parts[-1] = (parts[-1][0], parts[-1][1] + chunk, stmt)
            else:
                parts.append((is_check(stmt), chunk, stmt))
        meta = cell.get("metadata", {})
        tags = meta.get("tags")
        first_code = True
        for n, (checks, chunk, last) in enumerate(parts):
            while chunk and not chunk[0].strip():
                chunk = chunk[1:]
            while chunk and not chunk[-1].strip():
                chunk = chunk[:-1]
            new_meta = {k: v for k, v in meta.items() if k not in ("slideshow", "tags")}
            if checks:
                new_meta["slideshow"] = {"slide_type": "skip"}
                if tags:
                    new_meta["tags"] = list(tags)
            else:
                new_meta["slideshow"] = ({"slide_type": slide_type(cell)} if first_code and slide_type(cell)
                                         else {"slide_type": "-"})
                first_code = False
                if last is not body[-1] and isinstance(last, ast.Expr) and not _prints(last):
                    end = chunk[-1].encode()            # the statement's end (a comment may follow it)
                    chunk[-1] = (end[:last.end_col_offset] + b";" + end[last.end_col_offset:]).decode()
            text = "\n".join(chunk)       # kept in the cell's own layout (one string, or a list of lines)
            part = {**cell, "metadata": new_meta,
                    "source": text if isinstance(cell.get("source"), str) else text.splitlines(keepends=True)}
            if n:
                part["id"] = f"{cell.get('id', 'cell')}-{n}"
            if cell["cell_type"] == "code":
                part["outputs"], part["execution_count"] = [], None
            out.append(part)
        count += 1
    nb["cells"] = out
    return count


def _prints(stmt: ast.Expr) -> bool:
    """print(...) or display(...): a call whose value is None, so the notebook shows nothing more."""
    f = stmt.value.func if isinstance(stmt.value, ast.Call) else None
    return isinstance(f, ast.Name) and f.id in ("print", "display")


def problems(nb: dict) -> list[str]:
    """Why a chapter's slides are incomplete (empty: every cell has a slide, sections start slides)."""
    cells = nb.get("cells", [])
    found = [f"cell {i} has no slide_type" for i, c in enumerate(cells) if slide_type(c) is None]
    found += [f"cell {i} has an unknown slide_type {slide_type(c)!r}" for i, c in enumerate(cells)
              if slide_type(c) is not None and slide_type(c) not in SLIDE_TYPES]
    if cells and slide_type(cells[0]) != "slide":
        found.append("the first cell (the title) does not start a slide")
    found += [f"cell {i} (`{source(c).strip().splitlines()[0][:40]}` …) has a `## ` heading but does not "
              f"start a slide" for i, c in enumerate(cells) if has_heading(c) and slide_type(c) != "slide"]
    found += [f"cell {i} (`{source(c).strip().splitlines()[0][:40]}` …) {why}"
              for i, c in enumerate(cells) if (why := mixed_checks(c))]
    found += [f"cell {i} holds only checks but the slides show it (slide_type {slide_type(c)!r}, not 'skip')"
              for i, c in enumerate(cells) if is_check_cell(c) and slide_type(c) not in (None, "skip")]
    slides = sum(slide_type(c) == "slide" for c in cells)
    if slides < 3:
        found.append(f"only {slides} slide(s): a chapter has at least a title, a break and a fix")
    return found


def write(path: Path, nb: dict) -> None:
    # the kit's notebook layout (what nbformat writes: indent 1, UTF-8 kept): metadata-only diffs
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def pick(ids: list[str]) -> list[Path]:
    every = chapters()
    if not ids:
        return every
    chosen = [p for p in every if p.name[:2] in ids or p.stem in ids or str(p) in ids]
    missing = sorted(set(ids) - {p.name[:2] for p in chosen} - {p.stem for p in chosen} - {str(p) for p in chosen})
    if missing:
        raise LabError(f"no chapter {', '.join(missing)} in notebooks/",
                       "chapters: " + ", ".join(p.name[:2] for p in every))
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.slides", description=__doc__.split("\n\n")[0])
    ap.add_argument("ids", nargs="*", help="chapter numbers, e.g. 02 03 (default: every chapter)")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a chapter's slides are incomplete")
    ap.add_argument("--reset", action="store_true", help="recompute every cell by the rule, hand-made marks included")
    ap.add_argument("--split", action="store_true", help="give each cell's checks (asserts) a cell of their own first")
    a = ap.parse_args(argv)
    try:
        paths = pick(a.ids)
    except LabError as e:
        print(f"lab.slides: {e}", file=sys.stderr)
        return 2
    bad = 0
    for path in paths:
        nb = json.loads(path.read_text())
        if a.check:
            found = problems(nb)
            bad += bool(found)
            print(f"  {'✗' if found else '✓'} {path.stem}" + (": " + "; ".join(found) if found else
                  f": {sum(slide_type(c) == 'slide' for c in nb['cells'])} slides"))
            continue
        changed = split(nb) if a.split else 0
        changed += mark(nb, reset=a.reset)
        if changed:
            write(path, nb)
        slides = sum(slide_type(c) == "slide" for c in nb["cells"])
        print(f"  {path.stem}: {slides} slides, {changed} change(s)" + ("" if changed else " (up to date)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
