"""Traffic: simulated users playing real journeys through nginx, every request recorded.

Journeys (like a person with a fresh browser cache):
  browse   list page + every static asset it references, then a sighting's detail page + assets
  report   the report form + assets, POST a new sighting (expects a 302 redirect)
  comment  a detail page + assets, POST a comment (expects a 302 redirect)

Each request is recorded with time, journey, URL, status, latency, the slot and release that
answered (X-App-Slot / X-App-Release, or nginx's X-Lab-Upstream), and an error kind.
"""
from __future__ import annotations

import http.client
import json
import random
import re
import socket
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .config import MISSING_VALUE_MARKER

ASSET_RE = re.compile(r'(?:href|src)="(/static/[^"]+)"')
MISSING_RE = re.compile(re.escape(MISSING_VALUE_MARKER).replace("%s", "(.+?)", 1))
DETAIL_RE = re.compile(r'href="(/sightings/\d+/)"')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
DEFAULT_JOURNEYS = {"browse": 6, "report": 2, "comment": 2}


@dataclass
class Record:
    t: float              # seconds since the traffic started
    user: int
    journey: str
    method: str
    path: str
    status: int | None    # None: no HTTP answer at all (refused, timed out)
    latency_ms: float
    slot: str | None
    release: str | None
    error: str | None     # kind of failure, None if the request did what the journey expected
    detail: str | None = None
    page_release: str | None = None  # for assets: the release of the page that referenced them

    @property
    def ok(self) -> bool:
        return self.error is None


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())


# What production's visitors send, not what a tidy test would: real browsers' User-Agents (one of
# 70 characters, most 110-150, in-app browsers and bots over 200; every one names the kit's traffic
# so a check can tell it from its own requests), and reports in other alphabets, with emoji, quotes
# and values near their fields' limits. A change that only works for short ASCII values fails here.
TRAFFIC_AGENT = "bigfoot-lab-traffic"
AGENTS = [
    f"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 {TRAFFIC_AGENT}",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    f"Safari/537.36 Edg/131.0.0.0 {TRAFFIC_AGENT}",
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    f"Mobile/22B91 [FBAN/FBIOS;FBAV/489.0.0.47.109;FBBV/661207367;FBDV/iPhone15,3;FBMD/iPhone;FBSN/iOS;"
    f"FBSV/18.1.1;FBSS/3;FBID/phone;FBLC/de_DE;FBOP/5;FBRV/663158316] {TRAFFIC_AGENT}",
    f"Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 Instagram 358.0.0.46.83 Android (34/14; 480dpi; "
    f"1080x2340; samsung; SM-S918B; dm3q; qcom; de_DE; 674675155) {TRAFFIC_AGENT}",
]
TITLES = [
    "Footprints by the creek #{n}",
    "Empreintes géantes près du ruisseau, n° {n}",
    "Riesige Fußspuren am Bach – Nr. {n}",
    "川のそばで大きな足跡を見た #{n}",
    "👣 Huge tracks, then a “wood knock” #{n}",
    "Tall figure crossed the old logging road at dusk while we were setting up camp; it stopped, "
    "turned its head slowly, and walked off into the ferns without a sound. Report #{n}",   # ~170 of 200
]
REPORTERS = ["ranger{i}", "Zoë Ø'Brien", "José Núñez", "Łukasz Żółć", "Aroha Ngāti-Rangi 🌲"]


