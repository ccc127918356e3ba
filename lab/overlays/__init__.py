"""Overlays: folders of files laid over bigfoot_app/ to make a release, storing only what differs.

A file in an overlay is either
  - a whole file: it replaces (or adds) the file at the same path, e.g. a new migration;
  - a patch, `X.patch`: a unified diff against the file X it changes, applied when the overlay is
    laid. What X is: the same path in bigfoot_app/, or, in a solution (solutions/NN_slug/F/),
    the starter's exercises/NN_slug/F/X when the starter has one (else bigfoot_app/'s). A patch
    never depends on which other overlays a release stacks: like a whole file, it says what X is.

`apply_overlay` lays one overlay onto a folder: the release build (lab/releases.py), the solutions
(lab/corpus.py materialize) and the tests use it. A patch that doesn't apply is one LabError line
naming the patch and its base file.

For maintainers:
    python -m lab.overlays pack DIR...     replace each whole copy of a base file with its patch
                                           (when the patch is shorter than the file)
    python -m lab.overlays unpack DIR...   the other way: every patch back to a whole file, to edit;
                                           `pack` again before committing
    python -m lab.overlays check           every patch applies; no whole copy is left
    python -m lab.overlays starters [--record]   exercise starters made from an older bigfoot_app/
"""
from __future__ import annotations

import difflib
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import APP_SOURCE, KIT_ROOT
from ..errors import LabError

SUFFIX = ".patch"
SOLUTIONS = KIT_ROOT / "solutions"
EXERCISES = KIT_ROOT / "exercises"
DEMOS = KIT_ROOT / "notebooks" / "demos"
# The folders whose overlays store only what differs (the starters stay real files: learners edit them).
PACKED = (SOLUTIONS, DEMOS)
# Starters made from bigfoot_app/ files: each file's base, as the git blob id it was made from.
STARTER_BASES = KIT_ROOT / "lab" / "starter_bases.toml"
# What is never part of a release: build output, caches, and what an editor, a notebook or `patch`
# leaves beside a learner's files (so opening production's folder in an editor doesn't make it
# "another release"). Both the build (copytree) and content_hash skip these.
NOT_SOURCE = ("__pycache__", "*.pyc", "staticfiles", ".pytest_cache", ".ipynb_checkpoints",
              "*.orig", "*.rej", "*~", "*.swp", "*.swo", ".DS_Store")
IGNORE = shutil.ignore_patterns(*NOT_SOURCE)
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(Exception):
    pass


# ---------------------------------------------------------------- one patch
def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def make_patch(base: str, new: str, base_name: str, new_name: str) -> str:
    """A unified diff (3 lines of context) from `base` to `new`, as `diff -u` writes it."""
    out = []
    for line in difflib.unified_diff(_lines(base), _lines(new), base_name, new_name):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def apply_patch(patch: str, base: str) -> str:
    """`base` with the unified diff `patch` applied. Each hunk's old lines must be found as they are
    (no fuzz), at the stated line or shifted (the base grew or shrank elsewhere); else PatchError."""
    hunks = []    # (old start line, [(tag, text)])
    for line in _lines(patch):
        m = HUNK.match(line)
        if m:
            hunks.append((int(m.group(1)), []))
        elif not hunks:
            continue                     # the --- / +++ header
        elif line.startswith("\\"):     # "\ No newline at end of file": the line before has none
            tag, text = hunks[-1][1][-1]
            hunks[-1][1][-1] = (tag, text.rstrip("\n"))
        elif line[:1] in (" ", "-", "+"):
            hunks[-1][1].append((line[0], line[1:]))
        elif line == "\n":               # a blank context line whose space was trimmed
            hunks[-1][1].append((" ", "\n"))
        else:
            raise PatchError(f"not a unified diff line: {line.rstrip()!r}")
    if not hunks:
        raise PatchError("no hunk (@@ ... @@) in it")
    lines, out, pos, drift = _lines(base), [], 0, 0
    for n, (start, body) in enumerate(hunks, 1):
        old = [text for tag, text in body if tag != "+"]
        new = [text for tag, text in body if tag != "-"]
        want = max(start - 1 + drift, pos) if old else min(max(start + drift, pos), len(lines))
        at = next((i for i in sorted(range(pos, len(lines) - len(old) + 1), key=lambda i: abs(i - want))
                   if lines[i:i + len(old)] == old), None) if old else want
        if at is None:
            k = next((k for k, text in enumerate(old) if lines[want + k:want + k + 1] != [text]), 0)
            seen = lines[want + k].rstrip() if want + k < len(lines) else "(end of file)"
            raise PatchError(f"hunk {n}: line {want + k + 1} should be {old[k].rstrip()!r}, it is {seen!r}")
        out += lines[pos:at] + new
        pos, drift = at + len(old), at - (start - 1 if old else start)
    return "".join(out + lines[pos:])


