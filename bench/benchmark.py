"""The lab's numbers, measured (not a timed test): medians of several runs on this machine.

    make bench                       # or: .venv/bin/python bench/benchmark.py --runs 3
    .venv/bin/python bench/benchmark.py --quick      # one run each, no 1M seed

Writes bench/results/latest.json and docs/benchmarks.md (the table the docs publish).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

from lab import Lab  # noqa: E402
from lab.exercises import catalogue, free_port_base, get  # noqa: E402

TARGETS = {  # issue 2's targets
    "up_cold_s": 5.0, "up_warm_s": 2.0, "deploy_rolling_one_slot_s": 3.0,
    "throughput_rps": 300, "memory_mb": 600, "seed_1m_s": 15.0,
}


def timed(fn) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def median(xs):
    return round(statistics.median(xs), 2)


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    import psutil
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


def lab_memory(lab: Lab) -> dict:
    """Total memory of the lab's processes: PSS (shared pages split between the processes sharing
    them: the fair total, Linux only), USS (unique pages only: a lower bound) and RSS (counts
    shared pages once per process: an upper bound)."""
    import psutil
    uss = rss = pss = 0
    n = 0
    for p in lab.processes():
        try:
            mi = p.memory_full_info()
            uss += mi.uss
            rss += mi.rss
            pss += getattr(mi, "pss", 0)
            n += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return {"processes": n, "pss_mb": round(pss / 2**20) or None, "uss_mb": round(uss / 2**20),
            "rss_mb": round(rss / 2**20)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one run each, skip the 1M-row seed")
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    res: dict = {"machine": machine(), "runs": runs}
    quiet = None
    root = Path(tempfile.mkdtemp(prefix="bigfoot-bench-"))
    os.chmod(root, 0o755)
    try:
        # ---- lab up, cold (initdb, build v1 + collectstatic, migrate, seed) and warm
        cold, warm = [], []
        lab = None
        for i in range(runs):
            home = root / f"cold{i}"
            # truly cold: an empty build cache too, so collectstatic runs as on a fresh clone
            os.environ["LAB_CACHE"] = str(root / f"cache{i}")
            lab = Lab(home=home, port_base=free_port_base(), log=quiet)
            cold.append(timed(lab.up))
            for _ in range(1 if i < runs - 1 else runs):
                lab.down()
                warm.append(timed(lab.up))
            if i < runs - 1:
                lab.down()
        res["up_cold_s"], res["up_warm_s"] = median(cold), median(warm)
        print(f"up cold {res['up_cold_s']}s, warm {res['up_warm_s']}s", flush=True)

        # ---- deploys: static shared so the deploys themselves are measured, not failures
        lab.set_static_mode("shared")
        lab.build_release("v2", [get("01").folder / "app"])
        one, both, bg, rec = [], [], [], []
        for i in range(runs):
            one.append(timed(lambda: lab.deploy("v2", slot="green")))
            one.append(timed(lambda: lab.deploy("v1", slot="green")))
            both.append(timed(lambda: lab.deploy("v2")))
            both.append(timed(lambda: lab.deploy("v1")))
            bg.append(timed(lambda: lab.deploy("v2", strategy="blue-green")))
            bg.append(timed(lambda: lab.deploy("v1", strategy="blue-green")))
            rec.append(timed(lambda: lab.deploy("v2", strategy="recreate")))
            rec.append(timed(lambda: lab.deploy("v1", strategy="recreate")))
        lab.deploy("v1")  # both slots live on v1 again
        res.update(deploy_rolling_one_slot_s=median(one), deploy_rolling_both_slots_s=median(both),
                   deploy_blue_green_s=median(bg), deploy_recreate_s=median(rec))
        print(f"deploy rolling one slot {median(one)}s, both {median(both)}s, blue-green {median(bg)}s, "
              f"recreate {median(rec)}s", flush=True)

        # ---- throughput through nginx, both slots up (closed loop, no think time)
        tp = []
        for i in range(runs):
            r = lab.traffic(duration=5, users=8, think=0)
            s = r.summary()
            tp.append(s)
        best = sorted(tp, key=lambda s: s["requests_per_s"])[len(tp) // 2]
        res["throughput_rps"] = best["requests_per_s"]
        res["latency_ms"] = best["latency_ms"]
        res["throughput_errors"] = best["errors"]
        # the same with static proxied to the slots (every asset through gunicorn)
        lab.set_static_mode("proxy")
        res["throughput_rps_static_proxied"] = lab.traffic(duration=5, users=8, think=0).summary()["requests_per_s"]
        lab.set_static_mode("shared")
        print(f"throughput {res['throughput_rps']} req/s (static proxied: {res['throughput_rps_static_proxied']}), "
              f"latency {best['latency_ms']}", flush=True)

        # ---- memory of the running lab (nginx, 2 slots, PostgreSQL with the slots' connections)
        res["memory"] = lab_memory(lab)
        res["memory_mb"] = res["memory"]["pss_mb"] or res["memory"]["rss_mb"]
        print(f"memory {res['memory']}", flush=True)

        # ---- seeding 1,000,000 sightings
        if not args.quick:
            seeds = [timed(lambda: lab.seed(1_000_000)) for _ in range(max(1, runs - 1))]
            res["seed_1m_s"] = median(seeds)
            print(f"seed 1M {res['seed_1m_s']}s", flush=True)
        # ---- AddIndex vs AddIndexConcurrently on 1,000,000 rows: how long do writes stall?
        if not args.quick:
            res["index_1m"] = index_write_stall(lab)
            print(f"index on 1M rows: {res['index_1m']}", flush=True)
        lab.down()
    finally:
        for home in root.glob("*"):
            try:
                Lab(home=home, log=None).down()
            except Exception:  # noqa: BLE001 - best-effort clean-up of a bench lab
                pass
        shutil.rmtree(root, ignore_errors=True)

    for key, name in (("exercise_checks_s", "test-timings.json"), ("notebooks_s", "notebook-timings.json")):
        f = KIT / ".lab" / name
        if f.exists():  # written by the last `make test` (tests/test_exercises.py, tests/test_notebooks.py)
            res[key] = json.loads(f.read_text())
    out = KIT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(res, indent=2))
    write_markdown(res)
    print(f"wrote {out / 'latest.json'} and docs/benchmarks.md")
    return 0


def index_write_stall(lab: Lab) -> dict:
    """Exercise 06's starter (AddIndex) and solution (AddIndexConcurrently) migrated on 1M rows
    while traffic saves sightings: the longest lock wait of an INSERT, the slowest POST, the build."""
    from lab.pgwatch import LockWatch
    out = {}
    ex = get("06")
    if lab.sql("select count(*) from sightings_sighting")[0][0] < 1_000_000:
        lab.seed(1_000_000)
    from lab.corpus import materialize
    solution = materialize(ex, Path(tempfile.mkdtemp(prefix="bigfoot-bench-")) / ex.name)
    for label, folder in (("AddIndex", ex.folder), ("AddIndexConcurrently", solution)):
        rel = f"idx-{label.lower()}"
        lab.build_release(rel, [folder / "app"])
        with LockWatch(lab, "sightings_sighting") as watch, lab.traffic_in_background(settle=0.5) as t:
            time.sleep(0.5)
            took = timed(lambda: lab.migrate(rel))
        posts = [r.latency_ms for r in t.result.records if r.method == "POST" and r.path == "/sightings/new/"]
        out[label] = {"migration_s": round(took, 2), "longest_insert_lock_wait_s": round(watch.longest("INSERT"), 2),
                      "slowest_post_ms": round(max(posts, default=0)), "failed_requests": len(t.result.errors)}
        lab.migrate(rel, "0001")  # back, for the other variant
    lab.reset()
    return out


def stress_markdown() -> list[str]:
    """The verdict-determinism table from bench/stress.py's last runs (.lab/stress.json)."""
    f = KIT / ".lab" / "stress.json"
    if not f.exists():
        return []
    data = json.loads(f.read_text())
    out = ["", "## Deterministic verdicts (bench/stress.py)", "",
           "Every solution, starter and wrong answer, run N times: idle, and with every core kept busy by a "
           "CPU hog. A case counts as good when the check gives its expected verdict (pass for a solution, "
           "the stated failure kind otherwise)."]
    for mode, run in data.items():
        rows = run["rows"]
        good = sum(r["good"] == r["runs"] for r in rows)
        # older files have one date and run count for the whole table; newer ones have them per case
        last = run.get("last") or {"when": run.get("when"), "seconds": run.get("seconds"), "runs": run.get("runs")}
        runs = sorted({r["runs"] for r in rows})
        out += ["", f"**{mode}** ({run['cores']} cores; {'/'.join(map(str, runs))} run(s) per case; last run "
                f"{last['when']}, {last['seconds']} s): {good}/{len(rows)} cases gave their expected verdict every time.",
                "", "| case | expected | as expected | median | max | when |", "|---|---|---|---|---|---|"]
        for r in rows:
            mark = "" if r["good"] == r["runs"] else f" ✗ saw {', '.join(r['verdicts'])}"
            out.append(f"| {r['exercise'][:2]} {r['case']} | {r['expect']} | {r['good']}/{r['runs']}{mark} | "
                       f"{r['median_s']} s | {r['max_s']} s | {r.get('when', last['when'])} |")
    return out


