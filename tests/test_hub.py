"""`make hub-check`: the workshop hub (`make hub`, docs/hosting.md) for real: JupyterHub 6 with
DockerSpawner, its proxy, and one container per learner from the learners' image. In order (the
tests share one hub, and each builds on the one before):

1. `hub/hub.py up` prints one URL and the workshop code, and the hub answers there;
2. sign-in needs the code; `instructor` needs the admin password (the code is refused);
3. two learners sign in through the login form and start their servers through the hub's REST
   API (their own session: cookie + XSRF token): each gets a container of their own, as uid 10001,
   with the memory and CPU limits, no capability, no Docker socket and three volumes of their own;
   the lab is up inside and JupyterLab answers through the hub (/user/NAME/api/status); the
   spawn times are measured;
4. a second browser typing a learner's name is refused ("taken");
5. learner B cannot reach learner A's server: not through the hub (403, with B's token or B's
   browser session), not container to container (the learners' network has no inter-container
   traffic), while the hub reaches A;
6. `lab check 02` in A's container fails the starter with the catalogue's kind, as on a laptop;
   B's passes on the solution's files;
7. the instructor is the hub's admin: sees both learners and the idle culler service; the room
   board (/services/board/, hub/board.py) shows the instructor both checks (who is on what, the
   verdict, the failure kind, the room at a glance) and links to each learner's server, which the
   instructor can open; a learner gets 403 there, and a learner's token cannot report for another;
8. A's server stopped and started again through the API (a new container): A's edit and progress
   are still there (the volumes), and the warm spawn time is measured;
9. `hub/hub.py down` stops the hub, its proxy and every learner's container and keeps the six
   volumes;
10. `up` again: A is still signed in, her server starts on her volumes with her edit and
   progress, the room board still shows both learners' checks; `down --purge` leaves nothing.

It runs only when asked (LAB_HUB_CHECK=1, which `make hub-check` sets, after installing the hub
and its proxy under .lab/hub/ and building the learners' image) and a Docker engine answers. `make test` collects nothing here
(the class below is not a test class then: a skip would fail CI, see tests/conftest.py). Its own
hub: prefix `bigfoot-hub-check` (containers, volumes, network; $HUB_CHECK_PREFIX sets another, for two
checks on one machine), a temporary state folder, free ports on 127.0.0.1, so an instructor's hub
(`make hub`) on the same machine is left alone.
Timings go to $LAB_HUB_CHECK_TIMINGS (JSON) if set.
"""
from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from lab.config import KIT_ROOT
from lab.exercises import get

HUB_CHECK = os.environ.get("LAB_HUB_CHECK") == "1"
HUB_PY = KIT_ROOT / ".lab" / "hub" / "venv" / "bin" / "python"     # `make hub-install`
PREFIX = os.environ.get("HUB_CHECK_PREFIX", "bigfoot-hub-check")
LABEL = "org.bigfoot-hub.prefix"
IMAGE = os.environ.get("HUB_IMAGE", "bigfoot-hub-singleuser:local")
MEM_LIMIT = "2G"
EXERCISE = "02"
LEARNERS = ("alice", "bob")
TIMINGS: dict[str, float] = {}
BOARD_SEEN: dict[str, dict] = {}       # the room board's rows as the instructor saw them, by learner


def _cannot_run() -> str | None:
    """Why the hub check can't run here, or None."""
    if not shutil.which("docker"):
        return "no docker CLI"
    r = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        return "no Docker engine answers (`docker info`): " + (r.stderr.strip().splitlines() or ["?"])[-1]
    if not HUB_PY.exists():
        return "no .lab/hub/venv: run `make hub-check` (it installs the hub and builds the image)"
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, stdin=subprocess.DEVNULL,
                      timeout=60).returncode != 0:
        return f"no image {IMAGE}: run `make hub-check` (it builds it)"
    return None


WHY_NOT = _cannot_run() if HUB_CHECK else None


