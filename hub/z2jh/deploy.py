"""The workshop room on Kubernetes (docs/hosting.md#many-servers-kubernetes): `helm upgrade --install`
of Zero to JupyterHub 4.4.0 with hub/z2jh/values.yaml, the learners' image, the workshop code and
the kit's files the hub pod needs.

    python hub/z2jh/deploy.py --image REGISTRY/bigfoot-hub-singleuser:TAG    install or upgrade
    python hub/z2jh/deploy.py --image ... --print                             only print the command

The workshop code and the instructor's password are made up once and kept, as `make hub` does
(hub/hub.py's hub_secrets: HUB_CODE sets the code), in a state folder outside the kit:
~/.local/state/bigfoot-hub/z2jh-NAMESPACE-RELEASE/ ($HUB_STATE sets another). Helm gets them in
secrets.values.yaml there (mode 0600), never on its command line.

Environment (all optional): HUB_IMAGE (instead of --image), HUB_CODE, HUB_STATE.
Standard library only; needs `helm` (3.x) and a kubectl context on the cluster, except with --print.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = HERE.parent.parent
CHART = "jupyterhub"
CHART_REPO = "https://hub.jupyter.org/helm-chart/"
CHART_VERSION = "4.4.0"
VALUES = HERE / "values.yaml"
IMAGE_NAME = "bigfoot-hub-singleuser"          # hub/hub.py builds bigfoot-hub-singleuser:local
# hub.extraFiles entry -> the kit's file that is its content (values.yaml says where it goes)
FILES = {
    "bigfoot_single_server_config": KIT / "hub" / "jupyterhub_config.py",
    "bigfoot_board": KIT / "hub" / "board.py",
    "bigfoot_board_model": KIT / "hub" / "board_model.py",
}


def _hub_module():
    spec = importlib.util.spec_from_file_location("bigfoot_hub", KIT / "hub" / "hub.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def split_image(image: str) -> tuple[str, str]:
    """REGISTRY/…/bigfoot-hub-singleuser:TAG -> (name, tag); SystemExit for anything else."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag or not name:
        raise SystemExit(f"deploy: --image needs a tag: REGISTRY/{IMAGE_NAME}:TAG, not {image!r}")
    if "/" not in name:
        raise SystemExit(f"deploy: {image!r} is only on the machine that built it: push it to a registry "
                         f"the cluster pulls from (docs/hosting.md) and give that name")
    if name.rsplit("/", 1)[1] != IMAGE_NAME:
        raise SystemExit(f"deploy: the learners' image is {IMAGE_NAME} (hub/Dockerfile), not {name!r}")
    return name, tag


def secrets_values(state: Path) -> tuple[Path, dict]:
    """The workshop code and the instructor's password (made up once, kept: hub/hub.py), and the
    values file that gives them to the chart."""
    keys = _hub_module().hub_secrets({"state": str(state)})
    path = state / "secrets.values.yaml"
    values = {"hub": {"config": {"SharedPasswordAuthenticator": {
        "user_password": keys["workshop_code"], "admin_password": keys["admin_password"]}}}}
    path.write_text(json.dumps(values, indent=2) + "\n")       # JSON is YAML
    path.chmod(0o600)
    return path, keys


def helm_command(release: str, namespace: str, image: str, secrets_file: Path) -> list[str]:
    name, tag = split_image(image)
    argv = ["helm", "upgrade", "--install", release, CHART, "--repo", CHART_REPO, "--version", CHART_VERSION,
            "--namespace", namespace, "--create-namespace", "--cleanup-on-fail",
            # the pre-pull hook waits until every node has the learners' image (about 1 GB)
            "--timeout", "20m",
            "--values", str(VALUES), "--values", str(secrets_file),
            "--set-string", f"singleuser.image.name={name}", "--set-string", f"singleuser.image.tag={tag}"]
    for key, path in FILES.items():
        argv += ["--set-file", f"hub.extraFiles.{key}.stringData={path}"]
    return argv


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="deploy.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", default=os.environ.get("HUB_IMAGE"),
                   help=f"the learners' image in a registry: REGISTRY/{IMAGE_NAME}:TAG ($HUB_IMAGE)")
    p.add_argument("--release", default="bigfoot")
    p.add_argument("--namespace", default="bigfoot")
    p.add_argument("--print", action="store_true",
                   help="print the helm command and run nothing (the secrets file is still written)")
    a = p.parse_args(argv)
    if not a.image:
        p.error(f"--image REGISTRY/{IMAGE_NAME}:TAG (or $HUB_IMAGE) is required")
    state = Path(os.environ.get("HUB_STATE") or _hub_module().DEFAULT_STATE / f"z2jh-{a.namespace}-{a.release}")
    secrets_file, keys = secrets_values(state)
    cmd = helm_command(a.release, a.namespace, a.image, secrets_file)
    if a.print:
        print(shlex.join(cmd))
        return 0
    if not shutil.which("helm"):
        raise SystemExit("deploy: no helm command here: https://helm.sh/docs/intro/install/")
    r = subprocess.run(cmd, cwd=KIT)
    if r.returncode != 0:
        return r.returncode
    print(f"""
  learners open   the address of the proxy-public service:
                  kubectl --namespace {a.namespace} get service proxy-public
  workshop code   {keys['workshop_code']}        (sign in with any name and this code)

  instructor: sign in as "instructor" with the admin password in {state / 'secrets.json'}
              the room board: /services/board/ on the same address""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