# ---------------------------------------------------------------- one overlay
def patched_name(f: Path) -> Path:
    """models.py.patch -> models.py"""
    return f.with_name(f.name[:-len(SUFFIX)])


def base_file(rel: Path, bases: Sequence[Path]) -> Path | None:
    return next((b / rel for b in bases if (b / rel).is_file()), None)


def _show(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(KIT_ROOT))
    except ValueError:
        return str(p)


def unpacked_text(patch: Path, overlay: Path, bases: Sequence[Path]) -> str:
    """The whole file a patch in `overlay` stands for."""
    rel = patched_name(patch.relative_to(overlay))
    base = base_file(rel, bases)
    if base is None:
        raise LabError(f"{_show(patch)} has no base file: no {' nor '.join(_show(b / rel) for b in bases)}",
                       "a new file is stored whole, not as a patch")
    try:
        return apply_patch(patch.read_text(), base.read_text())
    except PatchError as e:
        raise LabError(f"{_show(patch)} does not apply to {_show(base)}: {e}",
                       f"the base changed: run `python -m lab.overlays unpack {_show(overlay)}`, "
                       f"carry the change over, then `pack` it again") from None


def apply_overlay(overlay: Path, dest: Path, bases: Sequence[Path] = (APP_SOURCE,)) -> None:
    """Lay `overlay` onto `dest`: whole files replace or add, each X.patch writes X patched from the
    first of bases/X that exists (bigfoot_app/ for a release). Editor and build leftovers are skipped."""
    shutil.copytree(overlay, dest, ignore=shutil.ignore_patterns(*NOT_SOURCE, "*" + SUFFIX), dirs_exist_ok=True)
    for patch in sorted(overlay.rglob("*" + SUFFIX)):
        if IGNORE("", list(patch.relative_to(overlay).parts)):
            continue
        rel = patched_name(patch.relative_to(overlay))
        if (overlay / rel).exists():
            raise LabError(f"{_show(overlay / rel)} is there twice: whole and as {patch.name}", "keep one")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(unpacked_text(patch, overlay, bases))


# ---------------------------------------------------------------- where the overlays are
@dataclass
class Overlay:
    path: Path
    bases: list[Path]     # what its patches are against, first found wins


def _is_overlay_root(d: Path) -> bool:
    """A folder laid over the app: it holds one of bigfoot_app/'s own top folders (sightings/, bigfoot/)."""
    return any((d / top.name).is_dir() for top in APP_SOURCE.iterdir() if top.is_dir() and top.name != "__pycache__")


def overlays_in(folder: Path) -> list[Overlay]:
    """Every overlay folder inside `folder` (a demo's, an exercise's or a solution's, or one overlay),
    outermost only, with its bases."""
    folder = folder.resolve()
    found, todo = [], [folder]
    while todo:
        d = todo.pop()
        if _is_overlay_root(d):
            found.append(d)
        else:
            todo += [c for c in sorted(d.iterdir(), reverse=True)
                     if c.is_dir() and c.name not in ("wrong", "__pycache__") and not c.name.startswith(".")]
    out = []
    for d in found:
        bases = [APP_SOURCE]
        if d.is_relative_to(SOLUTIONS) and d != SOLUTIONS:
            rel = d.relative_to(SOLUTIONS)
            bases.insert(0, EXERCISES / rel)    # a solution sits on its starter
        out.append(Overlay(d, bases))
    return sorted(out, key=lambda o: o.path)


def whole_files(o: Overlay):
    """(file, its path inside the overlay, its base file) for each whole file that has a base."""
    for f in sorted(o.path.rglob("*")):
        if f.is_file() and f.suffix != SUFFIX and "__pycache__" not in f.parts:
            rel = f.relative_to(o.path)
            base = base_file(rel, o.bases)
            if base is not None:
                yield f, rel, base


