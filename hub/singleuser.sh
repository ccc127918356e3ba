#!/bin/sh
# A learner's server on the hub (hub/Dockerfile's CMD; DockerSpawner runs it as uid 10001 and
# appends JupyterHub's arguments): the whole local lab first (`lab up`: PostgreSQL, blue, green,
# nginx, the dashboard, all inside this container), then JupyterLab as the hub's single-user
# server. Stopping the container (the hub, the idle culler, `make hub-down`) stops JupyterLab,
# then `lab down` shuts the lab's database in the learner's volume down cleanly.
# As docker/workbench-serve.sh does for `docker compose --profile workbench up workbench`.
set -u
if ! lab up; then
    # JupyterLab starts anyway: the learner (or the instructor) can run `lab doctor` in a terminal
    echo "hub: \`lab up\` failed (above); JupyterLab starts anyway - run \`lab doctor\` in a terminal" >&2
fi
first=$(python -c 'from lab.jupyter import FIRST_CHAPTER; print(FIRST_CHAPTER)')
jupyterhub-singleuser --ServerApp.root_dir=/app "--ServerApp.default_url=/lab/tree/$first" "$@" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true' INT TERM
# the first wait returns early when a signal arrives; the second waits for the server's exit
wait "$server" || true
wait "$server" 2>/dev/null || true
lab down
