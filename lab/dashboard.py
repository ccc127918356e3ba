"""The live deploy dashboard: every request nginx serves, per slot and release, and the deploy's
steps as they happen, on one page for the room's projector.

How it sees things (nothing is simulated):
- nginx writes one JSON line per request to its access log (the `lab` log_format in
  lab/templates/nginx.conf.j2): status, URI, latency, the upstream it used and the app's
  X-App-Slot / X-App-Release / X-App-Error headers. Every request counts: the traffic
  generator's and a learner's own browser clicks alike.
- the lab appends its steps (migrate, slot drained, slot switched, ...) to events.jsonl in the
  state folder (`record_event`, called by Lab.step).
- this server tails both files, adds the requests up per second, and pushes what changed to the
  browsers with server-sent events; the page (lab/static/dashboard/) draws it with uPlot,
  shipped in the kit (no CDN: conference wifi).

The server half is stdlib only and runs as `python -I lab/dashboard.py ...` (by path, not
`-m lab.dashboard`): importing the lab package would load Django's neighbours (psutil, jinja2) for
nothing, and the dashboard must stay light (the lab's memory budget). `Dashboard` at the bottom is
the lab's handle on the process (start, stop, pid), like lab/jupyter.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "static" / "dashboard"
WINDOW = 900            # seconds of history kept in memory and sent to a page that (re)connects
TICK = 0.25             # how often the files are read and changes pushed (the page feels live)
RAW_SECONDS = 5         # per-second latencies are kept raw this long, then summarised
READ_BACK = 4 << 20     # on start, read at most this much of the access log's tail

# The failure kinds the page shows. The two the traffic generator names too keep its words
# (lab/kinds.py: Kind.STATIC_404, Kind.TIMEOUT; tests/test_dashboard.py checks they agree).
OK = "ok"
STATIC_404 = "404 static asset"
ERROR_500 = "500"
ERROR_502 = "502"
TIMEOUT = "timeout"
OTHER = "other error"
KINDS = (OK, STATIC_404, ERROR_500, ERROR_502, TIMEOUT, OTHER)
NO_SLOT = "nginx"       # answered by nginx itself (shared static files), no slot involved


# ---------------------------------------------------------------- parsing and counting
@dataclass
class Request:
    t: float            # epoch seconds, when nginx finished it
    method: str
    uri: str
    status: int
    latency_ms: float
    slot: str
    release: str
    kind: str
    error: str          # the app's X-App-Error, if any


def classify(status: int, uri: str) -> str:
    """A request's kind as the room should read it. 499 is nginx's word for "the client gave up
    waiting" (the traffic's timeout, or a learner who stopped the page); 504 is nginx giving up."""
    if status < 400:
        return OK
    if status == 404 and uri.startswith("/static/"):
        return STATIC_404
    if status in (499, 504):
        return TIMEOUT
    if status == 502:
        return ERROR_502
    if status == 500:
        return ERROR_500
    return OTHER


