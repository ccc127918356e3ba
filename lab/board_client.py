"""On the workshop hub, each `lab check` result goes to the instructor's room board (hub/board.py).

Only under the hub: its spawner sets $BIGFOOT_BOARD_URL, and the learner's server has its own
$JUPYTERHUB_API_TOKEN and $JUPYTERHUB_USER; anywhere else this does nothing. What is sent is the
result's summary (lab/results.py's CheckResult: exercise, status, kind, the message's first line,
seconds), the exercise the learner is on now and the ids they solved: no file, no code, no log.
The board is never worth a slow or broken `lab check`: a short timeout, and at most one line on
stderr when it can't be reached.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from urllib.parse import quote

TIMEOUT_S = 3


def push(result, on: str | None, solved: list[str], err=None) -> bool:
    """Send one check's summary; True if the board took it. Never raises."""
    url, token, user = (os.environ.get(k) for k in ("BIGFOOT_BOARD_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER"))
    if not (url and token and user):
        return False
    report = {"exercise": result.exercise, "status": result.status,
              "kind": str(result.kind) if result.kind is not None else None,
              "message": (result.message.strip().splitlines() or [""])[0][:160],
              "wall_s": result.timings.get("wall_s"), "on": on, "solved": solved}
    req = urllib.request.Request(f"{url.rstrip('/')}/api/learners/{quote(user, safe='')}/results",
                                 data=json.dumps(report).encode(), method="POST",
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            r.read()
        return True
    except Exception as e:  # noqa: BLE001 - whatever went wrong, the check's own verdict stands
        why = getattr(e, "reason", None) or getattr(e, "code", None) or type(e).__name__
        print(f"(the room board did not get this result: {why})", file=err or sys.stderr)
        return False
