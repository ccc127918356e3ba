"""Solutions and the wrong-answer corpus.

A solution stores only what differs from its starter: solutions/NN_slug/ holds the files the
learner changes or adds, a changed one as a patch against the starter's (lab/overlays.py); the rest
comes from exercises/NN_slug/ (a change to the starter can't leave a stale copy behind).
`materialize()` builds the whole folder a check runs on.

solutions/NN_slug/wrong/NAME.patch is one plausible learner mistake: a unified diff against the
materialized solution, after a header of two lines that the patch tool ignores:

    mistake: the model keeps default=False; only the migration got db_default
    expect: migrations out of date

`expect` is the failure kind (lab/kinds.py) the check must report. The kit's tests prove every
wrong answer fails for its stated reason (like nbgrader's `validate --invert`, or a mutation test).

For authors:
    python -m lab.corpus edit NN NAME     a scratch copy of the solution to make the mistake in
    python -m lab.corpus save NN NAME --mistake "..." --expect "..."   write the patch from it
    python -m lab.corpus run NN [NAME]    run the check on each wrong answer, print the verdicts
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .exercises import ExerciseInfo, get
from .kinds import is_kind
from .overlays import apply_overlay, overlays_in

# Files of an exercise folder that are the kit's, not the learner's answer.
NOT_ANSWER = shutil.ignore_patterns("__pycache__", "*.pyc", "test_check.py", ".pytest_cache")
SCRATCH = Path(tempfile.gettempdir()) / "bigfoot-wrong"


@dataclass
class WrongAnswer:
    exercise: ExerciseInfo
    name: str
    mistake: str
    expect: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.exercise.id}/{self.name}"


def materialize(ex: ExerciseInfo, dest: Path, wrong: WrongAnswer | None = None) -> Path:
    """The solution as a learner's folder would hold it: the starter, the solution's files on top,
    and optionally one wrong answer's patch applied."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ex.folder, dest, ignore=NOT_ANSWER)
    # the solution's own files (README, plan) whole; each of its overlay folders (app/, app_v2/, ...)
    # laid over the starter's, its patches against the starter's file (else bigfoot_app/'s)
    overlays = overlays_in(ex.solution_folder)
    shutil.copytree(ex.solution_folder, dest, dirs_exist_ok=True, ignore=lambda d, names: [
        n for n in names if n in ("wrong", "__pycache__") or n.endswith(".pyc") or Path(d) / n in
        {o.path for o in overlays}])
    for o in overlays:
        apply_overlay(o.path, dest / o.path.relative_to(ex.solution_folder), o.bases)
    if wrong is not None:
        r = subprocess.run(["git", "apply", "--unidiff-zero", "-p1", str(wrong.path)], cwd=dest,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"wrong answer {wrong.id} no longer applies to the solution: {r.stderr.strip()}")
    return dest


def wrong_answers(ex: ExerciseInfo) -> list[WrongAnswer]:
    out = []
    for p in sorted((ex.solution_folder / "wrong").glob("*.patch")):
        head = {}
        for line in p.read_text().splitlines():
            if line.startswith(("diff ", "--- ")):
                break
            key, sep, value = line.partition(":")
            if sep:
                head[key.strip()] = value.strip()
        out.append(WrongAnswer(ex, p.stem, head.get("mistake", ""), head.get("expect", ""), p))
    return out


def _scratch(ex: ExerciseInfo, name: str) -> Path:
    return SCRATCH / f"{ex.name}-{name}"