def parse_line(line: str, upstreams: dict[str, str], releases: dict[str, str]) -> Request | None:
    """One access-log line -> a Request, or None for a line that is not one of ours (an older
    log format, a half-written line)."""
    try:
        d = json.loads(line)
        t, status = float(d["t"]), int(d["status"])
    except (ValueError, KeyError, TypeError):
        return None
    uri = d.get("uri") or ""
    # With retries nginx lists every upstream it tried ("a:1, b:2"); the last one answered.
    addr = (d.get("upstream") or "").replace(" : ", ", ").split(", ")[-1].strip()
    slot = d.get("slot") or upstreams.get(addr) or (NO_SLOT if not addr else addr)
    # A slot that could not answer (502/504) sends no X-App-Release: it runs what the lab deployed.
    release = d.get("release") or releases.get(slot) or ("shared static" if slot == NO_SLOT else "-")
    try:
        latency = float(d.get("rt") or 0) * 1000
    except ValueError:
        latency = 0.0
    return Request(t=t, method=d.get("method") or "", uri=uri, status=status, latency_ms=round(latency, 1),
                   slot=slot, release=release, kind=classify(status, uri), error=d.get("app_error") or "")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class Aggregator:
    """Requests added up per second: counts per (slot, release, kind) and latency per slot.
    Only WINDOW seconds are kept, so memory stays flat however long the lab runs."""

    def __init__(self, window: int = WINDOW):
        self.window = window
        self.buckets: dict[int, dict] = {}
        self.changed: set[int] = set()
        self.recent_errors: deque = deque(maxlen=8)
        self.errors_added = 0

    def add(self, r: Request) -> None:
        sec = int(r.t)
        b = self.buckets.get(sec)
        if b is None:
            b = self.buckets[sec] = {"t": sec, "counts": {}, "raw": {}, "lat": {}}
        key = f"{r.slot}|{r.release}|{r.kind}"
        b["counts"][key] = b["counts"].get(key, 0) + 1
        b["raw"].setdefault(r.slot, []).append(r.latency_ms)
        self.changed.add(sec)
        if r.kind != OK:
            self.errors_added += 1
            self.recent_errors.append({"t": r.t, "kind": r.kind, "status": r.status, "method": r.method,
                                       "uri": r.uri[:120], "slot": r.slot, "release": r.release,
                                       "error": r.error[:160]})

    def _summarise(self, b: dict) -> None:
        for slot, values in b["raw"].items():
            values.sort()
            b["lat"][slot] = [percentile(values, 0.5), percentile(values, 0.95), values[-1], len(values)]

    def bucket_view(self, sec: int) -> dict:
        b = self.buckets[sec]
        if b["raw"]:
            self._summarise(b)
        return {"t": sec, "counts": b["counts"], "lat": b["lat"]}

    def take_changes(self, now: float) -> list[dict]:
        """The buckets changed since the last call; forgets what fell out of the window and
        drops raw latencies once a second is complete."""
        out = [self.bucket_view(s) for s in sorted(self.changed) if s in self.buckets]
        self.changed.clear()
        for sec in [s for s in self.buckets if s < now - self.window]:
            del self.buckets[sec]
        for sec, b in self.buckets.items():
            if b["raw"] and sec < now - RAW_SECONDS:
                self._summarise(b)
                b["raw"] = {}
        return out

    def snapshot(self) -> list[dict]:
        return [self.bucket_view(s) for s in sorted(self.buckets)]


# ---------------------------------------------------------------- deploy-step events
def record_event(path: Path, what: str, kind: str = "step", phase: str = "start", **extra) -> None:
    """Append one deploy step to the lab's events file (the dashboard draws it as a marker).
    Never fails the step itself: the dashboard is a view, and a deleted state folder (see
    Lab._require_home) must still get its own clear error from the lab, not this one."""
    line = json.dumps({"t": round(time.time(), 3), "what": what, "kind": kind, "phase": phase, **extra})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, (line + "\n").encode())   # one write with O_APPEND: lines from threads don't mix
    finally:
        os.close(fd)


def event(what: str, kind: str, t: float | None = None, **extra) -> dict:
    return {"t": round(t or time.time(), 3), "what": what, "kind": kind, "phase": "start", **extra}


def slot_changes(before: list[dict], after: list[dict], t: float | None = None) -> list[dict]:
    """Deploy steps read off the lab's state file, the one record of which release each slot runs
    and whether nginx sends it requests: whatever strategy (or backend) made the change, the room
    sees a slot leave nginx (drained), change release (switched) and come back."""
    if not before:
        return []   # the first look: nothing changed yet
    old = {s["name"]: s for s in before}
    out = []
    for s in after:
        o = old.get(s["name"])
        if o is None:
            continue
        if o["live"] and not s["live"]:
            out.append(event(f"{s['name']} drained (out of nginx)", "drained", t, slot=s["name"]))
        if o["release"] != s["release"]:
            out.append(event(f"{s['name']} switched to {s['release']}", "switched", t, slot=s["name"]))
        if s["live"] and not o["live"]:
            out.append(event(f"{s['name']} back in nginx ({s['release']})", "live", t, slot=s["name"]))
    return out


class Tail:
    """Follow a file that grows (nginx and the lab only append); start over if it is replaced."""

    def __init__(self, path: Path, read_back: int | None = None):
        self.path, self.pos, self.ino, self.rest = path, None, None, b""
        self.read_back = read_back

    def read(self) -> list[str]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self.pos is None or st.st_ino != self.ino or st.st_size < self.pos:
            first = self.pos is None
            self.ino, self.rest = st.st_ino, b""
            self.pos = max(0, st.st_size - self.read_back) if (first and self.read_back) else 0
            skip_partial = self.pos > 0
        else:
            skip_partial = False
        if st.st_size == self.pos:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read(st.st_size - self.pos)
        self.pos += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        if skip_partial and lines:
            lines.pop(0)
        return [l.decode(errors="replace") for l in lines if l.strip()]


