"""Slides from the chapters themselves: give each notebook cell RISE slide metadata by one rule.

The instructor presents a chapter from its notebook (JupyterLab + jupyterlab_rise: View → Render
as Reveal Slideshow), so the slides are the chapter and can't drift from it. This tool writes only
`cell.metadata.slideshow.slide_type` (and the notebook's `rise` settings); sources, outputs and
every other key stay as they are, and the file keeps the kit's JSON layout (indent 1, UTF-8), so
`git diff` shows metadata lines only.

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
  any other code                                  → -           (with the text that explains it)

Nothing is `skip`ped by the rule: in a slideshow the instructor runs cells as they come (Shift-Enter
on the slide), and a skipped cell is never shown, so never run — yet every code cell of a chapter
(set-up and helper definitions included) makes something later cells use. Mark a cell `skip` by
hand only if nothing after it needs it. The notebook also gets `"rise": {"scroll": true}` in its
metadata (RISE reads its settings from there): a slide taller than the projector scrolls instead
of being cut off.

    python -m lab.slides                 mark every chapter in notebooks/ (cells without a slide_type)
    python -m lab.slides 02 03           these chapters only
    python -m lab.slides --check         change nothing; exit 1 if a chapter's slides are incomplete
    python -m lab.slides --reset 02      recompute every cell of 02 by the rule (drops hand-made marks)
"""
from __future__ import annotations

import argparse
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


def rule(cells: list[dict], i: int) -> str:
    """The slide_type the rule (module docstring) gives cells[i]."""
    cell, text = cells[i], source(cells[i])
    if i == 0:
        return "slide"
    if cell["cell_type"] == "markdown":
        if has_heading(cell):
            return "slide"
        prev = cells[i - 1]
        return "subslide" if prev["cell_type"] == "code" and (slide_type(prev) or rule(cells, i - 1)) != "skip" else "-"
    if cell["cell_type"] != "code":
        return "-"
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
        changed = mark(nb, reset=a.reset)
        if changed:
            write(path, nb)
        slides = sum(slide_type(c) == "slide" for c in nb["cells"])
        print(f"  {path.stem}: {slides} slides, {changed} change(s)" + ("" if changed else " (up to date)"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