def free_ports(n: int, start: int = 18700) -> list[int]:
    for base in range(start, 30000, 10):
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return list(range(base, base + n))
    raise RuntimeError("no free ports")


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)


class Hub:
    """One hub of the check: its environment, URL, secrets and the learners' sessions."""

    def __init__(self, tmp: Path):
        port, api, proxy_api, board = free_ports(4)
        self.code = "check-" + secrets.token_hex(4)
        self.state = tmp / "state"
        self.env = {**os.environ, "HUB_PREFIX": PREFIX, "HUB_STATE": str(self.state), "HUB_IP": "127.0.0.1",
                    "HUB_PORT": str(port), "HUB_API_PORT": str(api), "HUB_PROXY_API_PORT": str(proxy_api),
                    "HUB_BOARD_PORT": str(board),
                    "HUB_CODE": self.code, "HUB_IMAGE": IMAGE, "HUB_MEM_LIMIT": MEM_LIMIT, "HUB_CPU_LIMIT": "1"}
        self.url = f"http://127.0.0.1:{port}"
        self.sessions: dict[str, requests.Session] = {}
        self.tokens: dict[str, str] = {}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        r = subprocess.run([str(HUB_PY), str(KIT_ROOT / "hub" / "hub.py"), *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=KIT_ROOT)
        print(f"$ hub/hub.py {' '.join(args)}  ({time.monotonic() - t0:.1f}s, exit {r.returncode})")
        print(r.stdout[-3000:], r.stderr[-3000:], sep="\n")
        return r

    @property
    def admin_password(self) -> str:
        return json.loads((self.state / "secrets.json").read_text())["admin_password"]

    def log_tail(self, n: int = 40) -> str:
        log = self.state / "hub.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else "(no hub log)"

    def sign_in(self, name: str, password: str, session: requests.Session | None = None) -> requests.Response:
        """The login form, as a browser fills it: GET (the XSRF cookie), then POST."""
        s = session or requests.Session()
        r = s.get(f"{self.url}/hub/login", timeout=30)
        assert r.status_code == 200, r.text[:500]
        r = s.post(f"{self.url}/hub/login", data={"username": name, "password": password, "_xsrf": xsrf(s)},
                   allow_redirects=False, timeout=60)
        r.session = s
        return r

    def api(self, s: requests.Session, method: str, path: str, **kw) -> requests.Response:
        """The hub's REST API with a browser session: its cookie plus the XSRF token header."""
        return s.request(method, f"{self.url}/hub/api{path}", headers={"X-XSRFToken": xsrf(s)},
                         timeout=60, **kw)

    def spawn(self, name: str, timeout: float = 600) -> float:
        """Start NAME's server through the API; seconds until the hub says ready and it answers."""
        s = self.sessions[name]
        t0 = time.monotonic()
        r = self.api(s, "POST", f"/users/{name}/server")
        assert r.status_code in (201, 202), (r.status_code, r.text)
        while True:
            model = self.api(s, "GET", f"/users/{name}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                break
            assert server is not None or time.monotonic() - t0 < 10, \
                f"{name}'s server failed to start: {model}\n{self.log_tail()}\n{container_logs(name)}"
            assert time.monotonic() - t0 < timeout, f"{name}'s server not ready in {timeout} s\n{self.log_tail()}"
            time.sleep(0.5)
        status = self.status(name, self.tokens[name])
        assert status.status_code == 200, (status.status_code, status.text[:300])
        return time.monotonic() - t0

    def board(self, s: requests.Session, path: str = "", **kw) -> requests.Response:
        """The room board with a browser session (the board's OAuth with the hub: redirects)."""
        return s.get(f"{self.url}/services/board/{path}", timeout=60, **kw)

    def status(self, name: str, token: str) -> requests.Response:
        return requests.get(f"{self.url}/user/{name}/api/status", headers={"Authorization": f"token {token}"},
                            allow_redirects=False, timeout=60)


def xsrf(s: requests.Session) -> str:
    """The hub's XSRF cookie (path /hub/; a single-user server sets its own under /user/NAME/)."""
    return next((c.value for c in s.cookies if c.name == "_xsrf" and c.path.startswith("/hub")), "")


def container(name: str) -> str:
    return f"{PREFIX}-{name}"


def container_logs(name: str) -> str:
    r = docker("logs", "--tail", "40", container(name))
    return r.stdout[-4000:] + r.stderr[-4000:]


def inspect(name: str) -> dict:
    r = docker("inspect", container(name))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def in_container(name: str, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    r = docker("exec", container(name), *argv, timeout=timeout)
    print(f"$ docker exec {container(name)} {' '.join(argv)}  ({time.monotonic() - t0:.1f}s, exit {r.returncode})")
    return r


def progress(name: str) -> dict:
    r = in_container(name, "cat", "/app/.lab/progress.json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[EXERCISE]


class MemoryPeak:
    """The container's largest memory use while it runs (`docker stats`, sampled): a measurement."""

    def __init__(self, name: str):
        self.name, self.samples, self._stop = name, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            r = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", self.name, timeout=60)
            used = r.stdout.split("/")[0].strip()
            for unit, factor in (("GiB", 1024), ("MiB", 1), ("KiB", 1 / 1024)):
                if used.endswith(unit):
                    self.samples.append(float(used[:-len(unit)]) * factor)
                    break
            self._stop.wait(1)

    def start(self) -> "MemoryPeak":
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=90)
        return round(max(self.samples, default=0.0))


def leftovers() -> dict[str, list[str]]:
    out = {}
    for kind, argv in (("containers", ["ps", "--all", "--format", "{{.Names}}"]),
                       ("volumes", ["volume", "ls", "--format", "{{.Name}}"]),
                       ("networks", ["network", "ls", "--format", "{{.Name}}"])):
        r = docker(*argv[:-2], "--filter", f"label={LABEL}={PREFIX}", *argv[-2:])
        assert r.returncode == 0, r.stderr
        out[kind] = sorted(r.stdout.split())
    return out


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("hub-check"))
    h.run("down", "--purge")                # a previous run's leftovers, if any
    yield h
    # whatever happened: nothing of this hub stays behind (the last test checks it for real)
    h.run("down", "--purge")
    if os.environ.get("LAB_HUB_CHECK_TIMINGS"):
        Path(os.environ["LAB_HUB_CHECK_TIMINGS"]).write_text(json.dumps(TIMINGS, indent=2) + "\n")
    print("timings:", json.dumps(TIMINGS))


@pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "")
class TestHubRoom:
    # collected only with LAB_HUB_CHECK=1 (`make hub-check`): see the module's docstring
    __test__ = HUB_CHECK

    def test_up_prints_one_url_and_the_workshop_code(self, hub):
        t0 = time.monotonic()
        r = hub.run("up")
        TIMINGS["hub_up_s"] = round(time.monotonic() - t0, 1)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:] + hub.log_tail()
        urls = [w for w in r.stdout.split() if w.startswith("http://")]
        assert urls == [hub.url + "/"], r.stdout
        assert hub.code in r.stdout
        assert requests.get(f"{hub.url}/hub/health", timeout=30).status_code == 200
        # a second `up` finds it running and prints the same
        again = hub.run("up")
        assert again.returncode == 0 and "already running" in again.stdout and hub.code in again.stdout

    def test_sign_in_needs_the_code_and_the_instructor_the_admin_password(self, hub):
        assert hub.sign_in("carol", "not-the-code").status_code == 403
        assert hub.sign_in("instructor", hub.code).status_code == 403
        r = hub.sign_in("instructor", hub.admin_password)
        assert r.status_code == 302, r.text[:500]
        me = hub.api(r.session, "GET", "/user").json()
        assert me["name"] == "instructor" and me["admin"] is True, me
        hub.sessions["instructor"] = r.session

    def test_two_learners_get_their_own_container_through_the_hub(self, hub):
        for name in LEARNERS:
            r = hub.sign_in(name, hub.code)
            assert r.status_code == 302, (name, r.status_code, r.text[:500])
            hub.sessions[name] = r.session
            token = hub.api(r.session, "POST", f"/users/{name}/tokens", json={"note": "hub-check"})
            assert token.status_code == 201, token.text
            hub.tokens[name] = token.json()["token"]
        # one after the other: the first spawn of each is cold (new volumes: initdb, release, seed)
        for name in LEARNERS:
            seconds = hub.spawn(name)
            TIMINGS[f"spawn_cold_{name}_s"] = round(seconds, 1)
            print(f"{name}: server ready through the hub in {seconds:.1f} s (cold)")
        gib = 2 * 1024 ** 3
        for name in LEARNERS:
            c = inspect(name)
            assert c["State"]["Running"] and c["Config"]["Image"] == IMAGE
            assert c["Config"]["User"] == "10001:10001"
            assert c["HostConfig"]["Memory"] == gib
            assert c["HostConfig"]["CpuQuota"] == c["HostConfig"]["CpuPeriod"] == 100_000   # one core
            assert c["HostConfig"]["CapDrop"] == ["ALL"] and not c["HostConfig"]["Privileged"]
            mounts = {m["Destination"]: m for m in c["Mounts"]}
            assert not any("docker.sock" in (m.get("Source") or "") + dest for dest, m in mounts.items()), mounts
            assert {dest: m["Name"] for dest, m in mounts.items()} == {
                "/app/exercises": f"{PREFIX}-{name}-exercises", "/app/notebooks": f"{PREFIX}-{name}-notebooks",
                "/app/.lab": f"{PREFIX}-{name}-lab"}
            assert in_container(name, "id", "-u").stdout.strip() == "10001"
            assert in_container(name, "test", "-e", "/var/run/docker.sock").returncode == 1
            # the whole lab is up in there: the site through the lab's nginx, both slots
            page = in_container(name, "python", "-c", (
                "import urllib.request as u; r = u.urlopen('http://127.0.0.1:8000/', timeout=30); "
                "print(r.status, r.headers['X-App-Slot'], r.headers['X-App-Release'])"))
            assert page.returncode == 0 and page.stdout.split()[0] == "200", page.stdout + page.stderr
            stats = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container(name))
            TIMINGS[f"memory_{name}_idle"] = stats.stdout.strip()

    def test_a_taken_name_is_refused_to_another_browser(self, hub):
        r = hub.sign_in("alice", hub.code)            # a new browser: no claim on the name
        assert r.status_code == 403 and "is taken" in r.text, r.text[:500]
        # alice herself, signed out and back in from her browser, gets in
        alice = hub.sessions["alice"]
        alice.get(f"{hub.url}/hub/logout", timeout=30)
        assert hub.api(alice, "GET", "/user").status_code == 403
        r = hub.sign_in("alice", hub.code, session=alice)
        assert r.status_code == 302, r.text[:500]

    def test_a_learner_cannot_reach_another_learners_server(self, hub):
        # through the hub, with bob's own token and with bob's browser session
        assert hub.status("alice", hub.tokens["bob"]).status_code == 403
        assert hub.status("alice", hub.tokens["alice"]).status_code == 200
        r = hub.sessions["bob"].get(f"{hub.url}/user/alice/lab", timeout=60)
        assert r.status_code == 403, (r.status_code, r.url)
        assert hub.api(hub.sessions["bob"], "GET", "/users/alice").status_code == 404   # not even its model
        # container to container: alice's JupyterLab listens on her container's address, which the
        # hub's proxy reaches (above); from bob's container the connection goes nowhere
        alice_ip = next(iter(inspect("alice")["NetworkSettings"]["Networks"].values()))["IPAddress"]
        probe = in_container("bob", "python", "-c", (
            "import socket, sys\n"
            f"try:\n    socket.create_connection(({alice_ip!r}, 8888), timeout=5)\n"
            "except OSError as e:\n    print('unreachable:', e); sys.exit(3)\n"
            "print('connected'); sys.exit(0)"), timeout=60)
        assert probe.returncode == 3, probe.stdout + probe.stderr

    def test_check_02_in_a_learners_container_fails_the_starter_with_its_kind(self, hub):
        ex = get(EXERCISE)
        peak = MemoryPeak(container("alice")).start()
        t0 = time.monotonic()
        r = in_container("alice", "lab", "check", EXERCISE, timeout=900)
        TIMINGS["check_02_starter_in_container_s"] = round(time.monotonic() - t0, 1)
        TIMINGS["memory_alice_check_peak_mib"] = peak.stop()
        print(r.stdout[-3000:], r.stderr[-2000:], sep="\n")
        assert r.returncode == 1 and "not yet" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
        assert progress("alice")["last_failure"] == ex.starter_fails_with
        assert "room board" not in r.stderr, r.stderr        # the result reached the board

    def test_check_02_passes_on_the_solution_in_the_other_learners_container(self, hub):
        # the solution as whole files (solutions/ stores patches against the starter), over bob's starter
        name = get(EXERCISE).name
        assert in_container("bob", "sh", "-c", f"cd /app && python -m lab.corpus materialize {EXERCISE} /tmp/solution "
                            f"&& cp -r /tmp/solution/app /app/exercises/{name}/").returncode == 0
        t0 = time.monotonic()
        r = in_container("bob", "lab", "check", EXERCISE, timeout=900)
        TIMINGS["check_02_solution_in_container_s"] = round(time.monotonic() - t0, 1)
        assert r.returncode == 0 and "passed" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
        assert "room board" not in r.stderr, r.stderr

    def test_the_instructor_is_admin_and_sees_every_learner_and_the_culler(self, hub):
        s = hub.sessions["instructor"]
        users = {u["name"]: u for u in hub.api(s, "GET", "/users").json()}
        for name in LEARNERS:
            assert users[name]["servers"][""]["ready"] is True, users[name]
        assert users["instructor"]["admin"] is True and not users["alice"]["admin"]
        culler = hub.api(s, "GET", "/services/idle-culler")
        assert culler.status_code == 200, culler.text
        pid = culler.json().get("pid")
        assert pid and Path(f"/proc/{pid}/cmdline").read_bytes().find(b"jupyterhub_idle_culler") >= 0, culler.json()

    def test_the_room_board_shows_the_instructor_each_learners_last_check(self, hub):
        ex, s = get(EXERCISE), hub.sessions["instructor"]
        r = hub.board(s, "api/room")             # OAuth with the hub, no confirmation page
        assert r.status_code == 200 and r.url == f"{hub.url}/services/board/api/room", (r.status_code, r.url, r.text[:500])
        room = r.json()
        rows = {row["name"]: row for row in room["learners"]}
        assert sorted(rows) == sorted(LEARNERS), rows             # the instructor is not a learner
        alice, bob = rows["alice"], rows["bob"]
        assert alice["on"] == EXERCISE and alice["solved"] == 0
        assert (alice["last"]["exercise"], alice["last"]["status"], alice["last"]["kind"]) == (
            EXERCISE, "fail", ex.starter_fails_with)
        assert alice["stuck_s"] is not None and alice["fails"] == 1 and alice["last"]["ago_s"] < 900
        assert bob["on"] == "03" and bob["solved"] == 1 and bob["stuck_s"] is None
        assert (bob["last"]["exercise"], bob["last"]["status"], bob["last"]["kind"]) == (EXERCISE, "pass", None)
        # alice on 02, bob on 03: a tie goes to the earlier exercise
        assert room["glance"]["lines"] == [f"1 of 2 on {EXERCISE} · 1 of 2 passed {EXERCISE}",
                                           f"1 of 2: {ex.starter_fails_with} on {EXERCISE}"], room["glance"]
        BOARD_SEEN.update({name: {k: row[k] for k in ("on", "solved", "fails")} | {
            "last": {k: row["last"][k] for k in ("exercise", "status", "kind", "message")}} for name, row in rows.items()})
        # the page: the same, rendered, with a link to each learner's server and its own refresh
        page = hub.board(s)
        assert page.status_code == 200, page.text[:500]
        for text in ("alice", "bob", "stuck longest: <b>alice</b>", f"1 of 2: {ex.starter_fails_with} on {EXERCISE}",
                     'href="/user/alice/"', 'href="/user/bob/"', 'fetch("fragment"'):
            assert text in page.text, (text, page.text[:3000])
        fragment = hub.board(s, "fragment")
        assert fragment.status_code == 200 and "alice" in fragment.text and "<html" not in fragment.text
        # the hub's menu lists it for the instructor (Services), not for a learner
        assert 'href="/services/board/"' in s.get(f"{hub.url}/hub/home", timeout=60).text
        assert "/services/board/" not in hub.sessions["bob"].get(f"{hub.url}/hub/home", timeout=60).text
        # the link helps: the admin reaches alice's JupyterLab (the hub asks the instructor to
        # confirm access to someone else's server once: accept as a browser would)
        lab = s.get(f"{hub.url}/user/alice/lab", timeout=60)
        if lab.url.startswith(f"{hub.url}/hub/api/oauth2/authorize"):
            assert lab.status_code == 200 and "alice" in lab.text, lab.text[:1000]
            form = [(k, html.unescape(v)) for k, v in
                    re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', lab.text)]
            lab = s.post(lab.url, data=form, timeout=60)        # "Authorize", with the hidden scopes
        assert lab.status_code == 200 and lab.url.startswith(f"{hub.url}/user/alice/lab"), (lab.status_code, lab.url)

    def test_the_room_board_is_for_the_instructor_only(self, hub):
        for name in LEARNERS:
            for path in ("", "api/room", "fragment"):
                r = hub.board(hub.sessions[name], path)
                assert r.status_code == 403 and "alice" not in r.text.replace(name, ""), (name, path, r.status_code, r.url)
        # a learner's token reports for that learner only: bob's token cannot write alice's row
        url = f"{hub.url}/services/board/api/learners/alice/results"
        fake = {"exercise": EXERCISE, "status": "pass", "kind": None, "on": "03", "solved": [EXERCISE]}
        r = requests.post(url, json=fake, headers={"Authorization": f"token {hub.tokens['bob']}"}, timeout=60)
        assert r.status_code == 403 and "bob" in r.json()["error"], (r.status_code, r.text)
        assert requests.post(url, json=fake, timeout=60).status_code == 401
        assert requests.post(url, json=fake, headers={"Authorization": "token not-a-token"}, timeout=60).status_code == 403
        # alice's own token writes only well-formed reports
        r = requests.post(url, json={**fake, "status": "solved"}, headers={"Authorization": f"token {hub.tokens['alice']}"},
                          timeout=60)
        assert r.status_code == 400, (r.status_code, r.text)
        rows = {row["name"]: row for row in hub.board(hub.sessions["instructor"], "api/room").json()["learners"]}
        assert rows["alice"]["last"]["status"] == "fail" and rows["alice"]["on"] == EXERCISE, rows["alice"]

    def test_a_restarted_server_finds_the_learners_work(self, hub):
        note = "/app/exercises/02_add_field/NOTES.md"
        assert in_container("alice", "sh", "-c", f"echo 'mine, before lunch' > {note}").returncode == 0
        before = progress("alice")
        old_id = inspect("alice")["Id"]
        s = hub.sessions["alice"]
        t0 = time.monotonic()
        r = hub.api(s, "DELETE", "/users/alice/server")       # JupyterLab stops, then `lab down`
        assert r.status_code in (202, 204), r.text
        while docker("inspect", container("alice")).returncode == 0:
            assert time.monotonic() - t0 < 120, "alice's container is still there"
            time.sleep(0.5)
        while hub.api(s, "GET", "/users/alice").json()["servers"]:
            assert time.monotonic() - t0 < 120
            time.sleep(0.5)
        TIMINGS["stop_server_s"] = round(time.monotonic() - t0, 1)
        seconds = hub.spawn("alice")
        TIMINGS["spawn_warm_alice_s"] = round(seconds, 1)
        print(f"alice: server ready again in {seconds:.1f} s (warm: her volumes exist)")
        assert inspect("alice")["Id"] != old_id                     # a new container…
        assert in_container("alice", "cat", note).stdout == "mine, before lunch\n"   # …with her work
        assert progress("alice") == before
        # the stop ran `lab down`: the lab's PostgreSQL in her volume was shut down, not killed
        pglog = in_container("alice", "cat", "/app/.lab/postgres/postgres.log").stdout
        assert "database system is shut down" in pglog and "not properly shut down" not in pglog, pglog[-2000:]
        page = in_container("alice", "lab", "status")
        assert page.returncode == 0 and "release v1" in page.stdout, page.stdout + page.stderr

    def test_hub_down_stops_everything_and_keeps_the_volumes(self, hub):
        proxy_pid = int((hub.state / "proxy.pid").read_text())
        hub_pid = int((hub.state / "hub.pid").read_text())
        t0 = time.monotonic()
        r = hub.run("down")
        TIMINGS["hub_down_s"] = round(time.monotonic() - t0, 1)
        assert r.returncode == 0 and "kept" in r.stdout and "alice, bob" in r.stdout, r.stdout
        left = leftovers()
        assert left["containers"] == [] and left["networks"] == [], left
        assert left["volumes"] == sorted(f"{PREFIX}-{n}-{v}" for n in LEARNERS for v in ("exercises", "lab", "notebooks"))
        for pid in (hub_pid, proxy_pid):
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], pid
        with pytest.raises(requests.ConnectionError):
            requests.get(hub.url, timeout=10)

    def test_a_restarted_hub_gives_the_learner_her_work_back_and_purge_leaves_nothing(self, hub):
        t0 = time.monotonic()
        r = hub.run("up")
        assert r.returncode == 0 and hub.code in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
        TIMINGS["hub_up_again_s"] = round(time.monotonic() - t0, 1)
        # still signed in (the hub kept its cookie secret and users), her server starts on her volumes
        me = hub.api(hub.sessions["alice"], "GET", "/user")
        assert me.status_code == 200 and me.json()["name"] == "alice", me.text
        seconds = hub.spawn("alice")
        TIMINGS["spawn_after_hub_restart_alice_s"] = round(seconds, 1)
        assert in_container("alice", "cat", "/app/exercises/02_add_field/NOTES.md").stdout == "mine, before lunch\n"
        assert progress("alice")["last_failure"] == get(EXERCISE).starter_fails_with
        # the room board kept both learners' checks (hub state folder: board.json)
        r = hub.board(hub.sessions["instructor"], "api/room")
        assert r.status_code == 200, (r.status_code, r.url, r.text[:500])
        rows = {row["name"]: row for row in r.json()["learners"]}
        assert {name: {k: row[k] for k in ("on", "solved", "fails")} | {
            "last": {k: row["last"][k] for k in ("exercise", "status", "kind", "message")}}
            for name, row in rows.items()} == BOARD_SEEN
        r = hub.run("down", "--purge")
        assert r.returncode == 0 and "purged" in r.stdout
        assert leftovers() == {"containers": [], "volumes": [], "networks": []}
