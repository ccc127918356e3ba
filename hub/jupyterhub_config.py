"""JupyterHub for a workshop room (docs/hosting.md): `make hub` starts it through hub/hub.py, which
writes the settings this file reads ($HUB_SETTINGS, a JSON file in the hub's state folder).

- Sign-in: any name plus the workshop code (SharedPasswordAuthenticator, with one rule added: a
  name belongs to the browser that signed in with it first). The instructor signs in as
  `instructor` with the admin password and is the hub's admin.
- Every learner gets a container of their own (DockerSpawner) from the learners' image
  (hub/Dockerfile): the whole local lab plus JupyterLab, as uid 10001, with memory and CPU limits,
  no Docker socket, no capabilities, on a network where containers cannot reach each other.
- Three volumes per learner keep their exercises/, notebooks/ and the lab's home (progress, the
  lab's database) across restarts of their server and of the hub.
- jupyterhub-idle-culler stops servers idle for longer than the cull timeout (the volumes stay).
- The room board (hub/board.py, /services/board/): the instructor's page of every learner's last
  check, fed by the learners' containers after each `lab check`.
"""
import json
import os
import re
import sys
from pathlib import Path

from dockerspawner import DockerSpawner
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from tornado import web

c = get_config()  # noqa: F821 (JupyterHub's config loader provides it)

S = json.loads(Path(os.environ["HUB_SETTINGS"]).read_text())
STATE = Path(S["state"])
SECRETS = json.loads((STATE / "secrets.json").read_text())
PREFIX = S["prefix"]

# ---- sign-in --------------------------------------------------------------------------------
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
CLAIM_COOKIE = "bigfoot-hub-name"
CLAIM_DAYS = 30


class WorkshopCodeAuthenticator(SharedPasswordAuthenticator):
    """Any name plus the workshop code; `instructor` plus the admin password.

    SharedPasswordAuthenticator alone lets anyone with the code sign in as any learner. Here a
    name belongs to the browser that first signed in with it (a signed cookie the hub's logout
    keeps): someone else typing that name gets "taken". A learner who lost their browser asks the
    instructor, who deletes the user on the admin page; the learner signs in again with the same
    name and finds their work (it is in volumes named after them, which deleting a user keeps)."""

    async def authenticate(self, handler, data):
        name = self.normalize_username(data.get("username", ""))
        if not NAME.fullmatch(name):
            raise web.HTTPError(403, "Pick a name of up to 32 letters, digits, '.', '_' or '-', "
                                     "starting with a letter or a digit.")
        auth = await super().authenticate(handler, data)
        if auth is None or auth.get("admin"):
            return auth
        if handler.find_user(name) is not None:
            claimed = handler.get_signed_cookie(CLAIM_COOKIE, max_age_days=CLAIM_DAYS)
            if claimed is None or claimed.decode() != name:
                raise web.HTTPError(403, f"The name {name!r} is taken. Pick another one; if it is yours, "
                                         "ask the instructor to let you back in.")
        handler.set_signed_cookie(CLAIM_COOKIE, name, expires_days=CLAIM_DAYS, path=handler.hub.base_url,
                                  httponly=True)
        return auth


c.JupyterHub.authenticator_class = WorkshopCodeAuthenticator
c.WorkshopCodeAuthenticator.user_password = SECRETS["workshop_code"]
c.WorkshopCodeAuthenticator.admin_password = SECRETS["admin_password"]
c.Authenticator.admin_users = {S["admin"]}
c.Authenticator.allow_all = True

# ---- the hub and its proxy ------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://{S['ip']}:{S['port']}"
# the hub's API listens on the learners' network gateway only: the containers reach it there
c.JupyterHub.hub_bind_url = f"http://{S['hub_ip']}:{S['api_port']}"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [S["proxy_command"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{S['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
# stopping the hub (`make hub-down`) stops every learner's server; their volumes stay
c.JupyterHub.cleanup_servers = True

# ---- one container per learner --------------------------------------------------------------
VOLUMES = {"exercises": "/app/exercises", "notebooks": "/app/notebooks", "lab": "/app/.lab"}


def create_learner_volumes(spawner):
    """Labelled, so `make hub-down` can say whose work it keeps (and --purge find it all).
    Creating a volume that exists returns it as it is."""
    for suffix in VOLUMES:
        spawner.client.create_volume(name=f"{PREFIX}-{spawner.escaped_name}-{suffix}",
                                     labels={S["label"]: PREFIX, S["user_label"]: spawner.user.name})


c.JupyterHub.spawner_class = DockerSpawner
c.DockerSpawner.image = S["image"]
c.DockerSpawner.pull_policy = "never"           # built here by `make hub`
c.DockerSpawner.prefix = PREFIX                 # containers: bigfoot-hub-NAME
c.DockerSpawner.network_name = S["network"]
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True                   # a new container each start; the work is in the volumes
c.DockerSpawner.cmd = ["/bin/sh", "/app/hub/singleuser.sh"]
c.DockerSpawner.volumes = {f"{PREFIX}-{{username}}-{suffix}": path for suffix, path in VOLUMES.items()}
c.Spawner.pre_spawn_hook = create_learner_volumes
c.DockerSpawner.mem_limit = S["mem_limit"]
c.DockerSpawner.cpu_limit = S["cpu_limit"]
c.DockerSpawner.extra_create_kwargs = {
    "user": "10001:10001",
    "labels": {S["label"]: PREFIX},
    # JupyterLab stops, then `lab down` shuts the lab's PostgreSQL down cleanly (hub/singleuser.sh)
    "stop_timeout": 30,
}
c.DockerSpawner.extra_host_config = {
    "init": True,                               # signals reach the lab; its stopped processes are reaped
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "pids_limit": 1024,
}
# `lab up` runs before JupyterLab answers: a cold start (initdb, release build, seed) on a busy
# machine takes a while
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 300

# ---- the room board (hub/board.py): the instructor's page at /services/board/ -----------------
# It listens on the learners' network gateway, as the hub's API does: the proxy routes the
# instructor there, and each learner's container posts its check results there (lab/board_client.py,
# with the container's own hub token; $BIGFOOT_BOARD_URL tells the lab it runs under this hub).
BOARD_URL = f"http://{S['hub_ip']}:{S['board_port']}"
BOARD = {
    "name": "board",
    "url": BOARD_URL,
    "command": [sys.executable, str(Path(__file__).resolve().parent / "board.py")],
    "environment": {"BOARD_STATE": str(STATE / "board.json"), "BOARD_HIDE": S["admin"]},
    "oauth_no_confirm": True,       # part of the hub: the instructor isn't asked to allow it
}
c.DockerSpawner.environment = {"BIGFOOT_BOARD_URL": f"{BOARD_URL}/services/board/"}

# ---- idle servers ---------------------------------------------------------------------------
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={S['cull_timeout']}",
                f"--cull-every={max(60, min(600, S['cull_timeout'] // 4))}"],
}, BOARD]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}, {
    # the learners signed in (names only), so the ones with no check yet are on the board too;
    # who may open the board is the admin role's `access:services`
    "name": "board",
    "scopes": ["list:users", "read:users:name"],
    "services": ["board"],
}]
