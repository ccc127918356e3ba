"""Run today's wrong-answer corpus against the checks of another commit: which mistakes did those
checks let through? (How issue 9's "wrong answers that passed before the fixes" was measured.)

    .venv/bin/python bench/corpus_against.py 7f41bcf            # every exercise
    .venv/bin/python bench/corpus_against.py 7f41bcf --only 02,05

The old checks run from a git worktree of that commit, in a process of their own (its `lab`
package, its checks). Each wrong answer is today's solution plus its patch; where the old plan
format set the check's obstacle (`seed_sightings`), the old starter's value is put back, so an old
check meets the obstacle it was written for.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

from lab.corpus import materialize, wrong_answers  # noqa: E402
from lab.exercises import catalogue  # noqa: E402

RUN_OLD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from lab.exercises import get, CheckFailed
from lab.learner import load_check
ex = get(sys.argv[2])
try:
    load_check(ex)(Path(sys.argv[3]))
    print("VERDICT " + json.dumps("pass"))
except CheckFailed as f:
    print("VERDICT " + json.dumps(str(f.reason)))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("commit")
    ap.add_argument("--only", help="exercise ids, comma-separated")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    wt = Path(tempfile.mkdtemp(prefix="bigfoot-old-")) / "kit"
    subprocess.run(["git", "-C", str(KIT), "worktree", "add", "-q", "--detach", str(wt), a.commit], check=True)
    results = []
    try:
        for ex in catalogue():
            if only and ex.id not in only:
                continue
            old_plan = wt / "exercises" / ex.name / "plan.toml"
            seed = tomllib.loads(old_plan.read_text()).get("seed_sightings") if old_plan.exists() else None
            for w in wrong_answers(ex):
                with tempfile.TemporaryDirectory(prefix="bigfoot-old-wrong-") as tmp:
                    folder = materialize(ex, Path(tmp) / ex.name, w)
                    if seed:
                        plan = folder / "plan.toml"
                        plan.write_text(f"seed_sightings = {seed}\n" + plan.read_text())
                    r = subprocess.run([sys.executable, "-c", RUN_OLD, str(wt), ex.id, str(folder)], cwd=wt,
                                       capture_output=True, text=True, timeout=900)
                    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("VERDICT ")), None)
                    verdict = json.loads(line[8:]) if line else f"crash: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
                results.append({"id": w.id, "mistake": w.mistake, "expect": w.expect, "old_verdict": verdict})
                print(f"{'PASSED' if verdict == 'pass' else 'failed':6}  {w.id:40} old check: {verdict:28} "
                      f"(now: {w.expect})", flush=True)
    finally:
        subprocess.run(["git", "-C", str(KIT), "worktree", "remove", "--force", str(wt)], check=False)
    out = KIT / ".lab" / f"corpus-against-{a.commit}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    passed = [r for r in results if r["old_verdict"] == "pass"]
    wrong_reason = [r for r in results if r["old_verdict"] not in ("pass", r["expect"])]
    print(f"\n{len(passed)} of {len(results)} wrong answers PASSED the checks of {a.commit}; "
          f"{len(wrong_reason)} more failed for another reason than today's. ({out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
