"""What each solution's check costs, with every invariant on: wall seconds, the CPU seconds of the
check's process (and the children it waited for), and the CPU seconds the whole machine spent
meanwhile (PostgreSQL, gunicorn and nginx included) — the figure that sizes a hosted room. Honest
only on a quiet machine: it says the load average before each run.

    .venv/bin/python bench/check_costs.py               # every exercise, once
    .venv/bin/python bench/check_costs.py 02 06 --runs 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import psutil

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

from lab import results  # noqa: E402
from lab.corpus import materialize  # noqa: E402
from lab.exercises import catalogue, get  # noqa: E402
from lab.learner import load_check  # noqa: E402


def busy() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ids", nargs="*")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    exercises = [get(i) for i in args.ids] if args.ids else catalogue()
    rows = {}
    for ex in exercises:
        walls, cpus, machine, loads, statuses = [], [], [], [], []
        for _ in range(args.runs):
            folder = materialize(ex, Path(tempfile.mkdtemp()) / ex.name)
            loads.append(os.getloadavg()[0])
            b0 = busy()
            r = results.run(ex.id, load_check(ex), folder)
            machine.append(busy() - b0)
            walls.append(r.timings["wall_s"])
            cpus.append(r.timings["cpu_s"])
            statuses.append(r.status if r.passed else f"{r.status}: {r.kind}: {r.message[:120]}")
        rows[ex.name] = {"wall_s": walls, "cpu_s": cpus, "machine_cpu_s": [round(m, 1) for m in machine],
                         "load_before": [round(x, 2) for x in loads], "status": statuses}
        print(f"{ex.name:24} wall {statistics.median(walls):5.1f} s (max {max(walls):5.1f})  "
              f"cpu {statistics.median(cpus):5.1f} s  machine cpu {statistics.median(machine):5.1f} s  "
              f"load before {max(loads):.1f}  {statuses[-1]}", flush=True)
    out = KIT / "bench" / "results" / "check-costs.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
