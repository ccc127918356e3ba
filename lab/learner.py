"""The learner's loop, rustlings-style: list with progress, check, hint, solution, reset.

Progress lives in one small file in the learner's lab folder (.lab/progress.json)."""
from __future__ import annotations

import difflib
import importlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .config import KIT_ROOT, read_json, write_json
from .errors import LabError
from .exercises import CheckFailed, ExerciseInfo, builds_on_line, catalogue, get


class Progress:
    def __init__(self, home: Path):
        self.path = home / "progress.json"
        self.data = read_json(self.path, {})

    def entry(self, ex: ExerciseInfo) -> dict:
        return self.data.setdefault(ex.id, {"status": "todo", "hints_shown": 0})

    def save(self) -> None:
        write_json(self.path, self.data)


def list_exercises(home: Path, out=print) -> None:
    p = Progress(home)
    marks = {"solved": "✓", "failed": "✗", "todo": "·"}
    total = 0
    for ex in catalogue():
        e = p.entry(ex)
        total += ex.minutes
        # solved stays solved: a later failing run (an experiment) doesn't take it away
        note = "  (solved; last run failed)" if e["status"] == "solved" and e.get("last_run") == "failed" else ""
        out(f"  {marks[e['status']]} {ex.id}  {ex.title:<55} {ex.minutes:>3} min   exercises/{ex.name}/{note}")
    solved = sum(1 for ex in catalogue() if p.entry(ex)["status"] == "solved")
    out(f"\n  {solved}/{len(catalogue())} solved · about {total} min of exercises · "
        f"`lab check` runs the next unsolved one, `lab hint NN` helps")


def next_unsolved(home: Path) -> ExerciseInfo:
    p = Progress(home)
    for ex in catalogue():
        if p.entry(ex)["status"] != "solved":
            return ex
    raise LabError("every exercise is solved — well done!", "run one again with `lab check NN`")


def load_check(ex: ExerciseInfo):
    """The exercise's check, from the kit (lab/checks/), never from the learner's folder."""
    from .checks import load
    return load(ex)


def check_folder(key: str, folder: Path, log=None):
    """Run exercise `key`'s check on a folder (what exercises/NN_slug/test_check.py does)."""
    return load_check(get(key))(Path(folder), log=log)


def run_check(home: Path, key: str | None, verbose: bool = False, out=print, as_json: bool = False) -> bool:
    """`lab check`: run the check, print what it found (or, with `as_json`, one line of
    lab.results.CheckResult as JSON), and keep the result in the progress file."""
    from . import results
    ex = get(key) if key else next_unsolved(home)
    if not as_json:
        out(f"checking {ex.id} · {ex.title}  (exercises/{ex.name}/)")

    def log(msg):
        if as_json:
            return
        if verbose:
            out("    " + msg)
        elif msg.startswith(("deploy ", "→ migrate", "→ manage.py", "→ build release", "→ the way back")):
            out("  " + msg.lstrip("→ ").rstrip(" …"))

    result = results.run(ex.id, load_check(ex), ex.folder, log=log)
    p = Progress(home)
    e = p.entry(ex)
    if result.status == "pass":
        e["status"], e["last_run"] = "solved", "passed"
        e.pop("last_failure", None)
    elif result.status == "fail":
        if e["status"] != "solved":
            e["status"] = "failed"
        e["last_run"], e["last_failure"] = "failed", str(result.kind)
    else:
        e["last_run"] = "error"    # the check couldn't judge: the learner's status stays what it was
    e["last_result"] = result.to_dict(with_log=False)   # what a room's board reads
    p.save()
    # the next one after this exercise (wrapping around), not always the first unsolved: a learner
    # who works on 05 after skipping 01 is told about 06, not nagged about 01
    order = catalogue()
    after = order[order.index(ex) + 1:] + order[:order.index(ex)]
    nxt = next((x for x in after if p.entry(x)["status"] != "solved"), None)
    from .board_client import push     # on the workshop hub only: the instructor's room board
    push(result, on=ex.id if not result.passed else nxt and nxt.id,
         solved=[x.id for x in order if p.entry(x)["status"] == "solved"])
    if as_json:
        out(result.to_json())
        return result.passed
    took = result.timings["wall_s"]
    if result.status != "pass":
        text = f"✗ {result.message}" + (f"\n  → {result.look_at}" if result.look_at else "")
        idea = ex.feedback.get(str(result.kind)) if result.status == "fail" else None
        out(f"\n{text}" + (f"\n  ? {idea}" if idea else ""))
        if result.status == "error":
            out(f"\n  the check could not judge your answer ({took:.1f}s): nothing was counted")
            return False
        if before := builds_on_line(ex):
            out(f"  {before}")
        solved = "  (you solved it before: that stays)" if e["status"] == "solved" else ""
        out(f"\n  not yet ({took:.1f}s). Stuck? `lab hint {ex.id}`{solved}")
        return False
    out(f"\n✓ {ex.title}: passed in {took:.1f}s")
    scenario = result.scenario
    if getattr(scenario, "traffic", None) is not None:
        out("  " + scenario.traffic.report().replace("\n", "\n  "))
    out(f"  next: `lab check {nxt.id}` ({nxt.title})" if nxt else "  all exercises solved!")
    return True


