"""The room board (docs/hosting.md#the-room-board): a page for the instructor's projector or second
screen, as a JupyterHub managed service at /services/board/ (hub/jupyterhub_config.py starts it).

- Who sees it: the hub's admins only (OAuth with the hub, HubOAuth: the admin role holds
  `access:services`, a learner's doesn't: 403).
- What it shows: every learner signed in to the hub with the exercises they solved, the one they
  are on, their last check's verdict and failure kind and how long ago, the stuck first (longest
  on top), each with a link to their server (the instructor's admin access, to help); above it,
  the room at a glance (hub/board_model.py: the exercise most are on, how many passed it, the
  failure kinds the others get). The page swaps in a new rendering every few seconds.
- Where it comes from: after every `lab check`, the learner's container POSTs the result's summary
  to /services/board/api/learners/NAME/results with its own JUPYTERHUB_API_TOKEN
  (lab/board_client.py); the board asks the hub whose token it is, so a learner can only report
  as themself. The hub's user list (its own token: `list:users`, `read:users:name`) adds the
  learners with no check yet.
- What it keeps: one JSON file in the hub's state folder ($BOARD_STATE), written on every
  report: it survives a restart of the hub.

Runs in the hub's venv (tornado and jupyterhub.services.auth come with JupyterHub).
"""
from __future__ import annotations

import html
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import httpclient, ioloop, web

sys.path.insert(0, str(Path(__file__).resolve().parent))
import board_model as model  # noqa: E402 (hub/ is a folder of scripts, not a package)

PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/board/")
HUB_BASE = os.environ.get("JUPYTERHUB_BASE_URL", "/")
HIDDEN = set(filter(None, os.environ.get("BOARD_HIDE", "").split(",")))    # the instructor: not a learner
REFRESH_S = 5
ROOM_CACHE_S = 10
MAX_REPORT_BYTES = 8 * 1024


class Board:
    """The learners' reports (kept in $BOARD_STATE) and the hub's list of users."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.learners = json.loads(path.read_text()).get("learners", {})
        except FileNotFoundError:
            self.learners = {}
        self._room: list[str] = []
        self._room_at = 0.0

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"learners": self.learners}, indent=1, sort_keys=True) + "\n")
        tmp.chmod(0o600)
        tmp.replace(self.path)

    async def room(self) -> list[str]:
        """Every user of the hub but the hidden ones (cached a few seconds; the last list if the
        hub does not answer)."""
        if time.monotonic() - self._room_at < ROOM_CACHE_S:
            return self._room
        client = httpclient.AsyncHTTPClient()
        url = url_path_join(os.environ["JUPYTERHUB_API_URL"], "users") + "?limit=200"
        names: list[str] = []
        try:
            while url:
                r = await client.fetch(url, headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}",
                                                     "Accept": "application/jupyterhub-pagination+json"},
                                       request_timeout=10)
                page = json.loads(r.body)
                names += [u["name"] for u in page["items"]]
                nxt = (page.get("_pagination") or {}).get("next")
                url = nxt["url"] if nxt else None
        except (httpclient.HTTPError, OSError, ValueError, KeyError) as e:
            print(f"board: the hub's user list: {e}", file=sys.stderr)
            return self._room
        self._room, self._room_at = sorted(set(names) - HIDDEN), time.monotonic()
        return self._room

    async def snapshot(self) -> dict:
        room, now = await self.room(), time.time()
        # a user the instructor deleted keeps their reports (same name, same row when they come
        # back) but leaves the room; the hidden (the instructor) are never on it
        learners = {n: me for n, me in self.learners.items() if n in room} if room else {
            n: me for n, me in self.learners.items() if n not in HIDDEN}
        return {"glance": model.glance(learners, room), "learners": model.rows(learners, room, now),
                "refresh_s": REFRESH_S, "updated": time.strftime("%H:%M:%S", time.localtime(now))}


def render(snap: dict) -> str:
    """The board's changing part, as HTML (the page and its refreshes use the same)."""
    e = html.escape
    g = snap["glance"]
    head, *kinds = g["lines"]
    out = [f'<div class="glance"><p class="headline">{e(head)}</p>']
    if kinds:
        out.append("<ul>" + "".join(f"<li>{e(k)}</li>" for k in kinds) + "</ul>")
    out.append("</div>")
    stuck = [r for r in snap["learners"] if r["stuck_s"] is not None]
    if stuck:
        r = stuck[0]
        out.append(f'<p class="stuck">stuck longest: <b>{e(r["name"])}</b>, {model.ago(r["stuck_s"])} on '
                   f'{e(r["on"])} ({r["fails"]} failing check{"s" if r["fails"] != 1 else ""})</p>')
    out.append('<table><thead><tr><th>learner</th><th>solved</th><th>on</th><th>last check</th>'
               '<th>failure</th><th>when</th><th>stuck for</th><th></th></tr></thead><tbody>')
    for r in snap["learners"]:
        last = r["last"]
        verdict = "" if not last else {"pass": "✓ passed", "fail": "✗ failed", "error": "! could not run"}[last["status"]]
        check = f"{e(last['exercise'])} {verdict}" if last else '<span class="none">no check yet</span>'
        failure = "" if not last or last["status"] == "pass" else (
            f'<span title="{e(last["message"])}">{e(model.failing_kind(last))}</span>')
        link = url_path_join(HUB_BASE, "user", quote(r["name"], safe="")) + "/"
        css = "stuck" if r["stuck_s"] is not None else ("passed" if last and last["status"] == "pass" else "")
        out.append(
            f'<tr class="{css}"><td class="name">{e(r["name"])}</td><td>{r["solved"]}</td>'
            f'<td>{e(r["on"] or ("all solved" if r["solved"] else "–"))}</td><td>{check}</td><td>{failure}</td>'
            f'<td>{model.ago(last["ago_s"]) + " ago" if last else ""}</td>'
            f'<td>{model.ago(r["stuck_s"]) if r["stuck_s"] is not None else ""}</td>'
            f'<td><a href="{e(link)}" target="_blank" rel="noopener">open {e(r["name"])}\'s lab</a></td></tr>')
    out.append("</tbody></table>")
    if not snap["learners"]:
        out.append('<p class="none">Nobody has signed in yet.</p>')
    return "\n".join(out)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Room board</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 20px/1.35 system-ui, sans-serif; margin: 1.2rem 2rem; color: #1b1b1b; background: #fff; }}
