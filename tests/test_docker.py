"""`make docker-check`: the docker-compose topology with real containers, end to end.

tests/test_compose.py checks the Docker files without an engine; this module runs them. In order
(the tests share one compose project, and each builds on the one before):

1. `docker compose up --wait` builds the images and brings up db, migrate (completed), blue,
   green and proxy, healthy;
2. `lab --backend compose release build v2` + `deploy v2 --slot green`: traffic through the proxy
   sees two releases at once, blue on v1 and green on v2;
3. with `static_mode = proxy`, that traffic gets 404s on hashed assets (the break of exercise 01,
   for real in containers), and nothing else fails;
4. `lab --backend compose static-mode shared` (the shared volume): zero failed requests;
5. a rolling deploy through `lab --backend compose deploy` under traffic: zero failed requests;
6. the workbench (profile `workbench`: the local lab inside one container, as a uid the image
   doesn't know, like a learner's): `docker compose run --rm workbench lab check 02` fails the
   bind-mounted starter for the same reason as `lab check 02` on the host, and passes the
   solution; `up workbench` serves JupyterLab on 127.0.0.1 and `exec workbench lab sql` reaches
   its lab;
7. `docker compose down -v` leaves no container, network or volume of the project.

It runs only when asked (LAB_DOCKER_CHECK=1, which `make docker-check` sets) and a Docker engine
answers: `make test` doesn't build images, and CI (.ci/run) runs `make docker-check` itself.
Its own compose project (COMPOSE_PROJECT_NAME=bigfoot-check), .env (LAB_COMPOSE_ENV_FILE), lab
home and free ports: a learner's compose lab in the same checkout is left alone. Without Docker
Hub, point it at stand-in base images (PYTHON_IMAGE, POSTGRES_IMAGE, POSTGRES_TAG: see
docs/docker.md and docker/standin/build.sh). Timings go to $LAB_DOCKER_CHECK_TIMINGS (JSON) if set.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import compose
from lab.config import KIT_ROOT, load_config
from lab.corpus import materialize
from lab.exercises import get
from lab.traffic import TrafficRun, run_traffic

BIN = Path(sys.executable).parent
PROJECT = os.environ.get("LAB_DOCKER_CHECK_PROJECT", "bigfoot-check")
OVERLAY = "exercises/01_static_assets/app"    # a new stylesheet: new hashed asset names
WORKBENCH_EXERCISE = "02"                     # a fast check: a few seconds once the template is built
# the workbench runs as the host user (LAB_UID); as root here (CI), as a uid the image has no
# entry for, like a learner's 501 or 1000: the path the entrypoint exists for
LEARNER_UID = os.getuid() or 4321
TIMINGS: dict[str, float] = {}


def _engine() -> str | None:
    """Why the check can't run here, or None."""
    if os.environ.get("LAB_DOCKER_CHECK") != "1":
        return "the Docker check runs with `make docker-check` (LAB_DOCKER_CHECK=1), not in `make test`"
    if not shutil.which("docker"):
        return "no docker CLI"
    r = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    if r.returncode != 0:
        return "no Docker engine answers (`docker info`): " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return None


pytestmark = pytest.mark.skipif(bool(_engine()), reason=_engine() or "")


def free_ports(n: int, start: int = 18100) -> list[int]:
    """n consecutive free ports on 127.0.0.1 (below the ephemeral range)."""
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


