"""`make hub` / `make hub-down`: a room with nothing to install (docs/hosting.md).

JupyterHub on this machine (its own venv) with DockerSpawner: every learner gets a container of their
own from the learners' image (hub/Dockerfile: the kit's workbench plus JupyterHub's single-user
server), running the whole local lab and JupyterLab. Sign-in: any name plus the workshop code;
the instructor signs in as `instructor` with the admin password. The hub's settings and secrets
live in the state folder (~/.local/state/bigfoot-hub/PREFIX/), the learners' work in Docker
volumes, one set per learner. `make hub` installs the hub's venv and proxy under .lab/hub/.

    python hub/hub.py image          build the learners' image (workbench + single-user server)
    python hub/hub.py up             start the hub (and its proxy); prints the URL and the code
    python hub/hub.py status         what runs
    python hub/hub.py down [--purge] stop the hub and every learner's server; --purge also
                                     deletes the learners' volumes and the hub's state

Environment (all optional): HUB_PREFIX (bigfoot-hub: names of the containers, volumes and
network), HUB_STATE (~/.local/state/bigfoot-hub/PREFIX), HUB_IMAGE, HUB_IP (0.0.0.0) and HUB_PORT (8765) where learners
connect, HUB_PUBLIC_URL (the URL to print), HUB_API_PORT (8766, the hub's API on the learners'
network), HUB_PROXY_API_PORT (8767, 127.0.0.1), HUB_BOARD_PORT (8768, the room board on the learners'
network: the proxy shows it at /services/board/), HUB_CODE (the workshop code, >= 8 characters;
default: made up once and kept), HUB_MEM_LIMIT (2G) and HUB_CPU_LIMIT (1.0) per learner,
HUB_CULL_TIMEOUT (3600: seconds idle before the culler stops a learner's server), PYTHON_IMAGE
(the base image of the workbench build, as for docker compose).

Standard library only: it runs before the hub's venv has anything (and under the kit's venv in
tests/test_hub.py).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HUB = Path(__file__).resolve().parent
KIT = HUB.parent
# What `make hub` installs and downloads: under .lab/, which git and the kit's Docker builds ignore
# (in hub/ it would ride along in every `docker build` context of the kit).
WORK = KIT / ".lab" / "hub"
VENV = WORK / "venv"
PROXY_BIN = WORK / "node_modules" / ".bin" / "configurable-http-proxy"
WHEELS = WORK / "wheels"
# The hub's state (user database, cookie secret, workshop code, instructor password, log): outside
# the kit, so no secret can reach a build context and `make clean` can't lose a running room's users.
DEFAULT_STATE = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "bigfoot-hub"
WORKBENCH_IMAGE = os.environ.get("HUB_WORKBENCH_IMAGE", "bigfoot-hub-workbench:local")
# the label every container, volume and network of one hub carries (its value: the prefix)
LABEL = "org.bigfoot-hub.prefix"
USER_LABEL = "org.bigfoot-hub.user"
ADMIN = "instructor"
WORDS = ("cedar", "fern", "moss", "ridge", "creek", "trail", "cabin", "pine", "track", "cliff", "lake", "peak")


class HubError(SystemExit):
    def __init__(self, msg: str):
        super().__init__("hub: " + msg)


def settings() -> dict:
    prefix = os.environ.get("HUB_PREFIX", "bigfoot-hub")
    state = Path(os.environ.get("HUB_STATE") or DEFAULT_STATE / prefix).resolve()
    return {
        "prefix": prefix,
        "state": str(state),
        "image": os.environ.get("HUB_IMAGE", "bigfoot-hub-singleuser:local"),
        "network": f"{prefix}-net",
        "ip": os.environ.get("HUB_IP", "0.0.0.0"),
        "port": int(os.environ.get("HUB_PORT", "8765")),
        "api_port": int(os.environ.get("HUB_API_PORT", "8766")),
        "proxy_api_port": int(os.environ.get("HUB_PROXY_API_PORT", "8767")),
        "board_port": int(os.environ.get("HUB_BOARD_PORT", "8768")),
        "mem_limit": os.environ.get("HUB_MEM_LIMIT", "2G"),
        "cpu_limit": float(os.environ.get("HUB_CPU_LIMIT", "1.0")),
        "cull_timeout": int(os.environ.get("HUB_CULL_TIMEOUT", "3600")),
        "admin": ADMIN,
        "proxy_command": str(PROXY_BIN),
        "label": LABEL,
        "user_label": USER_LABEL,
    }


# ---- docker ---------------------------------------------------------------------------------
def docker(*args: str, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(["docker", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise HubError(f"`docker {' '.join(args)}` failed: {(r.stderr or r.stdout).strip()[-800:]}")
    return r


def require_docker() -> None:
    try:
        r = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=60)
    except FileNotFoundError:
        raise HubError("no docker command here: install Docker (Engine or Desktop) first") from None
    if r.returncode != 0:
        raise HubError("no Docker engine answers (`docker info`): start Docker, then run this again\n  "
                       + (r.stderr.strip().splitlines() or ["?"])[-1])


def image_exists(name: str) -> bool:
    return docker("image", "inspect", name, check=False).returncode == 0


def ensure_network(s: dict) -> str:
    """The learners' network: a bridge where containers cannot reach each other (no inter-container
    traffic), only the host (the hub's API, on the gateway's address). Returns the gateway."""
    if docker("network", "inspect", s["network"], check=False).returncode != 0:
        docker("network", "create", "--driver", "bridge", "--label", f"{LABEL}={s['prefix']}",
               "--opt", "com.docker.network.bridge.enable_icc=false", s["network"])
    info = json.loads(docker("network", "inspect", s["network"]).stdout)[0]
    if info["Options"].get("com.docker.network.bridge.enable_icc") != "false":
        raise HubError(f"network {s['network']} lets containers reach each other: remove it "
                       f"(`docker network rm {s['network']}`) and run this again")
    gateways = [c["Gateway"] for c in info["IPAM"]["Config"] if c.get("Gateway")]
    if not gateways:
        raise HubError(f"network {s['network']} has no gateway address")
    return gateways[0]


# ---- the image --------------------------------------------------------------------------------
def build_image(s: dict) -> None:
    """The workbench (root Dockerfile, target `workbench`: cached layers make a rebuild quick), the
    single-user server's wheels for the image's Python, then the learners' image on top."""
    require_docker()
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}     # the classic builder: nothing to pull from Docker Hub
    base = os.environ.get("PYTHON_IMAGE")
    t0 = time.monotonic()
    print(f"→ {WORKBENCH_IMAGE}: the kit's workbench (Dockerfile, target workbench"
          + (f", on {base})" if base else ")"), flush=True)
    argv = ["docker", "build", "--quiet", "--target", "workbench", "-t", WORKBENCH_IMAGE]
    if base:
        argv += ["--build-arg", f"PYTHON_IMAGE={base}"]
    r = subprocess.run([*argv, str(KIT)], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise HubError("the workbench image did not build:\n" + (r.stdout + r.stderr)[-3000:]
                       + "\n(no PyPI inside containers? `make docker-wheels` first: docs/docker.md)")
    pyver = docker("run", "--rm", "--entrypoint", "python", WORKBENCH_IMAGE, "-c",
                   "import sys; print('%d.%d.%d' % sys.version_info[:3])").stdout.strip()
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[
        docker("info", "--format", "{{.Architecture}}").stdout.strip() or platform.machine()]
    wheels = WHEELS
    marker = wheels / f".done-{pyver}-{arch}"
    reqs = HUB / "requirements-singleuser.txt"
    if not marker.exists() or marker.read_text() != reqs.read_text():
        print(f"→ the single-user server's wheels for Python {pyver} on linux-{arch} (hub/wheels/)", flush=True)
        r = subprocess.run([sys.executable, str(KIT / "lab" / "wheelhouse.py"), "--dest", str(wheels),
                            "--requirements", str(reqs), "--platform", f"linux-{arch}", "--python-version", pyver],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise HubError("pip download failed:\n" + (r.stdout + r.stderr)[-3000:])
        marker.write_text(reqs.read_text())
    print(f"→ {s['image']}: + jupyterhub-singleuser, the chapters (hub/Dockerfile)", flush=True)
    r = subprocess.run(["docker", "build", "--quiet", "-f", "hub/Dockerfile", "--build-arg",
                        f"WORKBENCH_IMAGE={WORKBENCH_IMAGE}", "-t", s["image"], "-"],
                       input=build_context(), env=env, capture_output=True)
    if r.returncode != 0:
        raise HubError("the learners' image did not build:\n" + (r.stdout + r.stderr).decode(errors="replace")[-3000:])
    print(f"  ✓ {s['image']} ({time.monotonic() - t0:.0f} s)")


def build_context() -> bytes:
    """The learners' image's build context, as a tar: exactly the files hub/Dockerfile copies (the
    kit's .dockerignore keeps notebooks/ out of the root context, and .lab/ with the wheels)."""
    buf = io.BytesIO()
    skip = lambda t: None if {".ipynb_checkpoints", "__pycache__"} & set(Path(t.name).parts) else t  # noqa: E731
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:   # docker sniffs a plain header
        for name in ("hub/Dockerfile", "hub/singleuser.sh", "hub/requirements-singleuser.txt", "notebooks"):
            tar.add(KIT / name, arcname=name, filter=skip)
        WHEELS.mkdir(parents=True, exist_ok=True)
        tar.add(WHEELS, arcname="hub/wheels", filter=skip)
    return buf.getvalue()


# ---- the hub process --------------------------------------------------------------------------
def state_dir(s: dict) -> Path:
    d = Path(s["state"])
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def hub_secrets(s: dict) -> dict:
    """The workshop code and the instructor's password: made up once, kept in the state folder
    (so a restarted hub keeps them). HUB_CODE sets the code."""
    path = state_dir(s) / "secrets.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    code = os.environ.get("HUB_CODE") or data.get("workshop_code") or \
        f"{secrets.choice(WORDS)}-{secrets.randbelow(9000) + 1000}"
    if len(code) < 8:
        raise HubError(f"the workshop code must have at least 8 characters (HUB_CODE={code!r})")
    data = {"workshop_code": code, "admin_password": data.get("admin_password") or secrets.token_urlsafe(32)}
    path.write_text(json.dumps(data, indent=2) + "\n")
    path.chmod(0o600)
    return data


def read_pid(s: dict) -> int | None:
    """The running hub's pid, if the pid file names a live JupyterHub of this state folder."""
    pidfile = Path(s["state"]) / "hub.pid"
    try:
        pid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if "jupyterhub" in cmdline and "jupyterhub_config.py" in cmdline else None


def public_url(s: dict) -> str:
    if os.environ.get("HUB_PUBLIC_URL"):
        return os.environ["HUB_PUBLIC_URL"].rstrip("/") + "/"
    host = s["ip"]
    if host in ("0.0.0.0", ""):
        # the address learners on the same network use: the one the default route leaves from
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.connect(("10.255.255.255", 1))
                host = u.getsockname()[0]
        except OSError:
            host = socket.gethostname()
    return f"http://{host}:{s['port']}/"


def local_url(s: dict) -> str:
    return f"http://{'127.0.0.1' if s['ip'] in ('0.0.0.0', '') else s['ip']}:{s['port']}/"


def healthy(s: dict) -> bool:
    try:
        with urllib.request.urlopen(local_url(s) + "hub/health", timeout=5) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def up(s: dict, timeout: float = 180) -> int:
    require_docker()
    if not image_exists(s["image"]):
        raise HubError(f"no image {s['image']}: `make hub` builds it (or `python hub/hub.py image`)")
    if not (VENV / "bin" / "jupyterhub").exists():
        raise HubError(f"no JupyterHub in {VENV}: `make hub` installs it")
    if not PROXY_BIN.exists():
        raise HubError(f"no configurable-http-proxy in {WORK / 'node_modules'}: `make hub` installs it (needs Node.js)")
    state = state_dir(s)
    keys = hub_secrets(s)
    if read_pid(s) and healthy(s):
        print("✓ the hub is already running")
        return report(s, keys)
    s = {**s, "hub_ip": ensure_network(s)}
    settings_file = state / "settings.json"
    settings_file.write_text(json.dumps(s, indent=2) + "\n")
    log = state / "hub.log"
    env = {**os.environ, "HUB_SETTINGS": str(settings_file), "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}"}
    t0 = time.monotonic()
    with open(log, "ab") as out:
        # SIGINT as usual even when this runs from a background job (nohup, CI), which ignores it:
        # the hub stops its services (the culler, the board) with SIGINT first, then waits 30 s
        proc = subprocess.Popen([str(VENV / "bin" / "jupyterhub"), "-f", str(HUB / "jupyterhub_config.py")],
                                cwd=state, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    (state / "hub.pid").write_text(f"{proc.pid}\n")
    while not healthy(s):
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            tail = log.read_text(errors="replace").splitlines()[-30:]
            if proc.poll() is None:
                stop_process(proc.pid)
            raise HubError("JupyterHub did not start (" + (f"exit {proc.returncode}" if proc.returncode is not None
                           else f"no answer in {timeout:.0f} s") + f"); the end of {log}:\n" + "\n".join(tail))
        time.sleep(0.5)
    print(f"✓ JupyterHub is up ({time.monotonic() - t0:.1f} s): one container per learner, from {s['image']}")
    return report(s, keys)


def report(s: dict, keys: dict) -> int:
    print(f"""
  learners open   {public_url(s)}
  workshop code   {keys['workshop_code']}        (sign in with any name and this code)

  instructor: sign in as "{ADMIN}" with the admin password in {Path(s['state']) / 'secrets.json'}
              the room board: /services/board/ on the same URL (for the projector)
  stop: make hub-down          log: {Path(s['state']) / 'hub.log'}""")
    return 0


def stop_process(pid: int, timeout: float = 180) -> bool:
    """SIGTERM the hub (it stops every learner's server, then its proxy), then its group if it hangs."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.5)
    try:
        os.killpg(pid, signal.SIGKILL)      # its own session (start_new_session): the hub and its proxy
    except ProcessLookupError:
        pass
    return False


def labelled(s: dict, kind: str) -> list[str]:
    fmt = {"container": "{{.Names}}", "volume": "{{.Name}}", "network": "{{.Name}}"}[kind]
    cmd = {"container": ["ps", "--all"], "volume": ["volume", "ls"], "network": ["network", "ls"]}[kind]
    r = docker(*cmd, "--filter", f"label={LABEL}={s['prefix']}", "--format", fmt)
    return sorted(r.stdout.split())


def learners_volumes(s: dict) -> dict[str, list[str]]:
    r = docker("volume", "ls", "--filter", f"label={LABEL}={s['prefix']}", "--format",
               '{{.Name}} {{.Label "' + USER_LABEL + '"}}')
    out: dict[str, list[str]] = {}
    for line in r.stdout.splitlines():
        name, _, user = line.partition(" ")
        out.setdefault(user or "?", []).append(name)
    return out


def down(s: dict, purge: bool = False) -> int:
    require_docker()
    pid = read_pid(s)
    if pid:
        t0 = time.monotonic()
        print(f"→ stopping JupyterHub (pid {pid}): every learner's server, then the proxy", flush=True)
        clean = stop_process(pid)
        print(f"  {'✓ stopped' if clean else '✗ did not stop in time: killed'} ({time.monotonic() - t0:.1f} s)")
    else:
        print("  no hub running" + (f" for {s['state']}" if Path(s["state"]).exists() else ""))
    (Path(s["state"]) / "hub.pid").unlink(missing_ok=True)
    left = labelled(s, "container")
    if left:
        print(f"→ removing learners' containers the hub left: {', '.join(left)}", flush=True)
        docker("rm", "--force", *left, timeout=300)
    for net in labelled(s, "network"):
        docker("network", "rm", net, check=False)
    volumes = learners_volumes(s)
    if purge:
        names = [v for vs in volumes.values() for v in vs]
        if names:
            docker("volume", "rm", *names, timeout=300)
        state = Path(s["state"])
        if state.exists():
            for f in ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "secrets.json", "settings.json",
                      "hub.log", "proxy.pid", "hub.pid", "board.json"):
                (state / f).unlink(missing_ok=True)
            try:
                state.rmdir()
            except OSError:
                pass
        print(f"✓ purged: {len(names)} volumes of {len(volumes)} learner(s) and the hub's state: nothing is kept")
        return 0
    print("✓ stopped: no learner's container runs.")
    if volumes:
        print(f"  kept: the work of {len(volumes)} learner{'s' if len(volumes) != 1 else ''} ({', '.join(sorted(volumes))}): "
              f"per learner the volumes "
              f"{s['prefix']}-NAME-exercises, -notebooks and -lab (their edits, progress and the lab's database)")
    else:
        print("  kept: no learner's volume (nobody has started a server)")
    print(f"  kept: the hub's users, workshop code and instructor password in {s['state']}/")
    print("  `make hub` again gives everyone their work back; `make hub-down HUB_PURGE=1` deletes it all.")
    return 0


def status(s: dict) -> int:
    require_docker()
    pid = read_pid(s)
    print(f"hub: {'running, pid ' + str(pid) + ', ' + public_url(s) if pid else 'not running'}")
    for name in labelled(s, "container"):
        print("  learner container:", name)
    vols = learners_volumes(s)
    print(f"  learners with volumes: {', '.join(sorted(vols)) or 'none'}")
    return 0 if pid else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hub", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("image")
    sub.add_parser("up")
    sub.add_parser("status")
    d = sub.add_parser("down")
    d.add_argument("--purge", action="store_true", help="also delete the learners' volumes and the hub's state")
    a = p.parse_args(argv)
    s = settings()
    if a.cmd == "image":
        build_image(s)
        return 0
    if a.cmd == "up":
        return up(s)
    if a.cmd == "down":
        return down(s, a.purge)
    return status(s)


if __name__ == "__main__":
    sys.exit(main())
