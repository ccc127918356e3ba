"""Deterministic verdicts, measured: run every solution, every starter and every wrong answer N times,
idle and with both cores kept busy by a CPU hog, and count the verdicts.

A verdict that depends on timing is a defect: the target is solutions N/N pass, starters and wrong
answers N/N fail for their stated reason, idle and loaded. Not a test (it takes long); its numbers
go to docs/benchmarks.md.

    .venv/bin/python bench/stress.py --runs 3                 # idle
    .venv/bin/python bench/stress.py --runs 3 --hog           # both cores busy meanwhile
    .venv/bin/python bench/stress.py --only 06,07 --runs 10   # some exercises
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.corpus import materialize, wrong_answers  # noqa: E402
from lab.exercises import catalogue  # noqa: E402
from lab.kinds import CheckFailed  # noqa: E402
from lab.learner import load_check  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / ".lab" / "stress.json"


def _burn(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def cases(only: set[str] | None, with_wrong: bool):
    for ex in catalogue():
        if only and ex.id not in only:
            continue
        yield ex, "solution", None, None
        yield ex, "starter", ex.starter_fails_with, None
        if with_wrong:
            for w in wrong_answers(ex):
                yield ex, f"wrong/{w.name}", w.expect, w


def run_case(ex, expect, wrong) -> tuple[bool, str, float]:
    check = load_check(ex)
    with tempfile.TemporaryDirectory(prefix="bigfoot-stress-") as tmp:
        if expect is not None and wrong is None:
            folder = ex.folder
        else:
            folder = materialize(ex, Path(tmp) / ex.name, wrong)
        t0 = time.monotonic()
        try:
            check(folder)
            verdict = "pass"
        except CheckFailed as f:
            verdict = str(f.reason)
        except Exception as e:  # noqa: BLE001 - a crash is a verdict too, and a wrong one
            verdict = f"crash: {type(e).__name__}: {e}"
        return (verdict == "pass") if expect is None else (verdict == expect), verdict, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hog", action="store_true", help="keep every core busy with a CPU hog meanwhile")
    ap.add_argument("--only", help="exercise ids, comma-separated")
    ap.add_argument("--no-wrong", action="store_true", help="solutions and starters only")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    stop = multiprocessing.Event()
    hogs = []
    if a.hog:
        hogs = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(os.cpu_count() or 2)]
        for h in hogs:
            h.start()
    rows, t_all = [], time.monotonic()
    try:
        for ex, label, expect, wrong in cases(only, not a.no_wrong):
            results = [run_case(ex, expect, wrong) for _ in range(a.runs)]
            good = sum(ok for ok, _, _ in results)
            secs = [t for _, _, t in results]
            verdicts = sorted({v for _, v, _ in results})
            row = {"exercise": ex.name, "case": label, "expect": expect or "pass", "good": good, "runs": a.runs,
                   "median_s": round(statistics.median(secs), 1), "max_s": round(max(secs), 1), "verdicts": verdicts,
                   "when": time.strftime("%Y-%m-%d %H:%M")}
            rows.append(row)
            print(f"{'✓' if good == a.runs else '✗'} {ex.id} {label:<34} {good}/{a.runs} as expected ({expect or 'pass'})"
                  f"  median {row['median_s']}s  max {row['max_s']}s" + ("" if good == a.runs else f"  saw {verdicts}"),
                  flush=True)
    finally:
        stop.set()
        for h in hogs:
            h.join(timeout=5)
    total = time.monotonic() - t_all
    bad = [r for r in rows if r["good"] != r["runs"]]
    print(f"\n{len(rows) - len(bad)}/{len(rows)} cases gave the expected verdict {a.runs}/{a.runs} times"
          f" ({'CPU hog on ' + str(len(hogs)) + ' cores' if hogs else 'idle'}), {total:.0f}s in all")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    mode = "hog" if a.hog else "idle"
    # A partial run (--only, --no-wrong) replaces only the cases it ran: the table keeps every case's
    # latest numbers, each with its own run count and date, and a case that left the corpus goes.
    known = {(ex.name, label) for ex, label, _, _ in cases(None, True)}
    fresh = {(r["exercise"], r["case"]) for r in rows}
    kept = [r for r in old.get(mode, {}).get("rows", [])
            if (r["exercise"], r["case"]) in known and (r["exercise"], r["case"]) not in fresh]
    order = {k: i for i, k in enumerate(sorted(known))}
    merged = sorted(kept + rows, key=lambda r: order[(r["exercise"], r["case"])])
    old[mode] = {"rows": merged, "cores": os.cpu_count(),
                 "last": {"when": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(total), "runs": a.runs,
                          "cases": len(rows)}}
    OUT.write_text(json.dumps(old, indent=1))
    latest = OUT.parent.parent / "bench" / "results" / "latest.json"
    if latest.exists():   # the last `make bench`: rewrite docs/benchmarks.md with this table in it
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import benchmark
        res = json.loads(latest.read_text())
        timings = OUT.parent / "test-timings.json"
        if timings.exists():
            res["exercise_checks_s"] = json.loads(timings.read_text())
        benchmark.write_markdown(res)
        print("rewrote docs/benchmarks.md")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