class Project:
    """One compose project of the check: its .env, environment and commands."""

    def __init__(self, tmp: Path):
        self.dir = tmp
        self.env_file = tmp / ".env"
        self.home = tmp / "lab-home"
        proxy, blue, green, db, jupyter, workbench = free_ports(6)
        cfg = load_config(self.home)
        values = compose.init_values(cfg)
        values.update(LAB_PROXY_PORT=str(proxy), LAB_PORT_BLUE=str(blue), LAB_PORT_GREEN=str(green),
                      LAB_DB_PORT=str(db), LAB_JUPYTER_PORT=str(jupyter), LAB_WORKBENCH_PORT=str(workbench),
                      LAB_UID=str(LEARNER_UID), LAB_GID=str(os.getgid() if os.getuid() else LEARNER_UID))
        self.token = values["JUPYTER_TOKEN"]
        self.workbench_port = workbench
        compose.write_env(values, self.env_file)
        self.url = f"http://127.0.0.1:{proxy}"
        self.ports = {"blue": blue, "green": green}
        self.environ = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT, "LAB_COMPOSE_ENV_FILE": str(self.env_file),
                        "LAB_HOME": str(self.home), "LAB_BACKEND": "compose"}
        self.environ.pop("LAB_PORT_BASE", None)

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        b = compose.ComposeBackend(load_config(self.home), project_dir=KIT_ROOT, log=None)
        b.env_file = self.env_file          # what LAB_COMPOSE_ENV_FILE does for `lab`
        argv = b.argv(*args)
        t0 = time.monotonic()
        r = subprocess.run(argv, env=self.environ, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        print(f"$ {' '.join(argv[argv.index(str(KIT_ROOT / 'docker-compose.yml')) + 1:])}  "
              f"({time.monotonic() - t0:.1f}s, exit {r.returncode})")
        return r

    def lab(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "lab", "--backend", "compose", *args], env=self.environ,
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=KIT_ROOT)
        print(f"$ lab --backend compose {' '.join(args)}  ({time.monotonic() - t0:.1f}s, exit {r.returncode})")
        print(r.stdout[-3000:], r.stderr[-3000:], sep="\n")
        return r

    def ps(self) -> dict[str, dict]:
        r = self.compose("ps", "--all", "--format", "json")
        assert r.returncode == 0, r.stderr
        return {c["Service"]: c for c in compose.parse_ps(r.stdout)}

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={PROJECT}"
        out = {}
        for kind, argv in (("containers", ["docker", "ps", "--all", "--quiet", "--filter", label]),
                           ("networks", ["docker", "network", "ls", "--quiet", "--filter", label]),
                           ("volumes", ["docker", "volume", "ls", "--quiet", "--filter", label])):
            r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
            assert r.returncode == 0, r.stderr
            out[kind] = r.stdout.split()
        return out

    def logs(self) -> str:
        r = self.compose("logs", "--no-color", "--tail", "40")
        return r.stdout[-8000:] + r.stderr[-2000:]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    p = Project(tmp_path_factory.mktemp("docker-check"))
    p.compose("down", "--volumes", "--remove-orphans")       # a previous run's leftovers, if any
    yield p
    # whatever happened: nothing of the project stays behind (the last test checks this for real)
    p.compose("--profile", "jupyter", "--profile", "workbench", "down", "--volumes", "--remove-orphans", "--timeout", "5")
    if os.environ.get("LAB_DOCKER_CHECK_TIMINGS"):
        Path(os.environ["LAB_DOCKER_CHECK_TIMINGS"]).write_text(json.dumps(TIMINGS, indent=2) + "\n")
    print("timings:", json.dumps(TIMINGS))


def traffic(url: str, seconds: float, users: int = 4):
    r = run_traffic(url, duration=seconds, users=users, timeout=10)
    print(r.report())
    return r


def test_up_wait_brings_up_db_migrate_slots_and_proxy(project):
    t0 = time.monotonic()
    r = project.compose("build", "blue", "proxy")
    TIMINGS["build_v1_and_kit_s"] = round(time.monotonic() - t0, 1)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    t0 = time.monotonic()
    r = project.compose("up", "--wait", "--wait-timeout", "300")
    TIMINGS["up_wait_first_s"] = round(time.monotonic() - t0, 1)
    assert r.returncode == 0, r.stderr[-4000:] + project.logs()
    ps = project.ps()
    for svc in ("db", "blue", "green", "proxy"):
        assert ps[svc]["State"] == "running" and ps[svc]["Health"] == "healthy", (svc, ps[svc])
    assert ps["migrate"]["State"] == "exited" and ps["migrate"]["ExitCode"] == 0, ps["migrate"]
    # through nginx: both slots answer, on the baseline release, with the seeded data
    res = traffic(project.url, 4)
    assert res.records and not res.errors, res.report()
    assert {r.slot for r in res.records if r.slot in ("blue", "green")} == {"blue", "green"}
    assert {r.release for r in res.records if r.release} == {"v1"}


