#!/bin/sh
# The workbench's entrypoint (Dockerfile, stage `workbench`), and the image's `lab` launcher's:
# run the command as the learner.
# LAB_UID/LAB_GID are the host user's ids (`.env`, written by `python -m lab.compose init`): the
# owner of the bind-mounted exercises/ and notebooks/, so what the lab or JupyterLab writes there
# stays the learner's. The container starts as root only to get there; with LAB_UID=0 (a host
# user that is root, as in CI) it stays root and the lab runs PostgreSQL as its `labpg` user.
set -eu
uid=${LAB_UID:-10001}
gid=${LAB_GID:-$uid}
if [ "$(id -u)" != 0 ] || [ "$uid" = 0 ]; then
    exec "$@"
fi
# PostgreSQL's initdb looks its user up by uid, and a host uid (501 on a Mac, 1000 on Linux) is
# unknown to the image: give it a name.
getent group "$gid" >/dev/null || groupadd --gid "$gid" learner
getent passwd "$uid" >/dev/null \
    || useradd --uid "$uid" --gid "$gid" --home-dir "$HOME" --no-create-home --shell /bin/sh learner
# /app/.lab is a named volume (the lab's home, the checks' template cache, JupyterLab's settings):
# new, it belongs to the image's user 10001.
mkdir -p "$HOME"
chown "$uid:$gid" /app/.lab "$HOME"
exec setpriv --reuid="$uid" --regid="$gid" --init-groups "$@"