h1 {{ font-size: 1.3rem; margin: 0 0 .6rem; }} h1 small {{ font-weight: normal; color: #666; font-size: .8rem; }}
.glance {{ background: #f3f0e6; border-left: .4rem solid #8a6d1f; padding: .5rem 1rem; margin-bottom: .8rem; }}
.headline {{ font-size: 1.6rem; font-weight: 600; margin: .2rem 0; }}
.glance ul {{ margin: .2rem 0 .3rem; padding-left: 1.2rem; font-size: 1.3rem; }}
.stuck {{ color: #8b1a1a; }} p.stuck {{ font-size: 1.15rem; margin: .3rem 0 .8rem; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; white-space: nowrap; }}
th {{ font-size: .8rem; text-transform: uppercase; color: #555; }}
tr.stuck td.name::before {{ content: "● "; color: #b22; }} tr.passed td.name::before {{ content: "● "; color: #2a7; }}
.none {{ color: #888; }} a {{ color: #1d4f91; }}
</style></head>
<body><h1>Room board <small>updated <span id="updated">{updated}</span> · every {refresh} s</small></h1>
<div id="board">{board}</div>
<script nonce="{nonce}">
setInterval(async () => {{
  try {{
    const r = await fetch("fragment", {{credentials: "same-origin", cache: "no-store"}});
    if (r.redirected || r.status === 403) {{ location.reload(); return; }}
    if (!r.ok) return;
    document.getElementById("board").innerHTML = await r.text();
    document.getElementById("updated").textContent = r.headers.get("X-Board-Updated") || "";
  }} catch (e) {{ /* the hub restarts: try again next time */ }}
}}, {refresh} * 1000);
</script></body></html>
"""


class AdminHandler(HubOAuthenticated, web.RequestHandler):
    """The instructor's pages: OAuth with the hub, and only who holds access:services!service=board
    (the admins) gets in; everyone else gets 403."""

    @property
    def board(self) -> Board:
        return self.settings["board"]

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")


class PageHandler(AdminHandler):
    @web.authenticated
    async def get(self):
        snap = await self.board.snapshot()
        nonce = secrets.token_urlsafe(16)
        self.set_header("Content-Security-Policy",
                        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
                        "frame-ancestors 'self'")
        self.write(PAGE.format(board=render(snap), updated=snap["updated"], refresh=REFRESH_S, nonce=nonce))


class FragmentHandler(AdminHandler):
    @web.authenticated
    async def get(self):
        snap = await self.board.snapshot()
        self.set_header("X-Board-Updated", snap["updated"])
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(render(snap))


class RoomHandler(AdminHandler):
    @web.authenticated
    async def get(self):
        self.write(await self.board.snapshot())


class ReportHandler(web.RequestHandler):
    """A learner's container reports a check: the token is theirs (the hub says whose), the name
    in the URL must be the token's owner."""

    def check_xsrf_cookie(self):
        pass        # token-authenticated, no cookie is looked at

    async def post(self, name: str):
        match = HubOAuth.auth_header_pat.fullmatch(self.request.headers.get("Authorization", "").strip())
        if not match:
            raise web.HTTPError(401, "send the server's JupyterHub token: Authorization: token ...")
        who = await HubOAuth.instance().user_for_token(match.group(1), sync=False)
        if not who or who.get("kind", "user") != "user":
            raise web.HTTPError(403, "the hub does not know this token as a user's")
        if who["name"] != name:
            raise web.HTTPError(403, f"a token of {who['name']} reports for {who['name']} only")
        if len(self.request.body) > MAX_REPORT_BYTES:
            raise web.HTTPError(413, "a report is a few hundred bytes")
        try:
            report = model.validate(json.loads(self.request.body or b"null"))
        except (ValueError, model.BadReport) as e:
            raise web.HTTPError(400, f"not a check report: {e}") from None
        board: Board = self.settings["board"]
        entry = model.record(board.learners, name, report, time.time())
        board.save()
        self.set_status(201)
        self.write({"name": name, **entry})

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        self.finish({"error": getattr(exc, "log_message", None) or self._reason})


def main() -> None:
    state = Path(os.environ["BOARD_STATE"])
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app = web.Application([
        (PREFIX, PageHandler),
        (url_path_join(PREFIX, "fragment"), FragmentHandler),
        (url_path_join(PREFIX, "api/room"), RoomHandler),
        (url_path_join(PREFIX, r"api/learners/([^/]+)/results"), ReportHandler),
        (url_path_join(PREFIX, "oauth_callback"), HubOAuthCallbackHandler),
    ], board=Board(state), cookie_secret=secrets.token_bytes(32))
    # The hub stops a service with SIGINT, then SIGTERM, then SIGKILL, 30 s apart; a hub started
    # from a background job hands SIGINT down ignored. Each report is already on disk: just exit.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(0))
    app.listen(url.port, url.hostname, max_body_size=64 * 1024)
    print(f"board: {url.geturl()}{PREFIX} ({len(app.settings['board'].learners)} learners in {state})", flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