class _User:
    """One simulated visitor: a keep-alive connection, a cookie jar, a random generator."""

    def __init__(self, run: "TrafficRun", index: int):
        self.run, self.index = run, index
        self.rng = random.Random(run.seed * 1000 + index)
        self.cookies: dict[str, str] = {}
        self.conn = None
        self.last_release = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.run.host, self.run.port, timeout=self.run.timeout)
        self.conn_used = False

    def request(self, journey, method, path, body=None, expect=(200,), page_release=None) -> Response | None:
        if self.conn is None:
            self._connect()
        headers = {"Host": f"{self.run.host}:{self.run.port}", "User-Agent": AGENTS[self.index % len(AGENTS)]}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = self.run.base_url + path
        t0 = time.monotonic()
        try:
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closed this kept-alive connection while it sat idle (nginx does on a
                # reload). A browser retries such a request once on a new connection; so do we.
                if not self.conn_used:
                    raise
                self._drop()
                self._connect()
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
            payload = r.read()
            self.conn_used = True
            resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
            if r.will_close:
                self.conn.close()
                self.conn = None
        except (socket.timeout, TimeoutError):
            self._drop()
            self._record(journey, method, path, None, t0, None, f"timeout (>{self.run.timeout:g}s)", None, page_release)
            return None
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            kind = "connection refused" if isinstance(e, ConnectionRefusedError) else f"connection error"
            self._record(journey, method, path, None, t0, None, kind, type(e).__name__, page_release)
            return None
        for c in resp.headers.get("set-cookie", "").split(","):
            m = re.match(r"\s*([A-Za-z0-9_-]+)=([^;]*)", c)
            if m:
                self.cookies[m.group(1)] = m.group(2)
        error, detail = None, None
        if resp.status not in expect:
            error, detail = classify(method, path, resp)
        self._record(journey, method, path, resp.status, t0, resp, error, detail, page_release)
        return resp

    def _drop(self):
        try:
            if self.conn:
                self.conn.close()
        finally:
            self.conn = None

    def _record(self, journey, method, path, status, t0, resp, error, detail, page_release):
        slot = release = None
        if resp is not None:
            slot = resp.header("x-app-slot") or self.run.slot_of(resp.header("x-lab-upstream"))
            release = resp.header("x-app-release")
        self.run._add(Record(t=round(t0 - self.run.t0, 4), user=self.index, journey=journey, method=method,
                             path=path, status=status, latency_ms=round((time.monotonic() - t0) * 1000, 2),
                             slot=slot, release=release, error=error, detail=detail, page_release=page_release))

    # ---- journeys ----
    def page(self, journey, path):
        r = self.request(journey, "GET", path)
        if r is None or r.status != 200:
            return None
        html = r.body.decode(errors="replace")
        release = r.header("x-app-release")
        self.last_release = release
        wrong = self.run.page_check(release, path, html) if self.run.page_check else None
        if wrong:
            # a 200 whose HTML another release wrote (a cached fragment): what the user sees is wrong
            self.run._add(Record(t=round(time.monotonic() - self.run.t0, 4), user=self.index,
                                 journey=journey, method="GET", path=path, status=200, latency_ms=0.0,
                                 slot=r.header("x-app-slot"), release=release, error="mixed release page",
                                 detail=wrong))
        missing = MISSING_RE.findall(html)
        if missing:
            # a template named a variable that doesn't exist (a field the model lost): Django prints
            # nothing there by default, so the page looks fine and shows the user less than it should
            self.run._add(Record(t=round(time.monotonic() - self.run.t0, 4), user=self.index,
                                 journey=journey, method="GET", path=path, status=200, latency_ms=0.0,
                                 slot=r.header("x-app-slot"), release=release, error="missing value",
                                 detail="the page's template names " + ", ".join(sorted(set(missing))) +
                                 ", which doesn't exist: it renders as nothing"))
        for asset in dict.fromkeys(ASSET_RE.findall(html)):  # each asset once, like a browser
            self.request(journey, "GET", asset, page_release=release)
        return html

    def broken(self, journey, path, what):
        """A page answered 200 but without what the journey needs (a form, a link): the user can't
        do their task. That is a failure, not a quiet skip (else "zero failed requests" could hide it)."""
        self.run._add(Record(t=round(time.monotonic() - self.run.t0, 4), user=self.index, journey=journey,
                             method="GET", path=path, status=200, latency_ms=0.0, slot=None,
                             release=self.last_release, error="journey broken", detail=what))

    def browse(self):
        html = self.page("browse", "/")
        links = DETAIL_RE.findall(html or "")
        if links:
            self.page("browse", self.rng.choice(links))
        elif html is not None:
            self.broken("browse", "/", "the list page links no sighting")

    def report(self):
        html = self.page("report", "/sightings/new/")
        token = CSRF_RE.search(html or "")
        if not token:
            if html is not None:
                self.broken("report", "/sightings/new/", "the report page has no form with a CSRF token")
            return
        n = self.rng.randrange(10**6)
        form = {"csrfmiddlewaretoken": token.group(1), "title": TITLES[n % len(TITLES)].format(n=n),
                "description": "Large prints, 40 cm long, heading north." + (" Ça sent le musc. ☔" * (n % 3)),
                "location": "Willow Creek, CA", "sighted_at": "2026-11-20 06:30",
                "reporter": REPORTERS[n % len(REPORTERS)].format(i=self.index)}
        self.request("report", "POST", "/sightings/new/", body=form, expect=(302,))

    def comment(self):
        html = self.page("comment", "/")
        links = DETAIL_RE.findall(html or "")
        if not links:
            if html is not None:
                self.broken("comment", "/", "the list page links no sighting")
            return
        path = self.rng.choice(links)
        html = self.page("comment", path)
        token = CSRF_RE.search(html or "")
        if not token:
            if html is not None:
                self.broken("comment", path, "the sighting's page has no comment form with a CSRF token")
            return
        form = {"csrfmiddlewaretoken": token.group(1), "author": REPORTERS[self.index % len(REPORTERS)].format(i=self.index),
                "body": "I saw the same tracks last spring." if self.index % 2 else "Même chose ici, l’an dernier 👀"}
        self.request("comment", "POST", path + "comment/", body=form, expect=(302,))

    def loop(self):
        names = list(self.run.journeys)
        weights = [self.run.journeys[n] for n in names]
        try:
            while not self.run._stop.is_set():
                if self.run.max_requests and len(self.run.records) >= self.run.max_requests:
                    break
                getattr(self, self.rng.choices(names, weights)[0])()
                if self.run.think:
                    self.run._stop.wait(self.rng.uniform(0, 2 * self.run.think))
        except Exception as e:  # noqa: BLE001 - a user that dies is a failure, never a silent thinner load
            self.run._add(Record(t=round(time.monotonic() - self.run.t0, 4), user=self.index, journey="?",
                                 method="-", path="-", status=None, latency_ms=0.0, slot=None, release=None,
                                 error="traffic crashed", detail=f"{type(e).__name__}: {e}"))
        finally:
            self._drop()


def classify(method: str, path: str, resp: Response) -> tuple[str, str | None]:
    """Name a failure the way a learner should read it."""
    app_error = resp.header("x-app-error")
    if resp.status == 404 and path.startswith("/static/"):
        return "404 static asset", None
    if resp.status >= 500 and app_error:
        return f"{resp.status} {app_error.split(':', 1)[0]}", app_error
    if resp.status in (502, 503, 504) and not resp.header("x-app-slot"):
        return f"{resp.status} from nginx (no app server answered)", None
    if method == "POST" and resp.status == 200:
        return "POST not accepted (form re-rendered)", None
    return f"{resp.status}", None


class TrafficRun:
    """Traffic in background threads; `start()`, then `stop()` (or a fixed `duration`)."""

    def __init__(self, base_url: str, users: int = 4, duration: float | None = None, journeys: dict | None = None,
                 timeout: float = 5.0, think: float = 0.02, seed: int = 1, max_requests: int | None = None,
                 upstreams: dict[str, str] | None = None, page_check=None):
        u = urlsplit(base_url)
        self.base_url, self.host, self.port = base_url.rstrip("/"), u.hostname, u.port or 80
        self.users, self.duration, self.timeout, self.think, self.seed = users, duration, timeout, think, seed
        self.journeys = journeys or DEFAULT_JOURNEYS
        self.max_requests = max_requests
        self.upstreams = upstreams or {}
        # page_check(release, path, html) -> None, or why the page isn't that release's own (chapter 11:
        # a fragment cached by another release); such a page is recorded as "mixed release page"
        self.page_check = page_check
        self.records: list[Record] = []
        self.marks: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.t0 = time.monotonic()
        self.elapsed = 0.0

    def slot_of(self, upstream: str | None) -> str | None:
        if not upstream:
            return None
        last = upstream.split(",")[-1].strip()  # after a retry nginx lists every slot it tried
        return self.upstreams.get(last, "nginx" if last == "static-shared" else last)

    def _add(self, rec: Record):
        with self._lock:
            self.records.append(rec)

    def mark(self, label: str) -> None:
        """Note an event (e.g. 'deploy starts') on the timeline."""
        self.marks.append((round(time.monotonic() - self.t0, 3), label))

    def start(self) -> "TrafficRun":
        self.t0 = time.monotonic()
        for i in range(self.users):
            th = threading.Thread(target=_User(self, i).loop, daemon=True, name=f"traffic-user-{i}")
            th.start()
            self._threads.append(th)
        if self.duration:
            threading.Timer(self.duration, self._stop.set).start()
        return self

    def stop(self) -> "TrafficResult":
        self._stop.set()
        return self.wait()

    def wait(self) -> "TrafficResult":
        for th in self._threads:
            th.join()
        self.elapsed = time.monotonic() - self.t0
        return self.result

    @property
    def result(self) -> "TrafficResult":
        with self._lock:
            return TrafficResult(list(self.records), self.elapsed or time.monotonic() - self.t0, list(self.marks))


def answered_by(r: "Record") -> tuple[str, str]:
    """(slot, release) of a request in words: nginx answers some requests itself (a static file from
    the shared folder or the bucket, a 502 when no slot answers), and some get no answer at all."""
    if r.slot or r.release:
        return r.slot or "nginx itself", r.release or "unknown release"
    who = "no answer" if r.status is None else "nginx itself"
    return who, who


@dataclass
class TrafficResult:
    records: list[Record]
    duration: float
    marks: list[tuple[float, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        # short: a notebook cell ending in a result shows this line, not every record (200 kB)
        return (f"<TrafficResult: {len(self.records)} requests, {len(self.errors)} failed, "
                f"{self.duration:.1f} s; .report() for the summary>")

    @property
    def errors(self) -> list[Record]:
        return [r for r in self.records if r.error]

    def errors_of(self, kind_prefix: str) -> list[Record]:
        return [r for r in self.errors if r.error.startswith(kind_prefix)]

    def summary(self) -> dict:
        lat = sorted(r.latency_ms for r in self.records) or [0.0]
        pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
        by_slot, by_release = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
        for r in self.records:
            slot, release = answered_by(r)
            by_slot[slot][0] += 1
            by_slot[slot][1] += bool(r.error)
            by_release[release][0] += 1
            by_release[release][1] += bool(r.error)
        examples = {}
        for r in self.errors:
            examples.setdefault(r.error, describe(r))
        return {
            "requests": len(self.records),
            "errors": len(self.errors),
            "duration_s": round(self.duration, 2),
            "requests_per_s": round(len(self.records) / self.duration, 1) if self.duration else 0,
            "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99), "max": lat[-1]},
            "by_kind": dict(Counter(r.error for r in self.errors).most_common()),
            "by_slot": {k: {"requests": v[0], "errors": v[1]} for k, v in sorted(by_slot.items())},
            "by_release": {k: {"requests": v[0], "errors": v[1]} for k, v in sorted(by_release.items())},
            "examples": examples,
        }

    def report(self) -> str:
        s = self.summary()
        pct = 100 * s["errors"] / s["requests"] if s["requests"] else 0
        lines = [f"traffic: {s['requests']} requests in {s['duration_s']}s ({s['requests_per_s']}/s), "
                 f"{s['errors']} failed ({pct:.1f}%)"]
        for kind, n in s["by_kind"].items():
            lines.append(f"  ✗ {kind} ×{n}   e.g. {s['examples'][kind]}")
        lines.append("  by slot:    " + ", ".join(f"{k} {v['requests']} ({v['errors']} failed)" for k, v in s["by_slot"].items()))
        lines.append("  by release: " + ", ".join(f"{k} {v['requests']} ({v['errors']} failed)" for k, v in s["by_release"].items()))
        l = s["latency_ms"]
        lines.append(f"  latency ms: p50 {l['p50']:.0f}, p95 {l['p95']:.0f}, p99 {l['p99']:.0f}, max {l['max']:.0f}")
        return "\n".join(lines)

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"summary": self.summary(), "marks": self.marks,
                                    "records": [asdict(r) for r in self.records]}, indent=1))
        return path

    def plot(self, path: str | Path, title: str = "traffic through nginx") -> Path:
        """Timeline: every request as a dot, by time and slot, coloured by outcome; latency below."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        slots = sorted({answered_by(r)[0] for r in self.records}) or ["no answer"]
        colours = {"ok": "#2e6b3a", "4xx": "#e69f00", "5xx": "#d62728", "no answer": "#000000"}

        def outcome(r):
            if r.ok:
                return "ok"
            if r.status is None:
                return "no answer"
            return "5xx" if r.status >= 500 else "4xx"

        fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True, gridspec_kw={"height_ratios": [1.2, 1]})
        rng = random.Random(0)
        for name, colour in colours.items():
            rs = [r for r in self.records if outcome(r) == name]
            if not rs:
                continue
            ys = [slots.index(answered_by(r)[0]) + rng.uniform(-0.3, 0.3) for r in rs]
            ax.scatter([r.t for r in rs], ys, s=6 if name == "ok" else 14, c=colour,
                       label=f"{name} ({len(rs)})", alpha=0.6 if name == "ok" else 0.9, linewidths=0)
            ax2.scatter([r.t for r in rs], [max(r.latency_ms, 0.1) for r in rs], s=5, c=colour, alpha=0.6, linewidths=0)
        ax.set_yticks(range(len(slots)), slots)
        ax.set_ylabel("answered by")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        ax2.set_yscale("log")
        ax2.set_ylabel("latency (ms)")
        ax2.set_xlabel("seconds since traffic started")
        # Each dashed line carries its label inside the top of the plot (x in data, y in axes
        # fractions: a label placed above the data range would be clipped away). Labels of marks
        # closer than the label's width alternate sides so that they don't print on each other.
        end = max([self.duration, *(t for t, _ in self.marks)]) or 1.0
        left_of_previous = False
        for i, (t, label) in enumerate(self.marks):
            for a in (ax, ax2):
                a.axvline(t, color="#555", linestyle="--", linewidth=0.8)
            close = i > 0 and t - self.marks[i - 1][0] < 0.02 * end
            left_of_previous = close and not left_of_previous
            ax.annotate(label, (t, 0.98), xycoords=ax.get_xaxis_transform(), fontsize=7, rotation=90,
                        va="top", ha="right" if not left_of_previous else "left", color="#333",
                        xytext=(-2 if not left_of_previous else 2, 0), textcoords="offset points")
        s = self.summary()
        ax.set_title(f"{title}: {s['requests']} requests, {s['errors']} failed")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def describe(r: Record) -> str:
    who = f"{r.slot or '?'}" + (f" ({r.release})" if r.release else "")
    text = f"{r.method} {r.path} → {r.status if r.status is not None else r.error} from {who}"
    if r.page_release and r.release and r.page_release != r.release:
        text += f"; the page came from {r.page_release}"
    if r.detail and r.detail != r.error:
        text += f": {r.detail}"
    return text


def release_assets_check(lab):
    """A traffic page_check: a page must link only static files of the release that rendered it
    (its staticfiles.json). Returns None, or what is wrong, in words."""
    manifests: dict[str, set[str]] = {}
    lock = threading.Lock()

    def files_of(release: str) -> set[str] | None:
        with lock:
            if release not in manifests:
                try:
                    path = lab.releases.get(release).static / "staticfiles.json"
                    manifests[release] = set(json.loads(path.read_text())["paths"].values())
                except Exception:  # noqa: BLE001 - an unknown release: nothing to compare with
                    manifests[release] = None
            return manifests[release]

    def check(release, path, html):
        own = files_of(release) if release else None
        if own is None:
            return None
        for asset in dict.fromkeys(ASSET_RE.findall(html)):
            name = asset[len("/static/"):] if asset.startswith("/static/") else asset
            if name not in own:
                owners = [r for r in sorted(lab.releases.names()) if r != release and name in (files_of(r) or ())]
                return (f"release {release} rendered {path}, and the page links {asset}, a file release {release} "
                        f"doesn't have" + (f" (release {', '.join(owners)} has it)" if owners else "") +
                        ": part of this page was written by another release")
        return None

    return check


def run_traffic(base_url: str, duration: float = 5.0, users: int = 4, **kw) -> TrafficResult:
    run = TrafficRun(base_url, users=users, duration=duration, **kw)
    run.start()
    return run.wait()
