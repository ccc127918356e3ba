"""What one check run found, in one type that `lab check` prints, `lab check --json` writes and the
progress file keeps (for a room's board): Exercism's test-runner result, in our words.

    status   "pass" | "fail" (the learner's answer is wrong: `kind` says how) |
             "error" (the check could not judge: a crash of the kit, a lab that could not start;
             never counted as a pass or as the learner's mistake)
"""
from __future__ import annotations

import copy
import json
import resource
import time
import traceback
from dataclasses import dataclass, field, fields

from .errors import LabError
from .kinds import CheckFailed, Kind


@dataclass
class CheckResult:
    exercise: str
    status: str
    kind: str | None = None
    message: str = ""
    look_at: str | None = None
    log: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)   # wall_s, cpu_s (this process and the children it waited for)
    finished_at: str = ""
    scenario: object = field(default=None, repr=False, compare=False)   # what the check returned (not serialised)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self, with_log: bool = True) -> dict:
        # not asdict(self): it deep-copies every field first, the scenario too (which holds the
        # lab's threads and locks in the Docker topology: "cannot pickle '_thread.lock'")
        d = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "scenario"}
        if not with_log:
            d.pop("log")
        d["kind"] = str(self.kind) if self.kind is not None else None
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(exercise: str, check, folder, log=None) -> CheckResult:
    """Run `check(folder, log=...)` and say what happened, whatever happened: a CheckFailed is a
    fail, a LabError or any other exception is an error (its traceback goes to the log, not to the
    learner's screen). Ctrl-C and SIGTERM pass through (the caller stops the lab and exits)."""
    lines: list[str] = []

    def say(msg: str) -> None:
        lines.append(msg)
        if log:
            log(msg)

    t0, c0 = time.monotonic(), _cpu()
    result = CheckResult(exercise, "pass", log=lines)
    try:
        result.scenario = check(folder, log=say)
    except CheckFailed as failure:
        result.status, result.kind, result.message, result.look_at = "fail", failure.reason, failure.message, failure.look_at
    except LabError as e:
        result.status, result.kind, result.message, result.look_at = (
            "error", Kind.CHECK_ERROR, f"the check could not run: {e.message}", e.hint)
    except Exception as e:  # noqa: BLE001 - a crash of the kit is reported as an error result, with its traceback
        lines.append(traceback.format_exc())
        result.status, result.kind = "error", Kind.CHECK_ERROR
        result.message = f"the check crashed ({type(e).__name__}: {e}): this is the kit's fault, not your answer's"
        result.look_at = "run it again with `-v`; if it happens again, show the instructor the log (`lab check --json`)"
    result.timings = {"wall_s": round(time.monotonic() - t0, 2), "cpu_s": round(_cpu() - c0, 2)}
    result.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return result