def corpus_before_markdown() -> list[str]:
    """bench/corpus_against.py's last runs: today's wrong answers against older checks."""
    out = []
    for f in sorted((KIT / ".lab").glob("corpus-against-*.json")):
        rows = json.loads(f.read_text())
        commit = f.stem.removeprefix("corpus-against-")
        passed = [r for r in rows if r["old_verdict"] == "pass"]
        other = [r for r in rows if r["old_verdict"] not in ("pass", r["expect"])]
        out += ["", f"## Wrong answers against the checks of {commit} (bench/corpus_against.py)", "",
                f"{len(passed)} of {len(rows)} of today's wrong answers **passed** the checks of {commit}; "
                f"{len(other)} more failed for another reason than the one they fail with today.", "",
                "| wrong answer | the mistake | old verdict | today |", "|---|---|---|---|"]
        out += [f"| {r['id']} | {r['mistake']} | {r['old_verdict']} | {r['expect']} |"
                for r in rows if r["old_verdict"] != r["expect"]]
    return out


def write_markdown(res: dict) -> None:
    m = res["machine"]
    rows = [
        ("`lab up`, cold (initdb, build, collectstatic, migrate, seed 1,000)", "up_cold_s", "s", "≤ 5 s"),
        ("`lab up`, warm", "up_warm_s", "s", "≤ 2 s"),
        ("rolling deploy, one slot", "deploy_rolling_one_slot_s", "s", "≤ 3 s"),
        ("rolling deploy, both slots", "deploy_rolling_both_slots_s", "s", ""),
        ("blue-green deploy", "deploy_blue_green_s", "s", ""),
        ("recreate deploy", "deploy_recreate_s", "s", ""),
        ("throughput through nginx, both slots (static shared)", "throughput_rps", "req/s", "≥ 300"),
        ("throughput, static proxied to the slots", "throughput_rps_static_proxied", "req/s", ""),
        ("memory of the running lab (PSS: shared pages split fairly)", "memory_mb", "MB", "≤ 600"),
        ("seed 1,000,000 sightings", "seed_1m_s", "s", "≤ 15 s"),
    ]
    lines = ["# Benchmarks", "",
             f"Measured by `bench/benchmark.py` (median of {res['runs']} run(s)) on {m['date']}: "
             f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, Python {m['python']}.", "",
             "| what | result | target |", "|---|---|---|"]
    for label, key, unit, target in rows:
        if key in res:
            lines.append(f"| {label} | {res[key]} {unit} | {target} |")
    if "latency_ms" in res:
        l = res["latency_ms"]
        lines.append(f"| latency at that load (p50 / p95 / p99) | {l['p50']:.0f} / {l['p95']:.0f} / {l['p99']:.0f} ms | |")
    if "memory" in res:
        lines.append(f"| memory bounds: USS (unique pages) / RSS (shared pages counted per process) | "
                     f"{res['memory']['uss_mb']} / {res['memory']['rss_mb']} MB in {res['memory']['processes']} processes | |")
    idx = res.get("index_1m")
    if idx:
        lines += ["", "## An index on 1,000,000 sightings, while users save sightings", "",
                  "Exercise 06's starter (`AddIndex`) and solution (`AddIndexConcurrently`, `atomic = False`).", "",
                  "| migration | build | longest INSERT lock wait | slowest POST | failed requests |", "|---|---|---|---|---|"]
        for k, v in idx.items():
            lines.append(f"| {k} | {v['migration_s']} s | {v['longest_insert_lock_wait_s']} s | "
                         f"{v['slowest_post_ms']} ms | {v['failed_requests']} |")
    nbs = res.get("notebooks_s")
    if nbs:
        lines += ["", "## Chapters executed (tests/test_notebooks.py)", "", "| chapter | seconds |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(nbs.items())]
        lines.append(f"| **all chapters** | **{round(sum(nbs.values()), 1)}** |")
    checks = res.get("exercise_checks_s")
    if checks:
        lines += ["", "## Exercise checks", "",
                  "From the last `make test` run (`tests/test_exercises.py`): each starter, solution and wrong "
                  "answer once. Target: each solution ≤ 10 s, all ten ≤ 90 s.", "",
                  "| exercise | solution | starter | wrong answers (n, median, max) |", "|---|---|---|---|"]
        for ex in catalogue():
            sol, start = checks.get(f"{ex.name} solution"), checks.get(f"{ex.name} starter")
            wrong = sorted(v for k, v in checks.items() if k.startswith(f"{ex.id}/") and k.endswith(" wrong"))
            w = f"{len(wrong)}, {statistics.median(wrong):.1f} s, {max(wrong):.1f} s" if wrong else ""
            lines.append(f"| {ex.name} | {sol if sol is not None else ''} s | {start if start is not None else ''} s | {w} |")
        sol = [v for k, v in checks.items() if k.endswith("solution")]
        if sol:
            lines.append(f"| **all solutions** | **{round(sum(sol), 1)} s** | | |")
    lines += stress_markdown()
    lines += corpus_before_markdown()
    (KIT / "docs").mkdir(exist_ok=True)
    page = KIT / "docs" / "benchmarks.md"
    # the Docker section is measured by `make docker-check` runs, not by this script: keep it
    kept = ""
    if page.exists() and "\n## Docker" in page.read_text():
        kept = "\n" + page.read_text()[page.read_text().index("\n## Docker"):].strip("\n") + "\n"
    page.write_text("\n".join(lines) + "\n" + kept)


if __name__ == "__main__":
    sys.exit(main())