def test_two_releases_at_once_blue_v1_green_v2(project):
    t0 = time.monotonic()
    r = project.lab("release", "build", "v2", "--overlay", OVERLAY)
    TIMINGS["build_v2_s"] = round(time.monotonic() - t0, 1)
    assert r.returncode == 0
    r = project.lab("deploy", "v2", "--slot", "green")
    assert r.returncode == 0, project.logs()
    res = traffic(project.url, 8)
    pages = [r for r in res.records if r.release and not r.path.startswith("/static/")]
    by_slot = {s: {r.release for r in pages if r.slot == s} for s in ("blue", "green")}
    assert by_slot == {"blue": {"v1"}, "green": {"v2"}}, by_slot
    project.proxy_mode_traffic = res


def test_static_asset_break_is_real_in_proxy_mode(project):
    """A page from one release asks the other slot for its hashed stylesheet: 404."""
    res = project.proxy_mode_traffic
    missing = res.errors_of("404 static asset")
    assert missing, "expected 404s on hashed assets with static_mode = proxy:\n" + res.report()
    assert all(r.error == "404 static asset" for r in res.errors), res.report()
    # the 404s are cross-release: an asset of the page's release, asked from the other slot
    assert all(r.page_release and r.release and r.page_release != r.release for r in missing
               if r.release), [(r.path, r.page_release, r.release) for r in missing][:5]
    TIMINGS["proxy_mode_static_404s"] = len(missing)
    TIMINGS["proxy_mode_requests"] = len(res.records)


def test_shared_static_volume_fixes_it(project):
    r = project.lab("static-mode", "shared")
    assert r.returncode == 0
    res = traffic(project.url, 8)
    assert res.records and not res.errors, res.report()
    releases = {r.release for r in res.records if r.release and not r.path.startswith("/static/")}
    assert releases == {"v1", "v2"}, releases
    assert any(r.slot == "nginx" for r in res.records if r.path.startswith("/static/")), \
        "static files should come from nginx's shared volume"
    TIMINGS["shared_mode_requests"] = len(res.records)


def test_rolling_deploy_under_traffic_has_zero_failed_requests(project):
    run = TrafficRun(project.url, users=4, timeout=10).start()
    time.sleep(2)
    t0 = time.monotonic()
    r = project.lab("deploy", "v2", "--strategy", "rolling")     # both slots, one at a time
    TIMINGS["rolling_deploy_both_slots_s"] = round(time.monotonic() - t0, 1)
    time.sleep(2)
    res = run.stop()
    print(res.report())
    assert r.returncode == 0, project.logs()
    assert len(res.records) > 20, res.report()
    assert not res.errors, res.report()
    TIMINGS["rolling_deploy_requests"] = len(res.records)
    # both slots on v2 now, and .env says so (a later `docker compose up` keeps them there)
    env = compose.read_env(project.env_file)
    assert env["RELEASE_BLUE"] == env["RELEASE_GREEN"] == "v2"
    after = traffic(project.url, 3)
    assert {r.release for r in after.records if r.release} == {"v2"} and not after.errors, after.report()


def progress(results: Path) -> dict:
    """The lab's record of a check (lab/learner.py): what `lab check` wrote into LAB_HOME."""
    return json.loads((results / "progress.json").read_text())[WORKBENCH_EXERCISE]