def worth_a_patch(base: str, new: str) -> str | None:
    """The patch from base to new if it is shorter than the whole file (a copy with a few lines
    changed), else None (a rewrite: stored whole)."""
    patch = make_patch(base, new, "a", "b")
    return patch if patch and len(_lines(patch)) < len(_lines(new)) else None


def _text(p: Path) -> str | None:
    try:
        return p.read_text()
    except UnicodeDecodeError:
        return None


def pack(folders: Sequence[Path], out=print) -> int:
    n = 0
    for o in (o for folder in folders for o in overlays_in(folder)):
        for f, rel, base in whole_files(o):
            new, old = _text(f), _text(base)
            if new is None or old is None or worth_a_patch(old, new) is None:
                continue
            patch = f.with_name(f.name + SUFFIX)
            patch.write_text(make_patch(old, new, _show(base), _show(f)))
            assert unpacked_text(patch, o.path, o.bases) == new, f"{patch}: the patch doesn't give the file back"
            f.unlink()
            n += 1
            out(f"{_show(f)} -> {patch.name} ({len(_lines(new))} lines -> {len(_lines(patch.read_text()))})")
    return n


def unpack(folders: Sequence[Path], out=print) -> int:
    n = 0
    for o in (o for folder in folders for o in overlays_in(folder)):
        for patch in sorted(o.path.rglob("*" + SUFFIX)):
            rel = patched_name(patch.relative_to(o.path))
            (o.path / rel).write_text(unpacked_text(patch, o.path, o.bases))
            patch.unlink()
            n += 1
            out(f"{_show(patch)} -> {rel.name}")
    return n


def problems(folders: Sequence[Path] = PACKED) -> list[str]:
    """What the structural test holds: every patch applies; no whole copy of a base file is left."""
    bad = []
    for o in (o for folder in folders for o in overlays_in(folder)):
        for patch in sorted(o.path.rglob("*" + SUFFIX)):
            try:
                unpacked_text(patch, o.path, o.bases)
            except LabError as e:
                bad.append(str(e))
        for f, rel, base in whole_files(o):
            new, old = _text(f), _text(base)
            if new is not None and old is not None and worth_a_patch(old, new) is not None:
                bad.append(f"{_show(f)} is a whole copy of {_show(base)} with a few lines changed: "
                           f"`python -m lab.overlays pack {_show(o.path)}`")
    return bad


# ---------------------------------------------------------------- the starters (real files, learners edit them)
def git_blob_id(data: bytes) -> str:
    """The id git gives these bytes (`git hash-object`): git can show that version of a base again."""
    import hashlib
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def starter_files() -> dict[str, Path]:
    """exercises/... path -> the bigfoot_app/ file it is a changed copy of."""
    out = {}
    for o in overlays_in(EXERCISES):
        for f, rel, base in whole_files(o):
            out[f.relative_to(KIT_ROOT).as_posix()] = base
    return out


def recorded_bases() -> dict[str, str]:
    import tomllib
    return tomllib.loads(STARTER_BASES.read_text()) if STARTER_BASES.exists() else {}


def stale_starters() -> list[str]:
    """Starter files whose bigfoot_app/ file changed since they were made from it (or never recorded)."""
    recorded, bad = recorded_bases(), []
    for starter, base in starter_files().items():
        was = recorded.get(starter)
        if was is None:
            bad.append(f"{starter}: made from {_show(base)}, not recorded in {_show(STARTER_BASES)}")
        elif was != git_blob_id(base.read_bytes()):
            bad.append(f"{starter}: made from an older {_show(base)}: carry the change over (it is "
                       f"`git show {was[:10]} | diff - {_show(base)}`), then `python -m lab.overlays starters --record`")
    return bad


def record_starters() -> None:
    lines = ["# Each exercise starter file that is a changed copy of a bigfoot_app/ file, and the git blob id of",
             "# the bigfoot_app/ version it was made from (tests/test_structure.py: a changed base makes it stale).",
             "# Written by `python -m lab.overlays starters --record`, after carrying a base's change over."]
    lines += [f'"{s}" = "{git_blob_id(b.read_bytes())}"' for s, b in sorted(starter_files().items())]
    STARTER_BASES.write_text("\n".join(lines) + "\n")
