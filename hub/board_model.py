"""What the room board (hub/board.py) knows about each learner, and what it concludes for the room.

Standard library only: the board runs it in the hub's venv, tests/test_board.py in the kit's.

A learner's container sends one report after each `lab check` (lab/board_client.py): the check's
result as lab/results.py's CheckResult has it (exercise, status pass/fail/error, kind, a short
message, seconds), the exercise the learner is on now (the one checked, or after a pass the next
unsolved one) and the ids they have solved. Nothing else of the learner's reaches the board.

Per learner the board keeps:

    on       the exercise they are on (None: no check yet)
    since    when they got there (their first report about it, or the pass that moved them on)
    solved   the exercises they have solved
    last     their last check: exercise, status, kind, message, wall_s, at (the board's clock)
    fails    how many checks of `on` failed since they got there

Stuck: the last check of the exercise they are on did not pass; stuck for now - since.
"""
from __future__ import annotations

import re
from collections import Counter

EXERCISE_ID = re.compile(r"[0-9]{2}")
STATUSES = ("pass", "fail", "error")
MESSAGE_CHARS = 160
KIND_CHARS = 60


class BadReport(ValueError):
    """A report the board refuses (HTTP 400): it says which field is wrong."""


def _exercise(value, field: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not EXERCISE_ID.fullmatch(value):
        raise BadReport(f"{field} must be an exercise id such as '02', not {value!r:.40}")
    return value


def validate(payload) -> dict:
    """The fields the board keeps from a report, checked and cut to size; BadReport otherwise."""
    if not isinstance(payload, dict):
        raise BadReport("a report is a JSON object")
    status = payload.get("status")
    if status not in STATUSES:
        raise BadReport(f"status must be one of {', '.join(STATUSES)}")
    kind = payload.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise BadReport("kind must be a string or null")
    message = payload.get("message") or ""
    if not isinstance(message, str):
        raise BadReport("message must be a string")
    solved = payload.get("solved") or []
    if not isinstance(solved, list) or len(solved) > 100:
        raise BadReport("solved must be a list of exercise ids")
    wall = payload.get("wall_s")
    return {
        "exercise": _exercise(payload.get("exercise"), "exercise"),
        "status": status,
        "kind": None if status == "pass" or kind is None else " ".join(kind.split())[:KIND_CHARS],
        "message": (message.strip().splitlines() or [""])[0][:MESSAGE_CHARS],
        "wall_s": round(float(wall), 1) if isinstance(wall, (int, float)) else None,
        "on": _exercise(payload.get("on"), "on", optional=True),
        "solved": sorted({_exercise(x, "solved") for x in solved}),
    }


def record(learners: dict, name: str, report: dict, now: float) -> dict:
    """Fold one validated report into `learners` (the board's state); returns the learner's entry."""
    me = learners.setdefault(name, {"on": None, "since": None, "solved": [], "last": None, "fails": 0})
    on = report["on"] if report["status"] == "pass" else report["exercise"]
    if on != me["on"] or me["since"] is None:
        me["on"], me["since"], me["fails"] = on, now, 0
    if report["status"] != "pass" and report["exercise"] == on:
        me["fails"] += 1
    solved = set(report["solved"]) | ({report["exercise"]} if report["status"] == "pass" else set())
    me["solved"] = sorted(solved)
    me["last"] = {k: report[k] for k in ("exercise", "status", "kind", "message", "wall_s")} | {"at": now}
    return me


def stuck_for(me: dict, now: float) -> float | None:
    """Seconds on the exercise they are on with its last check failing; None: not stuck."""
    last = me.get("last")
    if not last or last["status"] == "pass" or last["exercise"] != me.get("on") or me.get("since") is None:
        return None
    return max(0.0, now - me["since"])


def failing_kind(last: dict) -> str:
    """How a failed check shows in the room's line: its kind (an error: the check could not judge)."""
    return last.get("kind") or ("check error" if last["status"] == "error" else "failed")


def glance(learners: dict, room: list[str]) -> dict:
    """The room at a glance: the exercise most learners are on, how many of the room passed it, and
    the failure kinds the ones on it get now (their last check of it), most frequent first.

    `room` is every learner signed in to the hub (learners with no check yet count in "of N").
    A tie between exercises goes to the earlier one: what to explain first."""
    names = sorted(set(room) | set(learners))
    n = len(names)
    on = Counter(me["on"] for me in learners.values() if me.get("on"))
    if not on:
        return {"room": n, "exercise": None, "on": 0, "passed": 0, "failing": [],
                "lines": [f"{n} learner{'s' if n != 1 else ''} signed in; no check yet"]}
    ex = min(on, key=lambda x: (-on[x], x))
    passed = sum(1 for me in learners.values() if ex in me.get("solved", ()))
    kinds = Counter(failing_kind(me["last"]) for me in learners.values()
                    if me.get("on") == ex and me.get("last") and me["last"]["exercise"] == ex
                    and me["last"]["status"] != "pass")
    failing = [{"kind": k, "count": c} for k, c in sorted(kinds.items(), key=lambda kc: (-kc[1], kc[0]))]
    lines = [f"{on[ex]} of {n} on {ex} · {passed} of {n} passed {ex}"]
    lines += [f"{f['count']} of {n}: {f['kind']} on {ex}" for f in failing]
    return {"room": n, "exercise": ex, "on": on[ex], "passed": passed, "failing": failing, "lines": lines}


def rows(learners: dict, room: list[str], now: float) -> list[dict]:
    """One row per learner: the stuck first, longest first; then the others by name."""
    out = []
    for name in sorted(set(room) | set(learners)):
        me = learners.get(name) or {}
        last = me.get("last")
        out.append({
            "name": name,
            "solved": len(me.get("solved", ())),
            "on": me.get("on"),
            "last": last and {**last, "ago_s": round(max(0.0, now - last["at"]))},
            "fails": me.get("fails", 0),
            "stuck_s": None if (s := stuck_for(me, now)) is None else round(s),
        })
    out.sort(key=lambda r: (r["stuck_s"] is None, -(r["stuck_s"] or 0), r["name"]))
    return out


def ago(seconds: float | None) -> str:
    """'just now', '40 s', '12 min', '2 h 5 min': how long ago, for a projector."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 10:
        return "just now"
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"