# ---------------------------------------------------------------- the server
class Hub:
    """What the pages are told: a numbered list of messages; each page's thread sends the ones it
    has not seen yet."""

    def __init__(self, args):
        self.args = args
        self.upstreams = dict(kv.split("=", 1) for kv in args.upstreams.split(",") if "=" in kv)
        self.agg = Aggregator()
        self.access = Tail(Path(args.access_log), read_back=READ_BACK)
        self.events_tail = Tail(Path(args.events))
        self.events: deque = deque()
        self.slots: list[dict] = []
        self.static_mode = ""
        self._state_mtime = None
        self.state_events: list[dict] = []
        self._errors_sent = 0
        self.cond = threading.Condition()
        self.messages: deque = deque(maxlen=200)
        self.seq = 0

    def read_state(self) -> bool:
        """Which release each slot runs and whether nginx sends it traffic (the lab's state.json;
        no file yet means what Lab.state means: every slot live on the baseline release)."""
        files = (Path(self.args.state), Path(self.args.settings))
        stamp = tuple(f.stat().st_mtime_ns if f.exists() else None for f in files)
        if stamp == self._state_mtime:
            return False
        try:
            st, settings = (json.loads(f.read_text()) if f.exists() else {} for f in files)
        except (OSError, ValueError):
            return False   # replaced while we read it (the lab writes atomically): next tick
        self._state_mtime = stamp
        slots = st.get("slots", {})
        new = [{"name": n, "release": slots.get(n, {}).get("release", self.args.baseline),
                "live": slots.get(n, {}).get("live", True)} for n in dict.fromkeys(self.upstreams.values())]
        mode = settings.get("static_mode", "")
        # stamped when the lab wrote the file, not when we noticed (up to a tick later)
        when = [x / 1e9 for x in stamp if x]
        self.state_events.extend(slot_changes(self.slots, new, max(when) if when else None))
        self.slots, self.static_mode = new, mode
        return True

    def releases(self) -> dict[str, str]:
        return {s["name"]: s["release"] for s in self.slots} or {n: self.args.baseline for n in self.upstreams.values()}

    def poll(self) -> None:
        # Under the lock: a page connecting now gets a hello and then exactly the messages after it.
        with self.cond:
            self._poll()

    def _poll(self) -> None:
        now = time.time()
        state_changed = self.read_state()
        rel = self.releases()
        for line in self.access.read():
            r = parse_line(line, self.upstreams, rel)
            if r and r.t >= now - WINDOW:
                self.agg.add(r)
        new_events, self.state_events = self.state_events, []
        self.events.extend(new_events)
        for line in self.events_tail.read():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("t", 0) >= now - WINDOW:
                self.events.append(e)
                new_events.append(e)
        while self.events and self.events[0]["t"] < now - WINDOW:
            self.events.popleft()
        buckets = self.agg.take_changes(now)
        msg = {"now": now, "buckets": buckets, "events": new_events}
        if self.agg.errors_added != self._errors_sent:   # the list only when it changed (4 ticks a second)
            self._errors_sent = self.agg.errors_added
            msg["errors"] = list(self.agg.recent_errors)
        if state_changed:
            msg["slots"], msg["static_mode"] = self.slots, self.static_mode
        self.publish(msg)

    def hello(self) -> dict:
        return {"hello": True, "now": time.time(), "window": WINDOW, "kinds": KINDS, "ok": OK,
                "proxy": self.args.proxy_url, "access_log": self.args.access_log,
                "slots": self.slots, "static_mode": self.static_mode, "buckets": self.agg.snapshot(),
                "events": list(self.events), "errors": list(self.agg.recent_errors)}

    def publish(self, msg: dict) -> None:
        data = json.dumps(msg, separators=(",", ":"))
        with self.cond:
            self.seq += 1
            self.messages.append((self.seq, data))
            self.cond.notify_all()

    def run(self) -> None:
        while True:
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - one bad read must not stop the room's view
                print(f"dashboard: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            time.sleep(TICK)


class Handler(BaseHTTPRequestHandler):
    hub: Hub
    protocol_version = "HTTP/1.1"
    FILES = {"/": ("index.html", "text/html; charset=utf-8"),
             "/dashboard.js": ("dashboard.js", "application/javascript"),
             "/dashboard.css": ("dashboard.css", "text/css"),
             "/uPlot.iife.min.js": ("uPlot.iife.min.js", "application/javascript"),
             "/uPlot.min.css": ("uPlot.min.css", "text/css")}

    def log_message(self, fmt, *args):  # the room's browsers polling are not news
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/events":
            return self.stream()
        if path == "/healthz":
            return self.send_body(b"ok\n", "text/plain")
        if path not in self.FILES:
            return self.send_body(b"not found\n", "text/plain", 404)
        name, ctype = self.FILES[path]
        self.send_body((ASSETS / name).read_bytes(), ctype)

    def send_body(self, body: bytes, ctype: str, status: int = 200):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def stream(self):
        """Server-sent events: a hello with the whole window, then what changed, as it changes."""
        hub = self.hub
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        with hub.cond:
            seen, hello = hub.seq, json.dumps(hub.hello(), separators=(",", ":"))
        try:
            self.wfile.write(f"retry: 1000\ndata: {hello}\n\n".encode())
            self.wfile.flush()
            while True:
                with hub.cond:
                    hub.cond.wait_for(lambda: hub.seq > seen, timeout=15)
                    todo = [d for s, d in hub.messages if s > seen]
                    seen = hub.seq
                out = "".join(f"data: {d}\n\n" for d in todo) or ": keep-alive\n\n"
                self.wfile.write(out.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return  # the page was closed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="the lab's live deploy dashboard (started by `lab up`)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--access-log", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--settings", required=True)
    p.add_argument("--upstreams", required=True, help="addr=slot,addr=slot")
    p.add_argument("--baseline", default="v1")
    p.add_argument("--proxy-url", default="")
    args = p.parse_args(argv)
    hub = Hub(args)
    Handler.hub = hub
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True   # a page's open stream never keeps the process alive
    threading.Thread(target=hub.run, daemon=True, name="tail").start()
    print(f"dashboard on http://127.0.0.1:{args.port}/ (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------- the lab's handle on the process
class Dashboard:
    """Started by `lab up`, stopped by `lab down`, like nginx and JupyterLab (lab/procs.py)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.dir = cfg.home / "dashboard"
        self.pidfile = self.dir / "dashboard.pid"
        self.log = self.dir / "dashboard.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg.dashboard_port}/"

    def pid(self) -> int | None:
        from . import procs
        pid = procs.read_pid(self.pidfile)
        return pid if procs.pid_alive(pid) else None

    def spawn(self) -> None:
        """Start it without waiting; `wait()` later (the rest of the lab comes up meanwhile)."""
        from . import procs
        if self.pid():
            return
        procs.require_free_port(self.cfg.dashboard_port, "the dashboard")
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = self.cfg
        argv = [sys.executable, "-I", str(Path(__file__).resolve()), f"--port={cfg.dashboard_port}",
                f"--access-log={cfg.nginx_dir / 'access.log'}", f"--events={cfg.events_file}",
                f"--state={cfg.state_file}", f"--settings={cfg.settings_file}",
                "--upstreams=" + ",".join(f"127.0.0.1:{s.port}={s.name}" for s in cfg.slots),
                f"--baseline={cfg.app['baseline_release']}", f"--proxy-url={cfg.url}"]
        proc = procs.spawn(argv, self.log)
        self.pidfile.write_text(f"{proc.pid}\n")
        self._proc = proc

    def wait(self, timeout: float = 10) -> None:
        from . import procs
        from .errors import LabError
        proc = getattr(self, "_proc", None)
        if not procs.wait_for(lambda: procs.port_in_use(self.cfg.dashboard_port), timeout, proc=proc) \
                or not self.pid():
            raise LabError(f"the dashboard did not start: {procs.last_error_line(procs.tail(self.log, 30)) or 'no answer'}",
                           f"see {self.log}")

    def stop(self) -> None:
        from . import procs
        procs.terminate(self.pid(), timeout=5)
        self.pidfile.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