def show_hint(home: Path, key: str | None, out=print) -> None:
    """The next hint, from a question to the idea to the exact API (only the last may show code).
    Help follows the failure: when the last check failed for a reason other than the starter's
    (the learner is past the first obstacle), the feedback for THAT reason comes first."""
    ex = get(key) if key else next_unsolved(home)
    p = Progress(home)
    e = p.entry(ex)
    last = e.get("last_failure")
    if last and last != ex.starter_fails_with and ex.feedback.get(last) and e.get("feedback_shown") != last:
        e["feedback_shown"] = last
        p.save()
        out(f"your last check of {ex.id} failed with “{last}”:\n  {ex.feedback[last]}")
        out(f"  (run `lab hint {ex.id}` again for the general hints)")
        return
    n = min(e["hints_shown"] + 1, len(ex.hints))
    e["hints_shown"] = n
    p.save()
    out(f"hint {n} of {len(ex.hints)} for {ex.id} · {ex.title}:\n  {ex.hints[n - 1]}")
    if n < len(ex.hints):
        out(f"  (run `lab hint {ex.id}` again for the next one)")


def solution_diff(ex: ExerciseInfo) -> str:
    """The unified diff from the learner's current folder to the solution."""
    import tempfile
    from .corpus import materialize
    chunks = []
    a_root = ex.folder
    b_root = materialize(ex, Path(tempfile.mkdtemp(prefix="bigfoot-solution-")) / ex.name)
    files = sorted({p.relative_to(a_root) for p in a_root.rglob("*") if p.is_file()} |
                   {p.relative_to(b_root) for p in b_root.rglob("*") if p.is_file()})
    for rel in files:
        if "__pycache__" in rel.parts or rel.name in ("test_check.py",):
            continue
        a, b = a_root / rel, b_root / rel
        a_lines = a.read_text().splitlines(keepends=True) if a.exists() else []
        b_lines = b.read_text().splitlines(keepends=True) if b.exists() else []
        chunks += difflib.unified_diff(a_lines, b_lines, f"exercises/{ex.name}/{rel}", f"solutions/{ex.name}/{rel}")
    shutil.rmtree(b_root.parent, ignore_errors=True)
    return "".join(chunks) or "(your folder already matches the solution)\n"


def show_solution(key: str, assume_yes: bool, out=print, ask=input) -> None:
    ex = get(key)
    if not assume_yes:
        if not sys.stdin.isatty():
            raise LabError("`lab solution` asks before showing a solution", f"run `lab solution {ex.id} --yes`")
        if ask(f"Show the solution to {ex.id} · {ex.title}? Trying one more hint first helps [y/N] ").strip().lower() not in ("y", "yes"):
            out("ok, not shown")
            return
    out(solution_diff(ex))


def reset_exercise(home: Path, key: str, out=print, assume_yes: bool = False, ask=input) -> Path | None:
    """Restore the starter from git, after copying the learner's folder to a timestamped backup.
    Asks first when it would clear progress (solved, hints seen)."""
    ex = get(key)
    e = Progress(home).entry(ex)
    lose = [w for w, on in (("solved", e["status"] == "solved"),
                            (f"{e['hints_shown']} hint(s) seen", e["hints_shown"] > 0)) if on]
    if lose and not assume_yes:
        if not sys.stdin.isatty():
            raise LabError(f"`lab reset {ex.id}` would clear your progress on {ex.id} ({', '.join(lose)})",
                           f"run `lab reset {ex.id} --yes` (your files are backed up either way)")
        if ask(f"Reset {ex.id}? Your files are backed up, but your progress ({', '.join(lose)}) is cleared [y/N] "
               ).strip().lower() not in ("y", "yes"):
            out("ok, nothing reset")
            return None
    backup = home / "backups" / f"{ex.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if ex.folder.exists():
        shutil.copytree(ex.folder, backup, ignore=shutil.ignore_patterns("__pycache__"))
    rel = ex.folder.relative_to(KIT_ROOT)
    r = subprocess.run(["git", "-C", str(KIT_ROOT), "checkout", "HEAD", "--", str(rel)], capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"could not restore {rel} from git: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}",
                       f"your edits are safe in {backup}")
    # files the learner added are not in git: they are in the backup, remove them from the folder
    subprocess.run(["git", "-C", str(KIT_ROOT), "clean", "-fdq", "--", str(rel)], capture_output=True)
    p = Progress(home)
    p.data[ex.id] = {"status": "todo", "hints_shown": 0}
    p.save()
    out(f"restored the starter of exercises/{ex.name}/; your edits are backed up in {backup}")
    return backup