def test_workbench_check_gives_the_hosts_verdict(project, tmp_path):
    """The learner with only Docker: `docker compose run --rm workbench lab check 02` on the
    bind-mounted exercises/ folder. The starter fails for the same reason as on the host (and as
    the catalogue says), the solution passes; as the learner's uid (it owns what the check writes)."""
    ex = get(WORKBENCH_EXERCISE)
    t0 = time.monotonic()
    r = project.compose("build", "workbench")
    TIMINGS["build_workbench_s"] = round(time.monotonic() - t0, 1)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    size = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", "bigfoot-lab-workbench:local"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    TIMINGS["workbench_image_mb"] = round(int(size.stdout) / 1e6)

    # the host's verdict on the same folder (the local lab; its own home, so no progress is touched)
    host_home = tmp_path / "host-home"
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_BACKEND", "LAB_PORT_BASE")}
    r = subprocess.run([sys.executable, "-m", "lab", "--home", str(host_home), "check", WORKBENCH_EXERCISE],
                       env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, cwd=KIT_ROOT)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    host_kind = progress(host_home)["last_failure"]
    assert host_kind == ex.starter_fails_with, r.stdout[-3000:]

    # the record goes to a host folder (LAB_HOME), written by the learner's uid
    results = tmp_path / "workbench-home"
    results.mkdir()
    if os.getuid() == 0:
        os.chown(results, LEARNER_UID, LEARNER_UID)
    run = ["run", "--rm", "-e", "LAB_HOME=/results", "-v", f"{results}:/results"]
    # 1. the starter, as it is in exercises/ (the first check in a new volume builds the template)
    t0 = time.monotonic()
    r = project.compose(*run, "workbench", "lab", "check", WORKBENCH_EXERCISE)
    TIMINGS["workbench_check_starter_first_s"] = round(time.monotonic() - t0, 1)
    print(r.stdout[-3000:], r.stderr[-3000:], sep="\n")
    assert r.returncode == 1 and "not yet" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    assert progress(results)["last_failure"] == host_kind
    assert (results / "progress.json").stat().st_uid == LEARNER_UID
    # 2. the solution, mounted over the starter's folder
    solution = materialize(ex, tmp_path / "solution" / ex.name)
    t0 = time.monotonic()
    r = project.compose(*run, "-v", f"{solution}:/app/exercises/{ex.name}", "workbench",
                        "lab", "check", WORKBENCH_EXERCISE)
    TIMINGS["workbench_check_solution_s"] = round(time.monotonic() - t0, 1)
    print(r.stdout[-3000:], r.stderr[-3000:], sep="\n")
    assert r.returncode == 0 and "passed" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    assert progress(results)["status"] == "solved"


def test_workbench_serves_jupyterlab_and_its_lab(project):
    """`docker compose --profile workbench up workbench`: the local lab comes up inside, then
    JupyterLab on 127.0.0.1 (token-protected); `docker compose exec workbench lab …` reaches that
    lab; stopping the container runs `lab down`."""
    import urllib.error
    import urllib.request
    t0 = time.monotonic()
    r = project.compose("--profile", "workbench", "up", "--detach", "workbench")
    assert r.returncode == 0, r.stderr[-4000:]
    url = f"http://127.0.0.1:{project.workbench_port}/api/status"
    status = None
    while time.monotonic() - t0 < 300:
        try:
            status = urllib.request.urlopen(f"{url}?token={project.token}", timeout=5).status
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(1)
    TIMINGS["workbench_up_jupyterlab_s"] = round(time.monotonic() - t0, 1)
    assert status == 200, project.compose("--profile", "workbench", "logs", "--tail", "60", "workbench").stdout
    try:
        urllib.request.urlopen(url, timeout=5)
        raise AssertionError("JupyterLab answered without its token")
    except urllib.error.HTTPError as e:
        assert e.code == 403
    r = project.compose("exec", "-T", "workbench", "lab", "sql", "select count(*) > 0 from sightings_sighting")
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "True", r.stdout + r.stderr
    r = project.compose("--profile", "workbench", "stop", "workbench")
    assert r.returncode == 0, r.stderr
    logs = project.compose("--profile", "workbench", "logs", "workbench").stdout
    assert "lab is down" in logs, logs[-3000:]


def test_warm_up_wait_and_down_v_leaves_nothing(project):
    # warm: everything built, database initialised; recreate the containers and wait again
    assert project.compose("down").returncode == 0
    t0 = time.monotonic()
    r = project.compose("up", "--wait", "--wait-timeout", "300")
    TIMINGS["up_wait_warm_s"] = round(time.monotonic() - t0, 1)
    assert r.returncode == 0, r.stderr[-4000:] + project.logs()
    assert project.leftovers()["volumes"], "the project should have its volumes before down -v"
    r = project.compose("--profile", "workbench", "down", "-v")
    assert r.returncode == 0, r.stderr
    assert project.leftovers() == {"containers": [], "networks": [], "volumes": []}