def edit(ex: ExerciseInfo, name: str) -> Path:
    d = materialize(ex, _scratch(ex, name))
    git = ["git", "-c", "user.name=corpus", "-c", "user.email=corpus@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=d, check=True)
    subprocess.run([*git, "add", "-A"], cwd=d, check=True)
    subprocess.run([*git, "commit", "-qm", "solution"], cwd=d, check=True)
    existing = ex.solution_folder / "wrong" / f"{name}.patch"
    if existing.exists():
        r = subprocess.run(["git", "apply", "--unidiff-zero", "-p1", str(existing)], cwd=d, capture_output=True,
                           text=True)
        if r.returncode != 0:
            # the solution changed under it: the scratch copy is the plain solution, to make the
            # mistake in again (save then overwrites the stale patch)
            print(f"{existing.relative_to(ex.solution_folder.parent.parent)} no longer applies to the solution "
                  f"({(r.stderr.strip().splitlines() or ['?'])[0]}): {d} holds the solution without it; make the "
                  f"mistake again there, then save", file=sys.stderr)
    return d


def save(ex: ExerciseInfo, name: str, mistake: str, expect: str) -> Path:
    if not is_kind(expect):
        raise SystemExit(f"unknown failure kind {expect!r} (see lab/kinds.py)")
    d = _scratch(ex, name)
    subprocess.run(["git", "add", "-A"], cwd=d, check=True)   # new, changed AND deleted files
    # no context lines: a later edit of a comment in the solution doesn't break the patch
    # (the folder's README is the task's text, never part of an answer: a patch that carries it
    # breaks whenever the solution's README is edited)
    diff = subprocess.run(["git", "diff", "--cached", "-U0", "--no-color", "--no-ext-diff", "--", ".",
                           ":(exclude)README.md"], cwd=d, capture_output=True, text=True, check=True).stdout
    if not diff.strip():
        raise SystemExit(f"{d} has no change from the solution")
    out = ex.solution_folder / "wrong" / f"{name}.patch"
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"mistake: {mistake}\nexpect: {expect}\n\n{diff}")
    return out


def run(ex: ExerciseInfo, names: list[str] | None = None, verbose: bool = False) -> int:
    from .checks import load
    from .kinds import CheckFailed
    check, bad = load(ex), 0
    for w in wrong_answers(ex):
        if names and w.name not in names:
            continue
        with tempfile.TemporaryDirectory(prefix="bigfoot-wrong-") as tmp:
            folder = materialize(ex, Path(tmp) / ex.name, w)
            t0 = time.monotonic()
            try:
                check(folder, log=print if verbose else None)
                verdict, ok = "PASSED (the check let it through!)", False
            except CheckFailed as f:
                ok = f.reason == w.expect
                verdict = f"failed with {f.reason!r}" + ("" if ok else f", expected {w.expect!r}") + f"\n      {f}"
        bad += not ok
        print(f"{'✓' if ok else '✗'} {w.id} ({time.monotonic() - t0:.1f}s): {verdict}")
    return 1 if bad else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.corpus", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("edit")
    e.add_argument("exercise")
    e.add_argument("name")
    s = sub.add_parser("save")
    s.add_argument("exercise")
    s.add_argument("name")
    s.add_argument("--mistake", required=True)
    s.add_argument("--expect", required=True)
    r = sub.add_parser("run")
    r.add_argument("exercise")
    r.add_argument("names", nargs="*")
    r.add_argument("-v", "--verbose", action="store_true")
    m = sub.add_parser("materialize", help="the solution (or a wrong answer) as a full folder")
    m.add_argument("exercise")
    m.add_argument("dest")
    m.add_argument("--wrong")
    a = p.parse_args(argv)
    ex = get(a.exercise)
    if a.cmd == "edit":
        print(edit(ex, a.name))
    elif a.cmd == "save":
        print(save(ex, a.name, a.mistake, a.expect))
    elif a.cmd == "run":
        return run(ex, a.names, a.verbose)
    elif a.cmd == "materialize":
        w = next((w for w in wrong_answers(ex) if w.name == a.wrong), None) if a.wrong else None
        print(materialize(ex, Path(a.dest), w))
    return 0


if __name__ == "__main__":
    from . import procs
    from .errors import Interrupted
    procs.raise_on_termination()   # as `lab check`: a SIGTERM mid-check stops the check's lab too
    try:
        sys.exit(main())
    except Interrupted as stop:
        sys.exit(stop.code)
