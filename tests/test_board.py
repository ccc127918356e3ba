"""The room board's arithmetic (hub/board_model.py) and the lab's side of it (lab/board_client.py),
without Docker or a hub: `make hub-check` (tests/test_hub.py) runs the board for real."""
from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from lab.board_client import push
from lab.config import KIT_ROOT
from lab.results import CheckResult

_spec = importlib.util.spec_from_file_location("board_model", KIT_ROOT / "hub" / "board_model.py")
board = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board)

T0 = 1_700_000_000.0


def report(exercise, status, kind=None, on=None, solved=(), message="", wall_s=30.0):
    return board.validate({"exercise": exercise, "status": status, "kind": kind, "on": on or exercise,
                           "solved": list(solved), "message": message, "wall_s": wall_s})


def room_of(results: list[tuple[str, dict, float]]) -> dict:
    learners: dict = {}
    for name, r, at in results:
        board.record(learners, name, r, at)
    return learners


def test_glance_names_the_exercise_most_are_on_how_many_passed_it_and_the_kinds_failing_now():
    learners = room_of(
        [(f"l{i}", report("02", "fail", "500 IntegrityError", solved=["01"]), T0 + i) for i in range(9)]
        + [(f"m{i}", report("02", "fail", "history mismatch", solved=["01"]), T0 + i) for i in range(3)]
        # three passed 02 and are on 03 now; one of them already failed 03
        + [(f"p{i}", report("02", "pass", on="03", solved=["01", "02"]), T0 + i) for i in range(3)]
        + [("p0", report("03", "fail", "long lock", solved=["01", "02"]), T0 + 50)]
        # one failed 02 first, then passed it: the old failure is not "now"
        + [("q", report("02", "fail", "500 IntegrityError"), T0), ("q", report("02", "pass", on="03", solved=["02"]), T0 + 9)]
        # a check that could not run counts as its own kind, never as the learner's mistake
        + [("e", report("02", "error", "check error"), T0)]
    )
    room = list(learners) + [f"new{i}" for i in range(13)]       # 13 signed in, no check yet: 30 in all
    g = board.glance(learners, room)
    assert (g["room"], g["exercise"], g["on"], g["passed"]) == (30, "02", 13, 4)
    assert g["failing"] == [{"kind": "500 IntegrityError", "count": 9}, {"kind": "history mismatch", "count": 3},
                            {"kind": "check error", "count": 1}]
    assert g["lines"] == ["13 of 30 on 02 · 4 of 30 passed 02", "9 of 30: 500 IntegrityError on 02",
                          "3 of 30: history mismatch on 02", "1 of 30: check error on 02"]


def test_glance_of_an_empty_room_and_a_tie_goes_to_the_earlier_exercise():
    assert board.glance({}, ["a", "b"])["lines"] == ["2 learners signed in; no check yet"]
    learners = room_of([("a", report("05", "fail", "long lock"), T0), ("b", report("03", "fail", "column kept"), T0)])
    g = board.glance(learners, ["a", "b"])
    assert g["exercise"] == "03" and g["lines"] == ["1 of 2 on 03 · 0 of 2 passed 03", "1 of 2: column kept on 03"]


def test_rows_put_the_longest_stuck_first_and_a_pass_moves_the_learner_on():
    learners = room_of([
        ("ann", report("02", "fail", "500 IntegrityError"), T0 + 600),
        ("bob", report("02", "fail", "500 IntegrityError"), T0),              # stuck since T0
        ("bob", report("02", "fail", "history mismatch"), T0 + 900),          # still stuck since T0
        ("cat", report("02", "fail", "500 IntegrityError"), T0),
        ("cat", report("02", "pass", on="03", solved=["01", "02"]), T0 + 300),
    ])
    rows = {r["name"]: r for r in board.rows(learners, ["ann", "bob", "cat", "dan"], T0 + 1200)}
    order = [r["name"] for r in board.rows(learners, ["ann", "bob", "cat", "dan"], T0 + 1200)]
    assert order == ["bob", "ann", "cat", "dan"]
    assert rows["bob"]["stuck_s"] == 1200 and rows["bob"]["fails"] == 2
    assert rows["bob"]["last"]["kind"] == "history mismatch" and rows["bob"]["last"]["ago_s"] == 300
    assert rows["ann"]["stuck_s"] == 600
    assert rows["cat"] == {**rows["cat"], "on": "03", "solved": 2, "stuck_s": None, "fails": 0}
    assert rows["dan"] == {"name": "dan", "solved": 0, "on": None, "last": None, "fails": 0, "stuck_s": None}


def test_a_report_is_checked_and_cut_to_a_summary():
    r = board.validate({"exercise": "02", "status": "fail", "kind": "500  IntegrityError\n",
                        "message": "POST /sightings/new answered 500\nTraceback ...\n" + "x" * 5000,
                        "on": "02", "solved": ["01", "01"], "wall_s": 41.234, "log": ["not kept"], "files": "no"})
    assert r == {"exercise": "02", "status": "fail", "kind": "500 IntegrityError",
                 "message": "POST /sightings/new answered 500", "wall_s": 41.2, "on": "02", "solved": ["01"]}
    for bad in ({"exercise": "2", "status": "fail"}, {"exercise": "02", "status": "ok"},
                {"exercise": "02", "status": "pass", "solved": ["../x"]}, [], "02"):
        with pytest.raises(board.BadReport):
            board.validate(bad)


class _Board(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Board.got.append((self.path, self.headers["Authorization"], json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_lab_pushes_only_under_the_hub_a_summary_and_a_dead_board_costs_one_line(monkeypatch, capsys):
    result = CheckResult("02", "fail", kind="500 IntegrityError", message="POST answered 500\nsecond line",
                         log=["the whole log"], timings={"wall_s": 31.5, "cpu_s": 9.0})
    for k in ("BIGFOOT_BOARD_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER"):
        monkeypatch.delenv(k, raising=False)
    assert push(result, on="02", solved=["01"]) is False          # not on the hub: nothing, silently
    assert capsys.readouterr().err == ""

    server = HTTPServer(("127.0.0.1", 0), _Board)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("BIGFOOT_BOARD_URL", f"http://127.0.0.1:{server.server_port}/services/board/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "tok-123")
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    try:
        assert push(result, on="02", solved=["01"]) is True
    finally:
        server.shutdown()
        server.server_close()
    path, auth, sent = _Board.got[-1]
    assert path == "/services/board/api/learners/alice/results" and auth == "token tok-123"
    assert sent == {"exercise": "02", "status": "fail", "kind": "500 IntegrityError", "message": "POST answered 500",
                    "wall_s": 31.5, "on": "02", "solved": ["01"]}

    # the board is gone (nothing listens there now): one line on stderr, no traceback, no delay
    t0 = time.monotonic()
    assert push(result, on="02", solved=["01"]) is False
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 2 and err.count("\n") == 1 and "room board" in err and "Traceback" not in err, err
